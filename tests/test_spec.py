"""The spec models: the reference loads unchanged, bad values get path + message + line."""

from pathlib import Path

import pytest

from aiinfra.errors import SpecError
from aiinfra.spec import load_spec, load_spec_text
from tests.conftest import REFERENCE, ROOT, make_spec

SHARED_REFERENCE = ROOT.parent / "shared" / "specs" / "reference.yaml"


def errors(text, catalog=None):
    with pytest.raises(SpecError) as exc:
        load_spec_text(text, catalog=catalog)
    return {p.path: p for p in exc.value.problems}


def test_reference_spec_loads_unchanged():
    loaded = load_spec(REFERENCE)
    spec = loaded.spec
    assert [w.name for w in spec.workload_inventory] == ["fraud-detection-training", "recommendation-inference", "llm-finetune", "feature-etl"]
    fraud = spec.workload_inventory[0]
    assert (fraud.gpu_requirements.count, fraud.gpu_requirements.model) == (8, "A100")
    assert fraud.dataset_size == 500 * 10**9 and fraud.estimated_runtime == 12 * 3600
    assert fraud.training_frequency.per_month == pytest.approx(4.345) and fraud.training_frequency.text == "weekly"
    serve = spec.workload_inventory[1]
    assert (serve.expected_qps, serve.latency_sla, serve.availability_requirement) == (1000, 100, 99.9)
    assert spec.resource_quotas["production"].requests_gpu == 20
    assert spec.resource_quotas["development"].requests_memory == 200 * 2**30
    assert spec.cost_optimization.lifecycle_management.model_archival == 90
    assert spec.security_controls.data_protection.encryption_in_transit == "TLS 1.3"
    assert [r.parsed_condition()[0] for r in spec.alerting_rules] == ["gpu_memory_utilization", "avg_inference_latency", "training_job_status"]
    assert spec.data_pipeline.preprocessing[0].cluster_size == (5, 20)


@pytest.mark.skipif(not SHARED_REFERENCE.exists(), reason="shared/specs/reference.yaml not beside the checkout")
def test_bundled_example_is_the_shared_reference_verbatim():
    assert REFERENCE.read_text() == SHARED_REFERENCE.read_text()


WORK = """
- name: train
  type: training
  gpu_requirements: "8x A100"
"""


def test_unknown_key_suggests_the_close_one_and_lists_allowed():
    e = errors(make_spec(WORK + '  dataset_sise: "500GB"\n'))
    msg = e["workload_inventory[0].dataset_sise"].message
    assert "unknown key 'dataset_sise'; did you mean 'dataset_size'?" in msg and "allowed:" in msg


def test_unknown_quota_key_suggests_the_guide_name():
    e = errors(make_spec(WORK, extra='resource_quotas:\n  production:\n    requests.nvidia.com/gpus: "4"\n'))
    assert "did you mean 'requests.nvidia.com/gpu'" in e["resource_quotas.production.requests.nvidia.com/gpus"].message


def test_literal_typo_suggests_value():
    e = errors(make_spec(WORK.replace("training", "trainng")))
    assert "did you mean 'training'" in e["workload_inventory[0].type"].message


def test_errors_carry_line_numbers():
    e = errors(make_spec(WORK + "  dataset_size: 500\n"))
    p = e["workload_inventory[0].dataset_size"]
    assert p.line == 10 and "has no unit" in p.message


def test_every_problem_is_reported_at_once():
    text = make_spec(WORK.replace("8x A100", "8x A1OO") + '  dataset_size: 500\n  estimated_runtime: "0 hours"\n  cloud: gcp\n')
    e = errors(text)
    assert {"workload_inventory[0].dataset_size", "workload_inventory[0].estimated_runtime", } <= set(e)


def test_project_name_pattern():
    e = errors(make_spec(WORK).replace("project: acme-ml", "project: Acme_ML"))
    assert "pattern" in e["project"].message


def test_security_controls_accept_list_items_and_reject_repeats():
    ok = load_spec_text(make_spec(WORK, extra='security_controls:\n  data_protection:\n    - encryption_in_transit: "TLS 1.2"\n'))
    assert ok.spec.security_controls.data_protection.encryption_in_transit == "TLS 1.2"
    e = errors(make_spec(WORK, extra='security_controls:\n  data_protection:\n    - key_management: a\n    - key_management: b\n'))
    assert "listed twice" in e["security_controls.data_protection"].message


def test_alert_rule_with_unknown_metric_is_an_error():
    extra = 'alerting_rules:\n  - name: x\n    condition: "gpu_mem_utilisation > 95%"\n    severity: warning\n'
    e = errors(make_spec(WORK, extra=extra))
    assert "did you mean 'gpu_memory_utilization'" in e["alerting_rules[0].condition"].message


def test_alert_rule_threshold_unit_is_checked():
    extra = 'alerting_rules:\n  - name: x\n    condition: "avg_inference_latency > 500"\n    severity: critical\n'
    e = errors(make_spec(WORK, extra=extra))
    assert "has no unit" in e["alerting_rules[0].condition"].message


def test_inference_needs_qps_and_rejects_training_keys():
    e = errors(make_spec('- name: s\n  type: inference\n  training_frequency: daily\n'))
    assert "expected_qps" in e["workload_inventory[0].expected_qps"].message
    assert "does not apply" in e["workload_inventory[0].training_frequency"].message


def test_duplicate_workload_names():
    e = errors(make_spec(WORK + WORK))
    assert "duplicate workload name 'train'" in e["workload_inventory[1].name"].message


def test_missing_file_and_binary_file(tmp_path: Path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(bad)


def test_line_lookup_walks_up_to_a_known_parent_and_stops():
    from aiinfra.spec import LoadedSpec

    loaded = LoadedSpec(None, {"a": 1, "a.b[0]": 3}, "x")
    assert loaded.line("a.b[0].c.d") == 3
    assert loaded.line("a.z") == 1
    assert loaded.line("<root>") is None and loaded.line("0") is None


def test_gcp_synthesis_extensions_are_checked():
    clouds = ("  gcp:\n    project: acme-ml-prod\n    domains: [reco.acme.example, 'Not A Domain']\n"
              "    image: projects/debian-cloud/global/images/family/debian-12\n    alert_emails: [oncall@acme.example]")
    with pytest.raises(SpecError) as e:
        load_spec_text(make_spec('- {name: t, type: training, gpu_requirements: "8x A100"}', clouds=clouds))
    assert [p.path for p in e.value.problems] == ["clouds.gcp.domains[1]"]
    ok = load_spec_text(make_spec('- {name: t, type: training, gpu_requirements: "8x A100"}', clouds=clouds.replace(", 'Not A Domain'", "")))
    assert ok.spec.clouds.gcp.domains == ["reco.acme.example"] and ok.spec.clouds.gcp.image.endswith("debian-12")


RUNS = """
- name: train
  type: training
  gpu_requirements: "8x A100"
  image: "nvcr.io/nvidia/pytorch:24.08-py3"
  command: "torchrun --nproc-per-node 8 train.py --config 'a b.yaml'"
  env: {WANDB_MODE: offline, STEPS: 1000, DEBUG: true}
  schedule: "0  1 * * 6"
  max_runtime: "24 hours"
  retries: 2
"""


def test_what_runs_on_the_nodes_is_read_typed():
    w = load_spec_text(make_spec(RUNS)).spec.workload_inventory[0]
    assert w.image == "nvcr.io/nvidia/pytorch:24.08-py3"
    for ref in ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/train:v1", "us-docker.pkg.dev/p/r/img@sha256:" + "a" * 64,
                "localhost:5000/x", "python"):
        assert load_spec_text(make_spec(RUNS.replace("nvcr.io/nvidia/pytorch:24.08-py3", ref))).spec.workload_inventory[0].image == ref
    assert w.command == ["torchrun", "--nproc-per-node", "8", "train.py", "--config", "a b.yaml"]  # split as a shell would
    assert w.env == {"WANDB_MODE": "offline", "STEPS": "1000", "DEBUG": "true"}
    assert (w.schedule, w.max_runtime, w.retries) == ("0 1 * * 6", 24 * 3600, 2)


@pytest.mark.parametrize("key,value,message", [
    ("image", '"Not An Image!"', "is not a container image reference"),
    ("image", '"nvcr.io/nvidia/pytorch:24.08-py3@sha256:abc"', "is not a container image reference"),
    ("schedule", '"0 25 * * *"', "hour: '25' is outside 0-23"),
    ("schedule", '"weekly"', "five fields"),
    ("env", "{HF_TOKEN: abc}", "looks like a secret"),
    ("env", "{MASTER_ADDR: 10.0.0.1}", "set by aiinfra itself"),
    ("env", "{AIINFRA_RUN_ID: x}", "set by aiinfra itself"),
    ("env", '{"1BAD": x}', "letters, digits and underscores"),
    ("retries", "-1", "greater than or equal to 0"),
    ("max_runtime", '"30 seconds"', "at least a minute"),
    ("command", '""', "command is empty"),
])
def test_bad_run_keys_name_the_field(key, value, message):
    text = make_spec(f"- name: train\n  type: training\n  gpu_requirements: \"8x A100\"\n  {key}: {value}\n")
    e = errors(text)
    (path,) = [p for p in e if p.startswith(f"workload_inventory[0].{key}")]
    assert message in e[path].message, e[path].message


def test_serving_keys_apply_to_inference_and_batch_keys_to_batch():
    e = errors(make_spec('- name: t\n  type: training\n  gpu_requirements: "8x A100"\n  port: 8000\n  exposure: internal\n'))
    assert "applies to inference workloads only" in e["workload_inventory[0].port"].message
    assert "applies to inference workloads only" in e["workload_inventory[0].exposure"].message
    e = errors(make_spec('- name: s\n  type: inference\n  expected_qps: "10"\n  schedule: "0 1 * * *"\n  retries: 1\n'))
    assert "does not apply" in e["workload_inventory[0].schedule"].message and "workload_inventory[0].retries" in e
    ok = load_spec_text(make_spec('- name: s\n  type: inference\n  expected_qps: "10"\n  port: 8000\n  health_check_path: "/v2/health/ready"\n'
                                  '  exposure: internal\n')).spec.workload_inventory[0]
    assert (ok.port, ok.health_check_path, ok.exposure) == (8000, "/v2/health/ready", "internal")


def test_aws_domains_and_zone_are_checked():
    e = errors(make_spec(WORK, clouds="  aws: {region: us-east-1, domains: [Not_A_Domain], hosted_zone_id: nope}"))
    assert "clouds.aws.domains[0]" in e and "clouds.aws.hosted_zone_id" in e


GUIDE_MONITORING = '''monitoring_config:
  infrastructure_metrics: ["gpu_utilization", "gpu_memory_usage", "cpu_utilization", "memory_usage", "disk_io", "network_throughput"]
  ai_specific_metrics: ["model_inference_latency", "training_loss_progression", "batch_processing_time", "queue_depth", "model_accuracy"]
  business_metrics: ["cost_per_prediction", "revenue_per_model", "user_satisfaction_score"]
'''


def test_the_guides_monitoring_config_block_validates_and_decides_what_is_collected():
    from aiinfra.observability.metrics import collect_groups, monitored

    spec = load_spec_text(make_spec(WORK, extra=GUIDE_MONITORING)).spec
    names = spec.monitoring_config.names()
    assert len(names) == 14 and names[0] == "gpu_utilization"
    wanted = monitored(names)
    assert "gpu_temperature" not in wanted and "disk_usage" not in wanted  # not listed: not collected
    assert collect_groups(wanted, gpu=True, serving=False) == ("gpu", "cpu", "memory", "disk_io", "network", "app")
    assert collect_groups(monitored(names, ["disk_utilization"]), gpu=False, serving=False) == ("cpu", "memory", "disk", "disk_io", "network", "app")


def test_a_monitoring_metric_nobody_collects_is_an_error_with_did_you_mean():
    e = errors(make_spec(WORK, extra=GUIDE_MONITORING.replace('"queue_depth"', '"queue_length"').replace('"disk_io"', '"gpu_utilization"')))
    msg = e["monitoring_config.ai_specific_metrics[3]"].message
    assert msg.startswith("unknown metric 'queue_length'; did you mean 'queue_depth'? known: ") and "docs/observability.md" in msg
    assert "listed twice" in e["monitoring_config.infrastructure_metrics[4]"].message
    e = errors(make_spec(WORK, extra="monitoring_config:\n  infra_metrics: [gpu_utilization]\n"))
    assert "monitoring_config.infra_metrics" in e


def test_training_job_status_alarms_on_failed_runs_only():
    extra = 'alerting_rules:\n  - name: x\n    condition: "training_job_status == \'succeeded\'"\n    severity: high\n'
    assert "alarms on failed runs" in errors(make_spec(WORK, extra=extra))["alerting_rules[0].condition"].message


def test_a_reservation_names_its_cloud_a_real_id_and_excludes_spot():
    e = errors(make_spec(WORK + "  reservation: cr-0123456789abcdef0\n"))
    assert e["workload_inventory[0].reservation"].message.startswith("a reservation belongs to one cloud: set cloud: aws")
    e = errors(make_spec(WORK + "  cloud: aws\n  reservation: my-block\n"))
    assert e["workload_inventory[0].reservation"].message == "an AWS Capacity Reservation id looks like cr-0123456789abcdef0, got 'my-block'"
    e = errors(make_spec(WORK + "  cloud: aws\n  spot: true\n  reservation: cr-0123456789abcdef0\n"))
    assert "spot: true and a reservation exclude each other" in e["workload_inventory[0].reservation"].message
    e = errors(make_spec(WORK + "  cloud: aws\n  reservation: CR_bad\n"))
    assert "workload_inventory[0].reservation" in e
    ok = load_spec_text(make_spec(WORK + "  cloud: aws\n  reservation: cr-0123456789abcdef0\n"))
    assert ok.spec.workload_inventory[0].reservation == "cr-0123456789abcdef0"
    gcp = load_spec_text(make_spec(WORK + "  cloud: gcp\n  reservation: acme-a100-block\n",
                                   clouds="  gcp: {region: us-central1, project: acme-ml-prod}"))
    assert gcp.spec.workload_inventory[0].reservation == "acme-a100-block"
    e = errors(make_spec(WORK + "  capacity_block: true\n"))
    assert e["workload_inventory[0].capacity_block"].message == "capacity_block: true needs the Capacity Block's id as reservation: cr-..."
    e = errors(make_spec(WORK + "  cloud: gcp\n  reservation: acme-block\n  capacity_block: true\n",
                         clouds="  gcp: {region: us-central1, project: acme-ml-prod}"))
    assert e["workload_inventory[0].capacity_block"].message.startswith("Capacity Blocks are an AWS offering")
