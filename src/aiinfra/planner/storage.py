"""Storage tiers per cloud: the guide's hot / warm / cold block mapped to each cloud's classes,
sized from the workloads' datasets and models, with lifecycle days.

hot  -> block storage attached to nodes (instance NVMe + gp3/io2 or pd-ssd/hyperdisk);
warm -> object storage, moved to the infrequent-access class after ``warm`` days;
cold -> archive classes after ``lifecycle_management.model_archival`` days, deep archive after a year.
"""

from __future__ import annotations

import math

from aiinfra.catalog import Catalog
from aiinfra.planner import memory, rules
from aiinfra.planner.model import CloudStoragePlan, StorageTierPlan, WorkloadPlan
from aiinfra.spec.models import Spec, StorageTier

GIB = 2**30
CLASSES = {
    "aws": {"warm": "STANDARD_IA", "cold": "GLACIER_IR", "archive": "DEEP_ARCHIVE", "standard": "STANDARD"},
    "gcp": {"warm": "NEARLINE", "cold": "COLDLINE", "archive": "ARCHIVE", "standard": "STANDARD"},
}


def _tier(spec: Spec, name: str) -> StorageTier | None:
    return getattr(spec.storage_tiers, name) if spec.storage_tiers else None


def plan_storage(spec: Spec, catalog: Catalog, plans: list[WorkloadPlan]) -> list[CloudStoragePlan]:
    by_name = {w.name: w for w in spec.workload_inventory}
    lm = spec.cost_optimization.lifecycle_management if spec.cost_optimization else None
    gf = spec.growth_forecast
    growth = gf.dataset_growth if gf and gf.dataset_growth else 1.0
    warm_t, cold_t = _tier(spec, "warm"), _tier(spec, "cold")
    warm_days = warm_t.transition_after_days if warm_t and warm_t.transition_after_days else rules.WARM_AFTER_DAYS
    cold_days = (cold_t.transition_after_days if cold_t and cold_t.transition_after_days
                 else lm.model_archival if lm and lm.model_archival else rules.COLD_AFTER_DAYS)
    cold_source = ("storage_tiers.cold.transition_after_days" if cold_t and cold_t.transition_after_days
                   else "cost_optimization.lifecycle_management.model_archival" if lm and lm.model_archival else "the default")
    archive_days = max(rules.ARCHIVE_AFTER_DAYS, cold_days + 90)
    retention = lm.data_retention if lm else None
    out = []
    for cloud in sorted({p.cloud for p in plans}):
        mine = [p for p in plans if p.cloud == cloud]
        region = mine[0].region
        datasets = sum(by_name[p.name].dataset_size or 0 for p in mine) * growth
        models = sum(memory.checkpoint_bytes(by_name[p.name].model_size.estimated_parameters, by_name[p.name].training_method)[0]
                     if by_name[p.name].model_size and p.type == "training" else
                     (by_name[p.name].model_size.bytes or by_name[p.name].model_size.estimated_parameters * 2) if by_name[p.name].model_size else 0
                     for p in mine) * rules.MODEL_VERSIONS_KEPT
        price = lambda cls: catalog.storage[(cloud, cls)].usd_gib_month  # noqa: E731

        hot_gib = 0.0
        hot_cost = 0.0
        hot_classes = set()
        for p in mine:
            if p.data_volume_gib_per_node:
                hot_gib += p.data_volume_gib_per_node * p.nodes
                hot_classes.add(p.data_volume_type)
                # Volumes live with their instances (deleted on termination): billed for the hours they run.
                hot_cost += p.data_volume_gib_per_node * p.nodes * price(p.data_volume_type) * p.hours_per_month / rules.HOURS_PER_MONTH
        nvme = sum(p.local_nvme_gib_per_node * p.nodes for p in mine)
        hot = StorageTierPlan("hot", " + ".join(sorted(hot_classes | ({"instance NVMe"} if nvme else set()))) or "none", math.ceil(hot_gib),
                              None, round(hot_cost, 2),
                              f"{nvme:,} GiB of instance NVMe (in the instance price) and {math.ceil(hot_gib):,} GiB of volumes, billed for the hours their nodes run")
        warm_size = _tier(spec, "warm").size / GIB if warm_t and warm_t.size else (datasets + models) / GIB
        cold_size = _tier(spec, "cold").size / GIB if cold_t and cold_t.size else warm_size
        std = CLASSES[cloud]
        warm = StorageTierPlan("warm", std["warm"], math.ceil(warm_size), warm_days, round(warm_size * price(std["warm"]), 2),
                               ("storage_tiers.warm.size" if warm_t and warm_t.size else
                                f"datasets {datasets / 1e9:,.0f} GB{f' x {growth:g} growth' if growth > 1 else ''} + {rules.MODEL_VERSIONS_KEPT} model versions")
                               + f"; objects land in {std['standard']} and move to {std['warm']} after {warm_days} days")
        cold = StorageTierPlan("cold", std["cold"], math.ceil(cold_size), cold_days, round(cold_size * price(std["cold"]), 2),
                               ("storage_tiers.cold.size" if cold_t and cold_t.size else "one archived generation of the warm tier")
                               + f"; {std['cold']} after {cold_days} days ({cold_source}), {std['archive']} after {archive_days} days")
        expiration = None  # "compliance_based" retention: nothing is deleted by lifecycle.
        total = hot.monthly_usd + warm.monthly_usd + cold.monthly_usd
        out.append(CloudStoragePlan(cloud, region, [hot, warm, cold], std["archive"], archive_days,
                                    rules.ABORT_INCOMPLETE_UPLOADS_DAYS, expiration if retention else None, round(total, 2)))
    return out
