import ipaddress

from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok


def _open(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def check(r: Resource, stack: StackView):
    if r.get("private_cluster_config", "enable_private_nodes") is not True:
        return bad("nodes have external addresses (private_cluster_config.enable_private_nodes is not true)")
    if r.get("private_cluster_config", "enable_private_endpoint") is True:
        return ok()
    networks = blocks(r.body.get("master_authorized_networks_config"))
    if not networks:
        return bad("the public control plane endpoint answers any address (no master_authorized_networks_config)")
    if networks[0].get("gcp_public_cidrs_access_enabled") is True:
        return bad("the public control plane endpoint admits all of Google Cloud's public addresses (gcp_public_cidrs_access_enabled)")
    opened = [c.get("cidr_block") for c in blocks(networks[0].get("cidr_blocks")) if _open(str(c.get("cidr_block")))]
    if opened:
        return bad(f"the public control plane endpoint admits {opened[0]}")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-017",
    description="GKE clusters have private nodes and a control plane closed to the internet",
    explanation="Nodes with external addresses expose every node port to one firewall mistake; a public endpoint without authorized "
                "networks lets anyone on the internet try the Kubernetes API (https://cloud.google.com/kubernetes-engine/docs/concepts/"
                "network-isolation).",
    fix="set private_cluster_config.enable_private_nodes = true and either enable_private_endpoint = true or "
        "master_authorized_networks_config with the CIDRs Terraform runs from (KubernetesCluster endpoint_cidrs)",
    types=("google_container_cluster",),
    check=check,
)
