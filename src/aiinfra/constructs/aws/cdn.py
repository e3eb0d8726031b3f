"""CloudFront in front of a static-content bucket: the bucket is private (origin access control, a bucket policy
for this one distribution, all public access blocked, TLS only, SSE-KMS with a key CloudFront may decrypt with for
this distribution only), viewers are sent to HTTPS, a CLOUDFRONT-scope WAF web ACL filters requests, responses are
compressed, cached with AWS's managed CachingOptimized policy and carry the managed security headers, and access logs
go to CloudWatch Logs (standard logging v2)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.constructs.aws.web_acl import DEFAULT_MAX_BODY_BYTES, RETENTION_DAYS, WebAcl
from aiinfra.policy.aspect import suppress

# AWS managed policies, attached by id
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html, CachingOptimized:
# no query string or cookie in the cache key, Accept-Encoding normalized for gzip / brotli, TTL from the object's
# Cache-Control between 1 s and a year, 86,400 s when it has none;
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html,
# SecurityHeadersPolicy: Strict-Transport-Security max-age=31536000, X-Content-Type-Options nosniff, X-Frame-Options
# SAMEORIGIN, Referrer-Policy strict-origin-when-cross-origin, X-XSS-Protection).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
SECURITY_HEADERS_POLICY = "67f7725c-6f97-4210-82d7-5512b31e9d03"
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# TLSv1.2_2021: TLS 1.2 and 1.3 with the recommended ciphers only
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/secure-connections-supported-viewer-protocols-ciphers.html);
# it needs a certificate of your own (an ACM certificate in us-east-1): with CloudFrontDefaultCertificate (*.cloudfront.net)
# "CloudFront automatically sets the security policy to TLSv1 regardless of the value that you set"
# (https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_ViewerCertificate.html, MinimumProtocolVersion).
MIN_TLS = "TLSv1.2_2021"
# CloudFront is a global service: its CLOUDFRONT-scope web ACLs, the certificates it serves and its standard logging v2
# live in us-east-1 ("When calling the CloudWatch API to enable standard logging, you must specify the US East (N. Virginia)
# Region (us-east-1)": https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging.html#enable-access-logging-api;
# elsewhere PutDeliverySource answers "not supported for this LogType in region ...").
EDGE_REGION = "us-east-1"
ORIGIN_ID = "static-bucket"
# The bucket's prefix is "<name>-static-", and aws_s3_bucket takes a bucket_prefix of 37 characters at most (the provider
# adds a 26-character unique suffix to reach S3's 63).
MAX_NAME = 37 - len("-static-")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]+$")


def _at(provider: Any, r: Any) -> Any:
    """``r`` created with ``provider`` (an aliased provider configuration) when one is given."""
    if provider is not None:
        r.provider = provider
    return r


class StaticContentCdn(Construct):
    """A CloudFront distribution serving a new private S3 bucket's objects over HTTPS.

    What a viewer gets: ``https://<domain_name>/<key>`` is object ``<key>`` of the bucket (``/`` is
    ``default_root_object``); plain HTTP is redirected to HTTPS; responses are compressed (gzip, brotli) and cached
    at the edge with the managed CachingOptimized policy, whose TTL is the object's ``Cache-Control`` max-age (publish
    objects with ``cache_control``: ``public, max-age=<default_ttl_seconds>``), and carry the managed security
    headers (HSTS, nosniff, frame options). GET, HEAD and OPTIONS only: nothing is written through the CDN.

    The bucket: versioned (noncurrent versions expire after 30 days), all public access blocked, ACLs off
    (Object Ownership bucket owner enforced, which origin access control requires), TLS-only, server access logs to
    ``access_log_bucket``, SSE-KMS with a key of its own whose policy lets ``cloudfront.amazonaws.com`` decrypt only
    for this distribution (``AWS:SourceArn``): OAC signs its requests with SigV4 and supports SSE-KMS objects when the
    key policy says so (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html,
    "SSE-KMS"). The bucket policy allows ``s3:GetObject`` to the CloudFront service principal for this distribution only.

    TLS: with ``certificate_arn`` (an ACM certificate in us-east-1 for ``aliases``) viewers need TLS 1.2 or newer
    (``TLSv1.2_2021``). Without one the distribution answers on ``*.cloudfront.net`` with CloudFront's certificate,
    which accepts TLS 1.0 and 1.1 too: ``tls_enforced`` is False then and the policy pack's AIINFRA-AWS-021 is
    suppressed on the distribution with that reason (say so to the people who run it).

    WAF: a CLOUDFRONT-scope ``WebAcl`` (per-client rate, managed rule groups, logs of blocked and counted requests).
    Access logs: CloudFront standard logging v2 into the CloudWatch Logs group ``/aws/vendedlogs/cloudfront/<name>``.
    Standard logging (legacy) is not used: it writes with S3 ACLs and cannot deliver to a bucket whose Object
    Ownership is bucket owner enforced (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging-legacy-s3.html#access-logs-choosing-s3-bucket),
    which is what the foundation's log bucket is. Standard logging v2 to that bucket would work without ACLs, but CloudWatch
    Logs adds a ``delivery.logs.amazonaws.com`` statement to a bucket policy that lacks one
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-V2-S3.html), and the foundation stack
    owns that policy and would take the statement out again at its next apply. CloudWatch Logs adds the account's
    log delivery resource policy itself when the delivery is created (the deploying role needs
    ``logs:PutResourcePolicy``, ``logs:CreateDelivery``, ``cloudfront:AllowVendedLogDeliveryForResource``).

    The web ACL, its log group, the access-log group and the logs' key are created in us-east-1: pass
    ``edge_provider`` (an ``AwsProvider(..., region="us-east-1", alias=...)``) when the stack's region is another
    (the bucket and its key stay in the stack's region); left out, the stack's provider must be in us-east-1 and one
    key serves the bucket and the logs.

    Example::

        cdn = StaticContentCdn(stack, "cdn", name="acme-prod-reco", peak_requests_per_second=40,
                               access_log_bucket=storage.log_bucket_name)
        TerraformOutput(stack, "static_url", value=f"https://{cdn.domain_name}/")

    Args:
        name: names the bucket (``<name>-static-`` is its prefix, which S3 buckets take up to 37 characters long: 29 at most
            here), key alias, OAC, web ACL and log group.
        peak_requests_per_second: the planned peak request rate of all viewers (sizes the web ACL's per-client limit).
        client_requests_per_second: what one client IP may send a second; default the web ACL's (10% of the peak).
        price_class: ``PriceClass_100`` (North America, Europe; default), ``PriceClass_200`` or ``PriceClass_All``.
        default_root_object: the object ``/`` serves; default ``index.html``.
        default_ttl_seconds: the max-age ``cache_control`` advises for published objects; default 86,400 (one day).
        certificate_arn: an ACM certificate in us-east-1 covering ``aliases``; left out, CloudFront's default
            certificate (``*.cloudfront.net``, no TLS 1.2 minimum).
        aliases: the DNS names the distribution answers to (a CNAME / alias record to ``domain_name`` is yours to make);
            needs ``certificate_arn``.
        access_log_bucket: the bucket the static bucket's S3 server access logs go to (prefix ``static/<name>/``);
            left out, none (the bucket's reads through CloudFront are in the access logs anyway).
        edge_provider: the us-east-1 provider configuration, when the stack's region is another.
        log_retention_days: access and WAF logs are kept this long; default 365.
        force_destroy: let ``terraform destroy`` delete a bucket that still holds objects; default off.
        waf_window_seconds, max_body_bytes: the web ACL's rate window and declared-body limit (``WebAcl``'s defaults).
        tags: on every resource that takes them.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, peak_requests_per_second: float,
                 client_requests_per_second: float | None = None, price_class: str = "PriceClass_100",
                 default_root_object: str = "index.html", default_ttl_seconds: int = 86400, certificate_arn: str | None = None,
                 aliases: Sequence[str] = (), access_log_bucket: str | None = None, edge_provider: Any = None,
                 log_retention_days: int = 365, force_destroy: bool = False, waf_window_seconds: int = 300,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        if not re.fullmatch(rf"[a-z0-9][a-z0-9-]{{0,{MAX_NAME - 1}}}", name):
            problems.append(f"name must be 1-{MAX_NAME} lower-case letters, digits or '-' (it prefixes a bucket name), got {name!r}")
        if price_class not in PRICE_CLASSES:
            problems.append(f"price_class must be one of {', '.join(PRICE_CLASSES)}, got {price_class!r}")
        if not default_root_object or default_root_object.startswith("/"):
            problems.append(f"default_root_object must be an object key without a leading '/', got {default_root_object!r}")
        # CachingOptimized keeps an object between 1 s and 31,536,000 s (one year) whatever its Cache-Control says.
        if not (isinstance(default_ttl_seconds, int) and not isinstance(default_ttl_seconds, bool) and 1 <= default_ttl_seconds <= 31536000):
            problems.append(f"default_ttl_seconds must be a whole number between 1 and 31536000 (CachingOptimized's bounds), "
                            f"got {default_ttl_seconds!r}")
        if aliases and not certificate_arn:
            problems.append(f"aliases {list(aliases)} need certificate_arn (an ACM certificate in {EDGE_REGION} covering them)")
        if certificate_arn and "${" not in certificate_arn:
            found = _ACM_ARN.match(certificate_arn)
            if not found or found.group(1) != EDGE_REGION:
                problems.append(f"certificate_arn must be an ACM certificate in {EDGE_REGION} (CloudFront reads certificates there), "
                                f"got {certificate_arn!r}")
        if log_retention_days not in RETENTION_DAYS:
            problems.append(f"log_retention_days must be one of CloudWatch Logs' values, got {log_retention_days!r}")
        if problems:
            raise ValueError("; ".join(problems))
        tags = dict(tags or {})
        ctx = AwsContext(self)
        self.name = name
        self.default_ttl_seconds = default_ttl_seconds
        self.cache_control: str = f"public, max-age={default_ttl_seconds}"
        self.tls_enforced: bool = bool(certificate_arn)

        self.distribution = resource(self, "distribution", "aws_cloudfront_distribution", enabled=True, is_ipv6_enabled=True,
                                     comment=f"Static content of {name}", http_version="http2and3", price_class=price_class,
                                     default_root_object=default_root_object, aliases=list(aliases) or None, tags=tags or None)
        self.distribution_arn: str = self.distribution.get_string_attribute("arn")
        for_this_distribution = {"StringEquals": {"AWS:SourceArn": self.distribution_arn}}
        admin = {"Sid": "AccountAdministersKeyThroughIam", "Effect": "Allow", "Principal": {"AWS": ctx.account_root}, "Action": "kms:*",
                 "Resource": "*"}
        # The OAC page's SSE-KMS statement grants kms:Decrypt, kms:Encrypt and kms:GenerateDataKey* (the last two for
        # uploads through CloudFront); this distribution only reads (GET, HEAD, OPTIONS), so it may only decrypt.
        cloudfront = {"Sid": "CloudFrontDecryptsForThisDistribution", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
                      "Action": "kms:Decrypt", "Resource": "*", "Condition": for_this_distribution}
        # CloudWatch Logs of us-east-1 for this account's log groups (EncryptionKey's statement, for the edge region).
        log_groups = f"arn:{ctx.partition}:logs:{EDGE_REGION}:{ctx.account_id}:log-group:*"
        logs = {"Sid": "CloudWatchLogsUseKeyForThisAccountsLogGroups", "Effect": "Allow",
                "Principal": {"Service": f"logs.{EDGE_REGION}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"], "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}}}

        def key(kid: str, alias: str, description: str, statements: list[dict], provider: Any = None) -> Any:
            made = _at(provider, resource(self, kid, "aws_kms_key", description=description, enable_key_rotation=True, deletion_window_in_days=30,
                                          key_usage="ENCRYPT_DECRYPT", customer_master_key_spec="SYMMETRIC_DEFAULT",
                                          policy=policy_json(statements), tags=tags or None))
            _at(provider, resource(self, f"{kid}-alias", "aws_kms_alias", name=f"alias/{alias}", target_key_id=made.get_string_attribute("key_id")))
            return made

        # One key in us-east-1 serves the bucket and the logs; elsewhere the logs get a key of their own there.
        self.key = key("key", f"{name}-static", f"{name} static content", [admin, cloudfront] + ([] if edge_provider is not None else [logs]))
        self.key_arn: str = self.key.get_string_attribute("arn")
        self.log_key = self.key if edge_provider is None else key("log-key", f"{name}-cdn-logs", f"{name} CDN and WAF logs", [admin, logs],
                                                                   edge_provider)
        self.log_key_arn: str = self.log_key.get_string_attribute("arn")

        # The bucket.
        self.bucket = resource(self, "bucket", "aws_s3_bucket", bucket_prefix=f"{name}-static-", force_destroy=force_destroy,
                               tags={**tags, "tier": "static"})
        bucket_id = self.bucket.get_string_attribute("id")
        self.bucket_name: str = bucket_id
        self.bucket_arn: str = self.bucket.get_string_attribute("arn")
        versioning = resource(self, "versioning", "aws_s3_bucket_versioning", bucket=bucket_id, versioning_configuration={"status": "Enabled"})
        resource(self, "public-access", "aws_s3_bucket_public_access_block", bucket=bucket_id, block_public_acls=True,
                 block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
        resource(self, "ownership", "aws_s3_bucket_ownership_controls", bucket=bucket_id, rule={"object_ownership": "BucketOwnerEnforced"})
        resource(self, "sse", "aws_s3_bucket_server_side_encryption_configuration", bucket=bucket_id,
                 rule=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": self.key_arn},
                        "bucket_key_enabled": True}])
        resource(self, "lifecycle", "aws_s3_bucket_lifecycle_configuration", bucket=bucket_id, depends_on=[versioning], rule=[{
            "id": "expire-replaced-versions", "status": "Enabled", "filter": {"prefix": ""},
            "noncurrent_version_expiration": {"noncurrent_days": 30},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}])
        resource(self, "events", "aws_s3_bucket_notification", bucket=bucket_id, eventbridge=True)
        self.bucket_policy = resource(self, "policy", "aws_s3_bucket_policy", bucket=bucket_id, policy=policy_json([
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
             "Resource": [self.bucket_arn, f"{self.bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html
            {"Sid": "CloudFrontReadsForThisDistribution", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
             "Action": "s3:GetObject", "Resource": f"{self.bucket_arn}/*", "Condition": for_this_distribution}]))
        if access_log_bucket:
            resource(self, "access-logging", "aws_s3_bucket_logging", bucket=bucket_id, target_bucket=access_log_bucket,
                     target_prefix=f"static/{name}/")

        self.origin_access_control = resource(self, "oac", "aws_cloudfront_origin_access_control", name=f"{name}-static",
                                              description=f"CloudFront reads {name}'s static bucket, signed (SigV4)",
                                              origin_access_control_origin_type="s3", signing_behavior="always", signing_protocol="sigv4")
        self.web_acl = WebAcl(self, "waf", name=f"{name}-cdn", peak_requests_per_second=peak_requests_per_second,
                              client_requests_per_second=client_requests_per_second, kms_key_arn=self.log_key_arn,
                              window_seconds=waf_window_seconds, max_body_bytes=max_body_bytes, log_retention_days=log_retention_days,
                              scope_type="CLOUDFRONT", provider=edge_provider, tags=tags or None)
        viewer_certificate: dict[str, Any] = (
            {"acm_certificate_arn": certificate_arn, "ssl_support_method": "sni-only", "minimum_protocol_version": MIN_TLS}
            if certificate_arn else {"cloudfront_default_certificate": True})
        self.distribution.attributes.update({
            "origin": [{"origin_id": ORIGIN_ID, "domain_name": self.bucket.get_string_attribute("bucket_regional_domain_name"),
                        "origin_access_control_id": self.origin_access_control.get_string_attribute("id")}],
            "default_cache_behavior": {"target_origin_id": ORIGIN_ID, "viewer_protocol_policy": "redirect-to-https", "compress": True,
                                       "allowed_methods": ["GET", "HEAD", "OPTIONS"], "cached_methods": ["GET", "HEAD"],
                                       "cache_policy_id": CACHING_OPTIMIZED, "response_headers_policy_id": SECURITY_HEADERS_POLICY},
            "restrictions": {"geo_restriction": {"restriction_type": "none"}},
            "viewer_certificate": viewer_certificate,
            "web_acl_id": self.web_acl.arn,
        })
        if not certificate_arn:
            suppress(self.distribution, "AIINFRA-AWS-021",
                     "no certificate of its own: on CloudFront's *.cloudfront.net certificate the minimum viewer protocol is TLSv1 and cannot "
                     "be raised; pass an ACM certificate in us-east-1 and aliases for TLS 1.2+ (the S3 origin's OAC and the HTTPS redirect "
                     "are asserted by tests/test_cdn_aws.py)")
        self.domain_name: str = self.distribution.get_string_attribute("domain_name")
        self.distribution_id: str = self.distribution.get_string_attribute("id")

        # Access logs: standard logging v2 to CloudWatch Logs, in us-east-1
        # (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging.html).
        self.log_group_name = f"/aws/vendedlogs/cloudfront/{name}"
        self.log_group = _at(edge_provider, resource(self, "access-logs", "aws_cloudwatch_log_group", name=self.log_group_name,
                                                     retention_in_days=log_retention_days, kms_key_id=self.log_key_arn, tags=tags or None))
        source = _at(edge_provider, resource(self, "log-source", "aws_cloudwatch_log_delivery_source", name=f"{name}-cdn",
                                             log_type="ACCESS_LOGS", resource_arn=self.distribution_arn, tags=tags or None))
        destination = _at(edge_provider, resource(
            # JSON records (CloudFront's v2 formats for CloudWatch Logs: json, plain, w3c, raw); set, not left to the service's
            # default: the provider reads the format back and output_format is not a computed argument.
            self, "log-destination", "aws_cloudwatch_log_delivery_destination", name=f"{name}-cdn", tags=tags or None, output_format="json",
            delivery_destination_configuration={"destination_resource_arn": self.log_group.get_string_attribute("arn")}))
        self.log_delivery = _at(edge_provider, resource(self, "log-delivery", "aws_cloudwatch_log_delivery",
                                                        delivery_source_name=source.get_string_attribute("name"),
                                                        delivery_destination_arn=destination.get_string_attribute("arn"), tags=tags or None))
