from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    if r.type == "google_container_cluster":
        pool = str(r.get("workload_identity_config", "workload_pool", default=""))
        if not pool.endswith(".svc.id.goog"):
            return bad("Workload Identity is off (workload_identity_config.workload_pool is not <project>.svc.id.goog)")
        return ok()
    if r.get("node_config", "workload_metadata_config", "mode") != "GKE_METADATA":
        return bad("pods reach the node's metadata server and its credentials (workload_metadata_config.mode is not GKE_METADATA)")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-019",
    description="GKE clusters use Workload Identity and node pools the GKE metadata server",
    explanation="With Workload Identity each pod acts as its own Google service account; without the GKE metadata server on the "
                "pool, a pod reads the node's metadata and acts as the node's account instead "
                "(https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity).",
    fix="set workload_identity_config.workload_pool = \"<project>.svc.id.goog\" on the cluster and "
        "node_config.workload_metadata_config.mode = \"GKE_METADATA\" on every pool (KubernetesCluster / GpuNodePool do this)",
    types=("google_container_cluster", "google_container_node_pool"),
    check=check,
)
