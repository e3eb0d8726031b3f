from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

BROAD = ("roles/owner", "roles/editor", "roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator",
         "roles/resourcemanager.projectIamAdmin", "roles/iam.securityAdmin")
PUBLIC = ("allUsers", "allAuthenticatedUsers")


def check(r: Resource, stack: StackView):
    role = str(r.body.get("role", ""))
    members = [r.body.get("member")] + list(r.body.get("members") or [])
    if r.type.startswith("google_project_iam") and role in BROAD:
        return bad(f"grants {role} on the whole project")
    if any(m in PUBLIC for m in members):
        return bad(f"grants {role} to everyone")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-007",
    description="IAM grants are narrow: no project-wide owner / editor / impersonation, no public members",
    explanation="A project-wide primitive role turns one compromised node into the whole project; grants belong on the "
                "workload's own bucket and key.",
    fix="grant predefined roles on the resource (bucket, key) to the workload's own service account (WorkloadIdentity does this)",
    types=("google_project_iam_member", "google_project_iam_binding", "google_kms_crypto_key_iam_member",
           "google_kms_crypto_key_iam_binding", "google_service_account_iam_member", "google_service_account_iam_binding"),
    check=check,
)
