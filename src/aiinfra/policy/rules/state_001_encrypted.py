from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    if r.name == "s3":
        return ok() if r.body.get("encrypt") is True else bad("S3 state backend without encrypt = true")
    if r.name == "gcs":
        return ok() if r.body.get("kms_encryption_key") or r.body.get("encryption_key") else bad("GCS state backend without a KMS key")
    return ok()  # local state stays on the operator's disk


RULE = Rule(
    id="AIINFRA-STATE-001",
    description="Remote Terraform state is encrypted",
    explanation="State holds every resource's attributes, including generated secrets; in a shared bucket it must be encrypted "
                "with a key whose use is logged.",
    fix="state: {aws: {bucket, kms_key_id}} gives an encrypted S3 backend; state: {gcp: {bucket, kms_encryption_key}} a GCS "
        "backend written with a Cloud KMS key",
    types=("terraform_backend",),
    check=check,
)
