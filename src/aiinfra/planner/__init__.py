"""Requirements -> placement, sizing and cost. No cloud SDK, no jsii: pure Python over the catalog."""

from __future__ import annotations

from aiinfra.catalog import Catalog, load_catalog
from aiinfra.planner.checks import (check_accelerator_platform, check_images, check_partial_regions, check_performance, check_quotas,
                                    check_state)
from aiinfra.planner.compute import WorkloadPlanner
from aiinfra.planner.model import Finding, Plan, SecurityExceptionPlan, Totals, WorkloadPlan
from aiinfra.planner.storage import plan_storage
from aiinfra.spec import LoadedSpec

__all__ = ["make_plan", "Plan", "WorkloadPlan", "Finding"]


def make_plan(loaded: LoadedSpec, catalog: Catalog | None = None) -> Plan:
    """Plan every workload of a checked spec. Errors are findings; the caller decides to stop."""
    spec = loaded.spec
    catalog = catalog or load_catalog()
    findings: list[Finding] = []

    def add(severity: str, path: str, message: str) -> None:
        findings.append(Finding(path, message, loaded.line(path), severity))  # type: ignore[arg-type]

    workloads: list[WorkloadPlan] = []
    for i, w in enumerate(spec.workload_inventory):
        planned = WorkloadPlanner(spec, catalog, i, w, add).plan()
        if planned is not None:
            workloads.append(planned)
    storage = plan_storage(spec, catalog, workloads)
    check_quotas(spec, workloads, add)
    check_performance(spec, workloads, add)
    check_images(spec, workloads, add)
    check_accelerator_platform(spec, workloads, add)
    check_partial_regions(spec, catalog, workloads, add)
    check_state(spec, workloads, add)

    from aiinfra.planner.security import plan_security

    security = plan_security(spec, workloads)
    guarded = sum(c.monthly_usd for c in security)
    from aiinfra.planner.network import plan_network

    network = plan_network(spec, workloads)
    networked = sum(n.monthly_usd for n in network)
    from aiinfra.planner.platform import plan_clusters, pool_reason

    clusters = plan_clusters(spec, workloads, add, catalog)
    for c in clusters:
        for w in workloads:
            pools = sorted((p for p in c.pools if w.name in p.workloads), key=lambda p: p.capacity_type != "on_demand")
            if w.cloud == c.cloud and w.region == c.region and pools:
                w.node_pools = [p.name for p in pools]
                w.reasons["node_pool"] = pool_reason(w.name, pools, c, spec, w.type)
    from aiinfra.planner.pipeline import plan_pipeline, unpriced_traffic

    platforms = {c: getattr(spec.clouds, c).platform for c in spec.clouds.configured()}
    pipeline = plan_pipeline(spec, catalog, workloads, platforms, add)
    piped = sum(p.monthly_usd for p in pipeline)
    traffic = unpriced_traffic(pipeline)
    if traffic:
        add("info", "network.inference_network.cdn", traffic)
    controlled = sum(c.monthly_cost for c in clusters)
    systems = sum(c.system_pool.monthly_usd for c in clusters if c.system_pool)
    compute = sum(w.monthly_usd for w in workloads)
    stored = sum(s.monthly_usd for s in storage)
    od = sum(w.on_demand_monthly_usd for w in workloads)
    by_cloud: dict[str, float] = {}
    for w in workloads:
        by_cloud[w.cloud] = by_cloud.get(w.cloud, 0.0) + w.monthly_usd
    for s in storage:
        by_cloud[s.cloud] = by_cloud.get(s.cloud, 0.0) + s.monthly_usd
    for c in [*security, *network]:
        by_cloud[c.cloud] = by_cloud.get(c.cloud, 0.0) + c.monthly_usd
    for p in pipeline:
        by_cloud[p.cloud] = by_cloud.get(p.cloud, 0.0) + p.monthly_usd
    for k in clusters:
        if k.monthly_cost:
            by_cloud[k.cloud] = by_cloud.get(k.cloud, 0.0) + k.monthly_cost
        if k.system_pool:
            by_cloud[k.cloud] = by_cloud.get(k.cloud, 0.0) + k.system_pool.monthly_usd
    totals = Totals(
        compute_monthly_usd=round(compute, 2), storage_monthly_usd=round(stored, 2),
        monthly_usd=round(compute + stored + guarded + networked + controlled + systems + piped, 2),
        on_demand_equivalent_monthly_usd=round(od + stored + guarded + networked + controlled + systems + piped, 2),
        spot_savings_monthly_usd=round(od - compute, 2),
        by_cloud_monthly_usd={k: round(v, 2) for k, v in sorted(by_cloud.items())},
        gpus_steady=sum(w.nodes * w.gpus_per_node for w in workloads),
        gpus_peak=sum(w.max_nodes * w.gpus_per_node for w in workloads),
        security_monthly_usd=round(guarded, 2), network_monthly_usd=round(networked, 2), control_plane_monthly_usd=round(controlled, 2),
        system_pools_monthly_usd=round(systems, 2), pipeline_monthly_usd=round(piped, 2),
    )
    prices = {f.path.stem: f.prices_as_of for f in catalog.files if f.prices_as_of}
    stale = catalog_staleness(prices)
    if stale:
        findings.append(Finding("catalog", stale, severity="warning"))
    if "kubernetes" in platforms.values():
        from aiinfra.planner.platform import versions_staleness

        old_versions = versions_staleness(today())
        if old_versions:
            findings.append(Finding("catalog", old_versions, severity="warning"))
    order = {"error": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: order[f.severity])
    generated = {f.path.stem: f.generated for f in catalog.files}
    exceptions = [SecurityExceptionPlan(e.rule, e.resource, e.reason) for e in spec.security_exceptions]
    from aiinfra.planner.applied import not_applied
    from aiinfra.planner.monitoring import plan_monitoring

    plan = Plan(spec.project, spec.environment, loaded.source, generated, workloads, storage, totals, findings,
                security_exceptions=exceptions, monitoring=plan_monitoring(spec, workloads, frozenset(p.target for p in pipeline if p.part == "spark")), not_applied=not_applied(spec, frozenset(w.name for w in workloads if platforms.get(w.cloud) == "kubernetes"), pipeline),
                security=security, network=network, catalog_prices_as_of=prices, platforms=platforms, clusters=clusters, pipeline=pipeline)
    if clusters:
        # The Kueue ClusterQueue's quotas (k8s/queues.py splits the spec's quota over the pools, or takes their capacity):
        # in each cluster's reasons, so the plan says what the queue will admit.
        import dataclasses

        from aiinfra.k8s.queues import quota_reasons

        plan.clusters = [dataclasses.replace(c, reasons=c.reasons + tuple(quota_reasons(spec, plan, c))) for c in clusters]
        plan.findings += run_over_quota(loaded, spec, [w for w in workloads if platforms.get(w.cloud) == "kubernetes"])
    return plan


def run_over_quota(loaded, spec, workloads) -> list[Finding]:
    """Batch workloads on kubernetes one run of which the namespace's quota can never admit: a run's pods together request
    more cpu / memory than ``resource_quotas.<environment>`` allows (k8s/jobs.py: each pod requests NODE_REQUEST_SHARE of
    its node and is limited to the whole node). The ResourceQuota refuses the pods and Kueue's ClusterQueue (whose
    nominal quotas add up to the same figures) never admits the run: it waits for ever. GPUs are checked with every
    workload at once (planner/checks.py)."""
    from aiinfra.k8s.jobs import NODE_REQUEST_SHARE

    def gib(v: float) -> str:
        return f"{v / 2**30:,.0f} GiB"

    quota = spec.resource_quotas.get(spec.environment)
    if quota is None:
        return []
    out = []
    base = f"resource_quotas.{spec.environment}"
    for w in workloads:
        if w.type == "inference":
            continue
        mem = w.memory_gib_per_node * 2**30
        asks = (("requests.cpu", quota.requests_cpu, w.nodes * w.vcpus_per_node * NODE_REQUEST_SHARE, lambda v: f"{v:g} cpu"),
                ("limits.cpu", quota.limits_cpu, w.nodes * w.vcpus_per_node, lambda v: f"{v:g} cpu"),
                ("requests.memory", quota.requests_memory, w.nodes * mem * NODE_REQUEST_SHARE, gib),
                ("limits.memory", quota.limits_memory, w.nodes * mem, gib))
        for key, limit, need, show in asks:
            if limit is not None and need > limit:
                share = f"{NODE_REQUEST_SHARE:.0%} of" if key.startswith("requests") else "all of"
                out.append(Finding(f"{base}.{key}", f"one run of {w.name} ({w.nodes} x {w.instance_type}, each pod asking {share} its "
                                   f"node) needs {show(need)}, over the quota's {show(limit)}: the namespace's quota and its Kueue queue "
                                   "would never admit it; raise the quota or plan smaller or fewer nodes",
                                   loaded.line(f"{base}.{key}"), "warning"))  # type: ignore[arg-type]
    return out


STALE_PRICES_DAYS = 90  # issue 26: list prices move (AWS cut P4/P5 up to 45% in June 2025); older data is flagged


def today():
    """The date plans are judged on: AIINFRA_TODAY (YYYY-MM-DD, for tests and reproducible reviews), else the clock."""
    import datetime
    import os

    env = os.environ.get("AIINFRA_TODAY")
    return datetime.date.fromisoformat(env) if env else datetime.date.today()


def catalog_staleness(prices_as_of: dict[str, str], on=None) -> str | None:
    """One warning line when any cloud file's price data is older than STALE_PRICES_DAYS, else None."""
    import datetime

    on = on or today()
    old = []
    for name, when in sorted(prices_as_of.items()):
        try:
            age = (on - datetime.date.fromisoformat(when)).days
        except ValueError:
            continue
        if age > STALE_PRICES_DAYS:
            old.append(f"{name} prices as of {when} ({age} days old)")
    if not old:
        return None
    return (f"catalog {', '.join(old)}: older than {STALE_PRICES_DAYS} days, so costs may not be today's list prices; "
            "run `aiinfra catalog refresh` and plan with AIINFRA_CATALOG_DIR set to its output")
