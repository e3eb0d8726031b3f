"""Scheduled ingestion into the data bucket with AWS DataSync: an S3 source read with a read-only role, the data
bucket's prefix written with a role of its own, a task on a schedule with its log group, and a failed run routed
to the alerts topic (the guide's ``data_pipeline.ingestion``)."""

from __future__ import annotations

import json
import re
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.log_group import RETENTION_DAYS
from aiinfra.cron import Cron, aws_cron

# Task options (https://docs.aws.amazon.com/datasync/latest/userguide/API_Options.html).
VERIFY_MODES = ("POINT_IN_TIME_CONSISTENT", "ONLY_FILES_TRANSFERRED", "NONE")
TRANSFER_MODES = ("CHANGED", "ALL")
LOG_LEVELS = ("OFF", "BASIC", "TRANSFER")
# What a task execution that failed says on EventBridge: source aws.datasync, detail-type "DataSync Task Execution State
# Change", detail.State ERROR, the execution's ARN (<task ARN>/execution/exec-...) in resources
# (https://docs.aws.amazon.com/datasync/latest/userguide/events.html,
# https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-datasync.html).
EXECUTION_STATE_CHANGE = "DataSync Task Execution State Change"
FAILED_STATE = "ERROR"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,48}$")  # + "-source" / "-destination" stays within IAM's 64 and EventBridge's 64


def datasync_schedule(cron: str) -> str:
    """A five-field cron expression (UTC) as DataSync's schedule expression, AWS's six-field cron (``aiinfra.cron.aws_cron``).
    DataSync runs a task at most once an hour (https://docs.aws.amazon.com/datasync/latest/userguide/task-scheduling.html):
    a schedule firing more often is refused, as is what ``aws_cron`` cannot say."""
    parsed = Cron.parse(cron)  # ValueError on a malformed expression
    gap = parsed.shortest_gap_hours()
    if gap is not None and gap < 1:
        raise ValueError(f"DataSync runs a task at most once an hour; {cron!r} fires every {gap * 60:g} minutes")
    return aws_cron(cron)


def failed_execution_pattern(task_arn: str) -> dict[str, Any]:
    """A failed execution of the task ``task_arn`` (its executions' ARNs start with ``<task ARN>/execution/``)."""
    return {"source": ["aws.datasync"], "detail-type": [EXECUTION_STATE_CHANGE], "detail": {"State": [FAILED_STATE]},
            "resources": [{"prefix": f"{task_arn}/execution/"}]}


def _trust(ctx: AwsContext) -> str:
    # DataSync assumes the location roles; confused-deputy guard with the account and its DataSync resources
    # (https://docs.aws.amazon.com/datasync/latest/userguide/create-s3-location.html#create-role-manually).
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "datasync.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id},
                      "ArnLike": {"aws:SourceArn": ctx.arn("datasync", "*", region=True)}}}]})


# What a DataSync S3 location's role needs (the same page): the bucket's listing and multipart uploads, the objects'
# reads; a destination also writes, tags and deletes (overwrites) objects.
BUCKET_ACTIONS = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
READ_ACTIONS = ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging", "s3:ListMultipartUploadParts"]
WRITE_ACTIONS = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject", "s3:PutObjectTagging"]


def _prefix(value: str) -> str:
    """``x/y`` -> ``x/y/``; "" stays "" (the whole bucket)."""
    value = value.strip("/")
    return f"{value}/" if value else ""


class ScheduledIngestion(Construct):
    """Copies an S3 prefix into the data bucket on a schedule with AWS DataSync, only what changed since the last run.

    Example::

        ScheduledIngestion(stack, "ingest", name="acme-ml-prod-ingest-0", source_bucket="raw-data-bucket",
                           destination_bucket_arn=storage.arn, destination_prefix="staging/", kms_key_arn=key.arn,
                           schedule="0 */6 * * *", alerts_topic_arn=alerts.topic_arn)

    What it creates:

    * the source location (``aws_datasync_location_s3``) on ``s3://<source_bucket>/<source_prefix>`` with a role
      DataSync assumes that may only list the bucket and read objects under the prefix (and decrypt with
      ``source_kms_key_arns``). A source bucket of another account must also allow that role in its bucket policy.
    * the destination location on the data bucket's ``destination_prefix`` with a role that may write there only
      and use the data key (``kms:GenerateDataKey`` / ``kms:Decrypt``: the bucket encrypts with SSE-KMS).
    * a KMS-encrypted log group ``/aws/datasync/<name>`` and a CloudWatch Logs resource policy letting this account's
      DataSync tasks write to it
      (https://docs.aws.amazon.com/datasync/latest/userguide/configure-logging.html).
    * the task (``aws_datasync_task``): the schedule (``datasync_schedule``), verification of what was transferred,
      transfer mode CHANGED, files deleted at the source kept in the data bucket, ``log_level`` to the log group.
    * an EventBridge rule on a failed execution of this task (``failed_execution_pattern``) to ``alerts_topic_arn``
      (whose policy lets EventBridge publish and whose key lets it encrypt: the foundation's ``Alerts`` and
      ``EncryptionKey`` do).

    Args:
        name: prefix of every name (1-48 letters, digits, ``_.-``).
        source_bucket: the bucket read (name only); ``source_prefix`` the folder in it ("" for the whole bucket).
        destination_bucket_arn, destination_prefix: where the objects land (a non-empty prefix of the data bucket).
        kms_key_arn: the data bucket's key; also the log group's.
        schedule: a five-field cron expression in UTC (the plan's ``schedule``), at most hourly.
        alerts_topic_arn: the SNS topic a failed run is reported to.
        source_kms_key_arns: keys the source objects are encrypted with (SSE-KMS), default none.
        verify_mode: one of ``VERIFY_MODES``; default ONLY_FILES_TRANSFERRED (checksums of what each run moved).
        transfer_mode: one of ``TRANSFER_MODES``; default CHANGED (only what differs from the destination).
        log_level: one of ``LOG_LEVELS``; default BASIC (errors of single files); TRANSFER logs every file.
        log_retention_days: one of ``log_group.RETENTION_DAYS``; default 365.
        tags: tags of the roles, locations, task, log group and rule.

    Attributes:
        task, task_arn, source_location, destination_location, source_role, destination_role, log_group, rule,
        schedule_expression (DataSync's form), event_pattern (the rule's, as a dict).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, source_bucket: str, destination_bucket_arn: str, destination_prefix: str,
                 kms_key_arn: str, schedule: str, alerts_topic_arn: str, source_prefix: str = "", source_kms_key_arns: tuple[str, ...] = (),
                 verify_mode: str = "ONLY_FILES_TRANSFERRED", transfer_mode: str = "CHANGED", log_level: str = "BASIC",
                 log_retention_days: int = 365, tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        if not _NAME.match(name or ""):
            problems.append(f"name must be 1 to 48 letters, digits, '_', '.' or '-', got {name!r}")
        if not _BUCKET.match(source_bucket or ""):
            problems.append(f"source_bucket must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-'), got {source_bucket!r}")
        if not _prefix(destination_prefix or ""):
            problems.append("destination_prefix must name a folder of the data bucket (the ingestion never writes the bucket's root)")
        for what, value, allowed in (("verify_mode", verify_mode, VERIFY_MODES), ("transfer_mode", transfer_mode, TRANSFER_MODES),
                                     ("log_level", log_level, LOG_LEVELS)):
            if value not in allowed:
                problems.append(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
        if log_retention_days not in RETENTION_DAYS:
            problems.append(f"log_retention_days must be one of {', '.join(map(str, RETENTION_DAYS))}, got {log_retention_days}")
        try:
            self.schedule_expression = datasync_schedule(schedule)
        except ValueError as exc:
            problems.append(f"schedule: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        tags = dict(tags or {})
        ctx = AwsContext(self)
        src_prefix, dst_prefix = _prefix(source_prefix), _prefix(destination_prefix)
        source_arn = f"arn:{ctx.partition}:s3:::{source_bucket}"

        read = [{"Sid": "ListSourceBucket", "Effect": "Allow", "Action": BUCKET_ACTIONS, "Resource": source_arn},
                {"Sid": "ReadSourceObjects", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": f"{source_arn}/{src_prefix}*"}]
        if source_kms_key_arns:
            read.append({"Sid": "DecryptSourceObjects", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": list(source_kms_key_arns)})
        self.source_role = self._role("source", f"{name}-source", f"DataSync reads s3://{source_bucket}/{src_prefix}", ctx, read, tags)
        write = [{"Sid": "ListDataBucket", "Effect": "Allow", "Action": BUCKET_ACTIONS, "Resource": destination_bucket_arn},
                 {"Sid": "WriteIngestionPrefix", "Effect": "Allow", "Action": READ_ACTIONS + WRITE_ACTIONS,
                  "Resource": f"{destination_bucket_arn}/{dst_prefix}*"},
                 # The data bucket encrypts with SSE-KMS under this key: writing needs a data key, multipart and
                 # verification read back (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
                 {"Sid": "UseDataKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": kms_key_arn}]
        self.destination_role = self._role("destination", f"{name}-destination", f"DataSync writes {dst_prefix} of the data bucket",
                                           ctx, write, tags)

        # https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/datasync_location_s3: subdirectory is
        # required, s3_config.bucket_access_role_arn the role DataSync assumes; DataSync reads it back with a leading "/".
        self.source_location = resource(self, "source", "aws_datasync_location_s3", s3_bucket_arn=source_arn, subdirectory=f"/{src_prefix}",
                                        s3_config={"bucket_access_role_arn": self.source_role.get_string_attribute("arn")}, tags=tags or None,
                                        depends_on=[self._policies["source"]])
        self.destination_location = resource(self, "destination", "aws_datasync_location_s3", s3_bucket_arn=destination_bucket_arn,
                                             subdirectory=f"/{dst_prefix}",
                                             s3_config={"bucket_access_role_arn": self.destination_role.get_string_attribute("arn")},
                                             tags=tags or None, depends_on=[self._policies["destination"]])

        self.log_group = resource(self, "logs", "aws_cloudwatch_log_group", name=f"/aws/datasync/{name}", retention_in_days=log_retention_days,
                                  kms_key_id=kms_key_arn, tags=tags or None)
        log_arn = self.log_group.get_string_attribute("arn")
        # DataSync writes a task's logs only where a resource policy lets it
        # (https://docs.aws.amazon.com/datasync/latest/userguide/configure-logging.html).
        resource(self, "logs-policy", "aws_cloudwatch_log_resource_policy", policy_name=f"{name}-datasync",
                 policy_document=policy_json([{
                     "Sid": "DataSyncWritesTaskLogs", "Effect": "Allow", "Principal": {"Service": "datasync.amazonaws.com"},
                     "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_arn}:*",
                     "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id},
                                   "ArnLike": {"aws:SourceArn": ctx.arn("datasync", "task/*", region=True)}}}]))

        # https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/datasync_task (schedule.schedule_expression,
        # options, cloudwatch_log_group_arn); the options' values: https://docs.aws.amazon.com/datasync/latest/userguide/API_Options.html.
        # PRESERVE keeps in the data bucket what the source deleted (an ingestion adds, it never mirrors deletions).
        self.task = resource(self, "task", "aws_datasync_task", name=name, source_location_arn=self.source_location.get_string_attribute("arn"),
                             destination_location_arn=self.destination_location.get_string_attribute("arn"), cloudwatch_log_group_arn=log_arn,
                             schedule={"schedule_expression": self.schedule_expression},
                             options={"verify_mode": verify_mode, "transfer_mode": transfer_mode, "log_level": log_level,
                                      "overwrite_mode": "ALWAYS", "preserve_deleted_files": "PRESERVE", "task_queueing": "ENABLED"},
                             tags=tags or None)
        self.task_arn: str = self.task.get_string_attribute("arn")
        self.event_pattern = failed_execution_pattern(self.task_arn)
        self.rule = resource(self, "failed-rule", "aws_cloudwatch_event_rule", name=f"{name}-failed",
                             description=f"A failed run of DataSync task {name} to the alerts topic",
                             event_pattern=json.dumps(self.event_pattern, separators=(",", ":")), state="ENABLED", tags=tags or None)
        # No role_arn: the topic's resource policy authorizes EventBridge
        # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
        resource(self, "failed-target", "aws_cloudwatch_event_target", rule=self.rule.get_string_attribute("name"), target_id="alerts-topic",
                 arn=alerts_topic_arn, input_transformer={
                     "input_paths": {"execution": "$.resources[0]", "state": "$.detail.State", "region": "$.region"},
                     "input_template": f'"DataSync ingestion {name} failed (<state>): execution <execution> in <region>; '
                                       f'its log group is /aws/datasync/{name}"'})

    def _role(self, id: str, role_name: str, description: str, ctx: AwsContext, statements: list[dict[str, Any]], tags: dict[str, str]):
        role = resource(self, f"{id}-role", "aws_iam_role", name=role_name, description=description, assume_role_policy=_trust(ctx),
                        max_session_duration=3600, tags=tags or None)
        policy = resource(self, f"{id}-policy", "aws_iam_role_policy", name=f"{role_name}-s3", role=role.get_string_attribute("name"),
                          policy=policy_json(statements))
        self._policies = {**getattr(self, "_policies", {}), id: policy}
        return role
