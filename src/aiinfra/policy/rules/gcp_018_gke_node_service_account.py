from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

FULL_SCOPES = ("https://www.googleapis.com/auth/cloud-platform", "cloud-platform")


def check(r: Resource, stack: StackView):
    email = str(r.get("node_config", "service_account", default=""))
    if not email or email == "default" or email.endswith("-compute@developer.gserviceaccount.com"):
        return bad("nodes run as the default compute service account")
    if any(s in FULL_SCOPES for s in r.get("node_config", "oauth_scopes", default=[]) or []):
        return bad("nodes have the cloud-platform (full access) scope")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-018",
    description="GKE node pools run as their own service account, not the default compute one",
    explanation="A node pool without a service account runs as the Compute Engine default account, which has Editor on the project "
                "in many organisations; every process on the node (and, without the GKE metadata server, every pod) inherits it "
                "(https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster#use_least_privilege_sa).",
    fix="set node_config.service_account = <NodeServiceAccount.email> with GKE's default scopes (GpuNodePool does this)",
    types=("google_container_node_pool",),
    check=check,
)
