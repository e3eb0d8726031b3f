from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

OPEN = ("0.0.0.0/0", "::/0")


def check(r: Resource, stack: StackView):
    # The provider's default is a public endpoint open to 0.0.0.0/0: unset counts as open.
    # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/eks_cluster#vpc_config
    if r.get("vpc_config", "endpoint_public_access", default=True) is False:
        return ok()
    cidrs = [str(c) for c in r.get("vpc_config", "public_access_cidrs", default=[]) or []]
    if not cidrs or any(c in OPEN for c in cidrs):
        return bad("the public API endpoint is reachable from the whole internet (public_access_cidrs is unset or 0.0.0.0/0)")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-015",
    description="EKS API endpoints are private or public only to listed CIDR blocks",
    explanation="A public endpoint without an allow-list lets anyone on the internet reach the Kubernetes API server; the "
                "credentials still decide, but every probe, brute force and API server flaw is then one request away "
                "(https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html).",
    fix="set vpc_config.public_access_cidrs to where Terraform and kubectl run, or endpoint_public_access = false with "
        "endpoint_private_access = true (KubernetesCluster's endpoint_cidrs)",
    types=("aws_eks_cluster",),
    check=check,
)
