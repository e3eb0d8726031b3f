"""Issue 25, the plan / construct side: peer rules for every run over several nodes (a 5-node
Spark run included, on both clouds), spot on collective groups (no capacity rebalance on AWS, one
compact placement policy the Spot and on-demand groups can both be placed in on GCP, a plan that
says what a spot loss does), and node hardening (IMDSv2 hop limit 1 for batch nodes, the node role
may only scale its own group to zero, images resolved once and pinned)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra.cdk import TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs._tf import AWS as AWS_PROVIDER
from aiinfra.constructs._tf import GOOGLE, provider
from aiinfra.constructs.aws import GpuInstanceGroup, SpotPool
from aiinfra.constructs.gcp import CompactPlacement
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from tests.conftest import ROOT
from tests.gcp_schema import check_stack
from tests.tf_harness import SKIP_NO_TERRAFORM, apply_plan_destroy, init, moto_server, run_terraform  # noqa: F401

SPEC = """
project: acme-ml
environment: production
clouds:
  aws:
    region: us-east-1
    certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666
  gcp: {region: us-central1, project: acme-ml-prod}
workload_inventory:
  - name: etl-aws                 # 5 TB, one node a TiB: 5 Spark nodes (up to 10)
    type: data_processing
    framework: dask                # not Spark: a group of nodes of its own (Spark runs on EMR / Dataproc)
    dataset_size: "5TB"
    training_frequency: daily
    spot: true
    cloud: aws
  - name: etl-gcp
    type: data_processing
    framework: dask                # not Spark: a group of nodes of its own (Spark runs on EMR / Dataproc)
    dataset_size: "5TB"
    training_frequency: daily
    spot: true
    cloud: gcp
  - name: serve-aws
    type: inference
    model_size: "100MB"
    expected_qps: "100"
    cloud: aws
  - name: train-aws               # one node
    type: training
    gpu_requirements: "1x A10G"
    training_frequency: weekly
    estimated_runtime: "2 hours"
    spot: true
    cloud: aws
  - name: train-gcp               # two A3 nodes, compact placement, Spot with an on-demand fallback group
    type: training
    gpu_requirements: "16x H100"
    training_frequency: weekly
    estimated_runtime: "12 hours"
    spot: true
    cloud: gcp
"""
AWS = "acme-ml-production-aws-"
GCP = "acme-ml-production-gcp-"
BOOT_AWS = ROOT / "src" / "aiinfra" / "boot" / "aws.sh"


@pytest.fixture(scope="module")
def plan():
    p = make_plan(load_spec_text(SPEC))
    assert not p.errors, p.errors
    return {w.name: w for w in p.workloads}, p


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("peers")
    (root / "spec.yaml").write_text(SPEC)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", "spec.yaml", "--out", "cdktf.out"], cwd=root, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return root / "cdktf.out" / "stacks", r.stderr


def stack(synthesized, name: str) -> dict:
    return json.loads((synthesized[0] / name / "cdk.tf.json").read_text())


def each(doc: dict, rtype: str) -> dict[str, dict]:
    return (doc.get("resource") or {}).get(rtype, {})


def one(doc: dict, rtype: str) -> tuple[str, dict]:
    (item,) = each(doc, rtype).items()
    return item


def image_pin(doc: dict) -> tuple[str, dict]:
    """The terraform_data that pins the node image (not stacks/state.py's awaiting-<stack> stand-ins)."""
    (item,) = [(k, v) for k, v in each(doc, "terraform_data").items() if not k.startswith("awaiting")]
    return item


# ---- the plan ----------------------------------------------------------------------------------

def test_a_five_node_spark_run_is_collective_without_becoming_multi_node_training(plan):
    by_name, p = plan
    for name in ("etl-aws", "etl-gcp"):
        w = by_name[name]
        assert (w.nodes, w.collective) == (5, True)
        # what multi_node drives stays training-only: no interconnect, no EFA, no compact placement
        assert (w.multi_node, w.interconnect, w.efa_interfaces_per_node, w.gpu_nics_per_node, w.placement) == (False, "", 0, 0, "none")
    assert (by_name["train-gcp"].collective, by_name["train-gcp"].multi_node) == (True, True)
    assert not by_name["train-aws"].collective and not by_name["serve-aws"].collective
    segmentation = {s.target: s.detail for s in p.security if s.control == "segmentation"}
    assert "in from its own nodes (collective traffic); out HTTPS and its own nodes only" in segmentation["etl-aws"]
    assert "in from its own nodes" in segmentation["etl-gcp"]
    assert "in from nothing" in segmentation["train-aws"]
    assert p.to_dict()["workloads"][0]["collective"] is True  # in the plan JSON (docs/plan-json.md)


def test_the_plan_says_what_a_spot_loss_does_to_a_collective_run(plan):
    by_name, _ = plan
    for name in ("etl-aws", "etl-gcp", "train-gcp"):
        why = by_name[name].reasons["capacity"]
        assert "replaces" not in why and "before its interruption" not in why, why
        assert "a reclaimed node ends the attempt on all of them: the run restarts from its last checkpoint" in why
        assert "spends one retry" in why
    assert "replaces a node before its interruption (capacity rebalance)" in by_name["train-aws"].reasons["capacity"]


# ---- AWS: peers, capacity rebalance, hop limit -------------------------------------------------

def security_group_only(doc: dict) -> dict:
    """The workload stack's node security group and its rules, in a stack of their own with a VPC
    standing in for the foundation's (the workload stack reads it from the foundation's state)."""
    resources: dict = {"aws_vpc": {"stand_in": {"cidr_block": "10.0.0.0/16"}}}
    for rtype in ("aws_security_group", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        picked = {k: v for k, v in each(doc, rtype).items() if k.startswith("node-sg_")}
        if picked:  # Terraform refuses an empty resource type
            # the foundation's VPC id, read from its state (directly, or through stacks/state.py's guarded read)
            resources[rtype] = json.loads(re.sub(r"\$\{(data\.terraform_remote_state|local\.cross-stack-reference-input)[^}]*vpc[^}]*id\}",
                                                 "${aws_vpc.stand_in.id}", json.dumps(picked)))
    assert "terraform_remote_state" not in json.dumps(resources) and "cross-stack" not in json.dumps(resources)
    return {"terraform": {"required_providers": {"aws": doc["terraform"]["required_providers"]["aws"]}},
            "provider": {"aws": [{"region": "us-east-1"}]}, "resource": resources}


@SKIP_NO_TERRAFORM
def test_a_five_node_spark_group_on_aws_admits_and_reaches_itself(synthesized, tmp_path, moto_server):  # noqa: F811
    """The etl-aws workload stack's own security group, applied against the local AWS API and read
    back with boto3: in from itself (all protocols), out to itself and HTTPS, nothing else."""
    doc = stack(synthesized, f"{AWS}etl-aws")
    (tmp_path / "cdk.tf.json").write_text(json.dumps(security_group_only(doc)))
    (_, sg), = each(doc, "aws_security_group").items()

    def check(outputs: dict) -> None:
        ec2 = moto_server.client("ec2")
        (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [sg["name"]]}])["SecurityGroups"]
        gid = group["GroupId"]

        def rules(permissions):
            return sorted((p["IpProtocol"], p.get("FromPort"), tuple(sorted(x["GroupId"] for x in p.get("UserIdGroupPairs", []))),
                           tuple(sorted(r["CidrIp"] for r in p.get("IpRanges", [])))) for p in permissions)
        assert rules(group["IpPermissions"]) == [("-1", None, (gid,), ())]
        assert rules(group["IpPermissionsEgress"]) == sorted([("-1", None, (gid,), ()), ("tcp", 443, (), ("0.0.0.0/0",))])

    apply_plan_destroy(tmp_path, moto_server.env(), after_apply=check, timeout=300)


def test_a_collective_spot_group_on_aws_has_no_capacity_rebalance(synthesized):
    _, etl = one(stack(synthesized, f"{AWS}etl-aws"), "aws_autoscaling_group")
    assert etl["capacity_rebalance"] is False and "mixed_instances_policy" in etl
    _, single = one(stack(synthesized, f"{AWS}train-aws"), "aws_autoscaling_group")
    assert single["capacity_rebalance"] is True  # independent nodes keep it


def test_imds_hop_limit_is_one_on_batch_nodes_and_two_for_the_bridged_serving_container(synthesized):
    hops = {name: one(stack(synthesized, f"{AWS}{name}"), "aws_launch_template")[1]["metadata_options"]["http_put_response_hop_limit"]
            for name in ("etl-aws", "train-aws", "serve-aws")}
    assert hops == {"etl-aws": 1, "train-aws": 1, "serve-aws": 2}


# ---- AWS: the node role's resize permission -----------------------------------------------------

def condition_holds(condition: dict, context: dict[str, float]) -> bool:
    """IAM's reading of a Condition block with the operators the policy uses: every operator and
    key must hold; a key missing from the request fails NumericEquals; Null "true" holds only when
    the key is missing (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)."""
    for op, keys in condition.items():
        for key, want in keys.items():
            wants = want if isinstance(want, list) else [want]
            if op == "NumericEquals":
                if key not in context or not any(float(context[key]) == float(w) for w in wants):
                    return False
            elif op == "Null":
                if (key not in context) != (str(wants[0]).lower() == "true"):
                    return False
            else:
                raise AssertionError(f"operator {op} not modelled here")
    return True


def boot_autoscaling_writes() -> list[list[str]]:
    """Every ``aws autoscaling`` call in the AWS boot adapter that is not a describe, as argv."""
    calls = []
    for line in BOOT_AWS.read_text().splitlines():
        code = line.split("#", 1)[0]
        if re.search(r"\baws autoscaling ", code):
            argv = shlex.split(code[code.index("aws autoscaling"):].split("|", 1)[0].rstrip("\\ "))
            if not argv[2].startswith("describe-"):
                calls.append(argv)
    return calls


def test_the_node_role_may_only_scale_its_own_group_to_zero_the_way_the_boot_does(synthesized):
    doc = stack(synthesized, f"{AWS}etl-aws")
    statements = [s for p in each(doc, "aws_iam_role_policy").values() for s in json.loads(p["policy"])["Statement"]]
    writes = [s for s in statements if any(a.startswith("autoscaling:") and not a.startswith("autoscaling:Describe")
                                           for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))]
    (resize,) = writes
    assert resize["Action"] == "autoscaling:UpdateAutoScalingGroup"  # no SetDesiredCapacity: the boot never calls it
    assert [r.rsplit("/", 1)[1] for r in resize["Resource"]] == ["acme-ml-prod-etl-aws"]
    assert resize["Condition"] == {"NumericEquals": {"autoscaling:MinSize": "0"}, "Null": {"autoscaling:MaxSize": "true"}}
    cond = resize["Condition"]
    assert condition_holds(cond, {"autoscaling:MinSize": 0})                                  # scale to zero
    assert not condition_holds(cond, {"autoscaling:MinSize": 0, "autoscaling:MaxSize": 100})  # raising the ceiling
    assert not condition_holds(cond, {"autoscaling:MinSize": 4})                              # keeping nodes up
    assert not condition_holds(cond, {})                                                      # desired / other settings alone
    # the listing the boot's rendezvous needs stays readable
    reads = [s for s in statements if s["Resource"] == "*"]
    assert {"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"} <= {a for s in reads for a in s["Action"]}
    # the boot's only autoscaling write is the call the condition allows
    calls = boot_autoscaling_writes()
    assert calls and {c[2] for c in calls} == {"update-auto-scaling-group"}, calls
    for argv in calls:
        flags = dict(zip(argv[3::2], argv[4::2]))
        assert set(flags) == {"--auto-scaling-group-name", "--min-size", "--desired-capacity"}, argv
        assert (flags["--min-size"], flags["--desired-capacity"]) == ("0", "0"), argv
        context = {"autoscaling:MinSize": float(flags["--min-size"])}
        assert condition_holds(cond, context)
    # a serving group's nodes resize nothing
    serving = [s for p in each(stack(synthesized, f"{AWS}serve-aws"), "aws_iam_role_policy").values()
               for s in json.loads(p["policy"])["Statement"]]
    assert not [s for s in serving if "autoscaling:UpdateAutoScalingGroup" in json.dumps(s["Action"])]


# ---- AWS: the image, resolved once and pinned ---------------------------------------------------

def test_the_dlami_from_the_ssm_parameter_is_pinned_with_a_documented_roll(synthesized):
    doc = stack(synthesized, f"{AWS}train-aws")
    pin_id, pin = image_pin(doc)
    (param_id,) = doc["data"]["aws_ssm_parameter"]
    assert pin["input"] == f"${{data.aws_ssm_parameter.{param_id}.insecure_value}}"
    assert pin["lifecycle"] == {"ignore_changes": ["input"]}
    _, template = one(doc, "aws_launch_template")
    assert template["image_id"] == f"${{terraform_data.{pin_id}.output}}"
    (ami,) = doc["data"]["aws_ami"].values()
    assert ami["filter"][0]["values"] == [f"${{terraform_data.{pin_id}.output}}"]  # the root device of the pinned AMI
    assert f"terraform apply -replace=terraform_data.{pin_id}" in synthesized[1]
    assert "docs/security.md" in synthesized[1]
    roll = (ROOT / "docs" / "security.md").read_text()
    assert "terraform apply -replace=terraform_data." in roll


@SKIP_NO_TERRAFORM
def test_the_changed_aws_workload_stacks_validate_with_the_real_provider(synthesized):
    for name in ("etl-aws", "train-aws"):
        path = synthesized[0] / f"{AWS}{name}"
        init(path, backend=False)
        out = run_terraform(["validate", "-json"], path)
        assert '"valid": true' in out.stdout, (name, out.stdout)


# ---- GCP: peers, placement, image --------------------------------------------------------------

def test_a_five_node_spark_group_on_gcp_admits_and_reaches_its_own_nodes(synthesized):
    doc = stack(synthesized, f"{GCP}etl-gcp")
    assert check_stack(doc) == []
    rules = {k.split("_")[1]: v for k, v in each(doc, "google_compute_firewall").items()}
    assert set(rules) == {"self-in", "peers-out", "https-out", "deny-out"}
    self_in, peers_out = rules["self-in"], rules["peers-out"]
    assert self_in["direction"] == "INGRESS" and self_in["allow"] == [{"protocol": "all"}]
    assert self_in["source_service_accounts"] == self_in["target_service_accounts"]  # from its own nodes only
    assert peers_out["direction"] == "EGRESS" and peers_out["allow"] == [{"protocol": "all"}]
    assert peers_out["priority"] < rules["deny-out"]["priority"]


def test_spot_and_fallback_groups_share_a_compact_policy_without_an_exact_vm_count(synthesized):
    doc = stack(synthesized, f"{GCP}train-gcp")
    assert check_stack(doc) == []
    policy_id, policy = one(doc, "google_compute_resource_policy")
    # vm_count would make Compute place VMs only when exactly that many are created at once with the
    # policy: neither group alone (nor a group resized between runs) ever does that.
    assert policy["group_placement_policy"] == {"collocation": "COLLOCATED"}
    templates = each(doc, "google_compute_region_instance_template")
    assert len(templates) == 2  # the Spot group and its on-demand fallback
    for t in templates.values():
        assert t["resource_policies"] == [f"${{google_compute_resource_policy.{policy_id}.self_link}}"]
    managers = each(doc, "google_compute_region_instance_group_manager").values()
    assert {m["name"].rsplit("-", 1)[1] for m in managers} == {"spot", "od"}
    assert {m["distribution_policy_target_shape"] for m in managers} == {"ANY_SINGLE_ZONE"}
    (zones,) = {tuple(m["distribution_policy_zones"]) for m in managers}
    assert len(zones) == 1  # one pinned zone, one policy for both groups


def test_the_image_family_is_resolved_at_plan_time_and_pinned(synthesized):
    doc = stack(synthesized, f"{GCP}etl-gcp")
    assert check_stack(doc) == []  # data.google_compute_image's family / project exist in the provider schema
    (image_id, image), = doc["data"]["google_compute_image"].items()
    assert (image["project"], image["family"]) == ("cos-cloud", "cos-stable")
    pin_id, pin = image_pin(doc)
    assert pin["input"] == f"${{data.google_compute_image.{image_id}.self_link}}"
    assert pin["lifecycle"] == {"ignore_changes": ["input"]}
    for t in each(doc, "google_compute_region_instance_template").values():
        assert t["disk"][0]["source_image"] == f"${{terraform_data.{pin_id}.output}}"
        assert "family/" not in json.dumps(t["disk"])
    assert f"terraform apply -replace=terraform_data.{pin_id}" in synthesized[1]


# ---- the constructs on their own ---------------------------------------------------------------

def aws_synth(build) -> dict:
    app = CdkTesting.app()
    s = TerraformStack(app, "test")
    provider(s, "aws", AWS_PROVIDER, region="us-east-1")
    build(s)
    return json.loads(CdkTesting.synth(s))


def aws_group(stack_, **kw):
    args = dict(name="g", instance_type="p4d.24xlarge", subnet_ids=["subnet-0123456789abcdef0"], security_group_ids=["sg-0123456789abcdef0"],
                instance_profile_arn="arn:aws:iam::123456789012:instance-profile/g", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/x",
                max_size=4)
    args.update(kw)
    return GpuInstanceGroup(stack_, "group", **args)


@pytest.mark.cdk
def test_a_collective_group_turns_capacity_rebalance_off_and_refuses_it_on():
    def rebalance(**kw):
        return one(aws_synth(lambda s: aws_group(s, image_id="ami-0123456789abcdef0", **kw)), "aws_autoscaling_group")[1]["capacity_rebalance"]
    assert rebalance(spot=SpotPool()) is True                                  # independent nodes
    assert rebalance(spot=SpotPool(), collective=True) is False                # one run over the nodes
    assert rebalance(spot=SpotPool(), efa_interfaces=4) is False               # inferred from EFA
    assert rebalance(spot=SpotPool(capacity_rebalance=False)) is False
    with pytest.raises(ValueError, match="capacity_rebalance=True on a collective group"):
        aws_synth(lambda s: aws_group(s, image_id="ami-0123456789abcdef0", collective=True, spot=SpotPool(capacity_rebalance=True)))


@pytest.mark.cdk
def test_the_hop_limit_defaults_to_one_and_stays_within_what_ec2_accepts():
    doc = aws_synth(lambda s: aws_group(s, image_id="ami-0123456789abcdef0"))
    assert one(doc, "aws_launch_template")[1]["metadata_options"]["http_put_response_hop_limit"] == 1
    for bad in (0, 65):
        with pytest.raises(ValueError, match="metadata_hop_limit must be between 1 and 64"):
            aws_synth(lambda s: aws_group(s, image_id="ami-0123456789abcdef0", metadata_hop_limit=bad))


@pytest.mark.cdk
def test_a_given_ami_is_used_as_it_is_and_the_pin_can_be_turned_off():
    given = aws_synth(lambda s: aws_group(s, image_id="ami-0123456789abcdef0"))
    assert "terraform_data" not in given["resource"] and one(given, "aws_launch_template")[1]["image_id"] == "ami-0123456789abcdef0"
    following = aws_synth(lambda s: aws_group(s, pin_image=False))
    assert "terraform_data" not in following["resource"]
    assert one(following, "aws_launch_template")[1]["image_id"].startswith("${data.aws_ssm_parameter.")


@pytest.mark.cdk
def test_a_compact_policy_writes_vm_count_only_when_asked_for_an_exact_count():
    def policy(**kw):
        app = CdkTesting.app()
        s = TerraformStack(app, "test")
        provider(s, "google", GOOGLE, project="acme-ml-prod", region="us-central1")
        CompactPlacement(s, "p", project="acme-ml-prod", name="acme-compact", region="us-central1", vm_count=4,
                         machine_type="a3-highgpu-8g", **kw)
        doc = json.loads(CdkTesting.synth(s))
        assert check_stack(doc) == []
        return one(doc, "google_compute_resource_policy")[1]["group_placement_policy"]
    assert policy() == {"collocation": "COLLOCATED"}
    assert policy(exact=True) == {"collocation": "COLLOCATED", "vm_count": 4}
