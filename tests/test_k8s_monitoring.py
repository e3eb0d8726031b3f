"""Observability on the Kubernetes platform (issue 29): the guide's alerting_rules as PromQL
(aiinfra.observability.promql), evaluated by Prometheus's own rule engine (`promtool test rules`, Debian's
prometheus package: make setup installs it) over made-up series; what monitoring_config has scraped (GMP
PodMonitoring on GKE, checked against the CRD of the pinned GMP; the AMP collector's scrape configuration on EKS);
the AMP workspace, collector, rule groups and alert manager through `terraform validate` with the aws provider
mirror (moto 5.2.5's amp backend serves workspaces and rule groups only: no scraper, no alert manager, so no
apply); the GKE alert policies through the google provider schema oracle."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from aiinfra.k8s.monitoring import amp_scrape_configuration, cluster_workloads, collector_rbac_documents, monitoring_documents
from aiinfra.observability.promql import JOBSET_CUSTOM_RESOURCE_STATE, duration, kubernetes_rules, scraped
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from tests.conftest import ROOT
from tests.gcp_schema import check_stack
from tests.k8s_schema import problems
from tests.test_stacks_aws import run_synth
from tests.tf_harness import SKIP_NO_TERRAFORM, init, run_terraform

EXAMPLE = ROOT / "examples" / "kubernetes.yaml"
PREFIX = "acme-ml-production-"
# The guide's three rules, word for word (Step 5, "Configure intelligent alerting").
GUIDE_RULES = """alerting_rules:
  - name: "GPU Memory Exhaustion"
    condition: "gpu_memory_utilization > 95%"
    duration: "5m"
    severity: "warning"
    action: "scale_up_or_notify"
  - name: "Model Inference Latency"
    condition: "avg_inference_latency > 500ms"
    duration: "2m"
    severity: "critical"
    action: "immediate_escalation"
  - name: "Training Job Failure"
    condition: "training_job_status == 'failed'"
    severity: "high"
    action: "restart_with_checkpoint"
  - name: "Disk Full"
    condition: "disk_utilization > 90%"
    duration: "10m"
    severity: "warning"
"""
# A model server on GKE too (port 9000), so both clouds have serving, GPUs and batch work.
GKE_SERVER = """  - name: "ranker"
    type: "inference"
    cloud: gcp
    model_size: "7B parameters"
    expected_qps: "20"
    latency_sla: "5s"
    availability_requirement: "99.9%"
    image: "vllm/vllm-openai:v0.6.3"
    port: 9000
"""


def _spec_text() -> str:
    text = EXAMPLE.read_text()
    head, _rules = text.split("alerting_rules:", 1)
    head = head.replace("monitoring_config:", GKE_SERVER + "monitoring_config:", 1)
    return head + GUIDE_RULES


@pytest.fixture(scope="module")
def loaded():
    spec_loaded = load_spec_text(_spec_text())
    return spec_loaded.spec, make_plan(spec_loaded)


def _cluster(plan, cloud):
    (found,) = [c for c in plan.clusters if c.cloud == cloud]
    return found


def _rules(spec, plan, cloud, cluster=None):
    return kubernetes_rules(spec.alerting_rules, cluster_workloads(plan, _cluster(plan, cloud)), spec.environment, cluster=cluster)


# ---- the translation ----------------------------------------------------------------------------

def test_each_guide_rule_becomes_its_promql_with_for_and_severity(loaded):
    spec, plan = loaded
    rules, skipped = _rules(spec, plan, "aws")
    by = {r.name: r for r in rules}
    assert set(by) == {"GPU Memory Exhaustion", "Model Inference Latency", "Training Job Failure"}
    gpu = by["GPU Memory Exhaustion"].rule()
    assert gpu == {"alert": "GpuMemoryExhaustion", "expr": "100 * DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 95",
                   "for": "5m", "labels": {"severity": "warning"},
                   "annotations": {"summary": "GPU Memory Exhaustion: gpu_memory_utilization > 95%", "workloads": "recommendation-inference",
                                   "action": "scale_up_or_notify"}}
    latency = by["Model Inference Latency"].rule()
    sel = '{namespace="production", workload=~"recommendation-inference"}'
    assert latency["expr"] == (f"1000 * sum by (namespace, workload) (rate(http_server_request_duration_seconds_sum{sel}[5m])) / "
                               f"sum by (namespace, workload) (rate(http_server_request_duration_seconds_count{sel}[5m])) > 500")
    assert (latency["for"], latency["labels"]) == ("2m", {"severity": "critical"})
    failed = by["Training Job Failure"].rule()
    assert failed["expr"] == ('max by (namespace, jobset_name) (kube_jobset_status_condition{namespace="production", condition="Failed"}) '
                              '>= 1')
    assert "for" not in failed and failed["labels"] == {"severity": "high"}  # no duration in the guide: fires at once
    assert by["Training Job Failure"].workloads == ("feature-extraction",)  # batch work only, never the model server
    # a condition no cluster metric measures is listed with its reason, never dropped
    assert [(s.name, s.condition) for s in skipped] == [("Disk Full", "disk_utilization > 90%")]
    assert "node exporter" in skipped[0].reason


def test_gke_rules_match_their_own_clusters_series_only(loaded):
    spec, plan = loaded
    name = _cluster(plan, "gcp").name
    rules, _ = _rules(spec, plan, "gcp", cluster=name)
    by = {r.name: r for r in rules}
    assert by["GPU Memory Exhaustion"].expr == (f'100 * DCGM_FI_DEV_FB_USED{{cluster="{name}"}} / (DCGM_FI_DEV_FB_USED{{cluster="{name}"}} + '
                                                f'DCGM_FI_DEV_FB_FREE{{cluster="{name}"}}) > 95')
    assert f'cluster="{name}", namespace="production", workload=~"ranker"' in by["Model Inference Latency"].expr
    assert by["Training Job Failure"].workloads == ("llm-finetune",)


def test_durations_are_prometheus_durations():
    assert [duration(s) for s in (0, 45, 120, 300, 3600, 5400)] == ["0s", "45s", "2m", "5m", "1h", "90m"]


def test_two_rules_with_one_alert_name_are_refused(loaded):
    spec, plan = loaded
    twice = load_spec_text(_spec_text().replace('"Model Inference Latency"', '"GPU memory exhaustion"')).spec
    with pytest.raises(ValueError, match="GpuMemoryExhaustion"):
        kubernetes_rules(twice.alerting_rules, cluster_workloads(plan, _cluster(plan, "aws")), "production")


PROMTOOL = shutil.which("promtool")


def _promtool(tmp_path: Path, rules: list, tests: list[dict]) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool not on PATH: run `make setup` (Debian's prometheus package)"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "aiinfra", "rules": [r.rule() for r in rules]}]}))
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}))
    return subprocess.run([PROMTOOL, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def _fired(rule, labels: dict) -> dict:
    return {"exp_labels": {**labels, "severity": rule.severity}, "exp_annotations": rule.rule()["annotations"]}


def test_prometheus_fires_the_rules_as_the_guide_means_them(loaded, tmp_path):
    """Prometheus's rule engine over made-up series: a GPU at 96% of its memory fires after 5 minutes and one at 90%
    never; a model server answering in 600 ms on average fires after 2 minutes, one at 300 ms never; a Failed JobSet
    fires at once, a Completed one and another namespace's Failed one never."""
    spec, plan = loaded
    rules, _ = _rules(spec, plan, "aws")
    by = {r.alert: r for r in rules}
    served = "recommendation-inference"
    series = [
        {"series": 'DCGM_FI_DEV_FB_USED{gpu="0", Hostname="node-a"}', "values": "96x20"},
        {"series": 'DCGM_FI_DEV_FB_FREE{gpu="0", Hostname="node-a"}', "values": "4x20"},
        {"series": 'DCGM_FI_DEV_FB_USED{gpu="1", Hostname="node-a"}', "values": "90x20"},
        {"series": 'DCGM_FI_DEV_FB_FREE{gpu="1", Hostname="node-a"}', "values": "10x20"},
        # 10 requests a minute taking 6 s in all: 600 ms each; the other pod's namespace is not ours
        {"series": f'http_server_request_duration_seconds_sum{{namespace="production", workload="{served}", pod="a"}}', "values": "0+6x20"},
        {"series": f'http_server_request_duration_seconds_count{{namespace="production", workload="{served}", pod="a"}}', "values": "0+10x20"},
        {"series": f'http_server_request_duration_seconds_sum{{namespace="staging", workload="{served}", pod="b"}}', "values": "0+9x20"},
        {"series": f'http_server_request_duration_seconds_count{{namespace="staging", workload="{served}", pod="b"}}', "values": "0+10x20"},
        {"series": 'kube_jobset_status_condition{namespace="production", jobset_name="feature-extraction-1", condition="Failed"}',
         "values": "0 0 0 1 1 1 1 1 1 1"},
        {"series": 'kube_jobset_status_condition{namespace="production", jobset_name="feature-extraction-2", condition="Completed"}',
         "values": "1x10"},
        {"series": 'kube_jobset_status_condition{namespace="staging", jobset_name="other", condition="Failed"}', "values": "1x10"},
    ]
    gpu, latency, failed = by["GpuMemoryExhaustion"], by["ModelInferenceLatency"], by["TrainingJobFailure"]
    checks = [
        {"eval_time": "4m", "alertname": gpu.alert, "exp_alerts": []},
        {"eval_time": "6m", "alertname": gpu.alert, "exp_alerts": [_fired(gpu, {"gpu": "0", "Hostname": "node-a"})]},
        {"eval_time": "2m", "alertname": latency.alert, "exp_alerts": []},
        {"eval_time": "10m", "alertname": latency.alert, "exp_alerts": [_fired(latency, {"namespace": "production", "workload": served})]},
        {"eval_time": "2m", "alertname": failed.alert, "exp_alerts": []},
        {"eval_time": "3m", "alertname": failed.alert,
         "exp_alerts": [_fired(failed, {"namespace": "production", "jobset_name": "feature-extraction-1"})]},
    ]
    r = _promtool(tmp_path, rules, [{"interval": "1m", "input_series": series, "alert_rule_test": checks}])
    assert r.returncode == 0, r.stdout + r.stderr
    # and the test can fail: a GPU at 94% is not exhausted
    series[0]["values"], series[1]["values"] = "94x20", "6x20"
    r = _promtool(tmp_path, rules, [{"interval": "1m", "input_series": series, "alert_rule_test": checks}])
    assert r.returncode != 0 and "GpuMemoryExhaustion" in r.stdout + r.stderr


def test_on_gke_another_clusters_series_never_fire(loaded, tmp_path):
    """One Cloud Monitoring project holds every cluster's Managed Prometheus series (label ``cluster``): the GKE
    rules fire on their own cluster's GPU and JobSet only."""
    spec, plan = loaded
    name = _cluster(plan, "gcp").name
    rules, _ = _rules(spec, plan, "gcp", cluster=name)
    by = {r.alert: r for r in rules}
    series = []
    for cluster in (name, "someone-elses"):
        series += [{"series": f'DCGM_FI_DEV_FB_USED{{cluster="{cluster}", gpu="0"}}', "values": "99x10"},
                   {"series": f'DCGM_FI_DEV_FB_FREE{{cluster="{cluster}", gpu="0"}}', "values": "1x10"},
                   {"series": f'kube_jobset_status_condition{{cluster="{cluster}", namespace="production", jobset_name="run-{cluster}", '
                              'condition="Failed"}', "values": "1x10"}]
    gpu, failed = by["GpuMemoryExhaustion"], by["TrainingJobFailure"]
    checks = [{"eval_time": "6m", "alertname": gpu.alert, "exp_alerts": [_fired(gpu, {"cluster": name, "gpu": "0"})]},
              {"eval_time": "1m", "alertname": failed.alert,
               "exp_alerts": [_fired(failed, {"namespace": "production", "jobset_name": f"run-{name}"})]}]
    r = _promtool(tmp_path, rules, [{"interval": "1m", "input_series": series, "alert_rule_test": checks}])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_accepts_every_translatable_condition(tmp_path):
    """Every condition the spec accepts that has a cluster metric is valid PromQL (`promtool check rules`)."""
    text = _spec_text().split("alerting_rules:", 1)[0] + "alerting_rules:\n" + "".join(
        f'  - {{name: "r{i}", condition: "{c}", duration: "3m", severity: "info"}}\n' for i, c in enumerate((
            "gpu_utilization < 10%", "gpu_temperature > 85", "gpu_memory_utilization >= 90%", "p95_inference_latency > 300ms",
            "p99_inference_latency > 1s", "inference_error_rate > 1%", "requests_per_second < 5", "queue_depth > 100",
            "training_job_status == 'failed'", "avg_inference_latency <= 20ms")))
    spec_loaded = load_spec_text(text)
    plan = make_plan(spec_loaded)
    rules, skipped = kubernetes_rules(spec_loaded.spec.alerting_rules, cluster_workloads(plan, _cluster(plan, "aws")), "production")
    assert len(rules) == 10 and skipped == []
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "aiinfra", "rules": [r.rule() for r in rules]}]}))
    assert PROMTOOL, "promtool not on PATH: run `make setup` (Debian's prometheus package)"
    r = subprocess.run([PROMTOOL, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS: 10 rules found" in r.stdout, r.stdout + r.stderr


# ---- what is scraped ------------------------------------------------------------------------------

def test_monitoring_config_decides_what_is_scraped(loaded):
    spec, plan = loaded
    assert scraped(spec, cluster_workloads(plan, _cluster(plan, "aws"))) == {
        "gpu": True, "servers": {"recommendation-inference": 8000}, "jobsets": True}
    # nothing of a model server is monitored or alerted on, no GPU metric, no run status: nothing to scrape
    bare = load_spec_text(_spec_text().split("monitoring_config:", 1)[0] + textwrap.dedent("""\
        monitoring_config:
          infrastructure_metrics: ["cpu_utilization"]
        """))
    assert scraped(bare.spec, cluster_workloads(make_plan(bare), _cluster(make_plan(bare), "aws"))) == {
        "gpu": False, "servers": {}, "jobsets": False}


def test_gke_gets_a_pod_monitoring_per_model_server_valid_for_the_pinned_gmp(loaded):
    spec, plan = loaded
    gke = _cluster(plan, "gcp")
    (doc,) = monitoring_documents(spec, plan, gke)
    assert doc["kind"] == "PodMonitoring" and doc["metadata"]["name"] == "ranker" and doc["metadata"]["namespace"] == "production"
    assert doc["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "ranker"}}
    assert doc["spec"]["endpoints"] == [{"port": 9000, "path": "/metrics", "interval": "30s"}]
    assert doc["spec"]["targetLabels"] == {"fromPod": [{"from": "app.kubernetes.io/name", "to": "workload"}]}
    assert problems(doc, gke.version) == []
    bad = {**doc, "spec": {**doc["spec"], "endpoints": [{"port": 9000, "pathh": "/metrics"}]}}
    assert problems(bad, gke.version)  # the schema check can fail
    # EKS: nothing in the cluster (the collector's access is the access entry AMP creates)
    assert monitoring_documents(spec, plan, _cluster(plan, "aws")) == []
    for rbac in collector_rbac_documents(spec):
        assert problems(rbac, gke.version) == []


def test_the_amp_collector_scrapes_the_model_server_dcgm_and_kube_state_metrics(loaded):
    spec, plan = loaded
    config = yaml.safe_load(amp_scrape_configuration(spec, plan, _cluster(plan, "aws")))
    assert config["global"]["scrape_interval"] == "30s"  # AMP's minimum
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"model-server-recommendation-inference", "dcgm-exporter", "kube-state-metrics", "kubernetes-apiservers"}
    server = jobs["model-server-recommendation-inference"]
    assert server["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["production"]}}]
    keeps = {tuple(r["source_labels"]): r["regex"] for r in server["relabel_configs"] if r.get("action") == "keep"}
    assert keeps[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)] == "recommendation-inference"
    assert keeps[("__meta_kubernetes_pod_container_port_number",)] == "8000"
    assert {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"], "target_label": "workload"} in server["relabel_configs"]
    assert jobs["dcgm-exporter"]["honor_labels"] is jobs["kube-state-metrics"]["honor_labels"] is True
    # AMP refuses any service discovery but kubernetes_sd_configs, and authorization other than the service account token
    for job in config["scrape_configs"]:
        assert set(k for k in job if k.endswith("_sd_configs")) == {"kubernetes_sd_configs"}
        assert job.get("authorization", {"credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"})["credentials_file"] \
            == "/var/run/secrets/kubernetes.io/serviceaccount/token"


def test_jobset_custom_resource_state_publishes_gkes_metric_name():
    (res,) = JOBSET_CUSTOM_RESOURCE_STATE["spec"]["resources"]
    (metric,) = res["metrics"]
    assert f'{res["metricNamePrefix"]}_{metric["name"]}' == "kube_jobset_status_condition"
    assert set(res["labelsFromPath"]) | set(metric["each"]["gauge"]["labelsFromPath"]) == {"jobset_name", "namespace", "condition"}


# ---- the stacks ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("k8s-monitoring")
    (folder / "spec.yaml").write_text(_spec_text())
    out = folder / "cdktf.out"
    r = run_synth(folder / "spec.yaml", out, cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    return {p.name.removeprefix(PREFIX): json.loads((p / "cdk.tf.json").read_text()) for p in (out / "stacks").iterdir()}, r.stdout + r.stderr


def _one(doc: dict, rtype: str) -> dict:
    (found,) = doc["resource"][rtype].values()
    return found


def test_the_aws_monitoring_stack_holds_an_encrypted_workspace_its_collector_rules_and_alert_manager(synthesized, loaded):
    docs, said = synthesized
    spec, plan = loaded
    doc = docs["aws-cluster-monitoring"]
    workspace = _one(doc, "aws_prometheus_workspace")
    assert "aws_kms_key" in workspace["kms_key_arn"] and "AMPAgentlessScraper" in workspace["tags"]
    (logs,) = doc["resource"]["aws_cloudwatch_log_group"].values()  # the rules' and alert manager's errors, under the same key
    assert workspace["logging_configuration"]["log_group_arn"].endswith(".arn}:*") and logs["kms_key_id"] == workspace["kms_key_arn"]
    scraper = _one(doc, "aws_prometheus_scraper")
    assert "aws_eks_cluster" in scraper["source"]["eks"]["cluster_arn"] and "cluster_security_group_id" in json.dumps(scraper["source"])
    assert scraper["destination"]["amp"]["workspace_arn"].startswith("${aws_prometheus_workspace.")
    assert yaml.safe_load(scraper["scrape_configuration"]) == yaml.safe_load(amp_scrape_configuration(spec, plan, _cluster(plan, "aws")))
    # a workspace under a customer managed key is written through the role configuration (AMP-collector-how-to.html)
    roles = {r["name"]: json.loads(r["assume_role_policy"]) for r in doc["resource"]["aws_iam_role"].values()}
    (src,) = [p for n, p in roles.items() if n.endswith("-amp-scraper-src")]
    assert src["Statement"][0]["Principal"] == {"Service": "scraper.aps.amazonaws.com"}
    assert "aws_iam_role.prometheus_scraper-source" in scraper["role_configuration"]["source_role_arn"]
    groups = yaml.safe_load(_one(doc, "aws_prometheus_rule_group_namespace")["data"])["groups"]
    assert [r["alert"] for r in groups[0]["rules"]] == ["GpuMemoryExhaustion", "ModelInferenceLatency", "TrainingJobFailure"]
    manager = yaml.safe_load(yaml.safe_load(_one(doc, "aws_prometheus_alert_manager_definition")["definition"])["alertmanager_config"])
    (receiver,) = manager["receivers"]
    (sns,) = receiver["sns_configs"]
    assert "aws_sns_topic" in sns["topic_arn"] and sns["sigv4"]["region"] and manager["route"]["receiver"] == receiver["name"]
    # the foundation's topic and key let AMP's alert manager publish (AMP-alertmanager-receiver-AMPpermission.html)
    foundation = docs["aws-foundation"]
    topic_policy = json.loads(_one(foundation, "aws_sns_topic_policy")["policy"])
    assert any(s["Principal"] == {"Service": "aps.amazonaws.com"} and "SNS:Publish" in s["Action"] for s in topic_policy["Statement"])
    key_policy = json.loads(_one(foundation, "aws_kms_key")["policy"])
    assert any("aps.amazonaws.com" in s["Principal"].get("Service", []) for s in key_policy["Statement"])
    # the cluster stack itself holds no AMP resource; the unwatched rule is said
    assert not any(t.startswith("aws_prometheus") for t in docs["aws-cluster"]["resource"])
    assert "'Disk Full' (disk_utilization > 90%) is not watched on cluster" in said
    # the failed-run rule needs kube-state-metrics on EKS: synth says so while the add-ons lack it
    from aiinfra.k8s.versions import ADDONS

    missing = not any(c.chart == "kube-state-metrics" for c in ADDONS["aws"])
    assert ("kube_jobset_status_condition from kube-state-metrics, which the add-ons" in said) is missing


@SKIP_NO_TERRAFORM
def test_the_aws_monitoring_stack_passes_terraform_validate(synthesized, tmp_path):
    docs, _ = synthesized
    (tmp_path / "cdk.tf.json").write_text(json.dumps(docs["aws-cluster-monitoring"]))
    init(tmp_path, backend=False)
    r = run_terraform(["validate", "-json"], tmp_path, check=False)
    assert json.loads(r.stdout)["valid"], r.stdout + r.stderr


def test_the_gke_alert_policies_are_promql_conditions_to_the_foundations_channels(synthesized, loaded):
    docs, _ = synthesized
    spec, plan = loaded
    doc = docs["gcp-cluster"]
    assert check_stack(doc) == []
    policies = {p["display_name"]: p for p in doc["resource"]["google_monitoring_alert_policy"].values()}
    name = _cluster(plan, "gcp").name
    assert set(policies) == {f"{name}: GPU Memory Exhaustion", f"{name}: Model Inference Latency", f"{name}: Training Job Failure"}
    rules = {r.name: r for r in _rules(spec, plan, "gcp", cluster=name)[0]}
    for title, policy in policies.items():
        rule = rules[title.split(": ", 1)[1]]
        (condition,) = policy["conditions"]
        promql = condition["condition_prometheus_query_language"]
        assert promql["query"] == rule.expr and promql["duration"] == f"{rule.for_seconds}s"
        assert promql["labels"] == {"severity": rule.severity} and promql["alert_rule"] == rule.alert
        assert "google_monitoring_notification_channel" in json.dumps(policy["notification_channels"])
    assert policies[f"{name}: Model Inference Latency"]["severity"] == "CRITICAL"
    assert policies[f"{name}: GPU Memory Exhaustion"]["conditions"][0]["condition_prometheus_query_language"]["duration"] == "300s"
    # GKE's JobSet kube state metrics (the failed-run rule's series) are collected
    cluster = _one(doc, "google_container_cluster")
    assert {"DCGM", "JOBSET"} <= set(cluster["monitoring_config"]["enable_components"])
