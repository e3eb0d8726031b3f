import ipaddress

from aiinfra.policy.model import REF, Resource, Rule, StackView, bad, na, ok

# Ranges a VPC subnet may use, where any workload's nodes may be (https://cloud.google.com/vpc/docs/subnets#valid-ranges:
# RFC 1918, RFC 6598 shared space, IETF protocol assignments, benchmarking, the documentation ranges, class E), and IPv6
# unique local addresses. 0.0.0.0/0 overlaps them; Google's health-check (130.211.0.0/22, 35.191.0.0/16) and IAP
# (35.235.240.0/20) ranges do not.
INTERNAL = tuple(ipaddress.ip_network(c) for c in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
    "192.88.99.0/24", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "fc00::/7"))
# Subnets that hold no VMs, only Google-managed proxies (https://cloud.google.com/load-balancing/docs/proxy-only-subnets).
PROXY_PURPOSES = ("REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER")


def _subnets(stack: StackView) -> tuple[set[str], set[str], set[str]]:
    """(proxy-only ranges, VM subnet ranges, names of proxy-only subnetworks) of the stack."""
    proxy, vms, proxy_names = set(), set(), set()
    for s in stack.of_type("google_compute_subnetwork"):
        cidr = s.body.get("ip_cidr_range")
        if s.body.get("purpose") in PROXY_PURPOSES:
            proxy_names.add(s.name)
            if isinstance(cidr, str):
                proxy.add(cidr)
        elif isinstance(cidr, str):
            vms.add(cidr)  # a subnet may use privately used public ranges too
    return proxy, vms, proxy_names


def _internal(source: str, stack: StackView) -> bool:
    proxy, vms, proxy_names = _subnets(stack)
    if source in proxy:
        return False
    refs = [m.groups() for m in REF.finditer(source)]
    if refs:  # a reference: only a proxy-only subnetwork of this stack is known to hold no nodes
        return not all(t == "google_compute_subnetwork" and n in proxy_names for t, n in refs)
    try:
        net = ipaddress.ip_network(source, strict=False)
    except ValueError:
        return True  # a variable or something unreadable: it may be the subnet
    ranges = INTERNAL + tuple(ipaddress.ip_network(v, strict=False) for v in vms if "${" not in v)
    return any(net.version == i.version and net.overlaps(i) for i in ranges)


def check(r: Resource, stack: StackView):
    if "segmentation" not in stack.requires or str(r.body.get("direction", "INGRESS")).upper() != "INGRESS":
        return na()
    if r.body.get("deny") or r.body.get("disabled") is True:
        return ok()
    if r.body.get("source_tags"):
        return bad(f"admits nodes by source_tags {', '.join(map(str, r.body['source_tags']))}: any VM someone tags joins, whatever "
                   "workload it runs")
    internal = [str(s) for s in r.body.get("source_ranges") or [] if _internal(str(s), stack)]
    if internal:
        targets = (f"the nodes tagged {', '.join(map(str, r.body['target_tags']))}" if r.body.get("target_tags") else
                   "one service account's nodes" if r.body.get("target_service_accounts") else "every VM of the network")
        return bad(f"admits {', '.join(internal)} to {targets}: every workload's nodes are in that range")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-014",
    description="Firewall rules between nodes are scoped to one workload",
    explanation="The spec asks for network segmentation: a rule that admits the subnet (or a network tag every node carries) lets a "
                "compromised serving node reach the training nodes. Only source_service_accounts names one workload's nodes: a "
                "target service account alone still admits the whole range. Judged when the spec asks for it.",
    fix="use ClusterNetwork(internal_traffic=False) and a NodeFirewall per workload (source_service_accounts and "
        "target_service_accounts = the workload's service account); admit Google's ranges (health checks, IAP, a proxy-only subnet "
        "of the same stack) by range; suppress a rule for another stack's proxy-only subnet with the reason",
    types=("google_compute_firewall",),
    check=check,
)
