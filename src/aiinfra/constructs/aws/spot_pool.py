"""The spot side of a GPU group: on-demand base and share, allocation strategy, and the
equivalent instance types the pool may draw from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpotPool:
    """How a ``GpuInstanceGroup`` mixes spot and on-demand capacity (its mixed instances policy).

    Example::

        GpuInstanceGroup(..., spot=SpotPool(on_demand_base=2, alternative_instance_types=["p4de.24xlarge"]))

    Args:
        on_demand_base: instances always on-demand (the plan's base for availability); default 0.
        on_demand_percent_above_base: on-demand share above the base; default 0 (all spot).
        alternative_instance_types: equivalent shapes (same GPUs) the pool may also use, so a
            reclaim in one pool is refilled from another. In a multi-node group (EFA
            interfaces or a cluster placement group) every alternative must have the planned
            shape's GPU model, GPU count, GPU memory and EFA interface count, as the catalog
            lists them (``aiinfra.placement.check_homogeneous``): the group refuses e.g.
            ``p5e.48xlarge`` (H200 141 GB) beside ``p5.48xlarge`` (H100 80 GB), or a shape the
            catalog does not know.
        allow_heterogeneous: accept alternatives of a multi-node group without that check
            (mixed or uncatalogued shapes in one EFA run); default off. For a shape you have
            checked yourself that the catalog does not list yet, or a job that tolerates mixed
            nodes (its launcher groups same-shape nodes itself).
        allocation_strategy: ``price-capacity-optimized`` (default: the pools least likely to
            be interrupted among the cheapest), ``capacity-optimized`` or ``lowest-price``.
        capacity_rebalance: start a replacement when AWS signals elevated interruption risk,
            before the two-minute notice, and then terminate the node that got the rebalance
            recommendation (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-capacity-rebalancing.html).
            Left out (None), the group decides: on for a group of independent nodes, off for a
            collective group (``GpuInstanceGroup(collective=True)``: its nodes form one run, and a
            rebalance would stop a healthy rank mid-run, which ends the attempt on every node).
            ``True`` on a collective group is refused.
        max_price_usd_hr: cap on the spot price; left out, the on-demand price is the cap.
    """

    on_demand_base: int = 0
    on_demand_percent_above_base: int = 0
    alternative_instance_types: Sequence[str] = field(default_factory=tuple)
    allocation_strategy: str = "price-capacity-optimized"
    capacity_rebalance: bool | None = None
    max_price_usd_hr: float | None = None
    allow_heterogeneous: bool = False

    def __post_init__(self) -> None:
        if self.on_demand_base < 0:
            raise ValueError(f"on_demand_base must be 0 or more, got {self.on_demand_base}")
        if not 0 <= self.on_demand_percent_above_base <= 100:
            raise ValueError(f"on_demand_percent_above_base must be between 0 and 100, got {self.on_demand_percent_above_base}")
        if self.capacity_rebalance not in (None, True, False):
            raise ValueError(f"capacity_rebalance must be True, False or None (the group decides), got {self.capacity_rebalance!r}")
        allowed = ("price-capacity-optimized", "capacity-optimized", "lowest-price", "capacity-optimized-prioritized")
        if self.allocation_strategy not in allowed:
            raise ValueError(f"allocation_strategy must be one of {', '.join(allowed)}, got {self.allocation_strategy!r}")

    def mixed_instances_policy(self, launch_template_id: str, instance_type: str) -> dict:
        """The ``mixed_instances_policy`` block of ``aws_autoscaling_group``."""
        types = [instance_type, *[t for t in self.alternative_instance_types if t != instance_type]]
        return {
            "instances_distribution": {
                "on_demand_base_capacity": self.on_demand_base,
                "on_demand_percentage_above_base_capacity": self.on_demand_percent_above_base,
                "spot_allocation_strategy": self.allocation_strategy,
                "spot_max_price": f"{self.max_price_usd_hr:.4f}" if self.max_price_usd_hr else None,
            },
            "launch_template": {
                "launch_template_specification": {"launch_template_id": launch_template_id, "version": "$Latest"},
                "override": [{"instance_type": t} for t in types],
            },
        }
