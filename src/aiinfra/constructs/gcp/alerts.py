"""Cloud Monitoring alert policies for the guide's alert rules, with e-mail notification channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from aiinfra.constructs._alerts import check_rule, rule_slugs
from aiinfra.constructs._tf import resource

# metric name in the spec -> (metric type, resource type, aligner, scale from the spec's unit).
# GPU and memory metrics come from the Ops Agent (NVIDIA NVML / DCGM receivers); latency is the
# external HTTPS load balancer's in milliseconds; metrics no Google service publishes are custom
# metrics the workload writes (custom.googleapis.com/aiinfra/...).
METRICS: dict[str, tuple[str, str, str, float]] = {
    "gpu_utilization": ("agent.googleapis.com/gpu/utilization", "gce_instance", "ALIGN_MEAN", 1),
    "gpu_memory_utilization": ("workload.googleapis.com/dcgm.gpu.memory.utilization", "gce_instance", "ALIGN_MEAN", 1),
    "gpu_temperature": ("workload.googleapis.com/dcgm.gpu.temperature", "gce_instance", "ALIGN_MAX", 1),
    "cpu_utilization": ("compute.googleapis.com/instance/cpu/utilization", "gce_instance", "ALIGN_MEAN", 0.01),
    "memory_utilization": ("agent.googleapis.com/memory/percent_used", "gce_instance", "ALIGN_MEAN", 1),
    "disk_utilization": ("agent.googleapis.com/disk/percent_used", "gce_instance", "ALIGN_MAX", 1),
    "avg_inference_latency": ("loadbalancing.googleapis.com/https/total_latencies", "https_lb_rule", "ALIGN_DELTA", 1),
    "p95_inference_latency": ("loadbalancing.googleapis.com/https/total_latencies", "https_lb_rule", "ALIGN_PERCENTILE_95", 1),
    "p99_inference_latency": ("loadbalancing.googleapis.com/https/total_latencies", "https_lb_rule", "ALIGN_PERCENTILE_99", 1),
    "inference_error_rate": ("custom.googleapis.com/aiinfra/inference_error_rate", "global", "ALIGN_MEAN", 1),
    "requests_per_second": ("loadbalancing.googleapis.com/https/request_count", "https_lb_rule", "ALIGN_RATE", 1),
    "queue_depth": ("custom.googleapis.com/aiinfra/queue_depth", "global", "ALIGN_MAX", 1),
    "training_job_status": ("custom.googleapis.com/aiinfra/training_job_failed", "global", "ALIGN_MAX", 1),
    "cost_per_prediction": ("custom.googleapis.com/aiinfra/cost_per_prediction", "global", "ALIGN_MEAN", 1),
    "monthly_cost": ("custom.googleapis.com/aiinfra/monthly_cost", "global", "ALIGN_MAX", 1),
}
COMPARISONS = {">": "COMPARISON_GT", ">=": "COMPARISON_GE", "<": "COMPARISON_LT", "<=": "COMPARISON_LE", "==": "COMPARISON_EQ",
               "!=": "COMPARISON_NE"}
SEVERITIES = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING", "info": "WARNING"}


@dataclass(frozen=True)
class AlertRule:
    """One alert policy: ``metric op threshold`` held for ``duration_seconds``.

    ``threshold`` is in the spec's unit (percent, milliseconds, requests per second, count);
    the construct converts to the metric's own unit (CPU utilization is a fraction). ``filters``
    narrows the time series, e.g. ``(('metadata.user_labels."aiinfra-workload"', "reco"),)``.
    """

    name: str
    metric: str
    operator: str
    threshold: float
    duration_seconds: int = 300
    severity: str = "warning"
    filters: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_rule(self.metric, self.operator, self.duration_seconds, METRICS, COMPARISONS)

    def filter(self) -> str:
        metric_type, resource_type, _, _ = METRICS[self.metric]
        parts = [f'metric.type = "{metric_type}"', f'resource.type = "{resource_type}"']
        parts += [f'{key} = "{value}"' for key, value in self.filters]
        return " AND ".join(parts)


class Alerts(Construct):
    """E-mail notification channels and one alert policy per rule.

    Example::

        Alerts(stack, "alerts", project="acme-ml-prod", name="acme-prod", email_addresses=["oncall@acme.example"],
               rules=[AlertRule("GPU Memory Exhaustion", "gpu_memory_utilization", ">", 95, 300, "critical")])

    Args:
        project: the GCP project id.
        name: display-name prefix.
        rules: the alert policies; an unknown metric is an error, never a silent skip.
        email_addresses: each gets a notification channel.
        notification_channels: existing channel ids to notify as well (for example the
            foundation's ``Alerts.channel_ids``).
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, rules: Sequence[AlertRule], email_addresses: Sequence[str] = (),
                 notification_channels: Sequence[str] = ()):
        super().__init__(scope, id)
        self.channel_ids: list[str] = list(notification_channels)
        for i, email in enumerate(email_addresses):
            channel = resource(self, f"email-{i}", "google_monitoring_notification_channel", project=project, display_name=f"{name} {email}",
                               type="email", labels={"email_address": email}, force_delete=False)
            self.channel_ids.append(channel.get_string_attribute("id"))
        self.policies = []
        for rule, slug in zip(rules, rule_slugs((r.name for r in rules), "alert")):
            _, _, aligner, scale = METRICS[rule.metric]
            aggregation = {"alignment_period": "60s", "per_series_aligner": aligner}
            if rule.metric == "avg_inference_latency":
                aggregation = {"alignment_period": "60s", "per_series_aligner": "ALIGN_PERCENTILE_50"}
            policy = resource(
                self, f"policy-{slug}", "google_monitoring_alert_policy", project=project, display_name=f"{name}: {rule.name}",
                combiner="OR", severity=SEVERITIES.get(rule.severity, "WARNING"), enabled=True,
                conditions=[{"display_name": f"{rule.metric} {rule.operator} {rule.threshold:g}",
                             "condition_threshold": {"filter": rule.filter(), "comparison": COMPARISONS[rule.operator],
                                                     "threshold_value": rule.threshold * scale, "duration": f"{rule.duration_seconds}s",
                                                     "aggregations": [aggregation],
                                                     "trigger": {"count": 1}}}],
                notification_channels=self.channel_ids or None,
                documentation={"content": f"{rule.name} ({rule.severity}): {rule.metric} {rule.operator} {rule.threshold:g} "
                                          f"for {rule.duration_seconds} s. Raised by aiinfra from the spec's alerting_rules.",
                               "mime_type": "text/markdown"},
                user_labels={"severity": rule.severity.lower(), "managed-by": "aiinfra"})
            self.policies.append(policy)
