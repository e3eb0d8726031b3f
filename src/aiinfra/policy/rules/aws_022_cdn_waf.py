from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    return ok() if r.body.get("web_acl_id") else bad("the distribution names no web ACL (web_acl_id)")


RULE = Rule(
    id="AIINFRA-AWS-022",
    description="CloudFront distributions are behind an AWS WAF web ACL",
    explanation="Every request to a distribution reaches the edge, and the ones not in its cache reach the origin and are billed: "
                "without a web ACL one client may send any rate and known exploit patterns are not filtered.",
    fix="set web_acl_id to the arn of a CLOUDFRONT-scope aws_wafv2_web_acl in us-east-1 (StaticContentCdn makes one with WebAcl)",
    types=("aws_cloudfront_distribution",),
    check=check,
)
