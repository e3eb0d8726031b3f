"""The spot side of a GCP GPU group: SPOT provisioning with a termination action, an on-demand
base group as the fallback, and the equivalent machine types the spot group may draw from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

TERMINATION_ACTIONS = ("DELETE", "STOP")


@dataclass(frozen=True)
class SpotPool:
    """How a ``GpuInstanceGroup`` mixes Spot and on-demand VMs.

    A managed instance group has one provisioning model (it is in the instance template), so
    the on-demand share is a second group beside the Spot group: ``on_demand_base`` VMs that
    are always on-demand, and, with ``on_demand_fallback``, that group exists even at size 0
    so a scheduler or an operator can move capacity to on-demand when Spot runs dry.

    Example::

        GpuInstanceGroup(..., spot=SpotPool(on_demand_base=1, alternative_machine_types=["a2-ultragpu-8g"]))

    Args:
        on_demand_base: VMs always on-demand (the plan's base for availability); default 0.
        on_demand_fallback: create the on-demand group even when ``on_demand_base`` is 0;
            default on (the plan's ``spot_fallback: on_demand``).
        termination_action: what Compute Engine does to a preempted Spot VM: ``DELETE``
            (default: the group recreates it when capacity returns) or ``STOP``.
        alternative_machine_types: equivalent shapes (same GPUs, same network shape) the Spot
            group may also create, through the group's instance flexibility policy, so a
            reclaimed zone or shape is refilled from another. In a multi-node group (a compact
            placement policy or GPU NICs) every alternative must have the planned shape's GPU
            model, GPU count, GPU memory, GPUDirect flavour and GPU NIC count, as the catalog
            lists them (``aiinfra.placement.check_homogeneous``): the group refuses e.g.
            ``a2-ultragpu-8g`` (A100 80 GB) beside ``a2-highgpu-8g`` (A100 40 GB), or a shape the
            catalog does not know.
        allow_heterogeneous: accept alternatives of a multi-node group without that check;
            default off. For a shape you have checked yourself that the catalog does not list
            yet, or a job that tolerates mixed nodes (its launcher groups same-shape nodes itself).
        max_run_duration_seconds: stop Spot VMs after this long; left out, no limit.
    """

    on_demand_base: int = 0
    on_demand_fallback: bool = True
    termination_action: str = "DELETE"
    alternative_machine_types: Sequence[str] = field(default_factory=tuple)
    max_run_duration_seconds: int | None = None
    allow_heterogeneous: bool = False

    def __post_init__(self) -> None:
        if self.on_demand_base < 0:
            raise ValueError(f"on_demand_base must be 0 or more, got {self.on_demand_base}")
        if self.termination_action not in TERMINATION_ACTIONS:
            raise ValueError(f"termination_action must be DELETE or STOP, got {self.termination_action!r}")
        if self.max_run_duration_seconds is not None and self.max_run_duration_seconds < 30:
            raise ValueError(f"max_run_duration_seconds must be at least 30, got {self.max_run_duration_seconds}")

    def scheduling(self) -> dict:
        """The ``scheduling`` block of a Spot instance template."""
        return {
            "provisioning_model": "SPOT",
            "preemptible": True,
            "automatic_restart": False,
            "on_host_maintenance": "TERMINATE",
            "instance_termination_action": self.termination_action,
            "max_run_duration": {"seconds": self.max_run_duration_seconds} if self.max_run_duration_seconds else None,
        }

    def flexibility_policy(self, machine_type: str) -> dict | None:
        """The group's ``instance_flexibility_policy``: the planned shape first, then the alternatives."""
        others = [t for t in dict.fromkeys(self.alternative_machine_types) if t != machine_type]
        if not others:
            return None
        return {"instance_selections": [{"name": "planned", "rank": 1, "machine_types": [machine_type]},
                                        {"name": "alternatives", "rank": 2, "machine_types": others}]}
