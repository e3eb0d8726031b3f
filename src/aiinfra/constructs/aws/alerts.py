"""CloudWatch alarms for the guide's alert rules (and the outage alarms nobody should have to ask
for), notifying a KMS-encrypted SNS topic with e-mail subscriptions.

Every alarm watches a metric something in the stacks publishes (``metrics.py`` says which).
The guide's severities (info, warning, high, critical) have no CloudWatch counterpart: each alarm
carries its severity as a tag and in its description, which the e-mail shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._alerts import check_rule, rule_slugs
from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.metrics import METRICS

PERIOD = 60
OPERATORS = {">": "GreaterThanThreshold", ">=": "GreaterThanOrEqualToThreshold", "<": "LessThanThreshold",
             "<=": "LessThanOrEqualToThreshold", "==": "GreaterThanOrEqualToThreshold", "!=": "LessThanThreshold"}
# Missing data as on-call wants it: node metrics are absent between scheduled runs (not an
# incident); no healthy-host datapoint is an outage; a "too few requests" rule breaches on silence.
_SERVICE = {"avg_inference_latency", "p95_inference_latency", "p99_inference_latency", "model_inference_latency", "inference_error_rate",
            "error_rate", "requests_per_second", "request_rate", "cost_per_prediction"}


@dataclass(frozen=True)
class AlarmTarget:
    """What one workload's alarms watch.

    Args:
        group_name: the Auto Scaling group (node, agent and job metrics).
        load_balancer: the load balancer's ARN suffix (``app/<name>/<id>``).
        target_group: the target group's ARN suffix (``targetgroup/<name>/<id>``).
        node_hour_usd: the plan's price of one node-hour (cost per prediction).
        serving: the group serves an endpoint (node metrics are expected at all times).
    """

    group_name: str | None = None
    load_balancer: str | None = None
    target_group: str | None = None
    node_hour_usd: float = 0.0
    serving: bool = False

    def dimensions(self, kind: str) -> dict[str, str]:
        """The dimensions of a query of ``kind`` (``Q.kind``)."""
        if kind == "group":
            if not self.group_name:
                raise ValueError("this metric needs AlarmTarget.group_name")
            return {"AutoScalingGroupName": self.group_name}
        if not self.load_balancer or (kind == "tg" and not self.target_group):
            raise ValueError("load balancer metrics need AlarmTarget.load_balancer (and target_group for healthy hosts)")
        return {"LoadBalancer": self.load_balancer, **({"TargetGroup": self.target_group} if kind == "tg" else {})}


@dataclass(frozen=True)
class AlertRule:
    """One alarm: ``metric op threshold`` held for ``duration_seconds``.

    ``threshold`` is in the alarm's CloudWatch unit: percent, seconds for latencies, requests per
    second, count, USD; for ``training_job_status == 'failed'`` it is 1 (failed runs in a minute).
    """

    name: str
    metric: str
    operator: str
    threshold: float
    duration_seconds: int = 300
    severity: str = "warning"

    def __post_init__(self) -> None:
        check_rule(self.metric, self.operator, self.duration_seconds, METRICS, OPERATORS)
        metrics, expression = METRICS[self.metric]
        if expression is None and len(metrics) > 1:
            raise ValueError(f"{self.metric} is several series (a chart), not one value to alarm on")

    def missing_data(self, target: AlarmTarget) -> str:
        """``treat_missing_data`` for this rule on ``target``."""
        if self.metric == "healthy_nodes":
            return "breaching"
        if self.metric in _SERVICE:
            return "breaching" if self.operator in ("<", "<=") else "notBreaching"
        if self.metric == "training_job_status" or not METRICS[self.metric][0][0].namespace.startswith(("CWAgent", "AWS/EC2")):
            return "notBreaching"
        return "missing" if target.serving else "notBreaching"

    def queries(self, target: AlarmTarget) -> list[dict[str, Any]]:
        """The alarm's ``metric_query`` blocks: the metrics, and the expression when there is one."""
        metrics, expression = METRICS[self.metric]
        out: list[dict[str, Any]] = [
            {"id": q.id, "return_data": expression is None,
             "metric": {"namespace": q.namespace, "metric_name": q.name, "stat": q.stat, "period": PERIOD, "dimensions": target.dimensions(q.kind)}}
            for q in metrics]
        if expression is not None:
            out.append({"id": "value", "expression": expression.format(node_hour_usd=f"{target.node_hour_usd:.6g}"), "label": self.metric,
                        "return_data": True})
        return out


class Alerts(Construct):
    """An SNS topic (KMS-encrypted, e-mail subscriptions) and one CloudWatch alarm per rule.

    Example::

        Alerts(stack, "alerts", name="acme-prod-reco", kms_key_arn=key.arn, target=AlarmTarget(group_name=group.name),
               rules=[AlertRule("GPU Memory Exhaustion", "gpu_memory_utilization", ">", 95, 300)])

    Args:
        name: topic name and alarm name prefix.
        kms_key_arn: key of the topic (the key must let CloudWatch use it: ``EncryptionKey`` does).
        rules: the alarms; an unknown metric is an error, never a silent skip.
        target: the group / load balancer the rules watch.
        topic_arn: publish to this existing topic instead of creating one.
        email_endpoints: addresses subscribed to the topic (each confirms from the e-mail AWS sends).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, kms_key_arn: str, rules: Sequence[AlertRule],
                 target: AlarmTarget | None = None, topic_arn: str | None = None, email_endpoints: Sequence[str] = (),
                 tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        tags = dict(tags or {})
        target = target or AlarmTarget()
        if topic_arn is None:
            self.topic = resource(self, "topic", "aws_sns_topic", name=f"{name}-alerts", kms_master_key_id=kms_key_arn, tags=tags)
            topic_arn = self.topic.get_string_attribute("arn")
            ctx = AwsContext(self)
            # Alarms, budgets and EventBridge rules (threat findings) publish as services, for this account only
            # (EventBridge sets aws:SourceAccount: https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html).
            resource(self, "topic-policy", "aws_sns_topic_policy", arn=topic_arn, policy=policy_json([
                {"Sid": "AccountManagesTopic", "Effect": "Allow", "Principal": {"AWS": ctx.account_root},
                 "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
                 "Resource": topic_arn},
                {"Sid": "ServicesPublish", "Effect": "Allow", "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com",
                                                                            "events.amazonaws.com"]},
                 "Action": "SNS:Publish", "Resource": topic_arn, "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}},
                # Managed Prometheus's alert manager (the Kubernetes platform's alerting rules), as AMP gives the statement
                # (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-AMPpermission.html), for
                # this account's workspaces (a workspace lives in a later stack: no aws:SourceArn here).
                {"Sid": "PrometheusAlertManagerPublishes", "Effect": "Allow", "Principal": {"Service": "aps.amazonaws.com"},
                 "Action": ["SNS:Publish", "SNS:GetTopicAttributes"], "Resource": topic_arn,
                 "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}},
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": topic_arn,
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]))
        self.topic_arn: str = topic_arn
        for i, email in enumerate(email_endpoints):
            resource(self, f"email-{i}", "aws_sns_topic_subscription", topic_arn=topic_arn, protocol="email", endpoint=email)
        self.alarms = []
        self.alarm_names: list[str] = []  # known before apply (a dashboard names them without a cross-stack reference)
        for rule, slug in zip(rules, rule_slugs((r.name for r in rules), "alarm")):
            periods = max(1, rule.duration_seconds // PERIOD)
            alarm = resource(
                self, f"alarm-{slug}", "aws_cloudwatch_metric_alarm", alarm_name=f"{name}-{slug}",
                alarm_description=f"{rule.name} ({rule.severity}): {rule.metric} {rule.operator} {rule.threshold:g} for {rule.duration_seconds} s",
                metric_query=rule.queries(target), comparison_operator=OPERATORS[rule.operator], threshold=rule.threshold,
                evaluation_periods=periods, datapoints_to_alarm=periods, treat_missing_data=rule.missing_data(target),
                alarm_actions=[topic_arn], ok_actions=[topic_arn], tags={**tags, "severity": rule.severity})
            self.alarms.append(alarm)
            self.alarm_names.append(f"{name}-{slug}")
        self._name, self._tags = name, tags

    def capacity(self, *, group_name: str, wait_seconds: int = 1800, severity: str = "high"):
        """An alarm when ``group_name`` wants more nodes than it has in service for ``wait_seconds``
        (every minute of the wait): the group cannot get capacity (a quota of 0, no spot or
        on-demand capacity in its zones, a full placement group), which raises nothing else since
        no node boots to report it. It reads the group's own metrics, ``GroupDesiredCapacity`` and
        ``GroupInServiceInstances`` (AWS/AutoScaling, one-minute granularity once enabled, as
        ``GpuInstanceGroup`` does); no data (metrics collection off) is no alarm.
        https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-metrics.html"""
        if wait_seconds < PERIOD or wait_seconds > 86400:
            raise ValueError(f"wait_seconds must be between {PERIOD} and 86400, got {wait_seconds}")
        periods = wait_seconds // PERIOD
        dims = {"AutoScalingGroupName": group_name}
        queries = [{"id": qid, "return_data": False,
                    "metric": {"namespace": "AWS/AutoScaling", "metric_name": metric, "stat": "Average", "period": PERIOD, "dimensions": dims}}
                   for qid, metric in (("desired", "GroupDesiredCapacity"), ("running", "GroupInServiceInstances"))]
        queries.append({"id": "value", "expression": "desired - running", "label": "nodes wanted, not in service", "return_data": True})
        alarm = resource(
            self, "alarm-capacity-not-met", "aws_cloudwatch_metric_alarm", alarm_name=f"{self._name}-capacity-not-met",
            alarm_description=f"Capacity Not Met ({severity}): the group wants more nodes than it has in service for {wait_seconds} s "
                              "(quota, no spot or on-demand capacity in its zones, a full placement group); its run or endpoint waits",
            metric_query=queries, comparison_operator="GreaterThanThreshold", threshold=0, evaluation_periods=periods,
            datapoints_to_alarm=periods, treat_missing_data="notBreaching", alarm_actions=[self.topic_arn], ok_actions=[self.topic_arn],
            tags={**self._tags, "severity": severity})
        self.alarms.append(alarm)
        self.alarm_names.append(f"{self._name}-capacity-not-met")
        return alarm
