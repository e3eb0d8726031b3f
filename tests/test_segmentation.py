"""Network segmentation (issue 15): one security group (AWS) and one service-account-scoped set of
firewall rules (GCP) per workload, the ClusterNetwork options that drop the shared node scope, the
two policy rules judging it when the spec asks for it, and a real apply of two workload groups
against the patched moto server, checked with boto3 (group A admits nothing from group B)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


from aiinfra.cdk import TerraformStack
from aiinfra.cdk import Testing as CdkTesting

from aiinfra.constructs._tf import AWS, GOOGLE, provider
from aiinfra.constructs.aws import ClusterNetwork as AwsNetwork
from aiinfra.constructs.aws import EncryptionKey, GpuInstanceGroup, InferenceEndpoint
from aiinfra.constructs.aws import WorkloadIdentity as AwsIdentity
from aiinfra.constructs.aws.node_security_group import NodeSecurityGroup
from aiinfra.constructs.gcp import ClusterNetwork as GcpNetwork
from aiinfra.constructs.gcp import GpuNicNetworks
from aiinfra.constructs.gcp import WorkloadIdentity as GcpIdentity
from aiinfra.constructs.gcp.node_firewall import NodeFirewall
from aiinfra.policy import RULES_BY_ID, Result, StackView, check_stack, require
from tests.gcp_schema import check_stack as check_gcp_schema
from tests.tf_harness import (  # noqa: F401
    SKIP_NO_TERRAFORM,
    apply_plan_destroy,
    init,
    moto_server,
    run_terraform,
)

PROJECT = "acme-ml-prod"
AWS_RULE = RULES_BY_ID["AIINFRA-AWS-013"]
GCP_RULE = RULES_BY_ID["AIINFRA-GCP-014"]
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"


def synth_aws(build, segmentation: bool = False) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS, region="us-east-1")
    build(stack)
    if segmentation:
        require(stack, "segmentation")
    return json.loads(json.dumps(stack.to_terraform()))  # Testing.synth drops the "//" record of what the spec asks


def synth_gcp(build, segmentation: bool = False) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "google", GOOGLE, project=PROJECT, region="us-central1")
    build(stack)
    if segmentation:
        require(stack, "segmentation")
    doc = json.loads(json.dumps(stack.to_terraform()))
    assert check_gcp_schema(doc) == []  # every argument exists in the google provider schema
    return doc


def each(doc: dict, rtype: str) -> list[dict]:
    return list(doc["resource"].get(rtype, {}).values())


def judged(rule, doc: dict, requires: frozenset[str] | None = None) -> dict[str, Result]:
    """{resource path: result} for the resources ``rule`` judges."""
    view = StackView.from_json("test", doc, requires)
    return {r.path: rule.evaluate(r, view)[0] for r in view.resources if r.type in rule.types}


# ---- AWS: NodeSecurityGroup -------------------------------------------------------------

def aws_net(stack, **kw):
    key = EncryptionKey(stack, "key", alias="seg", deletion_window_days=7)
    return AwsNetwork(stack, "net", name="seg", zone_ids=["use1-az1"], log_kms_key_arn=key.arn, **kw), key


def test_collective_group_admits_only_itself_and_sends_only_to_itself_and_https():
    doc = synth_aws(lambda s: NodeSecurityGroup(s, "train", name="seg-train", vpc_id="vpc-1", collective=True))
    (group,) = each(doc, "aws_security_group")
    assert group["name"] == "seg-train" and "ingress" not in group and "egress" not in group  # rules are separate resources
    (ingress,) = each(doc, "aws_vpc_security_group_ingress_rule")
    me = ingress["security_group_id"]
    assert me.startswith("${aws_security_group.") and (ingress["ip_protocol"], ingress["referenced_security_group_id"]) == ("-1", me)
    assert "cidr_ipv4" not in ingress
    egress = {(e["ip_protocol"], e.get("from_port"), e.get("cidr_ipv4"), e.get("referenced_security_group_id")) for e in
              each(doc, "aws_vpc_security_group_egress_rule")}
    assert egress == {("-1", None, None, me), ("tcp", 443, "0.0.0.0/0", None)}


def test_single_node_group_admits_nothing_and_sends_only_https():
    doc = synth_aws(lambda s: NodeSecurityGroup(s, "serve", name="seg-serve", vpc_id="vpc-1", collective=False))
    assert each(doc, "aws_vpc_security_group_ingress_rule") == []
    (egress,) = each(doc, "aws_vpc_security_group_egress_rule")
    assert (egress["ip_protocol"], egress["from_port"], egress["to_port"], egress["cidr_ipv4"]) == ("tcp", 443, 443, "0.0.0.0/0")


def test_node_group_reports_every_bad_prop_at_once():
    with pytest.raises(ValueError, match=r"must not start with 'sg-'.*vpc_id must name"):
        synth_aws(lambda s: NodeSecurityGroup(s, "g", name="sg-train", vpc_id="", collective=True))
    with pytest.raises(ValueError, match="collective must be True or False"):
        synth_aws(lambda s: NodeSecurityGroup(s, "g", name="train", vpc_id="vpc-1", collective="yes"))  # type: ignore[arg-type]


def test_endpoint_opens_the_model_port_on_a_workload_group_unchanged():
    def build(s):
        net, key = aws_net(s, node_security_group=False)
        sg = NodeSecurityGroup(s, "serve-sg", name="seg-serve", vpc_id=net.vpc_id, collective=False)
        ident = AwsIdentity(s, "id", name="seg-serve")
        group = GpuInstanceGroup(s, "group", name="seg-serve", instance_type="p4d.24xlarge", subnet_ids=net.private_subnet_ids,
                                 security_group_ids=[sg.id], instance_profile_arn=ident.instance_profile_arn, kms_key_arn=key.arn,
                                 max_size=2, image_id="ami-0123456789abcdef0")
        InferenceEndpoint(s, "ep", name="seg-serve", vpc_id=net.vpc_id, subnet_ids=["subnet-a", "subnet-b"],
                          node_security_group_id=sg.id, autoscaling_group_name=group.name, certificate_arn=CERT,
                          requests_per_target=100.0, vpc_cidr=net.cidr)
    doc = synth_aws(build, segmentation=True)
    (node_group,) = [k for k, v in doc["resource"]["aws_security_group"].items() if v["name"] == "seg-serve"]
    from_lb = [r for r in each(doc, "aws_vpc_security_group_ingress_rule") if r["security_group_id"] == f"${{aws_security_group.{node_group}.id}}"]
    (rule,) = from_lb
    assert rule["from_port"] == rule["to_port"] == 8080 and rule["referenced_security_group_id"].startswith("${aws_security_group.")
    assert rule["referenced_security_group_id"] != rule["security_group_id"]  # from the load balancer's group, not from itself
    assert set(judged(AWS_RULE, doc).values()) == {Result.COMPLIANT}


# ---- AWS: ClusterNetwork option ----------------------------------------------------------

def test_aws_network_keeps_its_shared_node_group_by_default_and_drops_it_when_asked():
    seen = {}

    def build(with_group):
        def inner(s):
            seen[with_group] = aws_net(s, node_security_group=with_group)[0]
        return inner
    shared = synth_aws(build(True))
    names = [g.get("name") for g in each(shared, "aws_security_group")]
    assert names == ["seg-gpu-nodes"] and len(each(shared, "aws_vpc_security_group_ingress_rule")) == 1
    assert seen[True].node_security_group_id.startswith("${")
    none = synth_aws(build(False))
    assert "aws_security_group" not in none["resource"] and "aws_vpc_security_group_egress_rule" not in none["resource"]
    assert seen[False].node_security_group is None and seen[False].node_security_group_id is None
    assert "aws_default_security_group" in none["resource"]  # the VPC's default group is still closed


# ---- AWS: AIINFRA-AWS-013 -----------------------------------------------------------------

def two_groups(stack, shared: bool):
    net, key = aws_net(stack, node_security_group=shared)
    ident = AwsIdentity(stack, "id", name="seg")
    for name, collective in (("train", True), ("serve", False)):
        groups = [net.node_security_group_id] if shared else [NodeSecurityGroup(stack, f"{name}-sg", name=f"seg-{name}",
                                                                                   vpc_id=net.vpc_id, collective=collective).id]
        GpuInstanceGroup(stack, name, name=f"seg-{name}", instance_type="p4d.24xlarge", subnet_ids=net.private_subnet_ids,
                         security_group_ids=groups, instance_profile_arn=ident.instance_profile_arn, kms_key_arn=key.arn, max_size=2,
                         image_id="ami-0123456789abcdef0")


def test_aws_workloads_with_groups_of_their_own_comply():
    doc = synth_aws(lambda s: two_groups(s, shared=False), segmentation=True)
    results = judged(AWS_RULE, doc)
    assert len(results) == 2 and set(results.values()) == {Result.COMPLIANT}
    assert not [v for v in check_stack("test", doc, rules=[AWS_RULE]).violations]


def test_aws_workloads_sharing_the_network_group_do_not_comply_when_segmentation_is_asked():
    doc = synth_aws(lambda s: two_groups(s, shared=True), segmentation=True)
    report = check_stack("test", doc, rules=[AWS_RULE])
    assert len(report.violations) == 2 and all("shares security group" in v.detail for v in report.violations)
    unasked = synth_aws(lambda s: two_groups(s, shared=True))
    assert set(judged(AWS_RULE, unasked).values()) == {Result.NOT_APPLICABLE}
    assert not check_stack("test", unasked, rules=[AWS_RULE]).violations


def lt_doc(groups: list[str], *extra: tuple[str, str, dict]) -> dict:
    out = {"//": {"aiinfra": {"requires": ["segmentation"]}},
           "resource": {"aws_security_group": {"own": {"name": "own", "vpc_id": "vpc-1"}},
                        "aws_launch_template": {"t": {"network_interfaces": [{"security_groups": groups}]}}}}
    for rtype, name, body in extra:
        out["resource"].setdefault(rtype, {})[name] = body
    return out


def test_aws_group_from_elsewhere_or_admitting_the_vpc_range_does_not_comply():
    own = "${aws_security_group.own.id}"
    assert judged(AWS_RULE, lt_doc([own])) == {"test/t": Result.COMPLIANT}
    for groups in (["sg-0123456789abcdef0"], ["${data.terraform_remote_state.net.outputs.node_sg}"], [own, "sg-1"], []):
        assert judged(AWS_RULE, lt_doc(groups)) == {"test/t": Result.NON_COMPLIANT}, groups
    vpc_range = ("aws_vpc_security_group_ingress_rule", "r", {"security_group_id": own, "ip_protocol": "-1", "cidr_ipv4": "10.40.0.0/16"})
    view = StackView.from_json("test", lt_doc([own], vpc_range))
    result, detail = AWS_RULE.evaluate(next(view.of_type("aws_launch_template")), view)
    assert result is Result.NON_COMPLIANT and "admits 10.40.0.0/16" in detail
    from_lb = ("aws_vpc_security_group_ingress_rule", "r", {"security_group_id": own, "ip_protocol": "tcp", "from_port": 8080,
                                                            "to_port": 8080, "referenced_security_group_id": "${aws_security_group.lb.id}"})
    assert judged(AWS_RULE, lt_doc([own], from_lb)) == {"test/t": Result.COMPLIANT}


# ---- GCP: NodeFirewall ---------------------------------------------------------------------

def firewalls_by_name(doc: dict) -> dict[str, dict]:
    return {f["name"]: f for f in each(doc, "google_compute_firewall")}


def test_collective_firewall_admits_only_its_own_service_account_and_denies_other_egress():
    def build(s):
        ident = GcpIdentity(s, "id", project=PROJECT, account_id="acme-train")
        NodeFirewall(s, "fw", project=PROJECT, network="projects/p/global/networks/n", name="acme-train",
                     service_account_email=ident.email, collective=True, peer_ranges=["10.50.0.0/20"])
    rules = firewalls_by_name(synth_gcp(build))
    assert set(rules) == {"acme-train-self-in", "acme-train-peers-out", "acme-train-https-out", "acme-train-deny-out"}
    sa = rules["acme-train-self-in"]["target_service_accounts"]
    assert sa[0].startswith("${google_service_account.")
    for rule in rules.values():
        assert rule["target_service_accounts"] == sa and "target_tags" not in rule and "source_tags" not in rule
        assert rule["log_config"] == {"metadata": "INCLUDE_ALL_METADATA"}
    inbound = rules["acme-train-self-in"]
    assert (inbound["direction"], inbound["source_service_accounts"], inbound["allow"]) == ("INGRESS", sa, [{"protocol": "all"}])
    assert "source_ranges" not in inbound  # only VMs running as the workload's service account
    assert rules["acme-train-peers-out"]["destination_ranges"] == ["10.50.0.0/20"]
    https = rules["acme-train-https-out"]
    assert (https["direction"], https["destination_ranges"], https["allow"]) == ("EGRESS", ["0.0.0.0/0"], [{"protocol": "tcp", "ports": ["443", "80"]}])
    deny = rules["acme-train-deny-out"]
    assert (deny["direction"], deny["priority"], deny["deny"], deny["destination_ranges"]) == ("EGRESS", 65534, [{"protocol": "all"}],
                                                                                             ["0.0.0.0/0"])
    assert all(r["priority"] == 1000 for n, r in rules.items() if n != "acme-train-deny-out")  # every allow wins over the deny


def test_single_node_firewall_has_no_peer_rules_and_gpu_nic_networks_get_their_own_ingress():
    lone = firewalls_by_name(synth_gcp(lambda s: NodeFirewall(s, "fw", project=PROJECT, network="n", name="acme-serve",
                                                              service_account_email="serve@acme-ml-prod.iam.gserviceaccount.com",
                                                              collective=False)))
    assert set(lone) == {"acme-serve-https-out", "acme-serve-deny-out"}

    def build(s):
        net = GcpNetwork(s, "net", project=PROJECT, name="acme", region="us-central1", gpu_nics=GpuNicNetworks("tcpx", 2),
                         internal_traffic=False)
        NodeFirewall(s, "fw", project=PROJECT, network=net.network_id, name="acme-train", service_account_email="t@x.iam.gserviceaccount.com",
                     collective=True, peer_ranges=[net.cidr], gpu_nic_networks=[n.get_string_attribute("id") for n in net.gpu_nic_networks])
    rules = firewalls_by_name(synth_gcp(build))
    for i in range(2):
        nic = rules[f"acme-train-gpu-{i}-self-in"]
        assert nic["network"].startswith(f"${{google_compute_network.net_gpu-nic-{i}-vpc_") and nic["direction"] == "INGRESS"
        assert nic["source_service_accounts"] == nic["target_service_accounts"] == ["t@x.iam.gserviceaccount.com"]
    assert not [n for n in rules if n.endswith("-internal")]  # the tag-wide GPU NIC rules are gone with internal_traffic=False


def test_node_firewall_reports_every_bad_prop_at_once():
    with pytest.raises(ValueError, match=r"service_account_email must.*peer_ranges must name"):
        synth_gcp(lambda s: NodeFirewall(s, "fw", project=PROJECT, network="n", name="acme", service_account_email="", collective=True))
    with pytest.raises(ValueError, match=r"peer_ranges must be private ranges.*allow_priority must be between"):
        synth_gcp(lambda s: NodeFirewall(s, "fw", project=PROJECT, network="n", name="acme", service_account_email="a@b", collective=True,
                                         peer_ranges=["8.8.8.0/24"], allow_priority=65534))
    with pytest.raises(ValueError, match="name \\(with its longest suffix"):
        synth_gcp(lambda s: NodeFirewall(s, "fw", project=PROJECT, network="n", name="a" * 60, service_account_email="a@b", collective=False))


# ---- GCP: ClusterNetwork option ------------------------------------------------------------

def test_gcp_network_keeps_the_internal_rule_by_default_and_drops_it_when_asked():
    default = firewalls_by_name(synth_gcp(lambda s: GcpNetwork(s, "net", project=PROJECT, name="acme", region="us-central1",
                                                               gpu_nics=GpuNicNetworks("tcpx", 1))))
    assert {"acme-allow-internal", "acme-allow-iap-ssh", "acme-gpu-0-internal"} == set(default)
    seen = []
    scoped = firewalls_by_name(synth_gcp(lambda s: seen.append(GcpNetwork(s, "net", project=PROJECT, name="acme", region="us-central1",
                                                                          gpu_nics=GpuNicNetworks("tcpx", 1), internal_traffic=False))))
    # IAP SSH (Google's range, OS Login decides who) stays; each GPU NIC network gets a written deny of the rest (the workloads'
    # NodeFirewall rules admit their own service account on it).
    assert set(scoped) == {"acme-allow-iap-ssh", "acme-gpu-0-deny-in"}
    deny = scoped["acme-gpu-0-deny-in"]
    assert (deny["direction"], deny["priority"], deny["deny"]) == ("INGRESS", 65534, [{"protocol": "all"}]) and "allow" not in deny
    assert len(seen[0].firewalls) == 1  # the primary network's rules


# ---- GCP: AIINFRA-GCP-014 ------------------------------------------------------------------

def gcp_workloads(stack, scoped: bool):
    net = GcpNetwork(stack, "net", project=PROJECT, name="acme", region="us-central1", internal_traffic=not scoped,
                     proxy_only_cidr="10.129.0.0/23")
    for name in ("train", "serve"):
        ident = GcpIdentity(stack, f"{name}-id", project=PROJECT, account_id=f"acme-{name}")
        if scoped:
            NodeFirewall(stack, f"{name}-fw", project=PROJECT, network=net.network_id, name=f"acme-{name}", service_account_email=ident.email,
                         collective=name == "train", peer_ranges=[net.cidr])


def test_gcp_workloads_scoped_by_service_account_comply():
    doc = synth_gcp(lambda s: gcp_workloads(s, scoped=True), segmentation=True)
    results = judged(GCP_RULE, doc)
    ingress = {p for p, r in results.items() if r is not Result.NOT_APPLICABLE}
    assert len(ingress) == 2 and all(results[p] is Result.COMPLIANT for p in ingress)  # train's self-in and the IAP rule
    assert not check_stack("test", doc, rules=[GCP_RULE]).violations


def test_gcp_subnet_wide_rule_by_tag_does_not_comply_when_segmentation_is_asked():
    doc = synth_gcp(lambda s: gcp_workloads(s, scoped=False), segmentation=True)
    (violation,) = check_stack("test", doc, rules=[GCP_RULE]).violations
    assert violation.resource.body["name"] == "acme-allow-internal"
    assert "admits 10.50.0.0/20 to the nodes tagged acme-gpu-node" in violation.detail
    assert not check_stack("test", synth_gcp(lambda s: gcp_workloads(s, scoped=False)), rules=[GCP_RULE]).violations  # not asked


def fw_doc(*rules: dict, subnets: tuple[dict, ...] = ()) -> dict:
    doc = {"//": {"aiinfra": {"requires": ["segmentation"]}}, "resource": {"google_compute_firewall": {}}}
    for i, body in enumerate(rules):
        doc["resource"]["google_compute_firewall"][f"f{i}"] = {"direction": "INGRESS", "allow": [{"protocol": "tcp"}], **body}
    for i, body in enumerate(subnets):
        doc["resource"].setdefault("google_compute_subnetwork", {})[f"s{i}"] = body
    return doc


@pytest.mark.parametrize("body, want", [
    ({"source_ranges": ["130.211.0.0/22", "35.191.0.0/16"], "target_tags": ["acme-gpu-node"]}, Result.COMPLIANT),  # health checks
    ({"source_ranges": ["35.235.240.0/20"], "target_tags": ["acme-gpu-node"]}, Result.COMPLIANT),  # IAP
    ({"source_service_accounts": ["a@x"], "target_service_accounts": ["a@x"]}, Result.COMPLIANT),
    ({"source_ranges": ["10.50.0.0/20"], "deny": [{"protocol": "all"}], "allow": None}, Result.COMPLIANT),
    ({"source_ranges": ["10.50.0.0/20"], "target_tags": ["acme-gpu-node"], "disabled": True}, Result.COMPLIANT),
    ({"source_ranges": ["10.50.0.0/20"], "target_tags": ["acme-gpu-node"]}, Result.NON_COMPLIANT),
    ({"source_ranges": ["10.50.0.0/20"], "target_service_accounts": ["a@x"]}, Result.NON_COMPLIANT),  # the range holds every workload
    ({"source_ranges": ["100.64.0.0/16"]}, Result.NON_COMPLIANT),  # RFC 6598, a valid subnet range
    ({"source_ranges": ["0.0.0.0/0"], "target_service_accounts": ["a@x"]}, Result.NON_COMPLIANT),  # contains the subnet
    ({"source_tags": ["acme-gpu-node"], "target_tags": ["acme-gpu-node"]}, Result.NON_COMPLIANT),
    ({"source_ranges": ["${var.subnet}"], "target_service_accounts": ["a@x"]}, Result.NON_COMPLIANT),  # unknown: may be the subnet
    ({"direction": "EGRESS", "destination_ranges": ["10.50.0.0/20"], "target_tags": ["x"]}, Result.NOT_APPLICABLE),
])
def test_gcp_rule_judges_where_ingress_comes_from(body, want):
    assert list(judged(GCP_RULE, fw_doc({k: v for k, v in body.items() if v is not None})).values()) == [want]


def test_gcp_proxy_only_subnet_of_the_stack_is_not_a_node_range_but_a_vm_subnet_with_public_addresses_is():
    proxy = {"ip_cidr_range": "10.129.0.0/23", "purpose": "REGIONAL_MANAGED_PROXY", "role": "ACTIVE"}
    rule = {"source_ranges": ["10.129.0.0/23", "130.211.0.0/22"], "target_tags": ["acme-gpu-node"]}
    assert list(judged(GCP_RULE, fw_doc(rule, subnets=(proxy,))).values()) == [Result.COMPLIANT]
    assert list(judged(GCP_RULE, fw_doc(rule)).values()) == [Result.NON_COMPLIANT]  # another stack's: cannot be told from the subnet
    by_ref = {"source_ranges": ["${google_compute_subnetwork.s0.ip_cidr_range}"], "target_tags": ["acme-gpu-node"]}
    assert list(judged(GCP_RULE, fw_doc(by_ref, subnets=(proxy,))).values()) == [Result.COMPLIANT]
    public_subnet = {"ip_cidr_range": "34.1.0.0/24", "purpose": "PRIVATE"}
    assert list(judged(GCP_RULE, fw_doc({"source_ranges": ["34.1.0.0/24"]}, subnets=(public_subnet,))).values()) == [Result.NON_COMPLIANT]


# ---- AWS end to end: two workload groups applied against moto ------------------------------

def write_two_group_stack(stack_dir: Path) -> None:
    def build(s):
        net, _ = aws_net(s, node_security_group=False)
        NodeSecurityGroup(s, "a", name="seg-a", vpc_id=net.vpc_id, collective=True)
        NodeSecurityGroup(s, "b", name="seg-b", vpc_id=net.vpc_id, collective=False)
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(synth_aws(build)))


@SKIP_NO_TERRAFORM
def test_two_workload_groups_apply_and_neither_admits_the_other(tmp_path, moto_server):  # noqa: F811
    """``terraform validate`` with the real provider, apply against moto, then read the groups back:
    A admits only itself, B admits nothing, and neither keeps AWS's allow-all egress rule."""
    stack = tmp_path / "stack"
    write_two_group_stack(stack)
    init(stack, backend=False)
    assert '"valid": true' in run_terraform(["validate", "-json"], stack).stdout

    def check(outputs: dict) -> None:
        ec2 = moto_server.client("ec2")
        groups = {g["GroupName"]: g for g in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["seg-a", "seg-b"]}])
                  ["SecurityGroups"]}
        a, b = groups["seg-a"], groups["seg-b"]

        def sources(permissions):
            return [(p["IpProtocol"], p.get("FromPort"), tuple(sorted(x["GroupId"] for x in p.get("UserIdGroupPairs", []))),
                     tuple(sorted(r["CidrIp"] for r in p.get("IpRanges", []))), len(p.get("Ipv6Ranges", [])) + len(p.get("PrefixListIds", [])))
                    for p in permissions]
        assert sources(a["IpPermissions"]) == [("-1", None, (a["GroupId"],), (), 0)]  # from itself only: never from B
        assert b["IpPermissions"] == []
        assert sorted(sources(a["IpPermissionsEgress"])) == sorted([("-1", None, (a["GroupId"],), (), 0), ("tcp", 443, (), ("0.0.0.0/0",), 0)])
        assert sources(b["IpPermissionsEgress"]) == [("tcp", 443, (), ("0.0.0.0/0",), 0)]  # no allow-all egress left
        assert b["GroupId"] not in json.dumps(a["IpPermissions"] + a["IpPermissionsEgress"])

    apply_plan_destroy(stack, moto_server.env(), after_apply=check, timeout=300)
