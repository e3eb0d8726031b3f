"""End to end on AWS: the AWS-only example (an image on every
workload, a two-node EFA training run with its cluster placement group and run schedule, an HTTPS
inference endpoint) applies against a local AWS API (moto), plans empty, and destroys; one stack also
deploys through the cdktf CLI.

moto (5.2.5) does not implement placement groups or the Deep Learning AMI SSM parameters: the harness
serves placement groups (tests/tf_harness.py, as it serves the Budgets calls moto lacks) and the
applied spec names an AMI moto knows. Where moto reads arguments back differently from AWS, the
second plan ignores them (MOTO_READ_BACK_QUIRKS).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM, apply_plan_destroy, init, moto_server, plugin_mirror, run_terraform  # noqa: F401

pytestmark = SKIP_NO_TERRAFORM
# Every stack of every example (and of its variants) passes terraform validate in one run: tests/test_validate_examples.py.


def synth(spec: Path, workdir: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", "cdktf.out", "-q"], cwd=workdir, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return workdir / "cdktf.out" / "stacks"


def aws_stacks(stacks: Path) -> list[Path]:
    return sorted(p for p in stacks.iterdir() if "-aws-" in p.name)


def self_signed_certificate(env: dict[str, str]) -> str:
    """Import a throwaway certificate into the local ACM and return its ARN."""
    import boto3
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inference.acme.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    acm = boto3.client("acm", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return acm.import_certificate(Certificate=cert.public_bytes(serialization.Encoding.PEM),
                                  PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                               serialization.NoEncryption()))["CertificateArn"]


def moto_ami(env: dict[str, str]) -> str:
    """An AMI the local API knows (moto ships Amazon's public images), so data.aws_ami finds it."""
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return next(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"] if i.get("RootDeviceName"))


def check_pipeline(moto, out: dict) -> None:
    """The pipeline stack as the local AWS API has it: the cache encrypted, TLS and IAM users; the transfer on its cron."""
    [group] = moto.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    assert group["AtRestEncryptionEnabled"] and group["TransitEncryptionEnabled"] and group["KmsKeyId"]
    assert group["ClusterEnabled"] and group["UserGroupIds"]
    [task] = moto.client("datasync").list_tasks()["Tasks"]
    described = moto.client("datasync").describe_task(TaskArn=task["TaskArn"])
    assert described["Schedule"]["ScheduleExpression"] == "cron(0 0,6,12,18 * * ? *)"
    [dist] = moto.client("cloudfront").list_distributions()["DistributionList"]["Items"]
    assert dist["Origins"]["Items"][0]["OriginAccessControlId"] and dist["WebACLId"]


def moto_spec(tmp_path: Path, env: dict[str, str]) -> Path:
    text = (ROOT / "examples" / "aws-only.yaml").read_text().replace("ami-0123456789abcdef0", moto_ami(env))
    arn = self_signed_certificate(env)
    text = "\n".join(f"    certificate_arn: {arn}" if line.strip().startswith("certificate_arn:") else line for line in text.splitlines()) + "\n"
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return spec


# moto 5.2.5 reads a target-tracking policy back disabled, with a predictive-scaling block, so a second
# plan would always show a change that AWS would not (the harness fixes the other read-backs in the server).
MOTO_READ_BACK_QUIRKS = {
    "aws_autoscaling_policy": ["enabled", "predictive_scaling_configuration"],
}


def write_override(stack: Path, name: str, per_type: dict[str, dict]) -> None:
    """A Terraform override file beside cdk.tf.json, for this test only."""
    doc = json.loads((stack / "cdk.tf.json").read_text())
    resources = {rtype: {n: body for n in doc["resource"].get(rtype, {})} for rtype, body in per_type.items() if rtype in doc["resource"]}
    if resources:  # an override file with no resource in it is not valid Terraform
        (stack / name).write_text(json.dumps({"resource": resources}))


def ignore_moto_quirks(stack: Path) -> None:
    write_override(stack, "zz_moto_quirks_override.tf.json",
                   {rtype: {"lifecycle": {"ignore_changes": keys}} for rtype, keys in MOTO_READ_BACK_QUIRKS.items()})


def destroy_with_data(stack: Path, env: dict[str, str]) -> None:
    """Production buckets keep their data and load balancers refuse deletion; a test lets them go."""
    write_override(stack, "zz_test_force_destroy_override.tf.json", {"aws_s3_bucket": {"force_destroy": True},
                                                                      "aws_lb": {"enable_deletion_protection": False}})
    run_terraform(["apply", "-auto-approve"], stack, env=env)
    run_terraform(["destroy", "-auto-approve"], stack, env=env)


def check_training(moto_server, outputs: dict) -> None:
    """What the applied training stack does in the (local) cloud: two EFA nodes in a cluster
    placement group, started and hard-stopped by scheduled actions, booting the job wrapper."""
    import base64
    import gzip

    import yaml

    group_name = outputs["autoscaling_group_name"]
    asg = moto_server.client("autoscaling")
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (0, 0, 2)
    assert group["ServiceLinkedRoleARN"].split("/")[-1].startswith("AWSServiceRoleForAutoScaling_acme-ml-prod")
    actions = {a["ScheduledActionName"].rsplit("-", 1)[-1]: a for a in
               asg.describe_scheduled_actions(AutoScalingGroupName=group_name)["ScheduledUpdateGroupActions"]}
    assert {k: (a["Recurrence"], a["DesiredCapacity"]) for k, a in actions.items()} == {"start": ("0 6 * * 6", 2), "stop": ("0 6 * * 0", 0)}
    assert {a["TimeZone"] for a in actions.values()} == {"Etc/UTC"}
    ec2 = moto_server.client("ec2")
    (pg,) = ec2.describe_placement_groups()["PlacementGroups"]
    assert pg["Strategy"] == "cluster"
    spec = group.get("LaunchTemplate") or group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    lt_id = spec["LaunchTemplateId"]
    (version,) = ec2.describe_launch_template_versions(LaunchTemplateId=lt_id, Versions=["$Latest"])["LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    assert data["Placement"]["GroupName"] == pg["GroupName"]
    assert [ni["InterfaceType"] for ni in data["NetworkInterfaces"]] == ["efa"] * 4
    cloud_config = gzip.decompress(base64.b64decode(data["UserData"])).decode()  # cloud-init reads gzip user data
    assert cloud_config.startswith("#cloud-config")
    files = {f["path"] for f in yaml.safe_load(cloud_config)["write_files"]}
    assert {"/opt/aiinfra/node.sh", "/opt/aiinfra/aws.sh", "/opt/aiinfra/workload.env"} <= files


def check_inference(moto_server, outputs: dict) -> None:
    elb = moto_server.client("elbv2")
    (tg,) = [t for t in elb.describe_target_groups()["TargetGroups"] if t["Port"] == 8000]
    assert (tg["HealthCheckPath"], tg["HealthCheckPort"]) == ("/v2/health/ready", "traffic-port")
    (lb,) = elb.describe_load_balancers()["LoadBalancers"]
    assert len(lb["AvailabilityZones"]) >= 2
    # public by default: every subnet of the load balancer routes to the internet gateway
    ec2 = moto_server.client("ec2")
    for zone in lb["AvailabilityZones"]:
        tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [zone["SubnetId"]]}])["RouteTables"]
        assert any(r.get("GatewayId", "").startswith("igw-") for t in tables for r in t["Routes"]), zone
    (group,) = moto_server.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["autoscaling_group_name"]])["AutoScalingGroups"]
    assert (group["HealthCheckType"], group["HealthCheckGracePeriod"]) == ("ELB", 1200)
    assert {z for z in group["AvailabilityZones"]} <= {z["ZoneName"] for z in lb["AvailabilityZones"]}  # the LB reaches every node zone
    # the nodes are tagged with the data pipeline's cache (the boot's AIINFRA_CACHE_ENDPOINT): its configuration endpoint
    [cache] = moto_server.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    template = group.get("LaunchTemplate") or group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    tags = {t["Key"]: t["Value"] for spec in data["TagSpecifications"] if spec["ResourceType"] == "instance" for t in spec["Tags"]}
    assert tags["aiinfra-cache-endpoint"] == f"{cache['ConfigurationEndpoint']['Address']}:6379"
    assert (tags["aiinfra-cache-name"], tags["aiinfra-cache-ttl-seconds"]) == (cache["ReplicationGroupId"], "86400")


def check_alarms(moto_server, outputs: dict) -> None:
    """The workload's alarms are in CloudWatch, on metrics of its own group (and load balancer)."""
    group = outputs["autoscaling_group_name"]
    alarms = [a for a in moto_server.client("cloudwatch").describe_alarms(AlarmNamePrefix=group)["MetricAlarms"]]
    assert alarms
    for alarm in alarms:
        dims = [d for q in alarm["Metrics"] if "MetricStat" in q for d in q["MetricStat"]["Metric"]["Dimensions"]]
        assert dims and all(d["Value"] == group or d["Name"] in ("LoadBalancer", "TargetGroup") for d in dims), alarm["AlarmName"]


def check_dashboard(moto_server, outputs: dict, groups: list[str]) -> None:
    """One dashboard for the environment charts every workload's group (names read from their stacks)."""
    cw = moto_server.client("cloudwatch")
    (entry,) = cw.list_dashboards(DashboardNamePrefix="acme-ml-prod")["DashboardEntries"]
    body = json.loads(cw.get_dashboard(DashboardName=entry["DashboardName"])["DashboardBody"])
    charted = {part for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"] for part in m if isinstance(part, str)}
    assert set(groups) <= charted


def test_aws_only_spec_applies_plans_empty_and_destroys(tmp_path, moto_server):
    env = moto_server.env()
    stacks = {p.name.rsplit("-aws-", 1)[1]: p for p in aws_stacks(synth(moto_spec(tmp_path, env), tmp_path))}
    assert set(stacks) == {"foundation", "data-pipeline", "fraud-detection-training", "recommendation-inference", "dashboard"}
    foundation = stacks.pop("foundation")
    dashboard = stacks.pop("dashboard")
    pipeline = stacks.pop("data-pipeline")
    apply_plan_destroy(foundation, env, destroy=False)
    # the alerts topic e-mails the spec's on-call address
    sns = moto_server.client("sns")
    subscriptions = [s for t in sns.list_topics()["Topics"] for s in sns.list_subscriptions_by_topic(TopicArn=t["TopicArn"])["Subscriptions"]]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ml-oncall@acme-ml.example.com")]
    checks = {"fraud-detection-training": check_training, "recommendation-inference": check_inference}
    applied: list[Path] = []
    groups: list[str] = []
    try:
        # the data pipeline (ingestion, cache, CDN) reads the foundation only; the serving stack reads its cache
        ignore_moto_quirks(pipeline)
        apply_plan_destroy(pipeline, env, destroy=False, after_apply=lambda out: check_pipeline(moto_server, out))
        # workload stacks read the foundation's state and not each other's: apply them side by side
        def run(name: str, stack: Path) -> None:
            ignore_moto_quirks(stack)

            def after(out: dict) -> None:
                checks[name](moto_server, out)
                check_alarms(moto_server, out)
                groups.append(out["autoscaling_group_name"])
            applied.append(stack)
            outputs = apply_plan_destroy(stack, env, destroy=False, after_apply=after)
            assert outputs["autoscaling_group_name"].startswith("acme-ml-prod-")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(run, name, stack) for name, stack in stacks.items()]:
                future.result()
        # the dashboard reads every workload stack's state
        apply_plan_destroy(dashboard, env, after_apply=lambda out: check_dashboard(moto_server, out, groups))
    finally:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(destroy_with_data, stack, env) for stack in applied]:
                future.result()
        destroy_with_data(pipeline, env)
        destroy_with_data(foundation, env)
    assert moto_server.client("ec2").describe_placement_groups()["PlacementGroups"] == []
    assert (tmp_path / "terraform.acme-ml-production-aws-foundation.tfstate").exists()  # state beside the spec, not in cdktf.out


@pytest.mark.cdk
def test_cdk_deploy_applies_a_stack_through_the_cli(tmp_path, moto_server):
    """``cdktf deploy`` (cdktf pass) or ``cdktn deploy`` (cdktn pass) of the AWS foundation stack
    against moto, from the repository's main.py and cdktf.json, then destroy."""
    from aiinfra import cdk
    from tests.test_cdktf_cli import CLI, cli_env, project_dir

    cli = CLI
    env = cli_env({**os.environ, **moto_server.env(), "CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21"})
    spec = moto_spec(tmp_path, env)

    project = project_dir(tmp_path)
    env.update({"AIINFRA_SPEC": str(spec), "TF_CLI_ARGS_init": f"-plugin-dir={plugin_mirror()}"})
    stack = "acme-ml-production-aws-foundation"
    r = subprocess.run([str(cli), "deploy", stack, "--auto-approve", "--skip-provider-lock"], cwd=project, env=env, capture_output=True,
                       text=True, timeout=900)
    try:
        assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
        assert not (project / f"terraform.{stack}.tfstate").exists()  # not in the folder the CLI ran in: beside the spec
        state = json.loads((spec.parent / f"terraform.{stack}.tfstate").read_text())
        assert any(res["type"] == "aws_kms_key" for res in state["resources"])
        manifest = json.loads((project / "cdktf.out" / "stacks" / stack / "cdk.tf.json").read_text())
        assert manifest["//"]["metadata"]["version"] == {"cdktf": "0.21.0", "cdktn": "0.24.0"}[cdk.NAME]
        if cdk.NAME == "cdktn":
            node = subprocess.run(["node", "--version"], env=env, capture_output=True, text=True).stdout.strip()
            assert tuple(int(x) for x in node.lstrip("v").split(".")[:2]) >= (22, 19), node
    finally:
        subprocess.run([str(cli), "destroy", stack, "--auto-approve", "--skip-provider-lock"], cwd=project, env=env, capture_output=True,
                       text=True, timeout=900)


def test_a_reserved_workload_launches_into_its_capacity_reservation_and_validates(tmp_path):
    spec = tmp_path / "reserved.yaml"
    spec.write_text((ROOT / "examples" / "aws-only.yaml").read_text().replace(
        '    gpu_requirements: "16x A100"', '    gpu_requirements: "16x A100"\n    cloud: aws\n    reservation: cr-0123456789abcdef0\n'
        '    capacity_block: true', 1))
    stacks = synth(spec, tmp_path)
    stack = next(p for p in aws_stacks(stacks) if p.name.endswith("fraud-detection-training"))
    doc = json.loads((stack / "cdk.tf.json").read_text())
    (template,) = doc["resource"]["aws_launch_template"].values()
    assert template["capacity_reservation_specification"] == {"capacity_reservation_target": {"capacity_reservation_id": "cr-0123456789abcdef0"}}
    assert template["instance_market_options"] == {"market_type": "capacity-block"}
    (group,) = doc["resource"]["aws_autoscaling_group"].values()
    assert "mixed_instances_policy" not in group  # on-demand, into the reservation
    init(stack, backend=False)
    out = run_terraform(["validate", "-json"], stack)
    assert '"valid": true' in out.stdout, out.stdout
