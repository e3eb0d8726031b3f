"""The environment's governance objects in one cluster (issue 29; SPEC.md v3 "Platforms"): the namespace, the
guide's ``resource_quotas.<environment>`` as its ResourceQuota, a service account per workload, and the Kueue
objects every batch run is admitted through (a ResourceFlavor per node pool, the environment's ClusterQueue, the
namespace's LocalQueue). Plain Kubernetes documents, no CDK (``aiinfra.k8s``).

Kueue as its docs describe it (kubernetes-sigs/kueue ``site/content/en/docs/concepts``, v0.19):

- a ResourceFlavor per pool ties quota to the pool's nodes by its ``aiinfra.dev/pool`` label and carries the pool's
  taint as ``nodeTaints`` (resource_flavor.md, "ResourceFlavor taints for user-selective scheduling": only workloads
  whose pods tolerate the taint are assigned the flavor). No ``tolerations`` on the flavor: with matching
  tolerations Kueue would ignore the taints at admission and add the tolerations itself, letting any run onto GPU
  nodes; a run asks for the accelerator and tolerates its taint in its own pod template (k8s/jobs.py).
- the ClusterQueue's flavors are tried in list order (cluster_queue.md, "Flavors and Resources": Kueue assigns the
  first flavor with enough unused nominal quota): spot pools first, then on-demand. One resource group covers
  cpu, memory and the accelerators, so a pod set gets all of them from one flavor, the pool it runs on
  (cluster_queue.md, "Resource Groups").
- Kueue counts a flavor's quota on its own, and a ClusterQueue has no total over its flavors (borrowing, within a
  cohort, is per flavor too). So the spec's quota is split over the flavors, never repeated on each: the sum of a
  resource's nominal quotas is the spec's quota (the pools' batch capacity when that is less), and the total
  admitted can never exceed it. See ``_split``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiinfra.k8s import LOCAL_QUEUE, POOL_LABEL, Doc, cluster_queue, labels, namespace
from aiinfra.k8s.versions import KUEUE_API
from aiinfra.naming import short
from aiinfra.spec.models import Quota

GIB = 2**30

# ---- names -----------------------------------------------------------------------------------------------------

# The annotation that tells GKE which Google service account a Kubernetes service account acts as
# (https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#kubernetes-sa-to-iam);
# constructs/gcp/gke_workload_identity.py ANNOTATION, the same text.
GKE_SA_ANNOTATION = "iam.gke.io/gcp-service-account"


def gcp_pod_account_id(spec, workload: str) -> str:
    """The account id of the Google service account a workload's pods act as on GKE (stacks/kubernetes_gcp.py
    creates it with this id): ``<project>-<workload>-pods``, cut to 30 characters with a stable hash."""
    return short(f"{spec.project}-{workload}-pods", 30)


def gcp_pod_service_account_email(spec, workload: str) -> str:
    """That account's email: ``<account id>@<project id>.iam.gserviceaccount.com``, the form of every user-managed
    service account (https://cloud.google.com/iam/docs/service-account-types#user-managed)."""
    return f"{gcp_pod_account_id(spec, workload)}@{spec.clouds.gcp.project}.iam.gserviceaccount.com"


def flavor_name(pool) -> str:
    """The Kueue ResourceFlavor of a node pool: the pool's name (a DNS label of 40 characters at most, unique in
    its cluster, the value of its nodes' ``aiinfra.dev/pool`` label)."""
    return pool.name


def pool_flavors(cluster) -> list:
    """The cluster's node pools in the order Kueue tries their flavors: the spot pools first (the plan put only
    workloads that may run on spot there), then the on-demand ones, each group in the plan's order."""
    return [p for p in cluster.pools if p.capacity_type == "spot"] + [p for p in cluster.pools if p.capacity_type != "spot"]


def queued_pools(cluster) -> list:
    """The pools whose flavors the ClusterQueue lists: those a batch workload (training, data processing) runs
    on, in ``pool_flavors`` order. A serving pool's Deployments are not Kueue workloads (Kueue manages plain pods
    and Deployments only where its pod integration is turned on and the pods carry the queue label), so quota
    there would only be quota taken from the runs."""
    return [p for p in pool_flavors(cluster) if p.batch]


# ---- the pools' taints, as the nodes carry them ----------------------------------------------------------------

# constructs/aws/eks_node_pool.py TAINTS and constructs/gcp/gke_node_pool.py GPU_TAINT, in the Kubernetes form
# (the providers write NO_SCHEDULE for the API's NoSchedule); tests/test_k8s_queues.py reads both tables.
EKS_TAINTS = {"cuda": {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"},
              "neuron": {"key": "aws.amazon.com/neuron", "value": "true", "effect": "NoSchedule"}}
GKE_GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def node_taints(pool) -> list[dict[str, str]]:
    """The taints the pool's nodes carry: the accelerator's on an accelerator pool, none on a CPU pool."""
    if pool.cloud == "aws":
        return [dict(EKS_TAINTS[pool.accelerator_runtime])] if pool.accelerator_runtime in EKS_TAINTS else []
    return [dict(GKE_GPU_TAINT)] if pool.accelerator_type and pool.gpu_count else []


# ---- Kubernetes quantities -------------------------------------------------------------------------------------

_BINARY = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))
_DECIMAL = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3))


def bytes_quantity(n: int) -> str:
    """Bytes as a Kubernetes quantity (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/)
    with the largest exact suffix, binary (``200Gi``) or decimal (``500G``), whichever reads shorter: the spec
    keeps bytes, not the text it was written in, and this gives back the guide's ``200Gi`` / ``1000Gi`` as written."""
    binary = next((f"{n >> p}{s}" for s, p in _BINARY if n and n % (1 << p) == 0), str(n))
    decimal = next((f"{n // 10**p}{s}" for s, p in _DECIMAL if n and n % 10**p == 0), str(n))
    return binary if len(binary) <= len(decimal) else decimal


def cpu_quantity(cores: float) -> str:
    """Cores as a Kubernetes CPU quantity: ``"100"``, ``"500m"`` (the millicore is the finest unit)."""
    milli = round(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


# ---- the ResourceQuota -----------------------------------------------------------------------------------------

# Each key of the spec's Quota (spec/models.py) and how its value is written back: the ResourceQuota's spec.hard
# is the guide's block key for key (https://kubernetes.io/docs/concepts/policy/resource-quotas/).
_QUOTA_VALUES = {
    "requests_cpu": cpu_quantity, "requests_memory": bytes_quantity, "requests_gpu": str,
    "limits_cpu": cpu_quantity, "limits_memory": bytes_quantity, "limits_gpu": str,
    "persistentvolumeclaims": str, "requests_storage": bytes_quantity, "pods": str,
}
GPU_REQUESTS = "requests.nvidia.com/gpu"


def spec_quota(spec):
    """The spec's quota block of its own environment, or None."""
    return spec.resource_quotas.get(spec.environment)


def quota_hard(quota) -> dict[str, str]:
    """The ResourceQuota's ``spec.hard`` of a spec Quota: its keys as the guide writes them, values as Kubernetes
    quantities. One exception: a quota on an extended resource counts requests only ("for extended resources, only
    quota items with prefix requests. are allowed", resource-quotas page, "Quota for extended resources": they
    cannot be overcommitted, so a GPU's request is its limit); ``limits.nvidia.com/gpu`` is written as
    ``requests.nvidia.com/gpu`` (the lower of the two when both are given), never as a key Kubernetes ignores."""
    hard: dict[str, str] = {}
    for attr, render in _QUOTA_VALUES.items():
        value = getattr(quota, attr)
        if value is None:
            continue
        if attr == "limits_gpu":
            if quota.requests_gpu is None or value < quota.requests_gpu:
                hard[GPU_REQUESTS] = render(value)
            continue
        hard[Quota.model_fields[attr].alias or attr] = render(value)
    return hard


# The quota keys that oblige every container to state the resource: Kubernetes' pod evaluator refuses a pod whose
# container (init containers too) lacks the request or limit a quota of the namespace names ("must specify ...";
# kubernetes/kubernetes pkg/quota/v1/evaluator/core/pods.go, Constraints / enforcePodContainerConstraints; the
# resource-quotas page: "users must specify requests or limits for those values"). A limit alone also states the
# request (the API server defaults a missing request to the limit).
_MUST_SPECIFY = {"requests.cpu": ("requests", "cpu"), "requests.memory": ("requests", "memory"), "cpu": ("requests", "cpu"),
                 "memory": ("requests", "memory"), "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory")}


def _pod_specs(node):
    """Every pod spec in a document (a dict with a ``containers`` list): a Pod's, a Deployment's, a Job's, a
    JobSet's replicated jobs', a CronJob's."""
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield node
        for v in node.values():
            yield from _pod_specs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _pod_specs(v)


def _with_kept(docs: list[Doc]) -> list[Doc]:
    """``docs`` and the documents ConfigMaps keep as YAML text (a run's JobSet, created from there by its launcher)."""
    import yaml

    out = list(docs)
    for doc in docs:
        if doc.get("kind") == "ConfigMap":
            for text in (doc.get("data") or {}).values():
                try:
                    kept = yaml.safe_load(text) if isinstance(text, str) else None
                except yaml.YAMLError:
                    kept = None
                if isinstance(kept, dict) and "kind" in kept:
                    out.append(kept)
    return out


def quota_problems(spec, docs: list[Doc]) -> list[str]:
    """What the namespace's ResourceQuota would refuse in ``docs``: one line per container and resource it must state
    and does not (``<Kind>/<name>: container <c> must specify <requests|limits>.<resource> (resource_quotas.<env>
    has <key>)``). Empty without a quota block."""
    quota = spec_quota(spec)
    if quota is None:
        return []
    required = [(key, *_MUST_SPECIFY[key]) for key in quota_hard(quota) if key in _MUST_SPECIFY]
    out = []
    for doc in _with_kept(docs):
        for pod in _pod_specs(doc.get("spec", {})):
            for c in [*pod.get("initContainers", []), *pod["containers"]]:
                res = c.get("resources") or {}
                for key, kind, resource in required:
                    stated = resource in (res.get(kind) or {}) or (kind == "requests" and resource in (res.get("limits") or {}))
                    if not stated:
                        out.append(f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}: container {c.get('name')} must specify "
                                   f"{kind}.{resource} (resource_quotas.{spec.environment} has {key})")
    return out


# ---- the queue's nominal quotas ---------------------------------------------------------------------------------

# The resources the ClusterQueue's one resource group covers, with the spec's key that caps each. A pod set that
# requests a resource no resource group covers is never admitted, so the EFA devices a collective run asks for
# (the EFA device plugin's vpc.amazonaws.com/efa, https://docs.aws.amazon.com/eks/latest/userguide/node-efa.html)
# are covered where a pool has them; the Neuron device plugin's aws.amazon.com/neuron
# (https://awsdocs-neuron.readthedocs-hosted.com/en/latest/containers/kubernetes-getting-started.html) where a pool
# has Neuron devices. Neither has a key in the guide's quota: their nominal quota is the pools' capacity.
CPU, MEMORY, GPU, NEURON, EFA = "cpu", "memory", "nvidia.com/gpu", "aws.amazon.com/neuron", "vpc.amazonaws.com/efa"


@dataclass(frozen=True)
class FlavorQuota:
    """One flavor's nominal quota of each covered resource, in the resource's unit (cpu: millicores, memory:
    bytes, devices: count)."""

    pool: object
    nominal: dict[str, int]


def _per_node(pool, plan) -> dict[str, int]:
    """One node of the pool: its vCPUs (millicores), memory (bytes) and accelerator devices, from the plan's shape
    (the machine's own figures: what pods may request of a node is a little less, the kubelet's reservations)."""
    w = next((x for x in plan.workloads if x.name in pool.workloads), None)
    vcpus = w.vcpus_per_node if w else 0
    mem = w.memory_gib_per_node if w else 0.0
    return {CPU: vcpus * 1000, MEMORY: int(round(mem * GIB)),
            GPU: pool.gpu_count if pool.accelerator_runtime == "cuda" else 0,
            NEURON: pool.gpu_count if pool.accelerator_runtime == "neuron" else 0,
            EFA: pool.efa_interfaces_per_node if pool.interconnect == "efa" else 0}


def _batch_runs(pool, plan) -> list[int]:
    """The nodes one run of each batch workload takes on the pool (its maximum there)."""
    out = []
    for name in pool.workloads:
        w = next((x for x in plan.workloads if x.name == name), None)
        if w is None or w.type not in ("training", "data_processing"):
            continue
        if w.capacity == "mixed":  # the on-demand base on the on-demand pool, the rest on the spot one (planner/platform.py)
            out.append(w.on_demand_base_nodes if pool.capacity_type == "on_demand" else max(w.max_nodes - w.on_demand_base_nodes, 0))
        else:
            out.append(w.max_nodes)
    return out


def _split(total: int, levels: list[list[int]]) -> list[int]:
    """``total`` split over flavors by levels: every flavor is raised to its first level, then to the next, and so on,
    never above its last level; at the level the rest of ``total`` cannot fill, it is shared in proportion to what
    each flavor still lacks (largest remainders, in flavor order, get the units left by rounding). The levels here:
    one run of the flavor's largest batch workload (every workload admissible before any flavor holds two runs),
    then every batch workload's run at once (the pool's batch capacity). The sum is ``total``, or the capacity when
    the pools cannot hold that much."""
    alloc = [0] * len(levels[0])
    left = total
    for level in levels:
        lack = [max(want - a, 0) for want, a in zip(level, alloc)]
        need = sum(lack)
        if need <= left:
            alloc = [a + x for a, x in zip(alloc, lack)]
            left -= need
            continue
        shares = [left * x // need for x in lack]
        by_remainder = sorted(range(len(lack)), key=lambda i: (-(left * lack[i] % need), i))
        for i in by_remainder[: left - sum(shares)]:
            shares[i] += 1
        return [a + x for a, x in zip(alloc, shares)]
    return alloc


def _spec_limit(quota, resource: str) -> tuple[int | None, str]:
    """The spec's cap on a Kueue resource in its unit, and the key it comes from."""
    if quota is None:
        return None, ""
    if resource == CPU and quota.requests_cpu is not None:
        return round(quota.requests_cpu * 1000), "requests.cpu"
    if resource == MEMORY and quota.requests_memory is not None:
        return quota.requests_memory, "requests.memory"
    if resource == GPU:
        gpus = [g for g in (quota.requests_gpu, quota.limits_gpu) if g is not None]
        if gpus:
            return min(gpus), GPU_REQUESTS if quota.requests_gpu is not None and quota.requests_gpu == min(gpus) else "limits.nvidia.com/gpu"
    return None, ""


def _show(resource: str, n: int) -> str:
    return cpu_quantity(n / 1000) if resource == CPU else bytes_quantity(n) if resource == MEMORY else str(n)


def covered_resources(cluster) -> list[str]:
    """The resources the ClusterQueue covers: cpu, memory and nvidia.com/gpu always (the guide's quota keys), the
    Neuron devices and EFA interfaces where a queued pool has them."""
    pools = queued_pools(cluster)
    out = [CPU, MEMORY, GPU]
    if any(p.accelerator_runtime == "neuron" and p.gpu_count for p in pools):
        out.append(NEURON)
    if any(p.interconnect == "efa" and p.efa_interfaces_per_node for p in pools):
        out.append(EFA)
    return out


def flavor_quotas(spec, plan, cluster) -> tuple[list[FlavorQuota], list[str]]:
    """(the nominal quota of each queued pool's flavor, in Kueue's order; the reasons, one a resource)."""
    pools = queued_pools(cluster)
    resources = covered_resources(cluster)
    quota = spec_quota(spec)
    per_node = [_per_node(p, plan) for p in pools]
    runs = [_batch_runs(p, plan) for p in pools]
    nominal: list[dict[str, int]] = [{} for _ in pools]
    reasons: list[str] = []
    base = f"resource_quotas.{spec.environment}"
    for r in resources:
        largest = [max(rs, default=0) * n[r] for rs, n in zip(runs, per_node)]
        capacity = [sum(rs) * n[r] for rs, n in zip(runs, per_node)]
        limit, key = _spec_limit(quota, r)
        if limit is None:
            split = capacity
            why = f"no {base}.requests.{r} in the spec" if r in (CPU, MEMORY, GPU) else f"the guide's quota has no key for {r}"
            reasons.append(f"Kueue {r}: {why}, so each flavor's nominal quota is its pool's batch capacity "
                           f"(max nodes x per-node {r}), {_show(r, sum(split))} in all")
        else:
            if sum(capacity) <= limit:
                split = capacity
                reasons.append(f"Kueue {r}: {base}.{key} {_show(r, limit)} is at or above the pools' batch capacity "
                               f"{_show(r, sum(capacity))}: each flavor gets its pool's capacity")
            else:
                # Split in whole cores / GiB where the quota is written in them, so each share reads as the quota does.
                q = next((u for u in {CPU: (1000,), MEMORY: (GIB, 2**20)}.get(r, ()) if limit % u == 0), 1)
                split = [a * q for a in _split(limit // q, [[x // q for x in largest], [x // q for x in capacity]])]
                split[0] += limit - sum(split)  # what whole units leave over (capacity floored to them), so the sum is the quota
                reasons.append(f"Kueue {r}: {base}.{key} {_show(r, limit)} split over the flavors (Kueue counts each flavor "
                               "on its own): first one run of each pool's largest batch workload, then every run at once, spot "
                               "pools first; the nominal quotas add up to the quota")
                if sum(largest) > limit:
                    reasons.append(f"Kueue {r}: {base}.{key} is less than one run of each pool's largest batch workload on "
                                   f"whole nodes ({_show(r, sum(largest))}): it is shared in proportion, and a run is admitted "
                                   "when its pods' requests fit its flavor's share")
        for i, a in enumerate(split):
            nominal[i][r] = a
    return [FlavorQuota(p, n) for p, n in zip(pools, nominal)], reasons


def quota_reasons(spec, plan, cluster) -> list[str]:
    """Why the cluster's ClusterQueue has the nominal quotas it has (for the plan's reasons and synth's notes)."""
    return flavor_quotas(spec, plan, cluster)[1]


# ---- Pod Security Admission ----------------------------------------------------------------------------------------

def pod_security_level(cluster) -> str:
    """The Pod Security Standard enforced in the namespace
    (https://kubernetes.io/docs/concepts/security/pod-security-standards/): ``baseline``, no privileged containers,
    host namespaces, hostPath volumes, host ports or capabilities added beyond the default set. What the runs and
    servers need is none of those: GPUs, Neuron and EFA devices come through their device plugins' resources,
    /dev/shm and scratch are emptyDir volumes (k8s/jobs.py, k8s/serving.py). Not ``restricted``: it also requires
    runAsNonRoot, and the framework images the guide's workloads run (nvcr.io/nvidia/pytorch, tritonserver) run as
    root; it is warned and audited instead, so what a pod would have to change shows without stopping it.

    GKE's GPUDirect-TCPX(O) / RDMA pods, once the runs carry them, need more than baseline: the receive-data-path
    daemon beside the trainer adds NET_ADMIN (or runs privileged), the trainer IPC_LOCK, and the NCCL plugins are
    read from the node through hostPath (GoogleCloudPlatform/container-engine-accelerators
    gpudirect-tcpxo/nccl-test-latest.yaml); such a namespace would be ``privileged``. ``cluster`` is taken for that."""
    return "baseline"


def _psa_labels(cluster) -> dict[str, str]:
    # https://kubernetes.io/docs/concepts/security/pod-security-admission/#pod-security-admission-labels-for-namespaces:
    # the mode labels and their -version labels, pinned to the cluster's version so an upgrade does not change the
    # policy under running workloads.
    version = f"v{cluster.version}"
    out = {}
    for mode, level in (("enforce", pod_security_level(cluster)), ("warn", "restricted"), ("audit", "restricted")):
        out[f"pod-security.kubernetes.io/{mode}"] = level
        out[f"pod-security.kubernetes.io/{mode}-version"] = version
    return out


# ---- the documents -------------------------------------------------------------------------------------------------

def _meta(spec, name: str, component: str, ns: str | None = None, workload: str | None = None, **extra) -> dict:
    meta = {"name": name, "labels": labels(spec, component, workload)}
    if ns:
        meta["namespace"] = ns
    meta.update(extra)
    return meta


def _workloads_of(plan, cluster) -> list:
    return [w for w in plan.workloads if w.cloud == cluster.cloud and w.region == cluster.region]


def governance_documents(spec, plan, cluster) -> list[Doc]:
    """The environment's governance objects in ``cluster``, in apply order: the Namespace, its ResourceQuota (when
    the spec has a quota block for its environment), a ServiceAccount per workload on the cluster, a
    ResourceFlavor per node pool, and when a batch workload runs here the ClusterQueue and the namespace's
    LocalQueue."""
    ns = namespace(spec)
    ns_labels = {**labels(spec, "governance"), **_psa_labels(cluster)}
    docs: list[Doc] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": ns_labels}}]
    quota = spec_quota(spec)
    if quota is not None:
        docs.append({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(spec, spec.environment, "governance", ns),
                     "spec": {"hard": quota_hard(quota)}})
    for w in _workloads_of(plan, cluster):
        # The identity stacks bind <namespace>/<workload>: EKS Pod Identity by an association of the cluster,
        # namespace and service account, with nothing on the service account
        # (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-association.html; IRSA's role-arn annotation is
        # not used); GKE Workload Identity through the annotation naming the Google account the pods act as.
        annotations = {GKE_SA_ANNOTATION: gcp_pod_service_account_email(spec, w.name)} if cluster.cloud == "gcp" else None
        meta = _meta(spec, w.name, "identity", ns, w.name, **({"annotations": annotations} if annotations else {}))
        docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta})
    for pool in pool_flavors(cluster):
        flavor_spec: dict = {"nodeLabels": {POOL_LABEL: pool.name}}
        taints = node_taints(pool)
        if taints:
            flavor_spec["nodeTaints"] = taints
        docs.append({"apiVersion": KUEUE_API, "kind": "ResourceFlavor", "metadata": _meta(spec, flavor_name(pool), "queue"),
                     "spec": flavor_spec})
    queued, reasons = flavor_quotas(spec, plan, cluster)
    if not queued:
        return docs
    resources = covered_resources(cluster)
    flavors = [{"name": flavor_name(fq.pool), "resources": [{"name": r, "nominalQuota": _show(r, fq.nominal[r])} for r in resources]}
               for fq in queued]
    docs.append({
        "apiVersion": KUEUE_API, "kind": "ClusterQueue",
        "metadata": _meta(spec, cluster_queue(spec), "queue", annotations={"aiinfra.dev/quota": "; ".join(reasons)}),
        "spec": {
            # Only the environment's namespace (kubernetes.io/metadata.name is set on every namespace by the
            # control plane: cluster_queue.md, "Namespace selector").
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            # BestEffortFIFO: a run that cannot be admitted yet (its flavor's quota taken) does not block a later
            # run that fits another flavor; StrictFIFO would hold every pool idle behind the oldest run
            # (cluster_queue.md, "Queueing strategy").
            "queueingStrategy": "BestEffortFIFO",
            # Preemption only for a higher-priority run, never among equals (no run loses its progress to a newer
            # one of the same priority); no cohort, so nothing is reclaimed from other queues.
            "preemption": {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Never"},
            "resourceGroups": [{"coveredResources": resources, "flavors": flavors}],
        },
    })
    docs.append({"apiVersion": KUEUE_API, "kind": "LocalQueue", "metadata": _meta(spec, LOCAL_QUEUE, "queue", ns),
                 "spec": {"clusterQueue": cluster_queue(spec)}})
    return docs
