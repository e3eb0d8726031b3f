from aiinfra.policy.model import Resource, Rule, StackView, bad, na, ok


def cluster_config(r: Resource) -> dict | None:
    """The cluster a Dataproc resource creates: a workflow template's managed cluster or a cluster's
    ``cluster_config``; None for a template that runs on an existing cluster (``cluster_selector``)."""
    if r.type == "google_dataproc_workflow_template":
        found = r.get("placement", "managed_cluster", "config")
    else:
        found = r.get("cluster_config")
    if isinstance(found, list):
        found = found[0] if len(found) == 1 else None
    return found if isinstance(found, dict) else None


def check(r: Resource, stack: StackView):
    config = cluster_config(r)
    if config is None:
        return na()  # a template on an existing cluster creates no disk; that cluster is judged where it is defined
    key = Resource(r.type, r.name, r.path, config).get("encryption_config", "gce_pd_kms_key_name" if r.type ==
                                                        "google_dataproc_workflow_template" else "kms_key_name")
    return ok() if key else bad("the cluster's persistent disks are not encrypted with a customer key (encryption_config)")


RULE = Rule(
    id="AIINFRA-GCP-020",
    description="Dataproc clusters encrypt their disks with a customer-managed key",
    explanation="A Spark cluster's disks hold shuffle files, spilled partitions and cached input, copies of the data the bucket keeps "
                "under its customer key; with CMEK they stay under that key "
                "(https://cloud.google.com/dataproc/docs/concepts/configuring-clusters/customer-managed-encryption).",
    fix="set encryption_config.gce_pd_kms_key_name on the workflow template's managed cluster (kms_key_name on a cluster's "
        "cluster_config); DataprocSparkRuns does this with its kms_key_id",
    types=("google_dataproc_workflow_template", "google_dataproc_cluster"),
    check=check,
)
