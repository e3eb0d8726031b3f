"""Logs shipped before any scale-down (issue 25): what a node logs outlives the node.

- AWS: a CloudWatch Logs group per workload, encrypted with the foundation's key (whose policy lets
  CloudWatch Logs of the region use it, as CloudWatch Logs documents it), with a retention period;
  the node role may write to that group only; the CloudWatch agent's configuration ships the boot
  log there (checked against the agent's own JSON schema, vendored in tests/data), also when no
  metric is collected; the boot is told the group.
- GCP: Container-Optimized OS nodes get the metadata that turns on COS's own log shipping and
  health metrics; the Ops Agent's configuration (other images) ships the boot log with a files
  receiver; the node service account may write logs.
"""

from __future__ import annotations

import itertools
import json
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

from aiinfra.constructs.aws.log_group import RETENTION_DAYS, retention_at_least
from aiinfra.observability import agents
from aiinfra.observability.agents import COLLECT
from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM, init, run_terraform
from tests.test_stacks_aws import run_synth

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = json.loads((DATA / "cloudwatch-agent-schema.json").read_text())
SUBSETS = [()] + [c for n in (1, 2) for c in itertools.combinations(COLLECT, n)] + [COLLECT]
GROUP = "/aiinfra/acme-ml-prod-train"
AWS, GCP = "acme-ml-production-aws-", "acme-ml-production-gcp-"


def validator():
    cls = jsonschema.validators.validator_for(SCHEMA)
    cls.check_schema(SCHEMA)
    return cls(SCHEMA)


# ---------------------------------------------------------------- the CloudWatch agent


@pytest.mark.parametrize("collect", SUBSETS, ids=lambda c: "+".join(c) or "logs-only")
def test_cloudwatch_agent_config_with_a_log_group_validates_against_the_agents_schema(collect):
    cfg = agents.cloudwatch_agent_config(collect, GROUP)
    errors = sorted(validator().iter_errors(cfg), key=str)
    assert not errors, "\n".join(e.message for e in errors)
    assert json.loads(agents.cloudwatch_agent_json(collect, GROUP)) == cfg


def test_the_agent_ships_the_boot_log_to_the_workload_group_one_stream_per_instance():
    (entry,) = agents.cloudwatch_agent_config(("gpu",), GROUP)["logs"]["logs_collected"]["files"]["collect_list"]
    assert entry == {"file_path": "/var/log/aiinfra/boot.log", "log_group_name": GROUP, "log_stream_name": "{instance_id}/boot"}
    # no retention_in_days: the group's retention is Terraform's (the agent would need logs:PutRetentionPolicy)


def test_logs_only_configuration_has_no_metrics_section_and_publishes_no_metric():
    cfg = agents.cloudwatch_agent_config((), GROUP)
    assert set(cfg) == {"agent", "logs"}  # "If you're using the agent only to collect logs, you can omit the metrics section"
    assert agents._cloudwatch_produced(cfg) == frozenset()
    assert "logs" not in agents.cloudwatch_agent_config(("cpu",))  # no group, no logs section


def test_the_schema_check_sees_a_wrong_logs_key():
    bad = agents.cloudwatch_agent_config(("gpu",), GROUP)
    (entry,) = bad["logs"]["logs_collected"]["files"]["collect_list"]
    entry["log_stream"] = entry.pop("log_stream_name")
    bad["logs"]["logs_collected"]["file"] = {}
    assert len(list(validator().iter_errors(bad))) >= 2


# ---------------------------------------------------------------- the Ops Agent

# Logging receivers and pipelines as the configuration reference documents them
# (https://cloud.google.com/stackdriver/docs/solutions/agents/ops-agent/configuration, "Logging
# receivers": type files with include_paths / exclude_paths / record_log_file_path /
# wildcard_refresh_interval; "Logging service": pipelines of receivers and processors).
LOGGING = {"logging": {"receivers", "processors", "service"}, "service": {"pipelines", "log_level"}, "pipeline": {"receivers", "processors"},
           "files": {"type", "include_paths", "exclude_paths", "record_log_file_path", "wildcard_refresh_interval"}}


@pytest.mark.parametrize("collect", SUBSETS, ids=lambda c: "+".join(c) or "logs-only")
def test_ops_agent_ships_the_boot_log_with_a_documented_files_receiver(collect):
    cfg = agents.ops_agent_config(collect)
    logging = cfg["logging"]
    assert set(logging) <= LOGGING["logging"] and set(logging["service"]) <= LOGGING["service"]
    (rid, receiver), = logging["receivers"].items()
    assert rid == agents.BOOT_LOG_ID and set(receiver) <= LOGGING["files"]
    assert receiver == {"type": "files", "include_paths": ["/var/log/aiinfra/boot.log"]}
    # a pipeline of its own: the built-in syslog pipeline (default_pipeline) is merged in, not replaced
    assert logging["service"]["pipelines"] == {rid: {"receivers": [rid]}}
    assert all(set(p) <= LOGGING["pipeline"] for p in logging["service"]["pipelines"].values())
    assert yaml.safe_load(agents.ops_agent_yaml(collect)) == cfg


# ---------------------------------------------------------------- the stacks


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict[str, Path]:
    """aws-only and gcp-only, and the reference spec with compliance retention of 500 days."""
    reference = (ROOT / "examples" / "reference.yaml").read_text().replace(
        '    data_retention: "compliance_based"\n', '    data_retention: "compliance_based"\n    retention_period: "500 days"\n')
    assert "retention_period" in reference
    out = {}
    for key, spec in (("aws", ROOT / "examples" / "aws-only.yaml"), ("gcp", ROOT / "examples" / "gcp-only.yaml"), ("reference", None)):
        folder = tmp_path_factory.mktemp(key)
        if spec is None:
            spec = folder / "reference.yaml"
            spec.write_text(reference)
        r = run_synth(spec, folder / "cdktf.out", cwd=folder)
        assert r.returncode == 0, r.stderr
        out[key] = folder / "cdktf.out" / "stacks"
    return out


def doc(stacks: Path, name: str) -> dict:
    return json.loads((stacks / name / "cdk.tf.json").read_text())


def aws_boot(d: dict) -> tuple[dict[str, str], dict]:
    import base64
    import gzip

    (template,) = d["resource"]["aws_launch_template"].values()
    cloud_config = yaml.safe_load(gzip.decompress(base64.b64decode(template["user_data"])).decode())
    files = {f["path"]: f["content"] for f in cloud_config["write_files"]}
    env = {}
    for line in files["/opt/aiinfra/workload.env"].splitlines():
        if "=" in line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k] = " ".join(shlex.split(v)) if v else ""
    return env, files


@pytest.mark.parametrize("part", ["fraud-detection-training", "recommendation-inference"])
def test_each_aws_workload_gets_an_encrypted_log_group_its_nodes_alone_write(synthesized, part):
    d = doc(synthesized["aws"], f"{AWS}{part}")
    (group,) = [g for g in d["resource"]["aws_cloudwatch_log_group"].values() if g["//"]["metadata"]["path"].endswith("/logs/group")]
    assert group["name"] == f"/aiinfra/acme-ml-prod-{part}" and group["retention_in_days"] == 365
    # the foundation's key, through the cross-stack reference
    # the foundation's key, read from its state (stacks/state.py: a guarded read until the foundation exists)
    assert group["kms_key_id"].startswith(("${data.terraform_remote_state.", "${local.cross-stack-reference-input-")) and "aws_kms_key" in group["kms_key_id"]
    own = next(p for p in d["resource"]["aws_iam_role_policy"].values() if p["name"].endswith("-own-resources"))
    (logs,) = [s for s in json.loads(own["policy"])["Statement"] if s["Sid"] == "WriteOwnLogs"]
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    assert [r.rsplit(":log-group:", 1)[1] for r in logs["Resource"]] == [group["name"], f"{group['name']}:log-stream:*"]
    # the boot is told where the container's output goes (docker's awslogs driver, the agent's boot log)
    env, _ = aws_boot(d)
    assert env["AIINFRA_LOG_GROUP"] == group["name"]


def test_the_foundation_key_lets_cloudwatch_logs_of_the_region_use_it_for_this_accounts_groups(synthesized):
    d = doc(synthesized["aws"], f"{AWS}foundation")
    (key,) = d["resource"]["aws_kms_key"].values()
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    logs = statements["CloudWatchLogsUseKeyForThisAccountsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.${data.aws_region.aws-region.name}.amazonaws.com"}
    assert set(logs["Action"]) == {"kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"}
    (arn,) = logs["Condition"]["ArnLike"].values()
    assert list(logs["Condition"]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"] and arn.endswith(":log-group:*")
    assert "${data.aws_caller_identity.aws-caller-identity.account_id}" in arn
    assert not any("logs." in p for p in statements["ServicesUseKeyForThisAccount"]["Principal"]["Service"])


def test_compliance_retention_keeps_the_logs_as_long_rounded_up_to_what_cloudwatch_accepts(synthesized):
    d = doc(synthesized["reference"], f"{AWS}fraud-detection-training")
    (group,) = d["resource"]["aws_cloudwatch_log_group"].values()
    assert group["retention_in_days"] == 545 == retention_at_least(500)
    assert retention_at_least(1) == 1 and retention_at_least(31) == 60 and RETENTION_DAYS[-1] == 3653
    with pytest.raises(ValueError, match="at most 3653"):
        retention_at_least(4000)


@SKIP_NO_TERRAFORM
def test_aws_workload_and_foundation_stacks_validate_with_the_log_group(synthesized):
    for part in ("foundation", "fraud-detection-training"):
        stack = synthesized["aws"] / f"{AWS}{part}"
        init(stack, backend=False)
        out = run_terraform(["validate", "-json"], stack)
        assert '"valid": true' in out.stdout, (part, out.stdout)


def gcp_template(d: dict) -> dict:
    return next(iter(d["resource"]["google_compute_region_instance_template"].values()))


def test_cos_nodes_ship_their_journal_and_containers_with_cos_own_logging(synthesized):
    # llm-pretrain (16x H100, A3 High with GPUDirect-TCPX) boots Container-Optimized OS; the serving nodes the Deep Learning VM.
    from aiinfra.boot.images import node_image
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    loaded = load_spec(ROOT / "examples" / "gcp-only.yaml")
    images = {w.name: node_image(w, loaded.spec.clouds.gcp.image) for w in make_plan(loaded).workloads}
    assert images["llm-pretrain"].startswith("projects/cos-cloud/") and not images["recommendation-inference"].startswith("projects/cos-cloud/")
    cos = gcp_template(doc(synthesized["gcp"], f"{GCP}llm-pretrain"))
    assert (cos["metadata"]["google-logging-enabled"], cos["metadata"]["google-monitoring-enabled"]) == ("true", "true")
    assert "aiinfra-agent-config" not in cos["metadata"]  # no Ops Agent on COS
    dlvm = gcp_template(doc(synthesized["gcp"], f"{GCP}recommendation-inference"))
    assert "google-logging-enabled" not in dlvm["metadata"]
    # the Ops Agent there ships the boot log
    agent = yaml.safe_load(dlvm["metadata"]["aiinfra-agent-config"])
    assert agent["logging"]["receivers"][agents.BOOT_LOG_ID]["include_paths"] == [agents.BOOT_LOG]


@pytest.mark.parametrize("part", ["llm-pretrain", "recommendation-inference", "embedding-refresh"])
def test_gcp_node_service_accounts_may_write_logs_and_the_boot_is_told_its_log(synthesized, part):
    d = doc(synthesized["gcp"], f"{GCP}{part}")
    roles = {m["role"] for m in d["resource"]["google_project_iam_member"].values()}
    assert "roles/logging.logWriter" in roles
    env_text = gcp_template(d)["metadata"]["aiinfra-workload-env"]
    env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line and not line.startswith("#"))
    assert " ".join(shlex.split(env["AIINFRA_LOG_GROUP"])) == f"acme-ml-prod-{part}"


def test_log_group_construct_refuses_a_retention_cloudwatch_does_not_offer_and_a_bad_name():
    from aiinfra.cdk import TerraformStack, Testing
    from aiinfra.constructs._tf import AWS, provider
    from aiinfra.constructs.aws import LogGroup

    app = Testing.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS, region="us-east-1")
    with pytest.raises(ValueError, match="retention_days must be one of 1, 3, 5"):
        LogGroup(stack, "a", name=GROUP, kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x", retention_days=31)
    with pytest.raises(ValueError, match="name must be 1-512"):
        LogGroup(stack, "b", name="/aiinfra/a b", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x")
    LogGroup(stack, "c", name=GROUP, kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x")
    (group,) = json.loads(Testing.synth(stack))["resource"]["aws_cloudwatch_log_group"].values()
    assert (group["name"], group["retention_in_days"], group["kms_key_id"]) == (GROUP, 365, "arn:aws:kms:us-east-1:123456789012:key/x")
