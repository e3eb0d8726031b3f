from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    return ok() if r.get("encryption", "default_kms_key_name") else bad("no default customer-managed key (encryption.default_kms_key_name)")


RULE = Rule(
    id="AIINFRA-GCP-001",
    description="Cloud Storage buckets are encrypted with a customer-managed key",
    explanation="A Cloud KMS key puts decryption of datasets and checkpoints under your IAM and audit logs; disabling it makes "
                "every object unreadable.",
    fix="set encryption { default_kms_key_name } and grant the Cloud Storage agent the key (TieredStorage and EncryptionKey do this)",
    types=("google_storage_bucket",),
    check=check,
)
