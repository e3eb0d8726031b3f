"""Plan-level checks: the environment's resource quotas, the guide's performance requirements and
the workloads that start nothing until they are given an image.

A quota the steady-state plan exceeds is an error (the plan cannot be deployed within it);
one only autoscaling would exceed is a warning. Performance targets are warnings that name
the requirement breached. A workload without an image is a note: no node starts until one is
given, so the plan's cost is what it costs once it is.
"""

from __future__ import annotations

from typing import Callable

from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.models import Spec
from aiinfra.spec.units import format_params

Add = Callable[[str, str, str], None]
GIB = 2**30


def check_quotas(spec: Spec, plans: list[WorkloadPlan], add: Add) -> None:
    quota = spec.resource_quotas.get(spec.environment)
    if quota is None:
        if spec.resource_quotas:
            add("info", "resource_quotas", f"no quota block for environment '{spec.environment}'; quotas not checked")
        return
    base = f"resource_quotas.{spec.environment}"
    steady = sum(p.nodes * p.gpus_per_node for p in plans)
    peak = sum(p.max_nodes * p.gpus_per_node for p in plans)
    for key, limit in (("requests.nvidia.com/gpu", quota.requests_gpu), ("limits.nvidia.com/gpu", quota.limits_gpu)):
        if limit is None:
            continue
        users = ", ".join(f"{p.name} {p.nodes * p.gpus_per_node}" for p in plans if p.gpus_per_node)
        if steady > limit:
            add("error", f"{base}.{key}", f"the plan runs {steady} GPUs at once ({users}), over the quota of {limit}; raise the quota or shrink a workload")
        elif peak > limit:
            add("warning", f"{base}.{key}", f"autoscaling to max replicas would run {peak} GPUs, over the quota of {limit} by {peak - limit}; lower max replicas or raise the quota")
    vcpus = sum(p.nodes * p.vcpus_per_node for p in plans)
    mem_gib = sum(p.nodes * p.memory_gib_per_node for p in plans)
    if quota.requests_cpu is not None and vcpus > quota.requests_cpu:
        add("warning", f"{base}.requests.cpu", f"the plan's nodes have {vcpus:,} vCPUs; the quota lets pods request {quota.requests_cpu:g} of them")
    if quota.requests_memory is not None and mem_gib > quota.requests_memory / GIB:
        add("warning", f"{base}.requests.memory", f"the plan's nodes have {mem_gib:,.0f} GiB of memory; the quota lets pods request {quota.requests_memory / GIB:,.0f} GiB of it")


def check_performance(spec: Spec, plans: list[WorkloadPlan], add: Add) -> None:
    perf = spec.performance_requirements
    if perf is None:
        return
    index = {w.name: i for i, w in enumerate(spec.workload_inventory)}
    tr, inf = perf.training, perf.inference
    for w in spec.workload_inventory:
        path = f"workload_inventory[{index[w.name]}]"
        if w.type == "training" and tr is not None:
            if tr.max_training_time and w.estimated_runtime and w.estimated_runtime > tr.max_training_time:
                add("warning", f"{path}.estimated_runtime", f"{w.estimated_runtime / 3600:g} hours exceeds performance_requirements.training.max_training_time ({tr.max_training_time / 3600:g} hours)")
            if tr.model_size_limit and w.model_size and w.model_size.estimated_parameters > tr.model_size_limit.estimated_parameters:
                add("warning", f"{path}.model_size", f"{w.model_size} exceeds performance_requirements.training.model_size_limit ({format_params(tr.model_size_limit.estimated_parameters)})")
        if w.type == "inference" and inf is not None:
            if inf.p95_latency and w.latency_sla and w.latency_sla > inf.p95_latency:
                add("warning", f"{path}.latency_sla", f"{w.latency_sla:g}ms is looser than performance_requirements.inference.p95_latency ({inf.p95_latency:g}ms)")
            if inf.availability and w.availability_requirement and w.availability_requirement < inf.availability:
                add("warning", f"{path}.availability_requirement", f"{w.availability_requirement:g}% is below performance_requirements.inference.availability ({inf.availability:g}%); planned for {w.availability_requirement:g}%")
    if inf is not None and inf.throughput:
        capacity = sum(p.capacity_qps or 0 for p in plans if p.type == "inference")
        demand = sum(w.expected_qps or 0 for w in spec.workload_inventory if w.type == "inference")
        if demand > inf.throughput:
            add("warning", "performance_requirements.inference.throughput", f"inference workloads expect {demand:g} qps, above the platform target of {inf.throughput:g} qps")
        elif capacity and capacity < demand:
            add("warning", "performance_requirements.inference.throughput", f"planned capacity {capacity:g} qps is below expected demand {demand:g} qps")
    if tr is not None and tr.concurrent_experiments:
        gpus = sum(p.nodes * p.gpus_per_node for p in plans if p.type == "training")
        add("info", "performance_requirements.training.concurrent_experiments",
            f"the plan provisions one run of each training workload ({gpus} GPUs); {tr.concurrent_experiments} concurrent experiments would need up to {gpus * tr.concurrent_experiments} GPUs")


def check_images(spec: Spec, plans: list[WorkloadPlan], add: Add) -> None:
    """No image, no spend: a workload without ``image`` gets the stack's Terraform variable ``image``
    (empty by default), and until it is given no node starts: the run schedule starts zero nodes, a
    serving group rests at zero (``stacks/nodes.py``)."""
    index = {w.name: i for i, w in enumerate(spec.workload_inventory)}
    for p in plans:
        if p.image:
            continue
        if p.type == "inference":
            held = "its serving group stays at zero nodes"
        elif p.schedule and p.stop_schedule:
            held = "its run schedule starts zero nodes"
        else:
            held = "it runs on demand only, and nothing starts its nodes"
        add("info", f"workload_inventory[{index[p.name]}].image",
            f"no image: no node starts until an image is given ({held}); set image: or pass -var 'image=<registry>/<image>:<tag>' "
            f"to the stack; the plan's ${p.monthly_usd:,.0f}/month is what it costs then")


def check_accelerator_platform(spec: Spec, plans: list[WorkloadPlan], add: Add) -> None:
    """What the VM platform cannot provision on Cloud TPU VMs, refused with the reason and the way out.

    A TPU VM is not a Compute Engine instance and joins no managed instance group
    (TPU VMs are created through the Create Node API, queued resources or GKE:
    https://cloud.google.com/tpu/docs/create-tpu-vm), so no backend service can
    load-balance, health-check or autoscale TPU VMs: serving on TPU has no sound load-balanced
    design here. A run over several TPU VMs is a multislice run, which Google provisions through
    queued resources (``google_tpu_v2_queued_resource``: google-beta only, not the pinned provider;
    https://cloud.google.com/tpu/docs/multislice-introduction). The stacks provision one
    single-host slice a run (``stacks/tpu.py``)."""
    index = {w.name: i for i, w in enumerate(spec.workload_inventory)}
    for p in plans:
        if p.accelerator_runtime != "tpu":
            continue
        path = f"workload_inventory[{index[p.name]}].gpu_requirements"
        if p.type == "inference":
            add("error", path, f"serving on {p.gpu} ({p.instance_type}) is not provisioned on the VM platform: TPU VMs join no managed "
                               "instance group, so no load balancer can health-check or autoscale them; serve on TPU with GKE TPU node "
                               "pools or Vertex AI, or ask for GPUs")
        elif p.nodes > 1:
            add("error", path, f"{p.nodes} x {p.instance_type} is a multislice TPU run, which needs queued resources (google-beta "
                               "provider, not the pinned hashicorp/google); ask for at most one single-host slice "
                               f"({p.gpus_per_node} chips of {p.gpu}), or run multislice on GKE")


def check_partial_regions(spec: Spec, catalog, plans: list[WorkloadPlan], add: Add) -> None:
    """A region where the bundled catalog lists accelerator shapes only (no CPU shape: its G-family
    GPUs and CPU shapes were not in the extract it was built from, catalog/data/<cloud>.csv header)
    may hold a cheaper shape the plan could not see: said once a region, naming the refresh."""
    index = {w.name: i for i, w in enumerate(spec.workload_inventory)}
    seen: set[tuple[str, str]] = set()
    for p in plans:
        key = (p.cloud, p.region)
        if key in seen or catalog.offers(p.cloud, p.region, ""):
            continue
        seen.add(key)
        full = [r for r in catalog.regions(p.cloud) if catalog.offers(p.cloud, r, "")]
        add("warning", f"workload_inventory[{index[p.name]}].region" if spec.workload_inventory[index[p.name]].region else f"clouds.{p.cloud}.region",
            f"the bundled catalog lists only its large accelerator shapes in {p.cloud} {p.region} (smaller GPU and CPU shapes are listed in "
            f"{', '.join(full)}): a cheaper shape may exist there; `aiinfra catalog refresh --cloud {p.cloud} --regions {p.region}` lists every shape the region offers")


def check_state(spec: Spec, plans: list[WorkloadPlan], add: Add) -> None:
    """Production with Terraform state in local files (no ``state:`` for a cloud it deploys to) is a
    warning naming the remote backend to set: local state has no locking (two applies at once
    corrupt it), sits unencrypted on one machine's disk, and holds every secret a stack handles in
    clear (the OIDC client secret among them). S3 state is written encrypted with the spec's KMS key
    and locked with S3-native lock files (``use_lockfile``, Terraform 1.10+:
    https://developer.hashicorp.com/terraform/language/backend/s3#state-locking); GCS state with
    the spec's Cloud KMS key, and GCS locks it itself
    (https://developer.hashicorp.com/terraform/language/backend/gcs: "This backend supports state locking")."""
    if spec.environment != "production":
        return
    clouds = {p.cloud for p in plans}
    state = spec.state
    if "aws" in clouds and (state is None or state.aws is None):
        add("warning", "state.aws" if state else "state",
            "production keeps the AWS stacks' Terraform state in local files beside the spec: no locking, no encryption, one "
            "machine's copy, secrets in clear; set state: {aws: {bucket: <state bucket>, region: <its region>, kms_key_id: <KMS key ARN>}} "
            "(S3, encrypted with that key, S3-native locking)")
    elif "aws" in clouds and state is not None and state.aws is not None and not state.aws.kms_key_id:
        add("warning", "state.aws.kms_key_id", "production state in S3 is encrypted with S3's own key; set kms_key_id to a KMS key ARN "
            "you control (who may decrypt the state, with its secrets, is then the key's policy)")
    if "gcp" in clouds and (state is None or state.gcp is None):
        add("warning", "state.gcp" if state else "state",
            "production keeps the GCP stacks' Terraform state in local files beside the spec: no locking, no encryption, one "
            "machine's copy, secrets in clear; set state: {gcp: {bucket: <state bucket>, kms_encryption_key: "
            "projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>}} (GCS, written with that Cloud KMS key, locked by GCS)")
