"""The AWS "cdn" part of the data pipeline (issue 30): a CloudFront distribution in front of a static-content bucket
for one public serving workload, in the data-pipeline stack (``stacks/pipeline_aws.py`` calls ``add_cdn`` per
``plan.pipeline_parts("aws", "cdn")``)."""

from __future__ import annotations

import re

from aiinfra.cdk import TerraformOutput, TerraformStack, stack_id

from aiinfra.constructs.aws import StaticContentCdn
from aiinfra.constructs.aws.cdn import EDGE_REGION, MAX_NAME
from aiinfra.constructs.aws.provider import AwsProvider
from aiinfra.naming import cost_labels, short
from aiinfra.planner.model import PipelinePartPlan, Plan
from aiinfra.planner.security import client_qps, peak_qps
from aiinfra.spec.models import Spec

EDGE_PROVIDER_ID = "aws-us-east-1"


def edge_provider(stack: TerraformStack, spec: Spec) -> AwsProvider | None:
    """The stack's us-east-1 provider configuration (made once), None when the stack's region is us-east-1."""
    if spec.clouds.aws.region == EDGE_REGION:
        return None
    found = stack.node.try_find_child(EDGE_PROVIDER_ID)
    if found is not None:
        return found  # type: ignore[return-value]
    tags = {**cost_labels(spec.project, spec.environment), "aiinfra-part": "data-pipeline", "managed-by": "aiinfra"}
    return AwsProvider(stack, EDGE_PROVIDER_ID, region=EDGE_REGION, alias=EDGE_REGION, default_tags=tags)


def add_cdn(stack: TerraformStack, spec: Spec, plan: Plan, part: PipelinePartPlan, foundation, serving_workload) -> list[str]:
    """Build ``part`` (``cdn``: settings ``endpoint``, ``static_path``, ``default_ttl_seconds``, ``price_class``) in
    ``stack``: a ``StaticContentCdn`` whose bucket logs to ``foundation``'s log bucket and whose web ACL's per-client rate
    is the serving workload's (the same callers load its static files). Outputs ``cdn_<endpoint>_domain`` and
    ``cdn_<endpoint>_bucket``; returns the notes (how to publish, which URL serves, the TLS caveat).

    ``serving_workload`` (the endpoint's ``AwsWorkload``) is taken for the contract's signature and not read: the
    distribution's one origin is the static bucket; the endpoint's API stays on its load balancer, uncached."""
    s = part.settings
    endpoint = s["endpoint"]
    w = next(x for x in plan.workloads if x.name == endpoint and x.cloud == "aws")
    slug = re.sub(r"[^a-z0-9-]+", "-", endpoint.lower()).strip("-") or "web"
    name = short(f"{foundation.name}-{slug}", MAX_NAME).rstrip("-")
    cdn = StaticContentCdn(stack, f"cdn-{slug}", name=name, peak_requests_per_second=peak_qps(w),
                           client_requests_per_second=client_qps(spec, w)[0], price_class=s.get("price_class") or "PriceClass_100",
                           default_ttl_seconds=int(s.get("default_ttl_seconds") or 86400),
                           access_log_bucket=foundation.storage.log_bucket_name, edge_provider=edge_provider(stack, spec))
    key = slug.replace("-", "_")
    TerraformOutput(stack, f"cdn_{key}_domain", value=cdn.domain_name,
                    description=f"CloudFront domain serving {endpoint}'s static content")
    TerraformOutput(stack, f"cdn_{key}_bucket", value=cdn.bucket_name, description=f"The bucket {endpoint}'s static content is published to")
    prefix = (s.get("static_path") or "/static/*").strip("/").rstrip("*").rstrip("/")
    under = f"{prefix}/" if prefix else ""
    me = stack_id(stack)
    return [
        f"{me}: {endpoint}'s static content: publish files to s3://<output cdn_{key}_bucket>/{under} (e.g. aws s3 sync ./{prefix or 'site'} "
        f"s3://<bucket>/{under} --cache-control '{cdn.cache_control}'); https://<output cdn_{key}_domain>/{under}<file> serves them "
        f"(CloudFront's cache keeps each for its Cache-Control max-age, {cdn.default_ttl_seconds:,} s here; "
        f"an invalidation of /{under}* drops them sooner)",
        f"{me}: {endpoint}'s CDN answers on *.cloudfront.net with CloudFront's default certificate, which accepts TLS 1.0 and 1.1 as well "
        "(no minimum can be set on it); for TLS 1.2+ give the distribution an ACM certificate in us-east-1 and a DNS name of its own "
        "(StaticContentCdn certificate_arn / aliases)",
    ]
