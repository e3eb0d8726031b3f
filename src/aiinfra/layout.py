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
