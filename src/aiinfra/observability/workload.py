"""What is watched on one planned workload, the same on every cloud (no cdktf here: synth's
precheck renders the boot, agent configuration included, before jsii loads): the alert rules it
gets (the spec's that apply to it, plus the outage alarms nobody should have to ask for: a serving
endpoint without healthy nodes or answering with errors, a training run that failed, a node whose
boot failed), which of them a cloud cannot watch on the workload's nodes, what its nodes' agent
collects and what its dashboard row charts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from aiinfra.observability.metrics import ALERT_ALIASES, METRICS, applies, collect_groups, metric_of, monitored
from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.checks import threshold_value
from aiinfra.spec.models import AlertRule, Spec

LOAD_BALANCER_METRICS = ("avg_inference_latency", "p95_inference_latency", "p99_inference_latency", "requests_per_second",
                         "inference_error_rate", "healthy_nodes", "cost_per_prediction")
# Serving answers with more than this share of 5xx for 5 minutes: an outage (unless the spec sets its own).
DEFAULT_ERROR_RATE_PERCENT = 5.0
# The job wrapper's boot-failure count (agents.JOB_METRICS "boot_failed"), alarmed on every workload.
BOOT_FAILED = "boot_failed"
# How long a group may want more nodes than it has running before the capacity alarm fires: a GPU
# node launches in minutes; half an hour of shortfall is no capacity (quota, spot, placement).
CAPACITY_WAIT_SECONDS = 1800


class Rule(NamedTuple):
    """One alarm in the spec's units (percent, ms, requests per second, count, USD)."""

    name: str
    metric: str
    operator: str
    threshold: float
    duration_seconds: int
    severity: str


def nvidia_gpus(w: WorkloadPlan) -> bool:
    """``w``'s nodes have NVIDIA GPUs: the GPU metrics (NVML through the CloudWatch agent / the Ops
    Agent, DCGM) exist only there. Neuron and TPU nodes have no NVML: no GPU metric is collected,
    charted or alarmed on them (their runs, node count and cost are)."""
    return bool(w.gpu) and w.accelerator_runtime in ("", "cuda")


def applicable_alerts(rules: list[AlertRule], w: WorkloadPlan) -> Iterator[tuple[AlertRule, str, str, float]]:
    """(rule, metric, operator, threshold in the spec's unit) for each rule that applies to ``w``:
    GPU metrics on GPU nodes, endpoint metrics on inference, job status on training and batch
    work. ``training_job_status == 'failed'`` becomes ``>= 1`` on a count of failed runs.
    ``monthly_cost`` is a budget notification, not a workload's alarm."""
    for rule in rules:
        metric, op, value = rule.parsed_condition()
        if metric == "monthly_cost":
            continue
        if metric.startswith("gpu_") and not nvidia_gpus(w):
            continue
        if (metric in LOAD_BALANCER_METRICS or "inference" in metric) and w.type != "inference":
            continue
        if metric == "training_job_status":
            if w.type == "inference":
                continue
            op = ">=" if op == "==" else "<"
        yield rule, metric, op, threshold_value(metric, value)


def workload_rules(rules: list[AlertRule], w: WorkloadPlan) -> list[Rule]:
    """The spec's rules for ``w`` and the outage alarms: healthy serving nodes below the
    workload's minimum, a 5xx rate over 5%, a failed run, a node's failed boot (any workload: a
    node publishes it before its boot exits non-zero)."""
    out = [Rule(r.name, metric, op, threshold, int(r.duration or 60), r.severity) for r, metric, op, threshold in applicable_alerts(rules, w)]
    watched = {r.metric for r in out}
    if w.type == "inference":
        out.append(Rule("Healthy Nodes Below Minimum", "healthy_nodes", "<", max(1, w.min_nodes), 180, "critical"))
        if "inference_error_rate" not in watched:
            out.append(Rule("Serving Errors", "inference_error_rate", ">", DEFAULT_ERROR_RATE_PERCENT, 300, "critical"))
    elif "training_job_status" not in watched:
        out.append(Rule("Run Failed", "training_job_status", ">=", 1, 60, "high"))
    # "> 0", not ">= 1": Cloud Monitoring compares strictly (a count of failed boots in a minute).
    out.append(Rule("Boot Failed", BOOT_FAILED, ">", 0, 60, "high"))
    return out


# GCP: the vocabulary's names Cloud Monitoring cannot alert on anywhere, in the words of
# constructs/gcp/metrics.py NOT_ON_GCP (which this module cannot import: the plan loads no jsii),
# and the node metrics Compute Engine publishes itself, without an agent.
_NOT_ON_GCP = {"gpu_temperature": "the Ops Agent's NVML GPU metrics have no temperature (DCGM's receiver v2 is Preview)",
               "gpu_power": "the Ops Agent's NVML GPU metrics have no power draw (DCGM's receiver v2 is Preview)"}
_GCP_WITHOUT_AGENT = ("cpu_utilization",)  # compute.googleapis.com/instance/cpu/utilization
NO_AGENT = "the boot image (Container-Optimized OS) runs no Ops Agent"
CONTAINER_WRITTEN = ("Cloud Monitoring refuses a policy on a metric the container has not written yet: add it once the first run has "
                     "written it (the dashboard charts it)")


def node_agent(spec: Spec, w: WorkloadPlan) -> bool:
    """Whether ``w``'s boot image runs the node monitoring agent: always on AWS (the boot installs
    the CloudWatch agent); on GCP not on Container-Optimized OS (``agents.ops_agent_supported``)."""
    if w.cloud != "gcp":
        return True
    from aiinfra.boot.images import node_image
    from aiinfra.observability.agents import ops_agent_supported

    return ops_agent_supported(node_image(w, spec.clouds.gcp.image))


def unwatchable(cloud: str, metric: str, agent: bool) -> str | None:
    """Why an alert condition on ``metric`` cannot be created on a workload of ``cloud`` whose
    nodes run the monitoring agent (``agent``) or not; None: it can. The GCP stacks skip the same
    conditions and name each in a note (``stacks/gcp.py``: ``alert_rules_for``)."""
    if cloud != "gcp" or (metric not in METRICS and metric not in ALERT_ALIASES):
        return None  # AWS creates every alarm (the CloudWatch agent runs on every image); internal metrics (boot_failed)
    name = metric_of(metric).name
    if name in _NOT_ON_GCP:
        return _NOT_ON_GCP[name]
    # the agent's metrics and the container's (through the agent's OTLP receiver) come from the node's agent
    if metric_of(metric).producer in ("agent", "app") and not agent and name not in _GCP_WITHOUT_AGENT:
        return NO_AGENT
    if metric_of(metric).producer == "app":
        return CONTAINER_WRITTEN
    return None


def unwatched_rules(spec: Spec, w: WorkloadPlan) -> list[tuple[Rule, str]]:
    """``w``'s alert rules (``workload_rules``) no alarm / policy can be created for, with why."""
    agent = node_agent(spec, w)
    out = []
    for r in workload_rules(spec.alerting_rules, w):
        why = unwatchable(w.cloud, r.metric, agent)
        if why:
            out.append((r, why))
    return out


def budget_thresholds(rules: list[AlertRule]) -> list[float]:
    """The spec's ``monthly_cost`` rules as budget thresholds in USD."""
    out = []
    for rule in rules:
        metric, _op, value = rule.parsed_condition()
        if metric == "monthly_cost":
            out.append(threshold_value(metric, value))
    return sorted(set(out))


# Charted for every workload whatever the spec lists: what the cloud and the job wrapper publish anyway.
ALWAYS_CHARTED = {"serving": ("node_count", "node_cost", "request_rate", "model_inference_latency", "error_rate", "healthy_nodes"),
                  "batch": ("node_count", "node_cost", "training_runs", "run_duration")}


def monitored_metrics(spec: Spec, w: WorkloadPlan) -> tuple[str, ...]:
    """The vocabulary names monitored on ``w``'s nodes: the spec's monitoring_config (or the
    default set) and what its alert rules watch, those that apply to the workload."""
    listed = spec.monitoring_config.names() if spec.monitoring_config else None
    alert_metrics = [metric for _r, metric, _op, _t in applicable_alerts(spec.alerting_rules, w)]
    serving = w.type == "inference"
    return tuple(n for n in monitored(listed, alert_metrics) if applies(METRICS[n], gpu=nvidia_gpus(w), serving=serving))


def node_collect(spec: Spec, w: WorkloadPlan) -> tuple[str, ...]:
    """What the node agent of ``w`` collects (``aiinfra.observability.agents.COLLECT`` names)."""
    return collect_groups(monitored_metrics(spec, w), gpu=nvidia_gpus(w), serving=w.type == "inference")


def charted_metrics(spec: Spec, w: WorkloadPlan) -> tuple[str, ...]:
    """A workload's dashboard row: the always-charted service and job metrics, then the monitored ones."""
    always = ALWAYS_CHARTED["serving" if w.type == "inference" else "batch"]
    return tuple(dict.fromkeys([*always, *(m for m in monitored_metrics(spec, w) if m not in ("monthly_cost",))]))


def row_title(w: WorkloadPlan) -> str:
    """A dashboard row's heading: ``<workload>: <type>, <nodes> x <shape> [(spot)], $<monthly>/month planned``."""
    spot = " (spot)" if w.capacity != "on_demand" else ""
    return f"{w.name}: {w.type}, {w.nodes} x {w.instance_type}{spot}, ${w.monthly_usd:,.0f}/month planned"


def boot_monitoring(spec: Spec, w: WorkloadPlan, metric_id: str) -> dict:
    """The monitoring part of ``w``'s ``BootConfig``: what the agent collects (nothing on an image
    that runs no agent), the job metrics' identity (the resource name the alarms watch), DCGM."""
    from aiinfra.observability.agents import dcgm_in_image

    agent = node_agent(spec, w)
    dcgm = False
    if w.cloud == "gcp":
        from aiinfra.boot.images import node_image

        dcgm = nvidia_gpus(w) and dcgm_in_image(node_image(w, spec.clouds.gcp.image))
    return {"collect": node_collect(spec, w) if agent else (), "metric_id": metric_id, "dcgm": dcgm and agent}
