from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok

SSE = "aws_s3_bucket_server_side_encryption_configuration"


def check(r: Resource, stack: StackView):
    configs = stack.referencing(r, SSE, argument="bucket")
    if not configs:
        return bad("no server-side encryption configuration names this bucket")
    for config in configs:
        for rule in blocks(config.body.get("rule")):
            default = (blocks(rule.get("apply_server_side_encryption_by_default")) or [{}])[0]
            if default.get("sse_algorithm") in ("aws:kms", "aws:kms:dsse") and default.get("kms_master_key_id"):
                return ok()
    return bad("objects are not encrypted with a customer-managed KMS key (sse_algorithm aws:kms and kms_master_key_id)")


RULE = Rule(
    id="AIINFRA-AWS-001",
    description="S3 buckets are encrypted with a customer-managed KMS key",
    explanation="Datasets, checkpoints and models are the crown jewels; a customer key puts their decryption under your key policy "
                "and CloudTrail, and revoking it makes every copy unreadable.",
    fix="add aws_s3_bucket_server_side_encryption_configuration with sse_algorithm = \"aws:kms\" and kms_master_key_id "
        "(TieredStorage does this)",
    types=("aws_s3_bucket",),
    check=check,
)
