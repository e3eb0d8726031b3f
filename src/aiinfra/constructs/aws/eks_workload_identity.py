"""A workload's identity on EKS: an IAM role its pods assume through EKS Pod Identity, bound to one
namespace and service account, with the grants ``WorkloadIdentity`` gives VM nodes."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._k8s_names import service_account_problems
from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.eks_cluster import POD_IDENTITY_TRUST
from aiinfra.constructs.aws.workload_identity import own_resource_statements, unscoped_reads



class PodIdentity(Construct):
    """The role the pods of ``namespace`` running as ``service_account`` get, through an EKS Pod
    Identity association (the cluster's ``eks-pod-identity-agent`` add-on hands them its
    credentials; no OIDC provider, no role ARN annotation on the service account).
    https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html

    The role trusts ``pods.eks.amazonaws.com`` (``sts:AssumeRole`` and ``sts:TagSession``) and
    nothing else; the association is what limits it to one cluster, namespace and service account.
    Its inline policy is ``workload_identity.own_resource_statements``, the one ``WorkloadIdentity``
    gives VM nodes: objects under ``<bucket>/<prefix>/``, the workload's key, image pulls from
    ``repository_arns`` only (``ecr:GetAuthorizationToken``, which has no resource type, in a separate
    waived policy as on VMs). Nodes pull images with their own role; the grant is for pods that talk
    to ECR themselves (a build or a model-fetching init container).

    Example::

        ident = PodIdentity(stack, "train-identity", cluster=cluster, namespace="train", service_account="trainer",
                            bucket_arn=bucket.arn, prefix="train", kms_key_arn=key.arn,
                            repository_arns=["arn:aws:ecr:us-east-1:123456789012:repository/acme/train"])

    Args:
        cluster: the ``KubernetesCluster``.
        namespace, service_account: who gets the role.
        bucket_arn, prefix: the workload's data: ``<bucket>/<prefix>/`` read, written and listed.
        kms_key_arn: the key it encrypts and decrypts with.
        repository_arns: the ECR repositories it may pull from; empty: none.
        name: the role's name; default ``<cluster>-<namespace>-<service_account>`` (64 characters at most).
        signing_key_arns: asymmetric KMS keys whose public halves it may read (cosign verification), as
            ``WorkloadIdentity`` grants them on VMs; default none.

    Attributes:
        role_arn, role_name, association_id.
    """

    def __init__(self, scope: Construct, id: str, *, cluster, namespace: str, service_account: str, bucket_arn: str, prefix: str,
                 kms_key_arn: str, repository_arns: Sequence[str], name: str | None = None, tags: dict[str, str] | None = None,
                 signing_key_arns: Sequence[str] = ()):
        super().__init__(scope, id)
        problems = service_account_problems(namespace, service_account)
        if not prefix.strip("/"):
            problems.append("prefix must name the workload's own key prefix; an empty one would grant the whole bucket")
        name = name or f"{cluster.given_name}-{namespace}-{service_account}"
        if len(name) > 64:
            problems.append(f"the role name {name!r} is longer than 64 characters; pass name")
        if problems:
            raise ValueError("; ".join(problems))
        ctx = AwsContext(self)
        tags = {**cluster.tags, **(tags or {})}
        statements = own_resource_statements(ctx, bucket_arns=[bucket_arn], prefix=prefix, kms_key_arns=[kms_key_arn],
                                             repository_arns=list(repository_arns), signing_key_arns=signing_key_arns)
        self.role = resource(self, "role", "aws_iam_role", name=name, assume_role_policy=POD_IDENTITY_TRUST,
                             description=f"Pods of {namespace}/{service_account} in {cluster.given_name}", max_session_duration=3600,
                             tags=tags)
        role_name = self.role.get_string_attribute("name")
        self.policy = resource(self, "policy", "aws_iam_role_policy", name=f"{name}-own-resources"[:128], role=role_name,
                               policy=policy_json(statements))
        unscoped_reads(self, role_name, name, ["ecr:GetAuthorizationToken"] if repository_arns else [])
        self.association = resource(self, "association", "aws_eks_pod_identity_association", cluster_name=cluster.name,
                                    namespace=namespace, service_account=service_account, role_arn=self.role.get_string_attribute("arn"),
                                    tags=tags or None)
        self.role_arn: str = self.role.get_string_attribute("arn")
        self.role_name: str = role_name
        self.association_id: str = self.association.get_string_attribute("association_id")
        self.namespace, self.service_account = namespace, service_account
