"""A security group for one workload's GPU nodes (network segmentation): nothing comes in but
the workload's own collective traffic, nothing goes out but that and HTTPS, so a compromised
serving node cannot reach the training nodes of the same VPC."""

from __future__ import annotations

import re

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource


# What EC2 accepts in a security group's name and description (CreateSecurityGroup, "Valid characters"):
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html ; a rule's description
# takes the same less "&" (UserIdGroupPair / IpRange descriptions).
SG_TEXT = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}")
RULE_TEXT = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=;{}!$*]{0,255}")


class NodeSecurityGroup(Construct):
    """The security group of one workload's nodes.

    Example::

        net = ClusterNetwork(stack, "network", name="acme-ml-prod", zone_ids=["use1-az1"], log_kms_key_arn=key.arn,
                             node_security_group=False)
        sg = NodeSecurityGroup(stack, "train-sg", name="acme-ml-prod-train", vpc_id=net.vpc_id, collective=True)
        GpuInstanceGroup(stack, "train", security_group_ids=[sg.id], ...)
        InferenceEndpoint(stack, "serve", node_security_group_id=serving_sg.id, ...)  # opens the model port from its load balancer

    What the group admits:

    * ingress: nothing, except with ``collective`` all traffic from the group itself. Serving ports
      are opened by whoever fronts the nodes (``InferenceEndpoint`` adds an ingress rule from its
      load balancer's group to this one).
    * egress: TCP 443 anywhere (AWS APIs, S3 through the VPC's gateway endpoint, container
      registries through NAT) and, with ``collective``, all traffic to the group itself.
      Terraform removes the allow-all egress rule AWS puts in every new group
      (https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/security_group).
    * DNS to the VPC resolver (Route 53 Resolver), instance metadata (IMDS) and the Amazon Time Sync
      Service need no rule: security groups do not filter them
      (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html,
      https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-rules.html).

    Args:
        name: the group's name (unique in the VPC; at most 255 characters, not starting ``sg-``).
        vpc_id: the VPC of the nodes (``ClusterNetwork.vpc_id``).
        collective: the nodes exchange traffic with each other: any run over several nodes
            (multi-node training: EFA, NCCL, the launcher's rendezvous; a Spark cluster: its driver,
            executors and shuffles). EFA requires a group that allows all inbound and outbound
            traffic from and to itself (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa-start.html#efa-start-security,
            https://docs.aws.amazon.com/pcs/latest/userguide/working-with_networking_efa_create-sg.html).
            False (a single-node run, a serving group): the nodes cannot reach each other at all.
        description: the group's description; left out, one naming the workload.
        tags: tags of the group.

    Attributes: ``security_group``, ``id``, ``arn``, ``name``.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, vpc_id: str, collective: bool, description: str | None = None,
                 tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        if not name or len(name) > 255:
            problems.append(f"name must be 1 to 255 characters, got {name!r}")
        elif name.lower().startswith("sg-"):
            problems.append(f"name must not start with 'sg-' (AWS reserves it for group ids), got {name!r}")
        if not vpc_id:
            problems.append("vpc_id must name the nodes' VPC")
        if not isinstance(collective, bool):
            problems.append(f"collective must be True or False, got {collective!r}")
        for what, text in (("name", name), ("description", description)):
            if text and not SG_TEXT.fullmatch(text):
                problems.append(f"{what} may hold only letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$* (EC2 refuses the rest), "
                                f"got {text!r}")
        if problems:
            raise ValueError("; ".join(problems))
        tags = dict(tags or {})
        self.collective = collective
        self.security_group = resource(self, "group", "aws_security_group", name=name, vpc_id=vpc_id,
                                       description=description or f"Nodes of {name}: "
                                       + ("all traffic between each other, " if collective else "") + "HTTPS out, nothing else",
                                       tags={**tags, "Name": name})
        sg_id = self.security_group.get_string_attribute("id")
        self.id: str = sg_id
        self.arn: str = self.security_group.get_string_attribute("arn")
        self.name: str = self.security_group.get_string_attribute("name")
        if collective:
            resource(self, "self-in", "aws_vpc_security_group_ingress_rule", security_group_id=sg_id, ip_protocol="-1",
                     referenced_security_group_id=sg_id, description="EFA and collective traffic between the nodes of this workload")
            resource(self, "self-out", "aws_vpc_security_group_egress_rule", security_group_id=sg_id, ip_protocol="-1",
                     referenced_security_group_id=sg_id, description="EFA and collective traffic between the nodes of this workload")
        resource(self, "https-out", "aws_vpc_security_group_egress_rule", security_group_id=sg_id, ip_protocol="tcp", from_port=443,
                 to_port=443, cidr_ipv4="0.0.0.0/0", description="HTTPS to AWS APIs, S3 (gateway endpoint) and registries (NAT)")
