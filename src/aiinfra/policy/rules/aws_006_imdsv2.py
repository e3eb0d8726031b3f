from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    options = r.get("metadata_options", default={})
    if options.get("http_endpoint") == "disabled":
        return ok()
    return ok() if options.get("http_tokens") == "required" else bad("instance metadata accepts IMDSv1 (http_tokens is not 'required')")


RULE = Rule(
    id="AIINFRA-AWS-006",
    description="Instances require IMDSv2",
    explanation="IMDSv1 answers any request from the node, so one server-side request forgery in a model server hands out the "
                "node role's credentials; IMDSv2 needs a session token.",
    fix="set metadata_options { http_tokens = \"required\" } (GpuInstanceGroup does this)",
    types=("aws_launch_template", "aws_instance"),
    check=check,
)
