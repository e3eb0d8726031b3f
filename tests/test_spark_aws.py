"""Spark on EMR on EC2 (issue 30, AWS): EmrSparkRuns and the AwsSparkWorkload stack. The schedule's RunJobFlow request
validates against botocore's EMR model and is accepted by the local AWS API's RunJobFlow; the stack passes terraform
validate with the real provider, applies against moto with an empty re-plan, and passes checkov; the failure pattern
matches EMR's documented events in EventBridge's own matcher; AIINFRA-AWS-017 judges the EMR pieces."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from aiinfra.cdk import App, LocalBackend, TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs._tf import AWS, provider
from aiinfra.constructs.aws import EmrSparkRuns
from aiinfra.constructs.aws.provider import AwsProvider
from aiinfra.cron import aws_cron
from aiinfra.constructs.aws.spark_runs import (CLUSTER_EVENT, EMR_MANAGED_TAG, RUN_JOB_FLOW_TARGET, STEP_EVENT, YARN_AM_ON_CORE,
                                               failure_event_pattern)
from aiinfra.planner.model import PipelinePartPlan
from aiinfra.policy import RULES_BY_ID, Result, StackView, check_stack
from aiinfra.stacks.spark_aws import AwsSparkWorkload
from tests.conftest import REFERENCE, ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM, apply_plan_destroy, init, moto_server, run_terraform  # noqa: F401

RULE = RULES_BY_ID["AIINFRA-AWS-017"]
KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666"
TOKEN = re.compile(r"(?<!\$)\$\{[^}]*\}")  # a Terraform reference ($${ is a literal ${)


def reference():
    """The reference spec, its plan and feature-etl with the spark part planner/spark.py gives it."""
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    loaded = load_spec(REFERENCE)
    plan = make_plan(loaded)
    w = next(w for w in plan.workloads if w.name == "feature-etl")
    return loaded.spec, plan, w, plan.spark_part(w.name)


def with_settings(part: PipelinePartPlan, **changes) -> PipelinePartPlan:
    return dataclasses.replace(part, settings={**part.settings, **changes})


def construct_doc(**kw) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS, region="us-east-1")
    args = dict(name="acme-ml-prod-etl", vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], kms_key_arn=KEY, data_bucket_name="data-b",
                workload_prefix="etl", log_bucket_name="logs-b", alerts_topic_arn="arn:aws:sns:us-east-1:123456789012:alerts",
                instance_profile_name="etl-profile", instance_role_arn="arn:aws:iam::123456789012:role/etl", primary_type="m7i.xlarge",
                core_type="r6i.8xlarge", core_nodes=2, task_types=["r6i.8xlarge", "r7i.8xlarge"], task_min=3, task_max=18,
                schedule="0 6 * * *", max_runtime_hours=6.25, main="jobs/etl.py", args=["--date", "${ds}"], output_prefix="out")
    args.update(kw)
    EmrSparkRuns(stack, "spark", **args)
    return json.loads(json.dumps(stack.to_terraform()))


def one(doc: dict, rtype: str) -> dict:
    (body,) = doc["resource"][rtype].values()
    return body


def resolved(text: str, fill: str = "x-1") -> dict:
    """A RunJobFlow Input with each Terraform reference replaced by a plausible value (validate_parameters checks shape)."""
    return json.loads(TOKEN.sub(fill, text).replace("$${", "${"))


def validate_run_job_flow(request: dict) -> None:
    """botocore's own check of a RunJobFlow request against the EMR service model (raises ParamValidationError)."""
    import botocore.session
    from botocore.validate import validate_parameters

    model = botocore.session.get_session().get_service_model("emr")
    validate_parameters(request, model.operation_model("RunJobFlow").input_shape)


# ---- the schedule's cron ---------------------------------------------------------------------------------------

def test_five_field_cron_becomes_the_schedulers_six_fields():
    assert aws_cron("0 6 * * *") == "cron(0 6 * * ? *)"
    assert aws_cron("0 */6 * * *") == "cron(0 0,6,12,18 * * ? *)"
    assert aws_cron("30 1 * * 1-5") == "cron(30 1 ? * MON,TUE,WED,THU,FRI *)"
    assert aws_cron("0 2 1 * *") == "cron(0 2 1 * ? *)"
    with pytest.raises(ValueError, match="restricts both the day of the month and the day of the week"):
        aws_cron("0 2 1 * 1")


# ---- the construct ---------------------------------------------------------------------------------------------

@pytest.mark.cdk
def test_the_schedule_calls_run_job_flow_with_a_request_botocore_accepts():
    doc = construct_doc()
    schedule = one(doc, "aws_scheduler_schedule")
    assert schedule["target"]["arn"] == RUN_JOB_FLOW_TARGET == "arn:aws:scheduler:::aws-sdk:emr:runJobFlow"
    assert (schedule["schedule_expression"], schedule["schedule_expression_timezone"], schedule["state"]) == \
        ("cron(0 6 * * ? *)", "Etc/UTC", "ENABLED")
    assert schedule["kms_key_arn"] == KEY and schedule["flexible_time_window"] == {"mode": "OFF"}
    request = resolved(schedule["target"]["input"])
    validate_run_job_flow(request)
    fleets = {f["InstanceFleetType"]: f for f in request["Instances"]["InstanceFleets"]}
    assert fleets["MASTER"]["TargetOnDemandCapacity"] == 1 and fleets["CORE"]["TargetOnDemandCapacity"] == 2
    assert fleets["TASK"]["TargetSpotCapacity"] == 3 and "TargetOnDemandCapacity" not in fleets["TASK"]
    assert [c["InstanceType"] for c in fleets["TASK"]["InstanceTypeConfigs"]] == ["r6i.8xlarge", "r7i.8xlarge"]
    assert request["ManagedScalingPolicy"]["ComputeLimits"] == {"UnitType": "InstanceFleetUnits", "MinimumCapacityUnits": 5,
                                                                "MaximumCapacityUnits": 20, "MaximumCoreCapacityUnits": 2,
                                                                "MaximumOnDemandCapacityUnits": 2}
    assert request["AutoTerminationPolicy"] == {"IdleTimeout": 3600} and request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert request["Configurations"] == [YARN_AM_ON_CORE]  # the driver stays on the on-demand core nodes
    assert {"Key": EMR_MANAGED_TAG, "Value": "true"} in request["Tags"]
    (step,) = request["Steps"]
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER" and step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    assert step["HadoopJarStep"]["Args"] == ["timeout", "--kill-after=60", "22500", "spark-submit", "--deploy-mode", "cluster",
                                             "--conf", "spark.yarn.appMasterEnv.AIINFRA_OUTPUT_URI=s3://data-b/out/",
                                             "--conf", "spark.executorEnv.AIINFRA_OUTPUT_URI=s3://data-b/out/",
                                             "s3://data-b/etl/jobs/etl.py", "--date", "${ds}"]  # $${ds} in Terraform: the literal
    assert "$${ds}" in schedule["target"]["input"]
    assert request["LogUri"] == "s3://logs-b/emr/acme-ml-prod-etl/" and request["LogEncryptionKmsKeyId"] == KEY
    instances = request["Instances"]
    assert instances["Ec2SubnetIds"] == ["subnet-a", "subnet-b"]
    # the EMR-managed groups are attached here, in the request (what checkov's CKV2_AWS_5 cannot read: .checkov.yaml)
    raw = json.loads(schedule["target"]["input"])["Instances"]
    groups = {body["name"].rsplit("-", 1)[-1]: f"${{aws_security_group.{name}.id}}" for name, body in doc["resource"]["aws_security_group"].items()}
    assert (raw["EmrManagedMasterSecurityGroup"], raw["EmrManagedSlaveSecurityGroup"], raw["ServiceAccessSecurityGroup"]) == \
        (groups["primary"], groups["core"], groups["service"])


@pytest.mark.cdk
def test_a_bad_request_fails_botocores_check():
    # the check the test above relies on does refuse what RunJobFlow refuses
    from botocore.exceptions import ParamValidationError

    request = resolved(one(construct_doc(), "aws_scheduler_schedule")["target"]["input"])
    request["Instances"]["InstanceFleets"][0]["TargetOnDemandCapacity"] = "one"
    with pytest.raises(ParamValidationError):
        validate_run_job_flow(request)


@pytest.mark.cdk
def test_security_configuration_encrypts_s3_disks_and_ebs_with_the_key_and_groups_are_emr_managed_and_private():
    doc = construct_doc()
    config = json.loads(one(doc, "aws_emr_security_configuration")["configuration"])["EncryptionConfiguration"]
    at_rest = config["AtRestEncryptionConfiguration"]
    assert config["EnableAtRestEncryption"] is True
    assert at_rest["S3EncryptionConfiguration"] == {"EncryptionMode": "SSE-KMS", "AwsKmsKey": KEY}
    assert at_rest["LocalDiskEncryptionConfiguration"] == {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": KEY, "EnableEbsEncryption": True}
    groups = {body["name"].rsplit("-", 1)[-1]: name for name, body in doc["resource"]["aws_security_group"].items()}
    assert set(groups) == {"primary", "core", "service"}
    assert all(g["tags"][EMR_MANAGED_TAG] == "true" and g["revoke_rules_on_delete"] is True for g in doc["resource"]["aws_security_group"].values())

    def ref(kind):
        return f"${{aws_security_group.{groups[kind]}.id}}"
    ingress = {(r["security_group_id"], r.get("referenced_security_group_id"), r["ip_protocol"], r.get("from_port"))
               for r in doc["resource"]["aws_vpc_security_group_ingress_rule"].values()}
    assert (ref("service"), ref("primary"), "tcp", 9443) in ingress  # the primary node reaches the cluster manager
    assert {(ref("primary"), ref("service"), "tcp", 8443), (ref("core"), ref("service"), "tcp", 8443)} <= ingress
    assert not any(r.get("cidr_ipv4") for r in doc["resource"]["aws_vpc_security_group_ingress_rule"].values())  # nothing from a range
    egress = {(r["security_group_id"], r.get("referenced_security_group_id") or r.get("cidr_ipv4"), r["ip_protocol"], r.get("from_port"))
              for r in doc["resource"]["aws_vpc_security_group_egress_rule"].values()}
    assert {(ref("service"), ref("primary"), "tcp", 8443), (ref("service"), ref("core"), "tcp", 8443),
            (ref("primary"), ref("service"), "tcp", 9443), (ref("core"), "0.0.0.0/0", "tcp", 443)} <= egress
    assert not any(cidr == "0.0.0.0/0" and proto == "-1" for _, cidr, proto, _ in egress)  # no allow-all egress
    tagged = {(t["resource_id"], t["key"], t["value"]) for t in doc["resource"]["aws_ec2_tag"].values()}
    assert tagged == {("subnet-a", EMR_MANAGED_TAG, "true"), ("subnet-b", EMR_MANAGED_TAG, "true")}


@pytest.mark.cdk
def test_roles_pass_only_the_cluster_roles_and_run_only_tagged_clusters():
    doc = construct_doc()
    policies = {b["name"]: json.loads(b["policy"])["Statement"] for b in doc["resource"]["aws_iam_role_policy"].values()}
    (run,) = policies["acme-ml-prod-etl-emr-run"]
    assert run["Action"] == "elasticmapreduce:RunJobFlow" and run["Condition"] == {"StringEquals": {f"aws:RequestTag/{EMR_MANAGED_TAG}": "true"}}
    passing = {s["Sid"]: s for s in policies["acme-ml-prod-etl-emr-scheduler"]}
    assert passing["PassClusterRoles"]["Action"] == "iam:PassRole" and len(passing["PassClusterRoles"]["Resource"]) == 2
    assert "arn:aws:iam::123456789012:role/etl" in passing["PassClusterRoles"]["Resource"]
    service = {s["Sid"]: s for s in policies["acme-ml-prod-etl-emr-service"]}
    assert service["PassNodeRole"]["Resource"] == "arn:aws:iam::123456789012:role/etl"
    assert service["GrantVolumesToEc2"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    attached = {a["policy_arn"].split(":policy/")[-1] for a in doc["resource"]["aws_iam_role_policy_attachment"].values()}
    assert attached == {"service-role/AmazonEMRServicePolicy_v2"}
    # the pack passes everything but the one written waiver (RunJobFlow has no resource type)
    report = check_stack("test", doc, rules=[RULES_BY_ID["AIINFRA-AWS-009"], RULE])
    assert [(v.rule.id, v.resource.path) for v in report.violations] == [("AIINFRA-AWS-009", "test/spark/scheduler-run")], report.lines()


@pytest.mark.cdk
def test_without_a_schedule_or_until_the_code_is_given_the_schedule_is_disabled():
    assert one(construct_doc(schedule=None), "aws_scheduler_schedule")["state"] == "DISABLED"
    gated = one(construct_doc(main="${var.spark_main}", enabled_when='var.spark_main != ""'), "aws_scheduler_schedule")
    assert gated["state"] == '${var.spark_main != "" && true ? "ENABLED" : "DISABLED"}'


@pytest.mark.cdk
def test_every_bad_prop_is_reported_at_once():
    with pytest.raises(ValueError) as err:
        construct_doc(release="emr-6.15.0", core_nodes=0, task_min=5, task_max=2, idle_timeout_seconds=10, main="s3://Bad Bucket/x")
    text = str(err.value)
    for what in ("release must be an EMR 7.x", "core_nodes must be at least 1", "task_min and task_max", "idle_timeout_seconds",
                 "main must be a valid s3:// URI"):
        assert what in text


# ---- the policy rule -------------------------------------------------------------------------------------------

def judged(doc: dict) -> list[Result]:
    view = StackView.from_json("s", doc)
    return [RULE.evaluate(r, view)[0] for r in view.resources if r.type in RULE.types]


@pytest.mark.cdk
def test_rule_017_passes_what_the_construct_writes_and_fails_each_weakening():
    doc = construct_doc()
    assert judged(doc) == [Result.COMPLIANT, Result.COMPLIANT]  # the security configuration, the schedule
    config = json.loads(one(doc, "aws_emr_security_configuration")["configuration"])
    for weaken in (lambda c: c["EncryptionConfiguration"].update(EnableAtRestEncryption=False),
                   lambda c: c["EncryptionConfiguration"]["AtRestEncryptionConfiguration"]["S3EncryptionConfiguration"].update(EncryptionMode="SSE-S3"),
                   lambda c: c["EncryptionConfiguration"]["AtRestEncryptionConfiguration"]["LocalDiskEncryptionConfiguration"].pop("EnableEbsEncryption")):
        bad = json.loads(json.dumps(config))
        weaken(bad)
        assert judged({"resource": {"aws_emr_security_configuration": {"c": {"configuration": json.dumps(bad)}}}}) == [Result.NON_COMPLIANT]
    schedule = one(doc, "aws_scheduler_schedule")
    request = json.loads(schedule["target"]["input"])
    for weaken in (lambda r: r.pop("SecurityConfiguration"), lambda r: r["Instances"].pop("ServiceAccessSecurityGroup"),
                   lambda r: r.pop("LogEncryptionKmsKeyId")):
        bad = json.loads(json.dumps(request))
        weaken(bad)
        body = {**schedule, "target": {**schedule["target"], "input": json.dumps(bad)}}
        assert judged({"resource": {"aws_scheduler_schedule": {"s": body}}}) == [Result.NON_COMPLIANT]
    other = {**schedule, "target": {"arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "input": "{}"}}
    assert judged({"resource": {"aws_scheduler_schedule": {"s": other}}}) == [Result.COMPLIANT]
    assert judged({"resource": {"aws_emr_cluster": {"c": {"name": "c", "ec2_attributes": {"subnet_id": "s"}}}}}) == [Result.NON_COMPLIANT]


# ---- the stack -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_synth(tmp_path_factory) -> Path:
    """The reference spec's AWS foundation and feature-etl's Spark stack, synthesized as the lead will wire them."""
    from aiinfra.stacks.aws import AwsFoundation, _stack

    spec, plan, w, part = reference()
    out = tmp_path_factory.mktemp("spark-synth")
    app = App(outdir=str(out))
    mine = [x for x in plan.workloads if x.cloud == "aws"]
    foundation = AwsFoundation(app, spec, plan, w.region, mine, next(s for s in plan.storage if s.cloud == "aws"), True)
    spark = AwsSparkWorkload(app, spec, plan, w, part, foundation, _stack)
    app.synth()
    (out / "notes.json").write_text(json.dumps(spark.notes))
    return out / "stacks"


SPARK_STACK = "acme-ml-production-aws-feature-etl"


@pytest.mark.cdk
def test_the_stack_reads_the_foundation_across_stacks_and_asks_for_the_code(reference_synth):
    doc = json.loads((reference_synth / SPARK_STACK / "cdk.tf.json").read_text())
    assert "terraform_remote_state" in doc["data"]
    assert doc["variable"]["spark_main"]["default"] == ""
    schedule = one(doc, "aws_scheduler_schedule")
    assert schedule["state"].startswith('${var.spark_main != ""')
    request = resolved(schedule["target"]["input"], fill="s3x")
    validate_run_job_flow(request)
    step_args = request["Steps"][0]["HadoopJarStep"]["Args"]
    assert step_args[:3] == ["timeout", "--kill-after=60", "22500"]  # the plan's hard stop, 6 h 15 min
    assert "${var.spark_main}" in schedule["target"]["input"]
    policy = {json.loads(b["policy"])["Statement"][0]["Sid"]: json.loads(b["policy"])["Statement"]
              for b in doc["resource"]["aws_iam_role_policy"].values()}
    data = {s["Sid"]: s for s in policy["ListPipelinePrefixes"]}
    assert data["ReadInput"]["Action"] == "s3:GetObject" and data["ReadInput"]["Resource"].endswith("/staging/*")
    assert data["WriteOutput"]["Resource"].endswith("/processed_data/parquet/*")
    assert data["WriteClusterLogs"]["Resource"].endswith("/emr/acme-ml-prod-feature-etl/*")
    notes = json.loads((reference_synth.parent / "notes.json").read_text())
    assert any("spark_main=s3://" in n for n in notes) and not any("${" in n or "TfToken" in n for n in notes)


@pytest.mark.cdk
def test_the_foundation_tags_its_private_subnets_for_emr_once_and_the_spark_stack_leaves_them_alone(reference_synth):
    """EMR's v2 service policy launches only in subnets tagged for-use-with-amazon-emr-managed-policies=true: the foundation's
    network carries the tag when the plan runs EMR in its region, so no Spark stack manages it (two would fight over it, and
    destroying one would untag the other's subnets); its public subnets stay untagged, as does a network without EMR."""
    from aiinfra.constructs.aws.cluster_network import ClusterNetwork

    foundation = json.loads((reference_synth / "acme-ml-production-aws-foundation" / "cdk.tf.json").read_text())
    subnets = foundation["resource"]["aws_subnet"].values()
    assert {s["tags"].get(EMR_MANAGED_TAG) for s in subnets if s["tags"]["tier"] == "private"} == {"true"}
    assert not any(EMR_MANAGED_TAG in s["tags"] for s in subnets if s["tags"]["tier"] != "private")
    doc = json.loads((reference_synth / SPARK_STACK / "cdk.tf.json").read_text())
    assert "aws_ec2_tag" not in doc["resource"]
    stack = TerraformStack(CdkTesting.app(), "plain")
    AwsProvider(stack, "aws", region="us-east-1")
    ClusterNetwork(stack, "net", name="plain", zone_ids=["use1-az1"], log_kms_key_arn="arn:aws:kms:us-east-1:1:key/k")
    plain = json.loads(CdkTesting.synth(stack))["resource"]["aws_subnet"].values()
    assert plain and not any(EMR_MANAGED_TAG in s["tags"] for s in plain)


@pytest.mark.cdk
def test_the_stack_builds_what_the_plans_spark_part_says(reference_synth):
    _, _, w, part = reference()
    s = part.settings
    doc = json.loads((reference_synth / SPARK_STACK / "cdk.tf.json").read_text())
    schedule = one(doc, "aws_scheduler_schedule")
    assert schedule["schedule_expression"] == aws_cron(s["schedule"])
    request = resolved(schedule["target"]["input"], fill="s3x")
    fleets = {f["InstanceFleetType"]: f for f in request["Instances"]["InstanceFleets"]}
    assert request["ReleaseLabel"] == s["release"]
    assert [c["InstanceType"] for c in fleets["MASTER"]["InstanceTypeConfigs"]] == [s["primary_type"]]
    assert [c["InstanceType"] for c in fleets["CORE"]["InstanceTypeConfigs"]] == [s["core_type"]]
    assert fleets["CORE"]["TargetOnDemandCapacity"] == s["core_nodes"]
    assert [c["InstanceType"] for c in fleets["TASK"]["InstanceTypeConfigs"]] == s["task_types"]
    assert fleets["TASK"]["TargetSpotCapacity" if s["task_spot"] else "TargetOnDemandCapacity"] == s["task_min"]
    limits = request["ManagedScalingPolicy"]["ComputeLimits"]
    assert (limits["MinimumCapacityUnits"], limits["MaximumCapacityUnits"]) == (s["core_nodes"] + s["task_min"], s["core_nodes"] + s["task_max"])
    assert (limits["MinimumCapacityUnits"], limits["MaximumCapacityUnits"]) == (w.min_nodes, w.max_nodes)  # the plan's 5-20 nodes
    assert request["AutoTerminationPolicy"]["IdleTimeout"] == s["idle_timeout_seconds"]
    args = request["Steps"][0]["HadoopJarStep"]["Args"]
    assert args[2] == str(round(s["max_runtime_hours"] * 3600))
    conf = [args[i + 1] for i, a in enumerate(args) if a == "--conf"]
    assert any(c.endswith(f"/{s['input_prefix'].strip('/')}/") and "AIINFRA_INPUT_URI" in c for c in conf)
    assert any(c.endswith(f"/{s['output_prefix'].strip('/')}/") and "AIINFRA_OUTPUT_URI" in c for c in conf)


@SKIP_NO_TERRAFORM
def test_terraform_validate_with_the_real_provider(reference_synth):
    stack = reference_synth / SPARK_STACK
    init(stack, backend=False)
    run_terraform(["validate"], stack)


@SKIP_NO_TERRAFORM
def test_spark_main_refuses_what_would_break_the_json_input(reference_synth, tmp_path):
    # the stack's variable block alone, planned by Terraform itself (no provider needed)
    doc = json.loads((reference_synth / SPARK_STACK / "cdk.tf.json").read_text())
    (tmp_path / "main.tf.json").write_text(json.dumps({"variable": {"spark_main": doc["variable"]["spark_main"]},
                                                       "output": {"main": {"value": "${var.spark_main}"}}}))
    run_terraform(["init"], tmp_path)
    for value, ok in (("", True), ("s3://data-b/feature-etl/jobs/etl.py", True), ('s3://data-b/"x.py', False),
                      ("s3://data-b/a b.py", False), ("jobs/etl.py", False)):
        r = run_terraform(["plan", "-var", f"spark_main={value}"], tmp_path, check=False)
        assert (r.returncode == 0) is ok, (value, r.stderr[-500:])
        if not ok:
            assert "spark_main must be empty or an s3://" in r.stderr


CHECKOV = os.environ.get("AIINFRA_CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")


@pytest.mark.skipif(not Path(CHECKOV).exists(), reason="checkov is not installed (make setup puts it in .venv-checkov)")
def test_checkov_passes_on_the_spark_stack(reference_synth, tmp_path):
    target = tmp_path / "stacks" / SPARK_STACK
    target.mkdir(parents=True)
    (target / "cdk.tf.json").write_text((reference_synth / SPARK_STACK / "cdk.tf.json").read_text())
    r = subprocess.run([CHECKOV, "--config-file", str(ROOT / ".checkov.yaml"), "-d", str(tmp_path / "stacks"), "-o", "json"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    reports = json.loads(r.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for rep in reports for c in rep.get("results", {}).get("failed_checks", [])]
    passed = [c for rep in reports for c in rep.get("results", {}).get("passed_checks", [])]
    assert not failed, "\n".join(failed)
    assert passed


# ---- one apply against the local AWS API -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def applied(moto_server, tmp_path_factory):
    """feature-etl's stack built by AwsSparkWorkload over a foundation made in moto (boto3), with its code given, applied,
    re-planned empty and destroyed; what the local API held after apply, for the tests."""
    env = moto_server.env()
    ec2, kms, s3, sns = (moto_server.client(s) for s in ("ec2", "kms", "s3", "sns"))
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    key = kms.create_key()["KeyMetadata"]["Arn"]
    for b in ("spark-data-b", "spark-logs-b"):
        s3.create_bucket(Bucket=b)
    topic = sns.create_topic(Name="spark-alerts")["TopicArn"]
    foundation = SimpleNamespace(name="acme-ml-prod", zones=["use1-az1"], network=SimpleNamespace(vpc_id=vpc, private_subnet_ids=subnets),
                                 key=SimpleNamespace(arn=key), alerts=SimpleNamespace(topic_arn=topic),
                                 storage=SimpleNamespace(arn="arn:aws:s3:::spark-data-b", bucket_name="spark-data-b", log_bucket_name="spark-logs-b"))
    spec, plan, w, part = reference()
    work = tmp_path_factory.mktemp("spark-apply")

    def make_stack(app, spec_, region, part):
        stack = TerraformStack(app, f"spark-{part}")
        AwsProvider(stack, "aws", region=region)
        LocalBackend(stack, path=str(work / "terraform.tfstate"))
        return stack
    app = CdkTesting.app()
    built = AwsSparkWorkload(app, spec, plan, w, with_settings(part, main="jobs/etl.py", args=["--day", "today"]), foundation, make_stack)
    stack_dir = work / "stack"
    stack_dir.mkdir()
    (stack_dir / "cdk.tf.json").write_text(json.dumps(built.stack.to_terraform()))
    seen: dict = {}

    def after_apply(outputs):
        scheduler, emr, events = (moto_server.client(s) for s in ("scheduler", "emr", "events"))
        seen["schedule"] = scheduler.get_schedule(Name=outputs["emr_schedule_name"])
        request = json.loads(seen["schedule"]["Target"]["Input"])
        seen["request"] = request
        validate_run_job_flow(request)
        seen["run"] = emr.run_job_flow(**request)  # what the schedule sends, through boto3 to the local RunJobFlow
        seen["cluster"] = emr.describe_cluster(ClusterId=seen["run"]["JobFlowId"])["Cluster"]
        seen["security_configuration"] = emr.describe_security_configuration(Name=request["SecurityConfiguration"])
        (rule,) = [r for r in events.list_rules()["Rules"] if r["Name"].endswith("-emr-failed")]
        seen["rule"] = rule
        seen["targets"] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        seen["delivered"] = probe_alerts(moto_server, seen["targets"][0]["Arn"])
        seen["subnet_tags"] = {t["ResourceId"]: t["Value"] for t in ec2.describe_tags(
            Filters=[{"Name": "key", "Values": [EMR_MANAGED_TAG]}, {"Name": "resource-type", "Values": ["subnet"]}])["Tags"]}
        seen["outputs"] = outputs
    apply_plan_destroy(stack_dir, env, after_apply=after_apply, timeout=400)
    return SimpleNamespace(seen=seen, subnets=subnets, key=key, topic=topic, w=w)


@SKIP_NO_TERRAFORM
def test_applied_schedule_starts_a_run_the_local_emr_accepts(applied):
    seen = applied.seen
    schedule = seen["schedule"]
    assert schedule["State"] == "ENABLED" and schedule["ScheduleExpression"] == "cron(0 6 * * ? *)"
    assert schedule["Target"]["Arn"] == RUN_JOB_FLOW_TARGET and schedule["KmsKeyArn"] == applied.key
    request = seen["request"]
    assert request["Instances"]["Ec2SubnetIds"] == applied.subnets
    assert request["Steps"][0]["HadoopJarStep"]["Args"][-3:] == ["s3://spark-data-b/feature-etl/jobs/etl.py", "--day", "today"]
    cluster = seen["cluster"]
    assert cluster["Name"] == "acme-ml-prod-feature-etl" and cluster["SecurityConfiguration"] == request["SecurityConfiguration"]
    assert {"Key": EMR_MANAGED_TAG, "Value": "true"} in cluster["Tags"]
    assert cluster["ServiceRole"] == "acme-ml-prod-feature-etl-emr-service"
    config = json.loads(seen["security_configuration"]["SecurityConfiguration"])
    assert config["EncryptionConfiguration"]["AtRestEncryptionConfiguration"]["LocalDiskEncryptionConfiguration"]["AwsKmsKey"] == applied.key
    assert seen["subnet_tags"] == {s: "true" for s in applied.subnets}


def emr_event(detail_type: str, **detail) -> dict:
    """An EMR event as EventBridge delivers it (https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-service-limits-cloudwatch-events.html)."""
    return {"Source": "aws.emr", "DetailType": detail_type, "Detail": json.dumps({"severity": "ERROR", "message": "m", **detail})}


PROBES = [(emr_event(CLUSTER_EVENT, name="acme-ml-prod-feature-etl", state="TERMINATED_WITH_ERRORS", clusterId="j-1"), True),
          (emr_event(STEP_EVENT, name="acme-ml-prod-feature-etl-spark", state="FAILED", clusterId="j-1"), True),
          (emr_event(CLUSTER_EVENT, name="acme-ml-prod-feature-etl", state="TERMINATED", clusterId="j-1"), False),
          (emr_event(STEP_EVENT, name="acme-ml-prod-feature-etl-spark", state="COMPLETED", clusterId="j-1"), False),
          (emr_event(CLUSTER_EVENT, name="someone-else", state="TERMINATED_WITH_ERRORS", clusterId="j-2"), False)]


def probe_alerts(server, topic_arn: str) -> list[str]:
    """EMR's events put on the default bus; what reaches the alerts topic (read from a queue subscribed to it), in order.
    (tests/moto_patches/events.py has the local API deliver a rule's events to an SNS target, as EventBridge does.)"""
    sqs, sns, events = server.client("sqs"), server.client("sns"), server.client("events")
    url = sqs.create_queue(QueueName="spark-alerts-probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    for event, _ in PROBES:
        assert events.put_events(Entries=[event])["FailedEntryCount"] == 0
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [m["Body"] for m in got]


@SKIP_NO_TERRAFORM
def test_applied_failure_rule_sends_emr_failures_only(applied):
    seen = applied.seen
    assert [t["Arn"] for t in seen["targets"]] == [applied.topic]
    assert json.loads(seen["rule"]["EventPattern"]) == failure_event_pattern("acme-ml-prod-feature-etl", "acme-ml-prod-feature-etl-spark")
    delivered = seen["delivered"]
    assert len(delivered) == sum(1 for _, match in PROBES if match), delivered
    assert any("acme-ml-prod-feature-etl is TERMINATED_WITH_ERRORS (cluster j-1" in d for d in delivered)
    assert any("acme-ml-prod-feature-etl-spark is FAILED" in d for d in delivered)
    assert all("s3://spark-logs-b/emr/acme-ml-prod-feature-etl/" in d for d in delivered)
