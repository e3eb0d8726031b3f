"""The identity of an add-on's pods on EKS: an IAM role they assume through EKS Pod Identity, bound to the add-on's
namespace and service account, with the add-on's own policy (the AWS Load Balancer Controller's published one,
``load_balancer_controller_statements``; prometheus-adapter's queries of Amazon Managed Service for Prometheus,
``prometheus_query_statements``; the Cluster Autoscaler's, ``cluster_autoscaler_statements``)."""

from __future__ import annotations

from aiinfra.cdk import Construct

from aiinfra.constructs._k8s_names import service_account_problems
from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.eks_cluster import POD_IDENTITY_TRUST
from aiinfra.policy.aspect import suppress

LBC_NAMESPACE, LBC_SERVICE_ACCOUNT = "kube-system", "aws-load-balancer-controller"
_TAG = "elbv2.k8s.aws/cluster"  # the tag the controller puts on everything it creates, and the policy's conditions test


def load_balancer_controller_statements(partition: str) -> list[dict]:
    """The controller's IAM policy, statement for statement as kubernetes-sigs/aws-load-balancer-controller
    publishes it for v3.5.0 (``docs/install/iam_policy.json`` at tag v3.5.0; the install guide,
    https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/installation/, has it created
    as is). Its ``Create*`` calls name no ARN (the resource does not exist yet) but must carry the
    ``elbv2.k8s.aws/cluster`` tag; its writes on existing security groups, load balancers and target groups
    need that tag on them; its reads are ``Describe*`` calls with no resource types. ``partition``: the ARNs'
    partition (the published file writes ``aws``)."""
    elb = f"arn:{partition}:elasticloadbalancing:*:*"
    sg = f"arn:{partition}:ec2:*:*:security-group/*"
    balancers = [f"{elb}:targetgroup/*/*", f"{elb}:loadbalancer/net/*/*", f"{elb}:loadbalancer/app/*/*"]
    tagged_request, untagged_request = {"Null": {f"aws:RequestTag/{_TAG}": "false"}}, {f"aws:RequestTag/{_TAG}": "true"}
    owned = {"Null": {f"aws:ResourceTag/{_TAG}": "false"}}
    describe = ["ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones", "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage", "ec2:DescribeCoipPools",
                "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools", "ec2:DescribeRouteTables"] + \
        [f"elasticloadbalancing:Describe{x}" for x in ("LoadBalancers", "LoadBalancerAttributes", "Listeners", "ListenerCertificates",
                                                       "SSLPolicies", "Rules", "TargetGroups", "TargetGroupAttributes", "TargetHealth",
                                                       "Tags", "TrustStores", "ListenerAttributes", "CapacityReservation")]
    return [
        {"Sid": "ServiceLinkedRole", "Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole"], "Resource": "*",
         "Condition": {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
        {"Sid": "Describe", "Effect": "Allow", "Action": describe, "Resource": "*"},
        {"Sid": "CertificatesWafShield", "Effect": "Allow", "Resource": "*", "Action": [
            "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate", "iam:ListServerCertificates",
            "iam:GetServerCertificate", "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL",
            "waf-regional:DisassociateWebACL", "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL",
            "wafv2:DisassociateWebACL", "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection",
            "shield:DeleteProtection"]},
        {"Sid": "SecurityGroupIngress", "Effect": "Allow", "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
         "Resource": "*"},
        {"Sid": "CreateSecurityGroup", "Effect": "Allow", "Action": ["ec2:CreateSecurityGroup"], "Resource": "*"},
        {"Sid": "TagNewSecurityGroup", "Effect": "Allow", "Action": ["ec2:CreateTags"], "Resource": sg,
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **tagged_request}},
        {"Sid": "TagOwnSecurityGroup", "Effect": "Allow", "Action": ["ec2:CreateTags", "ec2:DeleteTags"], "Resource": sg,
         "Condition": {"Null": {**untagged_request, f"aws:ResourceTag/{_TAG}": "false"}}},
        {"Sid": "OwnSecurityGroups", "Effect": "Allow", "Resource": "*", "Condition": owned,
         "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"]},
        {"Sid": "CreateTagged", "Effect": "Allow", "Action": ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
         "Resource": "*", "Condition": tagged_request},
        {"Sid": "ListenersAndRules", "Effect": "Allow", "Resource": "*", "Action": [
            "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener", "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:DeleteRule"]},
        {"Sid": "TagOwnBalancers", "Effect": "Allow", "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
         "Resource": balancers, "Condition": {"Null": {**untagged_request, f"aws:ResourceTag/{_TAG}": "false"}}},
        {"Sid": "TagListeners", "Effect": "Allow", "Action": ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
         "Resource": [f"{elb}:listener/net/*/*/*", f"{elb}:listener/app/*/*/*", f"{elb}:listener-rule/net/*/*/*",
                      f"{elb}:listener-rule/app/*/*/*"]},
        {"Sid": "OwnBalancers", "Effect": "Allow", "Resource": "*", "Condition": owned, "Action": [
            "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType", "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:SetSubnets", "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
            "elasticloadbalancing:ModifyIpPools"]},
        {"Sid": "TagOnCreate", "Effect": "Allow", "Action": ["elasticloadbalancing:AddTags"], "Resource": balancers,
         "Condition": {"StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]}, **tagged_request}},
        {"Sid": "Targets", "Effect": "Allow", "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
         "Resource": f"{elb}:targetgroup/*/*"},
        {"Sid": "ListenerSettings", "Effect": "Allow", "Resource": "*", "Action": [
            "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener", "elasticloadbalancing:AddListenerCertificates",
            "elasticloadbalancing:RemoveListenerCertificates", "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities"]},
    ]


def prometheus_query_statements(workspace_arn: str) -> list[dict]:
    """Queries of one Amazon Managed Service for Prometheus workspace: the four read calls of its query API
    (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-and-IAM.html, the AmazonPrometheusQueryAccess
    managed policy's actions), on that workspace only."""
    return [{"Sid": "QueryWorkspace", "Effect": "Allow", "Resource": workspace_arn,
             "Action": ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"]}]


def cluster_autoscaler_statements(cluster_name: str) -> list[dict]:
    """The Cluster Autoscaler's policy as kubernetes/autoscaler's AWS guide gives it, "Full Cluster Autoscaler Features
    Policy (Recommended)" (cluster-autoscaler/cloudprovider/aws/README.md, chart 9.59.0's commit): the Describe calls
    its auto-discovery and scale-from-zero need (``eks:DescribeNodegroup`` reads a managed node group's labels and
    taints while it has no node), which support no resource types, and the scaling calls, restricted as the guide
    advises ("only the second block of actions should be updated to restrict the resources/add conditionals") to the
    Auto Scaling groups tagged ``k8s.io/cluster-autoscaler/<cluster>``: the tag EKS puts on the groups of its managed
    node groups for the Cluster Autoscaler
    (https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html)."""
    return [
        {"Sid": "Discover", "Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLaunchConfigurations",
            "autoscaling:DescribeScalingActivities", "ec2:DescribeImages", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
            "ec2:GetInstanceTypesFromInstanceRequirements", "eks:DescribeNodegroup"]},
        {"Sid": "ScaleOwnGroups", "Effect": "Allow", "Resource": "*",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Condition": {"Null": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "false"}}},
    ]


# Why the Cluster Autoscaler's policy has statements on "*".
AUTOSCALER_WAIVER = ("the Cluster Autoscaler's recommended policy (kubernetes/autoscaler cloudprovider/aws/README.md): its Describe "
                     "calls support no resource types, and its scaling calls are limited to the Auto Scaling groups tagged "
                     "k8s.io/cluster-autoscaler/<cluster> (the cluster's managed node groups), which it discovers at run time")


class AddOnIdentity(Construct):
    """The role the pods of an add-on's service account ``namespace/service_account`` get, through an EKS Pod
    Identity association (https://docs.aws.amazon.com/eks/latest/userguide/pod-identities.html): the role
    trusts ``pods.eks.amazonaws.com`` only, its inline policy is ``statements``. EKS hands the credentials to
    pods created after the association: a release of the add-on depends on ``association``.

    Example::

        lbc = AddOnIdentity(stack, "lbc", cluster_name="ml-prod", namespace="kube-system",
                            service_account="aws-load-balancer-controller", name="ml-prod-lb-controller",
                            statements=load_balancer_controller_statements("aws"), waiver=LBC_WAIVER)

    Args:
        cluster_name: the EKS cluster (it must exist: the association names it).
        namespace, service_account: the add-on's pods.
        name: the role's name (64 characters at most).
        statements: the role's policy.
        waiver: the reason the policy is exempt from AIINFRA-AWS-009 (statements on ``*``); None: not exempt.

    Attributes:
        role_arn, association (the association resource), association_id, namespace, service_account.
    """

    def __init__(self, scope: Construct, id: str, *, cluster_name: str, namespace: str, service_account: str, name: str,
                 statements: list[dict], waiver: str | None = None, tags: dict[str, str] | None = None):
        problems = service_account_problems(namespace, service_account)
        if len(name) > 64:
            problems.append(f"the role name {name!r} is longer than 64 characters")
        if not statements:
            problems.append("statements: the role's policy is empty")
        if problems:
            raise ValueError("; ".join(problems))
        super().__init__(scope, id)
        role = resource(self, "role", "aws_iam_role", name=name, assume_role_policy=POD_IDENTITY_TRUST,
                        description=f"{namespace}/{service_account} of {cluster_name}", max_session_duration=3600, tags=tags or None)
        policy = resource(self, "policy", "aws_iam_role_policy", name=f"{name}-policy"[:128], role=role.get_string_attribute("name"),
                          policy=policy_json(statements))
        if waiver:
            suppress(policy, "AIINFRA-AWS-009", waiver)
        self.association = resource(self, "association", "aws_eks_pod_identity_association", cluster_name=cluster_name,
                                    namespace=namespace, service_account=service_account, role_arn=role.get_string_attribute("arn"),
                                    tags=tags or None)
        self.role_arn: str = role.get_string_attribute("arn")
        self.association_id: str = self.association.get_string_attribute("association_id")
        self.namespace, self.service_account = namespace, service_account


# Why the Load Balancer Controller's policy has statements on "*".
LBC_WAIVER = ("the AWS Load Balancer Controller's published policy (iam_policy.json v3.5.0): the load balancers, target groups and "
              "security groups it creates have no ARN before it creates them (their Create calls must carry its cluster tag), its "
              "writes on existing ones are conditioned on that tag, and its Describe calls support no resource types")
