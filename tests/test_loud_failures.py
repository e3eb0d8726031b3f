"""Failures that are raised, not silent (issue 25), on the stack side:

- a node's failed boot is a job metric (``boot_failed``: any node writes it before its boot exits
  non-zero) with an alarm / alert policy on every workload, like RunFailed (severity high, to the
  workload's alerts), and on GCP a metric descriptor the policy is created after;
- a group that never gets its nodes raises a capacity alarm: AWS, desired above in-service for 30
  minutes on the group's own metrics; GCP (no metric carries a group's target size), the group's
  failed VM creations in the Admin Activity audit log;
- AWS alarms with no one subscribed are a synth ``note:``, as the GCP policies already are;
- an alert condition the stacks cannot create (GPU metrics on Container-Optimized OS nodes, which
  run no agent) is named by the plan and by synth, and not counted as created.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aiinfra.constructs.aws.gpu_instance_group import GROUP_METRICS
from aiinfra.observability import reference
from aiinfra.observability.agents import JOB_AWS_DIMENSION, JOB_GCP_LABEL, JOB_METRICS, JOB_NAMESPACE
from aiinfra.observability.workload import CAPACITY_WAIT_SECONDS, unwatchable, workload_rules
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from tests.conftest import ROOT
from tests.gcp_schema import check_stack
from tests.test_stacks_aws import run_synth

AWS_ONLY, GCP_ONLY = ROOT / "examples" / "aws-only.yaml", ROOT / "examples" / "gcp-only.yaml"
AWS, GCP = "acme-ml-production-aws-", "acme-ml-production-gcp-"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """(stacks folder, synth's stderr) of aws-only, aws-only without alert e-mails, and gcp-only."""
    out = {}
    quiet = AWS_ONLY.read_text().replace("    alert_emails: [ml-oncall@acme-ml.example.com]\n", "")
    assert "alert_emails" not in quiet
    for key, text in (("aws", None), ("aws-no-emails", quiet), ("gcp", None)):
        folder = tmp_path_factory.mktemp(key)
        spec = {"aws": AWS_ONLY, "gcp": GCP_ONLY}.get(key)
        if text is not None:
            spec = folder / "spec.yaml"
            spec.write_text(text)
        r = run_synth(spec, folder / "cdktf.out", cwd=folder)
        assert r.returncode == 0, r.stderr
        out[key] = (folder / "cdktf.out" / "stacks", r.stderr)
    return out


def doc(stacks: Path, name: str) -> dict:
    return json.loads((stacks / name / "cdk.tf.json").read_text())


def each(d: dict, rtype: str) -> dict[str, dict]:
    return d["resource"].get(rtype, {})


# ---------------------------------------------------------------- a failed boot


def test_boot_failed_is_the_job_metric_every_node_writes():
    (m,) = [m for m in JOB_METRICS if m.key == "boot_failed"]
    assert (m.aws_name, m.gcp_type, m.aws_unit, m.gcp_unit, m.value_type, m.metric_kind) == \
        ("BootFailed", "custom.googleapis.com/aiinfra/boot_failed", "Count", "1", "INT64", "GAUGE")
    assert m.description == ("A node's boot failed before its work could start (members never arrived, image pull, GPU check, signature), "
                             "value 1.")


@pytest.mark.parametrize("part", ["fraud-detection-training", "recommendation-inference"])
def test_every_aws_workload_alarms_on_a_failed_boot_like_a_failed_run(synthesized, part):
    d = doc(synthesized["aws"][0], f"{AWS}{part}")
    ((key, group),) = each(d, "aws_autoscaling_group").items()
    alarms = {a["alarm_name"].removeprefix(f"acme-ml-prod-{part}-"): a for a in each(d, "aws_cloudwatch_metric_alarm").values()}
    boot = alarms["boot-failed"]
    (q,) = boot["metric_query"]
    # the group's name (the boot's metric_id), as the job wrapper's other metrics
    assert group["name"] == f"acme-ml-prod-{part}"
    assert q["metric"] == {"namespace": JOB_NAMESPACE, "metric_name": "BootFailed", "stat": "Sum", "period": 60,
                           "dimensions": {JOB_AWS_DIMENSION: f"${{aws_autoscaling_group.{key}.name}}"}}
    assert (boot["comparison_operator"], boot["threshold"], boot["evaluation_periods"]) == ("GreaterThanThreshold", 0, 1)
    assert boot["treat_missing_data"] == "notBreaching" and boot["tags"]["severity"] == "high"
    # to the workload's alerts: the same topic as every other alarm of the stack (RunFailed's, on training)
    others = [a for name, a in alarms.items() if name != "boot-failed"]
    assert boot["alarm_actions"] == boot["ok_actions"] and all(a["alarm_actions"] == boot["alarm_actions"] for a in others)
    if part == "fraud-detection-training":
        assert alarms["training-job-failure"]["metric_query"][0]["metric"]["metric_name"] == "RunFailed"


@pytest.mark.parametrize("part", ["llm-pretrain", "recommendation-inference", "embedding-refresh"])
def test_every_gcp_workload_has_a_boot_failed_policy_after_its_descriptor(synthesized, part):
    stacks = synthesized["gcp"][0]
    descriptors = {d["type"]: d for d in each(doc(stacks, f"{GCP}foundation"), "google_monitoring_metric_descriptor").values()}
    boot = descriptors["custom.googleapis.com/aiinfra/boot_failed"]
    assert (boot["metric_kind"], boot["value_type"], boot["unit"]) == ("GAUGE", "INT64", "1")
    assert [label["key"] for label in boot["labels"]] == [JOB_GCP_LABEL]
    d = doc(stacks, f"{GCP}{part}")
    policies = {p["display_name"].split(": ", 1)[1]: p for p in each(d, "google_monitoring_alert_policy").values()}
    policy = policies["Boot Failed"]
    (cond,) = policy["conditions"]
    t = cond["condition_threshold"]
    # the descriptor's type by reference (the policy is created after it), this workload's label, any failed boot
    assert re.search(r"job-metrics_boot_failed_[0-9A-F]{8}type\}", t["filter"]) and f'metric.label.workload = "acme-ml-prod-{part}"' in t["filter"]
    assert (t["comparison"], t["threshold_value"], t["aggregations"][0]["per_series_aligner"]) == ("COMPARISON_GT", 0, "ALIGN_SUM")
    assert policy["severity"] == "ERROR" and policy["user_labels"]["severity"] == "high"
    assert policy["notification_channels"] == next(iter(policies.values()))["notification_channels"]


def test_the_boot_failed_rule_is_every_workloads_and_keeps_the_run_failed_one():
    plan = make_plan(load_spec(AWS_ONLY))
    spec = load_spec(AWS_ONLY).spec
    for w in plan.workloads:
        names = [r.name for r in workload_rules(spec.alerting_rules, w)]
        assert names.count("Boot Failed") == 1
        if w.type != "inference":
            assert "Training Job Failure" in names  # the spec's own training_job_status rule, RunFailed


# ---------------------------------------------------------------- no capacity


@pytest.mark.parametrize("part", ["fraud-detection-training", "recommendation-inference"])
def test_aws_capacity_alarm_is_desired_above_in_service_for_half_an_hour(synthesized, part):
    d = doc(synthesized["aws"][0], f"{AWS}{part}")
    ((key, group),) = each(d, "aws_autoscaling_group").items()
    alarm = next(a for a in each(d, "aws_cloudwatch_metric_alarm").values() if a["alarm_name"].endswith("-capacity-not-met"))
    metrics = {q["id"]: q["metric"] for q in alarm["metric_query"] if "metric" in q}
    assert {m["metric_name"] for m in metrics.values()} == {"GroupDesiredCapacity", "GroupInServiceInstances"}
    # the group publishes both (enabled at one-minute granularity) and AWS lists them with that dimension
    assert {m["metric_name"] for m in metrics.values()} <= set(group["enabled_metrics"]) <= set(GROUP_METRICS)
    assert group["metrics_granularity"] == "1Minute"
    for m in metrics.values():
        assert m["namespace"] == "AWS/AutoScaling" and m["period"] == 60
        assert m["dimensions"] == {"AutoScalingGroupName": f"${{aws_autoscaling_group.{key}.name}}"}
        entry = reference.aws_metric("AWS/AutoScaling", m["metric_name"])
        assert entry and ["AutoScalingGroupName"] in [sorted(x) for x in entry.get("dimensions", [["AutoScalingGroupName"]])]
    (expr,) = [q for q in alarm["metric_query"] if "expression" in q]
    assert expr["return_data"] and expr["expression"] == "desired - running" and set(metrics) == {"desired", "running"}
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["evaluation_periods"] == alarm["datapoints_to_alarm"] == CAPACITY_WAIT_SECONDS // 60 == 30
    assert alarm["treat_missing_data"] == "notBreaching" and alarm["tags"]["severity"] == "high"
    other = next(a for a in each(d, "aws_cloudwatch_metric_alarm").values() if a is not alarm)
    assert alarm["alarm_actions"] == other["alarm_actions"]


@pytest.mark.parametrize("part", ["llm-pretrain", "recommendation-inference", "embedding-refresh"])
def test_gcp_capacity_policy_reads_the_groups_failed_vm_creations(synthesized, part):
    d = doc(synthesized["gcp"][0], f"{GCP}{part}")
    policy = next(p for p in each(d, "google_monitoring_alert_policy").values() if p["display_name"].endswith(": Capacity Not Met"))
    (cond,) = policy["conditions"]
    text = cond["condition_matched_log"]["filter"]
    assert 'logName="projects/acme-ml-prod/logs/cloudaudit.googleapis.com%2Factivity"' in text
    assert 'resource.type="gce_instance"' in text and 'protoPayload.methodName:"compute.instances.insert"' in text
    assert "severity>=ERROR" in text
    bases = sorted(m["base_instance_name"] for m in each(d, "google_compute_region_instance_group_manager").values())
    (names,) = re.findall(r'/instances/\(([a-z0-9|-]+)\)-\[a-z0-9\]\{4\}\$"$', text)
    assert sorted(names.split("|")) == bases
    assert policy["alert_strategy"]["notification_rate_limit"] == {"period": f"{CAPACITY_WAIT_SECONDS}s"}
    assert policy["severity"] == "ERROR" and policy["notification_channels"]
    assert check_stack(d) == []  # every argument is in the google provider's schema


def test_the_capacity_log_filter_matches_only_the_groups_own_vm_names(synthesized):
    d = doc(synthesized["gcp"][0], f"{GCP}embedding-refresh")
    policy = next(p for p in each(d, "google_monitoring_alert_policy").values() if p["display_name"].endswith(": Capacity Not Met"))
    (pattern,) = re.findall(r'protoPayload\.resourceName=~"([^"]+)"', policy["conditions"][0]["condition_matched_log"]["filter"])
    zone = "projects/acme-ml-prod/zones/us-central1-a/instances/"
    assert re.search(pattern, zone + "acme-ml-prod-embedding-refresh-spot-x7k2")
    assert re.search(pattern, zone + "acme-ml-prod-embedding-refresh-od-0a1b")
    assert not re.search(pattern, zone + "acme-ml-prod-embedding-refresh-big-spot-x7k2")  # another workload's group
    assert not re.search(pattern, zone + "acme-ml-prod-embedding-refresh-spot-x7k2-disk")


# ---------------------------------------------------------------- alarms that notify nobody


def test_aws_alarms_without_alert_emails_are_a_note_as_on_gcp(synthesized):
    stacks, stderr = synthesized["aws-no-emails"]
    notes = (stacks.parent / "notes.txt").read_text()  # every note (synth prints the same advice once)
    for part in ("fraud-detection-training", "recommendation-inference"):
        count = len(each(doc(stacks, f"{AWS}{part}"), "aws_cloudwatch_metric_alarm"))
        assert (f"\n{AWS}{part}: {count} alarms notify nobody (the alerts topic has no subscription: alarms show in CloudWatch "
                "only); set clouds.aws.alert_emails to subscribe e-mail addresses\n") in "\n" + notes
    assert "alarms notify nobody" in stderr and "[likewise 1 more: recommendation-inference]" in stderr
    assert "notify nobody" not in synthesized["aws"][1]  # with alert_emails, the topic e-mails them


# ---------------------------------------------------------------- conditions that cannot be created


def test_the_plan_names_each_condition_cos_nodes_cannot_have_and_does_not_count_it(synthesized):
    plan = make_plan(load_spec(GCP_ONLY))
    (gcp,) = plan.monitoring
    reason = "the boot image (Container-Optimized OS) runs no Ops Agent"
    assert gcp.not_created == [f"llm-pretrain: GPU Memory Exhaustion (gpu_memory_utilization): {reason}"]
    assert f"not created: llm-pretrain: GPU Memory Exhaustion (gpu_memory_utilization): {reason}" in gcp.reason
    # synth skips the same policy and names it in a note
    stacks, stderr = synthesized["gcp"]
    assert f"note: {GCP}llm-pretrain: no policy for GPU Memory Exhaustion (gpu_memory_utilization): {reason}" in stderr
    titles = {p["display_name"].split(": ", 1)[1] for p in each(doc(stacks, f"{GCP}llm-pretrain"), "google_monitoring_alert_policy").values()}
    assert "GPU Memory Exhaustion" not in titles and {"Boot Failed", "Capacity Not Met", "Training Job Failure"} <= titles
    # what is counted is what the stacks create: one condition a policy here (GPU memory is a ratio: one condition too)
    created = sum(len(p["conditions"]) for part in ("llm-pretrain", "recommendation-inference", "embedding-refresh", "feature-etl")
                  for p in each(doc(stacks, f"{GCP}{part}"), "google_monitoring_alert_policy").values()
                  if not p["display_name"].endswith("Endpoint Down"))  # the uptime check is not a rule
    assert gcp.alarm_metrics == created


def test_the_plan_names_nothing_when_every_condition_is_created():
    plan = make_plan(load_spec(AWS_ONLY))
    assert all(m.not_created == [] and "not created" not in m.reason for m in plan.monitoring)
    assert plan.to_dict()["monitoring"][0]["not_created"] == []


def test_the_plan_and_the_gcp_stacks_agree_on_what_cannot_be_watched(tmp_path):
    from aiinfra.constructs.gcp.metrics import RECIPES
    from aiinfra.stacks.gcp import alert_rules_for, unavailable

    for metric in RECIPES:
        for agent in (True, False):
            assert unavailable(metric, agent) is None or unwatchable("gcp", metric, agent) == unavailable(metric, agent), (metric, agent)
            assert unwatchable("aws", metric, agent) is None
    # every rule of a spec with a GPU, a host, a CPU and a container metric, on nodes with and without the agent:
    # the stacks skip what the plan names, in the same words
    extra = "".join(f'  - name: "{name}"\n    condition: "{condition}"\n    severity: "warning"\n'
                    for name, condition in (("Queue Backlog", "queue_depth > 100"), ("Hot GPU", "gpu_temperature > 85"),
                                            ("Busy CPU", "cpu_utilization > 90%"), ("Full Disk", "disk_utilization > 90%")))
    text = GCP_ONLY.read_text().replace("\nalerting_rules:\n", f"\nalerting_rules:\n{extra}")
    assert "Queue Backlog" in text
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(text)
    loaded = load_spec(spec_path)
    plan = make_plan(loaded)
    for w in plan.workloads:
        if plan.spark_part(w.name) is not None:  # a Dataproc run: no node group, its own failure policy (stacks/spark_gcp.py)
            continue
        for agent in (True, False):
            _, skipped = alert_rules_for(loaded.spec.alerting_rules, w, agent)
            named = [f"{r.name} ({r.metric}): {why}" for r in workload_rules(loaded.spec.alerting_rules, w)
                     if (why := unwatchable("gcp", r.metric, agent))]
            assert skipped == named, (w.name, agent)
            assert any("Queue Backlog" in s for s in skipped) and any("Hot GPU" in s for s in skipped)
            assert not any("Busy CPU" in s for s in skipped)  # the hypervisor's CPU metric needs no agent
            assert any("Full Disk" in s for s in skipped) == (not agent)


def test_the_aws_plan_counts_the_alarm_metrics_the_stacks_create(synthesized):
    # boot-failed and capacity-not-met included: an alarm is billed per metric it reads
    plan = make_plan(load_spec(AWS_ONLY))
    (aws,) = plan.monitoring
    stacks, _ = synthesized["aws"]
    read = sum(1 for part in ("fraud-detection-training", "recommendation-inference")
               for a in each(doc(stacks, f"{AWS}{part}"), "aws_cloudwatch_metric_alarm").values() for q in a["metric_query"] if "metric" in q)
    assert aws.alarm_metrics == read


def test_capacity_alarms_check_their_props():
    from aiinfra.cdk import TerraformStack, Testing
    from aiinfra.constructs._tf import AWS as AWS_PROVIDER
    from aiinfra.constructs._tf import GOOGLE, provider
    from aiinfra.constructs.aws import Alerts as AwsAlerts
    from aiinfra.constructs.gcp import Alerts as GcpAlerts

    app = Testing.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS_PROVIDER, region="us-east-1")
    provider(stack, "google", GOOGLE, project="acme-ml-prod", region="us-central1")
    aws = AwsAlerts(stack, "aws-alerts", name="acme-train", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x", rules=[])
    with pytest.raises(ValueError, match="wait_seconds must be between 60 and 86400"):
        aws.capacity(group_name="acme-train", wait_seconds=30)
    aws.capacity(group_name="acme-train")
    assert aws.alarm_names == ["acme-train-capacity-not-met"]
    gcp = GcpAlerts(stack, "gcp-alerts", project="acme-ml-prod", name="acme-train", rules=[])
    with pytest.raises(ValueError, match="base instance names are lowercase"):
        gcp.capacity(base_instance_names=["Acme_Train"])
    with pytest.raises(ValueError, match="at least one"):
        gcp.capacity(base_instance_names=[])
    gcp.capacity(base_instance_names=["acme-train-spot", "acme-train-od"])
    d = json.loads(Testing.synth(stack))
    (policy,) = d["resource"]["google_monitoring_alert_policy"].values()
    assert "notification_channels" not in policy  # no channels: it notifies nobody (the stacks say so in a note)
    assert "(acme-train-od|acme-train-spot)" in policy["conditions"][0]["condition_matched_log"]["filter"]
