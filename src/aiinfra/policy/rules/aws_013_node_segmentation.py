import ipaddress
import re

from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, na, ok

GROUP_ID = re.compile(r"^\$\{aws_security_group\.([A-Za-z0-9_-]+)\.id\}$")

# Where any workload's nodes may be: a group that admits these ranges admits the other workloads' nodes too
# (RFC 1918, and RFC 6598 shared space, which a VPC may also use: https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html;
# IPv6 unique local addresses); 0.0.0.0/0 and ::/0 overlap them.
INTERNAL = tuple(ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))


def _groups(body: dict) -> list[str]:
    """Every security group a launch template puts its instances in (top level or per interface)."""
    out = [g for key in ("vpc_security_group_ids", "security_group_names") for g in (body.get(key) or [])]
    for nic in blocks(body.get("network_interfaces")):
        out += list(nic.get("security_groups") or [])
    return [str(g) for g in out]


def _own(ref: str, stack: StackView) -> str | None:
    """The name of the aws_security_group of this stack that ``ref`` is (None: a literal id, another stack's, a variable)."""
    match = GROUP_ID.match(ref)
    if match and any(r.name == match.group(1) for r in stack.of_type("aws_security_group")):
        return match.group(1)
    return None


def _internal(cidr: str) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return True  # a reference or variable: it may be the VPC's range
    return any(net.version == i.version and net.overlaps(i) for i in INTERNAL)


def _ranges_admitted(group: str, stack: StackView) -> list[str]:
    """CIDR ranges the stack's rules admit into ``group`` (security group references are not ranges)."""
    ref = f"${{aws_security_group.{group}."
    found = []
    for r in stack.of_type("aws_vpc_security_group_ingress_rule"):
        if str(r.body.get("security_group_id", "")).startswith(ref):
            found += [c for c in (r.body.get("cidr_ipv4"), r.body.get("cidr_ipv6")) if c]
    for r in stack.of_type("aws_security_group_rule"):
        if r.body.get("type") == "ingress" and str(r.body.get("security_group_id", "")).startswith(ref):
            found += list(r.body.get("cidr_blocks") or []) + list(r.body.get("ipv6_cidr_blocks") or [])
    for r in stack.of_type("aws_security_group"):
        if r.name == group:
            for rule in blocks(r.body.get("ingress")):
                found += list(rule.get("cidr_blocks") or []) + list(rule.get("ipv6_cidr_blocks") or [])
    return [c for c in found if _internal(str(c))]


def check(r: Resource, stack: StackView):
    if "segmentation" not in stack.requires:
        return na()
    refs = _groups(r.body)
    if not refs:
        return bad("names no security group, so its instances get the VPC's default group, shared by every workload")
    foreign = [g for g in refs if _own(g, stack) is None]
    if foreign:
        return bad(f"puts its nodes in security group {foreign[0]}, which this stack does not create (a literal id or another "
                   "stack's group is shared with other workloads)")
    own = {g for g in (_own(ref, stack) for ref in refs) if g}
    for other in stack.of_type("aws_launch_template"):
        shared = sorted(own & {_own(g, stack) for g in _groups(other.body)}) if other.name != r.name else []
        if shared:
            return bad(f"shares security group aws_security_group.{shared[0]} with launch template {other.path}")
    for group in sorted(own):
        admitted = _ranges_admitted(group, stack)
        if admitted:
            return bad(f"its security group aws_security_group.{group} admits {', '.join(map(str, admitted))}, where other workloads' "
                       "nodes are too")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-013",
    description="Each workload's nodes have a security group of their own",
    explanation="The spec asks for network segmentation: with one node group shared by every workload (or a group that admits the "
                "VPC's range), a compromised serving node reaches the training nodes on every port. Judged when the spec asks for it.",
    fix="give each workload's launch template a NodeSecurityGroup created in the workload's stack (ClusterNetwork("
        "node_security_group=False) drops the shared one), admitting other groups by reference, never by CIDR",
    types=("aws_launch_template",),
    check=check,
)
