"""The plan: what aiinfra will build and why, in a stable, documented JSON shape.

``Plan.to_dict()`` is the ``aiinfra plan --format json`` output (``docs/plan-json.md``).
Fields carry units in their names. Adding a field is compatible; renaming or removing one
bumps ``PLAN_SCHEMA_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Literal

from aiinfra.errors import Problem

PLAN_SCHEMA_VERSION = 1
Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding(Problem):
    """A problem the plan found: an error stops the CLI; warnings and notes are shown."""

    severity: Severity = "warning"


@dataclass(frozen=True)
class Alternative:
    """A placement that was considered and not chosen, for the reviewer's 'why not X'."""

    cloud: str
    region: str
    instance_type: str
    nodes: int
    hourly_usd: float
    monthly_usd: float


@dataclass
class WorkloadPlan:
    name: str
    type: str
    cloud: str
    region: str
    zones: list[str]
    instance_type: str
    gpu: str  # "" for CPU shapes
    gpus_per_node: int
    gpu_memory_gib: int
    accelerator_type: str
    vcpus_per_node: int
    memory_gib_per_node: float
    nodes: int  # steady-state node / replica count, the one costed
    min_nodes: int
    max_nodes: int
    capacity: Literal["on_demand", "spot", "mixed"]
    on_demand_base_nodes: int
    on_demand_percent_above_base: int
    spot_fallback: str | None
    spot_alternatives: list[str]
    multi_node: bool
    interconnect: str  # "", "efa", "tcpx", "tcpxo", "rdma"
    efa_interfaces_per_node: int
    gpu_nics_per_node: int
    nic_mtu: int
    placement: Literal["cluster", "spread", "none"]
    local_nvme_gib_per_node: int
    data_volume_gib_per_node: int
    data_volume_type: str
    hours_per_month: float
    hourly_usd: float
    monthly_usd: float
    on_demand_monthly_usd: float
    spot_savings_monthly_usd: float
    expected_qps: float | None = None
    replica_qps: float | None = None
    capacity_qps: float | None = None
    cost_per_1k_predictions_usd: float | None = None
    # What runs on the nodes (SPEC.md v2). image None: the stacks ask for it as a Terraform variable
    # and start no node until it is given.
    image: str | None = None
    # Batch work: when runs start (cron, UTC; None = on demand), the cloud-side hard stop (the
    # start shifted by max_runtime_hours), the expected runtime costed, restarts of one run.
    schedule: str | None = None
    stop_schedule: str | None = None
    schedule_description: str = ""
    runs_per_month: float = 0.0
    runtime_hours: float = 0.0
    max_runtime_hours: float | None = None
    retries: int = 0
    # Serving: the container's port and health path, who may reach it, and the utilisation the
    # replica count was sized for (the autoscaler's target).
    port: int | None = None
    health_check_path: str | None = None
    exposure: str | None = None
    target_utilization: float | None = None
    # Serving: one request's modelled whole-response time at the planned batch (planner/serving.py:
    # prefill + output tokens x time a token for LLMs), from which the endpoint's timeouts are sized.
    request_latency_s: float | None = None
    # The named capacity reservation the nodes launch into (AWS On-Demand Capacity Reservation id,
    # GCP reservation name), from the workload's ``reservation`` key; None: open capacity.
    reservation: str | None = None
    capacity_block: bool = False  # AWS: the reservation is a Capacity Block (launch template market type capacity-block)
    # Batch work (training / data_processing) whose run spans more than one node (nodes or
    # max_nodes > 1): the nodes must reach each other (NCCL, Spark shuffles, the launcher's
    # rendezvous), and losing one ends the attempt on all of them. Platform-neutral; multi_node
    # (the interconnect, EFA / GPU NICs, compact placement) stays a training-only decision.
    collective: bool = False
    # The accelerator's software stack, from the catalog's vendor of the planned part: "cuda"
    # (NVIDIA GPUs), "neuron" (AWS Inferentia / Trainium), "tpu" (Google TPU VMs), "" (CPU shapes).
    # The boot and the node images follow it (no CUDA driver on a Neuron or TPU node).
    accelerator_runtime: str = ""
    # The Kubernetes platform (SPEC.md v3): the node pools of its cluster the workload lands on (planner/platform.py);
    # empty on the vm platform. Two for a mixed serving workload: its on-demand base, and the spot replicas above it.
    node_pools: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    alternatives: list[Alternative] = field(default_factory=list)

    @property
    def total_gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@dataclass(frozen=True)
class StorageTierPlan:
    tier: Literal["hot", "warm", "cold"]
    storage_class: str
    size_gib: int
    transition_after_days: int | None
    monthly_usd: float
    reason: str


@dataclass
class CloudStoragePlan:
    cloud: str
    region: str
    tiers: list[StorageTierPlan]
    archive_class: str
    archive_after_days: int
    abort_incomplete_uploads_days: int
    expiration_days: int | None
    monthly_usd: float
    # Issue 27. How live objects are tiered: "INTELLIGENT_TIERING" (S3, without its archive tiers) or
    # "AUTOCLASS" (GCS, terminal class ARCHIVE): by access, never by age into a class a read fails on or
    # pays for. Only archive_prefixes move by age (AWS: archive_class after archive_after_days).
    live_tiering: str = ""
    archive_prefixes: list[str] = field(default_factory=list)
    # Noncurrent versions are deleted this long after they were replaced (None: kept), and what they
    # hold meanwhile (replaced checkpoints) and cost; the per-object tiering fee (IT monitoring /
    # Autoclass management); retrieval and early-deletion charges the plan can estimate (live data
    # has none under either tiering). All in monthly_usd.
    noncurrent_expiration_days: int | None = None
    noncurrent_gib: int = 0
    noncurrent_monthly_usd: float = 0.0
    tiering_fee_monthly_usd: float = 0.0
    retrieval_monthly_usd: float = 0.0
    early_deletion_monthly_usd: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class MonitoringPlan:
    """What one cloud's monitoring costs a month at list prices (not in ``Totals``)."""

    cloud: str
    custom_metrics: int
    alarm_metrics: int
    dashboards: int
    ingested_mib: float
    monthly_usd: float
    reason: str
    # Alert conditions the rules ask for that the stacks cannot create (``<workload>: <rule> (<metric>): why``).
    not_created: list[str] = field(default_factory=list)


@dataclass
class Totals:
    compute_monthly_usd: float
    storage_monthly_usd: float
    monthly_usd: float  # compute + storage + security + network + control plane + system pools
    on_demand_equivalent_monthly_usd: float
    spot_savings_monthly_usd: float
    by_cloud_monthly_usd: dict[str, float]
    gpus_steady: int
    gpus_peak: int
    security_monthly_usd: float = 0.0
    network_monthly_usd: float = 0.0  # NAT, load balancers, internet egress, flow logs (issue 27)
    control_plane_monthly_usd: float = 0.0  # Kubernetes control planes (EKS / GKE fee; planner/platform.py), 0 on vm
    system_pools_monthly_usd: float = 0.0  # created clusters' system pools (ClusterPlan.system_pool; planner/platform.py), 0 on vm
    pipeline_monthly_usd: float = 0.0  # the data pipeline's managed parts (PipelinePartPlan; planner/pipeline.py)


@dataclass(frozen=True)
class NetworkCostPlan:
    """One network charge the stacks incur (planner/network.py): ``item`` is ``nat_gateway``,
    ``load_balancer``, ``internet_egress`` or ``flow_logs``; ``target`` a workload's name or
    ``foundation``; the arithmetic in ``reason``. In ``Totals.network_monthly_usd``."""

    cloud: str
    region: str
    item: str
    target: str
    monthly_usd: float
    reason: str


@dataclass(frozen=True)
class SecurityExceptionPlan:
    """A policy rule the spec waives for one resource, and why (shown for review)."""

    rule: str
    resource: str
    reason: str


@dataclass(frozen=True)
class PipelinePartPlan:
    """One managed part of the guide's data pipeline (issue 30, planner/pipeline.py), in ``Totals.pipeline_monthly_usd``.

    ``part`` is ``spark`` (a data_processing workload's Spark runs on the managed engine: EMR / Dataproc), ``ingestion``
    (``data_pipeline.ingestion[i]``: DataSync / Storage Transfer Service), ``cache`` (``data_pipeline.serving[i]``:
    ElastiCache / Memorystore for Redis Cluster) or ``cdn`` (the serving workload's static content: CloudFront / Cloud CDN).
    ``target`` is the workload's name (spark, cdn) or the spec path (``data_pipeline.ingestion[0]``, ``data_pipeline.serving[0]``).
    ``settings`` is what the stacks build (keys per part in docs/plan-json.md); ``monthly_usd`` what it adds to the bill
    (for spark: the managed engine's fee and the primary node; the worker nodes are the workload's own compute)."""

    cloud: str
    region: str
    part: Literal["spark", "ingestion", "cache", "cdn"]
    target: str
    service: str
    monthly_usd: float
    reason: str
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NotApplied:
    """A key the spec sets that changes neither the plan nor the stacks, and why (``planner/applied.py``)."""

    path: str
    reason: str


# What each cloud's data-pipeline stack holds (Plan.pipeline_stack_parts).
PIPELINE_STACK_PARTS = {"aws": ("ingestion", "cache", "cdn"), "gcp": ("ingestion", "cache")}


@dataclass
class Plan:
    project: str
    environment: str
    spec_path: str
    catalog_generated: dict[str, str]
    workloads: list[WorkloadPlan]
    storage: list[CloudStoragePlan]
    totals: Totals
    findings: list[Finding]
    schema_version: int = PLAN_SCHEMA_VERSION
    security_exceptions: list[SecurityExceptionPlan] = field(default_factory=list)
    monitoring: list[MonitoringPlan] = field(default_factory=list)
    not_applied: list[NotApplied] = field(default_factory=list)
    security: list = field(default_factory=list)  # planner.security.SecurityControlPlan
    network: list[NetworkCostPlan] = field(default_factory=list)
    # SPEC.md v3 "Platforms": each configured cloud's platform ("vm" | "kubernetes") and, on kubernetes, a cluster
    # per cloud and region with its node pools (planner/platform.py ClusterPlan).
    platforms: dict[str, str] = field(default_factory=dict)
    clusters: list = field(default_factory=list)
    # Issue 30: the guide's data pipeline on managed services (Spark engine, ingestion, cache, CDN), per cloud.
    pipeline: list[PipelinePartPlan] = field(default_factory=list)

    def pipeline_parts(self, cloud: str, part: str | None = None) -> list[PipelinePartPlan]:
        """The pipeline parts on ``cloud`` (of one ``part`` kind when given), in plan order."""
        return [p for p in self.pipeline if p.cloud == cloud and (part is None or p.part == part)]

    def pipeline_stack_parts(self, cloud: str) -> list[PipelinePartPlan]:
        """The parts ``cloud``'s data-pipeline stack builds (stacks/pipeline_aws.py, pipeline_gcp.py): ingestion and caches,
        and on AWS the CDN; GCP's CDN is the serving endpoint's backend bucket, in that workload's stack, and Spark runs in
        each workload's own stack."""
        kinds = PIPELINE_STACK_PARTS.get(cloud, ())
        return [p for p in self.pipeline if p.cloud == cloud and p.part in kinds]

    def spark_part(self, workload: str) -> PipelinePartPlan | None:
        """The managed Spark engine a data_processing workload runs on, None when it runs its own container."""
        return next((p for p in self.pipeline if p.part == "spark" and p.target == workload), None)

    def platform(self, cloud: str) -> str:
        """``vm`` or ``kubernetes``: what ``cloud`` runs its workloads on (vm when the spec does not say)."""
        return self.platforms.get(cloud, "vm")

    def pools_of(self, workload: str) -> list:
        """The node pools a workload lands on (two for a mixed serving workload: on-demand base, then spot); [] on vm."""
        w = next((x for x in self.workloads if x.name == workload), None)
        if w is None or not w.node_pools:
            return []
        cluster = next((c for c in self.clusters if c.cloud == w.cloud and c.region == w.region), None)
        by_name = {p.name: p for p in cluster.pools} if cluster else {}
        return [by_name[n] for n in w.node_pools if n in by_name]

    def pool_of(self, workload: str):
        """The node pool a workload lands on (for a mixed one, the on-demand pool holding its base), None on vm."""
        pools = self.pools_of(workload)
        return pools[0] if pools else None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def clouds(self) -> list[str]:
        return sorted({w.cloud for w in self.workloads})
    # Date of each cloud file's price data (header prices_as_of); text and Markdown show it (not in the JSON schema).
    catalog_prices_as_of: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = _plain(self)
        order = ["schema_version", "project", "environment", "spec_path", "catalog_generated", "totals", "workloads", "storage", "security", "network", "monitoring",
                 "findings", "not_applied", "security_exceptions", "platforms", "clusters", "pipeline"]
        return {k: d[k] for k in order}


def _plain(obj):
    """dataclasses.asdict without its deep copies (ten times faster on a 1,000-workload plan)."""
    if is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj
