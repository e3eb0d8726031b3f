from aiinfra.policy.model import Resource, Rule, StackView, bad, na, ok

# Internet-facing schemes: EXTERNAL (classic Application / proxy Network Load Balancer, the provider's default) and
# EXTERNAL_MANAGED (global external Application Load Balancer); Cloud Armor backend policies attach to both
# (https://cloud.google.com/armor/docs/security-policy-overview).
PUBLIC_SCHEMES = ("EXTERNAL", "EXTERNAL_MANAGED")


def check(r: Resource, stack: StackView):
    scheme = str(r.body.get("load_balancing_scheme") or "EXTERNAL").upper()
    if scheme not in PUBLIC_SCHEMES:
        return na()  # internal and service-mesh backends take no requests from the internet
    if r.body.get("security_policy"):
        return ok()
    return bad(f"{scheme} backend service with no Cloud Armor security_policy")


RULE = Rule(
    id="AIINFRA-GCP-012",
    description="Internet-facing backend services have a Cloud Armor policy",
    explanation="A public inference endpoint without Cloud Armor takes any request rate from any one client (one caller can exhaust "
                "the GPU fleet and the budget) and bodies of any declared size, and gets no filtering of known exploit patterns.",
    fix="attach a policy to the backend service: InferenceEndpoint(..., security_policy=SecurityPolicy(...).id) (a per-client "
        "throttle from the plan's peak, a body size limit, preconfigured WAF rules); or serve the endpoint internally",
    types=("google_compute_backend_service",),
    check=check,
)
