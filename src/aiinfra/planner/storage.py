"""Storage tiers per cloud: the guide's hot / warm / cold block mapped to each cloud's classes,
sized from the workloads' datasets and models, with lifecycle days.

hot  -> block storage attached to nodes (instance NVMe + gp3/io2 or pd-ssd/hyperdisk);
warm -> object storage tiered by access, never by age (issue 27): S3 Intelligent-Tiering without its
        archive tiers / GCS Autoclass, so a dataset read after a year is still read in milliseconds
        and pays no retrieval or early-deletion charge (rules.py says why and cites both);
cold -> what nobody reads for 90 days (Intelligent-Tiering's Archive Instant Access / Autoclass's
        COLDLINE), and on AWS the spec's archive prefixes, the only objects moved by age (GLACIER_IR at
        ``lifecycle_management.model_archival`` days, DEEP_ARCHIVE after a year).
Noncurrent versions (replaced checkpoints) expire after ``noncurrent_version_expiration`` days.
"""

from __future__ import annotations

import math

from aiinfra.catalog import Catalog
from aiinfra.planner import memory, rules
from aiinfra.planner.model import CloudStoragePlan, StorageTierPlan, WorkloadPlan
from aiinfra.planner.security import compliance_retention_days
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
        aws = cloud == "aws"
        live = "INTELLIGENT_TIERING" if aws else "AUTOCLASS"
        live_price = rules.S3_IT_FREQUENT_GB_MONTH_USD if aws else price(std["standard"])
        warm = StorageTierPlan("warm", live, math.ceil(warm_size), 0, round(warm_size * live_price, 2),
                               ("storage_tiers.warm.size" if warm_t and warm_t.size else
                                f"datasets {datasets / 1e9:,.0f} GB{f' x {growth:g} growth' if growth > 1 else ''} + {rules.MODEL_VERSIONS_KEPT} model versions")
                               + (f"; S3 Intelligent-Tiering from day 0, without its archive tiers: costed at Frequent Access "
                                  f"${live_price}/GB-month (an upper bound: unread 30 days ${rules.S3_IT_INFREQUENT_GB_MONTH_USD}, 90 days "
                                  f"${rules.S3_IT_ARCHIVE_INSTANT_GB_MONTH_USD}), read in milliseconds at any age, no retrieval charge"
                                  if aws else
                                  f"; Autoclass (terminal class ARCHIVE): costed at STANDARD ${live_price}/GB-month while read (unread 30 days "
                                  f"NEARLINE, 90 COLDLINE, 365 ARCHIVE, back to STANDARD on a read), no retrieval or early-deletion charge"))
        prefixes = list(lm.archive_prefixes) if lm else []
        if aws and prefixes:
            cold = StorageTierPlan("cold", std["cold"], math.ceil(cold_size), cold_days, round(cold_size * price(std["cold"]), 2),
                                   ("storage_tiers.cold.size" if cold_t and cold_t.size else "one archived generation of the warm tier")
                                   + f" under the archive prefixes {', '.join(prefixes)}: {std['cold']} after {cold_days} days ({cold_source}), "
                                   f"{std['archive']} after {archive_days} days; " + _terms(std["cold"]) + "; " + _terms(std["archive"]))
        else:
            cold_class = "INTELLIGENT_TIERING" if aws else "AUTOCLASS"
            cold_price = rules.S3_IT_ARCHIVE_INSTANT_GB_MONTH_USD if aws else price(std["cold"])
            cold = StorageTierPlan("cold", cold_class, math.ceil(cold_size), 90, round(cold_size * cold_price, 2),
                                   ("storage_tiers.cold.size" if cold_t and cold_t.size else "one archived generation of the warm tier")
                                   + (f", unread 90 days: Archive Instant Access ${cold_price}/GB-month, still read in milliseconds"
                                      if aws else f", unread 90 days: COLDLINE ${cold_price}/GB-month (ARCHIVE after 365 days unread), "
                                      "read without a retrieval charge")
                                   + ("" if prefixes else "; no prefix is moved by age (lifecycle_management.archive_prefixes names archives)")
                                   + (f"; the archive prefixes {', '.join(prefixes)} are left to Autoclass (it refuses age rules beside it)"
                                      if prefixes else ""))
        # Noncurrent versions: each replaced checkpoint kept `keep` days (None: never deleted; costed after a year).
        keep = _noncurrent_days(spec, lm)
        ckpt_month = sum(memory.checkpoint_bytes(by_name[p.name].model_size.estimated_parameters, by_name[p.name].training_method)[0]
                         * max(p.runs_per_month, p.runs_per_month * p.runtime_hours / rules.CHECKPOINT_INTERVAL_HOURS)
                         for p in mine if p.type == "training" and by_name[p.name].model_size)
        locked = compliance_retention_days(spec) or 0  # a locked version outlives the expiry until its lock ends
        held_days = max(keep, locked) if keep is not None else 365
        noncurrent_gib = ckpt_month / GIB * held_days * 24 / rules.HOURS_PER_MONTH
        noncurrent_usd = noncurrent_gib * live_price
        objects = (warm_size + cold_size + noncurrent_gib) * 1024 / rules.MEAN_OBJECT_MIB
        fee = objects / 1000 * (rules.S3_IT_MONITORING_1000_OBJECTS_USD if aws else rules.GCS_AUTOCLASS_1000_OBJECTS_USD)
        expiration = None  # current versions are never deleted by lifecycle
        kept = (f"noncurrent versions expire {keep} days after they are replaced ("
                + ("cost_optimization.lifecycle_management.noncurrent_version_expiration" if lm and lm.noncurrent_version_expiration
                   else "the default") + ")" + (f", locked ones after their {locked}-day lock" if locked > keep else "")) if keep is not None else (
            "noncurrent versions are kept (noncurrent_version_expiration: never): they grow every month, costed after a year")
        reason = (f"live data tiered by access ({'S3 Intelligent-Tiering, no archive tiers' if aws else 'Autoclass, terminal class ARCHIVE'}), "
                  f"never moved by age alone; {kept}: {noncurrent_gib:,.0f} GiB of replaced checkpoints (one each "
                  f"{rules.CHECKPOINT_INTERVAL_HOURS:g} h of training) ${noncurrent_usd:,.2f}/month; "
                  f"{'monitoring' if aws else 'Autoclass management'} ${fee:,.2f}/month for {objects:,.0f} objects at "
                  f"{rules.MEAN_OBJECT_MIB} MiB; retrieval and early deletion $0 for live data "
                  f"({'Intelligent-Tiering' if aws else 'Autoclass'} charges neither)"
                  + (f"; archive prefixes: {_terms(std['cold'])}, {_terms(std['archive'])} (reads not estimated)" if aws and prefixes else ""))
        total = hot.monthly_usd + warm.monthly_usd + cold.monthly_usd + noncurrent_usd + fee
        out.append(CloudStoragePlan(cloud, region, [hot, warm, cold], std["archive"], archive_days,
                                    rules.ABORT_INCOMPLETE_UPLOADS_DAYS, expiration, round(total, 2),
                                    live_tiering=live, archive_prefixes=prefixes if aws else [], noncurrent_expiration_days=keep,
                                    noncurrent_gib=math.ceil(noncurrent_gib), noncurrent_monthly_usd=round(noncurrent_usd, 2),
                                    tiering_fee_monthly_usd=round(fee, 2), reason=reason))
    return out


def _terms(cls: str) -> str:
    """'GLACIER_IR: at least 90 days (billed for the rest when deleted earlier), $0.03/GB read'."""
    restore = ", after a restore of up to 12 h (a GET before it fails with InvalidObjectState)" if cls == "DEEP_ARCHIVE" else ""
    return (f"{cls}: at least {rules.MIN_STORAGE_DAYS[cls]} days (billed for the rest when deleted earlier), "
            f"${rules.RETRIEVAL_USD_GB[cls]}/GB read{restore}")


def _noncurrent_days(spec: Spec, lm) -> int | None:
    """Days noncurrent versions are kept: the spec's key ('never': None), else the default. Compliance
    retention is the locks' to keep (S3 Object Lock, GCS object retention): a lifecycle rule cannot
    delete a locked version before its lock ends, so it needs no exception here."""
    if lm and lm.noncurrent_version_expiration is not None:
        return lm.noncurrent_version_expiration or None
    return rules.NONCURRENT_EXPIRATION_DAYS
