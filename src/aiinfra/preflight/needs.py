"""What a plan asks of a cloud region, before any API is called: the shapes per zone, the nodes
(steady and peak, on-demand and spot), the disks, the addresses and the named reservations.

No cloud SDK here: ``aiinfra preflight`` turns these into API calls (``aws.py``, ``gcp.py``), and
the tests read them without credentials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from aiinfra.planner.model import Plan, WorkloadPlan


@dataclass(frozen=True)
class NodeNeed:
    """One workload's nodes in its region: how many run at once, steady and at peak, by market."""

    workload: str
    instance_type: str
    zones: tuple[str, ...]
    vcpus_per_node: int
    gpus_per_node: int
    accelerator_type: str  # GCP guest accelerator id; "" on AWS and for CPU shapes
    steady_on_demand: int
    steady_spot: int
    peak_on_demand: int
    peak_spot: int
    local_ssd_gib_per_node: int
    data_volume_gib_per_node: int
    data_volume_type: str
    reservation: str | None = None
    spot_alternatives: tuple[str, ...] = ()
    capacity_block: bool = False  # AWS: the reservation is a Capacity Block

    @property
    def peak_nodes(self) -> int:
        return self.peak_on_demand + self.peak_spot


@dataclass
class RegionNeeds:
    """Everything one (cloud, region) of the plan needs at once."""

    cloud: str
    region: str
    nodes: list[NodeNeed] = field(default_factory=list)
    nat_gateways: int = 0  # AWS: each holds an Elastic IP; GCP: Cloud NAT's auto-allocated address
    regional_addresses: int = 0  # GCP internal load-balancer VIPs (google_compute_address)

    def shapes(self) -> dict[str, tuple[str, ...]]:
        """Instance type -> the zones the plan places it in (union over its workloads), in plan order."""
        out: dict[str, list[str]] = {}
        for n in self.nodes:
            zs = out.setdefault(n.instance_type, [])
            zs.extend(z for z in n.zones if z not in zs)
        return {k: tuple(v) for k, v in out.items()}


def split_markets(w: WorkloadPlan, nodes: int) -> tuple[int, int]:
    """(on-demand, spot) of ``nodes`` running nodes under the workload's capacity mix, as the
    groups launch them: a mixed group fills its on-demand base first, then the share above it."""
    if w.capacity == "on_demand":
        return nodes, 0
    if w.capacity == "spot":
        return 0, nodes
    base = min(nodes, w.on_demand_base_nodes)
    above = nodes - base
    on_demand_above = math.ceil(above * w.on_demand_percent_above_base / 100)
    return base + on_demand_above, above - on_demand_above


def node_need(w: WorkloadPlan) -> NodeNeed:
    so, ss = split_markets(w, w.nodes)
    po, ps = split_markets(w, max(w.max_nodes, w.nodes))
    # A GCP spot group with an on-demand fallback (constructs/gcp/spot_pool.py) may launch its
    # spot share on-demand: that quota must hold it too.
    if w.cloud == "gcp" and w.spot_fallback == "on_demand" and ps:
        po = po + ps
    return NodeNeed(
        workload=w.name, instance_type=w.instance_type, zones=tuple(w.zones), vcpus_per_node=w.vcpus_per_node,
        gpus_per_node=w.gpus_per_node, accelerator_type=w.accelerator_type, steady_on_demand=so, steady_spot=ss,
        peak_on_demand=po, peak_spot=ps, local_ssd_gib_per_node=w.local_nvme_gib_per_node,
        data_volume_gib_per_node=w.data_volume_gib_per_node, data_volume_type=w.data_volume_type,
        reservation=w.reservation, spot_alternatives=tuple(w.spot_alternatives), capacity_block=w.capacity_block,
    )


def region_needs(plan: Plan) -> list[RegionNeeds]:
    """The plan's (cloud, region) needs, in plan order."""
    env = plan.environment
    out: dict[tuple[str, str], RegionNeeds] = {}
    for w in plan.workloads:
        r = out.setdefault((w.cloud, w.region), RegionNeeds(w.cloud, w.region))
        r.nodes.append(node_need(w))
    for (cloud, _region), r in out.items():
        names = {n.workload for n in r.nodes}
        ws = [w for w in plan.workloads if w.name in names and w.cloud == cloud and w.region == r.region]
        if cloud == "aws":
            from aiinfra.layout import aws_nat_gateways

            r.nat_gateways = aws_nat_gateways(ws, env)
        else:
            r.nat_gateways = 1
            r.regional_addresses = sum(1 for w in ws if w.type == "inference" and w.exposure == "internal")
    return list(out.values())
