from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok


def check(r: Resource, stack: StackView):
    for i, nic in enumerate(blocks(r.body.get("network_interface"))):
        if blocks(nic.get("access_config")) or blocks(nic.get("ipv6_access_config")):
            return bad(f"network interface {i} has an external IP (access_config)")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-005",
    description="GPU nodes have no external IP",
    explanation="Nodes reach Google APIs through Private Google Access and the internet through Cloud NAT; an external IP exposes "
                "every listening port to one firewall mistake.",
    fix="remove access_config from the network interfaces; serve through InferenceEndpoint",
    types=("google_compute_region_instance_template", "google_compute_instance_template", "google_compute_instance"),
    check=check,
)
