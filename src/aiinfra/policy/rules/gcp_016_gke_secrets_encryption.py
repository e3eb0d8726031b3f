from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    if str(r.get("database_encryption", "state", default="")).upper() != "ENCRYPTED":
        return bad("etcd's secrets are not encrypted with a customer key (database_encryption state is not ENCRYPTED)")
    if not r.get("database_encryption", "key_name"):
        return bad("database_encryption names no Cloud KMS key")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-016",
    description="GKE clusters encrypt Kubernetes secrets in etcd with a customer-managed key",
    explanation="Application-layer secrets encryption wraps etcd's data keys with the project's Cloud KMS key, so secrets read from "
                "a disk or a backup of the control plane stay sealed, and revoking the key revokes them "
                "(https://cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets).",
    fix="set database_encryption { state = \"ENCRYPTED\", key_name = <EncryptionKey.id> } (KubernetesCluster does this)",
    types=("google_container_cluster",),
    check=check,
)
