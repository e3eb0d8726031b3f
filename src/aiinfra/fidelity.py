"""Cost fidelity: how many node-hours the synthesized Terraform keeps running, against the plan.

Read from the stacks alone (``<out>/stacks/<stack>/cdk.tf.json``), never from the plan: a
group's size (AWS ``desired_capacity`` / ``min_size``, GCP ``target_size``) and the cloud-side
events that change it (AWS ``aws_autoscaling_schedule`` actions; Cloud Scheduler jobs calling a
managed instance group's ``resize``) are played over the reference year (``aiinfra.cron``) and
divided by 12, the planner's 730-hour month. That is what the cloud would bill if every node
ran until the cloud stopped it; a run that ends early (its nodes scale their group to zero)
only costs less. ``check`` compares it with the plan: equal for serving; for batch work at least
the planned node-hours and at most runs x ``max_runtime`` x nodes. A size that is a Terraform
conditional (``${var.image != "" ? 2 : 0}``: a workload without an image starts no node) counts
at its larger branch, what the plan prices once the image is given.

Pure Python on the JSON (no cdktf, no terraform): ``aiinfra review`` reuses it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from aiinfra.cron import REFERENCE_END, REFERENCE_START, Cron
from aiinfra.planner.model import Plan, WorkloadPlan
from aiinfra.naming import stack_name

_REF = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}$")
_RESIZE = re.compile(r"/instanceGroupManagers/([a-z0-9-]+)/resize\?size=(\d+|\$\{[^}]*\})$")
_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
# Events before the year starts decide the size on 1 January (a run started on 31 December).
WARM_UP = dt.timedelta(days=62)


@dataclass
class GroupHours:
    """One node group: its resting size, the events that resize it, node-hours a month."""

    resource: str  # "<type>.<name>" in its stack
    size: int
    events: list[tuple[str, int]] = field(default_factory=list)  # (cron, size it sets)
    node_hours_per_month: float = 0.0


def _size(value) -> int:
    """A size argument: a number, or a Terraform expression counted at its largest literal (the
    branch an image turns on); an expression with none (a bare reference) is 0."""
    if value is None or isinstance(value, (int, float)):
        return int(value or 0)
    text = str(value)
    if text.strip().isdigit():
        return int(text)
    return max((int(n) for n in _NUMBER.findall(text)), default=0)


def _simulate(size: int, events: list[tuple[str, int]]) -> float:
    """Node-hours a month of a group that rests at ``size`` and is resized at each event's fires."""
    if not events:
        return size * (REFERENCE_END - REFERENCE_START).total_seconds() / 3600 / 12
    timeline = sorted((t, n) for cron, n in events for t in Cron.parse(cron).fires(REFERENCE_START - WARM_UP, REFERENCE_END))
    current, total = size, 0.0
    last = REFERENCE_START
    for t, n in timeline:
        if t > REFERENCE_START:
            total += current * (t - last).total_seconds()
            last = t
        current = n
    total += current * (REFERENCE_END - last).total_seconds()
    return total / 3600 / 12


def _aws_groups(doc: dict) -> list[GroupHours]:
    resources = doc.get("resource", {})
    groups = {}
    for key, body in resources.get("aws_autoscaling_group", {}).items():
        size = max(_size(body.get("desired_capacity")), _size(body.get("min_size")))
        groups[key] = GroupHours(f"aws_autoscaling_group.{key}", size)
    for body in resources.get("aws_autoscaling_schedule", {}).values():
        m = _REF.match(str(body.get("autoscaling_group_name", "")))
        if not m or m[1] != "aws_autoscaling_group" or m[2] not in groups or not body.get("recurrence"):
            continue  # one-off actions (start_time only) and other groups' actions are not recurring load
        if body.get("time_zone") not in (None, "Etc/UTC", "UTC"):
            raise ValueError(f"scheduled action {body.get('scheduled_action_name')}: time zone {body['time_zone']} (only UTC is simulated)")
        n = body.get("desired_capacity")
        if n is None:
            n = body.get("min_size", 0)
        groups[m[2]].events.append((body["recurrence"], _size(n)))
    return list(groups.values())


def _gcp_groups(doc: dict) -> list[GroupHours]:
    resources = doc.get("resource", {})
    by_name = {}
    groups = []
    for key, body in resources.get("google_compute_region_instance_group_manager", {}).items():
        g = GroupHours(f"google_compute_region_instance_group_manager.{key}", _size(body.get("target_size")))
        by_name[body.get("name")] = g
        groups.append(g)
    for body in resources.get("google_cloud_scheduler_job", {}).values():
        m = _RESIZE.search(str((body.get("http_target") or {}).get("uri", "")))
        if not m or m[1] not in by_name:
            continue
        if body.get("time_zone") not in (None, "Etc/UTC", "UTC"):
            raise ValueError(f"scheduler job {body.get('name')}: time zone {body['time_zone']} (only UTC is simulated)")
        by_name[m[1]].events.append((body["schedule"], _size(m[2])))
    return groups


def stack_groups(stack_dir: Path) -> list[GroupHours]:
    """Every node group of one synthesized stack, with its node-hours a month."""
    return doc_groups(json.loads((Path(stack_dir) / "cdk.tf.json").read_text()))


def doc_groups(doc: dict) -> list[GroupHours]:
    """Every node group of one stack's ``cdk.tf.json`` content (or ``review.config_doc`` of its plan)."""
    groups = _aws_groups(doc) + _gcp_groups(doc)
    for g in groups:
        g.node_hours_per_month = _simulate(g.size, g.events)
    return groups


@dataclass(frozen=True)
class Fidelity:
    """A workload's node-hours a month: the plan's, the most the stacks keep running, the bound."""

    workload: str
    cloud: str
    type: str
    planned: float  # plan nodes x hours_per_month
    kept: float  # simulated from the stacks
    ceiling: float  # serving: = planned; batch: runs x max_runtime x nodes
    problem: str | None


def _judge(w: WorkloadPlan, kept: float) -> Fidelity:
    planned = w.nodes * w.hours_per_month
    tolerance = 0.01 + 1e-6 * planned  # the plan rounds hours to 0.01
    if w.type == "inference":
        ceiling = planned
        problem = None if abs(kept - planned) <= tolerance else f"keeps {kept:,.1f} node-hours a month running, the plan costs {planned:,.1f}"
    else:
        ceiling = w.nodes * w.runs_per_month * (w.max_runtime_hours or 0.0)
        if kept + tolerance < planned:
            problem = f"keeps only {kept:,.1f} node-hours a month, the plan needs {planned:,.1f}: runs cannot finish"
        elif kept > ceiling + tolerance:
            problem = (f"keeps {kept:,.1f} node-hours a month running, more than runs x max_runtime ({ceiling:,.1f}): "
                       f"{kept / planned if planned else float('inf'):.1f}x the plan")
        else:
            problem = None
    return Fidelity(w.name, w.cloud, w.type, round(planned, 2), round(kept, 2), round(ceiling, 2), problem)


def check(plan: Plan, stacks_dir: Path) -> list[Fidelity]:
    """Each workload of ``plan`` against its stack under ``stacks_dir`` (``<out>/stacks``)."""
    docs = {}
    for w in judged(plan):
        path = Path(stacks_dir) / stack_name(plan.project, plan.environment, w.cloud, w.name) / "cdk.tf.json"
        if path.exists():
            docs[path.parent.name] = json.loads(path.read_text())
    return judge_docs(plan, docs, where=str(stacks_dir))


def judged(plan: Plan) -> list[WorkloadPlan]:
    """The workloads whose node-hours the stacks decide: those on the vm platform. On kubernetes a workload
    lands on node pools (min and max from the plan) whose nodes the cluster autoscaler adds for the pods
    scheduled there, and aiinfra deploys no pods yet: nothing in the stacks says how long nodes run."""
    # A Spark workload on the managed engine (Plan.spark_part) has no node group: EMR / Dataproc make a cluster a run,
    # ended by its step's timeout or the workflow's dag_timeout (constructs/*/spark_runs.py).
    return [w for w in plan.workloads if plan.platform(w.cloud) == "vm" and plan.spark_part(w.name) is None]


def judge_docs(plan: Plan, docs: dict[str, dict], where: str = "the plans") -> list[Fidelity]:
    """Each judged workload of ``plan`` (``judged``) against its stack's document in ``docs`` (stack name ->
    ``cdk.tf.json`` content)."""
    out = []
    for w in judged(plan):
        name = stack_name(plan.project, plan.environment, w.cloud, w.name)
        if name not in docs:
            out.append(Fidelity(w.name, w.cloud, w.type, w.nodes * w.hours_per_month, 0.0, 0.0, f"no stack {name} in {where}"))
            continue
        out.append(_judge(w, sum(g.node_hours_per_month for g in doc_groups(docs[name]))))
    return out
