from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")


def check(r: Resource, stack: StackView):
    blocks = stack.referencing(r, "aws_s3_bucket_public_access_block", argument="bucket")
    if not blocks:
        return bad("no public access block names this bucket")
    off = [f for f in FLAGS if blocks[0].body.get(f) is not True]
    return bad(f"public access block has {', '.join(off)} off") if off else ok()


RULE = Rule(
    id="AIINFRA-AWS-004",
    description="S3 buckets block all public access",
    explanation="One public ACL or bucket policy exposes training data to the internet; the four blocks make that impossible "
                "whatever a later policy says.",
    fix="add aws_s3_bucket_public_access_block with all four flags true (TieredStorage does this)",
    types=("aws_s3_bucket",),
    check=check,
)
