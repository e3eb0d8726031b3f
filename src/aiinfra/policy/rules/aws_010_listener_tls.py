from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok

# ELB security policies that offer TLS 1.2 or later only.
TLS12_PLUS = ("ELBSecurityPolicy-TLS13-", "ELBSecurityPolicy-TLS-1-2-", "ELBSecurityPolicy-FS-1-2-")


def check(r: Resource, stack: StackView):
    protocol = str(r.body.get("protocol", "HTTP")).upper()
    if protocol in ("HTTPS", "TLS"):
        policy = str(r.body.get("ssl_policy", ""))
        return ok() if policy.startswith(TLS12_PLUS) else bad(f"listener allows TLS below 1.2 (ssl_policy {policy or 'default'})")
    if protocol in ("HTTP", "TCP"):
        actions = blocks(r.body.get("default_action"))
        redirect = actions and all(a.get("type") == "redirect" and str((blocks(a.get("redirect")) or [{}])[0].get("protocol", "")).upper()
                                   == "HTTPS" for a in actions)
        return ok() if redirect else bad(f"plain {protocol} listener that does not redirect to HTTPS")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-010",
    description="Load balancer listeners serve TLS 1.2 or later",
    explanation="Predictions and their inputs are customer data; TLS 1.0/1.1 and plain HTTP expose them on the wire.",
    fix="use protocol HTTPS with ssl_policy ELBSecurityPolicy-TLS13-1-2-2021-06 (InferenceEndpoint does this); "
        "an HTTP listener may only redirect to HTTPS",
    types=("aws_lb_listener", "aws_alb_listener"),
    check=check,
)
