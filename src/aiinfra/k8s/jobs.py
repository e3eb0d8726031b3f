"""Training and data processing on the Kubernetes platform (issue 29; SPEC.md v3 "Platforms"; STYLE.md "Kubernetes
platform"): each run is a JobSet admitted whole by Kueue, started on schedule (or by hand) by a CronJob whose
service account may do nothing but create that JobSet. Plain Kubernetes documents, no CDK (``aiinfra.k8s``).

Why a JobSet and not an indexed Job (kubernetes-sigs/jobset ``site/content/en/docs/concepts``, v0.12):

- rendezvous: JobSet makes the headless Service ``<run>`` itself and gives every pod the stable DNS name
  ``<run>-<replicatedJob>-<jobIndex>-<podIndex>.<run>`` ("DNS hostnames for Pods"); an indexed Job needs its own
  Service and ``subdomain`` wired by hand;
- restart-all: ``failurePolicy.maxRestarts`` recreates every Job of the set when one fails ("JobSet termination":
  "A restart is done by recreating all child jobs"), which is what a collective run needs (one lost rank ends the
  attempt on all ranks); an indexed Job only replaces the failed pod, and the survivors hang in the collective;
- gang admission: Kueue admits a JobSet as one Workload, all its pods at once or none (kubernetes-sigs/kueue
  ``site/content/en/docs/tasks/run/jobsets.md``: the queue is the ``kueue.x-k8s.io/queue-name`` label, the
  resources those of the replicated jobs x parallelism); the JobSet is created with ``spec.suspend: true`` and Kueue
  unsuspends it on admission.

What a run is (``run_document``): one replicated job ``node`` of ``parallelism = completions = nodes`` indexed
pods, one a node (pod anti-affinity on the hostname, and every pod asks for all of its node's GPUs / Neuron devices
/ EFA interfaces), on the workload's node pool(s) (``aiinfra.dev/pool``), tolerating the pool's taint, as the
workload's service account ``<namespace>/<workload>`` (its cloud identity: EKS Pod Identity / GKE Workload
Identity), with ``/dev/shm`` in memory and ``/scratch`` on the node's local NVMe (an emptyDir: on EKS the AL2023
node puts the kubelet's ephemeral storage on the instance store, on GKE the pool's local SSDs hold it:
``ephemeral_storage_local_ssd_config``). The container is the spec's image; the spec's ``command`` is the
container's ``args`` (what ``docker run IMAGE COMMAND`` does on the VMs: the image's entrypoint stays). It sees the
contract the VM boot gives it (boot/node.sh ``contract_env`` / ``rendezvous_env``):

- ``AIINFRA_WORKLOAD``; ``AIINFRA_RUN_ID`` (the JobSet's uid, one per run); ``AIINFRA_CHECKPOINT_URI`` /
  ``AIINFRA_DATA_URI`` (``s3://`` / ``gs://<data bucket>/<workload>/checkpoints|data/``; the bucket's name is known
  only once the foundation is applied (AWS names it from a prefix): given as ``data_bucket`` (a Terraform token of
  the objects stack) it is written in, else it is read from the namespace's ConfigMap ``STORAGE_CONFIG``, key
  ``data-bucket`` (``storage_config``), as the VM reads it from the instance's metadata at boot);
  ``AIINFRA_SCRATCH`` (``/scratch``);
- torchrun's ``PET_NNODES``, ``PET_NPROC_PER_NODE``, ``PET_NODE_RANK``, ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``
  and the generic ``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``, ``NNODES``, ``GPUS_PER_NODE``, ``WORLD_SIZE``:
  the rank is the pod's Job completion index (the ``batch.kubernetes.io/job-completion-index`` annotation, through
  the downward API), the master pod 0's DNS name. ``command: ["torchrun", "train.py"]`` on N nodes forms one world
  of N x processes-a-node ranks (one a GPU, one a NeuronCore on Neuron);
- the interconnect's settings: EFA pools ``FI_PROVIDER=efa`` (Neuron: and ``FI_EFA_USE_DEVICE_RDMA=1``), as the VM
  boot sets them (boot/aws.sh ``cloud_container_env``); the image brings libfabric and the NCCL plugin (the EFA
  device plugin passes the devices, not the host's libraries). A pod has one network interface (``eth0``), so the
  VM's ``NCCL_SOCKET_IFNAME`` / ``GLOO_SOCKET_IFNAME`` are not needed;
- the user's ``env`` (names aiinfra sets win, as on the VMs).

Not here yet: GKE GPUDirect (TCPX / TCPXO / RDMA) pods need the cluster's multi-network objects (GKENetworkParamSet,
Network), the ``networking.gke.io/interfaces`` annotation and, for TCPX(O), the receive-data-path manager sidecar;
until those come, runs on those pools use NCCL over the pod network. On a GKE pool with queued provisioning (Dynamic
Workload Scheduler), the pods would also need the ``cloud.google.com/gke-queued`` toleration and the ClusterQueue
a ProvisioningRequest admission check.

Limits (SPEC.md v2 "What runs on the nodes"):

- ``retries``: ``failurePolicy.maxRestarts`` (restart-all, ``BlockingRecreate``: the new attempt's pods start once
  the old ones are gone, so no two attempts write a checkpoint at once); the pods ``restartPolicy: Never`` and the
  Job ``backoffLimit: 0``, so a failed pod fails its Job and the Job restarts the set. The container resumes from
  the last checkpoint under ``AIINFRA_CHECKPOINT_URI``, as on the VMs.
- ``max_runtime``: the hard stop. Each attempt's Job has ``activeDeadlineSeconds`` (its pods are stopped with their
  grace, and the Job fails with reason ``DeadlineExceeded``), and the failure policy's first rule fails the whole
  JobSet on that reason instead of restarting it: the run is reported failed, with the reason. A restart starts a
  new Job, whose deadline counts from its own start, so the run's total is capped as well by Kueue's
  ``kueue.x-k8s.io/max-exec-time-seconds`` label (the Workload is deactivated once it has been admitted that long
  in all; kueue ``site/content/en/docs/concepts/workload.md``, "Maximum execution time").
- checkpoint grace: ``terminationGracePeriodSeconds`` is the VM boot's stop grace (boot/aws.sh 90 s within EC2's
  two-minute spot notice; boot/gcp.sh 25 s within a Spot VM's 30 s).
- ``schedule``: a CronJob (``batch/v1``, ``timeZone: Etc/UTC``, ``concurrencyPolicy: Forbid``) runs ``kubectl
  create -f`` of the JobSet document kept in a ConfigMap. Its service account's Role allows exactly ``create`` on
  ``jobsets.jobset.x-k8s.io`` in the namespace: no get, list, delete, nor anything on pods. A run has a fixed name
  (``run_name``), so a start that finds the previous run still there fails (``AlreadyExists``: never two runs of a
  workload at once writing one checkpoint, as the VM's run record ensures), and a finished run is deleted by the
  JobSet controller after ``ttlSecondsAfterFinished`` (``run_ttl_seconds``: long enough to read its outcome, short
  enough to be gone before the next start). No ``delete`` is needed, so none is given.
- no ``schedule``: runs on demand only, as on the VMs. The same CronJob is created suspended (it never fires), and
  a run starts with ``kubectl create job --from=cronjob/<workload>-start <any name>`` (the documented way to run a
  CronJob's job by hand: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_create/kubectl_create_job/).
  The objects stack therefore never creates a run itself: applying the stack again cannot start, restart or
  change a run, and Kueue's edits of an admitted JobSet (``suspend``, the flavor's node selector) are no drift.
- no ``image``: nothing is produced (no image, no run: the VM stacks start no node either).

Data processing (Spark): the data-pipeline issue brings the managed Spark service; until then a ``data_processing``
workload runs its container as the same gang job (one pod a node, the same rendezvous names), which is what its
VMs do today (README, "Platforms").
"""

from __future__ import annotations

from typing import Any

import yaml

from aiinfra.boot.workload import procs_per_node, spec_workload
from aiinfra.k8s import LOCAL_QUEUE, POOL_LABEL, QUEUE_LABEL, Doc, labels, namespace
from aiinfra.k8s.queues import CPU, EFA, GPU, MEMORY, NEURON, bytes_quantity, cpu_quantity, node_taints
from aiinfra.k8s.versions import JOBSET_API
from aiinfra.naming import short

# ---- names and constants -----------------------------------------------------------------------------------------

# The replicated job of a run: pods <run>-node-0-<rank>, rank 0's DNS name <run>-node-0-0.<run>.
REPLICATED_JOB = "node"
CONTAINER = "workload"
# The namespace's ConfigMap with the foundation's data bucket (storage_config), and its key.
STORAGE_CONFIG = "aiinfra-storage"
BUCKET_KEY = "data-bucket"
# Kueue's cap on a Workload's admitted time across its admissions (kueue v0.19.2 pkg/controller/constants/constants.go
# MaxExecTimeSecondsLabel).
MAX_EXEC_LABEL = "kueue.x-k8s.io/max-exec-time-seconds"
# Set by the Job controller on every pod of an Indexed Job
# (https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode) and by JobSet on its pods
# (jobset api/jobset/v1alpha2/jobset_types.go JobSetNameKey / JobSetUIDKey).
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
JOBSET_UID_LABEL = "jobset.sigs.k8s.io/jobset-uid"
MASTER_PORT = 29500  # BootConfig.master_port's default: the same port on both platforms
# The checkpoint grace a stopped container gets (boot/aws.sh / boot/gcp.sh cloud_stop_grace_seconds).
STOP_GRACE_SECONDS = {"aws": 90, "gcp": 25}
URI_SCHEME = {"aws": "s3", "gcp": "gs"}
# A finished run is kept at most a day (its status, its Kueue Workload, its pods' last logs), then deleted.
RUN_KEEP_SECONDS = 86400
# The share of a node's vCPUs and memory a run's pod requests: the rest is the kubelet's reservation and the node's
# DaemonSets (device plugins, CNI, DCGM exporter). Its limits are the whole node, as the VM's container has it.
NODE_REQUEST_SHARE = 0.8
# Kubernetes' own kubectl image (kubernetes/kubernetes#116672, "Added a container image for kubectl at
# registry.k8s.io/kubectl", published with every release since 1.28: kubernetes/sig-release#2260); its entrypoint is
# /bin/kubectl (build/server-image/kubectl/Dockerfile). The cluster's own minor version, .0: kubectl's version skew
# policy allows one minor either way (https://kubernetes.io/releases/version-skew-policy/#kubectl).
KUBECTL_IMAGE = "registry.k8s.io/kubectl:v{version}.0"
RUN_FILE = "jobset.yaml"
RUN_DIR = "/etc/aiinfra/run"
# Written in the CronJob when no schedule is given: the CronJob is suspended and never fires.
ON_DEMAND_SCHEDULE = "@yearly"


def run_name(w) -> str:
    """The JobSet of the workload's runs: the workload's name (``run-`` before it when it starts with a digit: job
    and pod names are DNS-1035 labels, which start with a letter), cut so that its longest pod name,
    ``<run>-node-0-<last rank>-<5 random>``, stays within 63 characters (jobset pkg/webhooks/jobset_webhook.go)."""
    name = w.name if w.name[:1].isalpha() else f"run-{w.name}"
    room = 63 - len(f"-{REPLICATED_JOB}-0-{max(w.nodes - 1, 0)}-abcde")
    return short(name, room)


def master_addr(w) -> str:
    """Pod 0's DNS name: ``<run>-node-0-0.<run>`` (the headless Service is named after the JobSet: jobset concepts,
    "DNS hostnames for Pods"; the pod's namespace is in its DNS search path)."""
    run = run_name(w)
    return f"{run}-{REPLICATED_JOB}-0-0.{run}"


def launcher_name(w) -> str:
    """The CronJob's service account, Role and RoleBinding."""
    return f"{w.name}-launcher"


def cronjob_name(w) -> str:
    """The CronJob that starts runs (at most 52 characters: workload names are 40 at most)."""
    return f"{w.name}-start"


def template_name(w) -> str:
    """The ConfigMap holding the run's JobSet document."""
    return f"{w.name}-run"


def _component(w) -> str:
    return w.type.replace("_", "-")


def _meta(spec, name: str, w, **extra) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace(spec), "labels": labels(spec, _component(w), w.name)}
    meta.update(extra)
    return meta


def max_runtime_seconds(w) -> int | None:
    return round(w.max_runtime_hours * 3600) if w.max_runtime_hours else None


def run_ttl_seconds(w) -> int:
    """How long a finished run is kept: a day, and for scheduled work at most half of what is left between a run's
    hard stop (``max_runtime`` after its start) and the next start, so the next start finds it gone."""
    if not w.schedule:
        return RUN_KEEP_SECONDS
    from aiinfra.cron import Cron

    gap = Cron.parse(w.schedule).shortest_gap_hours()
    if gap is None:
        return RUN_KEEP_SECONDS
    left = gap * 3600 - (max_runtime_seconds(w) or 0)
    return int(min(RUN_KEEP_SECONDS, max(0, left // 2)))


# ---- the run -----------------------------------------------------------------------------------------------------


def _procs(w) -> int:
    return procs_per_node(w) or w.gpus_per_node or 1


def _env(spec, w, cloud: str, data_bucket: str | None) -> list[dict[str, Any]]:
    """The container's environment, in order (a ``$(NAME)`` reference expands only names defined before it:
    https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/)."""
    scheme, prefix = URI_SCHEME[cloud], w.name
    nodes, procs = w.nodes, _procs(w)
    def rank() -> dict[str, Any]:  # a fresh dict each time: no shared node (no YAML anchor) in the document
        return {"valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}

    master = master_addr(w)
    env: list[dict[str, Any]] = [
        {"name": "AIINFRA_WORKLOAD", "value": w.name},
        {"name": "AIINFRA_RUN_ID", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{JOBSET_UID_LABEL}']"}}},
        {"name": "AIINFRA_DATA_BUCKET", "value": data_bucket} if data_bucket else
        {"name": "AIINFRA_DATA_BUCKET", "valueFrom": {"configMapKeyRef": {"name": STORAGE_CONFIG, "key": BUCKET_KEY}}},
        {"name": "AIINFRA_CHECKPOINT_URI", "value": f"{scheme}://$(AIINFRA_DATA_BUCKET)/{prefix}/checkpoints/"},
        {"name": "AIINFRA_DATA_URI", "value": f"{scheme}://$(AIINFRA_DATA_BUCKET)/{prefix}/data/"},
        {"name": "AIINFRA_SCRATCH", "value": "/scratch"},
        {"name": "PET_NNODES", "value": str(nodes)},
        {"name": "PET_NPROC_PER_NODE", "value": str(procs)},
        {"name": "PET_NODE_RANK", **rank()},
        {"name": "PET_MASTER_ADDR", "value": master},
        {"name": "PET_MASTER_PORT", "value": str(MASTER_PORT)},
        {"name": "MASTER_ADDR", "value": master},
        {"name": "MASTER_PORT", "value": str(MASTER_PORT)},
        {"name": "NODE_RANK", **rank()},
        {"name": "NNODES", "value": str(nodes)},
        {"name": "GPUS_PER_NODE", "value": str(w.gpus_per_node)},
        {"name": "WORLD_SIZE", "value": str(nodes * procs)},
    ]
    if w.multi_node and w.interconnect == "efa":
        # boot/aws.sh cloud_container_env: FI_PROVIDER=efa keeps libfabric on EFA; Neuron's collectives also ask for
        # FI_EFA_USE_DEVICE_RDMA=1 (torch-neuronx setup-trn1-multi-node-execution).
        env.append({"name": "FI_PROVIDER", "value": "efa"})
        if w.accelerator_runtime == "neuron":
            env.append({"name": "FI_EFA_USE_DEVICE_RDMA", "value": "1"})
    ours = {e["name"] for e in env}
    env += [{"name": k, "value": v} for k, v in sorted(spec_workload(spec, w).env.items()) if k not in ours]
    return env


def _resources(w) -> dict[str, dict[str, str]]:
    """All of the node's accelerators and EFA interfaces (extended resources: the request is the limit), and
    ``NODE_REQUEST_SHARE`` of its vCPUs and memory (limits: the whole node). Devices as their plugins name them:
    NVIDIA's ``nvidia.com/gpu``; the Neuron device plugin's ``aws.amazon.com/neuron``, whole devices with all their
    cores (https://awsdocs-neuron.readthedocs-hosted.com/en/latest/containers/tutorials/k8s-neuron-device-plugin.html);
    the EFA device plugin's ``vpc.amazonaws.com/efa`` ("request EFA devices in the container's resource requests and
    limits": https://docs.aws.amazon.com/eks/latest/userguide/device-management-efa.html)."""
    mem = w.memory_gib_per_node * 2**30
    requests = {CPU: cpu_quantity(int(w.vcpus_per_node * NODE_REQUEST_SHARE * 1000) / 1000),
                MEMORY: bytes_quantity(int(mem * NODE_REQUEST_SHARE) // 2**20 * 2**20)}
    limits = {CPU: cpu_quantity(w.vcpus_per_node), MEMORY: bytes_quantity(int(mem) // 2**20 * 2**20)}
    devices: dict[str, str] = {}
    if w.gpu and w.gpus_per_node:
        devices[NEURON if w.accelerator_runtime == "neuron" else GPU] = str(w.gpus_per_node)
    if w.multi_node and w.interconnect == "efa" and w.efa_interfaces_per_node:
        devices[EFA] = str(w.efa_interfaces_per_node)
    return {"requests": {**requests, **devices}, "limits": {**limits, **devices}}


def _placement(pools: list, run: str) -> dict[str, Any]:
    """nodeSelector (one pool) or node affinity (a batch workload split over an on-demand and a spot pool), the
    pools' tolerations, and one pod of the run a node."""
    names = [p.name for p in pools]
    out: dict[str, Any] = {}
    affinity: dict[str, Any] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {JOBSET_NAME_LABEL: run}}, "topologyKey": "kubernetes.io/hostname"}]}}
    if len(names) == 1:
        out["nodeSelector"] = {POOL_LABEL: names[0]}
    elif names:
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": names}]}]}}
    out["affinity"] = affinity
    tolerations = {(t["key"], t["effect"]) for p in pools for t in node_taints(p)}
    if tolerations:
        out["tolerations"] = [{"key": k, "operator": "Exists", "effect": e} for k, e in sorted(tolerations)]
    return out


def run_document(spec, plan, w, cluster, image: str | None = None, data_bucket: str | None = None) -> Doc:
    """The JobSet of one run of batch workload ``w`` (its plan) on ``cluster``, suspended, in the queue; ``image``
    overrides the spec's; ``data_bucket``: the foundation's data bucket (a literal or a Terraform token of the
    objects stack), else read from the namespace's ConfigMap ``STORAGE_CONFIG``. Raises ValueError for a serving
    workload or when there is no image."""
    if w.type not in ("training", "data_processing"):
        raise ValueError(f"{w.name} is a {w.type} workload: runs are for training and data_processing")
    image = image or w.image
    if not image:
        raise ValueError(f"{w.name} has no image: give the workload's image (spec key image)")
    run, pools = run_name(w), plan.pools_of(w.name)
    deadline = max_runtime_seconds(w)
    js_labels = {**labels(spec, _component(w), w.name), QUEUE_LABEL: LOCAL_QUEUE}
    if deadline:
        js_labels[MAX_EXEC_LABEL] = str(deadline)
    container: dict[str, Any] = {"name": CONTAINER, "image": image}
    command = spec_workload(spec, w).command
    if command:
        container["args"] = list(command)
    container.update({
        "env": _env(spec, w, cluster.cloud, data_bucket), "resources": _resources(w),
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "scratch", "mountPath": "/scratch"}]})
    pod_spec: dict[str, Any] = {
        "serviceAccountName": w.name,
        # The cloud identity needs no Kubernetes API token (EKS Pod Identity and GKE's metadata server bring their own).
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": STOP_GRACE_SECONDS[cluster.cloud],
        **_placement(pools, run),
        "containers": [container],
        # docker's --ipc host on the VMs: NCCL and the data loaders' shared memory; the node's scratch.
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}, {"name": "scratch", "emptyDir": {}}],
    }
    job_spec: dict[str, Any] = {"parallelism": w.nodes, "completions": w.nodes, "completionMode": "Indexed", "backoffLimit": 0}
    if deadline:
        job_spec["activeDeadlineSeconds"] = deadline
    job_spec["template"] = {"metadata": {"labels": labels(spec, _component(w), w.name)}, "spec": pod_spec}
    failure: dict[str, Any] = {"maxRestarts": w.retries, "restartStrategy": "BlockingRecreate"}
    if deadline:
        failure["rules"] = [{"name": "HardStop", "action": "FailJobSet", "onJobFailureReasons": ["DeadlineExceeded"]}]
    return {
        "apiVersion": JOBSET_API, "kind": "JobSet",
        "metadata": {"name": run, "namespace": namespace(spec), "labels": js_labels},
        "spec": {
            "suspend": True,
            "ttlSecondsAfterFinished": run_ttl_seconds(w),
            "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
            "failurePolicy": failure,
            "replicatedJobs": [{"name": REPLICATED_JOB, "replicas": 1,
                                "template": {"metadata": {"labels": labels(spec, _component(w), w.name)}, "spec": job_spec}}],
        },
    }


# ---- what starts runs --------------------------------------------------------------------------------------------

# The launcher may create JobSets in its namespace, and nothing else.
LAUNCHER_RULES = [{"apiGroups": [JOBSET_API.split("/")[0]], "resources": ["jobsets"], "verbs": ["create"]}]


def _launcher_pod(spec, w, cluster) -> dict[str, Any]:
    return {
        "serviceAccountName": launcher_name(w),
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "kubectl", "image": KUBECTL_IMAGE.format(version=cluster.version),
            "command": ["/bin/kubectl", "create", "-f", f"{RUN_DIR}/{RUN_FILE}"],
            "env": [{"name": "HOME", "value": "/tmp"}],  # kubectl's cache, on the writable emptyDir
            "resources": {"requests": {CPU: "50m", MEMORY: "64Mi"}, "limits": {CPU: "500m", MEMORY: "256Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "run", "mountPath": RUN_DIR, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "run", "configMap": {"name": template_name(w)}}, {"name": "tmp", "emptyDir": {}}],
    }


def batch_documents(spec, plan, w, cluster, image: str | None = None, data_bucket: str | None = None) -> list[Doc]:
    """The documents of batch workload ``w`` (its WorkloadPlan) on ``cluster``: the launcher's ServiceAccount, Role
    and RoleBinding, the ConfigMap holding the run's JobSet (``run_document``) and the CronJob that creates it on
    ``w.schedule`` (suspended without one: runs on demand). ``image`` overrides the spec's (e.g. a deploy-time
    value); none at all: [] (nothing runs). ``data_bucket``: as ``run_document`` takes it."""
    if not (image or w.image):
        return []
    run = run_document(spec, plan, w, cluster, image, data_bucket)
    name = launcher_name(w)
    cron: dict[str, Any] = {
        "schedule": w.schedule or ON_DEMAND_SCHEDULE,
        "timeZone": "Etc/UTC",  # SPEC.md: schedules are cron in UTC
        "concurrencyPolicy": "Forbid",
        "suspend": not w.schedule,
        "jobTemplate": {"metadata": {"labels": labels(spec, _component(w), w.name)}, "spec": {
            # A failed create (AlreadyExists: the previous run is still there) is not retried.
            "backoffLimit": 0,
            "template": {"metadata": {"labels": labels(spec, _component(w), w.name)}, "spec": _launcher_pod(spec, w, cluster)}}},
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(spec, name, w)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(spec, name, w),
         "rules": [dict(r) for r in LAUNCHER_RULES]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(spec, name, w),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace(spec)}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(spec, template_name(w), w),
         "data": {RUN_FILE: yaml.safe_dump(run, sort_keys=False)}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": _meta(spec, cronjob_name(w), w), "spec": cron},
    ]


def storage_config(spec, data_bucket: str) -> Doc:
    """The namespace's ConfigMap ``STORAGE_CONFIG`` with the foundation's data bucket (``data-bucket``), which the
    runs' ``AIINFRA_CHECKPOINT_URI`` / ``AIINFRA_DATA_URI`` read: one per namespace, made by whoever knows the
    bucket's name (the objects stack, from the foundation's ``data_bucket`` output)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": STORAGE_CONFIG, "namespace": namespace(spec), "labels": labels(spec, "storage")},
            "data": {BUCKET_KEY: data_bucket}}
