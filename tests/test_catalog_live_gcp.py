"""aiinfra.catalog.live_gcp against recorded Compute Engine v1 and Cloud Billing Catalog v1 answers
(tests/gcp_api_server.py, tests/data/gcp_api/), with the real google-cloud-compute and
google-cloud-billing REST clients and the real default credential chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra.catalog import COLUMNS
from aiinfra.preflight import Deadline, PreflightError
from tests.test_preflight_gcp import PROJECT, api  # noqa: F401  (fixture: the recorded server, fast retries)

live_gcp = pytest.importorskip("aiinfra.catalog.live_gcp")

SKUS = "/v1/services/6F81-5844-456A/skus"


def fetch(region="us-central1"):
    said: list[str] = []
    f = live_gcp.GcpFetcher(PROJECT, Deadline(60), said.append)
    rows, notes = f.region_rows(region)
    return f, {r["instance_type"]: r for r in rows}, notes, said


def test_rows_match_the_recorded_skus(api):
    _, rows, notes, said = fetch()
    for r in rows.values():
        assert tuple(r) == COLUMNS and all(isinstance(v, str) for v in r.values())
    a2 = rows["a2-highgpu-8g"]
    # 96 vCPU x 0.031611 + 680 GiB x 0.004237 + 8 x 2.933908 (A2 Instance Core / Ram, Nvidia Tesla A100 GPU running in Americas)
    # = 3.034656 + 2.88116 + 23.471264
    assert a2["on_demand_usd_hr"] == "29.38708"
    # spot: 96 x 0.009483 + 680 x 0.001271 + 8 x 1.7603 = 0.910368 + 0.86428 + 14.0824
    assert a2["spot_usd_hr"] == "15.857048"
    assert (a2["vcpus"], a2["memory_gib"], a2["gpu"], a2["gpu_count"], a2["accelerator_type"]) == ("96", "680", "A100", "8", "nvidia-tesla-a100")
    assert a2["zones"] == "us-central1-a us-central1-b us-central1-c us-central1-f"
    assert (a2["network_gbps"], a2["family"]) == ("100", "a2-highgpu")  # joined from network_facts.csv

    g2 = rows["g2-standard-8"]
    # 8 x 0.024988 + 32 x 0.002927 + 1 x 0.56004 = 0.199904 + 0.093664 + 0.56004; no spot G2 SKUs recorded -> empty
    assert (g2["on_demand_usd_hr"], g2["spot_usd_hr"]) == ("0.853608", "")
    assert (g2["gpu"], g2["gpu_count"], g2["accelerator_type"], g2["local_nvme_gib"]) == ("L4", "1", "nvidia-l4", "375")
    # g2-standard-8 is not in us-central1-f's machine types: not listed there.
    assert g2["zones"] == "us-central1-a us-central1-b us-central1-c"

    n1 = rows["n1-standard-8"]
    # 8 x 0.031611 + 30 x 0.004237 + 1 x 0.35 = 0.252888 + 0.12711 + 0.35 (N1 Predefined Instance Core / Ram, Nvidia Tesla T4)
    assert n1["on_demand_usd_hr"] == "0.729998"
    # spot: 8 x 0.006655 + 30 x 0.000892 + 0.209 = 0.05324 + 0.02676 + 0.209
    assert n1["spot_usd_hr"] == "0.289"
    assert (n1["gpu"], n1["gpu_count"], n1["accelerator_type"], n1["vcpus"], n1["memory_gib"]) == ("T4", "1", "nvidia-tesla-t4", "8", "30")

    # n2-standard-16 is offered but no N2 SKU was recorded; n1-standard-4 is offered nowhere.
    assert "n2-standard-16" not in rows
    assert "n2-standard-16: offered in us-central1 but the Billing Catalog has no price for its host" in notes
    assert "n1-standard-4: not offered in us-central1" in notes
    assert any("us-central1-f" in s for s in said)


def test_pagination_is_followed(api):
    f, rows, _, _ = fetch()
    pages = api.requests_to(SKUS)
    assert [p.query.get("pageToken", [""])[0] for p in pages] == ["", "page-2"]
    assert "n1-standard-8" in rows  # its SKUs are all on page 2
    assert len(f.skus()) == 17  # usable SKUs of both pages: the commitment, DWS and storage SKUs are dropped


def test_the_t4_needs_the_accelerator_in_the_zone(api):
    body = api.recording("accelerator_types/us-central1-b.json")
    body["items"] = [a for a in body["items"] if a["name"] != "nvidia-tesla-t4"]
    api.override(f"/compute/v1/projects/{PROJECT}/zones/us-central1-b/acceleratorTypes", body=body)
    _, rows, _, _ = fetch()
    assert rows["n1-standard-8"]["zones"] == "us-central1-a us-central1-c us-central1-f"


def test_headers_name_the_apis_and_the_mapping(api):
    f = live_gcp.GcpFetcher(PROJECT, Deadline(60), lambda s: None)
    assert f.api_versions == {"google-cloud-compute": "1.57.0", "compute": "v1", "google-cloud-billing": "1.21.0", "cloudbilling": "v1"}
    assert any("Cloud Billing Catalog API v1 services/6F81-5844-456A/skus" in s for s in f.sources())
    assert any("vCPU SKU x vCPUs + RAM SKU x GiB + GPU SKU x GPUs" in c for c in f.choices())


def test_forbidden_billing_is_one_line(api):
    api.override(SKUS, status=403)
    with pytest.raises(PreflightError) as exc:
        fetch()
    msg = str(exc.value)
    assert "\n" not in msg and "cloudbilling.services.skus.list failed in the Cloud Billing Catalog: HTTP 403" in msg
    assert "gcloud services enable cloudbilling.googleapis.com" in msg


def test_billing_down_is_one_line(api):
    api.override(SKUS, status=503)
    with pytest.raises(PreflightError, match=r"^catalog refresh: cloudbilling\.services\.skus\.list failed in the Cloud Billing Catalog: HTTP 503 .*\(after retries\); rerun later$"):
        fetch()


def test_missing_credentials_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_"))}
    (tmp_path / "gcloud").mkdir()
    env.update(CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true", GCE_METADATA_HOST="127.0.0.1:1",
               GCE_METADATA_IP="127.0.0.1:1", AIINFRA_GCP_COMPUTE_ENDPOINT="http://127.0.0.1:1")
    code = ("import sys\nfrom aiinfra.preflight import Deadline, PreflightError\nfrom aiinfra.catalog.live_gcp import GcpFetcher\n"
            "try:\n    GcpFetcher('p', Deadline(30), print).region_rows('us-central1')\n"
            "except PreflightError as e:\n    print(e)\n    sys.exit(3)\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, check=False, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert p.returncode == 3, p.stderr
    assert p.stdout.strip().splitlines()[-1] == ("preflight: no GCP credentials for compute.regions.get in us-central1: run `gcloud auth "
                                                 "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS")


def report_date(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("# generated: "))[len("# generated: "):][:10]


def test_the_refresh_driver_writes_the_gcp_file_with_its_header(api, tmp_path):
    from aiinfra.catalog import _read, live, load_catalog

    said: list[str] = []
    report = live.refresh("gcp", ["us-central1"], tmp_path / "cat", project=PROJECT, progress=said.append)
    path = tmp_path / "cat" / "gcp.csv"
    text = path.read_text()
    assert "# source: api versions cloudbilling v1, compute v1, google-cloud-billing 1.21.0, google-cloud-compute 1.57.0" in text
    assert "# cloud: gcp" in text and "# generated: 20" in text
    rows = {(r["instance_type"], r["region"]): r for r in _read(path)[1]}
    assert rows[("a2-highgpu-8g", "us-central1")]["on_demand_usd_hr"] == "29.38708"
    assert ("a2-highgpu-8g", "europe-west4") in rows  # not asked for: kept as the previous catalog had it
    # The shapes the recorded zones lack are reported as removed, not dropped silently.
    assert any(r.startswith("a3-highgpu-8g us-central1: was ") for r in report.removed)
    assert said[0] == "[1/1] gcp us-central1: fetching"
    cat = load_catalog(("gcp",), tmp_path / "cat")
    assert any(o.instance_type == "g2-standard-8" and o.region == "us-central1" for o in cat.all)
    # TPU slices are not Compute Engine machine types: kept from the previous catalog in the refreshed region, and said so.
    assert rows[("v5litepod-8", "us-central1")]["gpu"] == "TPU-v5e"
    assert not [r for r in report.removed if r.startswith("v5litepod")]
    assert "not read by this refresh: v5litepod-1, v5litepod-4, v5litepod-8" in text
    assert f"# prices_as_of: {report_date(text)}" in text
