"""Scheduled ingestion from Amazon S3 into the data bucket with Storage Transfer Service: a transfer job on a
schedule derived from a cron expression, failed actions logged to Cloud Logging, the Storage Transfer service
agent's grants on the destination bucket, and an alert policy on the job's failures."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import data, resource
from aiinfra.cron import REFERENCE_START, Cron

# Storage Transfer repeats a job at a fixed interval from a start date and a time of day (UTC); the interval "may not
# be less than 1 hour", 24 hours when unset; a start date and time in the past start the job the day after it is
# created, at that time of day (https://cloud.google.com/storage-transfer/docs/reference/rest/v1/transferJobs#Schedule).
MIN_REPEAT_SECONDS = 3600
DAY_SECONDS = 86400
# The destination bucket's grants for the Storage Transfer service agent: Storage Legacy Bucket Writer (list, create,
# delete objects, get the bucket) and Storage Object Viewer (objects.get: the default overwrite_when DIFFERENT compares
# the objects already in the sink) (https://cloud.google.com/storage-transfer/docs/sink-cloud-storage). No Cloud KMS
# grant: a bucket's default key encrypts what any writer creates, through the Cloud Storage service agent, which the
# foundation's key already grants (https://cloud.google.com/storage/docs/encryption/customer-managed-keys).
SINK_ROLES = ("roles/storage.legacyBucketWriter", "roles/storage.objectViewer")
# A Cloud Storage source: Storage Object Viewer (list, read) and Storage Legacy Bucket Reader (buckets.get)
# (https://cloud.google.com/storage-transfer/docs/source-cloud-storage).
GCS_SOURCE_ROLES = ("roles/storage.objectViewer", "roles/storage.legacyBucketReader")
# LoggingConfig: FIND (listing the source) and COPY in state FAILED are logged to Cloud Logging as ERROR
# (https://cloud.google.com/storage-transfer/docs/reference/rest/v1/LoggingConfig), under the monitored resource
# storage_transfer_job with its job_id label (https://cloud.google.com/storage-transfer/docs/read-transfer-logs).
LOG_ACTIONS = ("FIND", "COPY")
LOG_STATES = ("FAILED",)
# transferJobs.name: "transferJobs/" then letters, digits, '-', '.', '_', '~', ending with a letter or digit, 128 at most.
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,110}[A-Za-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class TransferSchedule:
    """A Storage Transfer ``schedule`` block and whether it fires exactly when the cron does."""

    start_date: dt.date
    start_time: dt.time
    repeat_seconds: int
    exact: bool
    cron: str

    def block(self) -> dict:
        d, t = self.start_date, self.start_time
        return {"schedule_start_date": {"year": d.year, "month": d.month, "day": d.day},
                "start_time_of_day": {"hours": t.hour, "minutes": t.minute, "seconds": 0, "nanos": 0},
                "repeat_interval": f"{self.repeat_seconds}s"}

    def describe(self) -> str:
        every = f"every {self.repeat_seconds // 3600} h" if self.repeat_seconds % 3600 == 0 else f"every {self.repeat_seconds} s"
        return f"{every} from {self.start_time:%H:%M} UTC"


def transfer_schedule(cron: str) -> TransferSchedule:
    """The Storage Transfer schedule of a five-field cron expression (UTC).

    A cron that fires at one fixed interval which divides a day (hourly, every 6 hours, daily: ``0 */6 * * *``) is
    exact: the first fire of a day is the start time, the interval the repeat. Any other cron (weekly, weekdays only,
    monthly, more often than hourly, uneven gaps) has no such schedule: it becomes the same number of runs a month at an
    even interval (whole hours, at least one), from its first time of day; ``exact`` is False and the caller says so.
    For a weekly cron the interval is right but the weekday is the one after the job is created (Storage Transfer starts
    a job whose start date is past on the next day)."""
    c = Cron.parse(cron)
    fires = list(c.fires(REFERENCE_START, REFERENCE_START + dt.timedelta(days=400)))
    if not fires:
        raise ValueError(f"cron {cron!r} never fires")
    first = fires[0]
    gaps = {int((b - a).total_seconds()) for a, b in zip(fires, fires[1:])}
    if len(gaps) == 1:
        gap = gaps.pop()
        if gap >= MIN_REPEAT_SECONDS and (DAY_SECONDS % gap == 0 or gap % DAY_SECONDS == 0):
            # The fires start at midnight of the reference year's first day: the first is the earliest time of a day. Exact when
            # the interval divides a day (its phase is that time of day); a multiple of days keeps the interval only.
            return TransferSchedule(first.date(), first.time(), gap, DAY_SECONDS % gap == 0, c.text)
    per_month = max(c.runs_per_month(), 1 / 12)
    hours = max(1, round(730 / per_month))
    return TransferSchedule(first.date(), first.time(), hours * 3600, False, c.text)


@dataclass(frozen=True)
class AwsAccessKey:
    """An AWS access key pair Storage Transfer signs its S3 requests with (values or Terraform expressions of sensitive
    variables: they sit in the Terraform state, never in the spec). ``when``: a Terraform bool expression; the key is
    used only when it holds (e.g. no role ARN was given)."""

    access_key_id: str
    secret_access_key: str
    when: str | None = None


class ScheduledIngestion(Construct):
    """A Storage Transfer job copying an S3 (or Cloud Storage) bucket prefix into a Cloud Storage bucket prefix on a schedule.

    Example::

        ScheduledIngestion(stack, "ingest", project="acme-ml-prod", name="acme-prod-ingest-0", source_bucket="raw-data-bucket",
                           destination_bucket=storage.bucket_name, destination_prefix="staging/", cron="0 */6 * * *",
                           role_arn="arn:aws:iam::123456789012:role/gcs-transfer", notification_channels=alerts.channel_ids)

    Storage Transfer reads S3 with a role it assumes through federated identity (the role's trust policy names
    ``accounts.google.com`` with the service agent's ``subject_id``, this construct's ``subject_id``) or with an access
    key; the role needs ``s3:ListBucket`` and ``s3:GetObject`` on the bucket
    (https://cloud.google.com/storage-transfer/docs/source-amazon-s3).

    Args:
        project: the GCP project the job runs in.
        name: the job's name (``transferJobs/<name>``) and the policy's display-name prefix.
        source_bucket, source_prefix: the S3 bucket and a prefix ending with ``/`` (or ``""``: the whole bucket).
        source_is_gcs: the source is a Cloud Storage bucket instead: the service agent is granted ``GCS_SOURCE_ROLES``
            on it and no AWS credential is taken.
        destination_bucket, destination_prefix: the Cloud Storage bucket and prefix (``""`` or ending with ``/``).
        cron: when runs start (five-field cron, UTC): ``transfer_schedule`` maps it; ``schedule.exact`` False
            means the job runs at an even interval with the cron's number of runs instead (say so to the user).
        role_arn: the AWS role Storage Transfer assumes (recommended: no long-lived secret); or ``access_key``.
            At least one; both, when the key's ``when`` says which (a role ARN expression may then be null).
        notification_channels: where the failure policy notifies; left out, nobody (incidents in Cloud Monitoring only).
        overwrite_when: ``DIFFERENT`` (default), ``NEVER`` or ``ALWAYS``.
        enabled: the job's status ENABLED (default) or DISABLED; a Terraform expression is accepted.
        notify_every_seconds: at most one notification this often while failures go on; default 3,600.

    Attributes:
        job: the ``google_storage_transfer_job``; schedule: the ``TransferSchedule``; subject_id / email: the
        Storage Transfer service agent (for the AWS role's trust policy); policy: the failure alert policy.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, source_bucket: str, destination_bucket: str, cron: str,
                 source_prefix: str = "", destination_prefix: str = "", role_arn: str | None = None, access_key: AwsAccessKey | None = None,
                 notification_channels: Sequence[str] = (), overwrite_when: str = "DIFFERENT", enabled: bool | str = True,
                 notify_every_seconds: int = 3600, description: str | None = None, source_is_gcs: bool = False):
        super().__init__(scope, id)
        problems = []
        if not _JOB_NAME.match(name):
            problems.append(f"name must be letters, digits, '-', '.', '_' or '~', start and end with a letter or digit, 112 at most, got {name!r}")
        if not _BUCKET.match(source_bucket):
            problems.append(f"source_bucket must be an S3 bucket name, got {source_bucket!r}")
        for what, prefix in (("source_prefix", source_prefix), ("destination_prefix", destination_prefix)):
            if prefix and (not prefix.endswith("/") or prefix.startswith("/")):
                problems.append(f"{what} must be empty or a path ending with '/' (not starting with one), got {prefix!r}")
        if source_is_gcs and (role_arn is not None or access_key is not None):
            problems.append("a Cloud Storage source takes no AWS role_arn or access_key")
        if not source_is_gcs and role_arn is None and access_key is None:
            problems.append("role_arn or access_key is required: Storage Transfer needs a way to read the S3 bucket")
        if role_arn is not None and access_key is not None and access_key.when is None:
            problems.append("role_arn and access_key together need access_key.when (which one the job uses)")
        if overwrite_when not in ("DIFFERENT", "NEVER", "ALWAYS"):
            problems.append(f"overwrite_when must be DIFFERENT, NEVER or ALWAYS, got {overwrite_when!r}")
        if not 300 <= notify_every_seconds <= DAY_SECONDS:
            problems.append(f"notify_every_seconds must be between 300 and 86400, got {notify_every_seconds}")
        if problems:
            raise ValueError("; ".join(problems))
        self.schedule = transfer_schedule(cron)
        agent = data(self, "agent", "google_storage_transfer_project_service_account", project=project)
        self.email: str = agent.get_string_attribute("email")
        self.subject_id: str = agent.get_string_attribute("subject_id")
        member = f"serviceAccount:{self.email}"
        self.grants = [resource(self, f"sink-{role.rsplit('.', 1)[-1].lower()}", "google_storage_bucket_iam_member", bucket=destination_bucket,
                                role=role, member=member) for role in SINK_ROLES]
        if source_is_gcs:
            self.grants += [resource(self, f"source-{role.rsplit('.', 1)[-1].lower()}", "google_storage_bucket_iam_member", bucket=source_bucket,
                                     role=role, member=member) for role in GCS_SOURCE_ROLES]
        source: dict = {"bucket_name": source_bucket, "path": source_prefix or None, "role_arn": role_arn}
        if access_key is not None:
            key = {"access_key_id": access_key.access_key_id, "secret_access_key": access_key.secret_access_key}
            if access_key.when is None:
                source["aws_access_key"] = key
            else:
                source["dynamic"] = {"aws_access_key": {"for_each": f"${{{access_key.when.strip('${}')} ? [1] : []}}", "content": key}}
        status = enabled if isinstance(enabled, str) else ("ENABLED" if enabled else "DISABLED")
        self.job_name = f"transferJobs/{name}"
        self.job = resource(
            self, "job", "google_storage_transfer_job", project=project, name=self.job_name,
            description=description or f"aiinfra: {'gs' if source_is_gcs else 's3'}://{source_bucket}/{source_prefix} to gs://{destination_bucket}/{destination_prefix} "
                                       f"({self.schedule.cron} UTC)",
            status=status,
            transfer_spec={"gcs_data_source" if source_is_gcs else "aws_s3_data_source": source, "gcs_data_sink": {"bucket_name": destination_bucket, "path": destination_prefix or None},
                           "transfer_options": {"overwrite_when": overwrite_when, "delete_objects_unique_in_sink": False,
                                                "delete_objects_from_source_after_transfer": False}},
            schedule=self.schedule.block(),
            logging_config={"log_actions": list(LOG_ACTIONS), "log_action_states": list(LOG_STATES)},
            depends_on=self.grants)
        # A log-match condition (one notification per period while it matches) on the job's ERROR entries: each failed
        # listing or copy (https://cloud.google.com/logging/docs/alerting/log-based-alerts needs notification_rate_limit).
        # job_id is the job's name, with or without its "transferJobs/" prefix: both, matched exactly (":" would also match
        # ingest-10 for ingest-1).
        log_filter = (f'resource.type="storage_transfer_job" AND (resource.labels.job_id="{self.job_name}" OR '
                      f'resource.labels.job_id="{name}") AND severity>=ERROR')
        self.policy = resource(
            self, "failures", "google_monitoring_alert_policy", project=project, display_name=f"{name}: ingestion failed", combiner="OR",
            severity="ERROR", enabled=True,
            conditions=[{"display_name": "a transfer action failed", "condition_matched_log": {"filter": log_filter}}],
            notification_channels=list(notification_channels) or None,
            alert_strategy={"notification_rate_limit": {"period": f"{notify_every_seconds}s"}, "auto_close": f"{max(notify_every_seconds, 1800)}s"},
            documentation={"content": f"Storage Transfer job {self.job_name} failed to list or copy objects from s3://{source_bucket}/"
                                      f"{source_prefix} (s3 or gs): its Cloud Logging entries (resource storage_transfer_job) say which and why "
                                      "(credentials, a missing bucket, permissions).", "mime_type": "text/markdown"},
            user_labels={"severity": "high", "managed-by": "aiinfra"})
