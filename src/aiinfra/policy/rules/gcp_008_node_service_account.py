from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

FULL_SCOPES = ("https://www.googleapis.com/auth/cloud-platform", "cloud-platform")


def check(r: Resource, stack: StackView):
    account = r.get("service_account", default={})
    email = str(account.get("email") or "")
    if not email or email == "default" or email.endswith("-compute@developer.gserviceaccount.com"):
        return bad("runs as the default compute service account")
    if any(s in FULL_SCOPES for s in account.get("scopes") or []):
        return bad("has the cloud-platform (full access) scope")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-008",
    description="Nodes run as their own service account, without full-access scopes",
    explanation="The default compute service account has Editor on the project in many organisations; with the cloud-platform "
                "scope any process on the node inherits it.",
    fix="set service_account { email = <WorkloadIdentity.email>, scopes = [storage, logging, monitoring] } (GpuInstanceGroup does this)",
    types=("google_compute_region_instance_template", "google_compute_instance_template", "google_compute_instance"),
    check=check,
)
