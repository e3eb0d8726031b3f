from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, na, ok

AUTHENTICATE = ("authenticate-oidc", "authenticate-cognito")


def _ordered(actions: list[dict]) -> list[dict]:
    # Terraform lists actions in any order; the load balancer runs them by ``order`` (list position when unset).
    return [a for _, a in sorted(enumerate(actions), key=lambda ia: (ia[1].get("order", ia[0] + 1), ia[0]))]


def _unauthenticated(actions: list[dict]) -> str | None:
    """Why requests reach a target without an authenticated caller (None: they do not)."""
    seen_auth = False
    for action in _ordered(actions):
        kind = str(action.get("type", ""))
        if kind in AUTHENTICATE:
            config = (blocks(action.get(kind.replace("-", "_"))) or [{}])[0]
            if str(config.get("on_unauthenticated_request", "authenticate")) == "allow":
                return f"{kind} with on_unauthenticated_request = \"allow\" forwards callers who did not sign in"
            seen_auth = True
        elif kind == "forward" and not seen_auth:
            return "forwards to the targets with no authenticate-oidc or authenticate-cognito action before it"
    return None


def check(r: Resource, stack: StackView):
    if "api_authentication" not in stack.requires:
        return na()
    if r.type in ("aws_lb_listener", "aws_alb_listener"):
        if str(r.body.get("protocol", "HTTP")).upper() not in ("HTTP", "HTTPS"):
            return na()  # TCP/TLS/UDP listeners (network load balancers) cannot authenticate callers
        actions = blocks(r.body.get("default_action"))
    else:
        actions = blocks(r.body.get("action"))
    why = _unauthenticated(actions)
    return bad(f"{why}, while the spec asks for API authentication") if why else ok()


RULE = Rule(
    id="AIINFRA-AWS-012",
    description="Endpoints authenticate callers when the spec asks for it",
    explanation="The spec's access_management.api_authentication asks that only authenticated callers reach the model; a listener "
                "(or listener rule) that forwards without an authenticate action lets anyone who can reach the load balancer in.",
    fix="give InferenceEndpoint authentication=OidcAuthentication(...) (the listener authenticates with the IdP, order 1, then "
        "forwards, order 2), with on_unauthenticated_request \"authenticate\" or \"deny\"",
    types=("aws_lb_listener", "aws_alb_listener", "aws_lb_listener_rule", "aws_alb_listener_rule"),
    check=check,
)
