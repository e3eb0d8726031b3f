"""`aiinfra catalog refresh --cloud aws`: real boto3 against moto (instance types and per-zone
offerings are AWS's own data there; spot prices recorded, served by the harness's moto patch) and
the recorded Price List server (tests/aws_api_server.py) through AWS_ENDPOINT_URL_PRICING."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra.catalog import COLUMNS, _read, load_catalog
from aiinfra.catalog import live
from aiinfra.planner import make_plan
from aiinfra.preflight import PreflightError
from aiinfra.spec import load_spec
from tests.aws_api_server import DATA
from tests.test_preflight_aws import aws, moto  # noqa: F401  (fixtures)

SPOT = json.loads((DATA / "spot_prices.json").read_text())["prices"]


def rows_of(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    _header, rows = _read(path)
    return {(r["instance_type"], r["region"]): r for r in rows}


def header_of(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith("#")]


def test_refresh_writes_rows_from_the_apis(aws, tmp_path):  # noqa: F811
    aws.page_size = 100
    messages: list[str] = []
    report = live.refresh("aws", ["us-east-1"], tmp_path, progress=messages.append)
    path = tmp_path / "aws.csv"
    rows = rows_of(path)
    p4d = rows[("p4d.24xlarge", "us-east-1")]
    # DescribeInstanceTypes (AWS's data in moto): 96 vCPUs, 1152 GiB, 8x A100 40 GB, "4x 100 Gigabit",
    # 4 network cards and 4 EFA interfaces, 8x 1000 GB NVMe = 7451 GiB.
    assert {k: p4d[k] for k in ("gpu", "gpu_count", "gpu_memory_gib", "vcpus", "memory_gib", "network_gbps", "network_cards",
                                "efa_interfaces", "gpudirect", "local_nvme_gib")} == {
        "gpu": "A100", "gpu_count": "8", "gpu_memory_gib": "40", "vcpus": "96", "memory_gib": "1152", "network_gbps": "400",
        "network_cards": "4", "efa_interfaces": "4", "gpudirect": "efa", "local_nvme_gib": "7451"}
    assert p4d["on_demand_usd_hr"] == "32.7726"  # the Price List's OnDemand hourly USD price
    zone_prices = SPOT["us-east-1"]["p4d.24xlarge"]
    assert float(p4d["spot_usd_hr"]) == pytest.approx(statistics.median(zone_prices.values()))
    # Zones are the offerings by zone ID: p4de is in two us-east-1 zones, not the six SkyPilot lists.
    assert rows[("p4de.24xlarge", "us-east-1")]["zones"] == "use1-az4 use1-az6"
    assert list(_read(path)[1][0].keys()) == list(COLUMNS)
    head = header_of(path)
    assert any(h.startswith("# source: api versions boto3 ") and "ec2 2016-11-15" in h and "pricing 2017-10-15" in h for h in head)
    assert any(h.startswith("# generated: 20") for h in head)
    assert any("aiinfra catalog refresh --cloud aws --regions us-east-1" in h for h in head)
    # Regions not asked for stay as the previous catalog had them.
    assert ("p4d.24xlarge", "us-west-2") in rows
    assert any("kept from the previous catalog" in h and "us-west-2" in h for h in head)
    assert report.rows == len(rows)
    assert messages[0] == "[1/1] aws us-east-1: fetching" and messages[-1].startswith("[1/1] aws us-east-1: ")
    assert not (tmp_path / ".refresh-aws").exists()
    # The refreshed file loads, and its prices pass through the same sanity checks.
    cat = load_catalog(("aws",), tmp_path)
    assert any(o.instance_type == "p4d.24xlarge" and o.region == "us-east-1" for o in cat.all)


def test_disappeared_shapes_and_price_moves_are_reported_not_dropped_silently(aws, tmp_path):  # noqa: F811
    aws.page_size = 100
    previous = (Path(live.DATA_DIR) / "aws.csv").read_text()
    # The previous catalog listed g6.xlarge at a third of today's price, and a shape nobody offers now.
    lines = previous.splitlines()
    g6 = next(line for line in lines if line.startswith("g6.xlarge,") and ",us-east-1," in line)
    cells = g6.split(",")
    cells[-2] = f"{float(cells[-2]) / 3:.4f}"
    gone = g6.replace("g6.xlarge,", "g6.gone,", 1)
    (tmp_path / "aws.csv").write_text("\n".join([*lines, gone]).replace(g6, ",".join(cells)) + "\n")
    report = live.refresh("aws", ["us-east-1"], tmp_path)
    assert [r for r in report.removed if r.startswith("g6.gone us-east-1")]
    moved = [m for m in report.moved if m.startswith("g6.xlarge us-east-1: on-demand")]
    assert moved and moved[0].endswith("(+200%)")
    head = header_of(tmp_path / "aws.csv")
    assert any(h.startswith("# removed: g6.gone us-east-1") for h in head)
    assert any(h.startswith("# moved: g6.xlarge us-east-1: on-demand") for h in head)
    text = report.text()
    assert "removed (no longer offered or priced): 1" in text and "price moved:" in text


def test_an_interrupted_refresh_resumes_where_it_stopped(aws, tmp_path):  # noqa: F811
    aws.page_size = 100
    # The Price List answers us-east-1's shapes, then goes down in the middle of us-west-2.
    aws.down_after["GetProducts"] = 55 + 10
    with pytest.raises(PreflightError, match=r"pricing:GetProducts failed in us-east-1: HTTP 503 .*\(after retries\); rerun to resume"):
        live.refresh("aws", ["us-east-1", "us-west-2"], tmp_path)
    assert (tmp_path / ".refresh-aws" / "us-east-1.json").exists()
    assert not (tmp_path / "aws.csv").exists()  # nothing half-written
    done = len(aws.calls("GetProducts"))
    aws.down_after.clear()
    messages: list[str] = []
    report = live.refresh("aws", ["us-east-1", "us-west-2"], tmp_path, progress=messages.append)
    assert report.resumed == ["us-east-1"]
    assert "[1/2] aws us-east-1: resumed" in messages[0]
    again = aws.calls("GetProducts")[done:]
    assert again and all(any(f["Value"] == "us-west-2" for f in b["Filters"]) for b in again)  # us-east-1 not fetched again
    rows = rows_of(tmp_path / "aws.csv")
    assert ("p4d.24xlarge", "us-east-1") in rows and ("p4d.24xlarge", "us-west-2") in rows


def test_the_planner_places_shapes_only_in_zones_that_offer_them(aws, tmp_path):  # noqa: F811
    aws.page_size = 100
    # A stale catalog that lists p4de.24xlarge in every us-east-1 zone; the account's offerings have it in two.
    stale_dir = tmp_path / "stale"
    stale_dir.mkdir()
    every = "use1-az1 use1-az2 use1-az3 use1-az4 use1-az5 use1-az6"
    lines = (Path(live.DATA_DIR) / "aws.csv").read_text().splitlines()
    (stale_dir / "aws.csv").write_text("\n".join(
        ",".join(c if i != 16 else every for i, c in enumerate(line.split(","))) if line.startswith("p4de.24xlarge,") and ",us-east-1," in line
        else line for line in lines) + "\n")
    (tmp_path / "aws.csv").write_text((stale_dir / "aws.csv").read_text())
    live.refresh("aws", ["us-east-1"], tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text("""project: zone-check
environment: production
clouds:
  aws: {region: us-east-1}
workload_inventory:
  - name: big-train
    type: training
    gpu_requirements: "8x A100-80GB"
    estimated_runtime: "10 hours"
    training_frequency: weekly
""")
    loaded = load_spec(spec)
    stale = make_plan(loaded, load_catalog(("aws", "gcp"), stale_dir)).workloads[0]
    assert stale.instance_type == "p4de.24xlarge" and stale.zones == every.split()
    fresh = make_plan(loaded, load_catalog(("aws", "gcp"), tmp_path)).workloads[0]
    assert fresh.instance_type == "p4de.24xlarge" and set(fresh.zones) <= {"use1-az4", "use1-az6"}
    # The same through the CLI and AIINFRA_CATALOG_DIR.
    env = {**os.environ, "AIINFRA_CATALOG_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "plan", str(spec), "--format", "json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout)["workloads"][0]
    assert set(w["zones"]) <= {"use1-az4", "use1-az6"}


def test_refresh_through_the_cli_prints_the_report(aws, tmp_path):  # noqa: F811
    aws.page_size = 100
    env = {k: v for k, v in os.environ.items() if v != ""}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "catalog", "refresh", "--cloud", "aws", "--regions", "us-west-2",
                        "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"wrote {tmp_path / 'aws.csv'}: ")
    assert f"use it: AIINFRA_CATALOG_DIR={tmp_path} aiinfra plan SPEC" in r.stdout
    assert "[1/1] aws us-west-2: fetching" in r.stderr
    bad = subprocess.run([sys.executable, "-m", "aiinfra.cli", "catalog", "refresh", "--cloud", "aws", "--out", str(tmp_path),
                          "--max-price-move", "-1"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == "--max-price-move: a share such as 0.25, got -1"
    typo = subprocess.run([sys.executable, "-m", "aiinfra.cli", "catalog", "refresh", "--cloud", "aws", "--out", str(tmp_path),
                           "--regions", "us-east-1,us-est1"], capture_output=True, text=True, env=env)
    assert typo.returncode == 2 and typo.stderr.strip() == "--regions: us-est1 is not an AWS region name (e.g. us-east-1)"
