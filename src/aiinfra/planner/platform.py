"""Which platform each cloud runs its workloads on, and, on Kubernetes, the clusters and node pools the plan's
shapes become (SPEC.md v3 "Platforms").

The planner stays platform-neutral (STYLE.md "Kubernetes platform"): a workload's shape, node counts and capacity
type are the same on both platforms. Here the platform only decides what they become: on ``vm`` an instance group
a workload (the stacks' business, nothing to derive); on ``kubernetes`` one cluster per cloud and region, and a
node pool per (shape, capacity type) that the workloads of that shape share. A pool's bounds are the sum of its
workloads': min 0 for batch work (training, data processing: the pool scales from zero when a run starts), the
serving minimum for serving; max the sum of their maxima. A ``mixed`` serving workload (an on-demand base with spot
above it) lands on two pools, its base on the on-demand one and the rest on the spot one.

Pools are separate, and named apart, where one pool could not hold both workloads: a compact-placed multi-node run
(one zone, a cluster placement group / compact placement policy) never shares with a pool that spreads over zones
(``-compact``), and capacity reserved for one workload (a capacity reservation or Capacity Block) is its own pool
(``-<reservation>``). A pool's name depends on its own key only, never on the other pools: names are construct ids,
and a rename replaces the node group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal

from aiinfra.naming import resource_prefix, short
from aiinfra.planner import rules
from aiinfra.planner.model import WorkloadPlan

Add = Callable[[str, str, str], None]
CapacityType = Literal["spot", "on_demand"]
BATCH = ("training", "data_processing")


@dataclass(frozen=True)
class NodePoolPlan:
    """One node pool: a planned shape and capacity type, shared by the workloads planned on it.

    ``capacity_type``: ``spot`` or ``on_demand`` (a reservation or Capacity Block is on-demand, named in
    ``reservation``). ``min_nodes``: 0 unless a serving workload keeps replicas on it; ``max_nodes``: the sum of its
    workloads' maxima. ``collective``: a workload on it needs the shape's EFA / GPUDirect interconnect
    (``interconnect``); ``compact``: its nodes share one placement group / compact placement policy (one zone).
    ``zones``: where its nodes may run (AWS zone ids as the plan's workloads carry them, GCP zone names)."""

    cloud: str
    region: str
    name: str
    instance_type: str
    capacity_type: CapacityType
    gpu: str  # "" for CPU shapes
    gpu_count: int
    accelerator_runtime: str  # "cuda", "neuron", "tpu", "" (WorkloadPlan.accelerator_runtime)
    min_nodes: int
    max_nodes: int
    workloads: tuple[str, ...]
    collective: bool
    zones: tuple[str, ...]
    accelerator_type: str = ""  # GCP guest accelerator id (nvidia-h100-80gb); "" on AWS
    gpu_memory_gib: int = 0
    interconnect: str = ""  # "efa", "tcpx", "tcpxo", "rdma" or ""
    efa_interfaces_per_node: int = 0
    gpu_nics_per_node: int = 0
    compact: bool = False
    local_nvme_gib_per_node: int = 0
    reservation: str | None = None
    capacity_block: bool = False
    serving: bool = False  # a serving workload keeps replicas on it (min_nodes > 0 when it has a minimum)
    batch: bool = False  # a training / data-processing workload runs on it (it scales from zero)
    # The cluster's system pool (ClusterPlan.system_pool) is the one pool costed on its own: its nodes run no
    # workload, so no workload line carries them. A workload's pool keeps 0 here (its nodes are its workloads' cost).
    system: bool = False
    hourly_usd: float = 0.0  # system pool: the catalog's on-demand price of one node in the region
    monthly_usd: float = 0.0  # system pool: hourly_usd x min_nodes x HOURS_PER_MONTH (in Totals.system_pools_monthly_usd)


@dataclass(frozen=True)
class ClusterPlan:
    """The Kubernetes cluster of one cloud and region: its control plane, version, endpoint and node pools.

    ``regional``: the control plane is replicated across the region's zones (always on EKS; on GKE when a workload
    on it serves or asks for ``REGIONAL_CONTROL_PLANE_AVAILABILITY``); ``location`` is then the region, else the zone
    of a zonal GKE cluster. ``existing``: the name of a cluster the pools join instead (no control plane cost).
    ``endpoint_cidrs``: who may reach the API server; empty: a private endpoint only. ``monthly_cost``: the control
    plane's list price a month (in the plan's totals). ``release_channel``: GKE's (``REGULAR``, ``RAPID``,
    ``EXTENDED``); "" on EKS. ``extended_support``: the version is past its standard support (EKS bills 6x)."""

    cloud: str
    region: str
    name: str
    version: str
    regional: bool
    existing: str | None
    endpoint_cidrs: tuple[str, ...]
    monthly_cost: float
    pools: tuple[NodePoolPlan, ...]
    reasons: tuple[str, ...]
    location: str = ""
    release_channel: str = ""
    extended_support: bool = False
    # The untainted on-demand pool of the cluster's own pods (CoreDNS / kube-dns, the EBS CSI controller,
    # metrics-server ...): on every cluster aiinfra creates, None on an existing cluster (its owner runs one).
    # Not in ``pools`` (the workloads' pools); its cost is in Totals.system_pools_monthly_usd, not in monthly_cost.
    system_pool: NodePoolPlan | None = None

    @property
    def endpoint_public(self) -> bool:
        return bool(self.endpoint_cidrs)

    # What the stacks pass to the constructs' system pool arguments (EKS KubernetesCluster system_instance_type /
    # system_nodes; GKE KubernetesCluster system_machine_type / system_nodes / system_zones); None on an existing cluster.
    @property
    def system_instance_type(self) -> str | None:
        return self.system_pool.instance_type if self.system_pool else None

    @property
    def system_nodes(self) -> int | None:
        return self.system_pool.min_nodes if self.system_pool else None

    @property
    def system_zones(self) -> tuple[str, ...]:
        return self.system_pool.zones if self.system_pool else ()


def pool_name(instance_type: str, capacity_type: str, compact: bool = False, reservation: str | None = None) -> str:
    """``p5-48xlarge-spot``, ``a3-highgpu-8g-on-demand-compact``, ``p5-48xlarge-on-demand-cr-0123...``: lowercase
    letters, digits and hyphens, at most ``NODE_POOL_NAME_MAX`` characters (a stable hash when cut)."""
    parts = [instance_type, capacity_type.replace("_", "-")]
    if compact:
        parts.append("compact")
    if reservation:
        parts.append(reservation)
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return short(name, rules.NODE_POOL_NAME_MAX)


def _shares(w: WorkloadPlan) -> list[tuple[CapacityType, int, int]]:
    """(capacity type, min, max) of each pool a workload lands on: batch work from zero; a mixed serving workload
    splits into its on-demand base and the spot replicas above it."""
    batch = w.type in BATCH
    if w.capacity == "mixed":
        base = w.on_demand_base_nodes
        return [("on_demand", 0 if batch else base, base), ("spot", 0 if batch else max(w.min_nodes - base, 0), max(w.max_nodes - base, 0))]
    return [(w.capacity, 0 if batch else w.min_nodes, w.max_nodes)]  # type: ignore[list-item]


def node_pools(workloads: list[WorkloadPlan]) -> list[NodePoolPlan]:
    """The node pools of one cluster's workloads, in the order the workloads first need them."""
    groups: dict[tuple, list[tuple[WorkloadPlan, int, int]]] = {}
    for w in workloads:
        for capacity, lo, hi in _shares(w):
            key = (w.instance_type, capacity, w.placement == "cluster", w.reservation)
            groups.setdefault(key, []).append((w, lo, hi))
    pools = []
    for (itype, capacity, compact, reservation), members in groups.items():
        first = members[0][0]
        zones = tuple(dict.fromkeys(z for w, _, _ in members for z in w.zones))
        pools.append(NodePoolPlan(
            cloud=first.cloud, region=first.region, name=pool_name(itype, capacity, compact, reservation), instance_type=itype,
            capacity_type=capacity, gpu=first.gpu, gpu_count=first.gpus_per_node, accelerator_runtime=first.accelerator_runtime,
            min_nodes=sum(lo for _, lo, _ in members), max_nodes=sum(hi for _, _, hi in members),
            workloads=tuple(dict.fromkeys(w.name for w, _, _ in members)),
            collective=any(bool(w.interconnect) for w, _, _ in members), zones=zones,
            accelerator_type=first.accelerator_type, gpu_memory_gib=first.gpu_memory_gib,
            interconnect=next((w.interconnect for w, _, _ in members if w.interconnect), ""),
            efa_interfaces_per_node=max(w.efa_interfaces_per_node for w, _, _ in members),
            gpu_nics_per_node=max(w.gpu_nics_per_node for w, _, _ in members), compact=compact,
            local_nvme_gib_per_node=first.local_nvme_gib_per_node, reservation=reservation,
            capacity_block=any(w.capacity_block for w, _, _ in members),
            serving=any(w.type not in BATCH for w, _, _ in members), batch=any(w.type in BATCH for w, _, _ in members)))
    return pools


def versions_staleness(on) -> str | None:
    """A warning when catalog/data/kubernetes_versions.csv is older than the catalog's prices may be (a newer
    Kubernetes version may exist, a support date may have moved), else None."""
    import datetime

    from aiinfra.catalog.kubernetes import load_versions
    from aiinfra.planner import STALE_PRICES_DAYS

    versions = load_versions()
    try:
        age = (on - datetime.date.fromisoformat(versions.as_of)).days
    except ValueError:
        return None
    if age <= STALE_PRICES_DAYS:
        return None
    return (f"catalog kubernetes_versions.csv as of {versions.as_of} ({age} days old): older than {STALE_PRICES_DAYS} days, so a newer "
            "Kubernetes version may be offered and support dates may have moved; update it from "
            "https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html and "
            "https://cloud.google.com/kubernetes-engine/docs/release-schedule")


# ---- clusters ------------------------------------------------------------------------------------------------

def _availability(spec, name: str) -> float | None:
    w = next((x for x in spec.workload_inventory if x.name == name), None)
    if w is None or w.type != "inference":
        return None
    perf = spec.performance_requirements
    if w.availability_requirement is not None:
        return w.availability_requirement
    return perf.inference.availability if perf and perf.inference else None


def _version(spec, cloud: str, k8s, add: Add, today) -> tuple[str, str, bool, list[str]]:
    """(version, GKE release channel, in extended support, reasons) of one cloud's cluster."""
    from aiinfra.catalog.kubernetes import load_versions

    versions = load_versions()
    path = f"clouds.{cloud}.kubernetes.version"
    version = k8s.version if k8s is not None and k8s.version else versions.default()
    why = [f"Kubernetes {version}: " + (f"{path}" if k8s is not None and k8s.version else
                                         f"the newest version both EKS and GKE offer (catalog/data/kubernetes_versions.csv, as of {versions.as_of})")]
    row = versions.find(cloud, version)
    if row is None:  # checked at load (spec/checks.py); the default is in both tables
        return version, "", False, why
    extended = today >= row.end_of_standard_support
    channel = ""
    if cloud == "aws":
        if extended:
            add("warning", path, f"EKS {version} left standard support on {row.end_of_standard_support}: the cluster is billed extended support, "
                                 f"${rules.EKS_EXTENDED_USD_HR:.2f} per cluster-hour instead of ${rules.EKS_STANDARD_USD_HR:.2f} "
                                 f"({rules.EKS_EXTENDED_USD_HR / rules.EKS_STANDARD_USD_HR:.0f}x, "
                                 f"${rules.EKS_EXTENDED_USD_HR * rules.HOURS_PER_MONTH:,.0f} a month instead of "
                                 f"${rules.EKS_STANDARD_USD_HR * rules.HOURS_PER_MONTH:,.0f}) until {row.end_of_extended_support}; "
                                 f"choose {max(versions.of(cloud), key=lambda v: versions.of(cloud)[v].key())}")
            why.append(f"EKS extended support until {row.end_of_extended_support} (standard support ended {row.end_of_standard_support}): "
                       f"the cluster's upgrade policy is EXTENDED, so it stays on {version}")
        else:
            # https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html
            why.append(f"EKS standard support until {row.end_of_standard_support}; the cluster's upgrade policy stays STANDARD "
                       f"(extended support costs {rules.EKS_EXTENDED_USD_HR / rules.EKS_STANDARD_USD_HR:.0f}x): on that date EKS "
                       "upgrades the cluster to the next Kubernetes version")
    else:
        if extended:
            channel = "EXTENDED"
            add("warning", path, f"GKE {version} left standard support on {row.end_of_standard_support}: only the Extended release channel "
                                 "offers it, with an extra cluster management fee for the extended-support period (not in the plan's cost: "
                                 "https://cloud.google.com/kubernetes-engine/pricing); choose "
                                 f"{max(versions.of(cloud), key=lambda v: versions.of(cloud)[v].key())}")
        elif today < row.available:
            channel = "RAPID"
            add("warning", path, f"GKE {version} reaches the Regular release channel on {row.available}: until then only the Rapid channel "
                                 "offers it, which is excluded from the GKE SLA")
        else:
            channel = "REGULAR"
        why.append(f"GKE release channel {channel}" + (f", standard support until {row.end_of_standard_support}" if channel != "EXTENDED" else ""))
    return version, channel, extended, why


def system_pool(cloud: str, region: str, cluster: str, regional: bool, location: str, catalog, add: Add,
                path: str) -> tuple[NodePoolPlan, str]:
    """(pool, reason) of the system pool of a created cluster: the cheapest catalog shape of ``rules.SYSTEM_NODE_FAMILIES`` with
    ``SYSTEM_NODE_MIN_VCPUS`` / ``SYSTEM_NODE_MIN_MEMORY_GIB`` in the region, on-demand, ``SYSTEM_NODES`` nodes (on a
    regional GKE cluster one a zone in ``GKE_REGIONAL_NODE_ZONES`` zones), its reason in ``NodePoolPlan``'s place
    of workloads. A region where the catalog lists no such shape gets the families' dearest listed price (a bound,
    never a hidden cost) and a warning naming the refresh."""
    def fits(o) -> bool:  # the machine series: "m6i" of m6i.large, "e2" of e2-standard-2
        return (not o.gpu and re.split(r"[.-]", o.instance_type)[0] in rules.SYSTEM_NODE_FAMILIES[cloud] and o.on_demand_usd_hr is not None
                and o.vcpus >= rules.SYSTEM_NODE_MIN_VCPUS and o.memory_gib >= rules.SYSTEM_NODE_MIN_MEMORY_GIB)

    here = sorted((o for o in catalog.offers(cloud, region, "") if fits(o)),
                  key=lambda o: (o.on_demand_usd_hr, o.vcpus, o.memory_gib, o.instance_type))
    if here:
        offer, price, zones = here[0], here[0].on_demand_usd_hr, here[0].zones
        priced = f"${price:.4f} an hour on-demand in {region} (catalog)"
    else:
        anywhere = sorted((o for o in catalog.offers(cloud, None, "") if fits(o)),
                          key=lambda o: (o.vcpus, o.memory_gib, -o.on_demand_usd_hr, o.instance_type))
        if not anywhere:
            raise LookupError(f"the catalog lists no {'/'.join(rules.SYSTEM_NODE_FAMILIES[cloud])} machine with "
                              f"{rules.SYSTEM_NODE_MIN_VCPUS} vCPU / {rules.SYSTEM_NODE_MIN_MEMORY_GIB} GiB or more on {cloud}, "
                              "the shape of a cluster's system pool")
        offer = anywhere[0]
        price = max(o.on_demand_usd_hr for o in anywhere if o.instance_type == offer.instance_type)
        zones = ()
        priced = f"${price:.4f} an hour, the dearest region's on-demand price of {offer.instance_type} (the catalog has no {region} row)"
        add("warning", path, f"the catalog lists no {'/'.join(rules.SYSTEM_NODE_FAMILIES[cloud])} shape in {region} for the cluster's "
                             f"system pool: it is priced at {offer.instance_type}'s dearest listed price, ${price:.4f} an hour; "
                             f"`aiinfra catalog refresh --cloud {cloud} --regions {region}` lists the region's own")
    if cloud == "gcp" and regional:
        zones = tuple(sorted(zones)[:rules.GKE_REGIONAL_NODE_ZONES])
        count = rules.SYSTEM_NODES_PER_ZONE_REGIONAL * (len(zones) or rules.GKE_REGIONAL_NODE_ZONES)
        spread = (f"{rules.SYSTEM_NODES_PER_ZONE_REGIONAL} a zone, in {len(zones) or rules.GKE_REGIONAL_NODE_ZONES} zones "
                  "(a regional cluster's node pool creates its nodes in every zone it names; a zone's loss leaves two)")
    elif cloud == "gcp":
        zones, count = (location,), rules.SYSTEM_NODES
        spread = f"in {location}, the zonal cluster's zone"
    else:
        count = rules.SYSTEM_NODES
        spread = "across the cluster's subnets' zones"
    monthly = round(price * count * rules.HOURS_PER_MONTH, 2)
    name = short(f"{cluster}-system", rules.NODE_POOL_NAME_MAX)
    why = (f"system pool {count}x {offer.instance_type} ({offer.vcpus} vCPU, {offer.memory_gib:g} GiB) on-demand {spread}, untainted, for "
           f"{'CoreDNS and the EBS CSI controller' if cloud == 'aws' else 'kube-dns, metrics-server and the konnectivity agents'}: "
           "GPU pools are tainted and batch pools scale to zero; the cheapest catalog shape with "
           f"{rules.SYSTEM_NODE_MIN_VCPUS} vCPU / {rules.SYSTEM_NODE_MIN_MEMORY_GIB} GiB (no shared-core machine); "
           f"{priced} x {count} x {rules.HOURS_PER_MONTH:g} h = ${monthly:,.2f} a month")
    return NodePoolPlan(cloud=cloud, region=region, name=name, instance_type=offer.instance_type, capacity_type="on_demand", gpu="",
                        gpu_count=0, accelerator_runtime="", min_nodes=count, max_nodes=count, workloads=(), collective=False,
                        zones=tuple(zones), system=True, hourly_usd=price, monthly_usd=monthly), why


def plan_clusters(spec, workloads: list[WorkloadPlan], add: Add, catalog=None) -> list[ClusterPlan]:
    """The clusters of the spec's kubernetes clouds (one per cloud and region that runs a workload), with their
    pools, system pool (a created cluster's; ``catalog`` prices it, the shipped catalog when None), control plane
    cost and findings; none for vm clouds. Also warns of a kubernetes block on a vm cloud and of an API endpoint
    open to the whole internet in production."""
    from aiinfra.planner import today

    if catalog is None:
        from aiinfra.catalog import load_catalog

        catalog = load_catalog()
    on = today()
    clusters: list[ClusterPlan] = []
    for cloud in spec.clouds.configured():
        cfg = getattr(spec.clouds, cloud)
        k8s = cfg.kubernetes
        base = f"clouds.{cloud}"
        if cfg.platform != "kubernetes":
            # A warning, not an error: switching a cloud between platforms while keeping its kubernetes settings
            # for later is a real workflow, and nothing is built from the block meanwhile (the plan and its
            # "not applied" list say so). An error would force deleting the settings to plan on VMs.
            if k8s is not None:
                add("warning", f"{base}.kubernetes", f"{cloud} runs on the vm platform{'' if 'platform' in cfg.model_fields_set else ' (the default)'}, "
                                                     f"so this block is not read: set {base}.platform: kubernetes to use it, or remove it")
            continue
        cidrs = tuple(k8s.endpoint_cidrs) if k8s is not None else ()
        for i, c in enumerate(cidrs):
            if c == "0.0.0.0/0" and spec.environment == "production":
                add("warning", f"{base}.kubernetes.endpoint_cidrs[{i}]", "0.0.0.0/0 lets the whole internet reach the production API server "
                                                                       "(authentication still applies); list the addresses Terraform and kubectl "
                                                                       "run from, or leave endpoint_cidrs empty for a private endpoint")
        version, channel, extended, version_why = _version(spec, cloud, k8s, add, on)
        regions = list(dict.fromkeys(w.region for w in workloads if w.cloud == cloud))
        for region in regions:
            mine = [w for w in workloads if w.cloud == cloud and w.region == region]
            pools = tuple(node_pools(mine))
            existing = k8s.existing_cluster if k8s is not None else None
            why = list(version_why)
            if cloud == "aws":
                regional, location = True, region
                why.append("regional: the EKS control plane always runs across several availability zones of the region")
            else:
                asks = [(w.name, _availability(spec, w.name)) for w in mine]
                high = [f"{n} {a:g}%" for n, a in asks if a is not None and a >= rules.REGIONAL_CONTROL_PLANE_AVAILABILITY]
                serving = [w.name for w in mine if w.type == "inference"]
                regional = bool(high or serving)
                location = region if regional else next((z for p in pools for z in p.zones), f"{region}-a")
                if regional:
                    why.append("regional (control plane in every zone of the region, 99.95% SLA): " +
                               (f"availability {', '.join(high)} >= {rules.REGIONAL_CONTROL_PLANE_AVAILABILITY:g}%" if high else
                                f"{', '.join(serving)} serve{'s' if len(serving) == 1 else ''} traffic"))
                else:
                    why.append(f"zonal in {location} (99.5% control plane SLA): batch work only, no availability target of "
                               f"{rules.REGIONAL_CONTROL_PLANE_AVAILABILITY:g}% or more; a control plane upgrade pauses scheduling, "
                               "not running jobs")
            system = None
            if existing:
                cost = 0.0
                name = existing
                why.append(f"existing cluster {existing}: the pools join it; its control plane is not created here and not in the plan's cost, "
                           "and no system pool is added (the cluster's own untainted nodes run its system pods)")
            else:
                name = resource_prefix(spec.project, spec.environment)
                if region != cfg.region:
                    # A second region's cluster: EKS cluster names and the IAM roles named after them are account-wide.
                    # GKE cluster names are 40 characters at most
                    # (https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters#Cluster: name).
                    name = short(f"{name}-{region}", rules.CLUSTER_NAME_MAX)
                if cloud == "aws":
                    rate = rules.EKS_EXTENDED_USD_HR if extended else rules.EKS_STANDARD_USD_HR
                    cost = rate * rules.HOURS_PER_MONTH
                    why.append(f"control plane ${rate:.2f} per cluster-hour x {rules.HOURS_PER_MONTH:g} h = ${cost:,.2f} a month "
                               f"(EKS {'extended' if extended else 'standard'} support, https://aws.amazon.com/eks/pricing/)")
                else:
                    cost = rules.GKE_MANAGEMENT_USD_HR * rules.HOURS_PER_MONTH
                    credit = (f"a regional cluster does not get the free tier's ${rules.GKE_FREE_TIER_USD_MONTH:.2f} monthly credit" if regional else
                              f"the free tier's ${rules.GKE_FREE_TIER_USD_MONTH:.2f} monthly credit per billing account covers one zonal cluster: "
                              "it applies to this one if no other zonal or Autopilot cluster of the billing account uses it, and the plan counts the fee in full")
                    why.append(f"cluster management fee ${rules.GKE_MANAGEMENT_USD_HR:.2f} per cluster-hour x {rules.HOURS_PER_MONTH:g} h = "
                               f"${cost:,.2f} a month (https://cloud.google.com/kubernetes-engine/pricing); {credit}")
                system, system_why = system_pool(cloud, region, name, regional, location, catalog, add, base)
                why.append(system_why)
            why.append(f"API endpoint reachable from {', '.join(cidrs)}" if cidrs else
                       "API endpoint private (no endpoint_cidrs): reached from inside the VPC only (a bastion, VPN or CI runner there)")
            why.append(f"{len(pools)} node pool{'s' if len(pools) != 1 else ''}, one per planned shape and capacity type "
                       "(batch pools scale from 0, serving pools keep the serving minimum)")
            clusters.append(ClusterPlan(cloud, region, name, version, regional, existing, cidrs, round(cost, 2), pools, tuple(why),
                                        location=location, release_channel=channel, extended_support=extended, system_pool=system))
    return clusters


def pool_reason(workload: str, pools: list[NodePoolPlan], cluster: ClusterPlan, spec=None, kind: str = "") -> str:
    """The line a workload's reasons carry: the platform, the pools it lands on (their bounds and who shares
    them) and, given the spec, how it runs there: a batch workload's runs are JobSets admitted whole by the
    namespace's Kueue LocalQueue into the environment's ClusterQueue (``aiinfra.k8s`` names them); a serving
    workload is a Deployment in the namespace."""
    parts = []
    for pool in pools:
        others = [n for n in pool.workloads if n != workload]
        cap = "spot" if pool.capacity_type == "spot" else "on-demand"
        parts.append(f"{pool.name} ({pool.instance_type} {cap}, {pool.min_nodes}-{pool.max_nodes} nodes"
                     + (f", shared with {', '.join(others)}" if others else "") + ")")
    split = "; the on-demand base and the spot replicas above it are two pools" if len(pools) > 1 else ""
    runs = ""
    if spec is not None:
        from aiinfra.k8s import LOCAL_QUEUE, cluster_queue, namespace

        ns = namespace(spec)
        runs = (f"; a Deployment in namespace {ns}" if kind == "inference" else
                f"; each run a JobSet admitted whole by queue {ns}/{LOCAL_QUEUE} (Kueue ClusterQueue {cluster_queue(spec)})")
    return f"kubernetes platform: {' + '.join(parts)} in cluster {cluster.name} ({cluster.cloud} {cluster.region}){split}{runs}"
