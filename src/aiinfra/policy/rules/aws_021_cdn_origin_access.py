import re

from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok

# A viewer security policy of TLS 1.2 or newer (TLSv1.2_2018 ... TLSv1.2_2021, TLSv1.3_2025):
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/secure-connections-supported-viewer-protocols-ciphers.html
TLS12 = re.compile(r"^TLSv1\.[23]_\d{4}$")
HTTPS_ONLY = ("redirect-to-https", "https-only")
_S3_DOMAIN = re.compile(r"\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com(\.cn)?$|^\$\{aws_s3_bucket\.[^}]*\.bucket(_regional)?_domain_name\}$")


def _s3(origin: dict) -> bool:
    return bool(blocks(origin.get("s3_origin_config"))) or bool(_S3_DOMAIN.search(str(origin.get("domain_name", ""))))


def check(r: Resource, stack: StackView):
    problems = []
    for origin in blocks(r.body.get("origin")):
        if _s3(origin) and not origin.get("origin_access_control_id"):
            how = "an origin access identity (legacy)" if any(b.get("origin_access_identity") for b in blocks(origin.get("s3_origin_config"))) \
                else "no origin access control"
            problems.append(f"S3 origin {origin.get('origin_id')!r} is read with {how}")
    behaviors = blocks(r.body.get("default_cache_behavior")) + blocks(r.body.get("ordered_cache_behavior"))
    loose = sorted({str(b.get("viewer_protocol_policy")) for b in behaviors if b.get("viewer_protocol_policy") not in HTTPS_ONLY})
    if loose:
        problems.append(f"viewer_protocol_policy {', '.join(loose)} serves plain HTTP")
    (cert,) = blocks(r.body.get("viewer_certificate")) or [{}]
    if cert.get("cloudfront_default_certificate") in (True, "true"):
        problems.append("CloudFront's default certificate (*.cloudfront.net) accepts TLS 1.0 and 1.1")
    elif not TLS12.match(str(cert.get("minimum_protocol_version", ""))):
        problems.append(f"minimum_protocol_version {cert.get('minimum_protocol_version')!r} is below TLS 1.2")
    return bad("; ".join(problems)) if problems else ok()


RULE = Rule(
    id="AIINFRA-AWS-021",
    description="CloudFront distributions read S3 through origin access control and serve viewers HTTPS only, TLS 1.2+",
    explanation="An S3 origin read without origin access control must be readable by anyone (or through a legacy origin access "
                "identity, which cannot read SSE-KMS objects); a behavior that allows HTTP, or a viewer policy below TLS 1.2, lets "
                "what the CDN serves be read or changed on the way.",
    fix="give each S3 origin an aws_cloudfront_origin_access_control (StaticContentCdn does), viewer_protocol_policy "
        "redirect-to-https, and an ACM certificate in us-east-1 with minimum_protocol_version TLSv1.2_2021",
    types=("aws_cloudfront_distribution",),
    check=check,
)
