from aiinfra.policy.model import Resource, Rule, StackView, bad, na, ok
from aiinfra.policy.rules.gcp_020_dataproc_cmek import cluster_config


def check(r: Resource, stack: StackView):
    config = cluster_config(r)
    if config is None:
        return na()  # a template on an existing cluster creates no VM
    internal = Resource(r.type, r.name, r.path, config).get("gce_cluster_config", "internal_ip_only")
    if internal is not True and internal != "true":
        return bad("the cluster's VMs get external IP addresses (gce_cluster_config.internal_ip_only is not true)")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-021",
    description="Dataproc cluster VMs have internal IP addresses only",
    explanation="A cluster VM with an external address answers the internet on every port its firewall leaves open, and Spark's and "
                "YARN's web UIs listen on all interfaces; internal-only VMs reach Google APIs through Private Google Access "
                "(https://cloud.google.com/dataproc/docs/concepts/configuring-clusters/network"
                "#create_a_dataproc_cluster_with_internal_ip_address_only).",
    fix="set gce_cluster_config.internal_ip_only = true on a subnetwork with Private Google Access (DataprocSparkRuns always does)",
    types=("google_dataproc_workflow_template", "google_dataproc_cluster"),
    check=check,
)
