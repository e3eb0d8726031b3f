from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def _on(value) -> bool:
    # at_rest_encryption_enabled is a string in provider 5.100 ("true"), transit_encryption_enabled a bool.
    return value is True or str(value).lower() == "true"


def check(r: Resource, stack: StackView):
    problems = []
    if not (_on(r.get("at_rest_encryption_enabled")) and r.get("kms_key_id")):
        problems.append("data at rest is not encrypted with a customer-managed key (at_rest_encryption_enabled + kms_key_id)")
    if not _on(r.get("transit_encryption_enabled")) or r.get("transit_encryption_mode", default="required") != "required":
        problems.append("in-transit encryption is not required (transit_encryption_enabled with transit_encryption_mode \"required\")")
    if not (r.get("user_group_ids") or r.get("auth_token")):
        problems.append("clients are not authenticated (no user_group_ids with IAM / RBAC users, no auth_token)")
    return bad("; ".join(problems)) if problems else ok()


RULE = Rule(
    id="AIINFRA-AWS-019",
    description="ElastiCache replication groups encrypt at rest with a customer key, require TLS and authenticate clients",
    explanation="A cache holds copies of the data it serves: its snapshots and swap are encrypted with the account's key only when "
                "at-rest encryption names one (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/at-rest-encryption.html); "
                "transit encryption mode \"preferred\" still accepts plaintext clients "
                "(https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption.html); without a user group or an "
                "AUTH token any host that reaches port 6379 reads and writes every key "
                "(https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html).",
    fix="set at_rest_encryption_enabled = \"true\" with kms_key_id, transit_encryption_enabled = true with transit_encryption_mode = "
        "\"required\", and user_group_ids (ServingCache does this, with IAM authentication)",
    types=("aws_elasticache_replication_group",),
    check=check,
)
