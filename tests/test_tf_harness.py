"""The terraform/moto harness works: a hand-written cdk.tf.json-style stack validates, and applies,
re-plans empty and destroys against moto in server mode, with no moto-specific provider settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import tf_harness
from tests.tf_harness import (
    SKIP_NO_TERRAFORM,
    apply_plan_destroy,
    init,
    moto_server,  # noqa: F401  (session fixture)
    run_terraform,
    write_moto_override,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def stack_json(name: str) -> dict:
    """A small stack shaped like cdktf synth output; the provider block has only a region."""
    bucket = f"aiinfra-{name}-data"
    return {
        "//": {"metadata": {"stackName": name, "backend": "local"}},
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}},
            "backend": {"local": {"path": f"terraform.{name}.tfstate"}},
        },
        "provider": {"aws": [{"region": REGION, "default_tags": [{"tags": {"aiinfra:stack": name}}]}]},
        "resource": {
            "aws_kms_key": {"data_key": {
                "description": f"{name} data at rest",
                "enable_key_rotation": True,
                "deletion_window_in_days": 7,
            }},
            "aws_s3_bucket": {"data": {"bucket": bucket, "force_destroy": True}},
            "aws_s3_bucket_server_side_encryption_configuration": {"data": {
                "bucket": "${aws_s3_bucket.data.id}",
                "rule": [{
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": "${aws_kms_key.data_key.arn}",
                    },
                    "bucket_key_enabled": True,
                }],
            }},
            "aws_s3_bucket_public_access_block": {"data": {
                "bucket": "${aws_s3_bucket.data.id}",
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            }},
            "aws_s3_bucket_lifecycle_configuration": {"data": {
                "bucket": "${aws_s3_bucket.data.id}",
                "rule": [{
                    "id": "tiering",
                    "status": "Enabled",
                    "filter": [{"prefix": ""}],
                    "transition": [{"days": 30, "storage_class": "STANDARD_IA"}],
                    "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}],
                }],
            }},
            "aws_vpc": {"main": {"cidr_block": "10.42.0.0/16", "enable_dns_hostnames": True,
                                 "enable_dns_support": True}},
            "aws_subnet": {"a": {"vpc_id": "${aws_vpc.main.id}", "cidr_block": "10.42.1.0/24",
                                 "availability_zone": f"{REGION}a"}},
            "aws_security_group": {"nodes": {"name": f"{name}-nodes", "description": "GPU nodes",
                                             "vpc_id": "${aws_vpc.main.id}"}},
            "aws_vpc_security_group_ingress_rule": {"nodes_self": {
                "security_group_id": "${aws_security_group.nodes.id}",
                "referenced_security_group_id": "${aws_security_group.nodes.id}",
                "ip_protocol": "-1",
                "description": "node to node",
            }},
        },
        "output": {
            "bucket": {"value": "${aws_s3_bucket.data.id}"},
            "kms_key_arn": {"value": "${aws_kms_key.data_key.arn}"},
            "security_group_id": {"value": "${aws_security_group.nodes.id}"},
            "subnet_id": {"value": "${aws_subnet.a.id}"},
        },
    }


def write_stack(stack_dir: Path, name: str) -> Path:
    stack_dir.mkdir(parents=True, exist_ok=True)
    path = stack_dir / "cdk.tf.json"
    path.write_text(json.dumps(stack_json(name), indent=2))
    return path


# ----------------------------------------------------------------------------- no terraform needed


def test_skip_reason_is_one_line_when_present():
    reason = tf_harness.skip_reason()
    assert reason is None or "\n" not in reason


def test_plugin_dir_env_accepts_root_or_binary(monkeypatch, tmp_path):
    plat = tf_harness._platform()
    binary = tmp_path / "registry.terraform.io/hashicorp/aws/5.100.0" / plat / "terraform-provider-aws_v5.100.0_x5"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    for value in (tmp_path, tmp_path / "registry.terraform.io", binary):
        monkeypatch.setenv(tf_harness.PLUGIN_DIR_ENV, str(value))
        assert tf_harness.plugin_mirror() == tmp_path
    assert tf_harness.aws_provider_versions() == ["5.100.0"]
    monkeypatch.setenv(tf_harness.PLUGIN_DIR_ENV, str(tmp_path / "nowhere"))
    assert tf_harness.plugin_mirror() is None  # an explicit, wrong setting is not second-guessed
    reason = tf_harness.skip_reason()
    assert reason and tf_harness.PLUGIN_DIR_ENV in reason and "\n" not in reason


def test_flags_added_where_accepted():
    assert tf_harness._with_flags(["apply", "-auto-approve"]) == ["apply", "-no-color", "-input=false", "-auto-approve"]
    assert tf_harness._with_flags(["validate"]) == ["validate", "-no-color"]
    assert tf_harness._with_flags(["-chdir=x", "plan", "-input=true"]) == ["-chdir=x", "plan", "-no-color", "-input=true"]
    assert tf_harness._with_flags(["version"]) == ["version"]


def test_moto_override_matches_declared_aliases(tmp_path):
    doc = stack_json("ovr")
    doc["provider"]["aws"] += [{"alias": "west", "region": "us-west-2"}, {"alias": "noregion"}]
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc))
    path = write_moto_override(tmp_path, REGION)
    assert path.name == "zz_moto_override.tf.json"
    blocks = json.loads(path.read_text())["provider"]["aws"]
    assert [b.get("alias") for b in blocks] == [None, "west", "noregion"]
    assert all(b["skip_credentials_validation"] for b in blocks)
    assert [b.get("region") for b in blocks] == [None, None, REGION]  # declared regions are kept
    # No provider "aws" block to override: a plain provider file is written instead.
    del doc["provider"]
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc))
    path = write_moto_override(tmp_path, REGION)
    assert path.name == "zz_moto_provider.tf.json" and not (tmp_path / "zz_moto_override.tf.json").exists()
    assert json.loads(path.read_text())["provider"]["aws"][0]["region"] == REGION


# ----------------------------------------------------------------------------- real terraform


@SKIP_NO_TERRAFORM
def test_validate(tmp_path):
    write_stack(tmp_path, "validate")
    init(tmp_path, backend=False)
    out = run_terraform(["validate"], tmp_path)
    assert "The configuration is valid" in out.stdout
    # The optional moto override is accepted by terraform on top of the synthesized JSON.
    write_moto_override(tmp_path, REGION)
    assert "The configuration is valid" in run_terraform(["validate"], tmp_path).stdout
    # Failures carry the command and the tail of terraform's output (backend was not initialised).
    assert run_terraform(["plan"], tmp_path, check=False).returncode != 0
    with pytest.raises(AssertionError, match=r"(?s)`terraform plan -no-color -input=false` failed.*Backend initialization required"):
        run_terraform(["plan"], tmp_path)


@SKIP_NO_TERRAFORM
def test_apply_plan_destroy_against_moto(tmp_path, moto_server):
    moto_server.reset()
    stack = tmp_path / "stacks" / "harness"
    write_stack(stack, "harness")  # deliberately no override: env vars alone must suffice
    s3, ec2 = moto_server.client("s3"), moto_server.client("ec2")
    seen = {}

    def inspect(outputs):
        bucket = outputs["bucket"]
        sse = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert sse["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == outputs["kms_key_arn"]
        rule = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
        assert rule["Transitions"][0] == {"Days": 30, "StorageClass": "STANDARD_IA"}
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(pab.values())
        sg = outputs["security_group_id"]
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]
        ingress = [r for r in rules if not r["IsEgress"]]
        assert [(r.get("ReferencedGroupInfo", {}).get("GroupId"), r.get("Description")) for r in ingress] == [(sg, "node to node")]
        seen.update(outputs)

    outputs = apply_plan_destroy(stack, moto_server.env(), after_apply=inspect)

    assert seen == outputs
    assert outputs["bucket"] == "aiinfra-harness-data"
    assert outputs["kms_key_arn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert (stack / "terraform.harness.tfstate").exists()  # the local backend was really used
    assert outputs["bucket"] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # destroyed


def test_patched_moto_reads_back_s3_eventbridge_notifications(moto_server):
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="aiinfra-harness-events")
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(Bucket="aiinfra-harness-events")
    s3.put_bucket_notification_configuration(Bucket="aiinfra-harness-events", NotificationConfiguration={"EventBridgeConfiguration": {}})
    got = s3.get_bucket_notification_configuration(Bucket="aiinfra-harness-events")
    assert got["EventBridgeConfiguration"] == {}
    s3.delete_bucket(Bucket="aiinfra-harness-events")


def test_moto_server_lifecycle():
    with tf_harness.MotoServer() as server:
        env = server.env()
        assert env["AWS_ENDPOINT_URL"] == server.endpoint and server.endpoint.startswith("http://127.0.0.1:")
        ec2 = server.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        sg = ec2.create_security_group(GroupName="g", Description="g", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg, "Description": "self"}]}])
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]
        # fidelity patch: moto 5.2.5 alone drops Description on group-referencing rules
        assert [r.get("Description") for r in rules if not r["IsEgress"]] == ["self"]
        server.client("s3").create_bucket(Bucket="reset-me")
        server.reset()
        assert server.client("s3").list_buckets()["Buckets"] == []
        proc = server.proc
    assert proc is not None and proc.poll() is not None


def test_moto_start_failure_is_one_line(monkeypatch):
    monkeypatch.setattr(tf_harness, "_moto_command", lambda patched=True: ["/bin/false"])
    with pytest.raises(tf_harness.MotoStartError) as info:
        tf_harness.MotoServer(startup_timeout=5).start()
    assert "\n" not in str(info.value) and "exited with code 1" in str(info.value)


# ----------------------------------------------------------------------------- moto gaps the harness fills
# Each stack below is a minimal hand-written main.tf.json around one kind of resource that moto 5.2.5
# lacks or reads back differently from AWS (see _MOTO_PATCHES); apply, an empty second plan and destroy
# must all pass against the patched server. Names are unique per test: the server is shared.


def small_stack(name: str, resources: dict, outputs: dict | None = None) -> dict:
    """A main.tf.json: the provider (region and default tags, as the stacks have) and ``resources``."""
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}}},
        "provider": {"aws": [{"region": REGION, "default_tags": [{"tags": {"aiinfra:stack": name}}]}]},
        "resource": resources,
        "output": {k: {"value": v} for k, v in (outputs or {}).items()},
    }


def write_small_stack(stack_dir: Path, name: str, resources: dict, outputs: dict | None = None) -> Path:
    stack_dir.mkdir(parents=True, exist_ok=True)
    (stack_dir / "main.tf.json").write_text(json.dumps(small_stack(name, resources, outputs), indent=2))
    return stack_dir


def moto_ami(server) -> str:
    """An AMI id moto knows (its bundled Amazon Linux 2 images)."""
    images = server.client("ec2").describe_images(
        Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*-x86_64-gp2"]}])["Images"]
    assert images, "moto has no Amazon Linux 2 AMI"
    return sorted(i["ImageId"] for i in images)[0]


def gpu_group(name: str, ami: str, **group: object) -> dict:
    """A launch template and an empty Auto Scaling group (min 0, max 2, desired 0) using it."""
    return {
        "aws_launch_template": {"gpu": {"name": name, "image_id": ami, "instance_type": "p4d.24xlarge",
                                        **({"placement": [{"group_name": group.pop("lt_placement_group")}]}
                                           if "lt_placement_group" in group else {})}},
        "aws_autoscaling_group": {"gpu": {
            "name": name, "min_size": 0, "max_size": 2, "desired_capacity": 0,
            "availability_zones": [f"{REGION}a"], "wait_for_capacity_timeout": "0",
            "launch_template": [{"id": "${aws_launch_template.gpu.id}", "version": "$Latest"}], **group}},
    }


def test_every_moto_patch_applies():
    """A moto upgrade that changes what a patch relies on makes it skip itself; say so here."""
    import subprocess
    import sys

    prelude = tf_harness._MOTO_PATCHES.split("\nfrom moto.server import main")[0]
    r = subprocess.run([sys.executable, "-c", prelude], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "tf_harness: moto patch" not in r.stderr, r.stderr


def test_an_apply_refuses_a_stack_whose_state_would_sit_in_the_repository(tmp_path):
    """A CDK's default local backend writes terraform.<stack>.tfstate in the working directory (the repository,
    under make test, for every test and both CDK passes at once): an apply of such a stack is refused before
    terraform runs, and a stack with its state in its own folder is not."""
    stack = tmp_path / "stack"
    stack.mkdir()
    shared = Path(tf_harness.__file__).resolve().parent.parent / "terraform.shared.tfstate"
    (stack / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": {"local": {"path": str(shared)}}}}))
    with pytest.raises(AssertionError, match="is in the repository"):
        tf_harness.run_terraform(["apply", "-auto-approve"], stack)
    (stack / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": {"local": {"path": str(tmp_path / "own.tfstate")}}}}))
    tf_harness._own_state(stack)  # no error


def test_a_retried_route_create_and_default_egress_revoke_are_done_other_conflicts_still_fail(moto_server):
    """The provider's retry of a CreateRoute / RevokeSecurityGroupEgress whose first answer was lost (the
    first one was done) is answered as done; a different route to the same destination, or revoking a
    rule the group never had, still fails as EC2 fails it."""
    from botocore.exceptions import ClientError

    ec2 = moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    for _ in range(2):  # the first, then its retry
        assert ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)["Return"]
    routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    assert [r.get("GatewayId") for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"] == [igw]
    other = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    with pytest.raises(ClientError) as conflict:
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=other)
    assert conflict.value.response["Error"]["Code"] == "RouteAlreadyExists"

    group = ec2.create_security_group(GroupName="aiinfra-harness-retried-revoke", Description="d", VpcId=vpc)["GroupId"]
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    for _ in range(2):
        ec2.revoke_security_group_egress(GroupId=group, IpPermissions=everything)
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"] == []
    with pytest.raises(ClientError) as missing:
        ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                                                       "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert missing.value.response["Error"]["Code"] == "InvalidPermission.NotFound"


def test_a_retried_create_listener_answers_the_listener_it_made(moto_server):
    """CreateListener is idempotent on ELB ("If you attempt to create multiple listeners with the same settings, each
    call succeeds"): the provider's retry, its first answer lost under load, gets the same listener, never a second
    one on the port (moto made one); another port is another listener."""
    ec2, elb = moto_server.client("ec2"), moto_server.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.78.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    lb = elb.create_load_balancer(Name="aiinfra-harness-listener", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    group = elb.create_target_group(Name="aiinfra-harness-listener", Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    forward = [{"Type": "forward", "TargetGroupArn": group}]
    arns = [elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=8080, DefaultActions=forward)["Listeners"][0]["ListenerArn"]
            for _ in range(2)]
    assert arns[0] == arns[1]
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=8081, DefaultActions=forward)
    assert sorted(x["Port"] for x in elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]) == [8080, 8081]


def test_a_retried_launch_template_delete_is_answered_as_ec2_does(moto_server):
    """The aws provider retries a DeleteLaunchTemplate whose answer timed out (a loaded machine); the
    first one deleted it. EC2 answers the retry InvalidLaunchTemplateId.NotFound, which the provider's
    delete takes as done; moto's InvalidLaunchTemplateName.NotFoundException failed the destroy."""
    from botocore.exceptions import ClientError

    ec2 = moto_server.client("ec2")
    tid = ec2.create_launch_template(LaunchTemplateName="aiinfra-harness-retried-delete",
                                     LaunchTemplateData={"InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    assert ec2.delete_launch_template(LaunchTemplateId=tid)["LaunchTemplate"]["LaunchTemplateId"] == tid
    with pytest.raises(ClientError) as again:
        ec2.delete_launch_template(LaunchTemplateId=tid)
    assert again.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.NotFound"
    # and the template is gone, as the first delete left it
    assert ec2.describe_launch_templates(LaunchTemplateIds=[tid]).get("LaunchTemplates", []) == []


def test_patched_moto_serves_placement_groups(moto_server):
    from botocore.exceptions import ClientError

    ec2 = moto_server.client("ec2")
    made = ec2.create_placement_group(GroupName="aiinfra-harness-pg", Strategy="cluster", TagSpecifications=[
        {"ResourceType": "placement-group", "Tags": [{"Key": "team", "Value": "ml"}]}])["PlacementGroup"]
    ec2.create_placement_group(GroupName="aiinfra-harness-pg-spread", Strategy="spread")
    ec2.create_placement_group(GroupName="aiinfra-harness-pg-part", Strategy="partition", PartitionCount=3)
    try:
        gid = made["GroupId"]
        assert made == {"GroupName": "aiinfra-harness-pg", "GroupId": gid, "State": "available", "Strategy": "cluster",
                        "GroupArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:placement-group/aiinfra-harness-pg",
                        "Tags": [{"Key": "team", "Value": "ml"}]}
        assert gid.startswith("pg-") and len(gid) == 20

        def names(**kw):
            return sorted(g["GroupName"] for g in ec2.describe_placement_groups(**kw)["PlacementGroups"])

        assert names(GroupNames=["aiinfra-harness-pg"]) == names(GroupIds=[gid]) == ["aiinfra-harness-pg"]
        assert names(Filters=[{"Name": "group-id", "Values": [gid]}]) == ["aiinfra-harness-pg"]
        assert names(Filters=[{"Name": "group-name", "Values": ["aiinfra-harness-pg-*"]}]) == [
            "aiinfra-harness-pg-part", "aiinfra-harness-pg-spread"]
        assert names(Filters=[{"Name": "tag:team", "Values": ["ml"]}]) == ["aiinfra-harness-pg"]
        by_name = {g["GroupName"]: g for g in ec2.describe_placement_groups(
            GroupNames=["aiinfra-harness-pg-spread", "aiinfra-harness-pg-part"])["PlacementGroups"]}
        assert by_name["aiinfra-harness-pg-spread"]["SpreadLevel"] == "rack" and "PartitionCount" not in by_name["aiinfra-harness-pg-spread"]
        assert by_name["aiinfra-harness-pg-part"]["PartitionCount"] == 3 and "SpreadLevel" not in by_name["aiinfra-harness-pg-part"]
        # tags by group id through the ordinary EC2 tag calls
        ec2.create_tags(Resources=[gid], Tags=[{"Key": "stage", "Value": "prod"}])
        ec2.delete_tags(Resources=[gid], Tags=[{"Key": "team"}])
        assert ec2.describe_placement_groups(GroupIds=[gid])["PlacementGroups"][0]["Tags"] == [{"Key": "stage", "Value": "prod"}]
        for call, code in [(lambda: ec2.describe_placement_groups(GroupNames=["aiinfra-harness-nope"]), "InvalidPlacementGroup.Unknown"),
                           (lambda: ec2.delete_placement_group(GroupName="aiinfra-harness-nope"), "InvalidPlacementGroup.Unknown"),
                           (lambda: ec2.describe_placement_groups(GroupIds=["sg-123"]), "InvalidPlacementGroupId.Malformed"),
                           (lambda: ec2.create_placement_group(GroupName="aiinfra-harness-pg", Strategy="cluster"),
                            "InvalidPlacementGroup.Duplicate")]:
            with pytest.raises(ClientError) as info:
                call()
            assert info.value.response["Error"]["Code"] == code
    finally:
        for name in ("aiinfra-harness-pg", "aiinfra-harness-pg-spread", "aiinfra-harness-pg-part"):
            ec2.delete_placement_group(GroupName=name)
    assert names(Filters=[{"Name": "group-name", "Values": ["aiinfra-harness-pg*"]}]) == []
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [gid]}])["Tags"] == []


@SKIP_NO_TERRAFORM
def test_cluster_placement_group_with_launch_template_and_group(tmp_path, moto_server):
    from botocore.exceptions import ClientError

    name = "aiinfra-harness-cluster"
    resources = {
        "aws_placement_group": {"gpu": {"name": name, "strategy": "cluster", "tags": {"aiinfra:role": "multi-node"}}},
        **gpu_group(name, moto_ami(moto_server), lt_placement_group="${aws_placement_group.gpu.name}",
                    placement_group="${aws_placement_group.gpu.id}"),
    }
    stack = write_small_stack(tmp_path, "placement", resources, {
        "placement_group_id": "${aws_placement_group.gpu.placement_group_id}", "arn": "${aws_placement_group.gpu.arn}"})
    ec2, asg = moto_server.client("ec2"), moto_server.client("autoscaling")

    def inspect(outputs):
        [group] = ec2.describe_placement_groups(GroupNames=[name])["PlacementGroups"]
        assert (group["Strategy"], group["State"], group["GroupId"]) == ("cluster", "available", outputs["placement_group_id"])
        assert {t["Key"]: t["Value"] for t in group["Tags"]} == {"aiinfra:role": "multi-node", "aiinfra:stack": "placement"}
        assert ec2.describe_placement_groups(Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}])["PlacementGroups"] == [group]
        [version] = ec2.describe_launch_template_versions(LaunchTemplateName=name)["LaunchTemplateVersions"]
        assert version["LaunchTemplateData"]["Placement"] == {"GroupName": name}
        assert "TagSpecifications" not in version["LaunchTemplateData"]  # the template's own tags stay out of its data
        [g] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        assert g["PlacementGroup"] == name

    outputs = apply_plan_destroy(stack, moto_server.env(), after_apply=inspect)

    assert outputs["arn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:placement-group/{name}"
    with pytest.raises(ClientError, match="InvalidPlacementGroup.Unknown"):
        ec2.describe_placement_groups(GroupNames=[name])
    assert ec2.describe_placement_groups(Filters=[{"Name": "group-name", "Values": [name]}])["PlacementGroups"] == []


@SKIP_NO_TERRAFORM
def test_autoscaling_schedules_read_back_every_argument(tmp_path, moto_server):
    import datetime

    name = "aiinfra-harness-runs"
    # A start time one week ahead, on the hour: AWS refuses one in the past.
    first = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    start_time = first.strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {"autoscaling_group_name": "${aws_autoscaling_group.gpu.name}", "time_zone": "Etc/UTC", "min_size": 0, "max_size": 2}
    resources = {
        **gpu_group(name, moto_ami(moto_server)),
        "aws_autoscaling_schedule": {
            "start": {"scheduled_action_name": f"{name}-start", "recurrence": "0 6 * * 6", "desired_capacity": 2,
                      "start_time": start_time, **common},
            "stop": {"scheduled_action_name": f"{name}-hard-stop", "recurrence": "0 6 * * 0", "desired_capacity": 0, **common},
        },
    }
    stack = write_small_stack(tmp_path, "schedule", resources, {
        "start_arn": "${aws_autoscaling_schedule.start.arn}", "stop_arn": "${aws_autoscaling_schedule.stop.arn}"})
    asg = moto_server.client("autoscaling")

    def inspect(outputs):
        actions = {a["ScheduledActionName"]: a for a in asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]}
        assert set(actions) == {f"{name}-start", f"{name}-hard-stop"}
        start, stop = actions[f"{name}-start"], actions[f"{name}-hard-stop"]
        assert (start["Recurrence"], start["TimeZone"], start["MinSize"], start["MaxSize"], start["DesiredCapacity"]) == ("0 6 * * 6", "Etc/UTC", 0, 2, 2)
        assert (stop["Recurrence"], stop["TimeZone"], stop["MinSize"], stop["MaxSize"], stop["DesiredCapacity"]) == ("0 6 * * 0", "Etc/UTC", 0, 2, 0)
        assert start["StartTime"] == first
        for key, action in (("start_arn", start), ("stop_arn", stop)):
            assert action["ScheduledActionARN"] == outputs[key]
            assert outputs[key].startswith(f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scheduledUpdateGroupAction:")
            assert outputs[key].endswith(f":autoScalingGroupName/{name}:scheduledActionName/{action['ScheduledActionName']}")

    apply_plan_destroy(stack, moto_server.env(), after_apply=inspect)

    assert asg.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"] == []


@SKIP_NO_TERRAFORM
def test_service_linked_role_for_group_and_key_policy(tmp_path, moto_server):
    from botocore.exceptions import ClientError

    name, suffix = "aiinfra-harness-slr", "aiinfra-test"
    role_name = f"AWSServiceRoleForAutoScaling_{suffix}"
    key_use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministersKeyThroughIam", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "AutoScalingEncryptsVolumes", "Effect": "Allow", "Principal": {"AWS": "${aws_iam_service_linked_role.asg.arn}"},
         "Action": key_use, "Resource": "*"},
    ]}
    resources = {
        "aws_iam_service_linked_role": {"asg": {"aws_service_name": "autoscaling.amazonaws.com", "custom_suffix": suffix,
                                                "description": f"EC2 Auto Scaling for groups encrypting with {suffix}"}},
        # The policy names the role, so the key is created after it (a missing principal is refused by KMS).
        "aws_kms_key": {"data": {"description": suffix, "enable_key_rotation": True, "deletion_window_in_days": 7,
                                 "key_usage": "ENCRYPT_DECRYPT", "customer_master_key_spec": "SYMMETRIC_DEFAULT",
                                 "policy": json.dumps(policy)}},
        **gpu_group(name, moto_ami(moto_server), service_linked_role_arn="${aws_iam_service_linked_role.asg.arn}"),
    }
    stack = write_small_stack(tmp_path, "slr", resources, {
        "role_arn": "${aws_iam_service_linked_role.asg.arn}", "key_id": "${aws_kms_key.data.key_id}"})
    iam, kms, asg = moto_server.client("iam"), moto_server.client("kms"), moto_server.client("autoscaling")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/{role_name}"

    def inspect(outputs):
        assert outputs["role_arn"] == role_arn
        role = iam.get_role(RoleName=role_name)["Role"]
        assert (role["Arn"], role["Path"]) == (role_arn, "/aws-service-role/autoscaling.amazonaws.com/")
        [g] = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        assert g["ServiceLinkedRoleARN"] == role_arn
        key_policy = json.loads(kms.get_key_policy(KeyId=outputs["key_id"], PolicyName="default")["Policy"])
        assert key_policy["Statement"][1]["Principal"] == {"AWS": role_arn}

    apply_plan_destroy(stack, moto_server.env(), after_apply=inspect)

    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.get_role(RoleName=role_name)


@SKIP_NO_TERRAFORM
def test_acm_certificate_with_dns_validation(tmp_path, moto_server):
    domains = ["api.aiinfra-harness.example", "www.aiinfra-harness.example"]
    resources = {
        "aws_acm_certificate": {"api": {"domain_name": domains[0], "subject_alternative_names": domains[1:], "validation_method": "DNS",
                                        "key_algorithm": "RSA_2048", "lifecycle": [{"create_before_destroy": True}]}},
        # No hosted zone: the records are an output and validation waits until ACM issues the certificate
        # (moto does after MOTO_ACM_VALIDATION_WAIT seconds, 1 with the harness).
        "aws_acm_certificate_validation": {"api": {"certificate_arn": "${aws_acm_certificate.api.arn}", "timeouts": {"create": "2m"}}},
    }
    stack = write_small_stack(tmp_path, "certificate", resources, {
        "arn": "${aws_acm_certificate_validation.api.certificate_arn}",
        "records": "${aws_acm_certificate.api.domain_validation_options}"})
    acm = moto_server.client("acm")

    def inspect(outputs):
        cert = acm.describe_certificate(CertificateArn=outputs["arn"])["Certificate"]
        assert (cert["Status"], cert["DomainName"], cert["Type"]) == ("ISSUED", domains[0], "AMAZON_ISSUED")
        assert cert["KeyAlgorithm"].replace("-", "_") == "RSA_2048"  # RSA_2048 in the API's enum, RSA-2048 in AWS's examples

    outputs = apply_plan_destroy(stack, moto_server.env(), after_apply=inspect)

    records = {r["domain_name"]: r for r in outputs["records"]}
    assert set(records) == set(domains)
    for domain, record in records.items():
        assert record["resource_record_type"] == "CNAME"
        assert record["resource_record_name"].startswith("_") and record["resource_record_name"].endswith(f".{domain}.")
        assert record["resource_record_value"].endswith(".acm-validations.aws.")
    assert outputs["arn"] not in [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]]


def test_a_retried_create_web_acl_answers_the_acl_it_made_and_a_different_one_still_clashes(moto_server):
    """tests/moto_patches/wafv2.py: the SDK's retry of a CreateWebACL whose first attempt timed out gets that ACL; another
    ACL under a taken name in the same scope still fails as WAF does."""
    from botocore.exceptions import ClientError

    waf = moto_server.client("wafv2")
    acl = dict(Name="retried", Scope="REGIONAL", DefaultAction={"Allow": {}}, Description="edge",
               VisibilityConfig={"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "retried"})
    first = waf.create_web_acl(**acl)["Summary"]["Id"]
    assert waf.create_web_acl(**acl)["Summary"]["Id"] == first
    with pytest.raises(ClientError, match="DuplicateItem"):
        waf.create_web_acl(**{**acl, "Description": "another"})


def test_a_later_attempt_of_an_answered_call_gets_its_first_answer_and_a_new_call_still_clashes(moto_server):
    """The one-at-a-time wrapper: an SDK retry (same amz-sdk-invocation-id, attempt 2) of a CreateAlias the server
    already did is answered with that first answer, not AlreadyExists (a cdktn CI apply failed so); the same alias
    asked for by a new call still fails as KMS does; a first attempt that failed is retried for real."""
    from botocore.exceptions import ClientError

    kms = moto_server.client("kms")
    key = kms.create_key(Description="retried alias")["KeyMetadata"]["KeyId"]
    call = {"id": "aiinfra-harness-call-1", "attempt": 1}

    def as_call(request, **_):
        request.headers["amz-sdk-invocation-id"] = call["id"]
        request.headers["amz-sdk-request"] = f"attempt={call['attempt']}; max=25"
    kms.meta.events.register_last("before-send.kms.CreateAlias", as_call)

    kms.create_alias(AliasName="alias/aiinfra-harness-retried", TargetKeyId=key)
    call["attempt"] = 2
    kms.create_alias(AliasName="alias/aiinfra-harness-retried", TargetKeyId=key)  # the retry: answered as done
    aliases = [a for a in kms.list_aliases(KeyId=key)["Aliases"] if a["AliasName"] == "alias/aiinfra-harness-retried"]
    assert len(aliases) == 1
    call.update(id="aiinfra-harness-call-2", attempt=1)
    with pytest.raises(ClientError, match="AlreadyExists"):
        kms.create_alias(AliasName="alias/aiinfra-harness-retried", TargetKeyId=key)
    call["attempt"] = 2  # a retry of a call whose first attempt failed runs again (and fails again here)
    with pytest.raises(ClientError, match="AlreadyExists"):
        kms.create_alias(AliasName="alias/aiinfra-harness-retried", TargetKeyId=key)
    kms.delete_alias(AliasName="alias/aiinfra-harness-retried")
    call.update(id="aiinfra-harness-call-3", attempt=1)
    kms.create_alias(AliasName="alias/aiinfra-harness-retried", TargetKeyId=key)
    kms.delete_alias(AliasName="alias/aiinfra-harness-retried")
