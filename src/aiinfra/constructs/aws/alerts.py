"""CloudWatch alarms for the guide's alert rules, notifying a KMS-encrypted SNS topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from constructs import Construct

from aiinfra.constructs._alerts import check_rule, rule_slugs
from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext

# metric name in the spec -> (namespace, CloudWatch metric, statistic, unit conversion)
# GPU metrics are published by the CloudWatch agent's nvidia_gpu plugin; ELB latency is in
# seconds; a failed training job publishes aiinfra/TrainingJobFailed = 1 (the job's own hook).
METRICS: dict[str, tuple[str, str, str]] = {
    "gpu_utilization": ("CWAgent", "nvidia_smi_utilization_gpu", "Average"),
    "gpu_memory_utilization": ("CWAgent", "nvidia_smi_utilization_memory", "Average"),
    "gpu_temperature": ("CWAgent", "nvidia_smi_temperature_gpu", "Maximum"),
    "cpu_utilization": ("AWS/EC2", "CPUUtilization", "Average"),
    "memory_utilization": ("CWAgent", "mem_used_percent", "Average"),
    "disk_utilization": ("CWAgent", "disk_used_percent", "Maximum"),
    "avg_inference_latency": ("AWS/ApplicationELB", "TargetResponseTime", "Average"),
    "p95_inference_latency": ("AWS/ApplicationELB", "TargetResponseTime", "p95"),
    "p99_inference_latency": ("AWS/ApplicationELB", "TargetResponseTime", "p99"),
    "inference_error_rate": ("aiinfra", "InferenceErrorRate", "Average"),
    "requests_per_second": ("AWS/ApplicationELB", "RequestCount", "Sum"),
    "queue_depth": ("aiinfra", "QueueDepth", "Maximum"),
    "training_job_status": ("aiinfra", "TrainingJobFailed", "Maximum"),
    "cost_per_prediction": ("aiinfra", "CostPerPrediction", "Average"),
    "monthly_cost": ("AWS/Billing", "EstimatedCharges", "Maximum"),
}
OPERATORS = {">": "GreaterThanThreshold", ">=": "GreaterThanOrEqualToThreshold", "<": "LessThanThreshold",
             "<=": "LessThanOrEqualToThreshold", "==": "GreaterThanOrEqualToThreshold", "!=": "LessThanThreshold"}


@dataclass(frozen=True)
class AlertRule:
    """One alarm: ``metric op threshold`` held for ``duration_seconds``.

    ``threshold`` is in the metric's CloudWatch unit (percent, seconds, count); for
    ``training_job_status == 'failed'`` it is 1. ``dimensions`` narrows the metric (for
    example ``{"AutoScalingGroupName": group.name}``).
    """

    name: str
    metric: str
    operator: str
    threshold: float
    duration_seconds: int = 300
    severity: str = "warning"
    dimensions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_rule(self.metric, self.operator, self.duration_seconds, METRICS, OPERATORS)


class Alerts(Construct):
    """An SNS topic (KMS-encrypted) and one CloudWatch alarm per rule.

    Example::

        Alerts(stack, "alerts", name="acme-prod", kms_key_arn=key.arn,
               rules=[AlertRule("GPU Memory Exhaustion", "gpu_memory_utilization", ">", 95, 300)])

    Args:
        name: topic name and alarm name prefix.
        kms_key_arn: key of the topic (the key must let CloudWatch use it: ``EncryptionKey`` does).
        rules: the alarms; an unknown metric is an error, never a silent skip.
        topic_arn: publish to this existing topic instead of creating one.
        email_endpoints: addresses subscribed to the topic (each must confirm).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, kms_key_arn: str, rules: Sequence[AlertRule],
                 topic_arn: str | None = None, email_endpoints: Sequence[str] = (), tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        tags = dict(tags or {})
        if topic_arn is None:
            self.topic = resource(self, "topic", "aws_sns_topic", name=f"{name}-alerts", kms_master_key_id=kms_key_arn, tags=tags)
            topic_arn = self.topic.get_string_attribute("arn")
            ctx = AwsContext(self)
            # Alarms and budgets publish as services, for this account only.
            resource(self, "topic-policy", "aws_sns_topic_policy", arn=topic_arn, policy=policy_json([
                {"Sid": "AccountManagesTopic", "Effect": "Allow", "Principal": {"AWS": ctx.account_root},
                 "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
                 "Resource": topic_arn},
                {"Sid": "ServicesPublish", "Effect": "Allow", "Principal": {"Service": ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]},
                 "Action": "SNS:Publish", "Resource": topic_arn, "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}},
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": topic_arn,
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]))
        self.topic_arn: str = topic_arn
        for i, email in enumerate(email_endpoints):
            resource(self, f"email-{i}", "aws_sns_topic_subscription", topic_arn=topic_arn, protocol="email", endpoint=email)
        self.alarms = []
        for rule, slug in zip(rules, rule_slugs((r.name for r in rules), "alarm")):
            namespace, metric, stat = METRICS[rule.metric]
            period = 60
            extended = stat if stat.startswith("p") else None
            alarm = resource(
                self, f"alarm-{slug}", "aws_cloudwatch_metric_alarm", alarm_name=f"{name}-{slug}",
                alarm_description=f"{rule.name} ({rule.severity}): {rule.metric} {rule.operator} {rule.threshold:g}",
                namespace=namespace, metric_name=metric, statistic=None if extended else stat, extended_statistic=extended,
                comparison_operator=OPERATORS[rule.operator], threshold=rule.threshold, period=period,
                evaluation_periods=max(1, rule.duration_seconds // period), datapoints_to_alarm=max(1, rule.duration_seconds // period),
                treat_missing_data="notBreaching", dimensions=dict(rule.dimensions) or None,
                alarm_actions=[topic_arn], ok_actions=[topic_arn], tags={**tags, "severity": rule.severity})
            self.alarms.append(alarm)
