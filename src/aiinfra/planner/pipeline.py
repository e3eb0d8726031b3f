"""The guide's data pipeline on managed services (issue 30): which parts exist on which cloud, their settings, and their price.

``plan_pipeline`` returns one ``PipelinePartPlan`` a part (model.py): ``spark`` (planner/spark.py decides the engine of
each Spark data_processing workload), ``ingestion`` (each ``data_pipeline.ingestion[i]``: AWS DataSync / GCP Storage
Transfer Service), ``cache`` (each ``data_pipeline.serving[i]`` on every cloud with a serving workload: ElastiCache for
Valkey / Memorystore for Redis Cluster) and ``cdn`` (``network.inference_network.cdn`` for each public serving
workload: CloudFront / Cloud CDN). ``settings`` holds exactly the keys docs/plan-json.md lists a part, which the stacks
read; ``reason`` the arithmetic of ``monthly_usd`` from the unit prices of ``catalog/data/pipeline_prices.csv`` (each
row names its source). No cdktf here.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from aiinfra.planner import rules
from aiinfra.planner.model import PipelinePartPlan, WorkloadPlan
from aiinfra.spec.models import Spec

PRICES_CSV = Path(__file__).resolve().parent.parent / "catalog" / "data" / "pipeline_prices.csv"
GIB = 2**30
Add = Callable[[str, str, str], None]

# ElastiCache keeps reserved-memory-percent of a node's maxmemory for backups and failover: 25% is the default of the
# parameter groups (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/redis-memory-management.html); the keyspace
# gets the rest, and that is the headroom the shards are sized with.
ELASTICACHE_RESERVED_MEMORY_SHARE = 0.25
# Node types considered: memory-optimized Graviton (cache.r7g), every size the price list has.
ELASTICACHE_NODE_TYPES = ("cache.r7g.large", "cache.r7g.xlarge", "cache.r7g.2xlarge", "cache.r7g.4xlarge", "cache.r7g.8xlarge",
                          "cache.r7g.12xlarge", "cache.r7g.16xlarge")
# Memorystore for Redis Cluster sets aside part of each node against out-of-memory errors: the "default writable keyspace
# capacity" of each node type is what the data gets
# (https://cloud.google.com/memorystore/docs/cluster/cluster-node-specification). redis-shared-core-nano has variable
# performance and no SLA, "unsuitable for production workloads" (same page): not considered in production.
MEMORYSTORE_NODE_TYPES = ("REDIS_SHARED_CORE_NANO", "REDIS_STANDARD_SMALL", "REDIS_HIGHMEM_MEDIUM", "REDIS_HIGHMEM_XLARGE")
# One cluster's ceiling, in nodes (shards x (1 + replicas)): ElastiCache's node or shard limit can be raised to 500 a
# cluster for Valkey 7.2+ (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Shards.html); Memorystore for Redis
# Cluster allows 250 usage units an instance, units = shard_count x (1 + replica_count)
# (https://cloud.google.com/memorystore/docs/cluster/quotas).
MAX_CLUSTER_NODES = {"aws": 500, "gcp": 250}
VALKEY_VERSION = "8.0"  # ElastiCache for Valkey engine version of the replication group
MEMORYSTORE_REDIS_VERSION = "7.2"  # Memorystore for Redis Cluster runs Redis 7.x; the API takes no version
EVICTION_POLICY = "volatile-ttl"  # Redis / Valkey evict the keys nearest their TTL first; the TTL itself is the client's
CDN_STATIC_PATH = "/static/*"
# The managed cache policy CachingOptimized (the distributions' default): default TTL 86,400 s
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html); Cloud CDN's
# backend bucket gets the same default TTL.
CDN_DEFAULT_TTL_SECONDS = 86_400
CDN_PRICE_CLASS = "PriceClass_100"  # North America and Europe edges, the cheapest class
CDN_EXAMPLE_TB = 1  # the traffic the reason prices for scale: 1 TB a month
_OFF = re.compile(r"^\s*(none|no|off|disabled?|false|n/?a)\s*$", re.I)
_BUCKET_URL = re.compile(r"^(?P<scheme>s3|gs)://(?P<bucket>[a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(?P<prefix>.*))?$")


@lru_cache(maxsize=1)
def prices() -> dict[str, dict[str, str]]:
    """pipeline_prices.csv by key: {usd, unit, region, verified, as_of, source}."""
    with PRICES_CSV.open() as f:
        return {r["key"]: r for r in csv.DictReader(line for line in f if not line.startswith("#"))}


def price(key: str) -> float:
    return float(prices()[key]["usd"])


def _unverified(keys: list[str]) -> str:
    """A note for the reason when a price used was not read in its source (pipeline_prices.csv verified = no)."""
    bad = [k for k in keys if prices()[k]["verified"] != "yes"]
    return (f" (list price{'s' if len(bad) > 1 else ''} {', '.join(bad)} not verified against the pricing page: check before "
            "relying on it)") if bad else ""


def _money(x: float) -> str:
    return f"${x:,.2f}"


def spark_framework(framework: str | None) -> bool:
    return "spark" in (framework or "").lower()


def bucket_url(url: str) -> tuple[str, str, str] | None:
    """('aws' | 'gcp', bucket, prefix '' or 'x/') of an s3:// or gs:// URL, None for anything else."""
    m = _BUCKET_URL.match(url.strip())
    if not m:
        return None
    prefix = (m["prefix"] or "").strip("/")
    return ("aws" if m["scheme"] == "s3" else "gcp"), m["bucket"], (prefix + "/" if prefix else "")


def destination_prefix(destination: str | None, i: int) -> str:
    """The data bucket prefix ``data_pipeline.ingestion[i]`` writes to: planner/spark.py's, so the Spark job reads where the
    transfer writes."""
    from aiinfra.planner import spark

    return spark.destination_prefix(destination, i)


def cdn_asked(spec: Spec) -> bool:
    net = spec.network.inference_network if spec.network else None
    return bool(net and net.cdn and not _OFF.match(net.cdn))


def plan_pipeline(spec: Spec, catalog, workloads: list[WorkloadPlan], platforms: dict[str, str],
                  add: Add | None = None) -> list[PipelinePartPlan]:
    """The data pipeline's managed parts, in the order spark, ingestion, cache, cdn. Problems (a source that is no bucket
    URL, a cache no cluster can hold, a TTL under a second) are ``add("error", path, message)``, every one at once."""
    from aiinfra.planner.spark import spark_part

    add = add or (lambda severity, path, message: None)
    by_name = {w.name: w for w in spec.workload_inventory}
    parts: list[PipelinePartPlan] = []
    for w in workloads:
        if w.type == "data_processing" and spark_framework(by_name[w.name].framework if w.name in by_name else None):
            p = spark_part(spec, catalog, w, platforms)
            if p is not None:
                parts.append(p)
    parts += _ingestion(spec, workloads, by_name, add)
    # The cache and the CDN are wired to the vm platform's serving stacks (the nodes' cache metadata, the endpoint's
    # static path); on kubernetes the in-cluster serving gets neither yet, so neither is built nor billed there.
    on_vm = [w for w in workloads if platforms.get(w.cloud, "vm") == "vm"]
    parts += _caches(spec, on_vm, add)
    parts += _cdns(spec, on_vm)
    return parts


# ---- ingestion ------------------------------------------------------------------------------

def _ingestion_cloud(spec: Spec, workloads: list[WorkloadPlan], by_name, source_cloud: str | None) -> list[str]:
    """The clouds of the Spark workloads; else the source's cloud when it is configured; else the first configured cloud."""
    spark = sorted({w.cloud for w in workloads if w.type == "data_processing" and w.name in by_name
                    and spark_framework(by_name[w.name].framework)})
    if spark:
        return spark
    configured = spec.clouds.configured()
    if source_cloud in configured:
        return [source_cloud]
    return configured[:1]


def _region(spec: Spec, cloud: str, workloads: list[WorkloadPlan], pick=lambda w: True) -> str:
    return next((w.region for w in workloads if w.cloud == cloud and pick(w)), spec.clouds.region(cloud))


def _cron(spec: Spec, text: str) -> str | None:
    from aiinfra.planner.schedule import _from_frequency

    cron = _from_frequency(text, rules.DEFAULT_START_HOUR_UTC, 0, False)
    return cron if isinstance(cron, str) else None


# Per destination cloud: the service, its unit price (pipeline_prices.csv), and the internet egress the other cloud bills
# for the data leaving it (planner/rules.py: first-tier list prices).
_TRANSFER = {
    "aws": ("AWS DataSync", "datasync_basic_gb", "DataSync Basic task mode (no per-execution charge)",
            "Cloud Storage internet egress out of Google Cloud", rules.GCP_INTERNET_EGRESS_GIB_USD),
    "gcp": ("Storage Transfer Service", "sts_agentless_gib", "Storage Transfer Service agentless transfer (no charge)",
            "S3 internet egress out of AWS", rules.AWS_INTERNET_EGRESS_GB_USD),
}


def _ingestion(spec: Spec, workloads: list[WorkloadPlan], by_name, add: Add) -> list[PipelinePartPlan]:
    items = spec.data_pipeline.ingestion if spec.data_pipeline else []
    planned: list[tuple[int, str, tuple[str, str, str]]] = []
    for i, ing in enumerate(items):
        path = f"data_pipeline.ingestion[{i}]"
        parsed = bucket_url(ing.source)
        if parsed is None:
            add("error", f"{path}.source", f"{ing.source!r} is not a bucket URL: the transfer reads an S3 bucket (s3://bucket[/prefix]) "
                "or a Cloud Storage bucket (gs://bucket[/prefix]); copy other sources into one first")
            continue
        if ing.schedule is not None and ing.schedule.per_month > 0 and _cron(spec, ing.schedule.text) is None:
            add("error", f"{path}.schedule", f"{ing.schedule.text!r} cannot be written as a cron expression for the transfer's schedule; "
                "write a cron (UTC) such as '0 */6 * * *'")
            continue
        for cloud in _ingestion_cloud(spec, workloads, by_name, parsed[0]):
            planned.append((i, cloud, parsed))
    per_cloud = {c: sum(1 for _, cc, _ in planned if cc == c) for _, c, _ in planned}
    out = []
    for i, cloud, (source_cloud, bucket, prefix) in planned:
        ing = items[i]
        readers = [w for w in workloads if w.cloud == cloud and w.type == "data_processing"]
        total_gib = sum((by_name[w.name].dataset_size or 0) for w in readers if w.name in by_name) / GIB
        gib = round(total_gib / per_cloud[cloud], 2)
        who = (f"the dataset_size of {', '.join(w.name for w in readers)} ({total_gib:,.1f} GiB)" if readers else
               f"no data_processing workload on {cloud} reads it (0 GiB)")
        volume = (f"volume: {gib:,.1f} GiB a month, assumed to be {who} arriving new once a month"
                  + (f", split over the {per_cloud[cloud]} ingestion entries on {cloud}" if per_cloud[cloud] > 1 else ""))
        cross = source_cloud != cloud
        service, key, what, egress_name, egress_rate = _TRANSFER[cloud]
        unit = price(key)
        usd = gib * unit
        why = f"{what}: {gib:,.1f} GiB x ${unit}/GB = {_money(usd)}"
        keys = [key]
        if cross:
            egress = gib * egress_rate
            usd += egress
            why += f" + {egress_name} {gib:,.1f} GiB x ${egress_rate}/GB = {_money(egress)}"
        sched = ing.schedule
        cron = _cron(spec, sched.text) if sched is not None and sched.per_month > 0 else None
        when = (f"runs at {cron!r} (UTC)" if cron else "no schedule: runs when started")
        why = (f"{ing.source} to the data bucket's {destination_prefix(ing.destination, i)}, {when}; {volume}; {why}"
               f"{f' = {_money(usd)}' if cross else ''}/month; the source's request charges are left out (small next to the data){_unverified(keys)}")
        out.append(PipelinePartPlan(
            cloud=cloud, region=_region(spec, cloud, workloads, lambda w: w.type == "data_processing"), part="ingestion",
            target=f"data_pipeline.ingestion[{i}]", service=service, monthly_usd=round(usd, 2), reason=why,
            settings={"source_url": ing.source, "source_cloud": source_cloud, "source_bucket": bucket, "source_prefix": prefix,
                      "destination_prefix": destination_prefix(ing.destination, i), "schedule": cron, "gib_per_month": gib}))
    return out


# ---- cache -------------------------------------------------------------------------------

def _cheapest(candidates: list[tuple[str, float, float]], size: float | None, replicas: int) -> tuple[str, int, float, float]:
    """(node type, shards, $/node-hour, usable a node) of the cheapest cluster of ``candidates`` ((type, usable a node,
    $/node-hour), smallest first, usable in size's unit) holding ``size``; no size: one shard of the first."""
    best = None
    for t, usable, hourly in candidates[:None if size else 1]:
        shards = max(1, math.ceil(size / usable)) if size else 1
        cost = shards * (1 + replicas) * hourly
        if best is None or cost < best[4] - 1e-9:
            best = (t, shards, hourly, usable, cost)
    return best[:4]  # type: ignore[index]


def _aws_cache(size_gib: float | None, replicas: int) -> tuple[str, int, float, str]:
    """(node type, shards, $/node-hour, why) of the cheapest ElastiCache for Valkey cluster that holds size_gib."""
    off = price("valkey_discount")
    candidates = [(t, price(f"memory_gib.{t}") * (1 - ELASTICACHE_RESERVED_MEMORY_SHARE), round(price(f"elasticache_redis.{t}") * (1 - off), 4))
                  for t in ELASTICACHE_NODE_TYPES]
    t, shards, hourly, usable = _cheapest(candidates, size_gib, replicas)
    why = (f"{t}: {price(f'memory_gib.{t}'):g} GiB, {usable:.2f} GiB usable after ElastiCache's default "
           f"{ELASTICACHE_RESERVED_MEMORY_SHARE:.0%} reserved-memory-percent; Valkey ${price(f'elasticache_redis.{t}')} (Redis OSS) x "
           f"{1 - off:g} = ${hourly}/node-hour")
    return t, shards, hourly, why


def _gcp_cache(size_bytes: int | None, replicas: int, production: bool) -> tuple[str, int, float, str]:
    """The same for Memorystore for Redis Cluster, in GB of writable keyspace."""
    candidates = [(t, price(f"writable_gb.{t}"), price(f"memorystore_cluster.{t}")) for t in MEMORYSTORE_NODE_TYPES
                  if not (production and t == "REDIS_SHARED_CORE_NANO")]
    t, shards, hourly, usable = _cheapest(candidates, size_bytes / 1e9 if size_bytes else None, replicas)
    why = f"{t}: {usable:g} GB writable keyspace a node (Memorystore's default reserve set aside); ${hourly}/node-hour"
    return t, shards, hourly, why


def _caches(spec: Spec, workloads: list[WorkloadPlan], add: Add) -> list[PipelinePartPlan]:
    items = spec.data_pipeline.serving if spec.data_pipeline else []
    clouds = sorted({w.cloud for w in workloads if w.type == "inference"})
    out = []
    for i, s in enumerate(items):
        path = f"data_pipeline.serving[{i}]"
        ttl = None
        if s.ttl is not None:
            if s.ttl < 1:
                add("error", f"{path}.ttl", f"a ttl of {s.ttl:g} s rounds to 0: a key would expire as it is written; write at least "
                    "'1s' (or leave ttl out: keys never expire)")
                continue
            ttl = int(round(s.ttl))
        for cloud in clouds:
            clients = [w for w in workloads if w.cloud == cloud and w.type == "inference"]
            zones = max(len(w.zones) for w in clients)
            replicas = 1 if zones > 1 else 0
            size_gib = round(s.cache_size / GIB, 2) if s.cache_size else None
            if cloud == "aws":
                node, shards, hourly, why_node = _aws_cache(size_gib, replicas)
                service, engine, version = "ElastiCache for Valkey", "valkey", VALKEY_VERSION
                keys = [f"elasticache_redis.{node}", "valkey_discount"]
            else:
                node, shards, hourly, why_node = _gcp_cache(s.cache_size, replicas, spec.environment == "production")
                service, engine, version = "Memorystore for Redis Cluster", "redis", MEMORYSTORE_REDIS_VERSION
                keys = [f"memorystore_cluster.{node}"]
            nodes = shards * (1 + replicas)
            if nodes > MAX_CLUSTER_NODES[cloud]:
                add("error", f"{path}.cache_size", f"{s.cache_size / 1e9:,.0f} GB needs {shards} shards x {1 + replicas} nodes = {nodes} "
                    f"nodes of {node} on {cloud}, over the {MAX_CLUSTER_NODES[cloud]} nodes one {service} cluster can hold; "
                    "split the cache or make it smaller")
                continue
            usd = nodes * hourly * rules.HOURS_PER_MONTH
            size_txt = (f"cache_size {s.cache_size / 1e9:g} GB = {size_gib:,.2f} GiB" if s.cache_size else
                        "no cache_size: one shard of the smallest node type")
            az = (f"{replicas} replica a shard, Multi-AZ with automatic failover: {', '.join(c.name for c in clients)} run in "
                  f"{zones} zones" if replicas else f"no replica: the serving workloads run in one zone")
            ttl_txt = (f"keys expire after {ttl:,} s (the clients set it: AIINFRA_CACHE_TTL_SECONDS), eviction {EVICTION_POLICY}"
                       if ttl else f"no ttl: keys never expire, eviction {EVICTION_POLICY} evicts only keys given one")
            reason = (f"{size_txt}; {why_node}; {shards} shard{'s' if shards > 1 else ''} (the cheapest node type holding it); {az}; "
                      f"{ttl_txt}; {shards} x {1 + replicas} nodes x ${hourly} x {rules.HOURS_PER_MONTH:g} h = {_money(usd)}/month"
                      f"{_unverified(keys)}")
            out.append(PipelinePartPlan(
                cloud=cloud, region=_region(spec, cloud, workloads, lambda w: w.type == "inference"), part="cache", target=path,
                service=service, monthly_usd=round(usd, 2), reason=reason,
                settings={"engine": engine, "engine_version": version, "node_type": node, "shards": shards,
                          "replicas_per_shard": replicas, "multi_az": replicas >= 1, "ttl_seconds": ttl,
                          "eviction_policy": EVICTION_POLICY, "size_gib": size_gib, "clients": [c.name for c in clients]}))
    return out


# ---- cdn ---------------------------------------------------------------------------------

def _cdns(spec: Spec, workloads: list[WorkloadPlan]) -> list[PipelinePartPlan]:
    if not cdn_asked(spec):
        return []
    from aiinfra.planner.security import WAF_RULES

    out = []
    tb_gb = CDN_EXAMPLE_TB * 1000
    for w in workloads:
        if w.type != "inference" or (w.exposure or "public") != "public":
            continue
        if w.cloud == "aws":
            fixed = rules.WAF_WEB_ACL_MONTH_USD + WAF_RULES * rules.WAF_RULE_MONTH_USD
            gb, req = price("cloudfront_na_gb"), price("cloudfront_na_https_10k")
            reason = (f"CloudFront ({CDN_PRICE_CLASS}) in front of a static-content bucket on {CDN_STATIC_PATH}, with a CLOUDFRONT-scope "
                      f"WAF web ACL: ${rules.WAF_WEB_ACL_MONTH_USD:g} an ACL + {WAF_RULES} rules x ${rules.WAF_RULE_MONTH_USD:g} = "
                      f"{_money(fixed)}/month fixed, plus ${rules.WAF_MILLION_REQUESTS_USD} a million requests inspected; traffic "
                      f"${gb}/GB (North America, first 10 TB) and ${req} per 10,000 HTTPS requests: the static content's volume is "
                      f"not in the spec, so only the fixed part is in the total ({CDN_EXAMPLE_TB} TB a month would add "
                      f"{_money(tb_gb * gb)} at list price, before CloudFront's always-free 1 TB and 10 million requests a month, left "
                      "out as the clouds' free tiers are in planner/rules.py: the account's other distributions may use them)")
            keys = ["cloudfront_na_gb", "cloudfront_na_https_10k"]
            service, price_class = "CloudFront", CDN_PRICE_CLASS
        else:
            fixed = 0.0
            gib, req = price("cloud_cdn_na_gib"), price("cloud_cdn_lookup_10k")
            reason = (f"Cloud CDN on a backend bucket (static content) on {CDN_STATIC_PATH} of {w.name}'s URL map: no fixed charge "
                      f"(the load balancer is the endpoint's, already costed); cache egress ${gib}/GiB (North America, first 10 TiB) "
                      f"and ${req} per 10,000 cache lookups: the static content's volume is not in the spec, so nothing is in the "
                      f"total ({CDN_EXAMPLE_TB} TB a month would add {_money(tb_gb * 1e9 / GIB * gib)})")
            keys = ["cloud_cdn_na_gib", "cloud_cdn_lookup_10k"]
            service, price_class = "Cloud CDN", None
        out.append(PipelinePartPlan(
            cloud=w.cloud, region=w.region, part="cdn", target=w.name, service=service, monthly_usd=round(fixed, 2),
            reason=reason + _unverified(keys),
            settings={"endpoint": w.name, "static_path": CDN_STATIC_PATH, "default_ttl_seconds": CDN_DEFAULT_TTL_SECONDS,
                      "price_class": price_class}))
    return out


def unpriced_traffic(parts: list[PipelinePartPlan]) -> str | None:
    """The info finding's text when a CDN is planned: its static traffic is not in the spec, so not in the total."""
    cdns = [p for p in parts if p.part == "cdn"]
    if not cdns:
        return None
    return (f"the CDN in front of {', '.join(sorted({p.target for p in cdns}))} is priced for its fixed fees only: the volume of static "
            "content it serves is not in the spec (the reasons give the per-GB rate and what 1 TB a month adds)")
