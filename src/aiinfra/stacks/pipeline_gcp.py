"""The guide's data pipeline on Google Cloud, apart from Spark (issue 30): ``<prefix>-gcp-data-pipeline`` holds each
planned ingestion (Storage Transfer Service into the data bucket) and serving cache (Memorystore for Redis Cluster);
the Cloud CDN part lives in its serving workload's stack, whose URL map routes the static path to it (``cdn_for``).
The plan decides what exists (``Plan.pipeline``, the ``settings`` keys of docs/plan-json.md); this module follows it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiinfra.cdk import App, TerraformOutput, TerraformStack, TerraformVariable, stack_id

from aiinfra.constructs.gcp.cache import ServingCache
from aiinfra.constructs.gcp.cdn import StaticContentCdn
from aiinfra.constructs.gcp.ingestion import AwsAccessKey, ScheduledIngestion
from aiinfra.constructs.gcp.project_services import services_for, stack_resource_types
from aiinfra.naming import ENV_SHORT, short
from aiinfra.planner.model import PipelinePartPlan, Plan
from aiinfra.spec.models import Spec

if TYPE_CHECKING:  # stacks/gcp.py imports this module's caller; no cycle at run time
    from aiinfra.stacks.gcp import GcpFoundation, GcpWorkload

# The serving containers' view of the cache (docs/plan-json.md "cache"): Redis has no server-side TTL, so the
# eviction policy is volatile-ttl and the client sets each key's expiry from AIINFRA_CACHE_TTL_SECONDS.
CACHE_ENDPOINT_ENV = "AIINFRA_CACHE_ENDPOINT"
CACHE_TTL_ENV = "AIINFRA_CACHE_TTL_SECONDS"


def _index(part: PipelinePartPlan) -> str:
    """``data_pipeline.ingestion[2]`` -> ``2`` (stable construct ids and variable names), else a slug of the target."""
    m = re.search(r"\[(\d+)\]$", part.target)
    return m.group(1) if m else re.sub(r"[^a-z0-9]+", "-", part.target.lower()).strip("-")


class GcpDataPipeline:
    """``<prefix>-gcp-data-pipeline`` with the plan's GCP ingestion and cache parts (none: no stack, ``stack`` None).

    Build it before the serving workloads' stacks when they should know their cache: ``client_metadata`` grants a
    serving workload's service account the connect role from the workload's own stack and gives the node metadata
    the boot turns into ``AIINFRA_CACHE_ENDPOINT`` / ``AIINFRA_CACHE_TTL_SECONDS`` (the workload stack then applies after
    this one, and nothing here refers to it). ``grant(serving)`` instead grants from this stack (then this stack applies
    after the workloads' and cannot hand them the endpoint).

    ``foundation`` is the primary region's; a part planned in another region is left out with a note.

    Attributes: stack, names (stack names), notes, caches ([(part, ServingCache)]), ingestions ([(part, ScheduledIngestion)]).
    """

    def __init__(self, app: App, spec: Spec, plan: Plan, foundation: "GcpFoundation"):
        self.names: list[str] = []
        self.notes: list[str] = []
        self.caches: list[tuple[PipelinePartPlan, ServingCache]] = []
        self.ingestions: list[tuple[PipelinePartPlan, ScheduledIngestion]] = []
        self.granted: set[tuple[str, str]] = set()  # (cache target, member)
        self.foundation = foundation
        self.stack: TerraformStack | None = None
        parts = plan.pipeline_stack_parts("gcp")
        if not parts:
            return
        from aiinfra.stacks.gcp import _stack

        gcp = spec.clouds.gcp
        stack = self.stack = _stack(app, spec, foundation.region, "data-pipeline")
        name = stack_id(stack)
        self.names.append(name)
        policy = None  # one PSC service connection policy per network, region and service class
        for part in parts:
            if part.region != foundation.region:
                self.notes.append(f"{name}: {part.target} is planned in {part.region}, not in the foundation's {foundation.region}: not built here")
                continue
            i, s = _index(part), part.settings
            if part.part == "ingestion":
                built = _ingestion(stack, spec, part, i, foundation, self.notes)
                if built is not None:
                    self.ingestions.append((part, built))
                continue
            cache = ServingCache(stack, f"cache-{i}", project=gcp.project, name=short(f"{foundation.name}-cache-{i}", 55), region=part.region,
                                 network=foundation.network.network_id, subnetwork=foundation.network.subnetwork_self_link,
                                 kms_key_id=foundation.key.id, shard_count=int(s["shards"]), replica_count=int(s["replicas_per_shard"]),
                                 node_type=s["node_type"], eviction_policy=s.get("eviction_policy") or "volatile-ttl",
                                 # Always over the region's zones (Memorystore's default); one zone would need a zone the plan
                                 # does not choose. The plan's multi_az shows in replicas_per_shard (a replica in another zone).
                                 multi_zone=True, connection_policy=policy is None, depends_on=[policy] if policy is not None else ())
            policy = policy or cache.connection_policy
            self.caches.append((part, cache))
            TerraformOutput(stack, f"cache_{i}_endpoint", value=self.endpoint(cache),
                            description=f"{CACHE_ENDPOINT_ENV} of {', '.join(s.get('clients', [])) or 'the serving workloads'} (TLS, IAM auth)")
            ttl = s.get("ttl_seconds")
            self.notes.append(f"{name}: {part.target}: Memorystore for Redis Cluster {s['shards']} shard(s) x {s['replicas_per_shard']} "
                              f"replica(s) {s['node_type']}, TLS and IAM authentication: clients connect to output cache_{i}_endpoint "
                              f"({CACHE_ENDPOINT_ENV}) over TLS with the cluster's CA, an access token of their service account as the "
                              "password" + (f", and set each key's expiry to {CACHE_TTL_ENV}={ttl} (eviction policy volatile-ttl; Redis "
                                            "has no server TTL)" if ttl else "") + "; deletion protection is on")
        foundation.services.add(services_for(stack_resource_types(stack)))

    @staticmethod
    def endpoint(cache: ServingCache) -> str:
        """``host:port`` of the cluster's discovery endpoint."""
        return f"{cache.discovery_address}:{cache.discovery_port}"

    def cache_of(self, workload: str) -> tuple[PipelinePartPlan, ServingCache] | None:
        """The first cache whose plan lists ``workload`` among its clients."""
        return next(((p, c) for p, c in self.caches if workload in p.settings.get("clients", [])), None)

    def client_metadata(self, stack: TerraformStack, workload: str, member: str) -> dict[str, str]:
        """For a serving workload's ``stack``: the connect role for ``member`` (its service account) on every cache it is a
        client of, granted there, and the node metadata of its first cache (``boot.workload.CACHE_ENDPOINT_KEY`` /
        ``CACHE_TTL_KEY``); {} when it has none."""
        from aiinfra.boot.workload import CACHE_ENDPOINT_KEY, CACHE_TTL_KEY

        for part, cache in self.caches:
            if workload in part.settings.get("clients", []) and (part.target, member) not in self.granted:
                cache.allow(stack, f"cache-{_index(part)}-access", member)
                self.granted.add((part.target, member))
        found = self.cache_of(workload)
        if found is None:
            return {}
        part, cache = found
        ttl = part.settings.get("ttl_seconds")
        return {CACHE_ENDPOINT_KEY: self.endpoint(cache), **({CACHE_TTL_KEY: str(int(ttl))} if ttl else {})}

    def grant(self, serving: dict[str, "GcpWorkload"]) -> None:
        """Grant each cache's planned clients found in ``serving`` (GCP serving workloads by name) from this stack, those
        ``client_metadata`` has not granted; a client without a GCP serving stack is named in a note."""
        if self.stack is None:
            return
        for part, cache in self.caches:
            clients = part.settings.get("clients", [])
            missing = [c for c in clients if c not in serving]
            if missing:
                self.notes.append(f"{stack_id(self.stack)}: the cache of {part.target} grants no access to {', '.join(missing)} "
                                  "(no GCP serving stack of that name)")
            for n, c in enumerate(c for c in clients if c in serving):
                member = serving[c].identity.member
                if (part.target, member) not in self.granted:
                    cache.allow(cache, f"client-{n}", member)
                    self.granted.add((part.target, member))


def add_gcp_pipeline(app: App, spec: Spec, plan: Plan, foundation: "GcpFoundation",
                     serving: dict[str, "GcpWorkload"]) -> tuple[list[str], list[str]]:
    """``<prefix>-gcp-data-pipeline`` after the serving stacks (``GcpDataPipeline`` then ``grant(serving)``): returns (stack
    names, notes). To hand the serving nodes their cache endpoint, build ``GcpDataPipeline`` before them instead and call
    ``client_metadata`` from each serving stack."""
    pipeline = GcpDataPipeline(app, spec, plan, foundation)
    pipeline.grant(serving)
    return pipeline.names, pipeline.notes


def _ingestion(stack: TerraformStack, spec: Spec, part: PipelinePartPlan, i: str, foundation: "GcpFoundation",
               notes: list[str]) -> ScheduledIngestion | None:
    s = part.settings
    name = stack_id(stack)
    gcp = spec.clouds.gcp
    job = short(f"{foundation.name}-ingest-{i}", 60)
    if s["source_cloud"] not in ("aws", "gcp"):
        notes.append(f"{name}: {part.target} reads {s['source_url']}: Storage Transfer Service reads Amazon S3 and Cloud Storage "
                     "without agents, not this source: not built")
        return None
    kw: dict = {}
    if s["source_cloud"] == "aws":
        # Deploy-time inputs: the role Storage Transfer assumes (federated identity: no secret anywhere) or an access key pair.
        role = TerraformVariable(stack, f"ingestion_{i}_aws_role_arn", type="string", nullable=False,
                                 description=f"The AWS role Storage Transfer assumes to read {s['source_url']} (its trust policy: "
                                             f"accounts.google.com, sub = output ingestion_{i}_google_subject_id); \"\" to use the access "
                                             "key variables instead")
        key_id = TerraformVariable(stack, f"ingestion_{i}_aws_access_key_id", type="string", default="", sensitive=True, nullable=False,
                                   description=f"An AWS access key id that may read {s['source_url']}, when no role ARN is given")
        secret = TerraformVariable(stack, f"ingestion_{i}_aws_secret_access_key", type="string", default="", sensitive=True,
                                   nullable=False, description="Its secret access key (kept in the Terraform state, marked sensitive)")
        r = f"var.{role.friendly_unique_id}"
        kw = {"role_arn": f'${{{r} == "" ? null : {r}}}',
              "access_key": AwsAccessKey(f"${{var.{key_id.friendly_unique_id}}}", f"${{var.{secret.friendly_unique_id}}}", when=f'{r} == ""')}
        notes.append(f"{name}: pass -var 'ingestion_{i}_aws_role_arn=arn:aws:iam::ACCOUNT:role/NAME' (a role with s3:ListBucket and "
                     f"s3:GetObject on {s['source_bucket']}, trusting accounts.google.com with sub = output ingestion_{i}_google_subject_id), "
                     f"or \"\" and the access key variables")
    ingest = ScheduledIngestion(stack, f"ingestion-{i}", project=gcp.project, name=job, source_bucket=s["source_bucket"],
                                source_prefix=s.get("source_prefix") or "", destination_bucket=foundation.storage.bucket_name,
                                destination_prefix=s.get("destination_prefix") or "", cron=s["schedule"],
                                notification_channels=foundation.alerts.channel_ids, source_is_gcs=s["source_cloud"] == "gcp", **kw)
    TerraformOutput(stack, f"ingestion_{i}_google_subject_id", value=ingest.subject_id,
                    description="The Storage Transfer service agent's subject id (the AWS role's trust policy condition accounts.google.com:sub)")
    if not ingest.schedule.exact:
        notes.append(f"{name}: {part.target}'s schedule '{s['schedule']}' is not a Storage Transfer schedule (a start time of day, UTC, "
                     f"then one fixed interval of at least 1 h): it runs {ingest.schedule.describe()} instead")
    return ingest


def cdn_for(stack: TerraformStack, spec: Spec, plan: Plan, part: PipelinePartPlan, foundation: "GcpFoundation",
            notes: list[str] | None = None) -> str:
    """The Cloud CDN part of a serving workload, in that workload's ``stack`` (its URL map references it): a private
    static-content bucket under the foundation's key behind a backend bucket with Cloud CDN. Returns the backend
    bucket's id for ``InferenceEndpoint(static_backend=(part.settings["static_path"], <id>))``; ``notes`` gets where to
    upload the content."""
    s = part.settings
    gcp = spec.clouds.gcp
    bucket = short(f"{gcp.project}-{spec.project}-{ENV_SHORT[spec.environment]}-{part.target}-static", 63).lower()
    cdn = StaticContentCdn(stack, "static-content", project=gcp.project, name=short(f"{foundation.name}-{part.target}", 40),
                           bucket_name=bucket, location=foundation.region, kms_key_id=foundation.key.id,
                           default_ttl_seconds=int(s.get("default_ttl_seconds") or 3600),
                           max_ttl_seconds=max(86400, int(s.get("default_ttl_seconds") or 3600)))
    TerraformOutput(stack, "static_content_bucket", value=cdn.bucket_name)
    if notes is not None:
        notes.append(f"{stack_id(stack)}: {part.target}'s static content ({s.get('static_path', '/static/*')}) is served by Cloud CDN from "
                     f"gs://{bucket} (private; read by the Cloud CDN fill agent): upload it with gcloud storage cp")
    return cdn.backend_bucket_id
