"""Each name of the spec's metric vocabulary (``aiinfra.observability.metrics``) and of its alert
conditions as Cloud Monitoring time series: a filter (and a denominator for ratios), or a PromQL
query where a filter cannot say it. The alert policies (``alerts.py``) and the dashboard
(``dashboard.py``) read this one table.

Who writes what: the Ops Agent the boot starts on the nodes (``agent.googleapis.com/...``, NVML
GPU metrics on GPU VMs), the job wrapper (``custom.googleapis.com/aiinfra/...``, descriptors
created by the foundation before any policy names them), the container through the agent's OTLP
receiver (``workload.googleapis.com/<name>``, charted only), and Google itself (``compute.googleapis.com``,
``loadbalancing.googleapis.com``). ``tests/test_observability.py`` checks every type against the
published lists (``aiinfra/observability/data/reference-gcp.json``).

The Ops Agent's NVML metrics have no temperature or power; those need the DCGM receiver
(``receiver_version: 2``, Preview) and DCGM on the image, so they are not offered on GCP.

https://cloud.google.com/monitoring/api/metrics_opsagent
https://cloud.google.com/monitoring/api/metrics_gcp_i_o
https://cloud.google.com/monitoring/api/metrics_gcp_c
https://cloud.google.com/monitoring/promql/promql-mapping
"""

from __future__ import annotations

from dataclasses import dataclass, field

JOB_PREFIX = "custom.googleapis.com/aiinfra/"


@dataclass(frozen=True)
class Series:
    """One aggregated time series. ``target``: whose series, ``node`` (the workload's VMs),
    ``lb`` (its forwarding rule; ``{lb}`` in the type is ``https`` or ``https/internal``),
    ``group`` (its managed instance groups) or ``job`` (the job wrapper's writes)."""

    type: str
    target: str
    aligner: str
    reducer: str
    group_by: tuple[str, ...] = ()
    where: str = ""  # more filter clauses


@dataclass(frozen=True)
class Recipe:
    """How a name is measured: ``series`` (over ``denominator`` for a ratio), or a PromQL
    ``promql`` template (``{node}``, ``{lb}``, ``{groups}``, ``{job}``, ``{price}`` are filled in).
    ``scale`` turns the spec's unit into the series' (percent -> ratio)."""

    series: Series | None = None
    denominator: Series | None = None
    promql: str | None = None
    scale: float = 1.0
    validate: bool = True  # False: the type exists once the container writes it (no policy can name it before)
    extra: tuple[Series, ...] = field(default=())  # more series of a chart


def _node(metric: str, aligner: str = "ALIGN_MEAN", reducer: str = "REDUCE_MEAN", where: str = "") -> Series:
    return Series(f"agent.googleapis.com/{metric}", "node", aligner, reducer, (), where)


def _lb(metric: str, aligner: str, reducer: str, where: str = "") -> Series:
    return Series(f"loadbalancing.googleapis.com/{{lb}}/{metric}", "lb", aligner, reducer, (), where)


def _job(metric: str, aligner: str = "ALIGN_SUM", reducer: str = "REDUCE_SUM") -> Series:
    return Series(f"{JOB_PREFIX}{metric}", "job", aligner, reducer)


_PER_GPU = ("resource.label.instance_id", "metric.label.gpu_number")
# Device memory used over all of it (used + free), per GPU: the fullest GPU crosses first.
_GPU_MEMORY = Recipe(Series("agent.googleapis.com/gpu/memory/bytes_used", "node", "ALIGN_MEAN", "REDUCE_SUM", _PER_GPU,
                            'metric.label.memory_state = "used"'),
                     Series("agent.googleapis.com/gpu/memory/bytes_used", "node", "ALIGN_MEAN", "REDUCE_SUM", _PER_GPU), scale=0.01)
# backend_latencies: from the proxy sending the request to the backend's last response byte (ms);
# total_latencies would add the client's round trip.
_LATENCY = Recipe(_lb("backend_latencies", "ALIGN_DELTA", "REDUCE_MEAN"))
_ERRORS = Recipe(_lb("request_count", "ALIGN_RATE", "REDUCE_SUM", "metric.label.response_code_class = 500"),
                 _lb("request_count", "ALIGN_RATE", "REDUCE_SUM"), scale=0.01)
_REQUESTS = Recipe(_lb("request_count", "ALIGN_RATE", "REDUCE_SUM"))
_NODES = Recipe(Series("compute.googleapis.com/instance_group/size", "group", "ALIGN_MEAN", "REDUCE_SUM"))
# PromQL names: the first "/" becomes ":", other special characters "_".
_GROUP_SIZE = 'sum(compute_googleapis_com:instance_group_size{{monitored_resource="instance_group", instance_group_name=~"{groups}"}})'
_RPS = 'sum(rate(loadbalancing_googleapis_com:{lb_prom}_request_count{{monitored_resource="{lb_resource}", forwarding_rule_name="{lb}"}}[5m]))'


def app_metric(name: str) -> Recipe:
    """A metric the container sends to the node agent's OTLP receiver: ``workload.googleapis.com/<name>``
    on the VM. Charted only: Cloud Monitoring refuses a policy on a type nobody has written yet,
    and that type cannot be created ahead (only custom.googleapis.com descriptors can)."""
    return Recipe(Series(f"workload.googleapis.com/{name}", "node", "ALIGN_MEAN", "REDUCE_MAX"), validate=False)


RECIPES: dict[str, Recipe] = {
    "gpu_utilization": Recipe(_node("gpu/utilization")),
    "gpu_memory_utilization": _GPU_MEMORY,
    "gpu_memory_usage": _GPU_MEMORY,
    "cpu_utilization": Recipe(Series("compute.googleapis.com/instance/cpu/utilization", "node", "ALIGN_MEAN", "REDUCE_MEAN"), scale=0.01),
    "memory_utilization": Recipe(_node("memory/percent_used", reducer="REDUCE_MAX", where='metric.label.state = "used"')),
    "memory_usage": Recipe(_node("memory/percent_used", reducer="REDUCE_MAX", where='metric.label.state = "used"')),
    "disk_utilization": Recipe(_node("disk/percent_used", reducer="REDUCE_MAX", where='metric.label.state = "used"')),
    "disk_usage": Recipe(_node("disk/percent_used", reducer="REDUCE_MAX", where='metric.label.state = "used"')),
    "disk_io": Recipe(_node("disk/read_bytes_count", "ALIGN_RATE", "REDUCE_SUM"), extra=(_node("disk/write_bytes_count", "ALIGN_RATE", "REDUCE_SUM"),)),
    "network_throughput": Recipe(_node("interface/traffic", "ALIGN_RATE", "REDUCE_SUM")),
    "node_count": _NODES,
    "healthy_nodes": _NODES,
    "avg_inference_latency": _LATENCY,
    "model_inference_latency": _LATENCY,
    "p95_inference_latency": Recipe(_lb("backend_latencies", "ALIGN_DELTA", "REDUCE_PERCENTILE_95")),
    "p99_inference_latency": Recipe(_lb("backend_latencies", "ALIGN_DELTA", "REDUCE_PERCENTILE_99")),
    "inference_error_rate": _ERRORS,
    "error_rate": _ERRORS,
    "requests_per_second": _REQUESTS,
    "request_rate": _REQUESTS,
    "training_job_status": Recipe(_job("run_failed")),
    "training_runs": Recipe(_job("run_started"), extra=(_job("run_succeeded"), _job("run_failed"), _job("run_restarted"))),
    "run_duration": Recipe(_job("run_duration", "ALIGN_MAX", "REDUCE_MAX")),
    # Any node whose boot failed (members never arrived, image pull, GPU check, signature), 1 each.
    "boot_failed": Recipe(_job("boot_failed")),
    # Node-hours at the plan's price over the requests served: USD per request.
    "cost_per_prediction": Recipe(promql=f"{_GROUP_SIZE} * {{price}} / 3600 / {_RPS}"),
    "node_cost": Recipe(promql=f"{_GROUP_SIZE} * {{price}}"),
    **{name: app_metric(name) for name in ("queue_depth", "training_loss_progression", "batch_processing_time", "model_accuracy",
                                           "revenue_per_model", "user_satisfaction_score")},
}
# Not collectable with the Ops Agent's NVML metrics (see the module's docstring).
NOT_ON_GCP = {"gpu_temperature": "the Ops Agent's NVML GPU metrics have no temperature (DCGM's receiver v2 is Preview)",
              "gpu_power": "the Ops Agent's NVML GPU metrics have no power draw (DCGM's receiver v2 is Preview)"}
