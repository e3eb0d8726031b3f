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
