"""Spark on Dataproc (issue 30, the plan's ``spark`` part on GCP): the workload stack of
stacks/spark_gcp.py and constructs/gcp/spark_runs.py, synthesized with its foundation in one app
(cross-stack references resolved), checked against the google provider schema (tests/gcp_schema.py),
the policy pack and checkov; the cluster is internal-IP-only, CMEK, Spot secondary workers within the
plan's bounds; the scheduler's request is the Dataproc instantiate call; the invoker may only
instantiate; without a command the schedule is paused and the application variable's expression is
evaluated by Terraform itself."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from aiinfra.cdk import App, TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs.gcp import DataprocSparkRuns
from aiinfra.constructs.gcp.project_services import services_for
from aiinfra.constructs.gcp.spark_runs import INSTANTIATE_FIELDS, RUNNER_PERMISSIONS
from aiinfra.planner import make_plan
from aiinfra.planner.model import PipelinePartPlan
from aiinfra.policy import RULES_BY_ID, Result, StackView
from aiinfra.policy import check_stack as policy_check
from aiinfra.spec import load_spec_text
from aiinfra.stacks.gcp import GcpFoundation, _stack
from aiinfra.stacks.spark_gcp import GcpSparkWorkload
from tests.conftest import make_spec
from tests.gcp_schema import check_stack
from tests.test_constructs_gcp import synth  # app, stack, google provider, build, synth, schema-checked
from tests.test_checkov import CHECKOV, CONFIG
from tests.tf_harness import SKIP_NO_TERRAFORM, terraform_bin

pytestmark = pytest.mark.cdk

PROJECT = "acme-ml-prod"
REGION = "us-central1"
PREFIX = "acme-ml-production-gcp-"
SPEC = make_spec('''
- name: "feature-etl"
  type: "data_processing"
  framework: "spark"
  dataset_size: "5TB"
  training_frequency: "daily"
  command: ["jobs/etl.py", "--date", "today"]
- name: "nightly-agg"
  type: "data_processing"
  framework: "Apache Spark"
  dataset_size: "1TB"
  training_frequency: "daily"
''', clouds=f"  gcp: {{project: {PROJECT}, region: {REGION}, alert_emails: [oncall@acme.example]}}")

# What planner/spark.py puts in the part's settings (the design contract's keys), by hand.
SETTINGS = dict(engine="dataproc", release="2.3-debian12", primary_type="n2-standard-4", core_type="n2-standard-8", core_nodes=2,
                task_types=["n2-standard-8"], task_min=3, task_max=18, task_spot=True, idle_timeout_seconds=900, max_runtime_hours=6.0,
                schedule="0 2 * * *", input_prefix="staging/", output_prefix="features/", main="jobs/etl.py", args=["--date", "today"])
NO_CODE = {**SETTINGS, "main": None, "args": [], "schedule": "30 3 * * *", "output_prefix": None}


def part_for(w, settings: dict) -> PipelinePartPlan:
    return PipelinePartPlan("gcp", w.region, "spark", w.name, "dataproc", 0.0, "by hand", settings=dict(settings))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both workloads' stacks and the foundation, synthesized by one app (cross-stack references resolved)."""
    loaded = load_spec_text(SPEC)
    plan = make_plan(loaded)
    ws = {w.name: w for w in plan.workloads}
    out = tmp_path_factory.mktemp("spark-gcp")
    app = App(outdir=str(out))
    foundation = GcpFoundation(app, loaded.spec, plan, REGION, list(ws.values()), None, True)
    etl = GcpSparkWorkload(app, loaded.spec, plan, ws["feature-etl"], part_for(ws["feature-etl"], SETTINGS), foundation, _stack)
    agg = GcpSparkWorkload(app, loaded.spec, plan, ws["nightly-agg"], part_for(ws["nightly-agg"], NO_CODE), foundation, _stack)
    app.synth()
    docs = {p.parent.name.removeprefix(PREFIX): json.loads(p.read_text()) for p in (out / "stacks").glob("*/cdk.tf.json")}
    return {"docs": docs, "out": out, "etl": etl, "agg": agg, "foundation": foundation}


def only(doc: dict, rtype: str) -> dict:
    (value,) = doc["resource"][rtype].values()
    return value


def each(doc: dict, rtype: str) -> list[dict]:
    return list(doc["resource"].get(rtype, {}).values())


def config(doc: dict) -> dict:
    return only(doc, "google_dataproc_workflow_template")["placement"]["managed_cluster"]["config"]


def test_stacks_conform_to_the_google_provider_schema(built):
    docs = built["docs"]
    assert set(docs) == {"foundation", "feature-etl", "nightly-agg"}
    for name, doc in docs.items():
        assert check_stack(doc) == [], name
    assert {"google_dataproc_workflow_template", "google_dataproc_autoscaling_policy", "google_cloud_scheduler_job",
            "google_monitoring_alert_policy"} <= set(docs["feature-etl"]["resource"])


def test_the_cluster_is_internal_ip_only_cmek_shielded_on_the_foundation_subnet_as_the_workload_account(built):
    doc = built["docs"]["feature-etl"]
    gce = config(doc)["gce_cluster_config"]
    assert gce["internal_ip_only"] is True
    assert "cross-stack" in gce["subnetwork"] and "subnet" in gce["subnetwork"] and "self_link" in gce["subnetwork"]
    assert re.fullmatch(r"\$\{google_service_account\.identity_account_[0-9A-F]+\.email\}", gce["service_account"])
    assert gce["service_account_scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert gce["shielded_instance_config"] == {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}
    assert gce["zone"].startswith(REGION)
    key = config(doc)["encryption_config"]["gce_pd_kms_key_name"]
    assert key.startswith("${local.cross-stack-reference-input-acme-ml-production-gcp-foundation.") and "google_kms_crypto_keykey" in key
    assert only(doc, "google_dataproc_workflow_template")["encryption_config"]["kms_key"] == key  # job arguments too
    # The service agents that encrypt with the key: Compute Engine (disks) and Cloud Storage (the staging bucket) hold it
    # from the foundation; the Dataproc agent is granted beside them, once, in the foundation's stack (a binding granted
    # in each workload's stack would be removed by the first one destroyed), after the Dataproc API is on.
    assert not [g for g in each(doc, "google_kms_crypto_key_iam_member") if g["member"].startswith("serviceAccount:service-")]
    foundation = built["docs"]["foundation"]
    members = [g["member"] for g in each(foundation, "google_kms_crypto_key_iam_member") if g["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"]
    assert len(members) == 3 and sum("@dataproc-accounts.iam.gserviceaccount.com" in m for m in members) == 1
    assert sum("@compute-system.iam.gserviceaccount.com" in m for m in members) == 1
    assert sum("google_storage_project_service_account" in m for m in members) == 1
    (grant,) = [(k, g) for k, g in foundation["resource"]["google_kms_crypto_key_iam_member"].items() if "dataproc-accounts" in g["member"]]
    assert any(d.startswith("google_project_service.") and "dataproc" in d for d in grant[1]["depends_on"])
    assert only({"resource": {"x": {k: v for k, v in foundation["resource"]["google_project_service"].items()
                                    if v["service"] == "dataproc.googleapis.com"}}}, "x")["disable_on_destroy"] is False
    assert config(doc)["endpoint_config"] == {"enable_http_port_access": False}


def test_primary_workers_on_demand_and_spot_secondary_workers_bounded_by_the_plan(built):
    doc = built["docs"]["feature-etl"]
    c = config(doc)
    assert c["master_config"]["num_instances"] == 1 and c["master_config"]["machine_type"] == SETTINGS["primary_type"]
    assert c["worker_config"] == {**c["worker_config"], "num_instances": 2, "machine_type": "n2-standard-8"}
    assert "preemptibility" not in c["worker_config"]  # primary workers are on demand
    sec = c["secondary_worker_config"]
    assert sec["preemptibility"] == "SPOT" and sec["num_instances"] == SETTINGS["task_min"] and sec["machine_type"] == "n2-standard-8"
    policy = only(doc, "google_dataproc_autoscaling_policy")
    assert policy["worker_config"] == {"min_instances": 2, "max_instances": 2}
    assert policy["secondary_worker_config"] == {"min_instances": SETTINGS["task_min"], "max_instances": SETTINGS["task_max"]}
    assert policy["location"] == REGION and set(policy["basic_algorithm"]["yarn_config"]) >= {
        "graceful_decommission_timeout", "scale_up_factor", "scale_down_factor"}
    assert re.fullmatch(r"\$\{google_dataproc_autoscaling_policy\.[A-Za-z0-9_]+\.id\}", c["autoscaling_config"]["policy"])
    assert c["software_config"]["image_version"] == "2.3-debian12"
    assert c["software_config"]["properties"]["dataproc:dataproc.logging.stackdriver.job.driver.enable"] == "true"


def test_hard_stop_idle_deletion_and_the_staging_bucket(built):
    doc = built["docs"]["feature-etl"]
    template = only(doc, "google_dataproc_workflow_template")
    assert template["dag_timeout"] == "21600s"  # max_runtime_hours 6
    assert config(doc)["lifecycle_config"] == {"idle_delete_ttl": "900s", "auto_delete_ttl": f"{21600 + 1800}s"}
    bucket = only(doc, "google_storage_bucket")
    assert config(doc)["staging_bucket"] == config(doc)["temp_bucket"] == "${google_storage_bucket.staging.name}"
    assert bucket["public_access_prevention"] == "enforced" and bucket["uniform_bucket_level_access"] is True
    assert "cross-stack" in bucket["encryption"]["default_kms_key_name"] and bucket["location"] == REGION
    assert bucket["name"].endswith("-dataproc") and len(bucket["name"]) <= 63


def instantiate_body(job: dict) -> dict:
    return json.loads(base64.b64decode(job["http_target"]["body"]))


def test_the_schedule_posts_the_dataproc_instantiate_request_with_the_invokers_token(built):
    doc = built["docs"]["feature-etl"]
    job = only(doc, "google_cloud_scheduler_job")
    template = only(doc, "google_dataproc_workflow_template")
    target = job["http_target"]
    # POST https://dataproc.googleapis.com/v1/{name=projects/*/regions/*/workflowTemplates/*}:instantiate
    # (https://cloud.google.com/dataproc/docs/reference/rest/v1/projects.regions.workflowTemplates/instantiate)
    m = re.fullmatch(r"https://dataproc\.googleapis\.com/v1/projects/([^/]+)/regions/([^/]+)/workflowTemplates/([^/:]+):instantiate", target["uri"])
    assert m and m.groups() == (PROJECT, REGION, template["name"]) and template["location"] == REGION
    assert target["http_method"] == "POST" and target["headers"] == {"Content-Type": "application/json"}
    # The body is an InstantiateWorkflowTemplateRequest: only its fields (version, requestId, parameters: the Dataproc v1
    # discovery document), none pinned: no version (the template as last applied), no fixed requestId (later runs would
    # be taken for the first one's retry).
    body = instantiate_body(job)
    assert isinstance(body, dict) and set(body) <= set(INSTANTIATE_FIELDS) == {"version", "requestId", "parameters"}
    assert "requestId" not in body and "version" not in body
    token = target["oauth_token"]
    assert token["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert "invoker" in token["service_account_email"] and "identity" not in token["service_account_email"]
    assert job["schedule"] == SETTINGS["schedule"] and job["time_zone"] == "Etc/UTC" and job["region"] == REGION
    assert "paused" not in job  # the application is given: the schedule runs
    assert any(d.startswith("google_dataproc_workflow_template.") for d in job["depends_on"])


def test_the_invoker_may_only_instantiate_and_act_as_the_cluster_account(built):
    doc = built["docs"]["feature-etl"]
    role = only(doc, "google_project_iam_custom_role")
    assert role["permissions"] == list(RUNNER_PERMISSIONS) == ["dataproc.workflowTemplates.instantiate"]
    invoker = next(k for k, v in doc["resource"]["google_service_account"].items() if "invoker" in k)
    mine = [g for g in each(doc, "google_project_iam_member") if invoker in g["member"]]
    assert [g["role"] for g in mine] == [f"${{google_project_iam_custom_role.{next(iter(doc['resource']['google_project_iam_custom_role']))}.name}}"]
    (act_as,) = [g for g in each(doc, "google_service_account_iam_member") if invoker in g["member"]]
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert act_as["service_account_id"].startswith(f"projects/{PROJECT}/serviceAccounts/${{google_service_account.identity")


def test_the_cluster_account_reaches_only_its_prefixes_of_the_data_bucket(built):
    doc = built["docs"]["feature-etl"]
    identity = next(k for k in doc["resource"]["google_service_account"] if "identity" in k)
    project_roles = sorted(g["role"] for g in each(doc, "google_project_iam_member") if identity in g["member"])
    assert project_roles == ["roles/dataproc.worker", "roles/logging.logWriter", "roles/monitoring.metricWriter"]
    data = [g for g in each(doc, "google_storage_bucket_iam_member") if "cross-stack" in g["bucket"]]
    objects = next(g for g in data if g["role"] == "roles/storage.objectUser")
    prefixes = re.findall(r'startsWith\("projects/_/buckets/\$\{[^}]+\}/objects/([^"]+)"\)', objects["condition"]["expression"])
    assert prefixes == ["feature-etl/", "staging/", "features/"]
    assert sorted(g["role"] for g in data) == ["roles/storage.legacyBucketReader", "roles/storage.objectUser"]
    staging = sorted(g["role"] for g in each(doc, "google_storage_bucket_iam_member") if g["bucket"] == "${google_storage_bucket.staging.name}")
    assert staging == ["roles/storage.legacyBucketReader", "roles/storage.objectAdmin"]
    # The VMs' own network scope: in from their own service account (YARN, HDFS, shuffle), out HTTPS and to peers.
    assert any(f.get("direction") == "INGRESS" and f.get("source_service_accounts") for f in each(doc, "google_compute_firewall"))


def test_a_run_failure_raises_the_policy_into_the_foundations_channels(built):
    doc = built["docs"]["feature-etl"]
    policy = only(doc, "google_monitoring_alert_policy")
    name = only(doc, "google_dataproc_workflow_template")["name"]
    metrics = sorted(re.search(r'metric.type = "([^"]+)"', c["condition_threshold"]["filter"]).group(1) for c in policy["conditions"])
    assert metrics == ["dataproc.googleapis.com/cluster/job/failed_count", "dataproc.googleapis.com/cluster/operation/failed_count"]
    for c in policy["conditions"]:
        assert f'resource.label.cluster_name = starts_with("{name}")' in c["condition_threshold"]["filter"]
        assert c["condition_threshold"]["comparison"] == "COMPARISON_GT" and c["condition_threshold"]["threshold_value"] == 0
    assert policy["combiner"] == "OR" and len(policy["notification_channels"]) == 1 and "cross-stack" in policy["notification_channels"][0]


def _evaluate(expressions: dict[str, str], spark_main: str, tmp_path: Path) -> dict[str, object]:
    """Terraform expressions evaluated by Terraform, ``var.spark_main`` given, the foundation's bucket named acme-data."""
    outputs = []
    for key, expression in expressions.items():
        inner = expression.removeprefix("${").removesuffix("}")
        inner = re.sub(r"local\.cross-stack-reference-input-[a-z0-9-]+\.[A-Za-z0-9_-]+", '"acme-data"', inner)
        outputs.append(f'output "{key}" {{\n  value = {inner}\n}}\n')
    (tmp_path / "main.tf").write_text('variable "spark_main" {\n  type = string\n}\n' + "".join(outputs))
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    for args in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color", f"-var=spark_main={spark_main}"]):
        r = subprocess.run([terraform_bin(), *args], capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([terraform_bin(), "output", "-json"], capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    return {k: v["value"] for k, v in json.loads(r.stdout).items()}


@SKIP_NO_TERRAFORM
def test_without_a_command_the_schedule_is_paused_until_spark_main_names_the_application(built, tmp_path):
    doc = built["docs"]["nightly-agg"]
    assert doc["variable"]["spark_main"]["default"] == ""
    job = only(doc, "google_cloud_scheduler_job")
    assert job["paused"] == '${!(var.spark_main != "")}'
    assert any("nightly-agg: its schedule is paused" in n or "no command for nightly-agg" in n for n in built["agg"].notes)
    dynamic = only(doc, "google_dataproc_workflow_template")["jobs"][0]["dynamic"]
    expressions = {"paused": job["paused"], "py_each": dynamic["pyspark_job"]["for_each"], "jar_each": dynamic["spark_job"]["for_each"],
                   "py_main": dynamic["pyspark_job"]["content"]["main_python_file_uri"],
                   "jar_main": dynamic["spark_job"]["content"]["main_jar_file_uri"]}
    cases = {"": (True, "gs://acme-data/nightly-agg/spark/main.py", "pyspark"),
             "jobs/agg.py": (False, "gs://acme-data/nightly-agg/jobs/agg.py", "pyspark"),
             "gs://other/lib/agg.jar": (False, "gs://other/lib/agg.jar", "spark")}
    for i, (given, (paused, uri, kind)) in enumerate(cases.items()):
        where = tmp_path / str(i)
        where.mkdir()
        got = _evaluate(expressions, given, where)
        assert got["paused"] is paused, given
        assert (len(got["py_each"]), len(got["jar_each"])) == ((1, 0) if kind == "pyspark" else (0, 1)), given
        assert got["py_main"] == got["jar_main"] == uri, given


def test_a_literal_application_is_a_pyspark_or_a_spark_job(built):
    etl = only(built["docs"]["feature-etl"], "google_dataproc_workflow_template")["jobs"]
    (job,) = etl
    assert set(job) == {"step_id", "labels", "pyspark_job"} and job["pyspark_job"]["args"] == ["--date", "today"]
    assert re.fullmatch(r"gs://\$\{local\.cross-stack[^}]+\}/feature-etl/jobs/etl\.py", job["pyspark_job"]["main_python_file_uri"])

    def jar(stack):
        DataprocSparkRuns(stack, "runs", **{**CONSTRUCT_ARGS, "main": "gs://acme-libs/etl/assembly.jar"})
    doc = synth(jar)
    (job,) = only(doc, "google_dataproc_workflow_template")["jobs"]
    assert job["spark_job"]["main_jar_file_uri"] == "gs://acme-libs/etl/assembly.jar" and "pyspark_job" not in job


CONSTRUCT_ARGS = dict(project=PROJECT, region=REGION, name="acme-prod-etl", subnetwork="projects/p/regions/r/subnetworks/s",
                      service_account_email="etl@acme-ml-prod.iam.gserviceaccount.com",
                      kms_key_id="projects/p/locations/us-central1/keyRings/r/cryptoKeys/k", staging_bucket="acme-etl-dataproc",
                      primary_type="n2-standard-4", core_type="n2-standard-8", core_nodes=2, task_min=0, task_max=4,
                      main="gs://acme-data/etl/job.py", invoker_account_id="acme-prod-etl-run", runner_role_id="aiinfra.acme.etl.sparkRunner")


def test_without_a_schedule_there_is_no_job_and_without_secondary_workers_no_policy():
    def build(stack):
        DataprocSparkRuns(stack, "runs", **{**CONSTRUCT_ARGS, "task_max": 0, "task_spot": False})
    doc = synth(build)
    # Standalone, the construct grants the key to the Dataproc and Compute Engine agents itself, before the template.
    agents = sorted(g["member"].split("@")[1] for g in each(doc, "google_kms_crypto_key_iam_member"))
    assert agents == ["compute-system.iam.gserviceaccount.com", "dataproc-accounts.iam.gserviceaccount.com"]
    assert sum(d.startswith("google_kms_crypto_key_iam_member.") for d in only(doc, "google_dataproc_workflow_template")["depends_on"]) == 2
    assert "google_cloud_scheduler_job" not in doc["resource"] and "google_dataproc_autoscaling_policy" not in doc["resource"]
    c = config(doc)
    assert "secondary_worker_config" not in c and "autoscaling_config" not in c
    assert "dag_timeout" not in only(doc, "google_dataproc_workflow_template")


def test_bad_arguments_are_reported_together():
    with pytest.raises(ValueError) as err:
        DataprocSparkRuns(CdkTesting.app(), "runs", **{**CONSTRUCT_ARGS, "core_nodes": 1, "task_min": 5, "task_max": 2, "max_runtime_hours": 30,
                                                    "main_expression": "var.x",
                                                    "service_account_email": "123-compute@developer.gserviceaccount.com"})
    text = str(err.value)
    for part in ("core_nodes must be 2 or more", "task_min and task_max", "max_runtime_hours", "exactly one of main and main_expression",
                 "not the Compute Engine default one"):
        assert part in text
    with pytest.raises(ValueError, match="gs:// URI of a .py or .jar"):
        DataprocSparkRuns(CdkTesting.app(), "runs", **{**CONSTRUCT_ARGS, "main": "s3://raw/etl.py"})


def test_the_policy_pack_passes_and_the_project_enables_dataproc(built):
    for name, doc in built["docs"].items():
        report = policy_check(PREFIX + name, doc)
        assert report.violations == [] and report.problems == [], name
    types = {t for t in built["docs"]["feature-etl"]["resource"]}
    assert {"dataproc.googleapis.com", "cloudscheduler.googleapis.com", "monitoring.googleapis.com"} <= set(services_for(types))


# AIINFRA-GCP-020 / 021: a compliant and a non-compliant template, as the constructs write them.
def _template(**gce) -> dict:
    return {"resource": {"google_dataproc_workflow_template": {"t": {
        "placement": {"managed_cluster": {"cluster_name": "c", "config": {
            "encryption_config": {"gce_pd_kms_key_name": "${google_kms_crypto_key.k.id}"},
            "gce_cluster_config": {"internal_ip_only": True, **gce}}}}, "//": {"metadata": {"path": "s/t"}}}}}}


def _judge(rule: str, doc: dict) -> list[Result]:
    view = StackView.from_json("s", doc)
    return [RULES_BY_ID[rule].evaluate(r, view)[0] for r in view.resources]


def test_dataproc_rules_judge_cmek_and_internal_ip_on_the_managed_cluster():
    assert _judge("AIINFRA-GCP-020", _template()) == [Result.COMPLIANT]
    assert _judge("AIINFRA-GCP-021", _template()) == [Result.COMPLIANT]
    no_key = _template()
    del no_key["resource"]["google_dataproc_workflow_template"]["t"]["placement"]["managed_cluster"]["config"]["encryption_config"]
    assert _judge("AIINFRA-GCP-020", no_key) == [Result.NON_COMPLIANT]
    assert _judge("AIINFRA-GCP-021", _template(internal_ip_only=False)) == [Result.NON_COMPLIANT]
    cluster = {"resource": {"google_dataproc_cluster": {"c": {"cluster_config": {"gce_cluster_config": {}}}}}}
    assert _judge("AIINFRA-GCP-020", cluster) == [Result.NON_COMPLIANT] and _judge("AIINFRA-GCP-021", cluster) == [Result.NON_COMPLIANT]
    selector = {"resource": {"google_dataproc_workflow_template": {"t": {"placement": {"cluster_selector": {"cluster_labels": {"a": "b"}}}}}}}
    assert _judge("AIINFRA-GCP-020", selector) == [Result.NOT_APPLICABLE] == _judge("AIINFRA-GCP-021", selector)


@pytest.mark.skipif(CHECKOV is None, reason="checkov is not installed (make setup puts it in .venv-checkov)")
def test_checkov_passes_on_the_spark_stacks(built):
    stacks = built["out"] / "stacks"
    r = subprocess.run([CHECKOV, "--config-file", str(CONFIG), "-d", str(stacks), "-o", "json"], capture_output=True, text=True,
                       cwd=stacks.parent, timeout=600)
    reports = json.loads(r.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [c for rep in reports for c in rep.get("results", {}).get("failed_checks", [])]
    passed = [c for rep in reports for c in rep.get("results", {}).get("passed_checks", [])]
    assert failed == [], [(c["check_id"], c["resource"]) for c in failed]
    assert any("feature-etl" in c["file_path"] for c in passed)


def test_what_dataproc_cannot_take_as_planned_is_adjusted_and_said():
    loaded = load_spec_text(SPEC)
    plan = make_plan(loaded)
    w = next(x for x in plan.workloads if x.name == "feature-etl")
    settings = {**SETTINGS, "core_nodes": 1, "task_types": ["n2-standard-8", "n2d-standard-8"], "max_runtime_hours": 30.0, "schedule": None,
                "output_prefix": "s3://elsewhere/out/"}
    app = CdkTesting.app()
    foundation = GcpFoundation(app, loaded.spec, plan, REGION, [w], None, True)
    etl = GcpSparkWorkload(app, loaded.spec, plan, w, part_for(w, settings), foundation, _stack)
    doc = json.loads(CdkTesting.synth(etl.stack))
    assert check_stack(doc) == []
    assert config(doc)["worker_config"]["num_instances"] == 2 and "dag_timeout" not in only(doc, "google_dataproc_workflow_template")
    assert "google_cloud_scheduler_job" not in doc["resource"]
    notes = "\n".join(etl.notes)
    for said in ("2 primary workers (a standard cluster's minimum), the plan asked 1", "one machine type: n2-standard-8",
                 "over a Dataproc workflow's 24 h dag_timeout", "runs on demand only (no schedule): start a run with POST https://dataproc",
                 "output_prefix 's3://elsewhere/out/' is not a folder of the data bucket"):
        assert said in notes
    with pytest.raises(ValueError, match="must be a gs:// URI or a path under"):
        GcpSparkWorkload(app, loaded.spec, plan, w, part_for(w, {**SETTINGS, "main": "s3://raw/etl.py"}), foundation,
                         lambda a, s, r, n: TerraformStack(a, "other"))


def test_the_planners_spark_parts_build_as_planned():
    """The parts planner/spark.py makes (not hand-built): every contract key is read, the cluster follows them."""
    loaded = load_spec_text(SPEC)
    plan = make_plan(loaded)
    app = CdkTesting.app()
    ws = [w for w in plan.workloads if plan.spark_part(w.name)]
    assert sorted(w.name for w in ws) == ["feature-etl", "nightly-agg"]
    foundation = GcpFoundation(app, loaded.spec, plan, REGION, ws, None, True)
    for w in ws:
        part = plan.spark_part(w.name)
        s = part.settings
        assert part.cloud == "gcp" and s["engine"] == "dataproc"
        built = GcpSparkWorkload(app, loaded.spec, plan, w, part, foundation, _stack)
        doc = json.loads(CdkTesting.synth(built.stack))
        assert check_stack(doc) == [], w.name
        c = config(doc)
        assert c["software_config"]["image_version"] == s["release"] and c["master_config"]["machine_type"] == s["primary_type"]
        assert c["worker_config"]["num_instances"] == max(2, s["core_nodes"]) and c["worker_config"]["machine_type"] == s["core_type"]
        assert c["secondary_worker_config"]["preemptibility"] == ("SPOT" if s["task_spot"] else "NON_PREEMPTIBLE")
        assert c["secondary_worker_config"]["machine_type"] == s["task_types"][0]
        policy = only(doc, "google_dataproc_autoscaling_policy")
        assert policy["secondary_worker_config"] == {"min_instances": s["task_min"], "max_instances": s["task_max"]}
        assert only(doc, "google_cloud_scheduler_job")["schedule"] == s["schedule"]
        assert c["lifecycle_config"]["idle_delete_ttl"] == f"{s['idle_timeout_seconds']}s"
        assert only(doc, "google_dataproc_workflow_template")["dag_timeout"] == f"{round(s['max_runtime_hours'] * 3600)}s"
        assert ("spark_main" in doc.get("variable", {})) is (s["main"] is None)
