"""planner/spark.py: the transient managed-engine cluster of a Spark data_processing workload (issue 30), its settings,
the engine's surcharge and the workload's own compute rewritten for on-demand core nodes, on the bundled catalog.

The workloads are planned the way make_plan plans them (WorkloadPlanner), then handed to spark_part, so each test sees
the planner's own figures before and after."""

import gzip
import json
import os

import pytest

import moto
from aiinfra.planner.compute import WorkloadPlanner
from aiinfra.planner.spark import (DATAPROC_IMAGE, DATAPROC_SERVERLESS_DCU_USD, DATAPROC_USD_PER_VCPU_HOUR, EMR_FEE_SHARE_OF_ON_DEMAND,
                                   EMR_RELEASE, EMR_SERVERLESS_USD, IDLE_TIMEOUT_SECONDS, destination_prefix, spark_part)
from aiinfra.spec import load_spec, load_spec_text
from tests.conftest import ROOT

GCP_SPARK = """
project: acme-ml
environment: production
clouds:
  gcp: {region: us-central1, project: acme-ml-prod}
workload_inventory:
  - name: etl
    type: data_processing
    framework: "PySpark"
    dataset_size: "5TB"
    training_frequency: daily
    spot: true
    command: ["gs://acme-code/jobs/etl.py", "--date", "2026-12-07"]
data_pipeline:
  ingestion:
    - source: "s3://raw-data-bucket/events"
      destination: "gs://landing-bucket/landing/events"
      schedule: "0 */6 * * *"
  preprocessing:
    - framework: "Apache Spark (pyspark)"
      cluster_size: "auto-scale 4-12 nodes"
      output: "processed/parquet"
"""


def planned(loaded, catalog):
    """(spec, {name: WorkloadPlan}, platforms) as make_plan has them before the pipeline is planned."""
    spec = loaded.spec
    ws = [WorkloadPlanner(spec, catalog, i, w, lambda *a: None).plan() for i, w in enumerate(spec.workload_inventory)]
    platforms = {c: getattr(spec.clouds, c).platform for c in spec.clouds.configured()}
    return spec, {w.name: w for w in ws if w is not None}, platforms


def offer(catalog, cloud, region, instance_type):
    return next(o for o in catalog.offers(cloud, region) if o.instance_type == instance_type)


def moto_emr(name: str):
    """A gzipped JSON list of moto 5.2.5's EMR resources (its snapshots of EMR's ListReleaseLabels /
    ListSupportedInstanceTypes answers)."""
    path = os.path.join(os.path.dirname(moto.__file__), "emr", "resources", name)
    with gzip.open(path) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def reference(real_catalog):
    spec, ws, platforms = planned(load_spec(ROOT / "examples" / "reference.yaml", catalog=real_catalog), real_catalog)
    w = ws["feature-etl"]
    before = (w.capacity, w.nodes, w.hours_per_month, w.runs_per_month, w.runtime_hours, w.instance_type, w.region)
    return spec, w, spark_part(spec, real_catalog, w, platforms), before


def test_reference_feature_etl_gets_a_transient_emr_cluster(reference):
    spec, w, part, before = reference
    assert before == ("spot", 5, pytest.approx(95.05), pytest.approx(30.4167, rel=1e-4), 3.125, "r6i.8xlarge", "us-east-1")
    assert (part.cloud, part.region, part.part, part.target, part.service) == ("aws", "us-east-1", "spark", "feature-etl", "EMR on EC2")
    assert part.settings == {
        "engine": "emr", "release": EMR_RELEASE, "primary_type": "m6i.2xlarge", "core_type": "r6i.8xlarge", "core_nodes": 2,
        "task_types": ["r6i.8xlarge", *w.spot_alternatives], "task_min": 3, "task_max": 18, "task_spot": True,
        "idle_timeout_seconds": IDLE_TIMEOUT_SECONDS, "max_runtime_hours": 6.25, "schedule": "0 6 * * *",
        # data_pipeline.ingestion[0].destination "distributed_filesystem/staging", preprocessing[0].output "processed_data/parquet"
        "input_prefix": "staging/", "output_prefix": "processed_data/parquet/",
        # feature-etl has no command: the stack asks for spark_main and keeps the schedule disabled
        "main": None, "args": [],
    }
    assert 60 <= IDLE_TIMEOUT_SECONDS <= 7 * 24 * 3600 and IDLE_TIMEOUT_SECONDS >= 600  # EMR's and Dataproc's ranges


def test_reference_emr_fee_and_primary_are_the_surcharge(reference, real_catalog):
    _, w, part, _ = reference
    primary = offer(real_catalog, "aws", "us-east-1", "m6i.2xlarge")
    worker = offer(real_catalog, "aws", "us-east-1", "r6i.8xlarge")
    assert (primary.on_demand_usd_hr, worker.on_demand_usd_hr, worker.spot_usd_hr) == (0.384, 2.016, 0.5908)  # catalog us-east-1
    # EMR's fee: 25% of EC2 on-demand for each of the primary and the 5 steady workers, whatever their market; plus the
    # primary's own EC2 on-demand price.
    fee = EMR_FEE_SHARE_OF_ON_DEMAND * (0.384 + 5 * 2.016)
    assert fee == pytest.approx(2.616)
    surcharge = fee + 0.384
    assert part.monthly_usd == pytest.approx(round(surcharge * w.runs_per_month * w.runtime_hours, 2))
    assert part.monthly_usd == pytest.approx(3.0 * 30.4167 * 3.125, rel=1e-4)  # $285.16
    assert "$2.6160/h" in part.reason and "$3.0000/h" in part.reason


def test_reference_workload_costs_on_demand_core_and_spot_tasks(reference):
    _, w, _, _ = reference
    hourly = 2 * 2.016 + 3 * 0.5908
    assert w.hourly_usd == pytest.approx(hourly)
    hours = w.runs_per_month * w.runtime_hours  # 30.42 runs x 3.125 h = 95.05 h, as compute.py costed the workload
    assert w.monthly_usd == pytest.approx(round(hourly * hours, 2))  # $551.71, was 5 x 0.5908 x 95.05 = $280.78
    assert w.on_demand_monthly_usd == pytest.approx(round(5 * 2.016 * hours, 2))
    assert w.spot_savings_monthly_usd == pytest.approx(w.on_demand_monthly_usd - w.monthly_usd, abs=0.011)
    assert (w.capacity, w.on_demand_base_nodes, w.on_demand_percent_above_base) == ("mixed", 2, 0)
    assert "2 x $2.0160 + 3 x $0.5908 = $5.8044/h" in w.reasons["capacity"] and "was $280.78" in w.reasons["capacity"]
    assert w.reasons["engine"] == reference[2].reason


def test_reference_reason_compares_emr_serverless_for_the_same_capacity(reference):
    _, w, part, _ = reference
    per_vcpu, per_gb = EMR_SERVERLESS_USD["us-east-1"]
    assert (per_vcpu, per_gb) == (0.052624, 0.0057785)
    serverless = 160 * per_vcpu + 1280 * per_gb  # 5 x 32 vCPU, 5 x 256 GiB
    cluster = (2 * 2.016 + 3 * 0.5908) + 3.0
    assert serverless > cluster
    assert f"${serverless:,.2f} a run hour" in part.reason and f"${cluster:,.2f}" in part.reason
    assert "EMR Serverless has no spot" in part.reason


def test_reference_release_and_types_are_ones_emr_accepts(reference):
    _, _, part, _ = reference
    assert part.settings["release"] in moto_emr("release-labels-us-east-1.json.gz")
    supported = set(moto_emr(f"instance-types-{part.settings['release']}.json.gz"))
    assert {part.settings["primary_type"], part.settings["core_type"], *part.settings["task_types"]} <= supported
    assert "m6i.large" not in supported  # why the primary is not the catalog's smallest m6i


def test_gcp_spark_workload_gets_dataproc(real_catalog):
    spec, ws, platforms = planned(load_spec_text(GCP_SPARK, catalog=real_catalog), real_catalog)
    w = ws["etl"]
    nodes, hours = w.nodes, w.runs_per_month * w.runtime_hours
    assert (w.instance_type, nodes, w.max_nodes, w.capacity) == ("n2-highmem-32", 4, 12, "spot")
    part = spark_part(spec, real_catalog, w, platforms)
    assert part.service == "Dataproc" and part.settings == {
        "engine": "dataproc", "release": DATAPROC_IMAGE, "primary_type": "e2-standard-2", "core_type": "n2-highmem-32",
        "core_nodes": 2, "task_types": ["n2-highmem-32"], "task_min": 2, "task_max": 10, "task_spot": True,
        "idle_timeout_seconds": IDLE_TIMEOUT_SECONDS, "max_runtime_hours": w.max_runtime_hours, "schedule": w.schedule,
        "input_prefix": "landing/events/", "output_prefix": "processed/parquet/",
        "main": "gs://acme-code/jobs/etl.py", "args": ["--date", "2026-12-07"],
    }
    master = offer(real_catalog, "gcp", "us-central1", "e2-standard-2")
    worker = offer(real_catalog, "gcp", "us-central1", "n2-highmem-32")
    # $0.010 a vCPU-hour over the master (2) and the 4 steady workers (32 each), plus the master's VM
    surcharge = DATAPROC_USD_PER_VCPU_HOUR * (2 + 4 * 32) + master.on_demand_usd_hr
    assert part.monthly_usd == pytest.approx(round(surcharge * w.runs_per_month * w.runtime_hours, 2))
    hourly = 2 * worker.on_demand_usd_hr + 2 * worker.spot_usd_hr
    assert w.monthly_usd == pytest.approx(round(hourly * hours, 2)) and w.capacity == "mixed"
    # Serverless for Apache Spark, same 128 vCPU / 1024 GB: 0.6 DCU a vCPU + 0.1 DCU a GB (8 GB a vCPU, none above)
    dcu = 128 * 0.6 + 1024 * 0.1
    assert f"{dcu:g} DCU" in part.reason and f"${dcu * DATAPROC_SERVERLESS_DCU_USD['us-central1']:,.2f} a run hour" in part.reason


def test_gcp_floor_of_two_primary_workers_raises_a_one_node_cluster(real_catalog):
    text = GCP_SPARK.replace("auto-scale 4-12 nodes", "auto-scale 1-4 nodes")
    spec, ws, platforms = planned(load_spec_text(text, catalog=real_catalog), real_catalog)
    w = ws["etl"]
    assert (w.nodes, w.min_nodes) == (1, 1)
    part = spark_part(spec, real_catalog, w, platforms)
    assert (part.settings["core_nodes"], part.settings["task_min"], part.settings["task_max"]) == (2, 0, 2)
    assert (w.nodes, w.min_nodes, w.max_nodes) == (2, 2, 4) and "nodes raised to 2" in w.reasons["capacity"]


def test_kubernetes_platform_spark_workload_gets_none(real_catalog):
    spec, ws, platforms = planned(load_spec(ROOT / "examples" / "kubernetes.yaml", catalog=real_catalog), real_catalog)
    w = ws["feature-extraction"]
    assert platforms["aws"] == "kubernetes" and w.type == "data_processing"
    before = (w.capacity, w.hourly_usd, w.monthly_usd, dict(w.reasons))
    assert spark_part(spec, real_catalog, w, platforms) is None
    assert (w.capacity, w.hourly_usd, w.monthly_usd, w.reasons) == before


def test_non_spark_data_processing_and_other_types_get_none(real_catalog):
    text = GCP_SPARK.replace('framework: "PySpark"', 'framework: "dask"')
    spec, ws, platforms = planned(load_spec_text(text, catalog=real_catalog), real_catalog)
    w = ws["etl"]
    before = (w.capacity, w.monthly_usd)
    assert spark_part(spec, real_catalog, w, platforms) is None and (w.capacity, w.monthly_usd) == before
    spec, ws, platforms = planned(load_spec(ROOT / "examples" / "reference.yaml", catalog=real_catalog), real_catalog)
    assert all(spark_part(spec, real_catalog, ws[n], platforms) is None for n in ws if n != "feature-etl")


def test_spark_part_is_idempotent(real_catalog):
    spec, ws, platforms = planned(load_spec(ROOT / "examples" / "reference.yaml", catalog=real_catalog), real_catalog)
    w = ws["feature-etl"]
    first = spark_part(spec, real_catalog, w, platforms)
    after = (w.capacity, w.hourly_usd, w.monthly_usd, w.on_demand_monthly_usd, dict(w.reasons))
    assert spark_part(spec, real_catalog, w, platforms) == first
    assert (w.capacity, w.hourly_usd, w.monthly_usd, w.on_demand_monthly_usd, w.reasons) == after


@pytest.mark.parametrize("destination, prefix", [
    ("distributed_filesystem/staging", "staging/"),
    ("s3://lake/raw/events/", "raw/events/"),
    ("gs://lake", "ingestion-0/"),
    (None, "ingestion-0/"),
    ("hdfs/landing zone/2026", "landing-zone/2026/"),
    ("staging/../x", "staging/x/"),
    ("processed_data/parquet", "processed_data/parquet/"),
])
def test_destination_prefix(destination, prefix):
    assert destination_prefix(destination) == prefix


def test_destination_prefix_without_a_destination_names_the_ingestion():
    assert destination_prefix(None, 3) == destination_prefix("distributed_filesystem", 3) == "ingestion-3/"
