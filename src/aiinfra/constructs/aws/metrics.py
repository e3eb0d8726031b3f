"""Each name of the spec's metric vocabulary (``aiinfra.observability.metrics``) and of its alert
conditions as CloudWatch queries: the metrics, and the metric-math expression over them. The
alarms (``alerts.py``) and the dashboard (``dashboard.py``) read this one table.

Who publishes what: the CloudWatch agent the boot starts on the nodes (namespace ``CWAgent``,
aggregated to the ``AutoScalingGroupName`` dimension), the job wrapper (namespace ``aiinfra``),
AWS itself (``AWS/ApplicationELB``, ``AWS/AutoScaling``, ``AWS/EC2``, ``AWS/Billing``).
``tests/test_observability.py`` checks every name against AWS's published lists
(``aiinfra/observability/data/reference-aws.json``) and against the agent configuration on the
nodes.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-NVIDIA-GPU.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/metrics-collected-by-CloudWatch-agent.html
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-metrics.html
"""

from __future__ import annotations

from typing import NamedTuple

AGENT_NAMESPACE = "CWAgent"
JOB_NAMESPACE = "aiinfra"
ELB = "AWS/ApplicationELB"


class Q(NamedTuple):
    """One metric of a query. ``kind``: the dimensions, ``group`` (the Auto Scaling group),
    ``lb`` (the load balancer) or ``tg`` (load balancer and target group)."""

    id: str
    namespace: str
    name: str
    stat: str
    kind: str


def _agent(name: str, stat: str, qid: str = "m1") -> Q:
    return Q(qid, AGENT_NAMESPACE, name, stat, "group")


def _one(q: Q) -> tuple[tuple[Q, ...], None]:
    return (q,), None


_GPU_MEMORY = ((_agent("nvidia_smi_memory_used", "Maximum", "used"), _agent("nvidia_smi_memory_total", "Maximum", "total")),
               "100 * used / total")
_LATENCY = _one(Q("m1", ELB, "TargetResponseTime", "Average", "lb"))
_ERRORS = ((Q("t5xx", ELB, "HTTPCode_Target_5XX_Count", "Sum", "lb"), Q("e5xx", ELB, "HTTPCode_ELB_5XX_Count", "Sum", "lb"),
            Q("requests", ELB, "RequestCount", "Sum", "lb")), "100 * (FILL(t5xx, 0) + FILL(e5xx, 0)) / requests")
_REQUESTS = ((Q("requests", ELB, "RequestCount", "Sum", "lb"),), "FILL(requests, 0) / PERIOD(requests)")


def app_metric(name: str) -> tuple[tuple[Q, ...], None]:
    """A metric the container sends to the node agent's StatsD listener (``name:value|g``)."""
    return _one(_agent(name, "Average"))


# name -> (metrics, expression or None: the single metric is the value)
METRICS: dict[str, tuple[tuple[Q, ...], str | None]] = {
    "gpu_utilization": _one(_agent("nvidia_smi_utilization_gpu", "Average")),
    # How full device memory is (utilization_memory is the share of time memory was read or
    # written): the fullest GPU of the group, used over total (a group's GPUs are all one model).
    "gpu_memory_utilization": _GPU_MEMORY,
    "gpu_memory_usage": _GPU_MEMORY,
    "gpu_temperature": _one(_agent("nvidia_smi_temperature_gpu", "Maximum")),
    "gpu_power": _one(_agent("nvidia_smi_power_draw", "Maximum")),
    "cpu_utilization": _one(Q("m1", "AWS/EC2", "CPUUtilization", "Average", "group")),
    "memory_utilization": _one(_agent("mem_used_percent", "Maximum")),
    "memory_usage": _one(_agent("mem_used_percent", "Maximum")),
    "disk_utilization": _one(_agent("disk_used_percent", "Maximum")),
    "disk_usage": _one(_agent("disk_used_percent", "Maximum")),
    "disk_io": ((_agent("diskio_read_bytes", "Sum", "read"), _agent("diskio_write_bytes", "Sum", "write")), "read + write"),
    "network_throughput": ((_agent("net_bytes_recv", "Sum", "recv"), _agent("net_bytes_sent", "Sum", "sent")), "recv + sent"),
    "node_count": _one(Q("m1", "AWS/AutoScaling", "GroupInServiceInstances", "Average", "group")),
    # TargetResponseTime: from the request leaving the load balancer to the target's response
    # headers, in seconds (the backend's latency, not the client's round trip).
    "avg_inference_latency": _LATENCY,
    "model_inference_latency": _LATENCY,
    "p95_inference_latency": _one(Q("m1", ELB, "TargetResponseTime", "p95", "lb")),
    "p99_inference_latency": _one(Q("m1", ELB, "TargetResponseTime", "p99", "lb")),
    # 5xx from the targets and from the load balancer itself (503 when no target is healthy).
    "inference_error_rate": _ERRORS,
    "error_rate": _ERRORS,
    "requests_per_second": _REQUESTS,
    "request_rate": _REQUESTS,
    "healthy_nodes": _one(Q("m1", ELB, "HealthyHostCount", "Minimum", "tg")),
    # The job wrapper: 1 per event, on rank 0.
    "training_job_status": _one(Q("m1", JOB_NAMESPACE, "RunFailed", "Sum", "group")),
    "training_runs": ((Q("started", JOB_NAMESPACE, "RunStarted", "Sum", "group"), Q("succeeded", JOB_NAMESPACE, "RunSucceeded", "Sum", "group"),
                       Q("failed", JOB_NAMESPACE, "RunFailed", "Sum", "group"), Q("restarted", JOB_NAMESPACE, "RunRestarted", "Sum", "group")),
                      None),
    "run_duration": _one(Q("m1", JOB_NAMESPACE, "RunDuration", "Maximum", "group")),
    # Any node whose boot failed (members never arrived, image pull, GPU check, signature), 1 each.
    "boot_failed": _one(Q("m1", JOB_NAMESPACE, "BootFailed", "Sum", "group")),
    # Instance-hours at the plan's price over the requests served in the same period.
    "cost_per_prediction": ((Q("nodes", "AWS/AutoScaling", "GroupInServiceInstances", "Average", "group"), Q("requests", ELB, "RequestCount", "Sum", "lb")),
                            "nodes * {node_hour_usd} * PERIOD(requests) / 3600 / requests"),
    "node_cost": ((Q("nodes", "AWS/AutoScaling", "GroupInServiceInstances", "Average", "group"),), "nodes * {node_hour_usd}"),
    **{name: app_metric(name) for name in ("queue_depth", "training_loss_progression", "batch_processing_time", "model_accuracy",
                                           "revenue_per_model", "user_satisfaction_score")},
}
