from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

ANYWHERE = ("0.0.0.0/0", "::/0")


def check(r: Resource, stack: StackView):
    if str(r.body.get("direction", "INGRESS")).upper() != "INGRESS" or r.body.get("deny"):
        return ok()
    if any(c in ANYWHERE for c in r.body.get("source_ranges") or []):
        return bad("admits traffic from anywhere (source_ranges 0.0.0.0/0)")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-006",
    description="No firewall rule admits traffic from anywhere",
    explanation="On Google Cloud a load balancer's front end is not a VM: firewall rules only ever face the nodes, which should "
                "hear only their subnet, Google's health checkers and IAP.",
    fix="narrow source_ranges to the subnet, 130.211.0.0/22 and 35.191.0.0/16 (health checks) or 35.235.240.0/20 (IAP)",
    types=("google_compute_firewall",),
    check=check,
)
