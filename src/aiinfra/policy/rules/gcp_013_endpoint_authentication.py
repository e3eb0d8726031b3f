from aiinfra.policy.model import Resource, Rule, StackView, bad, na, ok

# Schemes of load balancers IAP cannot sit on (https://cloud.google.com/iap/docs/enabling-compute-howto: IAP protects
# Application Load Balancer backend services): a regional backend service's INTERNAL / EXTERNAL are passthrough Network
# Load Balancers (INTERNAL is the provider's default there); INTERNAL_SELF_MANAGED is a service mesh (Traffic Director).
PASSTHROUGH = ("INTERNAL", "EXTERNAL")
NOT_HTTP = ("TCP", "UDP", "SSL", "UNSPECIFIED")


def check(r: Resource, stack: StackView):
    if "api_authentication" not in stack.requires:
        return na()
    regional = r.type == "google_compute_region_backend_service"
    scheme = str(r.body.get("load_balancing_scheme") or ("INTERNAL" if regional else "EXTERNAL")).upper()
    if (regional and scheme in PASSTHROUGH) or scheme == "INTERNAL_SELF_MANAGED" or str(r.body.get("protocol", "")).upper() in NOT_HTTP:
        return na()  # no HTTP proxy in front of these backends: nothing to authenticate a caller at the load balancer
    enabled = r.get("iap", "enabled")
    if enabled is True or str(enabled).lower() == "true":
        return ok()
    return bad("backend service without Identity-Aware Proxy (iap.enabled), while the spec asks for API authentication")


RULE = Rule(
    id="AIINFRA-GCP-013",
    description="Endpoints authenticate callers when the spec asks for it",
    explanation="The spec's access_management.api_authentication asks that only authenticated callers reach the model; a backend "
                "service without Identity-Aware Proxy forwards any request that reaches the load balancer to the GPU nodes.",
    fix="give InferenceEndpoint / InternalEndpoint iap=IapAccess(members=[...]) (IAP on the backend service, "
        "roles/iap.httpsResourceAccessor for the callers) and enable iap.googleapis.com in the project",
    types=("google_compute_backend_service", "google_compute_region_backend_service"),
    check=check,
)
