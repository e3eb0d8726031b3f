"""Where a region's foundation network spans, decided once for the stacks and the diagram (no
cdktf here: ``aiinfra graph`` draws it without jsii)."""

from __future__ import annotations

from aiinfra.planner.model import WorkloadPlan

AWS_MAX_ZONES = 3  # subnets (and NAT routes) in at most three zones: the availability targets need no more


def aws_foundation_zones(workloads: list[WorkloadPlan]) -> list[str]:
    """The zones of a region's AWS network: every zone a serving or multi-node workload needs, then
    the others' (widest workloads first), at most ``AWS_MAX_ZONES`` unless the needed ones are more."""
    zones: list[str] = []
    for w in sorted(workloads, key=lambda w: -len(w.zones)):
        for z in w.zones:
            if z not in zones:
                zones.append(z)
    # Inference groups need their zones; others fit in the first ones.
    needed = [z for w in workloads if w.type == "inference" or w.multi_node for z in w.zones]
    return list(dict.fromkeys(needed + zones))[: max(AWS_MAX_ZONES, len(set(needed)))]


def aws_public_zones(workloads: list[WorkloadPlan]) -> list[str]:
    """The zones of a region's public subnets: a public load balancer needs one in every zone its
    nodes are in (nodes in a zone without one get no traffic), and at least two; without an
    endpoint one (the NAT gateway's)."""
    zones = aws_foundation_zones(workloads)
    has_endpoint = any(w.type == "inference" for w in workloads)
    public = [z for w in workloads if w.type == "inference" and w.exposure != "internal" for z in w.zones]
    return list(dict.fromkeys(public + (zones if has_endpoint else zones[:1])))[: max(2 if has_endpoint else 1, len(set(public)))]


def aws_nat_gateways(workloads: list[WorkloadPlan], environment: str) -> int:
    """NAT gateways (each with an Elastic IP) of a region: one a public zone in production with an
    endpoint, else one."""
    per_zone = environment == "production" and any(w.type == "inference" for w in workloads)
    return len(aws_public_zones(workloads)) if per_zone else 1
