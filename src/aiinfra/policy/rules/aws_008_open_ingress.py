from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok

ANYWHERE = ("0.0.0.0/0", "::/0")


def _load_balancer_groups(stack: StackView) -> set[str]:
    groups = set()
    for lb in stack.of_type("aws_lb", "aws_alb", "aws_elb"):
        for ref in lb.body.get("security_groups") or []:
            groups.add(str(ref).split(".id}")[0] if isinstance(ref, str) else "")
    return groups


def _open(cidrs) -> bool:
    return any(c in ANYWHERE for c in (cidrs if isinstance(cidrs, list) else [cidrs]) if c)


def check(r: Resource, stack: StackView):
    if r.type == "aws_vpc_security_group_ingress_rule":
        rules = [(r.body.get("security_group_id"), [r.body.get("cidr_ipv4"), r.body.get("cidr_ipv6")], r.body.get("from_port"),
                  r.body.get("to_port"), r.body.get("ip_protocol"))]
    elif r.type == "aws_security_group_rule":
        if r.body.get("type") != "ingress":
            return ok()
        rules = [(r.body.get("security_group_id"), (r.body.get("cidr_blocks") or []) + (r.body.get("ipv6_cidr_blocks") or []),
                  r.body.get("from_port"), r.body.get("to_port"), r.body.get("protocol"))]
    else:  # aws_security_group inline ingress
        me = f"${{aws_security_group.{r.name}"
        rules = [(me, (b.get("cidr_blocks") or []) + (b.get("ipv6_cidr_blocks") or []), b.get("from_port"), b.get("to_port"), b.get("protocol"))
                 for b in blocks(r.body.get("ingress"))]
    lb_groups = _load_balancer_groups(stack)
    for group, cidrs, low, high, protocol in rules:
        if not _open(cidrs):
            continue
        https = str(protocol) in ("tcp", "6") and low == 443 and high == 443
        if not https:
            return bad(f"ingress from anywhere to ports {low}-{high} ({protocol})")
        if not any(isinstance(group, str) and group.startswith(g) for g in lb_groups if g):
            return bad("port 443 is open to anywhere on a group no load balancer uses")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-008",
    description="No ingress from anywhere, except HTTPS on a load balancer",
    explanation="GPU nodes are expensive to hijack and hold the models; only a load balancer's HTTPS listener should face 0.0.0.0/0.",
    fix="narrow the source to the VPC or a security group, or put the service behind InferenceEndpoint (443 only)",
    types=("aws_vpc_security_group_ingress_rule", "aws_security_group_rule", "aws_security_group"),
    check=check,
)
