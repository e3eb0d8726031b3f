from aiinfra.policy.model import Resource, Rule, StackView, as_list, bad, ok, policy_statements


def _denies_plain_http(statement: dict) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    condition = statement.get("Condition", {})
    secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
    return secure in ("false", False) and any(a in ("s3:*", "*") for a in as_list(statement.get("Action")))


def check(r: Resource, stack: StackView):
    policies = stack.referencing(r, "aws_s3_bucket_policy", argument="bucket")
    if any(_denies_plain_http(s) for p in policies for s in policy_statements(p.body.get("policy"))):
        return ok()
    return bad("no bucket policy denies requests without TLS (aws:SecureTransport = false)")


RULE = Rule(
    id="AIINFRA-AWS-005",
    description="S3 buckets refuse plain-HTTP requests",
    explanation="Without a deny on aws:SecureTransport, a misconfigured client can move data in clear text.",
    fix="add an aws_s3_bucket_policy statement Deny s3:* when aws:SecureTransport is false (TieredStorage does this)",
    types=("aws_s3_bucket",),
    check=check,
)
