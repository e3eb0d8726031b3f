"""Scheduled runs of a batch group: Cloud Scheduler resizes its managed instance groups up when
a run starts and to zero at the run's hard stop, whatever the nodes themselves do."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import check_name
from aiinfra.cron import Cron

# https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/resize
RESIZE_URI = "https://compute.googleapis.com/compute/v1/projects/{project}/regions/{region}/instanceGroupManagers/{group}/resize?size={size}"
# Cloud Scheduler HTTP targets with an OAuth token (https://cloud.google.com/scheduler/docs/http-target-auth).
SCOPE = "https://www.googleapis.com/auth/compute"


def check_run_window(start: str, stop: str, start_when: str | None) -> tuple[str, str]:
    """A run schedule's start and stop crons, normalised, and its start condition, checked alike for
    instance groups (RunSchedule) and TPU VMs (tpu_vm.TpuRunSchedule)."""
    start, stop = Cron.parse(start).text, Cron.parse(stop).text
    if start == stop:
        raise ValueError(f"start and stop must differ, got {start!r} for both")
    if start_when is not None and (not start_when.strip() or "${" in start_when):
        raise ValueError(f"start_when must be a bare Terraform expression (no ${{...}}), got {start_when!r}")
    return start, stop


class RunSchedule(Construct):
    """Cloud Scheduler jobs that start and hard-stop the runs of a batch workload's groups.

    A regional managed instance group has no scheduled resize of its own (the autoscaler's
    scaling schedules only hold a minimum and cannot take a group to zero early, so a finished
    run would idle until the window ends); these jobs call the same ``resize`` API as AWS's
    scheduled actions set a desired capacity. The nodes' job wrapper resizes the groups to zero
    as soon as a run succeeds or has spent its retries (``aiinfra.boot``); ``stop`` is the hard stop.

    Example::

        RunSchedule(stack, "runs", project="acme-ml-prod", region="us-central1", name="acme-prod-train",
                    groups=[("acme-prod-train-spot", 2), ("acme-prod-train-od", 0)], start="0 7 1 * *", stop="0 7 2 * *",
                    service_account_email=runner.email)

    Args:
        project, region: where the groups and the jobs live.
        name: prefix of the jobs' names.
        groups: (managed instance group name, VMs of one run) for each group of the workload;
            each is resized to its count at ``start`` and to zero at ``stop``.
        start, stop: five-field cron expressions in UTC (the planner's ``schedule`` and ``stop_schedule``).
        service_account_email: the identity the jobs call Compute Engine as; it needs
            ``compute.instanceGroupManagers.update`` on the groups (``GroupRunnerRole``).
        attempt_deadline: how long one call may take; retries: failed calls retried, default 5.
        start_when: a Terraform boolean expression (e.g. ``var.image != ""``); while it is false
            the start jobs resize their groups to 0, so the schedule exists and starts nothing (no
            VM idles to the hard stop waiting for work). Left out, every start starts the run.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, region: str, name: str, groups: Sequence[tuple[str, int]], start: str,
                 stop: str, service_account_email: str, retries: int = 5, attempt_deadline: str = "180s", start_when: str | None = None):
        super().__init__(scope, id)
        if not groups:
            raise ValueError("groups must name at least one managed instance group")
        start, stop = check_run_window(start, stop, start_when)
        self.jobs = []
        for i, (group, size) in enumerate(groups):
            if size < 0:
                raise ValueError(f"the run size of {group} must be 0 or more, got {size}")
            for action, cron, to in (("start", start, size), ("stop", stop, 0)):
                if action == "start" and size == 0:
                    continue  # a group a run starts at zero is only resized down
                description = f"{'start a run of' if to else 'hard stop of'} {group} ({to} VMs)"
                if to and start_when is not None:
                    description = f"start a run of {group} ({to} VMs when {start_when}, else 0)"
                    to = f"${{{start_when} ? {to} : 0}}"
                job = resource(
                    self, f"{action}-{i}", "google_cloud_scheduler_job", project=project, region=region,
                    name=check_name(f"{name}-{i}-{action}"), description=description,
                    schedule=cron, time_zone="Etc/UTC", attempt_deadline=attempt_deadline,
                    retry_config={"retry_count": retries, "min_backoff_duration": "10s", "max_backoff_duration": "300s"},
                    http_target={"http_method": "POST", "uri": RESIZE_URI.format(project=project, region=region, group=group, size=to),
                                 "oauth_token": {"service_account_email": service_account_email, "scope": SCOPE}})
                self.jobs.append(job)


class GroupRunnerRole(Construct):
    """A project custom role to resize managed instance groups and read their VMs, granted per
    workload on its own groups only (an IAM condition on the resource names): the scheduler's
    jobs and the nodes' job wrapper resize the groups; the wrapper lists the members for the
    multi-node rendezvous.

    Args:
        project: the project.
        role_id: the custom role's id (letters, digits, ``_`` and ``.``; 3 to 64 characters).
    """

    # resize and listManagedInstances need compute.instanceGroupManagers.update / .get, instances.get the VM's address
    # (https://cloud.google.com/compute/docs/reference/rest/v1/regionInstanceGroupManagers/resize, "IAM Permissions");
    # Compute Engine evaluates IAM conditions on resource.name and resource.type
    # (https://cloud.google.com/compute/docs/access/iam-conditions).
    PERMISSIONS = ("compute.instanceGroupManagers.get", "compute.instanceGroupManagers.update", "compute.instances.get")

    def __init__(self, scope: Construct, id: str, *, project: str, role_id: str):
        super().__init__(scope, id)
        if not re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", role_id):
            raise ValueError(f"role_id must be 3-64 letters, digits, '_' or '.', got {role_id!r}")
        self.project = project
        self.role = resource(self, "role", "google_project_iam_custom_role", project=project, role_id=role_id,
                             title="aiinfra group runner", description="Resize aiinfra batch groups and read their VMs (granted per group)",
                             permissions=list(self.PERMISSIONS), stage="GA")
        self.name: str = self.role.get_string_attribute("name")

    def grant(self, scope: Construct, id: str, *, member: str, region: str, groups: Sequence[str], instance_prefix: str):
        """Grant the role to ``member`` on ``groups`` and the VMs named ``instance_prefix*`` only."""
        names = " || ".join(f'resource.name.startsWith("projects/{self.project}/regions/{region}/instanceGroupManagers/{g}")' for g in groups)
        vms = (f'(resource.type == "compute.googleapis.com/Instance" && '
               f'resource.name.extract("/instances/{{name}}").startsWith("{instance_prefix}"))')
        return resource(scope, id, "google_project_iam_member", project=self.project, role=self.name, member=member,
                        condition={"title": f"only {instance_prefix}"[:100], "description": "its own groups and VMs",
                                   "expression": f"{names} || {vms}"})
