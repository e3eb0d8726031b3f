"""Cloud Monitoring alert policies for the guide's alert rules (and the outage policies nobody
should have to ask for), e-mail notification channels, the job wrapper's metric descriptors and
an uptime check on public endpoints.

Every policy watches a time series something in the stacks writes (``metrics.py`` says which).
Severities map as: critical -> CRITICAL, high -> ERROR, warning and info -> WARNING (Cloud
Monitoring has no fourth level).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._alerts import check_rule, rule_slugs
from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.metrics import JOB_PREFIX, RECIPES, Recipe, Series

# Threshold conditions compare strictly: the API takes COMPARISON_GT and COMPARISON_LT only.
# https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/monitoring_alert_policy
COMPARISONS = {">": "COMPARISON_GT", ">=": "COMPARISON_GT", "<": "COMPARISON_LT", "<=": "COMPARISON_LT"}
SEVERITIES = {"critical": "CRITICAL", "high": "ERROR", "error": "ERROR", "warning": "WARNING", "info": "WARNING"}
ALIGNMENT = "60s"
_SERVICE = {"avg_inference_latency", "p95_inference_latency", "p99_inference_latency", "model_inference_latency", "inference_error_rate",
            "error_rate", "requests_per_second", "request_rate", "cost_per_prediction"}


@dataclass(frozen=True)
class PolicyTarget:
    """What one workload's policies watch.

    Args:
        workload: the VMs' ``aiinfra-workload`` label (node metrics).
        labels: more VM labels that narrow node metrics (e.g. ``{"cost-scope": "acme-ml-prod"}``).
        forwarding_rule: the endpoint's forwarding rule name (load balancer metrics).
        internal: the endpoint is a regional internal Application Load Balancer.
        groups: the workload's managed instance group names (node count).
        job: the job wrapper's ``workload`` metric label (the boot's ``metric_id``).
        job_types: job metric type -> the type as its descriptor resource returns it (a
            reference orders the policies after the descriptors).
        node_hour_usd: the plan's price of one node-hour (cost per prediction).
        serving: the VMs serve an endpoint (their metrics are expected at all times).
    """

    workload: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    forwarding_rule: str | None = None
    internal: bool = False
    groups: tuple[str, ...] = ()
    job: str | None = None
    job_types: Mapping[str, str] = field(default_factory=dict)
    node_hour_usd: float = 0.0
    serving: bool = False

    def metric_type(self, s: Series) -> str:
        t = s.type.replace("{lb}", "https/internal" if self.internal else "https")
        return self.job_types.get(t, t)

    def filter(self, s: Series) -> str:
        parts = [f'metric.type = "{self.metric_type(s)}"']
        if s.target == "node":
            if not self.workload:
                raise ValueError("node metrics need PolicyTarget.workload")
            parts += ['resource.type = "gce_instance"', f'metadata.user_labels."aiinfra-workload" = "{self.workload}"']
            parts += [f'metadata.user_labels."{k}" = "{v}"' for k, v in sorted(self.labels.items())]
        elif s.target == "lb":
            if not self.forwarding_rule:
                raise ValueError("load balancer metrics need PolicyTarget.forwarding_rule")
            parts += [f'resource.type = "{"internal_http_lb_rule" if self.internal else "https_lb_rule"}"',
                      f'resource.label.forwarding_rule_name = "{self.forwarding_rule}"']
        elif s.target == "group":
            if not self.groups:
                raise ValueError("node counts need PolicyTarget.groups")
            parts += ['resource.type = "instance_group"', f'resource.label.instance_group_name = monitoring.regex.full_match("{"|".join(self.groups)}")']
        else:
            if not self.job:
                raise ValueError("job metrics need PolicyTarget.job")
            parts += ['resource.type = "global"', f'metric.label.workload = "{self.job}"']
        if s.where:
            parts.append(s.where)
        return " AND ".join(parts)

    def aggregation(self, s: Series) -> dict[str, Any]:
        return {"alignment_period": ALIGNMENT, "per_series_aligner": s.aligner, "cross_series_reducer": s.reducer,
                "group_by_fields": list(s.group_by) or None}

    def promql(self, recipe: Recipe) -> str:
        assert recipe.promql is not None
        return recipe.promql.format(groups="|".join(self.groups), price=f"{self.node_hour_usd:.6g}",
                                    lb=self.forwarding_rule or "", lb_prom="https_internal" if self.internal else "https",
                                    lb_resource="internal_http_lb_rule" if self.internal else "https_lb_rule")


@dataclass(frozen=True)
class AlertRule:
    """One alert policy: ``metric op threshold`` held for ``duration_seconds``.

    ``threshold`` is in the spec's unit (percent, milliseconds, requests per second, count, USD);
    the construct converts to the series' own (ratios and CPU utilization are fractions).
    """

    name: str
    metric: str
    operator: str
    threshold: float
    duration_seconds: int = 300
    severity: str = "warning"

    def __post_init__(self) -> None:
        check_rule(self.metric, self.operator, self.duration_seconds, RECIPES, COMPARISONS)
        if RECIPES[self.metric].extra:
            raise ValueError(f"{self.metric} is several series (a chart), not one value to alert on")
        if not RECIPES[self.metric].validate:
            raise ValueError(f"{self.metric} is written by the container: Cloud Monitoring refuses a policy on it until it has been written")

    def missing_data(self, target: PolicyTarget) -> str:
        """``evaluation_missing_data``: how a condition reads a gap in the data."""
        if self.metric == "healthy_nodes":
            return "EVALUATION_MISSING_DATA_ACTIVE"  # no running node reports a size: nothing serves
        if self.metric in _SERVICE:
            return "EVALUATION_MISSING_DATA_ACTIVE" if self.operator in ("<", "<=") else "EVALUATION_MISSING_DATA_INACTIVE"
        if target.serving and RECIPES[self.metric].series is not None and RECIPES[self.metric].series.target == "node":
            return "EVALUATION_MISSING_DATA_NO_OP"  # a serving VM that reports nothing keeps the last state
        return "EVALUATION_MISSING_DATA_INACTIVE"  # scheduled groups are empty between runs

    def condition(self, target: PolicyTarget) -> dict[str, Any]:
        recipe = RECIPES[self.metric]
        value = round(self.threshold * recipe.scale, 12)  # 95 x 0.01 is 0.9500000000000001 in floats
        title = f"{self.metric} {self.operator} {self.threshold:g}"
        if recipe.promql is not None:
            return {"display_name": title, "condition_prometheus_query_language": {
                "query": f"{target.promql(recipe)} {'>' if self.operator.startswith('>') else '<'} {value:g}",
                "duration": f"{self.duration_seconds}s", "evaluation_interval": ALIGNMENT,
}}
        assert recipe.series is not None
        threshold: dict[str, Any] = {"filter": target.filter(recipe.series), "comparison": COMPARISONS[self.operator], "threshold_value": value,
                                     "duration": f"{self.duration_seconds}s", "aggregations": [target.aggregation(recipe.series)],
                                     "trigger": {"count": 1}, "evaluation_missing_data": self.missing_data(target)}
        if recipe.denominator is not None:
            threshold["denominator_filter"] = target.filter(recipe.denominator)
            threshold["denominator_aggregations"] = [target.aggregation(recipe.denominator)]
        return {"display_name": title, "condition_threshold": threshold}


@dataclass(frozen=True)
class JobMetric:
    """A metric the boot's job wrapper writes (``custom.googleapis.com/aiinfra/<name>``)."""

    name: str
    value_type: str  # INT64 | DOUBLE
    unit: str
    description: str


class MetricDescriptors(Construct):
    """``google_monitoring_metric_descriptor`` for each job metric: Cloud Monitoring refuses a
    policy on a type nobody has written yet ("Cannot find metric(s) that match type"), so the
    types exist before any policy names them. ``types`` maps each type to the descriptor's
    ``type`` attribute (referencing it orders a policy after the descriptor)."""

    def __init__(self, scope: Construct, id: str, *, project: str, metrics: Sequence[JobMetric]):
        super().__init__(scope, id)
        self.types: dict[str, str] = {}
        for m in metrics:
            d = resource(self, m.name, "google_monitoring_metric_descriptor", project=project, type=f"{JOB_PREFIX}{m.name}",
                         metric_kind="GAUGE", value_type=m.value_type, unit=m.unit, description=m.description,
                         display_name=f"aiinfra {m.name.replace('_', ' ')}",
                         labels=[{"key": "workload", "value_type": "STRING", "description": "the workload's resource name"}])
            self.types[f"{JOB_PREFIX}{m.name}"] = d.get_string_attribute("type")


class Alerts(Construct):
    """E-mail notification channels and one alert policy per rule.

    Example::

        Alerts(stack, "alerts", project="acme-ml-prod", name="acme-prod-reco", email_addresses=["oncall@acme.example"],
               target=PolicyTarget(workload="reco"), rules=[AlertRule("GPU Memory Exhaustion", "gpu_memory_utilization", ">", 95, 300, "critical")])

    Args:
        project: the GCP project id.
        name: display-name prefix.
        rules: the alert policies; an unknown metric is an error, never a silent skip.
        target: the VMs / endpoint / groups the rules watch.
        email_addresses: each gets a notification channel.
        notification_channels: existing channel ids to notify as well (for example the
            foundation's ``Alerts.channel_ids``).
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, rules: Sequence[AlertRule], target: PolicyTarget | None = None,
                 email_addresses: Sequence[str] = (), notification_channels: Sequence[str] = ()):
        super().__init__(scope, id)
        target = target or PolicyTarget()
        self.project, self.name = project, name
        self.channel_ids: list[str] = list(notification_channels)
        for i, email in enumerate(email_addresses):
            channel = resource(self, f"email-{i}", "google_monitoring_notification_channel", project=project, display_name=f"{name} {email}",
                               type="email", labels={"email_address": email}, force_delete=False)
            self.channel_ids.append(channel.get_string_attribute("id"))
        self.policies = []
        for rule, slug in zip(rules, rule_slugs((r.name for r in rules), "alert")):
            self.policies.append(self._policy(slug, rule.name, rule.severity, rule.condition(target),
                                              f"{rule.name} ({rule.severity}): {rule.metric} {rule.operator} {rule.threshold:g} for "
                                              f"{rule.duration_seconds} s. Raised by aiinfra from the spec's alerting_rules."))

    def _policy(self, slug: str, title: str, severity: str, condition: dict[str, Any], text: str):
        return resource(self, f"policy-{slug}", "google_monitoring_alert_policy", project=self.project, display_name=f"{self.name}: {title}",
                        combiner="OR", severity=SEVERITIES.get(severity, "WARNING"), enabled=True, conditions=[condition],
                        notification_channels=self.channel_ids or None, documentation={"content": text, "mime_type": "text/markdown"},
                        user_labels={"severity": severity.lower(), "managed-by": "aiinfra"})

    def capacity(self, *, base_instance_names: Sequence[str], wait_seconds: int = 1800, severity: str = "high"):
        """A policy raised when Compute Engine fails to create a VM of the groups whose base instance
        names are ``base_instance_names`` (a quota of 0, no Spot or on-demand capacity in the
        zones, a full compact placement policy), at most once per ``wait_seconds`` while it goes on.

        Cloud Monitoring has no metric of a managed instance group's target size (its Compute
        Engine metrics list only ``instance_group/size``, the VMs that exist:
        https://cloud.google.com/monitoring/api/metrics_gcp_c), so "target above running" cannot be
        a threshold. The closest real signal is the group's failed creations: every
        ``compute.instances.insert`` is in the Admin Activity audit log, which cannot be turned off
        (https://cloud.google.com/compute/docs/logging/audit-logging), the failed ones at severity
        ERROR, named ``<base instance name>-<4 characters>``. A log-match condition raises on them
        (https://cloud.google.com/logging/docs/alerting/log-based-alerts: such a policy needs
        ``alert_strategy.notification_rate_limit``), notifying at most once per ``wait_seconds``."""
        if not base_instance_names:
            raise ValueError("base_instance_names must name at least one group's base instance name")
        bad = [n for n in base_instance_names if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", n)]
        if bad:
            raise ValueError(f"base instance names are lowercase letters, digits and hyphens, got {bad!r}")
        if not 300 <= wait_seconds <= 86400:
            raise ValueError(f"wait_seconds must be between 300 and 86400, got {wait_seconds}")
        names = "|".join(sorted(set(base_instance_names)))
        condition = {"display_name": "a VM of the group could not be created", "condition_matched_log": {"filter": (
            f'logName="projects/{self.project}/logs/cloudaudit.googleapis.com%2Factivity" AND resource.type="gce_instance" AND '
            f'protoPayload.methodName:"compute.instances.insert" AND severity>=ERROR AND '
            f'protoPayload.resourceName=~"/instances/({names})-[a-z0-9]{{4}}$"')}}
        policy = resource(self, "policy-capacity-not-met", "google_monitoring_alert_policy", project=self.project,
                          display_name=f"{self.name}: Capacity Not Met", combiner="OR", severity=SEVERITIES.get(severity, "WARNING"), enabled=True,
                          conditions=[condition], notification_channels=self.channel_ids or None,
                          alert_strategy={"notification_rate_limit": {"period": f"{wait_seconds}s"}, "auto_close": f"{max(wait_seconds, 1800)}s"},
                          documentation={"content": f"Capacity Not Met ({severity}): Compute Engine could not create a VM of the group "
                                                    "(quota, no Spot or on-demand capacity in its zones, a full placement policy); the group "
                                                    "keeps retrying and its run or endpoint waits. The audit log entry says which.",
                                         "mime_type": "text/markdown"},
                          user_labels={"severity": severity.lower(), "managed-by": "aiinfra"})
        self.policies.append(policy)
        return policy

    def uptime(self, *, host: str, path: str, validate_ssl: bool, severity: str = "critical") -> None:
        """An HTTPS uptime check of a public endpoint from Google's checkers, and a policy raised
        when checkers fail: an outage even with no traffic and no VM metric to go by (Cloud
        Monitoring has no healthy-backend metric).
        https://cloud.google.com/monitoring/uptime-checks"""
        check = resource(self, "uptime", "google_monitoring_uptime_check_config", project=self.project, display_name=f"{self.name} endpoint",
                         timeout="10s", period="60s",
                         http_check={"path": path, "port": 443, "use_ssl": True, "validate_ssl": validate_ssl, "request_method": "GET",
                                     "accepted_response_status_codes": [{"status_class": "STATUS_CLASS_2XX"}]},
                         monitored_resource={"type": "uptime_url", "labels": {"project_id": self.project, "host": host}})
        check_id = check.get_string_attribute("uptime_check_id")
        condition = {"display_name": "uptime check failing", "condition_threshold": {
            "filter": f'metric.type = "monitoring.googleapis.com/uptime_check/check_passed" AND resource.type = "uptime_url" AND '
                      f'metric.label.check_id = "{check_id}"',
            "comparison": "COMPARISON_GT", "threshold_value": 1, "duration": "60s", "trigger": {"count": 1},
            "aggregations": [{"alignment_period": "1200s", "per_series_aligner": "ALIGN_NEXT_OLDER", "cross_series_reducer": "REDUCE_COUNT_FALSE",
                              "group_by_fields": ["resource.label.*"]}]}}
        self.policies.append(self._policy("endpoint-down", "Endpoint Down", severity, condition,
                                          f"More than one of Google's uptime checkers cannot get {path} over HTTPS: the endpoint is down "
                                          "(no healthy node, or the load balancer itself)."))
