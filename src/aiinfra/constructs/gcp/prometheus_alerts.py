"""Cloud Monitoring alert policies with PromQL conditions over Google Managed Prometheus data (issue 29: the guide's
``alerting_rules`` on a GKE cluster, routed to the foundation's notification channels).

One ``google_monitoring_alert_policy`` per rule, its condition ``condition_prometheus_query_language``
(https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/monitoring_alert_policy#condition_prometheus_query_language;
https://cloud.google.com/monitoring/promql/create-promql-alerts-console): ``query`` the rule's expression, ``duration``
its ``for``, ``labels`` its severity, ``rule_group`` / ``alert_rule`` its group and alert name (as a Prometheus rules
file would name them). Metric validation is off: Cloud Monitoring refuses a condition on a metric nothing has
written yet, and a model server's or a JobSet's series exist only once the first one runs. The policy's own severity
is the guide's, as ``constructs/gcp/alerts.py`` maps it. The rules are ``aiinfra.observability.promql.PromRule``s.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._alerts import rule_slugs
from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.alerts import SEVERITIES
from aiinfra.observability.promql import PromRule

EVALUATION_INTERVAL = "60s"


class PrometheusAlertPolicies(Construct):
    """One alert policy a rule, each notifying ``notification_channels``.

    Example::

        PrometheusAlertPolicies(stack, "alerts", project="acme-ml", name="acme-ml-prod-cluster", rules=rules,
                                notification_channels=foundation.alerts.channel_ids)

    Args:
        project: the project whose Cloud Monitoring holds the cluster's Managed Prometheus data.
        name: the policies' display name prefix and their rule group.
        rules: the rules (``observability.promql.kubernetes_rules``, with ``cluster`` set: one project holds every cluster's series).
        notification_channels: channel ids (the foundation's ``Alerts.channel_ids``).
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, rules: Sequence[PromRule],
                 notification_channels: Sequence[str] = ()):
        super().__init__(scope, id)
        if not name:
            raise ValueError("name must not be empty")
        self.policies = []
        for rule, slug in zip(rules, rule_slugs((r.name for r in rules), "alert")):
            text = (f"{rule.name} ({rule.severity}): {rule.condition}" + (f" for {rule.for_}" if rule.for_seconds else "") +
                    f", on {', '.join(rule.workloads)}. Raised by aiinfra from the spec's alerting_rules; PromQL: `{rule.expr}`" +
                    (f". Action: {rule.action}" if rule.action else ""))
            condition = {"display_name": rule.condition,
                         "condition_prometheus_query_language": {
                             "query": rule.expr, "duration": f"{rule.for_seconds}s", "evaluation_interval": EVALUATION_INTERVAL,
                             "labels": {"severity": rule.severity}, "rule_group": name, "alert_rule": rule.alert,
                             "disable_metric_validation": True}}
            self.policies.append(resource(
                self, f"policy-{slug}", "google_monitoring_alert_policy", project=project, display_name=f"{name}: {rule.name}",
                combiner="OR", severity=SEVERITIES.get(rule.severity, "WARNING"), enabled=True, conditions=[condition],
                notification_channels=list(notification_channels) or None, documentation={"content": text, "mime_type": "text/markdown"},
                user_labels={"severity": rule.severity.lower(), "managed-by": "aiinfra"}))
