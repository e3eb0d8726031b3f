"""An EKS managed node group for one planned shape: GPU (or Neuron, or CPU) nodes with the EKS
accelerated AMI, tainted so only pods that ask for the accelerator land there, labelled for the
queues that select them, on-demand / spot / Capacity Block / reservation capacity, EFA on every
card of a collective shape in a cluster placement group."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.gpu_instance_group import network_interfaces
from aiinfra.placement import require_group

# The EKS-optimized Amazon Linux 2023 AMI types per accelerator runtime (NodegroupAmiType /
# aws_eks_node_group.ami_type): the NVIDIA variant carries the driver, the container toolkit and the
# EFA driver; the Neuron variant the Neuron driver; STANDARD is the plain AL2023 node.
# https://docs.aws.amazon.com/eks/latest/userguide/ml-eks-optimized-ami.html
# https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html (amiType)
AMI_TYPES = {"cuda": "AL2023_x86_64_NVIDIA", "neuron": "AL2023_x86_64_NEURON", "none": "AL2023_x86_64_STANDARD"}
# The taints that keep pods without an accelerator request off accelerator nodes; the NVIDIA device
# plugin's and the Neuron device plugin's resources are what the pods' tolerations name.
# https://docs.aws.amazon.com/eks/latest/userguide/node-taints-managed-node-groups.html
TAINTS = {"cuda": {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"},
          "neuron": {"key": "aws.amazon.com/neuron", "value": "true", "effect": "NO_SCHEDULE"}}
# The node group's capacity types (CreateNodegroup capacityType).
CAPACITY_TYPES = {"on_demand": "ON_DEMAND", "spot": "SPOT", "capacity_block": "CAPACITY_BLOCK"}
POOL_LABEL = "aiinfra.dev/pool"
CAPACITY_LABEL = "aiinfra.dev/capacity-type"
# The accelerator resource each runtime's device plugin advertises, told to the Cluster Autoscaler for scale-from-zero.
SCALE_FROM_ZERO = {"cuda": "nvidia.com/gpu", "neuron": "aws.amazon.com/neuron"}
NODE_TEMPLATE_RESOURCES = "k8s.io/cluster-autoscaler/node-template/resources/"
# The root device of the EKS-optimized AL2023 AMIs, where the encrypted root volume is mapped.
# https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html
ROOT_DEVICE = "/dev/xvda"
EC2_TRUST = policy_json([{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}])
# The node role's managed policies (the EKS node IAM role page): the kubelet's EC2 reads and the Pod
# Identity agent's eks-auth:AssumeRoleForPodIdentity, image pulls from ECR (pull only, not the older
# read-only policy that also lists and describes), and the VPC CNI's interface management.
# https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


class GpuNodePool(Construct):
    """A managed node group of one shape in a ``KubernetesCluster``.

    Why managed node groups and not Karpenter NodePools: a node group is an AWS resource Terraform
    creates with the cluster, so the pools exist before anything runs in the cluster (Karpenter is
    itself a controller that must be installed, given an IAM role and kept running in the cluster
    before it can make a node); the plan fixes each pool's shape, capacity type and bounds, which is
    what a node group is, whereas Karpenter's strength is choosing shapes at run time; and Capacity
    Blocks, ODCRs, EFA on every card and a cluster placement group are launch-template settings a node
    group takes as they are. EKS's guide recommends node groups where "the accelerated compute
    footprint is known in advance" (training, fine-tuning), and ai-on-eks uses them for its static
    GPU pools beside Karpenter's dynamic ones.
    https://docs.aws.amazon.com/eks/latest/userguide/ml-node-groups.html
    https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html

    Example::

        pool = GpuNodePool(stack, "train", cluster=cluster, name="train-p5", instance_type="p5.48xlarge",
                           capacity_type="capacity_block", capacity_reservation_id="cr-0123456789abcdef0",
                           min_size=0, max_size=2, desired_size=None, subnet_ids=[one_zone_subnet], kms_key_arn=key.arn,
                           accelerator_runtime="cuda", efa_interfaces=32, placement_group=True)

    Args:
        cluster: the ``KubernetesCluster``.
        name: the pool's name (the node group's, its launch template's and its ``aiinfra.dev/pool`` label).
        instance_type: the planned shape (in the launch template).
        capacity_type: ``"on_demand"``, ``"spot"`` or ``"capacity_block"`` (``capacity_reservation_id``
            is then the Capacity Block: the launch template targets it with market type
            ``capacity-block``, as EKS asks: https://docs.aws.amazon.com/eks/latest/userguide/capacity-blocks-mng.html).
        min_size, max_size, desired_size: the group's bounds; ``min_size`` 0 lets a batch pool idle
            empty. ``desired_size`` left out: ``min_size``; later changes of it (a scheduler's or the
            cluster autoscaler's) are not undone by Terraform.
        subnet_ids: the pool's subnets; one (one zone) for a placement group or a reservation.
        kms_key_arn: the key of the root volume (always encrypted).
        accelerator_runtime: ``"cuda"`` (NVIDIA GPUs), ``"neuron"`` (Inferentia / Trainium) or
            ``"none"`` (CPU pool): the AMI type (``AMI_TYPES``) and the taint (``TAINTS``; none on CPU).
        efa_interfaces: EFA interfaces, one per network card (``gpu_instance_group.network_interfaces``):
            4 on p4d, 32 on p5; 0: one ordinary interface. EFA's all-traffic-from-itself rule is
            the cluster security group's own (EKS creates it so), which every interface is in.
        placement_group: a cluster placement group of the pool's own (collective shapes; one zone).
            ``max_size`` must fit its documented limit (``aiinfra.placement.check_placement``).
        capacity_reservation_id: a Capacity Block (``capacity_type="capacity_block"``) or an
            On-Demand Capacity Reservation (``"on_demand"``) the nodes launch into.
        labels: extra Kubernetes labels; ``aiinfra.dev/pool`` and ``aiinfra.dev/capacity-type`` are
            always set (``node.kubernetes.io/instance-type`` is set by the kubelet itself).
        disk_gib: the encrypted gp3 root volume; images and models go there. The shape's local NVMe
            (instance store, e.g. 8x 3.8 TB on p5) is not in the launch template: the AL2023 EKS AMI
            leaves instance-store disks to the node's configuration (``nodeadm``'s
            ``localStorage: RAID0`` mounts them for the kubelet and containerd), so they hold
            ephemeral storage, not data that must outlive the node.
            https://awslabs.github.io/amazon-eks-ami/nodeadm/doc/api/
        max_unavailable: nodes replaced at once in a version or template update; default 1.
        device_count: accelerators a node has (GPUs, or Neuron devices); with ``efa_interfaces``, what the Cluster
            Autoscaler is told a node of the pool offers while the pool has no node to read it from (``SCALE_FROM_ZERO``).

    Attributes:
        name, arn, launch_template_id, node_role_arn, placement_group_name, labels, taints.
    """

    def __init__(self, scope: Construct, id: str, *, cluster, name: str, instance_type: str, capacity_type: str, min_size: int,
                 max_size: int, desired_size: int | None, subnet_ids: Sequence[str], kms_key_arn: str, accelerator_runtime: str,
                 efa_interfaces: int = 0, placement_group: bool = False, capacity_reservation_id: str | None = None,
                 labels: dict[str, str] | None = None, disk_gib: int = 200, max_unavailable: int = 1,
                 tags: dict[str, str] | None = None, device_count: int = 0):
        super().__init__(scope, id)
        problems = []
        if capacity_type not in CAPACITY_TYPES:
            problems.append(f"capacity_type must be one of {', '.join(CAPACITY_TYPES)}, got {capacity_type!r}")
        if accelerator_runtime not in AMI_TYPES:
            problems.append(f"accelerator_runtime must be one of {', '.join(AMI_TYPES)}, got {accelerator_runtime!r}")
        if not (0 <= min_size <= max_size and max_size >= 1):
            problems.append(f"sizes must satisfy 0 <= min_size <= max_size and max_size >= 1, got min {min_size}, max {max_size}")
        desired = min_size if desired_size is None else desired_size
        if not min_size <= desired <= max_size:
            problems.append(f"desired_size must be between min_size {min_size} and max_size {max_size}, got {desired}")
        if not subnet_ids:
            problems.append("subnet_ids must name at least one subnet")
        if efa_interfaces < 0:
            problems.append(f"efa_interfaces must be 0 or more, got {efa_interfaces}")
        if capacity_type == "capacity_block" and not capacity_reservation_id:
            problems.append("capacity_type 'capacity_block' needs the Capacity Block's id as capacity_reservation_id")
        if capacity_type == "spot" and capacity_reservation_id:
            problems.append("capacity_reservation_id launches into reserved capacity; it cannot be combined with spot")
        if capacity_reservation_id and not re.fullmatch(r"cr-[0-9a-f]{8}([0-9a-f]{9})?", capacity_reservation_id) \
                and "${" not in capacity_reservation_id:
            problems.append(f"capacity_reservation_id must look like cr-0123456789abcdef0, got {capacity_reservation_id!r}")
        if (placement_group or capacity_reservation_id) and len(subnet_ids) > 1:
            problems.append("a placement group or a reservation lives in one zone: give the pool one subnet")
        if disk_gib < 20:
            problems.append(f"disk_gib must be at least 20 (the AL2023 EKS AMI's root), got {disk_gib}")
        bad_labels = [k for k in (labels or {}) if not _LABEL_KEY.match(k)]
        if bad_labels:
            problems.append(f"labels: {bad_labels!r} are not Kubernetes label keys")
        if problems:
            raise ValueError("; ".join(problems))
        require_group("aws", instance_type, [], multi_node=efa_interfaces > 0 or placement_group, placed=placement_group,
                      size=max_size, size_arg="max_size", alternatives_arg="alternative_instance_types", allow_heterogeneous=False)
        ctx = AwsContext(self)
        tags = {**cluster.tags, **(tags or {})}
        role_name = f"{cluster.given_name}-{name}-node"[:64]
        self.role = resource(self, "role", "aws_iam_role", name=role_name, assume_role_policy=EC2_TRUST,
                             description=f"Nodes of pool {name}", tags=tags)
        attachments = [resource(self, f"policy-{p}", "aws_iam_role_policy_attachment", role=self.role.get_string_attribute("name"),
                                policy_arn=f"arn:{ctx.partition}:iam::aws:policy/{p}") for p in NODE_POLICIES]

        self.placement_group = None
        self.placement_group_name: str | None = None
        if placement_group:
            # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/placement-strategies.html#placement-groups-cluster
            self.placement_group = resource(self, "placement", "aws_placement_group", name=f"{name}-cluster", strategy="cluster", tags=tags)
            self.placement_group_name = self.placement_group.get_string_attribute("name")

        capacity = CAPACITY_TYPES[capacity_type]
        # The launch template EKS merges with its own (https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html):
        # no image (the ami_type's), no instance profile (EKS sets the node role's), IMDSv2 with hop limit 2
        # (pods on the pod network are one hop from the node; EKS's own template uses 2 so the VPC CNI and
        # the EBS CSI node plugin reach IMDS), interfaces in the cluster security group.
        self.launch_template = resource(
            self, "template", "aws_launch_template", name=name, instance_type=instance_type, update_default_version=True,
            ebs_optimized="true",
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 2},
            monitoring={"enabled": True},
            network_interfaces=network_interfaces(efa_interfaces, [cluster.cluster_security_group_id]),
            block_device_mappings=[{"device_name": ROOT_DEVICE, "ebs": {"volume_size": disk_gib, "volume_type": "gp3", "encrypted": True,
                                                                       "kms_key_id": kms_key_arn, "delete_on_termination": True}}],
            placement={"group_name": self.placement_group_name} if placement_group else None,
            capacity_reservation_specification=({"capacity_reservation_target": {"capacity_reservation_id": capacity_reservation_id}}
                                                if capacity_reservation_id else None),
            instance_market_options={"market_type": "capacity-block"} if capacity_type == "capacity_block" else None,
            tag_specifications=[{"resource_type": t, "tags": {**tags, "Name": name}} for t in ("instance", "volume", "network-interface")],
            tags=tags)

        self.labels: dict[str, str] = {**(labels or {}), POOL_LABEL: name, CAPACITY_LABEL: capacity_type}
        self.taints: list[dict[str, str]] = [TAINTS[accelerator_runtime]] if accelerator_runtime in TAINTS else []
        self.node_group = resource(
            self, "group", "aws_eks_node_group", cluster_name=cluster.name, node_group_name=name,
            node_role_arn=self.role.get_string_attribute("arn"), subnet_ids=list(subnet_ids),
            ami_type=AMI_TYPES[accelerator_runtime], capacity_type=capacity,
            scaling_config={"min_size": min_size, "max_size": max_size, "desired_size": desired},
            update_config={"max_unavailable": max_unavailable},
            launch_template={"id": self.launch_template.get_string_attribute("id"),
                             "version": self.launch_template.get_string_attribute("latest_version")},
            labels=self.labels, taint=self.taints or None, tags=tags,
            lifecycle={"ignore_changes": ["scaling_config[0].desired_size"]},
            depends_on=[*attachments, *getattr(cluster, "node_prerequisites", [])])
        # The extended resources a node of the pool offers, as tags of the node group's Auto Scaling group, so the
        # Cluster Autoscaler scales a pool up from zero for pods that request them: with no node to read them from it
        # takes them from "k8s.io/cluster-autoscaler/node-template/resources/<resource-name>" tags ("From version 1.14,
        # Cluster Autoscaler can also determine the resources provided by each Auto Scaling Group via tags":
        # https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/cloudprovider/aws/README.md). A
        # managed node group's labels and taints it reads through eks:DescribeNodegroup (same page); its tags do not
        # reach the Auto Scaling group, hence aws_autoscaling_group_tag on the group EKS made.
        self.scale_from_zero: dict[str, int] = {k: n for k, n in (
            (SCALE_FROM_ZERO.get(accelerator_runtime, ""), device_count), ("vpc.amazonaws.com/efa", efa_interfaces)) if k and n > 0}
        group_name = self.node_group.get_string_attribute("resources[0].autoscaling_groups[0].name")
        for resource_name, n in sorted(self.scale_from_zero.items()):
            resource(self, f"autoscaler-{resource_name.replace('/', '-').replace('.', '-')}", "aws_autoscaling_group_tag",
                     autoscaling_group_name=group_name,
                     tag={"key": f"{NODE_TEMPLATE_RESOURCES}{resource_name}", "value": str(n), "propagate_at_launch": False})
        self.name: str = self.node_group.get_string_attribute("node_group_name")
        self.arn: str = self.node_group.get_string_attribute("arn")
        self.launch_template_id: str = self.launch_template.get_string_attribute("id")
        self.node_role_arn: str = self.role.get_string_attribute("arn")
        self.ami_type: str = AMI_TYPES[accelerator_runtime]
        self.capacity_type: str = capacity

