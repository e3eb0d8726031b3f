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
