"""Cloud CDN for a serving endpoint's static content: a private static-content bucket (customer key, uniform access,
public access prevention enforced) behind a backend bucket with Cloud CDN, read by the Cloud CDN fill service agent,
for the endpoint's URL map to route its static path to (``InferenceEndpoint(static_backend=...)``)."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import pinned, resource
from aiinfra.constructs.gcp.common import GcpContext, check_name
from aiinfra.constructs.gcp.tiered_storage import BUCKET_RE

# Cloud CDN's cache modes for a backend bucket: CACHE_ALL_STATIC caches static content types (and what the origin marks
# cacheable) with default_ttl when the object has no Cache-Control; max_ttl caps what an object asks; client_ttl what a
# browser is told (https://cloud.google.com/cdn/docs/using-cache-modes, https://cloud.google.com/cdn/docs/using-ttl-overrides).
CACHE_MODE = "CACHE_ALL_STATIC"
MAX_TTL_SECONDS = 31_536_000  # a year: the longest TTL Cloud CDN takes
# Private bucket access: the bucket stays private (no allUsers, public access prevention enforced) and the Cloud CDN
# fill service agent service-PROJECT_NUMBER@cloud-cdn-fill.iam.gserviceaccount.com reads it with Storage Object Viewer
# (https://cloud.google.com/cdn/docs/configure-private-bucket-access, https://cloud.google.com/cdn/docs/using-signed-urls
# "Configure permissions"). Google creates that agent when the first signed request key is added to a backend, so the
# backend gets one first; Cloud CDN does not block requests without a signature
# (https://cloud.google.com/cdn/docs/using-signed-urls): the key is never handed out and changes who can read nothing.
FILL_AGENT = "cloud-cdn-fill.iam.gserviceaccount.com"
READER_ROLE = "roles/storage.objectViewer"


class StaticContentCdn(Construct):
    """A static-content bucket served through Cloud CDN.

    Example::

        cdn = StaticContentCdn(stack, "static", project="acme-ml-prod", name="acme-prod-reco", bucket_name="acme-ml-prod-reco-static",
                               location="us-central1", kms_key_id=key.id, default_ttl_seconds=3600)
        InferenceEndpoint(stack, "endpoint", ..., static_backend=("/static/*", cdn.backend_bucket_id))

    Objects are uploaded by the operator (``gcloud storage cp``); they are encrypted with the bucket's default key by the
    Cloud Storage service agent, so readers (the fill agent) need no key grant.

    Args:
        project: the project (and its number for the fill agent).
        name: the backend bucket's name prefix (``<name>-static``).
        bucket_name: the static-content bucket (bucket names are global: include the project).
        location: the bucket's region (the key's).
        kms_key_id: the bucket's default customer key.
        default_ttl_seconds: how long Cloud CDN caches an object without Cache-Control; default 3,600.
        max_ttl_seconds: the cap on what an object asks; default a day (at least default_ttl_seconds).
        bucket_depends_on: what the bucket waits for (the key's grant to the Cloud Storage agent).
        force_destroy: let ``terraform destroy`` delete a non-empty bucket; default off.

    Attributes:
        bucket, bucket_name, backend_bucket, backend_bucket_id, reader (the fill agent's grant), signing_key.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, bucket_name: str, location: str, kms_key_id: str,
                 default_ttl_seconds: int = 3600, max_ttl_seconds: int = 86400, bucket_depends_on: Sequence = (), force_destroy: bool = False,
                 labels: dict[str, str] | None = None):
        super().__init__(scope, id)
        check_name(f"{name}-static", "name", 63)
        problems = []
        if not BUCKET_RE.match(bucket_name):
            problems.append(f"bucket_name must be a bucket name (lowercase letters, digits, '-', '_', 3 to 63), got {bucket_name!r}")
        for what, v in (("default_ttl_seconds", default_ttl_seconds), ("max_ttl_seconds", max_ttl_seconds)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_TTL_SECONDS:
                problems.append(f"{what} must be a whole number of seconds from 0 to {MAX_TTL_SECONDS:,}, got {v!r}")
        if not problems and max_ttl_seconds < default_ttl_seconds:
            problems.append(f"max_ttl_seconds ({max_ttl_seconds}) must be at least default_ttl_seconds ({default_ttl_seconds})")
        if problems:
            raise ValueError("; ".join(problems))
        ctx = GcpContext(self, project)
        self.bucket = resource(self, "bucket", "google_storage_bucket", project=project, name=bucket_name, location=location,
                               storage_class="STANDARD", uniform_bucket_level_access=True, public_access_prevention="enforced",
                               encryption={"default_kms_key_name": kms_key_id}, versioning={"enabled": True},
                               soft_delete_policy={"retention_duration_seconds": 7 * 86400},
                               lifecycle_rule=[{"condition": {"days_since_noncurrent_time": 30, "with_state": "ARCHIVED"},
                                                "action": {"type": "Delete"}}],
                               force_destroy=force_destroy, labels={**(labels or {}), "tier": "static"},
                               depends_on=list(bucket_depends_on) or None)
        self.bucket_name: str = self.bucket.get_string_attribute("name")
        self.backend_bucket = resource(
            self, "backend", "google_compute_backend_bucket", project=project, name=f"{name}-static", bucket_name=self.bucket_name,
            description="static content through Cloud CDN (aiinfra)", enable_cdn=True, compression_mode="AUTOMATIC",
            cdn_policy={"cache_mode": CACHE_MODE, "default_ttl": default_ttl_seconds, "max_ttl": max_ttl_seconds,
                        "client_ttl": min(default_ttl_seconds, max_ttl_seconds), "negative_caching": True, "request_coalescing": True,
                        "serve_while_stale": min(86400, max_ttl_seconds)})
        self.backend_bucket_id: str = self.backend_bucket.get_string_attribute("id")
        # A 128-bit key, base64url (what add-signed-url-key takes), drawn once and kept in state: uuid() is Terraform's own.
        seed = pinned(self, "signing-key-seed", "${uuid()}")
        digest = f'substr(sha256(terraform_data.{seed.friendly_unique_id}.output), 0, 16)'
        self.signing_key = resource(self, "signing-key", "google_compute_backend_bucket_signed_url_key", project=project,
                                    name=f"{name}-fill", backend_bucket=self.backend_bucket.get_string_attribute("name"),
                                    key_value=f'${{replace(replace(base64encode({digest}), "+", "-"), "/", "_")}}')
        self.reader = resource(self, "fill-reader", "google_storage_bucket_iam_member", bucket=self.bucket_name, role=READER_ROLE,
                               member=f"serviceAccount:service-{ctx.number}@{FILL_AGENT}", depends_on=[self.signing_key])
