"""VPC for GPU nodes: private subnets across zones, NAT and an S3 gateway endpoint so nodes
need no public IP, public subnets only for load balancers, an EFA security group that admits
all traffic from itself, and a cluster placement group for multi-node training."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext

EMR_MANAGED_TAG = "for-use-with-amazon-emr-managed-policies"


class ClusterNetwork(Construct):
    """Network for one environment's GPU groups.

    Example::

        net = ClusterNetwork(stack, "network", name="acme-ml-prod", zone_ids=["use1-az1", "use1-az2"])
        group = GpuInstanceGroup(stack, "train", subnet_ids=net.private_subnet_ids, security_group_ids=[net.node_security_group_id], ...)

    Args:
        name: prefix of every resource name.
        zone_ids: availability-zone IDs (``use1-az1``, stable across accounts) for the private
            subnets, one subnet each.
        cidr: the VPC's range; default ``10.40.0.0/16``, split into /20 subnets.
        public_zone_ids: zones that get a public subnet (for load balancers and the NAT
            gateway). Left out: the first private zone only, for the NAT gateway.
        nat_gateways: ``"single"`` (default: one NAT in the first public subnet) or
            ``"per_zone"`` (one a public zone, for zone-independent egress).
        efa: create the security group rule that lets nodes exchange all traffic with each
            other, which EFA requires. Default on; the group has no other ingress.
        node_security_group: create the one node security group every workload of the network
            shares (default, ``node_security_group_id``). False: none (``node_security_group``
            and ``node_security_group_id`` are None); give each workload a ``NodeSecurityGroup``
            of its own instead, so one workload's nodes cannot reach another's (segmentation).
        placement_group: create a cluster placement group (for multi-node training).
        flow_log_retention_days: VPC flow logs to CloudWatch Logs, kept this long; default 365.
        emr_managed_subnets: tag the private subnets ``for-use-with-amazon-emr-managed-policies=true``, which EMR's v2
            service policy requires of the subnets a cluster launches in (its CreateInTaggedNetwork statement:
            https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEMRServicePolicy_v2.html); here, once for every
            EMR workload of the network, rather than by each (two would manage the same tag, and destroying one would
            untag the other's subnets).
        log_kms_key_arn: key for the flow log group; required because logs are encrypted.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, zone_ids: Sequence[str], log_kms_key_arn: str,
                 cidr: str = "10.40.0.0/16", public_zone_ids: Sequence[str] | None = None, nat_gateways: str = "single",
                 efa: bool = True, placement_group: bool = False, flow_log_retention_days: int = 365,
                 tags: dict[str, str] | None = None, node_security_group: bool = True, emr_managed_subnets: bool = False):
        super().__init__(scope, id)
        if not zone_ids:
            raise ValueError("zone_ids must name at least one availability zone ID")
        if nat_gateways not in ("single", "per_zone"):
            raise ValueError(f"nat_gateways must be 'single' or 'per_zone', got {nat_gateways!r}")
        public = list(public_zone_ids) if public_zone_ids is not None else [zone_ids[0]]
        net = ipaddress.ip_network(cidr)
        blocks = list(net.subnets(new_prefix=max(net.prefixlen + 4, 20)))
        if len(zone_ids) + len(public) > len(blocks):
            raise ValueError(f"cidr {cidr} is too small for {len(zone_ids)} private and {len(public)} public subnets")
        ctx = AwsContext(self)
        tags = dict(tags or {})
        self.vpc = resource(self, "vpc", "aws_vpc", cidr_block=cidr, enable_dns_support=True, enable_dns_hostnames=True,
                            tags={**tags, "Name": name})
        vpc_id = self.vpc.get_string_attribute("id")
        self.vpc_id: str = vpc_id
        self.cidr = cidr
        # The default security group admits nothing: traffic rules live on the groups below.
        resource(self, "default-sg", "aws_default_security_group", vpc_id=vpc_id, tags={**tags, "Name": f"{name}-default-closed"})

        self.private_subnets = []
        self.private_route_tables = []
        for i, zone in enumerate(zone_ids):
            sn = resource(self, f"private-{zone}", "aws_subnet", vpc_id=vpc_id, availability_zone_id=zone, cidr_block=str(blocks[i]),
                          map_public_ip_on_launch=False, tags={**tags, "Name": f"{name}-private-{zone}", "tier": "private",
                                                                  **({EMR_MANAGED_TAG: "true"} if emr_managed_subnets else {})})
            self.private_subnets.append(sn)
        self.private_subnet_ids: list[str] = [s.get_string_attribute("id") for s in self.private_subnets]
        self.emr_managed_subnets = emr_managed_subnets

        self.public_subnets = []
        self.public_subnet_ids: list[str] = []
        nats = []
        if public:
            igw = resource(self, "igw", "aws_internet_gateway", vpc_id=vpc_id, tags={**tags, "Name": name})
            rt = resource(self, "public-rt", "aws_route_table", vpc_id=vpc_id, tags={**tags, "Name": f"{name}-public"})
            resource(self, "public-default-route", "aws_route", route_table_id=rt.get_string_attribute("id"),
                     destination_cidr_block="0.0.0.0/0", gateway_id=igw.get_string_attribute("id"))
            for j, zone in enumerate(public):
                sn = resource(self, f"public-{zone}", "aws_subnet", vpc_id=vpc_id, availability_zone_id=zone,
                              cidr_block=str(blocks[len(zone_ids) + j]), map_public_ip_on_launch=False,
                              tags={**tags, "Name": f"{name}-public-{zone}", "tier": "public"})
                resource(self, f"public-rta-{zone}", "aws_route_table_association", subnet_id=sn.get_string_attribute("id"),
                         route_table_id=rt.get_string_attribute("id"))
                self.public_subnets.append(sn)
                if nat_gateways == "per_zone" or j == 0:
                    eip = resource(self, f"nat-eip-{zone}", "aws_eip", domain="vpc", tags={**tags, "Name": f"{name}-nat-{zone}"})
                    nats.append(resource(self, f"nat-{zone}", "aws_nat_gateway", allocation_id=eip.get_string_attribute("id"),
                                         subnet_id=sn.get_string_attribute("id"), tags={**tags, "Name": f"{name}-{zone}"}))
            self.public_subnet_ids = [s.get_string_attribute("id") for s in self.public_subnets]

        for i, (zone, sn) in enumerate(zip(zone_ids, self.private_subnets)):
            rt = resource(self, f"private-rt-{zone}", "aws_route_table", vpc_id=vpc_id, tags={**tags, "Name": f"{name}-private-{zone}"})
            if nats:
                resource(self, f"private-egress-{zone}", "aws_route", route_table_id=rt.get_string_attribute("id"),
                         destination_cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % len(nats)].get_string_attribute("id"))
            resource(self, f"private-rta-{zone}", "aws_route_table_association", subnet_id=sn.get_string_attribute("id"),
                     route_table_id=rt.get_string_attribute("id"))
            self.private_route_tables.append(rt)
        # Datasets and checkpoints reach S3 without crossing the NAT (no data-processing charge).
        self.s3_endpoint = resource(self, "s3-endpoint", "aws_vpc_endpoint", vpc_id=vpc_id, service_name=f"com.amazonaws.{ctx.region}.s3",
                                    vpc_endpoint_type="Gateway", route_table_ids=[r.get_string_attribute("id") for r in self.private_route_tables],
                                    tags={**tags, "Name": f"{name}-s3"})

        self.node_security_group = None
        self.node_security_group_id: str | None = None
        if node_security_group:
            self.node_security_group = resource(self, "nodes-sg", "aws_security_group", name=f"{name}-gpu-nodes", vpc_id=vpc_id,
                                                description=f"GPU nodes of {name}: no ingress but from each other; egress through NAT",
                                                tags={**tags, "Name": f"{name}-gpu-nodes"})
            sg_id = self.node_security_group.get_string_attribute("id")
            self.node_security_group_id = sg_id
            if efa:
                # EFA requires all traffic from and to the same security group (AWS EFA user guide).
                resource(self, "nodes-efa-in", "aws_vpc_security_group_ingress_rule", security_group_id=sg_id, ip_protocol="-1",
                         referenced_security_group_id=sg_id, description="EFA and collective traffic between the nodes of the group")
                resource(self, "nodes-efa-out", "aws_vpc_security_group_egress_rule", security_group_id=sg_id, ip_protocol="-1",
                         referenced_security_group_id=sg_id, description="EFA and collective traffic between the nodes of the group")
            resource(self, "nodes-https-out", "aws_vpc_security_group_egress_rule", security_group_id=sg_id, ip_protocol="tcp",
                     from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0", description="HTTPS to AWS APIs, S3 and package mirrors")

        log_group = resource(self, "flow-logs", "aws_cloudwatch_log_group", name=f"/aiinfra/{name}/vpc-flow-logs",
                             retention_in_days=flow_log_retention_days, kms_key_id=log_kms_key_arn, tags=tags)
        role = resource(self, "flow-logs-role", "aws_iam_role", name=f"{name}-vpc-flow-logs", tags=tags,
                        assume_role_policy=policy_json([{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                                                         "Action": "sts:AssumeRole"}]))
        log_arn = log_group.get_string_attribute("arn")
        resource(self, "flow-logs-policy", "aws_iam_role_policy", name="write-flow-logs", role=role.get_string_attribute("id"),
                 policy=policy_json([{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                      "Resource": [log_arn, f"{log_arn}:*"]}]))
        resource(self, "flow-log", "aws_flow_log", vpc_id=vpc_id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                 log_destination=log_arn, iam_role_arn=role.get_string_attribute("arn"), tags=tags)

        self.placement_group = None
        self.placement_group_name: str | None = None
        if placement_group:
            self.placement_group = resource(self, "placement", "aws_placement_group", name=f"{name}-cluster", strategy="cluster", tags=tags)
            self.placement_group_name = self.placement_group.get_string_attribute("name")
