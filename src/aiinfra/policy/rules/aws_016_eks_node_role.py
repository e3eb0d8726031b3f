import re

from aiinfra.policy.model import Resource, Result, Rule, StackView, bad, na, ok
from aiinfra.policy.rules.aws_009_iam_wildcards import ADMIN_POLICIES
from aiinfra.policy.rules.aws_009_iam_wildcards import check as least_privilege

ROLE_REF = re.compile(r"^\$\{aws_iam_role\.([A-Za-z0-9_-]+)\.arn\}$")


def check(r: Resource, stack: StackView):
    match = ROLE_REF.match(str(r.body.get("node_role_arn", "")))
    role = next((x for x in stack.of_type("aws_iam_role") if match and x.name == match.group(1)), None)
    if role is None:
        return na()  # a role of another stack or a literal ARN: judged where it is defined
    if any(str(a).endswith(ADMIN_POLICIES) for a in role.body.get("managed_policy_arns") or []):
        return bad(f"runs as {role.address}, which has an administrator policy")
    for grant in stack.referencing(role, "aws_iam_role_policy_attachment", "aws_iam_role_policy", argument="role"):
        judged, detail = least_privilege(grant, stack)
        if judged is Result.NON_COMPLIANT:
            return bad(f"runs as {role.address}, whose {grant.address} {detail}")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-016",
    description="EKS node groups run as a node role without administrator or wildcard grants",
    explanation="Every pod without an identity of its own can reach the node role's credentials, and the kubelet acts with them; "
                "a node role with AdministratorAccess or a \"*\" grant turns any compromised pod into the account "
                "(https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html: AmazonEKSWorkerNodePolicy, "
                "AmazonEC2ContainerRegistryPullOnly, AmazonEKS_CNI_Policy).",
    fix="give node_role_arn a role with only the EKS node policies; grant workloads their own access through PodIdentity "
        "(GpuNodePool does this)",
    types=("aws_eks_node_group",),
    check=check,
)
