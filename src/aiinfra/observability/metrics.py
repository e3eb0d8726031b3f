"""The spec's metric vocabulary: the names of the guide's ``monitoring_config`` block and of its
``alerting_rules`` conditions, what each one measures, who produces it on a deployed system and
which workloads have it. No cloud names here: ``constructs/aws/alerts.py`` and
``constructs/gcp/alerts.py`` map each name to the metric of their cloud, and the tests check
those against the published lists in ``data/reference-*.json``.

Producers:

- ``agent``: the monitoring agent the boot starts on every node (CloudWatch agent / Ops Agent),
  collecting the metric group named in ``collect`` (``aiinfra.observability.agents.COLLECT``).
- ``service``: a metric the cloud publishes itself (load balancer, instance group, hypervisor).
- ``job``: the boot's job wrapper (runs started / succeeded / failed / restarted, duration).
- ``app``: the container, through the agent's local endpoint (StatsD on AWS, OTLP on GCP;
  docs/observability.md says how).
- ``math``: computed from other metrics (cost per prediction: instance-hours at the plan's
  price over the load balancer's requests).
- ``billing``: the cloud's billing data (a budget watches it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

GROUPS = ("infrastructure_metrics", "ai_specific_metrics", "business_metrics")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    group: str           # one of GROUPS: where the guide lists it
    producer: str        # agent | service | job | app | math | billing
    collect: str = ""    # agent metric group (agents.COLLECT) the agent must collect; "app" for container metrics
    applies: str = "all"  # all | gpu | serving | batch
    title: str = ""      # dashboard / alarm wording


_INFO = (
    MetricInfo("gpu_utilization", GROUPS[0], "agent", "gpu", "gpu", "GPU utilization (%)"),
    MetricInfo("gpu_memory_usage", GROUPS[0], "agent", "gpu", "gpu", "GPU memory used (% of total)"),
    MetricInfo("gpu_temperature", GROUPS[0], "agent", "gpu", "gpu", "GPU temperature (C)"),
    MetricInfo("gpu_power", GROUPS[0], "agent", "gpu", "gpu", "GPU power draw (W)"),
    MetricInfo("cpu_utilization", GROUPS[0], "agent", "cpu", "all", "CPU utilization (%)"),
    MetricInfo("memory_usage", GROUPS[0], "agent", "memory", "all", "Memory used (%)"),
    MetricInfo("disk_usage", GROUPS[0], "agent", "disk", "all", "Disk used (%)"),
    MetricInfo("disk_io", GROUPS[0], "agent", "disk_io", "all", "Disk I/O (bytes)"),
    MetricInfo("network_throughput", GROUPS[0], "agent", "network", "all", "Network (bytes)"),
    MetricInfo("node_count", GROUPS[0], "service", "", "all", "Nodes running vs plan"),
    MetricInfo("model_inference_latency", GROUPS[1], "service", "", "serving", "Backend latency (ms)"),
    MetricInfo("request_rate", GROUPS[1], "service", "", "serving", "Requests per second"),
    MetricInfo("error_rate", GROUPS[1], "service", "", "serving", "5xx responses (%)"),
    MetricInfo("healthy_nodes", GROUPS[1], "service", "", "serving", "Healthy serving nodes"),
    MetricInfo("training_runs", GROUPS[1], "job", "", "batch", "Runs started / succeeded / failed / restarted"),
    MetricInfo("run_duration", GROUPS[1], "job", "", "batch", "Run duration (s)"),
    MetricInfo("training_loss_progression", GROUPS[1], "app", "app", "batch", "Training loss (from the container)"),
    MetricInfo("batch_processing_time", GROUPS[1], "app", "app", "all", "Batch processing time (from the container)"),
    MetricInfo("queue_depth", GROUPS[1], "app", "app", "all", "Queue depth (from the container)"),
    MetricInfo("model_accuracy", GROUPS[1], "app", "app", "all", "Model accuracy (from the container)"),
    MetricInfo("cost_per_prediction", GROUPS[2], "math", "", "serving", "Cost per prediction (USD)"),
    MetricInfo("node_cost", GROUPS[2], "math", "", "all", "Node cost at plan prices (USD/h)"),
    MetricInfo("revenue_per_model", GROUPS[2], "app", "app", "serving", "Revenue per model (from the container)"),
    MetricInfo("user_satisfaction_score", GROUPS[2], "app", "app", "serving", "User satisfaction (from the container)"),
    MetricInfo("monthly_cost", GROUPS[2], "billing", "", "all", "Spend this month vs budget (USD)"),
)
METRICS: dict[str, MetricInfo] = {m.name: m for m in _INFO}

# Names alert conditions use (the guide's alerting_rules) for the metric they watch.
ALERT_ALIASES: dict[str, str] = {
    "gpu_memory_utilization": "gpu_memory_usage",
    "memory_utilization": "memory_usage",
    "disk_utilization": "disk_usage",
    "avg_inference_latency": "model_inference_latency",
    "p95_inference_latency": "model_inference_latency",
    "p99_inference_latency": "model_inference_latency",
    "inference_error_rate": "error_rate",
    "requests_per_second": "request_rate",
    "training_job_status": "training_runs",
    "healthy_hosts": "healthy_nodes",
}

# Collected and charted when the spec has no monitoring_config block.
DEFAULT_MONITORING = ("gpu_utilization", "gpu_memory_usage", "gpu_temperature", "gpu_power", "cpu_utilization", "memory_usage",
                      "disk_usage", "disk_io", "network_throughput", "node_count", "model_inference_latency", "request_rate", "error_rate",
                      "healthy_nodes", "training_runs", "run_duration", "cost_per_prediction", "monthly_cost")


def metric_of(name: str) -> MetricInfo:
    """The vocabulary entry of a monitoring_config or alert-condition name (KeyError if unknown)."""
    return METRICS[ALERT_ALIASES.get(name, name)]


def known_names() -> list[str]:
    return sorted(set(METRICS) | set(ALERT_ALIASES))


def applies(info: MetricInfo, *, gpu: bool, serving: bool) -> bool:
    return {"all": True, "gpu": gpu, "serving": serving, "batch": not serving}[info.applies]


def monitored(listed: Iterable[str] | None, alert_metrics: Iterable[str] = ()) -> tuple[str, ...]:
    """The vocabulary names a deployment monitors: the spec's monitoring_config (all of the default
    set without one), plus what its alert rules watch, in vocabulary order."""
    wanted = set(DEFAULT_MONITORING if listed is None else (metric_of(n).name for n in listed))
    wanted |= {metric_of(n).name for n in alert_metrics}
    return tuple(m.name for m in _INFO if m.name in wanted)


def collect_groups(names: Iterable[str], *, gpu: bool, serving: bool) -> tuple[str, ...]:
    """The agent metric groups (``agents.COLLECT`` order) a node must collect for ``names``."""
    order = ("gpu", "cpu", "memory", "disk", "disk_io", "network", "app")
    wanted = {METRICS[n].collect for n in names if METRICS[n].collect and applies(METRICS[n], gpu=gpu, serving=serving)}
    return tuple(g for g in order if g in wanted)
