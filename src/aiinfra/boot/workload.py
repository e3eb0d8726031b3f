"""A planned workload's ``BootConfig``: the plan's shape and schedule limits with the spec's v2 keys
(what runs on the nodes). No cdktf here: ``aiinfra synth`` checks every workload's boot before it
loads jsii, and the stacks render the same configuration."""

from __future__ import annotations

import re

from aiinfra.boot import BootConfig
from aiinfra.planner import rules
from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.models import Spec, Workload

# Instance metadata keys the boot reads (AWS: instance tags through IMDS; GCP: metadata attributes).
IMAGE_KEY = "aiinfra-image"
BUCKET_KEY = "aiinfra-data-bucket"
# The serving cache (data_pipeline.serving), on serving nodes only: its endpoint (host:port, TLS) and the key TTL.
CACHE_ENDPOINT_KEY = "aiinfra-cache-endpoint"
CACHE_TTL_KEY = "aiinfra-cache-ttl-seconds"
# AWS: the ElastiCache user and replication group an IAM authentication token is signed for.
CACHE_USER_KEY = "aiinfra-cache-user"
CACHE_NAME_KEY = "aiinfra-cache-name"


_AWSKMS = re.compile(r"^awskms:///(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+)$")
_GCPKMS = re.compile(r"^gcpkms://(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)(/cryptoKeyVersions/[0-9]+)?$")


def signing_key_arns(signing_key: str | None) -> tuple[str, ...]:
    """The KMS key or alias ARN an ``awskms:///<arn>`` cosign key names, for
    ``aws.WorkloadIdentity(signing_key_arns=...)``; empty for a PEM key, a GCP key or None."""
    m = _AWSKMS.match(signing_key or "")
    return (m.group(1),) if m else ()


def signing_key_ids(signing_key: str | None) -> tuple[str, ...]:
    """The crypto key (``projects/P/locations/L/keyRings/R/cryptoKeys/K``, any version dropped: IAM
    is granted on the key) a ``gcpkms://`` cosign key names, for
    ``gcp.WorkloadIdentity(signing_key_ids=...)``; empty for a PEM key, an AWS key or None."""
    m = _GCPKMS.match(signing_key or "")
    return (m.group(1),) if m else ()


# NeuronCores a Neuron device (chip) exposes, for one process a NeuronCore (PET_NPROC_PER_NODE):
# Inferentia2 and Trainium have two NeuronCore-v2 each; a Trainium2 has eight physical NeuronCore-v3,
# grouped two to a logical NeuronCore by default (LNC=2), so four (64 on a trn2.48xlarge).
# https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-hardware/trainium.html
# https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-hardware/inferentia2.html
# https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-features/logical-neuroncore-config.html
NEURON_CORES_PER_DEVICE = {"Inferentia2": 2, "Trainium": 2, "Trainium2": 4}


def procs_per_node(w: WorkloadPlan) -> int:
    """Processes a node of ``w`` runs: one a NeuronCore on Neuron nodes, else 0 (one a GPU)."""
    if w.accelerator_runtime == "neuron":
        if w.gpu not in NEURON_CORES_PER_DEVICE:
            raise ValueError(f"no NeuronCore count for Neuron device {w.gpu!r} (known: {', '.join(NEURON_CORES_PER_DEVICE)})")
        return w.gpus_per_node * NEURON_CORES_PER_DEVICE[w.gpu]
    return 0


def spec_workload(spec: Spec, w: WorkloadPlan) -> Workload:
    return next(x for x in spec.workload_inventory if x.name == w.name)


def boot_config(spec: Spec, w: WorkloadPlan, cloud: str, groups: tuple[str, ...], project: str | None = None,
                collect: tuple[str, ...] = (), metric_id: str | None = None, dcgm: bool = False,
                log_group: str | None = None) -> BootConfig:
    sw = spec_workload(spec, w)
    batch = w.type != "inference"
    return BootConfig(
        cloud=cloud, workload=w.name, kind=w.type, region=w.region, groups=groups, object_prefix=w.name, image=w.image,
        command=tuple(sw.command or ()), env=tuple(sorted(sw.env.items())), port=w.port or rules.DEFAULT_MODEL_PORT,
        health_check_path=w.health_check_path or rules.DEFAULT_HEALTH_CHECK_PATH, gpus_per_node=w.gpus_per_node, nodes=w.nodes if batch else 1,
        interconnect=w.interconnect if w.multi_node else "", efa_interfaces=w.efa_interfaces_per_node if w.multi_node else 0,
        retries=w.retries if batch else 0,
        max_runtime_seconds=round((w.max_runtime_hours or 0) * 3600) if batch else 0, project=project,
        collect=tuple(collect), metric_id=metric_id, dcgm=dcgm, signing_key=sw.image_signing_key,
        hard_stop_cron=w.stop_schedule if batch else None, log_group=log_group,
        accelerator_runtime=w.accelerator_runtime if w.gpu else "", procs_per_node=procs_per_node(w))
