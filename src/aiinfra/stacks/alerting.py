"""Which of the spec's alert rules apply to a workload, the same on every cloud."""

from __future__ import annotations

from collections.abc import Iterator

from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.checks import threshold_value
from aiinfra.spec.models import AlertRule

LOAD_BALANCER_METRICS = ("avg_inference_latency", "p95_inference_latency", "p99_inference_latency", "requests_per_second")


def applicable_alerts(rules: list[AlertRule], w: WorkloadPlan) -> Iterator[tuple[AlertRule, str, str, float]]:
    """(rule, metric, operator, threshold in the spec's unit) for each rule that applies to ``w``:
    GPU metrics on GPU nodes, endpoint metrics on inference, job status on training and batch
    work. ``training_job_status == 'failed'`` becomes ``>= 1`` on a 0/1 "failed" metric."""
    for rule in rules:
        metric, op, value = rule.parsed_condition()
        if metric.startswith("gpu_") and not w.gpu:
            continue
        if (metric in LOAD_BALANCER_METRICS or "inference" in metric) and w.type != "inference":
            continue
        if metric == "training_job_status":
            if w.type == "inference":
                continue
            op = ">=" if op == "==" else "<"
        yield rule, metric, op, threshold_value(metric, value)
