"""Cloud Storage for the warm and cold tiers: uniform access, public access prevention
enforced, versioning, a customer key by default, soft delete, access logs, per-object retention,
an optional bucket retention policy, and lifecycle transitions to NEARLINE / COLDLINE / ARCHIVE at
the plan's days."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource

WARM_CLASS = "NEARLINE"
COLD_CLASS = "COLDLINE"
ARCHIVE_CLASS = "ARCHIVE"
# Minimum storage durations (cloud.google.com/storage/docs/storage-classes): leaving a class
# earlier is billed as if the object had stayed.
MIN_DAYS = {WARM_CLASS: 30, COLD_CLASS: 90, ARCHIVE_CLASS: 365}
# Cloud Storage writes usage logs as this group (cloud.google.com/storage/docs/access-logs). A grant
# to it is refused where the organization enforces domain-restricted sharing (DRS_CONSTRAINT: only
# principals of the allowed domains may be granted roles, and google.com is not one of them:
# https://cloud.google.com/resource-manager/docs/organization-policy/restricting-domains).
ANALYTICS_WRITER = "group:cloud-storage-analytics@google.com"
DRS_CONSTRAINT = "constraints/iam.allowedPolicyMemberDomains"
# A bucket retention policy is at most 3,155,760,000 s (100 years):
# https://cloud.google.com/storage/docs/bucket-lock
MAX_RETENTION_DAYS = 3_155_760_000 // 86400
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$")


class TieredStorage(Construct):
    """A data bucket with the guide's warm and cold tiers, and the bucket its usage logs go to.

    The data bucket has Autoclass (``autoclass_terminal_class``): objects start in STANDARD and go
    colder only while nobody reads them (NEARLINE after 30 days, then with terminal class ARCHIVE:
    COLDLINE after 90, ARCHIVE after 365), back to STANDARD on a read, with no retrieval,
    early-deletion or class-transition charge (https://cloud.google.com/storage/docs/autoclass).
    Autoclass manages every class itself, so no lifecycle rule sets one beside it. Without
    Autoclass objects move by age: to NEARLINE after ``warm_after_days``, COLDLINE after
    ``cold_after_days`` and ARCHIVE after ``archive_after_days`` (only those under
    ``archive_prefixes`` when given). The hot tier is block storage on the nodes
    (``GpuInstanceGroup``: Local SSD and persistent disks).

    Example::

        storage = TieredStorage(stack, "storage", project="acme-ml-prod", name="acme-ml-prod-us-central1",
                                location="us-central1", kms_key_id=key.id, depends_on=key.grants)

    Args:
        project: the GCP project id.
        name: bucket name prefix; the buckets are ``<name>-data`` and ``<name>-logs`` (bucket
            names are global: include the project id).
        location: a region (the key must be in the same location).
        kms_key_id: the default customer key of both buckets.
        warm_after_days / cold_after_days / archive_after_days: default 30 / 90 / 365;
            ``archive_after_days=None``: no archive step.
        autoclass_terminal_class: ``ARCHIVE`` (default) or ``NEARLINE``; None: no Autoclass, age rules.
        archive_prefixes: without Autoclass, the only prefixes the age rules move (archives by
            nature); default none (every object). With Autoclass they are left to it.
        noncurrent_expiration_days: delete non-current versions (overwritten or deleted objects:
            replaced checkpoints) this long after they were replaced; default 30. None: kept
            forever. An object under a retention (policy or its own) is deleted only once it ends.
        abort_incomplete_uploads_days: default 7.
        soft_delete_days: deleted objects stay restorable this long; default 7 (0 to 90).
        log_retention_days: usage logs kept this long; default 365.
        usage_logs: deliver the data bucket's usage logs to the logs bucket, granting
            ``ANALYTICS_WRITER`` object creation there. Default off: that grant fails the apply
            wherever the organization enforces domain-restricted sharing (``DRS_CONSTRAINT``); Cloud
            Audit Logs (Data Access) are Google's recommended record of who read what
            (https://cloud.google.com/storage/docs/access-logs#should-you-use). The logs bucket is
            created either way.
        force_destroy: let ``terraform destroy`` delete non-empty buckets; default off.
        depends_on: what the buckets wait for (the key's grant to the Cloud Storage agent).
        object_retention: Object Retention Lock on the data bucket (``enable_object_retention``), so
            model artifacts can be given their own retain-until time per object
            (https://cloud.google.com/storage/docs/object-lock); default off. Cloud Storage takes it
            when a bucket is created (``enableObjectRetention`` is a parameter of buckets.insert,
            https://cloud.google.com/storage/docs/json_api/v1/buckets/insert), so turning it on for a
            bucket that already exists makes Terraform replace the bucket (turn it on for new buckets).
        compliance_retention_days: a retention policy of this many days on the data bucket. It is
            bucket-wide: every object (model artifacts, and checkpoints, run records and data too)
            can only be deleted or replaced once it is that old, existing objects included
            (https://cloud.google.com/storage/docs/bucket-lock); a job that rewrites a file under the
            same name fails while the older one is inside the period. Object Versioning cannot be on
            with a retention policy (https://cloud.google.com/storage/docs/object-versioning), so it
            is turned off on the data bucket (nothing can be replaced inside the period anyway); the
            noncurrent versions kept so far stay. The policy is not locked: locking it
            (``retention_policy.is_locked``) is irreversible, the period can then never be reduced
            or removed and the bucket cannot be deleted until every object has met it. Lock it
            yourself once the period is right. None (default): no policy, versioning on.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, location: str, kms_key_id: str, warm_after_days: int = 30,
                 cold_after_days: int = 90, archive_after_days: int | None = 365, noncurrent_expiration_days: int | None = 30,
                 abort_incomplete_uploads_days: int = 7, soft_delete_days: int = 7, log_retention_days: int = 365,
                 force_destroy: bool = False, labels: dict[str, str] | None = None, depends_on: Sequence[Any] = (),
                 autoclass_terminal_class: str | None = "ARCHIVE", archive_prefixes: Sequence[str] = (),
                 object_retention: bool = False, compliance_retention_days: int | None = None, usage_logs: bool = False):
        super().__init__(scope, id)
        if compliance_retention_days is not None and (not isinstance(compliance_retention_days, int)
                                                      or isinstance(compliance_retention_days, bool)
                                                      or not 1 <= compliance_retention_days <= MAX_RETENTION_DAYS):
            raise ValueError(f"compliance_retention_days must be a whole number of days between 1 and {MAX_RETENTION_DAYS}, "
                             f"got {compliance_retention_days!r}")
        for suffix in ("data", "logs"):
            if not BUCKET_RE.match(f"{name}-{suffix}"):
                raise ValueError(f"name must make valid bucket names (lowercase letters, digits, '-' and '_', 63 characters at most "
                                 f"with the '-{suffix}' suffix), got {name!r}")
        if warm_after_days < 1:
            raise ValueError(f"warm_after_days must be at least 1, got {warm_after_days}")
        if cold_after_days < warm_after_days + MIN_DAYS[WARM_CLASS]:
            raise ValueError(f"cold_after_days must be at least {MIN_DAYS[WARM_CLASS]} days after warm_after_days ({warm_after_days}), "
                             f"got {cold_after_days}")
        if archive_after_days is not None and archive_after_days < cold_after_days + MIN_DAYS[COLD_CLASS]:
            raise ValueError(f"archive_after_days must be at least {MIN_DAYS[COLD_CLASS]} days after cold_after_days ({cold_after_days}), "
                             f"got {archive_after_days}")
        if autoclass_terminal_class not in (None, "NEARLINE", "ARCHIVE"):
            raise ValueError(f"autoclass_terminal_class must be NEARLINE, ARCHIVE or None, got {autoclass_terminal_class!r}")
        if noncurrent_expiration_days is not None and noncurrent_expiration_days < 1:
            raise ValueError(f"noncurrent_expiration_days must be at least 1 (None keeps them), got {noncurrent_expiration_days}")
        if not 0 <= soft_delete_days <= 90:
            raise ValueError(f"soft_delete_days must be between 0 and 90, got {soft_delete_days}")
        labels = dict(labels or {})
        depends = list(depends_on) or None
        self.log_bucket = self._bucket("logs", f"{name}-logs", project, location, kms_key_id, soft_delete_days, force_destroy,
                                       {**labels, "tier": "logs"}, depends,
                                       lifecycle_rule=[{"condition": {"age": log_retention_days}, "action": {"type": "Delete"}},
                                                       {"condition": {"days_since_noncurrent_time": 30}, "action": {"type": "Delete"}}])
        log_name = self.log_bucket.get_string_attribute("name")
        if usage_logs:
            resource(self, "logs-writer", "google_storage_bucket_iam_member", bucket=log_name, role="roles/storage.objectCreator",
                     member=ANALYTICS_WRITER)

        rules: list[dict[str, Any]] = []
        if autoclass_terminal_class is None:
            scope = {"matches_prefix": list(archive_prefixes)} if archive_prefixes else {}
            steps = [(warm_after_days, WARM_CLASS, ["STANDARD"]), (cold_after_days, COLD_CLASS, ["STANDARD", WARM_CLASS])]
            if archive_after_days is not None:
                steps.append((archive_after_days, ARCHIVE_CLASS, ["STANDARD", WARM_CLASS, COLD_CLASS]))
            rules += [{"condition": {"age": age, "matches_storage_class": matches, **scope}, "action": {"type": "SetStorageClass", "storage_class": cls}}
                      for age, cls, matches in steps]
        rules.append({"condition": {"age": abort_incomplete_uploads_days}, "action": {"type": "AbortIncompleteMultipartUpload"}})
        if noncurrent_expiration_days is not None:
            rules.append({"condition": {"days_since_noncurrent_time": noncurrent_expiration_days, "with_state": "ARCHIVED"},
                          "action": {"type": "Delete"}})
        retention: dict[str, Any] = {}
        if compliance_retention_days is not None:
            retention = {"retention_policy": {"retention_period": compliance_retention_days * 86400, "is_locked": False},
                         "versioning": {"enabled": False}}
        self.bucket = self._bucket("data", f"{name}-data", project, location, kms_key_id, soft_delete_days, force_destroy,
                                   {**labels, "tier": "data"}, depends, lifecycle_rule=rules,
                                   logging={"log_bucket": log_name, "log_object_prefix": "data/"} if usage_logs else None,
                                   enable_object_retention=True if object_retention else None,
                                   autoclass={"enabled": True, "terminal_storage_class": autoclass_terminal_class} if autoclass_terminal_class else None,
                                   **retention)
        self.autoclass_terminal_class: str | None = autoclass_terminal_class
        self.noncurrent_expiration_days: int | None = noncurrent_expiration_days
        self.compliance_retention_days: int | None = compliance_retention_days
        self.usage_logs = usage_logs
        self.bucket_name: str = self.bucket.get_string_attribute("name")
        self.url: str = self.bucket.get_string_attribute("url")

    def _bucket(self, kind: str, bucket: str, project: str, location: str, kms_key_id: str, soft_delete_days: int, force_destroy: bool,
                labels: dict[str, str], depends: list[Any] | None, **extra: Any):
        extra.setdefault("versioning", {"enabled": True})
        return resource(self, kind, "google_storage_bucket", project=project, name=bucket, location=location, storage_class="STANDARD",
                        uniform_bucket_level_access=True, public_access_prevention="enforced",
                        encryption={"default_kms_key_name": kms_key_id},
                        soft_delete_policy={"retention_duration_seconds": soft_delete_days * 86400},
                        force_destroy=force_destroy, labels=labels, depends_on=depends, **extra)
