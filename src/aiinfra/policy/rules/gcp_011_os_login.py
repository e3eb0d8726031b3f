from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    metadata = {k: str(v).upper() for k, v in (r.body.get("metadata") or {}).items()}
    if metadata.get("enable-oslogin") != "TRUE":
        return bad("OS Login is not on (metadata enable-oslogin = TRUE)")
    if metadata.get("block-project-ssh-keys") != "TRUE":
        return bad("project-wide SSH keys are not blocked")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-011",
    description="GPU nodes use OS Login and refuse project-wide SSH keys",
    explanation="OS Login ties SSH to IAM identities with audit logs; a project-wide key opens every node to whoever holds it.",
    fix="set metadata enable-oslogin = TRUE and block-project-ssh-keys = TRUE (GpuInstanceGroup does this)",
    types=("google_compute_region_instance_template", "google_compute_instance_template", "google_compute_instance"),
    check=check,
)
