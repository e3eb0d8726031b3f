"""Scheduled runs of a batch group: the cloud scales it up when a run starts and down at the
run's hard stop, whatever the nodes themselves do (a hung job never outlives ``stop``)."""

from __future__ import annotations

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.cron import Cron


class RunSchedule(Construct):
    """Two scheduled actions on an Auto Scaling group: ``start`` sets the desired capacity to
    ``nodes``, ``stop`` sets it to zero. The nodes' own job wrapper scales the group to zero as
    soon as a run succeeds or has spent its retries (``aiinfra.boot``); ``stop`` is the hard stop.

    Example::

        RunSchedule(stack, "runs", group_name=group.name, nodes=2, start="0 6 * * 6", stop="0 6 * * 0")

    Args:
        group_name: the Auto Scaling group (``GpuInstanceGroup.name``).
        nodes: nodes of one run.
        max_nodes: the group's max size during runs (a data-processing cluster may scale out);
            default ``nodes``.
        start, stop: five-field cron expressions in UTC (the planner's ``schedule`` and
            ``stop_schedule``); ``stop`` must fire between two starts.
        name: prefix of the actions' names; default the construct id.
        start_when: a Terraform boolean expression (e.g. ``var.image != ""``); while it is false
            the ``start`` action sets the group's desired capacity and maximum to 0, so the
            schedule exists and starts nothing (no node idles to the hard stop waiting for work).
            Left out, every start starts ``nodes``.
    """

    def __init__(self, scope: Construct, id: str, *, group_name: str, nodes: int, start: str, stop: str, max_nodes: int | None = None,
                 name: str | None = None, start_when: str | None = None):
        super().__init__(scope, id)
        max_nodes = nodes if max_nodes is None else max_nodes
        if not 1 <= nodes <= max_nodes:
            raise ValueError(f"nodes must be at least 1 and at most max_nodes ({max_nodes}), got {nodes}")
        start, stop = Cron.parse(start).text, Cron.parse(stop).text
        if start == stop:
            raise ValueError(f"start and stop must differ, got {start!r} for both")
        prefix = name or id
        # https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html
        # (recurrence is cron in the given time zone; min and max stay as the group has them
        # when left out: here they are set so a run can always reach `nodes`).
        desired, maximum = nodes, max_nodes
        if start_when is not None:
            if not start_when.strip() or "${" in start_when:
                raise ValueError(f"start_when must be a bare Terraform expression (no ${{...}}), got {start_when!r}")
            desired, maximum = (f"${{{start_when} ? {n} : 0}}" for n in (nodes, max_nodes))
        self.start = resource(self, "start", "aws_autoscaling_schedule", scheduled_action_name=f"{prefix}-start",
                              autoscaling_group_name=group_name, recurrence=start, time_zone="Etc/UTC",
                              min_size=0, max_size=maximum, desired_capacity=desired)
        self.stop = resource(self, "stop", "aws_autoscaling_schedule", scheduled_action_name=f"{prefix}-hard-stop",
                             autoscaling_group_name=group_name, recurrence=stop, time_zone="Etc/UTC",
                             min_size=0, max_size=max_nodes, desired_capacity=0)
