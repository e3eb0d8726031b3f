from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok


def check(r: Resource, stack: StackView):
    for config in blocks(r.body.get("encryption_config")):
        if "secrets" in (config.get("resources") or []) and r.get("encryption_config", "provider", "key_arn"):
            return ok()
    return bad("Kubernetes secrets are not envelope-encrypted with a KMS key (no encryption_config for \"secrets\" with a key_arn)")


RULE = Rule(
    id="AIINFRA-AWS-014",
    description="EKS clusters envelope-encrypt Kubernetes secrets with a customer-managed KMS key",
    explanation="Secrets encryption wraps the data keys of Kubernetes secrets in etcd with the account's KMS key, so a secret read "
                "from a backup or a disk of the control plane stays sealed, and disabling the key revokes them "
                "(https://docs.aws.amazon.com/eks/latest/userguide/envelope-encryption.html).",
    fix="set encryption_config { resources = [\"secrets\"], provider { key_arn = <EncryptionKey.arn> } } (KubernetesCluster does this)",
    types=("aws_eks_cluster",),
    check=check,
)
