"""Launch template and autoscaling group for GPU (or CPU) nodes: IMDSv2, encrypted volumes,
no public IP, one EFA interface per network card, optional spot pool and placement group, and
the image resolved once and pinned."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.boot import IMAGES
from aiinfra.constructs._tf import data, pinned, resource
from aiinfra.constructs.aws.spot_pool import SpotPool
from aiinfra.placement import require_group

# Default images, looked up through AWS's public SSM parameters when no image_id is given: the
# ones the boot configuration is written for (aiinfra.boot.IMAGES, with their sources).
DEEP_LEARNING_AMI_PARAMETER = IMAGES["aws-gpu"]["ssm_parameter"]
CPU_AMI_PARAMETER = IMAGES["aws-cpu"]["ssm_parameter"]
NEURON_AMI_PARAMETER = IMAGES["aws-neuron"]["ssm_parameter"]


# Auto Scaling group metrics the group publishes (AWS/AutoScaling, dimension AutoScalingGroupName).
GROUP_METRICS = ("GroupDesiredCapacity", "GroupInServiceInstances", "GroupMaxSize", "GroupMinSize", "GroupTotalInstances")


def network_interfaces(efa_interfaces: int, security_group_ids: Sequence[str]) -> list[dict]:
    """A launch template's ``network_interfaces``: one EFA interface per network card (device index 0
    on card 0, 1 on the others, as the EFA user guide attaches them), or one ordinary interface when
    ``efa_interfaces`` is 0; never a public address.
    https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-acc-inst-types.html"""
    return [{
        "device_index": 0 if card == 0 else 1,
        "network_card_index": card,
        "interface_type": "efa" if efa_interfaces else None,
        "associate_public_ip_address": False,
        "delete_on_termination": True,
        "security_groups": list(security_group_ids),
    } for card in range(max(efa_interfaces, 1))]


class GpuInstanceGroup(Construct):
    """A group of identical nodes for one workload.

    Example::

        group = GpuInstanceGroup(stack, "train", name="acme-ml-prod-train", instance_type="p4d.24xlarge",
                                 subnet_ids=net.private_subnet_ids, security_group_ids=[net.node_security_group_id],
                                 instance_profile_arn=ident.instance_profile_arn, kms_key_arn=key.arn,
                                 max_size=2, efa_interfaces=4, image_id="ami-0123456789abcdef0")

    Args:
        name: name of the template and group.
        instance_type: the EC2 instance type.
        subnet_ids: private subnets the group launches into (their zones are the group's zones).
        security_group_ids: groups of every interface.
        instance_profile_arn: the nodes' identity (``WorkloadIdentity.instance_profile_arn``).
        kms_key_arn: key for the root and data volumes (always encrypted).
        min_size, max_size, desired_capacity: group bounds. Default 0 / max / min: a training
            group idles at zero and a job scheduler scales it up.
        image_id: AMI id. Left out, the latest AWS Deep Learning Base AMI (Ubuntu 22.04, NVIDIA
            driver) from the public SSM parameter ``DEEP_LEARNING_AMI_PARAMETER`` (or Amazon
            Linux 2023 for CPU nodes, ``gpu=False``), read when Terraform plans and, with
            ``pin_image``, kept from then on (see there). With ``accelerator_runtime="neuron"``
            (inf2, trn1, trn1n, trn2) the Deep Learning Base Neuron AMI from
            ``NEURON_AMI_PARAMETER``: the Neuron driver and EFA, no NVIDIA driver, CUDA or
            NVIDIA Container Toolkit.
        accelerator_runtime: ``"cuda"`` (default; NVIDIA GPUs, or none with ``gpu=False``) or
            ``"neuron"`` (AWS Inferentia / Trainium): which default image the nodes boot.
        pin_image: with no ``image_id``, keep the AMI the first apply resolved (``image_pin``, a
            ``terraform_data`` whose later inputs are ignored) instead of following the parameter
            on every apply: nodes launched later (a replaced spot node, the next run) boot the same
            driver / EFA stack as the ones already running. Roll to the parameter's current AMI,
            between runs, with ``terraform apply -replace=terraform_data.<image_pin's id>`` (the
            launch template gets a new version; running nodes keep theirs). Default on; off, the
            launch template follows the parameter at every apply.
        efa_interfaces: EFA interfaces to attach, one per network card (4 on p4d, 32 on p5).
            0 (default): one ordinary interface.
        root_volume_gib: default 200 (the Deep Learning AMI needs 100+).
        data_volume_gib / data_volume_type: the hot tier's block volume per node (``gp3``
            or ``io2``); 0 (default): none, local NVMe only.
        root_device_name: the image's root device, where the encrypted root volume is mapped.
            Left out, read from the AMI itself (``data.aws_ami``'s ``root_device_name``:
            ``/dev/sda1`` on the Ubuntu Deep Learning AMIs, ``/dev/xvda`` on Amazon Linux 2023), so
            the customer-key volume is the real root and never a spare.
        placement_group_name: a cluster placement group (multi-node training). ``max_size``
            must fit the group's documented limit (``aiinfra.placement.check_placement``).
        spot: a ``SpotPool``; left out, all on-demand. A multi-node group (``efa_interfaces``
            or ``placement_group_name``) takes only alternatives with the planned shape's GPUs
            and EFA interfaces (see ``SpotPool.allow_heterogeneous``); a single-node group may
            mix any shapes the pool names.
        metadata_hop_limit: IMDSv2 PUT response hop limit, 1 to 64. Default 1: the token reaches
            only the node itself and containers on its host network; a container on a bridge
            network is one hop further, so it cannot get a token and cannot read the node role's
            credentials. 2 lets bridged containers reach IMDS (and the role); give it only where
            the container needs it.
            https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-v2-how-it-works.html
        collective: the nodes form one run (multi-node training, a Spark cluster): a spot pool's
            capacity rebalance is then off, and ``SpotPool(capacity_rebalance=True)`` is refused
            (see ``SpotPool.capacity_rebalance``). Left out, inferred from ``efa_interfaces`` or
            ``placement_group_name``.
        user_data: the boot configuration as text (``aiinfra.boot.aws_user_data``: cloud-init);
            or ``user_data_base64``, already encoded. Left out, the image boots as it is.
        instance_tags: extra tags on the instances only; the boot reads them through the
            instance metadata service (``instance_metadata_tags`` is on), e.g. the data bucket.
        health_check_type: ``EC2`` (default) or ``ELB`` for a group behind a load balancer
            (instances failing the target group's health check are replaced), or a Terraform
            expression choosing one at apply time.
        health_check_grace_seconds: how long a new node may fail health checks before it
            is replaced; default 600. For model servers it must cover the image pull and model load.
        service_linked_role_arn: the Auto Scaling service-linked role the group acts as (it
            must be able to use ``kms_key_arn``: ``EncryptionKey.autoscaling_role_arn``); left
            out, the account's default ``AWSServiceRoleForAutoScaling``.
        ignore_desired_capacity: let autoscaling policies or a scheduler own the desired
            count (Terraform will not reset it); default on.
        capacity_reservation_id: an On-Demand Capacity Reservation (``cr-...``) the nodes launch
            into (the launch template's ``capacity_reservation_specification`` target); on-demand
            only (not with ``spot``). The reservation is billed for its term whether the nodes use
            it or not; ``aiinfra preflight`` checks that it exists, is active and matches the shape,
            zone and count. https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-reservations-launch.html
        capacity_block: ``capacity_reservation_id`` is an EC2 Capacity Block for ML: the launch
            template's market type is then ``capacity-block``, as launching into a Capacity Block
            requires. https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-blocks-launch.html
    """

    def __init__(self, scope: Construct, id: str, *, name: str, instance_type: str, subnet_ids: Sequence[str],
                 security_group_ids: Sequence[str], instance_profile_arn: str, kms_key_arn: str, max_size: int,
                 min_size: int = 0, desired_capacity: int | None = None, image_id: str | None = None, gpu: bool = True,
                 efa_interfaces: int = 0, root_volume_gib: int = 200, data_volume_gib: int = 0, data_volume_type: str = "gp3",
                 root_device_name: str | None = None, placement_group_name: str | None = None, spot: SpotPool | None = None,
                 metadata_hop_limit: int = 1, user_data: str | None = None, user_data_base64: str | None = None,
                 ignore_desired_capacity: bool = True, health_check_type: str = "EC2", health_check_grace_seconds: int = 600,
                 service_linked_role_arn: str | None = None, capacity_reservation_id: str | None = None,
                 capacity_block: bool = False, collective: bool | None = None, pin_image: bool = True,
                 instance_tags: dict[str, str] | None = None, tags: dict[str, str] | None = None,
                 accelerator_runtime: str = "cuda"):
        super().__init__(scope, id)
        if not subnet_ids:
            raise ValueError("subnet_ids must name at least one subnet")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(f"sizes must satisfy 0 <= min_size <= max_size and max_size >= 1, got min {min_size}, max {max_size}")
        desired = min_size if desired_capacity is None else desired_capacity
        if not min_size <= desired <= max_size:
            raise ValueError(f"desired_capacity must be between min_size {min_size} and max_size {max_size}, got {desired}")
        if efa_interfaces < 0 or data_volume_gib < 0:
            raise ValueError("efa_interfaces and data_volume_gib must be 0 or more")
        if data_volume_type not in ("gp3", "io2"):
            raise ValueError(f"data_volume_type must be gp3 or io2, got {data_volume_type!r}")
        if health_check_type not in ("EC2", "ELB") and "${" not in health_check_type:
            raise ValueError(f"health_check_type must be EC2 or ELB, got {health_check_type!r}")
        if health_check_grace_seconds < 0:
            raise ValueError(f"health_check_grace_seconds must be 0 or more, got {health_check_grace_seconds}")
        if accelerator_runtime not in ("cuda", "neuron"):
            raise ValueError(f"accelerator_runtime must be 'cuda' or 'neuron', got {accelerator_runtime!r}")
        if accelerator_runtime == "neuron" and not gpu:
            raise ValueError("accelerator_runtime='neuron' needs gpu=True (the nodes' Neuron devices are their accelerators)")
        if user_data is not None and user_data_base64 is not None:
            raise ValueError("give user_data or user_data_base64, not both")
        if capacity_reservation_id is not None and spot is not None:
            raise ValueError("capacity_reservation_id launches on-demand nodes into the reservation; it cannot be combined with spot")
        if capacity_block and capacity_reservation_id is None:
            raise ValueError("capacity_block needs the Capacity Block's id as capacity_reservation_id")
        # EC2 accepts a hop limit of 1 to 64 (instance-metadata-v2-how-it-works, above).
        if isinstance(metadata_hop_limit, bool) or not isinstance(metadata_hop_limit, int) or not 1 <= metadata_hop_limit <= 64:
            raise ValueError(f"metadata_hop_limit must be between 1 and 64, got {metadata_hop_limit!r}")
        multi_node = efa_interfaces > 0 or placement_group_name is not None
        collective = multi_node if collective is None else collective
        rebalance = None
        if spot is not None:
            # A rebalance recommendation makes Auto Scaling launch a replacement and then terminate the
            # node that got it, whether or not that node would have been interrupted
            # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-capacity-rebalancing.html):
            # in a collective group that stops a healthy rank mid-run and ends the attempt on every node.
            if collective and spot.capacity_rebalance:
                raise ValueError("spot.capacity_rebalance=True on a collective group (its nodes form one run): a rebalance "
                                 "recommendation would terminate a healthy rank mid-run and end the attempt on every node; "
                                 "leave capacity_rebalance out (off for collective groups) or set it False")
            rebalance = (not collective) if spot.capacity_rebalance is None else spot.capacity_rebalance
        alternatives = [t for t in dict.fromkeys(spot.alternative_instance_types) if t != instance_type] if spot else []
        require_group("aws", instance_type, alternatives, multi_node=multi_node, placed=placement_group_name is not None, size=max_size,
                      size_arg="max_size", alternatives_arg="alternative_instance_types",
                      allow_heterogeneous=bool(spot and spot.allow_heterogeneous))
        if user_data is not None:
            user_data_base64 = base64.b64encode(user_data.encode()).decode()
        tags = dict(tags or {})
        self.image_pin = None
        if image_id is None:
            parameter = NEURON_AMI_PARAMETER if accelerator_runtime == "neuron" else DEEP_LEARNING_AMI_PARAMETER if gpu else CPU_AMI_PARAMETER
            param = data(self, "ami-parameter", "aws_ssm_parameter", name=parameter)
            image_id = param.get_string_attribute("insecure_value")
            if pin_image:
                self.image_pin = pinned(self, "image", image_id)
                image_id = self.image_pin.get_string_attribute("output")
        if root_device_name is None:
            ami = data(self, "ami", "aws_ami", owners=["self", "amazon", "aws-marketplace"],
                       filter=[{"name": "image-id", "values": [image_id]}])
            root_device_name = ami.get_string_attribute("root_device_name")
        interfaces = network_interfaces(efa_interfaces, security_group_ids)
        volumes = [{"device_name": root_device_name, "ebs": {"volume_size": root_volume_gib, "volume_type": "gp3", "encrypted": True,
                                                             "kms_key_id": kms_key_arn, "delete_on_termination": True}}]
        if data_volume_gib:
            ebs = {"volume_size": data_volume_gib, "volume_type": data_volume_type, "encrypted": True, "kms_key_id": kms_key_arn,
                   "delete_on_termination": True}
            if data_volume_type == "io2":
                ebs["iops"] = min(64000, max(3000, data_volume_gib * 2))
            volumes.append({"device_name": "/dev/sdf", "ebs": ebs})
        self.launch_template = resource(
            self, "template", "aws_launch_template", name=name, image_id=image_id, instance_type=instance_type,
            update_default_version=True, ebs_optimized="true",
            iam_instance_profile={"arn": instance_profile_arn},
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": metadata_hop_limit,
                              "instance_metadata_tags": "enabled"},
            monitoring={"enabled": True},
            network_interfaces=interfaces,
            block_device_mappings=volumes,
            placement={"group_name": placement_group_name} if placement_group_name else None,
            capacity_reservation_specification=({"capacity_reservation_target": {"capacity_reservation_id": capacity_reservation_id}}
                                                if capacity_reservation_id else None),
            instance_market_options={"market_type": "capacity-block"} if capacity_block else None,
            user_data=user_data_base64,
            tag_specifications=[{"resource_type": "instance", "tags": {**tags, **(instance_tags or {}), "Name": name}},
                                # Budgets filter on tags: every billed thing the group launches carries them
                                # (provider default_tags do not reach what Auto Scaling launches).
                                {"resource_type": "volume", "tags": {**tags, "Name": name}},
                                {"resource_type": "network-interface", "tags": {**tags, "Name": name}}],
            tags=tags,
        )
        template_id = self.launch_template.get_string_attribute("id")
        group_args = dict(
            name=name, min_size=min_size, max_size=max_size, desired_capacity=desired, vpc_zone_identifier=list(subnet_ids),
            health_check_type=health_check_type, health_check_grace_period=health_check_grace_seconds, wait_for_capacity_timeout="0",
            placement_group=placement_group_name, service_linked_role_arn=service_linked_role_arn,
            tag=[{"key": k, "value": v, "propagate_at_launch": True} for k, v in sorted({**tags, "Name": name}.items())],
            # Node count against the plan (dashboards, cost per prediction): group metrics are free
            # at one-minute granularity.
            # https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-metrics.html
            enabled_metrics=list(GROUP_METRICS), metrics_granularity="1Minute",
        )
        if spot is not None:
            group_args["capacity_rebalance"] = rebalance
            group_args["mixed_instances_policy"] = spot.mixed_instances_policy(template_id, instance_type)
        else:
            group_args["launch_template"] = {"id": template_id, "version": "$Latest"}
        ignore = ["target_group_arns", "load_balancers"]
        if ignore_desired_capacity:
            ignore.append("desired_capacity")
        group_args["lifecycle"] = {"ignore_changes": ignore}
        self.autoscaling_group = resource(self, "group", "aws_autoscaling_group", **group_args)
        self.name: str = self.autoscaling_group.get_string_attribute("name")
        self.arn: str = self.autoscaling_group.get_string_attribute("arn")
        self.launch_template_id: str = template_id
        self.image_id: str = image_id
        self.collective: bool = collective
