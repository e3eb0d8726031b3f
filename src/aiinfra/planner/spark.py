"""A Spark workload on the cloud's managed engine (issue 30): the transient cluster of one run and what it adds to the bill.

``spark_part`` decides, for one planned ``data_processing`` workload whose framework is Spark and whose cloud runs the
``vm`` platform, the per-run cluster the stacks build (EMR on EC2 on AWS, a Dataproc managed cluster on GCP: the
``spark`` settings of /tmp/pipeline_design.md and docs/plan-json.md), prices the managed engine's surcharge, and rewrites
the workload's own compute cost for what the engine runs: the core nodes on-demand, the task nodes at the spot price the
planner chose. On ``platform: kubernetes`` the workload stays the JobSet run of issue 29 (None here).

``destination_prefix`` turns a ``data_pipeline.ingestion[i].destination`` into the prefix of the data bucket the transfer
writes to; planner/pipeline.py uses the same function, so the Spark job reads where the ingestion writes.

Unit prices (USD) and the facts the choices rest on are cited where they are defined.
"""

from __future__ import annotations

import re

from aiinfra.planner.model import PipelinePartPlan, WorkloadPlan

# ---- releases ------------------------------------------------------------------------------------------------
# EMR 7.13.0 ships Spark 3.5.6-amzn-2 (Amazon EMR Release Guide, "Spark release history",
# https://docs.aws.amazon.com/emr/latest/ReleaseGuide/Spark-release-history.html); it is in EMR's ListReleaseLabels for
# us-east-1 as moto 5.2.5 records it (moto/emr/resources/release-labels-us-east-1.json.gz), so the local API accepts it.
EMR_RELEASE = "emr-7.13.0"
# Dataproc image 2.3-debian12: generally available since 2025-06-09, supported until 2027-06-09 (Dataproc "Supported
# Dataproc image versions", https://cloud.google.com/dataproc/docs/concepts/versioning/dataproc-versions); 2.2 is
# supported only to 2027-03-31.
DATAPROC_IMAGE = "2.3-debian12"

# ---- cluster shape ---------------------------------------------------------------------------------------------
# Core nodes hold HDFS (the shuffle service's and the job's intermediate files, YARN's logs) and are not to be lost
# mid-run (EMR Management Guide, "Understand node types": core nodes run the DataNode; a task node stores no HDFS data).
# Two of them keep that metadata on a second node and give the Spark driver (the YARN application master of a
# cluster-mode spark-submit) an on-demand home: EMR 6.x and later no longer pins application masters to core nodes by
# default, and "if you configure the task nodes with Spot Instances, running jobs might fail if the task node goes
# down" (AWS re:Post knowledge center, emr-configure-node-labeling-yarn). The plan counts on the EMR stack pinning them
# there again with yarn-site yarn.node-labels.enabled: true and yarn.node-labels.am.default-node-label-expression: CORE
# (the EMR 5.19+ defaults, same page).
# Dataproc: secondary (spot) workers hold no HDFS data, so the two on-demand primary workers keep it.
CORE_NODES = 2
# Dataproc: a standard cluster has 0 (single node) or at least 2 primary workers; the autoscaling policy's
# worker_config.min_instances has bounds [2, max_instances] (hashicorp/google google_dataproc_autoscaling_policy).
DATAPROC_MIN_PRIMARY_WORKERS = 2
# The step's spark-submit runs with KeepJobFlowAliveWhenNoSteps=false (EMR) / a workflow template's managed cluster
# (Dataproc), so the cluster ends when the job does; the idle timeout is the backstop for a cluster left idle (a step
# that never started, a stuck bootstrap). 15 minutes bounds what such a cluster burns to a quarter hour, is above EMR's
# minimum of one minute (range 60 s - 7 days, default 1 h; EMR Management Guide, emr-auto-termination-policy.md) and
# Dataproc's 10 minutes (lifecycle_config.idle_delete_ttl, valid range [10m, 14d]; hashicorp/google
# google_dataproc_cluster), so the same figure serves both.
IDLE_TIMEOUT_SECONDS = 900

# The primary / master node: a small general-purpose on-demand node (one per cluster, never spot: losing it ends the
# cluster). Floors (vCPUs, GiB) for clusters of up to LARGE_CLUSTER_NODES nodes and above:
# - AWS: "The primary node does not have large computational requirements. For most clusters of 50 or fewer nodes, you
#   can use a general-purpose instance type. Use a larger instance type for larger clusters" (aws/aws-emr-best-practices
#   website/docs/migration/gathering-requirements/optimizing-costs.md). EMR supports current general-purpose families from the xlarge
#   size (ListSupportedInstanceTypes for emr-7.14.0 as moto 5.2.5 records it lists m5 / m6i / m7i from .xlarge, no
#   .large): 4 vCPU / 16 GiB, the next size up over 50 nodes.
# - GCP: "If you're running pipelines on ephemeral clusters, use 2 CPUs and 8 GB of memory for the master nodes"
#   (Cloud Data Fusion, "Cluster sizing", https://cloud.google.com/data-fusion/docs/concepts/cluster-sizing, about
#   the ephemeral Dataproc clusters it runs pipelines on); Dataproc takes general-purpose E2 shapes except the
#   shared-core e2-micro / small / medium ("Supported machine types",
#   https://cloud.google.com/dataproc/docs/concepts/compute/supported-machine-types). Over 50 nodes, Dataproc's own
#   default master type n1-standard-4 (4 vCPU, 15 GB; hashicorp/google google_dataproc_cluster master_config.machine_type).
LARGE_CLUSTER_NODES = 50
PRIMARY_FLOOR = {"aws": ((4, 16.0), (8, 32.0)), "gcp": ((2, 8.0), (4, 15.0))}

# ---- prices ----------------------------------------------------------------------------------------------------
# EMR on EC2 bills a per-instance-hour fee for each instance type on top of EC2 ("The Amazon EMR price is in addition to
# the Amazon EC2 price", EMR Management Guide, emr-plan-spot-instances / Amazon EMR pricing
# https://aws.amazon.com/emr/pricing); the fee is fixed whether the instance runs on-demand or spot (EMR Developer
# Guide, "Spot Instance Pricing in Amazon EMR": "the Amazon EMR rate remains fixed"). The per-type table of the pricing
# page (rendered in the browser) is not in the sources this project could read; the figures third-party tables copy
# from it are 25% of the EC2 on-demand price of the type (e.g. m5.xlarge EC2 $0.192 / EMR $0.048, r5.2xlarge $0.504 /
# $0.126), and that relation is what is costed here, on the catalog's on-demand price of each type. It is an estimate:
# where AWS prices a large type's fee lower, the plan overstates it (never understates what the page shows for the
# sizes above).
EMR_FEE_SHARE_OF_ON_DEMAND = 0.25
# Dataproc on Compute Engine: "$0.010 * # of vCPUs * hourly duration" over every node of the cluster, master and
# workers, spot or not (Dataproc pricing, https://cloud.google.com/dataproc/pricing), on top of the Compute Engine VMs.
DATAPROC_USD_PER_VCPU_HOUR = 0.010
# EMR Serverless: USD per vCPU-hour and per GB-hour of the workers (GoogleCloudPlatform/PerfKitBenchmarker
# perfkitbenchmarker/providers/aws/aws_dpb_emr_serverless_prices.py, generated from https://aws.amazon.com/emr/pricing);
# ephemeral storage above the free 20 GB a worker is left out (it only adds to the serverless figure).
EMR_SERVERLESS_USD = {
    "us-east-1": (0.052624, 0.0057785), "us-east-2": (0.052624, 0.0057785), "us-west-2": (0.052624, 0.0057785),
    "us-west-1": (0.060528, 0.006643), "eu-west-1": (0.052624, 0.0057785), "eu-west-2": (0.060528, 0.006643),
    "eu-west-3": (0.06318, 0.00689), "eu-central-1": (0.060528, 0.006643), "eu-north-1": (0.05785, 0.00637),
    "ca-central-1": (0.057928, 0.0063245), "sa-east-1": (0.09048, 0.00988), "ap-northeast-1": (0.065728, 0.007189),
    "ap-northeast-2": (0.060528, 0.006643), "ap-south-1": (0.055328, 0.0060515), "ap-southeast-1": (0.065728, 0.007189),
    "ap-southeast-2": (0.063128, 0.006916),
}
# Serverless for Apache Spark (Dataproc Serverless), standard tier: USD per DCU-hour (PerfKitBenchmarker
# perfkitbenchmarker/providers/gcp/gcp_dpb_dataproc_serverless_prices.py, generated from
# https://cloud.google.com/dataproc-serverless/pricing). "Each Dataproc vCPU counts as 0.6 DCU ... Each gigabyte of RAM
# below 8G gigabyte per vCPU counts as 0.1 DCU, and each gigabyte of RAM above 8G gigabyte per vCPU counts as 0.2 DCU"
# (same pricing page). Shuffle storage ($0.04 / GB-month in us-central1) is left out.
DATAPROC_SERVERLESS_DCU_USD = {
    "us-central1": 0.06, "us-east1": 0.06, "us-east5": 0.06, "us-west1": 0.06, "us-east4": 0.067572, "us-west4": 0.067572,
    "us-west2": 0.072071, "us-west3": 0.072071, "us-south1": 0.0708, "europe-west1": 0.066007, "europe-west4": 0.066057,
    "europe-north1": 0.066062, "europe-west2": 0.077307, "europe-west3": 0.077307, "europe-west6": 0.0786,
    "europe-west8": 0.0696, "europe-west9": 0.0696, "europe-central2": 0.0726, "europe-southwest1": 0.0708,
    "asia-northeast1": 0.076976, "asia-northeast2": 0.076976, "asia-northeast3": 0.076976, "asia-east1": 0.069477,
    "asia-east2": 0.083955, "asia-south1": 0.072071, "asia-south2": 0.072071, "asia-southeast1": 0.074015,
    "asia-southeast2": 0.080674, "australia-southeast1": 0.085135, "australia-southeast2": 0.085135,
    "northamerica-northeast1": 0.066057, "northamerica-northeast2": 0.066057, "southamerica-east1": 0.095246,
    "southamerica-west1": 0.08581,
}
DCU_PER_VCPU, DCU_PER_GB_FIRST_8_PER_VCPU, DCU_PER_GB_ABOVE = 0.6, 0.1, 0.2
ENGINE = {"aws": ("emr", "EMR on EC2", "EMR Serverless"), "gcp": ("dataproc", "Dataproc", "Serverless for Apache Spark")}

# The first segment of an ingestion destination that names the place rather than a folder in it (the guide writes
# "distributed_filesystem/staging"): the data bucket stands for it.
_PLACE_WORDS = ("hdfs", "dfs", "fs", "storage", "object_storage", "bucket", "data_bucket", "datalake", "data_lake", "lake")


def destination_prefix(destination: str | None, i: int = 0) -> str:
    """The prefix in the data bucket that ``data_pipeline.ingestion[i]`` writes to, from its ``destination``
    (``"staging/"``-like).

    A URI's scheme and bucket (``s3://b/``, ``gs://b/``) and a first segment naming the filesystem rather than a folder
    (``distributed_filesystem``, ``hdfs``, ``storage`` ...) are dropped; each remaining segment keeps letters, digits,
    ``.``, ``_`` and ``-`` (anything else becomes ``-``); ``.`` / ``..`` / empty segments go. No destination, or nothing
    left: ``ingestion-<i>/``. ``distributed_filesystem/staging`` -> ``staging/``; ``s3://lake/raw/events`` ->
    ``raw/events/``."""
    rest = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*", "", (destination or "").strip())
    segments = [re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") for s in rest.split("/")]
    segments = [s for s in segments if s and s not in (".", "..")]
    if segments and ("filesystem" in segments[0].lower() or segments[0].lower() in _PLACE_WORDS):
        segments = segments[1:]
    return "/".join(segments) + "/" if segments else f"ingestion-{i}/"


def is_spark(framework: str | None) -> bool:
    return "spark" in (framework or "").lower()


def spark_part(spec, catalog, w: WorkloadPlan, platforms: dict[str, str]) -> PipelinePartPlan | None:
    """The managed-engine Spark cluster of ``w`` (one transient cluster a run), or None when ``w`` is not a Spark
    data_processing workload on a ``vm``-platform cloud.

    Also rewrites ``w``'s compute cost for the engine: ``core_nodes`` on-demand, the rest of its steady nodes at the
    spot price it was planned at (``reasons["capacity"]``, ``reasons["engine"]``); the part's ``monthly_usd`` is the
    engine's surcharge (the per-instance fee on AWS, the per-vCPU fee on GCP, and the primary node) x runs x hours."""
    if w.type != "data_processing" or platforms.get(w.cloud, "vm") != "vm" or w.cloud not in ENGINE:
        return None
    sw = next((x for x in spec.workload_inventory if x.name == w.name), None)
    if sw is None or not is_spark(sw.framework):
        return None
    engine, service, serverless = ENGINE[w.cloud]
    offers = {o.instance_type: o for o in catalog.offers(w.cloud, w.region)}
    worker = offers[w.instance_type]
    od = worker.on_demand_usd_hr if worker.on_demand_usd_hr is not None else worker.list_price_usd_hr
    task_spot = w.capacity != "on_demand"
    task_price = worker.spot_usd_hr if task_spot and worker.spot_usd_hr is not None else od

    if w.cloud == "gcp":
        core = DATAPROC_MIN_PRIMARY_WORKERS
        core_why = (f"{core} primary workers on-demand (they hold HDFS, secondary workers hold none; Dataproc's floor "
                    "for primary workers is 2)")
    else:
        core = min(CORE_NODES, w.min_nodes)
        core_why = (f"{core} core node{'s' if core > 1 else ''} on-demand (they hold HDFS and the shuffle files, and the "
                    "Spark driver, YARN's application master, is pinned to them: a spot reclaim of a task node never "
                    "ends the run)")
    planned_nodes = w.nodes
    floor_raised = core > w.min_nodes
    if floor_raised:
        w.nodes, w.min_nodes, w.max_nodes = max(w.nodes, core), core, max(w.max_nodes, core)
    task_min, task_max = max(w.min_nodes - core, 0), max(w.max_nodes - core, 0)
    tasks = max(w.nodes - core, 0)  # the steady (costed) task nodes
    workers = core + tasks

    primary, primary_why = _primary(offers, w, worker)
    p_od = primary.on_demand_usd_hr if primary.on_demand_usd_hr is not None else primary.list_price_usd_hr
    if engine == "emr":
        fee = EMR_FEE_SHARE_OF_ON_DEMAND * (p_od + workers * od)
        fee_text = (f"EMR fee {EMR_FEE_SHARE_OF_ON_DEMAND:.0%} of EC2 on-demand a node: {primary.instance_type} "
                    f"${EMR_FEE_SHARE_OF_ON_DEMAND * p_od:.4f} + {workers} x {w.instance_type} ${EMR_FEE_SHARE_OF_ON_DEMAND * od:.4f} "
                    f"= ${fee:.4f}/h (fixed on spot too)")
    else:
        vcpus = primary.vcpus + workers * w.vcpus_per_node
        fee = DATAPROC_USD_PER_VCPU_HOUR * vcpus
        fee_text = (f"Dataproc fee ${DATAPROC_USD_PER_VCPU_HOUR:.3f} a vCPU-hour x ({primary.vcpus} + {workers} x "
                    f"{w.vcpus_per_node}) = {vcpus} vCPUs = ${fee:.4f}/h")
    surcharge = fee + p_od
    run_hours = w.runs_per_month * w.runtime_hours or w.hours_per_month  # unrounded, as compute.py costed the workload
    monthly = surcharge * run_hours

    # The workers stay the workload's own compute: core on-demand, tasks at the spot price the planner chose.
    hourly = core * od + tasks * task_price
    old_monthly = planned_nodes * task_price * run_hours  # as compute.py priced it: every node at one price
    w.hourly_usd = round(hourly, 4)
    w.monthly_usd = round(hourly * run_hours, 2)
    w.on_demand_monthly_usd = round(workers * od * run_hours, 2)
    w.spot_savings_monthly_usd = round(w.on_demand_monthly_usd - w.monthly_usd, 2)
    w.on_demand_base_nodes = core
    w.on_demand_percent_above_base = 0 if task_spot else 100
    w.capacity = "mixed" if task_spot and task_max > 0 else ("spot" if task_spot else "on_demand")
    price_word = "spot" if task_spot else "on-demand"
    w.reasons["capacity"] = (
        f"{w.reasons.get('capacity', '').split('; ')[0]}; on {service}: {core_why}, task nodes {price_word} "
        f"({task_min}-{task_max}, a lost task node only reruns its tasks); {core} x ${od:.4f} + {tasks} x ${task_price:.4f} "
        f"= ${hourly:.4f}/h x {w.hours_per_month:g} h = ${w.monthly_usd:,.2f}/month (was ${old_monthly:,.2f} with every "
        f"node {'spot' if task_spot else 'on-demand'}); all on-demand ${w.on_demand_monthly_usd:,.2f}"
        + (f"; nodes raised to {core}, Dataproc's floor of primary workers, at the runtime planned for {planned_nodes} "
           "(an upper bound: the run has more nodes)" if floor_raised else ""))
    w.reasons["image"] = ("not used: the managed engine runs the Spark application of command (spark-submit "
                          f"{'<main> <args>' if sw.command else 'of the Terraform variable spark_main'}), not a container image")

    cluster_hour = hourly + surcharge
    alt_hour, alt_text = _serverless_hourly(w)
    reason = (
        f"a transient {service} cluster a run (release {EMR_RELEASE if engine == 'emr' else DATAPROC_IMAGE}): "
        f"primary {primary.instance_type} on-demand ({primary_why}), {core_why}, task nodes {task_min}-{task_max} "
        f"{'spot over ' + ', '.join([w.instance_type, *w.spot_alternatives]) if task_spot and engine == 'emr' else price_word + ' ' + w.instance_type}; "
        f"ends with its job, idle timeout {IDLE_TIMEOUT_SECONDS // 60} min. Surcharge a run hour: {fee_text} + primary "
        f"${p_od:.4f}/h = ${surcharge:.4f}/h x {w.runs_per_month:.3g} runs x {w.runtime_hours:.3g} h = ${monthly:,.2f}/month "
        f"(the workers are the workload's compute, ${w.monthly_usd:,.2f}/month). Chosen over {serverless}: it keeps "
        f"{'spot task nodes and ' if task_spot else ''}the planned {w.instance_type} shape; {serverless} has no spot and "
        f"bills {alt_text} = ${alt_hour:,.2f} a run hour (${alt_hour * run_hours:,.2f}/month) against this cluster's "
        f"${cluster_hour:,.2f} (${cluster_hour * run_hours:,.2f}/month, workers + surcharge)")
    w.reasons["engine"] = reason
    pp = _preprocessing(spec, sw.framework)
    ingestions = spec.data_pipeline.ingestion if spec.data_pipeline else []
    settings = {
        "engine": engine,
        "release": EMR_RELEASE if engine == "emr" else DATAPROC_IMAGE,
        "primary_type": primary.instance_type,
        "core_type": w.instance_type,
        "core_nodes": core,
        "task_types": [w.instance_type, *w.spot_alternatives] if engine == "emr" else [w.instance_type],
        "task_min": task_min,
        "task_max": task_max,
        "task_spot": task_spot,
        "idle_timeout_seconds": IDLE_TIMEOUT_SECONDS,
        "max_runtime_hours": w.max_runtime_hours,
        "schedule": w.schedule,
        # the first ingestion's landing prefix: where the job reads what the pipeline brings in
        "input_prefix": destination_prefix(ingestions[0].destination, 0) if ingestions else None,
        "output_prefix": destination_prefix(pp.output) if pp is not None and pp.output else None,
        "main": sw.command[0] if sw.command else None,
        "args": list(sw.command[1:]) if sw.command else [],
    }
    return PipelinePartPlan(w.cloud, w.region, "spark", w.name, service, round(monthly, 2), reason, settings)


def _primary(offers: dict, w: WorkloadPlan, worker):
    """The cheapest general-purpose on-demand catalog shape of the region at or above the engine's floor, and why."""
    small, large = PRIMARY_FLOOR[w.cloud]
    big = w.max_nodes + 1 > LARGE_CLUSTER_NODES
    vcpus, gib = large if big else small
    general = [o for o in offers.values() if not o.gpu and o.on_demand_usd_hr is not None and o.vcpus >= vcpus and o.memory_gib >= gib
               and (o.family.startswith("m") if w.cloud == "aws" else "-standard-" in o.instance_type)]
    size = f"{'over' if big else 'up to'} {LARGE_CLUSTER_NODES} nodes: at least {vcpus} vCPU / {gib:g} GiB"
    if not general:
        return worker, f"no general-purpose shape of {size} in the {w.region} catalog, so the workers' shape"
    o = min(general, key=lambda x: (x.on_demand_usd_hr, x.vcpus, x.instance_type))
    return o, f"the cheapest general-purpose shape in {w.region} for a cluster of {size}"


def _serverless_hourly(w: WorkloadPlan) -> tuple[float, str]:
    """What the serverless engine bills an hour for the workload's steady capacity (vCPUs and memory of its nodes)."""
    vcpus, gib = w.nodes * w.vcpus_per_node, w.nodes * w.memory_gib_per_node
    if w.cloud == "aws":
        region = w.region if w.region in EMR_SERVERLESS_USD else "us-east-1"
        per_vcpu, per_gb = EMR_SERVERLESS_USD[region]
        note = "" if region == w.region else f" (us-east-1 prices: none listed for {w.region})"
        return vcpus * per_vcpu + gib * per_gb, f"{vcpus} vCPU x ${per_vcpu} + {gib:g} GB x ${per_gb}{note}"
    region = w.region if w.region in DATAPROC_SERVERLESS_DCU_USD else "us-central1"
    per_dcu = DATAPROC_SERVERLESS_DCU_USD[region]
    first = min(gib, 8 * vcpus)
    dcu = vcpus * DCU_PER_VCPU + first * DCU_PER_GB_FIRST_8_PER_VCPU + (gib - first) * DCU_PER_GB_ABOVE
    note = "" if region == w.region else f" (us-central1 price: none listed for {w.region})"
    return dcu * per_dcu, f"{dcu:g} DCU ({vcpus} vCPU, {gib:g} GB) x ${per_dcu}{note}"


def _preprocessing(spec, framework: str | None):
    """The data_pipeline.preprocessing entry of the workload's framework (planner/compute.py matches it the same way)."""
    fw = (framework or "").lower()
    if not fw or not spec.data_pipeline:
        return None
    return next((p for p in spec.data_pipeline.preprocessing if fw in p.framework.lower()), None)
