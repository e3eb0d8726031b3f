from aiinfra.policy.model import Resource, Rule, StackView, bad, na, ok


def check(r: Resource, stack: StackView):
    if str(r.body.get("load_balancer_type", "application")) != "application":
        return na()  # WAF protects Application Load Balancers only (not network or gateway load balancers)
    if r.body.get("internal") is True:
        return ok()
    if stack.referencing(r, "aws_wafv2_web_acl_association", argument="resource_arn"):
        return ok()
    return bad("internet-facing application load balancer with no aws_wafv2_web_acl_association in the stack")


RULE = Rule(
    id="AIINFRA-AWS-011",
    description="Internet-facing load balancers are behind AWS WAF",
    explanation="A public inference endpoint without a web ACL takes any request rate from any one client (one caller can exhaust "
                "the GPU fleet and the budget) and bodies of any declared size, and gets no filtering of known exploit patterns.",
    fix="associate a web ACL with the load balancer: WebAcl(..., resource_arn=endpoint.arn) (a per-client rate limit from the "
        "plan's peak, a body size limit, AWS managed rules); or make the load balancer internal",
    types=("aws_lb", "aws_alb"),
    check=check,
)
