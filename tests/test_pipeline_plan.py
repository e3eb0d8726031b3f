"""Issue 30: the plan of the data pipeline's managed parts (planner/pipeline.py): which parts exist where, their settings,
their prices from catalog/data/pipeline_prices.csv, the totals and budgets, the output and bad input."""

import dataclasses
import json
import math
import re

import pytest

from aiinfra.planner import make_plan
from aiinfra.planner.model import PipelinePartPlan
from aiinfra.planner.pipeline import prices
from aiinfra.render import plan_json, plan_markdown, plan_text
from aiinfra.spec import load_spec, load_spec_text
from tests.conftest import REFERENCE, ROOT, make_spec

# The contract's settings keys a part (/tmp/pipeline_design.md, docs/plan-json.md): the stacks read exactly these.
SETTINGS = {
    "spark": {"engine", "release", "primary_type", "core_type", "core_nodes", "task_types", "task_min", "task_max", "task_spot",
              "idle_timeout_seconds", "max_runtime_hours", "schedule", "input_prefix", "output_prefix", "main", "args"},
    "ingestion": {"source_url", "source_cloud", "source_bucket", "source_prefix", "destination_prefix", "schedule", "gib_per_month"},
    "cache": {"engine", "engine_version", "node_type", "shards", "replicas_per_shard", "multi_az", "ttl_seconds", "eviction_policy",
              "size_gib", "clients"},
    "cdn": {"endpoint", "static_path", "default_ttl_seconds", "price_class"},
}


def usd(key: str) -> float:
    return float(prices()[key]["usd"])


@pytest.fixture(scope="module")
def reference():
    return make_plan(load_spec(REFERENCE))


def parts(plan, part):
    return [p for p in plan.pipeline if p.part == part]


# ---- the reference example --------------------------------------------------------------------

def test_reference_builds_the_four_parts_on_aws_only(reference):
    # Its Spark ETL, its only serving workload and its ingestion's S3 source are all on AWS: nothing lands on GCP.
    assert [(p.cloud, p.part, p.target) for p in reference.pipeline] == [
        ("aws", "spark", "feature-etl"), ("aws", "ingestion", "data_pipeline.ingestion[0]"),
        ("aws", "cache", "data_pipeline.serving[0]"), ("aws", "cdn", "recommendation-inference")]
    assert reference.pipeline_parts("gcp") == [] and reference.spark_part("feature-etl") is reference.pipeline[0]
    for p in reference.pipeline:
        assert set(p.settings) == SETTINGS[p.part], p.part
        assert p.region == "us-east-1" and p.reason
    # Every key of the guide's pipeline blocks is applied but the cache's engine name (applied.py).
    listed = [n.path for n in reference.not_applied if n.path.startswith(("data_pipeline", "network.inference_network.cdn"))]
    assert listed == ["data_pipeline.serving[0].cache_layer"]


def test_reference_ingestion_settings_and_price(reference):
    [ing] = parts(reference, "ingestion")
    assert ing.service == "AWS DataSync"
    assert ing.settings == {"source_url": "s3://raw-data-bucket", "source_cloud": "aws", "source_bucket": "raw-data-bucket",
                            "source_prefix": "", "destination_prefix": "staging/", "schedule": "0 */6 * * *",
                            "gib_per_month": round(5e12 / 2**30, 2)}
    # The Spark job reads where the transfer writes.
    assert reference.spark_part("feature-etl").settings["input_prefix"] == ing.settings["destination_prefix"]
    # 5 TB (feature-etl's dataset_size) a month x DataSync Basic's $0.0125 a GB; same cloud: no egress.
    assert ing.monthly_usd == pytest.approx(round(5e12 / 2**30, 2) * usd("datasync_basic_gb"), abs=0.01)
    assert "$0.0125/GB" in ing.reason and "egress" not in ing.reason


def test_reference_cache_is_the_cheapest_valkey_cluster_that_holds_100gb(reference):
    [cache] = parts(reference, "cache")
    s = cache.settings
    assert cache.service == "ElastiCache for Valkey"
    assert (s["engine"], s["node_type"], s["shards"], s["replicas_per_shard"], s["multi_az"]) == ("valkey", "cache.r7g.xlarge", 5, 1, True)
    assert s["ttl_seconds"] == 24 * 3600 and s["eviction_policy"] == "volatile-ttl" and s["clients"] == ["recommendation-inference"]
    size = 100e9 / 2**30
    assert s["size_gib"] == pytest.approx(size, abs=0.01)
    # Every r7g size's cost for this size, from the CSV: 75% of a node's memory usable (reserved-memory-percent 25%),
    # Valkey at 80% of the Redis OSS price, two nodes a shard (the endpoint runs in 2 zones), 730 h.
    costs = {}
    for t in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"):
        node = f"cache.r7g.{t}"
        shards = math.ceil(size / (usd(f"memory_gib.{node}") * 0.75))
        costs[node] = shards * 2 * round(usd(f"elasticache_redis.{node}") * (1 - usd("valkey_discount")), 4) * 730
    assert min(costs, key=costs.get) == "cache.r7g.xlarge"
    assert cache.monthly_usd == pytest.approx(5 * 2 * 0.3496 * 730, abs=0.01) == pytest.approx(costs["cache.r7g.xlarge"], abs=0.01)
    assert "5 x 2 nodes x $0.3496 x 730 h" in cache.reason


def test_reference_cdn_prices_the_fixed_fees_and_states_the_traffic_rate(reference):
    [cdn] = parts(reference, "cdn")
    assert cdn.service == "CloudFront" and cdn.settings["price_class"] == "PriceClass_100" and cdn.settings["static_path"] == "/static/*"
    # The web ACL ($5) and its 4 rules ($1 each): AWS WAF's prices, as the endpoint's edge filtering (planner/security.py).
    assert cdn.monthly_usd == pytest.approx(5 + 4 * 1)
    assert "$0.085/GB" in cdn.reason and "1 TB a month would add $85.00" in cdn.reason
    info = [f for f in reference.findings if f.path == "network.inference_network.cdn"]
    assert len(info) == 1 and info[0].severity == "info" and "not in the spec" in info[0].message


def test_totals_and_budgets_include_the_pipeline(reference):
    t = reference.totals
    piped = sum(p.monthly_usd for p in reference.pipeline)
    assert t.pipeline_monthly_usd == pytest.approx(piped, abs=0.01) and piped > 0
    assert t.monthly_usd == pytest.approx(t.compute_monthly_usd + t.storage_monthly_usd + t.security_monthly_usd + t.network_monthly_usd
                                          + t.control_plane_monthly_usd + t.system_pools_monthly_usd + t.pipeline_monthly_usd, abs=0.03)
    assert t.on_demand_equivalent_monthly_usd - t.monthly_usd == pytest.approx(t.spot_savings_monthly_usd, abs=0.03)
    # by_cloud_monthly_usd is what the AWS budget and the GCP billing budget are created at.
    assert sum(t.by_cloud_monthly_usd.values()) == pytest.approx(t.monthly_usd, abs=0.03)
    without = dataclasses.replace(reference, pipeline=[])
    assert sum(p.monthly_usd for p in reference.pipeline_parts("aws")) == pytest.approx(piped) and without.pipeline == []


# ---- output ------------------------------------------------------------------------------------

def test_json_has_the_documented_pipeline_and_the_doc_lists_every_field_and_setting(reference):
    d = json.loads(plan_json(reference))
    assert list(d)[-1] == "pipeline" and len(d["pipeline"]) == 4
    assert d["totals"]["pipeline_monthly_usd"] == reference.totals.pipeline_monthly_usd
    fields = {f.name for f in dataclasses.fields(PipelinePartPlan)}
    assert all(set(x) == fields for x in d["pipeline"])
    doc = (ROOT / "docs" / "plan-json.md").read_text()
    assert "`pipeline_monthly_usd`" in doc and "| `pipeline` | list |" in doc
    section = doc[doc.index("## The data pipeline (`pipeline[]`)"):]
    for name in fields - {"cloud", "region"}:
        assert f"| `{name}` |" in section, name
    assert "| `cloud`, `region` |" in section
    for part, keys in SETTINGS.items():
        line = re.search(rf"^- `{part}`: (.*?)(?=^- `|\Z)", section, re.S | re.M)
        assert line, part
        for key in keys:
            assert f"`{key}`" in line[1], (part, key)


def test_text_and_markdown_show_the_table_the_breakdown_and_the_reasons(reference):
    text = plan_text(reference)
    t = reference.totals
    assert f"+ pipeline ${t.pipeline_monthly_usd:,.0f})" in text.splitlines()[0]
    table = text[text.index("Data pipeline"):text.index("\nWhy")]
    assert re.search(r"aws\s+us-east-1\s+cache\s+serving #0\s+ElastiCache for Valkey\s+5 shards x 2 nodes cache.r7g.xlarge\s+\$2,552.08", table)
    assert re.search(r"ingestion\s+ingestion #0\s+AWS DataSync\s+4,656.6 GiB/month from bucket raw-data-bucket\s+\$58.21", table)
    [cache] = parts(reference, "cache")
    assert f"  pipeline cache (aws us-east-1 data_pipeline.serving[0], ElastiCache for Valkey): {cache.reason}" in text
    md = plan_markdown(reference)
    assert "#### Data pipeline" in md and "| aws | us-east-1 | cache | serving #0 | ElastiCache for Valkey | 5 shards x 2 nodes" in md


# ---- other clouds and cases ---------------------------------------------------------------------

SERVE = """
- name: serve
  type: inference
  model_size: "100MB"
  expected_qps: "100"
  latency_sla: "100ms"
"""
ETL = """
- name: etl
  type: data_processing
  framework: spark
  dataset_size: "1TB"
"""


def plan_of(workloads, clouds="  gcp: {region: us-central1, project: acme-ml-prod}", extra="", environment="production"):
    return make_plan(load_spec_text(make_spec(workloads, clouds=clouds, extra=extra, environment=environment)))


def test_gcp_cache_is_memorystore_sized_in_writable_gb_without_the_nano_node_in_production():
    extra = "data_pipeline:\n  serving:\n    - cache_layer: redis\n      cache_size: 20GB\n      ttl: 1 hour\n"
    plan = plan_of(SERVE, extra=extra)
    [cache] = parts(plan, "cache")
    s = cache.settings
    assert cache.cloud == "gcp" and cache.service == "Memorystore for Redis Cluster" and s["engine"] == "redis"
    # Production runs the endpoint in 2 zones (planner/compute.py): a replica a shard, multi-zone.
    assert s["replicas_per_shard"] == 1 and s["multi_az"] is True and s["ttl_seconds"] == 3600
    costs = {t: math.ceil(20 / usd(f"writable_gb.{t}")) * 2 * usd(f"memorystore_cluster.{t}")
             for t in ("REDIS_STANDARD_SMALL", "REDIS_HIGHMEM_MEDIUM", "REDIS_HIGHMEM_XLARGE")}
    best = min(costs, key=costs.get)
    assert s["node_type"] == best and s["shards"] == math.ceil(20 / usd(f"writable_gb.{best}"))
    assert cache.monthly_usd == pytest.approx(costs[best] * 730, abs=0.01)
    assert "not verified" in cache.reason  # the Memorystore rows of the CSV say verified = no
    # Development: one zone, no replica, and the shared-core node (no SLA: never in production) holds 1 GB cheapest.
    dev = parts(plan_of(SERVE, extra=extra.replace("20GB", "1GB"), environment="development"), "cache")[0].settings
    assert (dev["node_type"], dev["shards"], dev["replicas_per_shard"], dev["multi_az"]) == ("REDIS_SHARED_CORE_NANO", 1, 0, False)
    prod_small = parts(plan_of(SERVE, extra=extra.replace("20GB", "1GB")), "cache")[0].settings
    assert prod_small["node_type"] == "REDIS_STANDARD_SMALL"


def test_ingestion_from_s3_to_a_gcp_spark_workload_pays_aws_egress():
    extra = "data_pipeline:\n  ingestion:\n    - source: s3://raw/events/\n      destination: gs://ignored/landing\n      schedule: daily\n"
    plan = plan_of(ETL + "  cloud: gcp\n", clouds="  aws: {region: us-east-1}\n  gcp: {region: us-central1, project: acme-ml-prod}\n",
                   extra=extra)
    [ing] = parts(plan, "ingestion")
    assert ing.cloud == "gcp" and ing.region == "us-central1"  # the Spark workload's cloud, not the source's
    gib = round(1e12 / 2**30, 2)
    s = ing.settings
    assert (s["source_cloud"], s["source_bucket"], s["source_prefix"], s["destination_prefix"], s["schedule"]) == \
        ("aws", "raw", "events/", "landing/", "0 0 * * *")
    # Storage Transfer Service's agentless transfer is free; S3's internet egress ($0.09 a GB, planner/rules.py) is not.
    assert ing.service == "Storage Transfer Service" and ing.monthly_usd == pytest.approx(gib * (usd("sts_agentless_gib") + 0.09), abs=0.01)
    assert "S3 internet egress" in ing.reason


def test_no_serving_workload_no_cache_and_no_cdn_and_they_are_listed_not_applied():
    extra = ("data_pipeline:\n  serving:\n    - cache_size: 1GB\nnetwork:\n  inference_network:\n    cdn: enabled_for_static_content\n")
    plan = plan_of(ETL, clouds="  aws: {region: us-east-1}", extra=extra)
    assert [p.part for p in plan.pipeline if p.part in ("cache", "cdn")] == []
    got = {n.path: n.reason for n in plan.not_applied}
    assert "no serving workload" in got["data_pipeline.serving[0]"] and "no public serving workload" in got["network.inference_network.cdn"]
    off = plan_of(SERVE, clouds="  aws: {region: us-east-1}", extra="network:\n  inference_network:\n    cdn: disabled\n")
    assert parts(off, "cdn") == [] and "turns it off" in {n.path: n.reason for n in off.not_applied}["network.inference_network.cdn"]


def test_an_ingestion_without_destination_or_schedule_lands_in_its_own_prefix_on_demand():
    plan = plan_of(ETL, clouds="  aws: {region: us-east-1}", extra="data_pipeline:\n  ingestion:\n    - source: gs://elsewhere\n")
    [ing] = parts(plan, "ingestion")
    assert ing.cloud == "aws" and ing.settings["destination_prefix"] == "ingestion-0/" and ing.settings["schedule"] is None
    assert plan.spark_part("etl").settings["input_prefix"] == "ingestion-0/"
    # gs:// into AWS: DataSync plus Google Cloud's internet egress.
    gib = round(1e12 / 2**30, 2)
    assert ing.monthly_usd == pytest.approx(gib * (0.0125 + 0.12), abs=0.01) and "no schedule" in ing.reason


def test_a_spark_workloads_image_is_not_used_by_the_managed_engine():
    plan = plan_of(ETL + "  image: ghcr.io/acme/etl:1\n", clouds="  aws: {region: us-east-1}")
    assert plan.spark_part("etl") is not None
    assert "managed engine" in {n.path: n.reason for n in plan.not_applied}["workload_inventory[0].image"]


def test_a_spark_workloads_retries_are_not_applied_on_the_managed_engine_and_are_elsewhere():
    plan = plan_of(ETL + "  retries: 2\n", clouds="  aws: {region: us-east-1}")
    assert "not started again" in {n.path: n.reason for n in plan.not_applied}["workload_inventory[0].retries"]
    other = plan_of(ETL.replace("spark", "dask") + "  retries: 2\n", clouds="  aws: {region: us-east-1}")
    assert other.spark_part("etl") is None and "workload_inventory[0].retries" not in {n.path for n in other.not_applied}


# ---- bad input: every problem at once, each at its spec path -----------------------------------------

def test_bad_pipeline_input_is_every_error_at_once():
    extra = ("data_pipeline:\n  ingestion:\n    - source: https://example.com/data\n"
             "  serving:\n    - cache_size: 100TB\n    - ttl: 0.2s\n")
    plan = plan_of(SERVE, clouds="  aws: {region: us-east-1}", extra=extra)
    errors = {f.path: f.message for f in plan.errors}
    assert set(errors) == {"data_pipeline.ingestion[0].source", "data_pipeline.serving[0].cache_size", "data_pipeline.serving[1].ttl"}
    assert "not a bucket URL" in errors["data_pipeline.ingestion[0].source"]
    assert "500 nodes one ElastiCache for Valkey cluster can hold" in errors["data_pipeline.serving[0].cache_size"]
    assert "rounds to 0" in errors["data_pipeline.serving[1].ttl"]
    assert all(f.line for f in plan.errors)
    # Memorystore's ceiling is 250 nodes: 5 TB needs more.
    gcp = plan_of(SERVE, extra="data_pipeline:\n  serving:\n    - cache_size: 15TB\n")
    assert "250 nodes" in {f.path: f.message for f in gcp.errors}["data_pipeline.serving[0].cache_size"]


def test_a_ttl_of_zero_is_refused_when_the_spec_is_read():
    from aiinfra.errors import SpecError

    with pytest.raises(SpecError) as e:
        load_spec_text(make_spec(SERVE, extra="data_pipeline:\n  serving:\n    - ttl: 0s\n"))
    assert "data_pipeline.serving[0].ttl" in str(e.value)


def test_on_the_kubernetes_platform_the_cache_and_cdn_are_not_built_and_say_why(tmp_path):
    import yaml

    text = yaml.safe_load((ROOT / "examples" / "kubernetes.yaml").read_text())
    ref = yaml.safe_load(REFERENCE.read_text())
    text["data_pipeline"], text["network"] = ref["data_pipeline"], ref["network"]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(text))
    plan = make_plan(load_spec(path))
    assert [p.part for p in plan.pipeline if p.part in ("cache", "cdn")] == []
    reasons = {n.path: n.reason for n in plan.not_applied}
    assert "kubernetes platform" in reasons["data_pipeline.serving[0]"] and "kubernetes platform" in reasons["network.inference_network.cdn"]
    assert [p.part for p in plan.pipeline if p.part == "ingestion"] == ["ingestion"]  # the data bucket's, on either platform
