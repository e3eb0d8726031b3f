"""What is watched on one planned workload, the same on every cloud (no cdktf here: synth's
precheck renders the boot, agent configuration included, before jsii loads): the alert rules it
gets (the spec's that apply to it, plus the outage alarms nobody should have to ask for: a serving
endpoint without healthy nodes or answering with errors, a training run that failed), what its
nodes' agent collects and what its dashboard row charts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from aiinfra.observability.metrics import METRICS, applies, collect_groups, monitored
from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.checks import threshold_value
from aiinfra.spec.models import AlertRule, Spec

LOAD_BALANCER_METRICS = ("avg_inference_latency", "p95_inference_latency", "p99_inference_latency", "requests_per_second",
                         "inference_error_rate", "healthy_nodes", "cost_per_prediction")
# Serving answers with more than this share of 5xx for 5 minutes: an outage (unless the spec sets its own).
DEFAULT_ERROR_RATE_PERCENT = 5.0


class Rule(NamedTuple):
    """One alarm in the spec's units (percent, ms, requests per second, count, USD)."""

    name: str
    metric: str
    operator: str
    threshold: float
    duration_seconds: int
    severity: str


def applicable_alerts(rules: list[AlertRule], w: WorkloadPlan) -> Iterator[tuple[AlertRule, str, str, float]]:
    """(rule, metric, operator, threshold in the spec's unit) for each rule that applies to ``w``:
    GPU metrics on GPU nodes, endpoint metrics on inference, job status on training and batch
    work. ``training_job_status == 'failed'`` becomes ``>= 1`` on a count of failed runs.
    ``monthly_cost`` is a budget notification, not a workload's alarm."""
    for rule in rules:
        metric, op, value = rule.parsed_condition()
        if metric == "monthly_cost":
            continue
        if metric.startswith("gpu_") and not w.gpu:
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
    workload's minimum, a 5xx rate over 5%, a failed run."""
    out = [Rule(r.name, metric, op, threshold, int(r.duration or 60), r.severity) for r, metric, op, threshold in applicable_alerts(rules, w)]
    watched = {r.metric for r in out}
    if w.type == "inference":
        out.append(Rule("Healthy Nodes Below Minimum", "healthy_nodes", "<", max(1, w.min_nodes), 180, "critical"))
        if "inference_error_rate" not in watched:
            out.append(Rule("Serving Errors", "inference_error_rate", ">", DEFAULT_ERROR_RATE_PERCENT, 300, "critical"))
    elif "training_job_status" not in watched:
        out.append(Rule("Run Failed", "training_job_status", ">=", 1, 60, "high"))
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
    return tuple(n for n in monitored(listed, alert_metrics) if applies(METRICS[n], gpu=bool(w.gpu), serving=serving))


def node_collect(spec: Spec, w: WorkloadPlan) -> tuple[str, ...]:
    """What the node agent of ``w`` collects (``aiinfra.observability.agents.COLLECT`` names)."""
    return collect_groups(monitored_metrics(spec, w), gpu=bool(w.gpu), serving=w.type == "inference")


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
    from aiinfra.observability.agents import dcgm_in_image, ops_agent_supported

    if w.cloud == "gcp":
        from aiinfra.boot.images import node_image

        image = node_image(w, spec.clouds.gcp.image)
        agent, dcgm = ops_agent_supported(image), dcgm_in_image(image)
    else:
        agent, dcgm = True, False
    return {"collect": node_collect(spec, w) if agent else (), "metric_id": metric_id, "dcgm": dcgm and agent}
