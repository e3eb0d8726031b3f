"""The AWS data pipeline's managed parts from the plan (issue 30): ``<prefix>-aws-data-pipeline`` in the primary region
holds one DataSync ingestion per ``ingestion`` part and one ElastiCache for Valkey cache per ``cache`` part (and the
CloudFront parts, ``stacks/cdn_aws.py``). The settings keys read here are the contract's (planner/pipeline.py)."""

from __future__ import annotations

from typing import Any

from aiinfra.cdk import App, TerraformOutput, stack_id

from aiinfra.constructs.aws.cache import ServingCache
from aiinfra.constructs.aws.ingestion import ScheduledIngestion
from aiinfra.constructs.aws.log_group import RETENTION_DAYS, retention_at_least
from aiinfra.naming import cost_labels, short
from aiinfra.planner.model import PipelinePartPlan, Plan
from aiinfra.spec.models import Spec
from aiinfra.stacks.nodes import log_retention_days

PART = "data-pipeline"


def _index(part: PipelinePartPlan) -> str:
    """``data_pipeline.ingestion[2]`` -> ``2`` (the construct ids and names: stable while the spec's list is)."""
    return part.target.rsplit("[", 1)[-1].rstrip("]") if part.target.endswith("]") else part.target


def add_aws_pipeline(app: App, spec: Spec, plan: Plan, foundation: Any, serving: dict[str, Any] | None,
                     caches: dict[str, tuple[ServingCache, PipelinePartPlan]] | None = None) -> tuple[list[str], list[str]]:
    """Add ``<prefix>-aws-data-pipeline`` for the plan's AWS ingestion, cache and CDN parts; returns (stack names, notes).

    ``foundation`` is the primary region's ``AwsFoundation`` (its key, network, data bucket and alerts topic are read
    across stacks); ``serving`` maps a serving workload's name to its ``AwsWorkload``: each cache's clients get, in
    their own stacks (which then depend on this one, never the reverse), the cache's ingress from their node security
    group, that group's egress to the cache, and ``elasticache:Connect`` on their role (``ServingCache.allow_client``).
    ``serving=None``: the serving stacks are built after this one and wire themselves (``allow_client``).
    ``caches``, when given, is filled with {client workload: (its cache, the cache's part)}: the serving stacks tag
    their nodes with ``cache.endpoint`` and the part's ``ttl_seconds`` (boot: AIINFRA_CACHE_ENDPOINT,
    AIINFRA_CACHE_TTL_SECONDS)."""
    from aiinfra.stacks.aws import _stack  # stacks/aws.py calls this module: imported here, not at the top

    if not plan.pipeline_stack_parts("aws"):
        return [], []
    ingestion = plan.pipeline_parts("aws", "ingestion")
    cache_parts = plan.pipeline_parts("aws", "cache")
    cdn_parts = plan.pipeline_parts("aws", "cdn")
    stack = _stack(app, spec, spec.clouds.aws.region, PART)
    sid = stack_id(stack)
    notes: list[str] = []
    tags = cost_labels(spec.project, spec.environment)
    logs_kept = retention_at_least(min(log_retention_days(spec), RETENTION_DAYS[-1]))

    for part in ingestion:
        s, i = part.settings, _index(part)
        if s["source_cloud"] != "aws" or not s.get("source_bucket"):
            # DataSync's S3 location reads Amazon S3 only (other object stores need an agent): nothing is built.
            notes.append(f"{sid}: {part.target} ({s['source_url']}) is not on Amazon S3: DataSync reads S3 without an agent only, "
                         "so no ingestion is built for it here")
            continue
        ingest = ScheduledIngestion(stack, f"ingestion-{i}", name=short(f"{foundation.name}-ingest-{i}", 48), source_bucket=s["source_bucket"],
                                    source_prefix=s["source_prefix"], destination_bucket_arn=foundation.storage.arn,
                                    destination_prefix=s["destination_prefix"], kms_key_arn=foundation.key.arn, schedule=s["schedule"],
                                    alerts_topic_arn=foundation.alerts.topic_arn, log_retention_days=logs_kept, tags=tags)
        TerraformOutput(stack, f"ingestion_{i}_source_role_arn", value=ingest.source_role.get_string_attribute("arn"),
                        description=f"The role DataSync reads s3://{s['source_bucket']}/{s['source_prefix']} with")
        notes.append(f"{sid}: {part.target} copies s3://{s['source_bucket']}/{s['source_prefix']} to {s['destination_prefix']} of the data "
                     f"bucket ({ingest.schedule_expression} UTC, only what changed); a source bucket of another account must allow the role "
                     f"of output ingestion_{i}_source_role_arn in its bucket policy (s3:ListBucket, s3:GetObject*)")

    for part in cache_parts:
        s, i = part.settings, _index(part)
        subnets = foundation.network.private_subnet_ids
        multi_az = bool(s["multi_az"]) and s["replicas_per_shard"] >= 1 and len(subnets) >= 2
        if s["multi_az"] and not multi_az:
            notes.append(f"{sid}: {part.target}'s cache stays in one zone: Multi-AZ needs a replica per shard and the foundation's "
                         f"private subnets in two zones ({len(subnets)} here)")
        cache = ServingCache(stack, f"cache-{i}", name=short(f"{foundation.name}-cache-{i}", 36).lower(), vpc_id=foundation.network.vpc_id,
                             subnet_ids=subnets, kms_key_arn=foundation.key.arn, node_type=s["node_type"], shards=s["shards"],
                             replicas_per_shard=s["replicas_per_shard"], engine=s["engine"], engine_version=s["engine_version"],
                             eviction_policy=s["eviction_policy"], multi_az=multi_az, log_retention_days=logs_kept, tags=tags)
        for client in s["clients"]:
            if serving is None:  # the serving stacks are built after this one and wire themselves (stacks/aws.py AwsWorkload)
                if caches is not None:
                    caches[client] = (cache, part)
                continue
            workload = serving.get(client)
            if workload is None:
                notes.append(f"{sid}: {part.target}'s client {client} has no serving stack here: nothing may reach the cache for it")
                continue
            cache.allow_client(workload.stack, f"cache-{i}-client", security_group_id=workload.node_security_group.id,
                               role_name=workload.identity.role_name)
            if caches is not None:
                caches[client] = (cache, part)
        ttl = s.get("ttl_seconds")
        notes.append(f"{sid}: {part.target} is ElastiCache for {s['engine'].capitalize()} {s['engine_version']}, {s['shards']} shard(s) x "
                     f"{1 + s['replicas_per_shard']} {s['node_type']} node(s); clients connect over TLS as user {cache.user_id} with an IAM "
                     f"token of their role (output cache-{i}_endpoint); keys are evicted {s['eviction_policy']}"
                     + (f" and the servers set a {ttl} s TTL on each key they write (AIINFRA_CACHE_TTL_SECONDS)" if ttl else ""))

    # ---- CloudFront (helper E's stacks/cdn_aws.py: add_cdn(stack, spec, plan, part, foundation, serving_workload) -> notes).
    # The lead finishes this wiring once that module lands.
    if cdn_parts:
        try:
            from aiinfra.stacks.cdn_aws import add_cdn  # type: ignore[import-not-found]
        except ImportError:
            notes.append(f"{sid}: the CDN of {', '.join(p.target for p in cdn_parts)} is planned but not built yet (stacks/cdn_aws.py)")
        else:
            for part in cdn_parts:
                notes += add_cdn(stack, spec, plan, part, foundation, (serving or {}).get(part.settings["endpoint"]))
    return [sid], notes
