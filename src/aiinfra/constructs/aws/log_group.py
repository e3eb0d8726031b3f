"""A CloudWatch Logs group for one workload's nodes: what they log outlives them (a scaled-in
node's root volume is deleted with its journal)."""

from __future__ import annotations

import re

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource

# The retention periods PutRetentionPolicy accepts, in days (0 would keep the logs forever: not offered).
# https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def retention_at_least(days: int) -> int:
    """The shortest retention CloudWatch Logs accepts that keeps ``days``; ValueError past ten years."""
    for allowed in RETENTION_DAYS:
        if allowed >= days:
            return allowed
    raise ValueError(f"CloudWatch Logs keeps logs at most {RETENTION_DAYS[-1]} days with a retention period, asked {days}")


class LogGroup(Construct):
    """A KMS-encrypted log group with a retention period.

    The nodes write to it themselves (docker's ``awslogs`` driver for the container's output, the
    CloudWatch agent for the boot log), each on its own streams; ``aws.WorkloadIdentity`` lets a
    workload's role write to ``/aiinfra/<its name>`` only.

    Example::

        logs = LogGroup(stack, "logs", name="/aiinfra/acme-ml-prod-train", kms_key_arn=key.arn, retention_days=365)

    Args:
        name: the group's name (1-512 letters, digits, ``_-/.#``).
        kms_key_arn: the key the log data is encrypted with; its policy must let CloudWatch Logs
            of the region use it (``EncryptionKey`` does).
        retention_days: one of ``RETENTION_DAYS`` (``retention_at_least`` rounds up); default 365.

    Attributes:
        arn, name: the group's ARN and name.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, kms_key_arn: str, retention_days: int = 365,
                 tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        if not re.fullmatch(r"[A-Za-z0-9_./#-]{1,512}", name):
            raise ValueError(f"name must be 1-512 letters, digits or _-/.#, got {name!r}")
        if retention_days not in RETENTION_DAYS:
            raise ValueError(f"retention_days must be one of {', '.join(map(str, RETENTION_DAYS))}, got {retention_days}")
        # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/cloudwatch_log_group
        self.log_group = resource(self, "group", "aws_cloudwatch_log_group", name=name, retention_in_days=retention_days,
                                  kms_key_id=kms_key_arn, tags=tags or None)
        self.arn: str = self.log_group.get_string_attribute("arn")
        self.name: str = name
