"""Object storage for the warm and cold tiers: versioned, S3 Object Lock on the data bucket, SSE-KMS
with bucket keys, all public access blocked, TLS-only, access-logged; live objects tiered by access
(S3 Intelligent-Tiering), archive prefixes by age, noncurrent versions expired."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import data, policy_json, resource
from aiinfra.policy.aspect import suppress

WARM_CLASS = "STANDARD_IA"
COLD_CLASS = "GLACIER_IR"
ARCHIVE_CLASS = "DEEP_ARCHIVE"
LIVE_CLASS = "INTELLIGENT_TIERING"


def _tls_only(bucket_arn: str) -> dict:
    # {"AWS": "*"} is AWS's documented equivalent of "*" (every principal).
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


class TieredStorage(Construct):
    """A data bucket with the guide's warm / cold tiers, and the bucket its access logs go to.

    Every object moves to S3 Intelligent-Tiering on day 0 (``live_tiering``), without its opt-in
    Archive Access / Deep Archive Access tiers: it goes to the Infrequent Access tier after 30 days
    without a read and to Archive Instant Access after 90, comes back on the next read, and is read
    in milliseconds at any age with no retrieval charge and no minimum storage duration
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering-overview.html). Only
    ``archive_prefixes`` move by age: to Glacier Instant Retrieval after ``cold_after_days`` and to
    Glacier Deep Archive after ``archive_after_days`` (whose objects must be restored before a read).
    The hot tier is block storage on the nodes (``GpuInstanceGroup``).

    Example::

        storage = TieredStorage(stack, "storage", name="acme-ml-prod", kms_key_arn=key.arn,
                                archive_prefixes=["models/releases/"])

    Args:
        name: bucket name prefix (a unique suffix is added; 37 characters at most).
        kms_key_arn: the key objects are encrypted with (bucket keys on, so KMS calls stay few).
        live_tiering: default on. Off: every object moves by age, to Standard-IA after
            ``warm_after_days``, Glacier Instant Retrieval after ``cold_after_days`` and Deep Archive
            after ``archive_after_days``; a dataset still read then pays retrieval and minimum-duration
            charges and fails with InvalidObjectState once in Deep Archive.
        archive_prefixes: key prefixes that are archives by nature (released model versions, old
            checkpoints kept for audit), moved by age as above; default none.
        warm_after_days: default 30 (the minimum S3 allows before Standard-IA); only without live_tiering.
        cold_after_days: default 90 (the guide's ``model_archival: 90_days_inactive``).
        archive_after_days: default 365; None: no deep-archive step.
        noncurrent_expiration_days: delete noncurrent versions (overwritten or deleted objects:
            replaced checkpoints) this long after they were replaced; default 30. None: kept forever.
            A version under an Object Lock retention is deleted only once its retention ends.
        abort_incomplete_uploads_days: default 7.
        log_retention_days: access logs kept this long; default 365.
        force_destroy: allow ``terraform destroy`` to delete a non-empty bucket; default off.
        load_balancer_logs: let this region's load balancers write access logs under ``alb/``
            in the log bucket (``InferenceEndpoint(access_log_bucket=storage.log_bucket_name)``).

        compliance_retention_days: a default Object Lock retention of mode COMPLIANCE for this
            many days on the data bucket. It is bucket-wide: every object version written from then
            on (model artifacts, and checkpoints, run records and data too) cannot be deleted or
            overwritten by anyone, the account root included, and its retention cannot be shortened
            until it is that old; a new write to the same key adds a version beside it. Lifecycle
            rules cannot remove a locked version either: ``noncurrent_expiration_days`` deletes old
            versions only once their retention is over, so storage grows with every checkpoint for
            that long. None (default): no default retention; single objects can still be locked
            (``PutObjectRetention`` / legal holds).

    Both buckets send their events to EventBridge (free on the default bus), for audit rules and
    pipelines that start on new data.

    The data bucket always has S3 Object Lock enabled, so model artifacts can be locked per object
    version. Object Lock needs versioning (on here) and, once enabled, can never be disabled nor
    versioning suspended. It is enabled with ``aws_s3_bucket_object_lock_configuration`` on the
    bucket, not with ``object_lock_enabled`` on ``aws_s3_bucket``: the latter forces a new bucket,
    while S3 enables Object Lock on an existing versioned bucket in place
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-configure.html, "Enable Object
    Lock on an existing S3 bucket"), and the provider's resource does so for new and existing buckets
    (https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/s3_bucket_object_lock_configuration, as
    mirrored in https://www.pulumi.com/registry/packages/aws@6.x/api-docs/s3/bucketobjectlockconfigurationv2/).
    The access-log bucket is not locked: S3 cannot deliver server access logs to a bucket with
    Object Lock. Uploads to a bucket with a default retention must carry Content-MD5 or a checksum
    header (the AWS CLI v2 and SDKs send a checksum by default).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, kms_key_arn: str, warm_after_days: int = 30,
                 cold_after_days: int = 90, archive_after_days: int | None = 365, noncurrent_expiration_days: int | None = 30,
                 abort_incomplete_uploads_days: int = 7, log_retention_days: int = 365, force_destroy: bool = False,
                 load_balancer_logs: bool = False, compliance_retention_days: int | None = None,
                 tags: dict[str, str] | None = None, live_tiering: bool = True, archive_prefixes: Sequence[str] = ()):
        super().__init__(scope, id)
        if compliance_retention_days is not None and (not isinstance(compliance_retention_days, int)
                                                      or isinstance(compliance_retention_days, bool)
                                                      or not 1 <= compliance_retention_days <= 36500):
            # S3 takes a default retention of 1 day up to 100 years
            # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DefaultRetention.html).
            raise ValueError(f"compliance_retention_days must be a whole number of days between 1 and 36500, got {compliance_retention_days!r}")
        if len(name) > 37:
            raise ValueError(f"name must be at most 37 characters (bucket prefixes), got {len(name)}")
        if not live_tiering and warm_after_days < 30:
            raise ValueError(f"warm_after_days must be at least 30 (S3 Standard-IA minimum), got {warm_after_days}")
        if noncurrent_expiration_days is not None and noncurrent_expiration_days < 1:
            raise ValueError(f"noncurrent_expiration_days must be at least 1 (None keeps them), got {noncurrent_expiration_days}")
        if len(set(archive_prefixes)) != len(archive_prefixes) or any(not p for p in archive_prefixes):
            raise ValueError(f"archive_prefixes must be distinct, non-empty prefixes, got {list(archive_prefixes)}")
        if not live_tiering and cold_after_days <= warm_after_days:
            raise ValueError(f"cold_after_days must be after warm_after_days ({warm_after_days}), got {cold_after_days}")
        if archive_after_days is not None and archive_after_days < cold_after_days + 90:
            raise ValueError(f"archive_after_days must be at least 90 days after cold_after_days ({cold_after_days}), got {archive_after_days}")
        tags = dict(tags or {})
        self._versioning: dict[str, Any] = {}
        self.log_bucket = self._bucket("logs", f"{name}-logs-", force_destroy, tags)
        log_arn = self.log_bucket.get_string_attribute("arn")
        log_id = self.log_bucket.get_string_attribute("id")
        # S3 server access logs can only be delivered to a bucket encrypted with S3-managed keys.
        suppress(self.log_bucket, "AIINFRA-AWS-001", "S3 server access log delivery writes only to SSE-S3 (AES256) buckets; "
                 "this bucket holds access logs, never data")
        resource(self, "logs-sse", "aws_s3_bucket_server_side_encryption_configuration", bucket=log_id,
                 rule=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])
        statements = [_tls_only(log_arn), {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                                           "Action": "s3:PutObject", "Resource": f"{log_arn}/*"}]
        if load_balancer_logs:
            # Application load balancers deliver access logs as the region's ELB account
            # (docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html).
            elb = data(self, "elb-account", "aws_elb_service_account")
            statements.append({"Sid": "LoadBalancerAccessLogs", "Effect": "Allow", "Principal": {"AWS": elb.get_string_attribute("arn")},
                               "Action": "s3:PutObject", "Resource": f"{log_arn}/alb/*"})
        logs_policy = resource(self, "logs-policy", "aws_s3_bucket_policy", bucket=log_id, policy=policy_json(statements))
        self.log_bucket_name: str = log_id
        resource(self, "logs-lifecycle", "aws_s3_bucket_lifecycle_configuration", bucket=log_id, rule=[{
            "id": "expire-access-logs", "status": "Enabled", "filter": {"prefix": ""},
            "expiration": {"days": log_retention_days},
            "noncurrent_version_expiration": {"noncurrent_days": 30},
            "abort_incomplete_multipart_upload": {"days_after_initiation": abort_incomplete_uploads_days}}])

        self.bucket = self._bucket("data", f"{name}-data-", force_destroy, tags)
        bucket_id = self.bucket.get_string_attribute("id")
        self.arn: str = self.bucket.get_string_attribute("arn")
        self.bucket_name: str = bucket_id
        resource(self, "data-sse", "aws_s3_bucket_server_side_encryption_configuration", bucket=bucket_id,
                 rule=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn},
                        "bucket_key_enabled": True}])
        resource(self, "data-policy", "aws_s3_bucket_policy", bucket=bucket_id, policy=policy_json([_tls_only(self.arn)]))
        # S3 checks the target's policy when logging is switched on: the policy must exist first.
        resource(self, "data-logging", "aws_s3_bucket_logging", bucket=bucket_id, target_bucket=log_id, target_prefix="data/",
                 depends_on=[logs_policy])
        by_age = [{"days": cold_after_days, "storage_class": COLD_CLASS}]
        if archive_after_days is not None:
            by_age.append({"days": archive_after_days, "storage_class": ARCHIVE_CLASS})
        if live_tiering:
            # Lifecycle transitions to INTELLIGENT_TIERING take 0 days
            # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Transition.html); no
            # aws_s3_bucket_intelligent_tiering_configuration: its archive tiers stay off.
            rule: dict[str, Any] = {"id": "live-intelligent-tiering", "status": "Enabled", "filter": {"prefix": ""},
                                    "transition": [{"days": 0, "storage_class": LIVE_CLASS}]}
        else:
            rule = {"id": "hot-warm-cold", "status": "Enabled", "filter": {"prefix": ""},
                    "transition": [{"days": warm_after_days, "storage_class": WARM_CLASS}, *by_age],
                    "noncurrent_version_transition": [{"noncurrent_days": t["days"], "storage_class": t["storage_class"]}
                                                      for t in [{"days": warm_after_days, "storage_class": WARM_CLASS}, *by_age]]}
        rule["abort_incomplete_multipart_upload"] = {"days_after_initiation": abort_incomplete_uploads_days}
        if noncurrent_expiration_days is not None:
            rule["noncurrent_version_expiration"] = {"noncurrent_days": noncurrent_expiration_days}
        # Archives by nature move by age: S3 transitions Intelligent-Tiering objects on to GLACIER_IR and DEEP_ARCHIVE (not to
        # STANDARD_IA: https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html).
        archives = [{"id": f"archive-{i}", "status": "Enabled", "filter": {"prefix": prefix}, "transition": by_age}
                    for i, prefix in enumerate(archive_prefixes)]
        self.lifecycle = resource(self, "data-lifecycle", "aws_s3_bucket_lifecycle_configuration", bucket=bucket_id, rule=[rule, *archives])
        self.live_tiering = live_tiering
        self.archive_prefixes: tuple[str, ...] = tuple(archive_prefixes)
        self.noncurrent_expiration_days: int | None = noncurrent_expiration_days
        # S3 refuses an Object Lock configuration until versioning is Enabled: it waits for it.
        lock_rule = None
        if compliance_retention_days is not None:
            lock_rule = {"default_retention": {"mode": "COMPLIANCE", "days": compliance_retention_days}}
        self.object_lock = resource(self, "data-object-lock", "aws_s3_bucket_object_lock_configuration", bucket=bucket_id,
                                    object_lock_enabled="Enabled", rule=lock_rule, depends_on=[self._versioning["data"]])
        self.compliance_retention_days: int | None = compliance_retention_days

    def _bucket(self, kind: str, prefix: str, force_destroy: bool, tags: dict[str, str]):
        b = resource(self, kind, "aws_s3_bucket", bucket_prefix=prefix, force_destroy=force_destroy, tags={**tags, "tier": kind})
        bid = b.get_string_attribute("id")
        self._versioning[kind] = resource(self, f"{kind}-versioning", "aws_s3_bucket_versioning", bucket=bid,
                                          versioning_configuration={"status": "Enabled"})
        resource(self, f"{kind}-public-access", "aws_s3_bucket_public_access_block", bucket=bid, block_public_acls=True,
                 block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
        resource(self, f"{kind}-ownership", "aws_s3_bucket_ownership_controls", bucket=bid, rule={"object_ownership": "BucketOwnerEnforced"})
        resource(self, f"{kind}-events", "aws_s3_bucket_notification", bucket=bid, eventbridge=True)
        return b
