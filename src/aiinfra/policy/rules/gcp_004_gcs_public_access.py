from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

PUBLIC = ("allUsers", "allAuthenticatedUsers")


def check(r: Resource, stack: StackView):
    if r.type != "google_storage_bucket":
        members = [r.body.get("member")] + list(r.body.get("members") or [])
        return bad("grants a role to everyone") if any(m in PUBLIC for m in members) else ok()
    if r.body.get("uniform_bucket_level_access") is not True:
        return bad("uniform bucket-level access is off (object ACLs can make objects public)")
    if r.body.get("public_access_prevention") != "enforced":
        return bad("public access prevention is not enforced")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-004",
    description="Cloud Storage buckets use uniform access and enforce public access prevention",
    explanation="Object ACLs and allUsers grants are how training data ends up on the internet; uniform access plus enforced "
                "prevention rule both out, whatever a later grant says.",
    fix="set uniform_bucket_level_access = true and public_access_prevention = \"enforced\"; grant named principals only",
    types=("google_storage_bucket", "google_storage_bucket_iam_member", "google_storage_bucket_iam_binding"),
    check=check,
)
