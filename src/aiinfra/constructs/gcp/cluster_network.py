"""VPC for GPU nodes on Google Cloud: a custom-mode network with one private subnet (Private
Google Access, flow logs), Cloud Router + NAT for egress without external IPs, firewall rules
that admit only internal traffic and IAP for admin access, the extra GPU NIC networks that
GPUDirect shapes need, and a compact placement policy for multi-node groups."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import check_name
from aiinfra.placement import check_placement

IAP_RANGE = "35.235.240.0/20"  # Identity-Aware Proxy TCP forwarding (cloud.google.com/iap/docs/using-tcp-forwarding)
# GPUDirect flavours: (MTU, NIC type of the GPU NICs). TCPX (A3 High) and TCPXO (A3 Mega) use
# one VPC per GPU NIC with gVNIC; RDMA (A3 Ultra, A4) uses one RoCE VPC with a subnet per NIC.
GPUDIRECT = {"tcpx": (8244, "GVNIC"), "tcpxo": (8244, "GVNIC"), "rdma": (8896, "MRDMA")}


@dataclass(frozen=True)
class GpuNicNetworks:
    """The GPU NIC networks of a GPUDirect shape (from the catalog: A3 High 4 x TCPX, A3 Mega
    8 x TCPXO, A3 Ultra 8 x RDMA)."""

    kind: str
    count: int

    def __post_init__(self) -> None:
        if self.kind not in GPUDIRECT:
            raise ValueError(f"GPU NIC kind must be one of {', '.join(GPUDIRECT)}, got {self.kind!r}")
        if not 1 <= self.count <= 16:
            raise ValueError(f"GPU NIC count must be between 1 and 16, got {self.count}")

    @property
    def mtu(self) -> int:
        return GPUDIRECT[self.kind][0]

    @property
    def nic_type(self) -> str:
        return GPUDIRECT[self.kind][1]


class CompactPlacement(Construct):
    """A compact placement resource policy: the group's VMs on nearby hosts for low-latency
    collective traffic (multi-node training). Attach it to a ``GpuInstanceGroup``.

    Several groups may share one policy (a Spot group and its on-demand fallback group in one
    zone): VMs join the policy as they are created, so it holds whatever the groups create.

    Args:
        name: the policy name.
        region: the region of the group.
        vm_count: the most VMs the policy will hold (every group using it, at its largest), 2 or
            more; checked against the policy's limit, not written into it unless ``exact``.
        machine_type: the machine type of the group the policy is for; given, ``vm_count``
            must fit the documented limit of one compact placement policy for its machine series
            (``aiinfra.placement.check_placement``, with the source; N1 is refused).
        exact: write ``vm_count`` into the policy. Compute then places VMs only when exactly that
            many are created at once with the policy attached ("Google does not recommend that you
            use this field unless you use a compact policy and you want your policy to work only if
            it contains this exact number of VMs"; a COLLOCATED policy with it needs "exactly
            vm_count instances ... created at the same time":
            https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/compute_resource_policy#vm_count,
            https://cloud.google.com/compute/docs/reference/rest/v1/resourcePolicies). A group
            resized between runs, or two groups sharing the policy, never create exactly that
            many at once and would stay unplaced. Default off: without ``vm_count`` VMs are added
            to the policy incrementally, the way Cluster Toolkit recommends
            (https://github.com/GoogleCloudPlatform/cluster-toolkit/blob/main/modules/compute/vm-instance/README.md#placement).
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, region: str, vm_count: int,
                 machine_type: str | None = None, exact: bool = False):
        super().__init__(scope, id)
        check_name(name)
        if not 2 <= vm_count <= 1500:
            raise ValueError(f"vm_count must be between 2 and 1500 (compact placement is for multi-node groups), got {vm_count}")
        if machine_type is not None:
            problem = check_placement("gcp", machine_type, vm_count)
            if problem:
                raise ValueError(f"vm_count {vm_count}: {problem}")
        # (max_distance exists only in the google-beta provider.)
        policy = {"collocation": "COLLOCATED", "vm_count": vm_count if exact else None}
        self.policy = resource(self, "policy", "google_compute_resource_policy", project=project, name=name, region=region,
                               group_placement_policy=policy)
        self.id: str = self.policy.get_string_attribute("id")
        self.self_link: str = self.policy.get_string_attribute("self_link")


class ClusterNetwork(Construct):
    """Network for one environment's GPU groups in one region.

    Example::

        net = ClusterNetwork(stack, "network", project="acme-ml-prod", name="acme-ml-prod", region="us-central1",
                             gpu_nics=GpuNicNetworks("tcpx", 4))
        GpuInstanceGroup(stack, "train", subnetwork=net.subnetwork_self_link, gpu_nic_subnetworks=net.gpu_nic_subnetwork_self_links, ...)

    Args:
        project: the GCP project id.
        name: prefix of every resource name.
        region: the subnet's region.
        cidr: the private subnet's range; default ``10.50.0.0/20``.
        mtu: the primary network's MTU; default 8896 (jumbo frames within the VPC; Google's
            maximum). GPU NIC networks take the GPUDirect flavour's MTU.
        gpu_nics: the extra GPU NIC networks of a GPUDirect shape; left out, none.
        gpu_nic_cidr: range the GPU NIC subnets are cut from (one /24 each); default
            ``10.60.0.0/16``.
        roce_zone: zone of the RoCE network profile (RDMA shapes only; RoCE networks are zonal).
        iap_ssh: allow SSH from Identity-Aware Proxy's range (OS Login decides who); default on.
        flow_log_sampling: share of flows logged, 0 to 1; default 0.5.
        nat_log_filter: ``ERRORS_ONLY`` (default), ``TRANSLATIONS_ONLY`` or ``ALL``.
        node_tag: network tag of the nodes the firewall rules target; default ``<name>-gpu-node``.
        proxy_only_cidr: a proxy-only subnet for internal HTTPS load balancers
            (``InternalEndpoint``), e.g. ``10.129.0.0/23``; left out, none.
        internal_traffic: admit all TCP, UDP and ICMP from the subnet (and, on each TCPX/TCPXO GPU
            NIC network, from its subnet) to every node with ``node_tag`` (default). False: no such
            rule; give each workload a ``NodeFirewall`` scoped to its own service account instead,
            so one workload's nodes cannot reach another's (network segmentation).
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, region: str, cidr: str = "10.50.0.0/20", mtu: int = 8896,
                 gpu_nics: GpuNicNetworks | None = None, gpu_nic_cidr: str = "10.60.0.0/16", roce_zone: str | None = None,
                 iap_ssh: bool = True, flow_log_sampling: float = 0.5, nat_log_filter: str = "ERRORS_ONLY", node_tag: str | None = None,
                 proxy_only_cidr: str | None = None, internal_traffic: bool = True):
        super().__init__(scope, id)
        check_name(name)
        if not 1300 <= mtu <= 8896:
            raise ValueError(f"mtu must be between 1300 and 8896, got {mtu}")
        if not 0 < flow_log_sampling <= 1:
            raise ValueError(f"flow_log_sampling must be above 0 and at most 1, got {flow_log_sampling}")
        if nat_log_filter not in ("ERRORS_ONLY", "TRANSLATIONS_ONLY", "ALL"):
            raise ValueError(f"nat_log_filter must be ERRORS_ONLY, TRANSLATIONS_ONLY or ALL, got {nat_log_filter!r}")
        subnet_range = ipaddress.ip_network(cidr)
        if not subnet_range.is_private:
            raise ValueError(f"cidr must be a private range, got {cidr}")
        if proxy_only_cidr and (not ipaddress.ip_network(proxy_only_cidr).is_private or ipaddress.ip_network(proxy_only_cidr).overlaps(subnet_range)):
            raise ValueError(f"proxy_only_cidr must be a private range apart from cidr {cidr}, got {proxy_only_cidr}")
        self.project, self.region, self.cidr = project, region, cidr
        self.node_tag = check_name(node_tag or f"{name[:52]}-gpu-node", "node_tag")
        self.network = resource(self, "vpc", "google_compute_network", project=project, name=check_name(f"{name}-vpc"),
                                auto_create_subnetworks=False, routing_mode="REGIONAL", mtu=mtu,
                                description=f"GPU nodes of {name}")
        self.network_self_link: str = self.network.get_string_attribute("self_link")
        self.network_id: str = self.network.get_string_attribute("id")
        log_config = {"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": flow_log_sampling, "metadata": "INCLUDE_ALL_METADATA"}
        self.subnetwork = resource(self, "subnet", "google_compute_subnetwork", project=project, name=check_name(f"{name}-nodes"),
                                   region=region, network=self.network_id, ip_cidr_range=cidr, private_ip_google_access=True,
                                   stack_type="IPV4_ONLY", log_config=log_config)
        self.subnetwork_self_link: str = self.subnetwork.get_string_attribute("self_link")
        # The region's proxy-only subnet: internal Application Load Balancers run their proxies in it
        # (https://cloud.google.com/load-balancing/docs/proxy-only-subnets); flow logs do not apply to it.
        self.proxy_only_cidr: str | None = proxy_only_cidr
        self.proxy_only_subnetwork = None
        if proxy_only_cidr:
            self.proxy_only_subnetwork = resource(self, "proxy-only", "google_compute_subnetwork", project=project,
                                                  name=check_name(f"{name}-proxy-only"), region=region, network=self.network_id,
                                                  ip_cidr_range=proxy_only_cidr, purpose="REGIONAL_MANAGED_PROXY", role="ACTIVE")
        self.router = resource(self, "router", "google_compute_router", project=project, name=check_name(f"{name}-router"), region=region,
                               network=self.network_id)
        self.nat = resource(self, "nat", "google_compute_router_nat", project=project, name=check_name(f"{name}-nat"), region=region,
                            router=self.router.get_string_attribute("name"), nat_ip_allocate_option="AUTO_ONLY",
                            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
                            subnetwork=[{"name": self.subnetwork.get_string_attribute("id"), "source_ip_ranges_to_nat": ["ALL_IP_RANGES"]}],
                            log_config={"enable": True, "filter": nat_log_filter})
        fw_log = {"metadata": "INCLUDE_ALL_METADATA"}
        self.firewalls = []
        if internal_traffic:
            self.firewalls.append(resource(
                self, "allow-internal", "google_compute_firewall", project=project, name=check_name(f"{name}-allow-internal"),
                network=self.network_id, direction="INGRESS", priority=1000, source_ranges=[cidr], target_tags=[self.node_tag],
                allow=[{"protocol": "tcp"}, {"protocol": "udp"}, {"protocol": "icmp"}], log_config=fw_log,
                description="Traffic between the nodes of the private subnet (NCCL, data loading, serving)"))
        if iap_ssh:
            self.firewalls.append(resource(
                self, "allow-iap-ssh", "google_compute_firewall", project=project, name=check_name(f"{name}-allow-iap-ssh"),
                network=self.network_id, direction="INGRESS", priority=1000, source_ranges=[IAP_RANGE], target_tags=[self.node_tag],
                allow=[{"protocol": "tcp", "ports": ["22"]}], log_config=fw_log,
                description="SSH through Identity-Aware Proxy only; OS Login decides who"))

        self.gpu_nics = gpu_nics
        self.gpu_nic_networks = []
        self.gpu_nic_subnetworks = []
        if gpu_nics is not None:
            blocks = ipaddress.ip_network(gpu_nic_cidr).subnets(new_prefix=24)
            if gpu_nics.kind == "rdma":
                if not roce_zone:
                    raise ValueError("roce_zone is required for RDMA GPU NICs (RoCE network profiles are zonal)")
                vpc = resource(self, "gpu-roce-vpc", "google_compute_network", project=project, name=check_name(f"{name}-gpu-roce"),
                               auto_create_subnetworks=False, mtu=gpu_nics.mtu, routing_mode="REGIONAL",
                               network_profile=f"projects/{project}/global/networkProfiles/{roce_zone}-vpc-roce",
                               description=f"GPUDirect-RDMA (RoCE) network of {name}")
                self.gpu_nic_networks.append(vpc)
            for i in range(gpu_nics.count):
                block = str(next(blocks))
                if gpu_nics.kind != "rdma":
                    vpc = resource(self, f"gpu-nic-{i}-vpc", "google_compute_network", project=project, name=check_name(f"{name}-gpu-{i}"),
                                   auto_create_subnetworks=False, mtu=gpu_nics.mtu, routing_mode="REGIONAL",
                                   description=f"GPUDirect-{gpu_nics.kind.upper()} NIC {i} of {name}")
                    self.gpu_nic_networks.append(vpc)
                if gpu_nics.kind != "rdma" and internal_traffic:
                    resource(self, f"gpu-nic-{i}-internal", "google_compute_firewall", project=project,
                             name=check_name(f"{name}-gpu-{i}-internal"), network=vpc.get_string_attribute("id"), direction="INGRESS",
                             priority=1000, source_ranges=[block], target_tags=[self.node_tag],
                             allow=[{"protocol": "tcp"}, {"protocol": "udp"}, {"protocol": "icmp"}], log_config=fw_log,
                             description=f"GPU-to-GPU traffic on GPU NIC {i}")
                elif gpu_nics.kind != "rdma":
                    # Nothing in but what each workload's own rules admit (NodeFirewall, by service account): the implied
                    # deny, written down so the network's rules are its own, not a default (https://cloud.google.com/vpc/docs/firewalls).
                    resource(self, f"gpu-nic-{i}-deny-in", "google_compute_firewall", project=project,
                             name=check_name(f"{name}-gpu-{i}-deny-in"), network=vpc.get_string_attribute("id"), direction="INGRESS",
                             priority=65534, source_ranges=["0.0.0.0/0"], deny=[{"protocol": "all"}], log_config=fw_log,
                             description=f"GPU NIC {i}: nothing in but the workloads' own service-account rules")
                sn = resource(self, f"gpu-nic-{i}-subnet", "google_compute_subnetwork", project=project,
                              name=check_name(f"{name}-gpu-{i}"), region=region, network=vpc.get_string_attribute("id"),
                              ip_cidr_range=block, private_ip_google_access=True, stack_type="IPV4_ONLY", log_config=log_config)
                self.gpu_nic_subnetworks.append(sn)
        self.gpu_nic_subnetwork_self_links: list[str] = [s.get_string_attribute("self_link") for s in self.gpu_nic_subnetworks]

    def compact_placement(self, scope: Construct, id: str, *, name: str, vm_count: int,
                          machine_type: str | None = None, exact: bool = False) -> CompactPlacement:
        """A compact placement policy in this network's project and region (in ``scope``, for
        example a workload's own stack)."""
        return CompactPlacement(scope, id, project=self.project, name=name, region=self.region, vm_count=vm_count,
                                machine_type=machine_type, exact=exact)
