"""An EKS cluster for GPU node pools: secrets envelope-encrypted under the foundation's key,
control-plane logs to an encrypted log group, access entries instead of the aws-auth ConfigMap,
the support type the plan chose (standard unless the spec pins a version past it), the API
endpoint reachable only from where Terraform runs, and the core add-ons at EKS's default versions
for the cluster's Kubernetes version, resolved once and kept in state."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._endpoint_access import endpoint_cidr_problems
from aiinfra.constructs._tf import data, pinned, policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.eks_node_pool import GpuNodePool
from aiinfra.constructs.aws.log_group import RETENTION_DAYS

# Every control-plane log type EKS can send to CloudWatch Logs.
# https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")

# The managed add-ons every cluster gets. Their versions are not kept in a table here (one goes stale with every
# Kubernetes release: a cluster on a newer version could not be built): each is EKS's default version for the
# cluster's Kubernetes version, which DescribeAddonVersions marks (compatibilities[].defaultVersion,
# https://docs.aws.amazon.com/eks/latest/userguide/addon-compat.html) and the aws provider's aws_eks_addon_version
# data source returns without most_recent (most_recent takes the newest listed build instead:
# internal/service/eks/addon_version_data_source.go, findAddonVersionByTwoPartKey). The default, not the newest:
# the default is the build EKS marks for that Kubernetes version, the newest only the last one published. Pages of each:
#   vpc-cni:      https://docs.aws.amazon.com/eks/latest/userguide/managing-vpc-cni.html
#   coredns:      https://docs.aws.amazon.com/eks/latest/userguide/managing-coredns.html
#   kube-proxy:   https://docs.aws.amazon.com/eks/latest/userguide/managing-kube-proxy.html
#   eks-pod-identity-agent: https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html
#   aws-ebs-csi-driver:     https://docs.aws.amazon.com/eks/latest/userguide/managing-ebs-csi.html
ADDONS = ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver")

# The access policy that makes a principal a cluster administrator (system:masters' equivalent).
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
CLUSTER_ADMIN_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

# What pods assume a role through: EKS Pod Identity's service principal, with sts:TagSession (the
# agent tags the session with the cluster, namespace and service account).
# https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html
POD_IDENTITY_TRUST = policy_json([{"Sid": "AllowEksAuthToAssumeRoleForPodIdentity", "Effect": "Allow",
                                   "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}])
EKS_TRUST = policy_json([{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}])

# The EBS CSI driver's controller service account (the add-on creates it).
# https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html
EBS_CSI_NAMESPACE, EBS_CSI_SERVICE_ACCOUNT = "kube-system", "ebs-csi-controller-sa"

# What happens at the end of the version's standard support: STANDARD, EKS upgrades the cluster to the next version;
# EXTENDED, it stays on its version in extended support, billed $0.60 per cluster-hour instead of $0.10.
# https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html
SUPPORT_TYPES = ("STANDARD", "EXTENDED")

_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")  # CreateCluster's name pattern (EKS API reference)
_VERSION = re.compile(r"^1\.\d+$")  # EKS takes a Kubernetes minor version ("1.35"), never a patch release
_ROLE_OR_USER_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)/.+$")


class KubernetesCluster(Construct):
    """An EKS control plane and its pinned add-ons, for ``GpuNodePool`` pools and ``PodIdentity`` workloads.

    Example::

        cluster = KubernetesCluster(stack, "eks", name="acme-ml-prod", version="1.35", subnet_ids=net.private_subnet_ids,
                                    vpc_id=net.vpc_id, kms_key_arn=key.arn, endpoint_cidrs=["203.0.113.0/24"],
                                    admin_principal_arns=["arn:aws:iam::123456789012:role/platform-admin"])

    What it sets, and why:

    * Secrets envelope encryption (``encryption_config``) with ``kms_key_arn``: Kubernetes secrets are
      encrypted with a data key under the foundation's key, not only by EBS under an AWS key
      (https://docs.aws.amazon.com/eks/latest/userguide/envelope-encryption.html). The cluster role
      may use the key (``kms:Encrypt``, ``Decrypt``, ``ListGrants``, ``DescribeKey`` on that key only).
    * Every control-plane log type (``CONTROL_PLANE_LOGS``) to ``/aws/eks/<name>/cluster``, the
      group EKS writes to, created here first so it has a retention and the key
      (https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html).
    * Authentication by access entries only (``authentication_mode = "API"``): the principals in
      ``admin_principal_arns`` get an access entry with ``AmazonEKSClusterAdminPolicy``; there is no
      aws-auth ConfigMap to edit, and the identity that runs Terraform gets no hidden admin rights
      (``bootstrap_cluster_creator_admin_permissions = false``: name it in ``admin_principal_arns`` if
      it must reach the API). Managed node groups get their node access entries from EKS itself.
      https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html
    * The upgrade policy (``upgrade_policy { support_type }``) from ``support_type``, which the plan chooses
      (``ClusterPlan.extended_support``): ``"EXTENDED"`` only when the spec pins a version already past its
      standard support (the plan warns and costs the control plane at the extended rate, $0.60 per
      cluster-hour instead of $0.10: 6x, about $365 a month more); ``"STANDARD"`` otherwise, and then, when
      the version's standard support ends, EKS upgrades the cluster to the next version rather than bill
      extended support (https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html;
      https://aws.amazon.com/eks/pricing/). ``"STANDARD"`` on a version already past standard support is
      what EKS rules out: extended support cannot be disabled once a cluster is in it, only for clusters on
      standard support (https://docs.aws.amazon.com/eks/latest/userguide/disable-extended-support.html), and a
      new cluster on such a version is in extended support from its creation. The EKS API reference does not
      say whether CreateCluster refuses the pair or takes it and upgrades the cluster soon after; either way
      the spec's version would not hold, so pass what the plan says.
    * The API endpoint: private access always on (nodes and pods reach it inside the VPC); the public
      endpoint on only for ``endpoint_cidrs`` (where Terraform and kubectl run), never 0.0.0.0/0.
      With no CIDRs the endpoint is private only, and Terraform must then run where the VPC is
      reachable, which is the documented alternative: from inside the VPC (a CI runner or bastion there), through a
      connected network (VPN, Direct Connect, peering), or through an SSM Session Manager port
      forward to a host in the VPC.
      https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html
    * Add-ons (``ADDONS``) as EKS managed add-ons, not the self-managed copies EKS would otherwise
      bootstrap (``bootstrap_self_managed_addons = false``), at EKS's default version for ``version``:
      an ``aws_eks_addon_version`` data source per add-on resolves it at plan time, and a
      ``terraform_data`` (``addon_version_pins[name]``, ``constructs/_tf.py`` ``pinned``) keeps the value of
      the apply that created it, so a default EKS publishes later changes no plan. It is resolved afresh when
      ``version`` changes (the pin is replaced with it: EKS does not update add-ons after a cluster
      upgrade, https://docs.aws.amazon.com/eks/latest/userguide/updating-an-add-on.html), or on demand:
      ``terraform apply -replace=<the pin's address>`` (``terraform state list | grep addon-version``)
      moves that add-on to the current default. ``addon_versions`` names a version instead.
      The EBS CSI driver's controller gets its IAM role through a Pod Identity association
      (``AmazonEBSCSIDriverPolicy`` and the use of ``kms_key_arn`` for encrypted volumes).
      https://docs.aws.amazon.com/eks/latest/userguide/eks-add-ons.html

    Args:
        name: the cluster's name (1-100 letters, digits, ``-``, ``_``).
        version: Kubernetes minor version, e.g. ``"1.35"`` (``ClusterPlan.version``).
        subnet_ids: private subnets (two zones at least, as EKS requires) for the control plane's
            network interfaces.
        vpc_id: the subnets' VPC (the cluster security group's).
        kms_key_arn: the foundation's key: secrets, the log group, EBS volumes of the CSI driver.
        endpoint_cidrs: who may reach the public endpoint; empty: private endpoint only.
        admin_principal_arns: IAM roles / users that administer the cluster (access entries).
        log_retention_days: control-plane log retention, one of CloudWatch Logs' periods; default 365
            (the audit log answers who did what a year back, as checkov's CKV_AWS_338 asks of every log group).
        addon_versions: ``{add-on name: version}`` for add-ons of ``ADDONS`` to run at that version
            instead of EKS's default (no data source, no pin for those); left out: every add-on at the default.
        support_type: ``"STANDARD"`` (default) or ``"EXTENDED"``: ``"EXTENDED"`` exactly when
            ``ClusterPlan.extended_support`` (see above).
        service_ipv4_cidr: the Kubernetes service range; left out, EKS's default.
        system_instance_type, system_nodes: the cluster's own small pool (``system_pool``: untainted,
            on-demand, ``aiinfra.dev/pool=<name>-system``) where CoreDNS (two replicas by default) and
            the EBS CSI controller run; default 2x ``m6i.large``. Its cost belongs in the plan beside
            the control plane's.

    Attributes:
        name, arn, endpoint, certificate_authority (base64 CA data), oidc_issuer,
        security_group_id (the additional security group of the control plane),
        cluster_security_group_id (the security group EKS creates, shared with managed nodes: it
        admits all traffic between its members, which is also what EFA asks),
        log_group_name, role_arn, addons (name -> aws_eks_addon), addon_versions (name -> the version
        each runs: the override, else the pin's output), addon_version_pins (name -> terraform_data, for the
        add-ons at the default), node_prerequisites (the add-ons a node group waits for), system_pool
        (a ``GpuNodePool``), support_type.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, version: str, subnet_ids: Sequence[str], vpc_id: str,
                 kms_key_arn: str, endpoint_cidrs: Sequence[str], admin_principal_arns: Sequence[str], log_retention_days: int = 365,
                 tags: dict[str, str] | None = None, addon_versions: Mapping[str, str] | None = None,
                 service_ipv4_cidr: str | None = None, system_instance_type: str = "m6i.large", system_nodes: int = 2,
                 support_type: str = "STANDARD"):
        super().__init__(scope, id)
        problems = []
        if not _NAME.match(name):
            problems.append(f"name must be 1-100 letters, digits, '-' or '_' starting with a letter or digit, got {name!r}")
        if not _VERSION.match(version):
            problems.append(f"version must be a Kubernetes minor version such as '1.35', got {version!r}")
        unknown = sorted(set(addon_versions or {}) - set(ADDONS))
        if unknown:
            problems.append(f"addon_versions names {', '.join(map(repr, unknown))}, not an add-on of the cluster ({', '.join(ADDONS)})")
        if support_type not in SUPPORT_TYPES:
            problems.append(f"support_type must be one of {', '.join(SUPPORT_TYPES)}, got {support_type!r}")
        if not subnet_ids:
            problems.append("subnet_ids must name the private subnets of the control plane")
        problems += endpoint_cidr_problems(endpoint_cidrs, server="API server")
        bad = [a for a in admin_principal_arns if not _ROLE_OR_USER_ARN.match(a) and "${" not in a]
        if bad:
            problems.append(f"admin_principal_arns must be IAM role or user ARNs, got {bad!r}")
        if system_nodes < 1:
            problems.append(f"system_nodes must be 1 or more (CoreDNS and the EBS CSI controller run there), got {system_nodes}")
        if log_retention_days not in RETENTION_DAYS:
            problems.append(f"log_retention_days must be one of {', '.join(map(str, RETENTION_DAYS))}, got {log_retention_days}")
        if problems:
            raise ValueError("; ".join(problems))
        ctx = AwsContext(self)
        tags = dict(tags or {})
        self.support_type: str = support_type
        # EKS's default version of each add-on not named in addon_versions, resolved for the Kubernetes version and
        # pinned in state (replaced with the version: a cluster upgrade takes the new version's defaults).
        self.addon_version_pins: dict = {}
        self.addon_versions: dict[str, str] = {}
        for addon in ADDONS:
            if addon in (addon_versions or {}):
                self.addon_versions[addon] = addon_versions[addon]
                continue
            default = data(self, f"addon-{addon}-default", "aws_eks_addon_version", addon_name=addon, kubernetes_version=version)
            pin = pinned(self, f"addon-{addon}-version", default.get_string_attribute("version"), replace_on=version)
            self.addon_version_pins[addon] = pin
            self.addon_versions[addon] = pin.get_string_attribute("output")

        self.role = resource(self, "role", "aws_iam_role", name=f"{name}-eks-cluster"[:64], assume_role_policy=EKS_TRUST,
                             description=f"EKS control plane of {name}", tags=tags)
        role_name = self.role.get_string_attribute("name")
        policy = resource(self, "cluster-policy", "aws_iam_role_policy_attachment", role=role_name,
                          policy_arn=f"arn:{ctx.partition}:iam::aws:policy/AmazonEKSClusterPolicy")
        # https://docs.aws.amazon.com/eks/latest/userguide/enable-kms.html: the cluster role uses the key.
        key_use = resource(self, "secrets-key", "aws_iam_role_policy", name="encrypt-secrets", role=role_name,
                           policy=policy_json([{"Sid": "EnvelopeEncryptSecrets", "Effect": "Allow",
                                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                                "Resource": kms_key_arn}]))

        self.log_group_name = f"/aws/eks/{name}/cluster"
        self.log_group = resource(self, "logs", "aws_cloudwatch_log_group", name=self.log_group_name,
                                  retention_in_days=log_retention_days, kms_key_id=kms_key_arn, tags=tags)

        self.security_group = resource(self, "sg", "aws_security_group", name=f"{name}-eks-control-plane", vpc_id=vpc_id,
                                       description=f"EKS control plane of {name} (no rules of its own: EKS's cluster security "
                                                   "group carries the node traffic)",
                                       tags={**tags, "Name": f"{name}-eks-control-plane"})
        public = bool(endpoint_cidrs)
        self.cluster = resource(
            self, "cluster", "aws_eks_cluster", name=name, version=version, role_arn=self.role.get_string_attribute("arn"),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": kms_key_arn}},
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            upgrade_policy={"support_type": support_type},
            bootstrap_self_managed_addons=False,
            vpc_config={"subnet_ids": list(subnet_ids), "security_group_ids": [self.security_group.get_string_attribute("id")],
                        "endpoint_private_access": True, "endpoint_public_access": public,
                        "public_access_cidrs": list(endpoint_cidrs) if public else None},
            kubernetes_network_config={"service_ipv4_cidr": service_ipv4_cidr} if service_ipv4_cidr else None,
            tags=tags, depends_on=[policy, key_use, self.log_group])
        cluster_name = self.cluster.get_string_attribute("name")

        self.access_entries = []
        admin_policy = CLUSTER_ADMIN_POLICY.format(partition=ctx.partition)
        for i, principal in enumerate(admin_principal_arns):
            entry = resource(self, f"admin-{i}", "aws_eks_access_entry", cluster_name=cluster_name, principal_arn=principal,
                             type="STANDARD")
            resource(self, f"admin-{i}-policy", "aws_eks_access_policy_association", cluster_name=cluster_name,
                     principal_arn=entry.get_string_attribute("principal_arn"), policy_arn=admin_policy,
                     access_scope={"type": "cluster"})
            self.access_entries.append(entry)

        self.addons: dict = {}
        for addon in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
            self.addons[addon] = self._addon(cluster_name, addon)
        # The EBS CSI controller's identity: a role pods.eks.amazonaws.com assumes for kube-system/ebs-csi-controller-sa.
        # https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html (AmazonEBSCSIDriverPolicy; a customer key
        # needs its use and grants for AWS resources, the page's KMS policy)
        csi_role = resource(self, "ebs-csi-role", "aws_iam_role", name=f"{name}-ebs-csi"[:64], assume_role_policy=POD_IDENTITY_TRUST,
                            description=f"EBS CSI driver of {name}", tags=tags)
        csi_role_name = csi_role.get_string_attribute("name")
        csi_policy = resource(self, "ebs-csi-policy", "aws_iam_role_policy_attachment", role=csi_role_name,
                              policy_arn=f"arn:{ctx.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy")
        csi_key = resource(self, "ebs-csi-key", "aws_iam_role_policy", name="encrypted-volumes", role=csi_role_name,
                           policy=policy_json([
                               {"Sid": "GrantsForEncryptedVolumes", "Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                                "Resource": kms_key_arn, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
                               {"Sid": "UseKeyForVolumes", "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                                "Resource": kms_key_arn}]))
        csi_association = resource(self, "ebs-csi-identity", "aws_eks_pod_identity_association", cluster_name=cluster_name,
                                   namespace=EBS_CSI_NAMESPACE, service_account=EBS_CSI_SERVICE_ACCOUNT,
                                   role_arn=csi_role.get_string_attribute("arn"),
                                   depends_on=[self.addons["eks-pod-identity-agent"]])
        self.ebs_csi_role_arn: str = csi_role.get_string_attribute("arn")
        self.name: str = cluster_name
        self.given_name: str = name  # the name as a plain string, for the names of a pool's own resources
        self.arn: str = self.cluster.get_string_attribute("arn")
        self.version: str = version
        self.endpoint: str = self.cluster.get_string_attribute("endpoint")
        self.certificate_authority: str = self.cluster.get_string_attribute("certificate_authority[0].data")
        self.oidc_issuer: str = self.cluster.get_string_attribute("identity[0].oidc[0].issuer")
        self.security_group_id: str = self.security_group.get_string_attribute("id")
        self.cluster_security_group_id: str = self.cluster.get_string_attribute("vpc_config[0].cluster_security_group_id")
        self.role_arn: str = self.role.get_string_attribute("arn")
        self.kms_key_arn: str = kms_key_arn
        self.tags: dict[str, str] = tags

        # The add-ons nodes need to become Ready (the CNI gives pods addresses, kube-proxy services, the agent pod
        # credentials): DaemonSets, healthy with no node, created before any node group (GpuNodePool waits on them).
        self.node_prerequisites = [self.addons[a] for a in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")]
        # CoreDNS and the EBS CSI controller are Deployments: EKS reports them DEGRADED until their pods run, and
        # the aws provider waits through DEGRADED for ACTIVE (20 minutes, then fails: waitAddonCreated in
        # internal/service/eks/wait.go). Their pods tolerate no GPU or Neuron taint, and batch pools idle at
        # zero, so the cluster has a small untainted on-demand system pool of its own (what ai-on-eks's core
        # node group is) and they are created once it exists.
        self.system_pool = GpuNodePool(self, "system", cluster=self, name=f"{name}-system"[:63], instance_type=system_instance_type,
                                       capacity_type="on_demand", min_size=system_nodes, max_size=system_nodes, desired_size=None,
                                       subnet_ids=list(subnet_ids), kms_key_arn=kms_key_arn, accelerator_runtime="none", disk_gib=50,
                                       labels={"aiinfra.dev/system": "true"})
        self.addons["coredns"] = self._addon(cluster_name, "coredns", depends_on=[self.system_pool.node_group])
        self.addons["aws-ebs-csi-driver"] = self._addon(cluster_name, "aws-ebs-csi-driver",
                                                        depends_on=[csi_association, csi_policy, csi_key, self.system_pool.node_group])

    def _addon(self, cluster_name: str, addon: str, depends_on: list | None = None):
        # OVERWRITE on create: a self-managed copy left by an earlier bootstrap is replaced by the managed one;
        # PRESERVE on update: settings someone changed in the cluster survive a version bump.
        # https://docs.aws.amazon.com/eks/latest/userguide/updating-an-add-on.html
        return resource(self, f"addon-{addon}", "aws_eks_addon", cluster_name=cluster_name, addon_name=addon,
                        addon_version=self.addon_versions[addon], resolve_conflicts_on_create="OVERWRITE",
                        resolve_conflicts_on_update="PRESERVE", depends_on=depends_on)
