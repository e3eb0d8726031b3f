"""Price sanity at catalog load (aiinfra.catalog.check_prices): suspect rows are flagged, costed at
the conservative price, marked by `aiinfra catalog` and named in the planner's reasons."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aiinfra.catalog import HIGH_SHARE, LOW_SHARE, SPOT_FLOOR_SHARE, check_prices, load_catalog
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from tests.conftest import offer


def by(offers, itype, region):
    return next(o for o in offers if o.instance_type == itype and o.region == region)


def test_a_region_far_below_the_others_is_costed_at_their_median():
    rows = [offer("gcp", "a2-highgpu-8g", "A100", 8, 40, p, spot=11.5, region=r)
            for r, p in (("us-central1", 29.38708), ("us-east1", 29.38708), ("us-west1", 29.38708), ("europe-west4", 19.4217))]
    out = check_prices(rows)
    eu = by(out, "a2-highgpu-8g", "europe-west4")
    assert eu.on_demand_usd_hr == pytest.approx(29.38708)
    assert eu.price_flags == ("on-demand 19.4217 USD/h is 66% of the 29.3871 median of its other regions (below 75%): costed at 29.3871",)
    assert all(not o.price_flags and o.on_demand_usd_hr == pytest.approx(29.38708) for o in out if o.region != "europe-west4")


def test_thresholds_are_the_documented_shares():
    assert (LOW_SHARE, HIGH_SHARE, SPOT_FLOOR_SHARE) == (0.75, 1.5, 0.05)
    just_in = check_prices([offer("aws", "x.large", "L4", 1, 24, 0.76, region="a"), offer("aws", "x.large", "L4", 1, 24, 1.0, region="b"),
                            offer("aws", "x.large", "L4", 1, 24, 1.0, region="c")])
    assert not any(o.price_flags for o in just_in)
    high = check_prices([offer("aws", "x.large", "L4", 1, 24, 1.6, region="a"), offer("aws", "x.large", "L4", 1, 24, 1.0, region="b"),
                         offer("aws", "x.large", "L4", 1, 24, 1.0, region="c")])
    a = by(high, "x.large", "a")
    assert a.on_demand_usd_hr == 1.6 and a.price_flags[0].endswith("(above 150%): costed as listed")


def test_spot_above_on_demand_or_near_zero_is_costed_conservatively():
    above, = check_prices([offer("aws", "p5e.48xlarge", "H200", 8, 141, 30.0, spot=39.1)])
    assert above.spot_usd_hr == 30.0 and "spot 39.1 USD/h is above on-demand 30" in above.price_flags[0]
    tiny, = check_prices([offer("aws", "g6.xlarge", "L4", 1, 24, 0.8048, spot=0.00001)])
    assert tiny.spot_usd_hr == pytest.approx(0.04024) and "under 5% of on-demand" in tiny.price_flags[0]
    # Spot is a market: a region at half another region's spot price is not flagged.
    spots = check_prices([offer("aws", "p4d.24xlarge", "A100", 8, 40, 32.77, spot=s, region=r) for r, s in (("a", 5.7), ("b", 11.3), ("c", 12.0))])
    assert not any(o.price_flags for o in spots)


def test_the_shipped_catalog_flags_the_known_rows():
    cat = load_catalog()
    flagged = {(o.cloud, o.instance_type, o.region) for o in cat.flagged}
    assert ("gcp", "a2-highgpu-8g", "europe-west4") in flagged
    assert ("gcp", "a3-highgpu-8g", "us-central1") in flagged and ("gcp", "a3-highgpu-8g", "us-west1") in flagged
    # SkyPilot v8 (9 regions): H200 x8 is 36.60 USD/h in six regions and 74.49 in us-central1 / us-east4 / us-west1, so
    # the US rows are now the ones above 150% of the median (costed as listed), no longer europe-west4 below 75%
    assert ("gcp", "a3-ultragpu-8g", "us-central1") in flagged and ("gcp", "a3-ultragpu-8g", "europe-west4") not in flagged
    # AWS: only spot rows SkyPilot v8 lists at on-demand + 0.00001 (inf2.8xlarge ap-northeast-1 / eu-central-1,
    # p4d.24xlarge eu-central-1), costed at on-demand
    aws = {(t, r) for c, t, r in flagged if c == "aws"}
    assert aws == {("inf2.8xlarge", "ap-northeast-1"), ("inf2.8xlarge", "eu-central-1"), ("p4d.24xlarge", "eu-central-1")}
    assert all("spot saves nothing" in o.price_flags[0] for o in cat.flagged if o.cloud == "aws")
    eu = by(cat.offers("gcp", "europe-west4"), "a2-highgpu-8g", "europe-west4")
    us = by(cat.offers("gcp", "us-central1"), "a2-highgpu-8g", "us-central1")
    assert eu.on_demand_usd_hr == us.on_demand_usd_hr  # the 66% row no longer undercuts the others


def test_the_planner_names_a_flagged_row_it_chose(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("""project: price-check
environment: production
clouds:
  gcp: {region: us-central1, project: price-check-1}
workload_inventory:
  - name: pretrain
    type: training
    gpu_requirements: "8x H100"
    estimated_runtime: "10 hours"
    training_frequency: weekly
""")
    w = make_plan(load_spec(spec)).workloads[0]
    # SkyPilot v8: a3-highgpu-8g us-central1 (9.46006 host + 33.60609 H100 x8) is 45% of its other regions' median and
    # costed at that median, so a3-megagpu-8g (9.46006 + 82.75421) is chosen; the flagged runner-up is named
    assert w.instance_type == "a3-megagpu-8g"
    assert w.reasons["price_check"].startswith("gcp us-central1 a3-highgpu-8g: on-demand 43.0662 USD/h is 45% of the 96.7123 median")
    assert w.hourly_usd == pytest.approx(9.46006 + 82.75421, abs=0.01)  # a3-megagpu-8g us-central1, as listed


def test_catalog_command_marks_flagged_rows():
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "catalog", "--cloud", "gcp", "--gpu", "A100", "--region", "europe-west4"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if " a2-highgpu-8g " in line)
    assert "29.3871*" in row
    assert "  gcp europe-west4 a2-highgpu-8g: on-demand 19.4217 USD/h is 66% of the 29.3871 median" in r.stdout
    j = subprocess.run([sys.executable, "-m", "aiinfra.cli", "catalog", "--cloud", "gcp", "--gpu", "A100", "--format", "json"],
                       capture_output=True, text=True)
    rows = json.loads(j.stdout)
    eu = next(x for x in rows if x["instance_type"] == "a2-highgpu-8g" and x["region"] == "europe-west4")
    assert eu["on_demand_usd_hr"] == pytest.approx(29.38708) and eu["price_flags"][0].startswith("on-demand 19.4217 USD/h")
