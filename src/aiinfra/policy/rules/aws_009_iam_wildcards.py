from aiinfra.policy.model import Resource, Rule, StackView, as_list, bad, ok, policy_statements

ADMIN_POLICIES = (":policy/AdministratorAccess", ":policy/PowerUserAccess", ":policy/IAMFullAccess")


def check(r: Resource, stack: StackView):
    if r.type in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_user_policy_attachment"):
        arn = str(r.body.get("policy_arn", ""))
        return bad(f"attaches {arn.rsplit('/', 1)[-1]}") if arn.endswith(ADMIN_POLICIES) else ok()
    if r.type == "aws_iam_role" and any(str(a).endswith(ADMIN_POLICIES) for a in r.body.get("managed_policy_arns") or []):
        return bad("attaches an administrator policy")
    for statement in policy_statements(r.body.get("policy")):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(statement.get("Action", []))]
        if "*" in actions or any(a.endswith(":*") for a in actions):
            return bad(f"allows the action wildcard {next(a for a in actions if a == '*' or a.endswith(':*'))}")
        if "*" in [str(x) for x in as_list(statement.get("Resource", []))]:
            return bad("allows actions on every resource (Resource \"*\")")
        if statement.get("NotAction") or statement.get("NotResource"):
            return bad("Allow with NotAction / NotResource grants everything else")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-009",
    description="IAM policies name their actions and resources (no \"*\")",
    explanation="A wildcard turns one compromised node into the whole account; a workload needs its bucket prefix, its key and "
                "its logs, no more.",
    fix="list the actions and the resource ARNs the workload uses (WorkloadIdentity does this)",
    types=("aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy", "aws_iam_role_policy_attachment",
           "aws_iam_policy_attachment", "aws_iam_user_policy_attachment", "aws_iam_role"),
    check=check,
)
