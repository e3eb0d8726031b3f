"""GKE node pools for one planned shape: GPUs with the driver installed by GKE, gVNIC, the A3 GPU
NIC networks as additional node networks, compact placement, Spot, reservations, queued
provisioning (Dynamic Workload Scheduler), autoscaling from zero, local SSD as ephemeral storage,
and a node service account of their own with the minimal roles a GKE node needs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.cluster_network import ClusterNetwork
from aiinfra.constructs.gcp.gke_cluster import KubernetesCluster, name_problems
from aiinfra.constructs.gcp.gpu_instance_group import BUNDLED_GPU_SERIES, HYPERDISK_ONLY_SERIES
from aiinfra.constructs.gcp.workload_identity import REGISTRY_ROLE, check_account_id, grant_workload_access
from aiinfra.placement import check_placement

# A GKE node's own service account needs these project roles and nothing more: writing logs and
# metrics, reading monitoring data (the metrics agent) and writing resource metadata
# (https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster#use_least_privilege_sa);
# image pulls add the Artifact Registry reader role (on the repository when one is named).
NODE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
              "roles/stackdriver.resourceMetadata.writer")
# GKE's default access scopes, no cloud-platform: the node account's IAM roles decide, the scopes
# only narrow them (https://cloud.google.com/kubernetes-engine/docs/how-to/access-scopes#default_scopes).
# Pods never use them: with Workload Identity they act as their own account (WorkloadIdentityBinding).
NODE_SCOPES = ("https://www.googleapis.com/auth/devstorage.read_only", "https://www.googleapis.com/auth/logging.write",
               "https://www.googleapis.com/auth/monitoring", "https://www.googleapis.com/auth/service.management.readonly",
               "https://www.googleapis.com/auth/servicecontrol", "https://www.googleapis.com/auth/trace.append")
# https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/container_cluster#gpu_driver_version
DRIVER_VERSIONS = ("DEFAULT", "LATEST")
# The taint GKE puts on GPU nodes, and the key the ExtendedResourceToleration admission controller
# tolerates for pods that request nvidia.com/gpu. GKE adds it by itself only "when you add a GPU
# node pool to an existing cluster that already runs a non-GPU node pool"
# (https://cloud.google.com/kubernetes-engine/docs/how-to/gpus#restrict); a cluster without a
# default pool whose pools are all GPU pools gets none. It is declared on every GPU pool, with
# GKE's own key, value and effect, as Cluster Toolkit's gke-node-pool does
# (https://github.com/GoogleCloudPlatform/cluster-toolkit/blob/main/modules/compute/gke-node-pool/main.tf):
# when GKE adds it too, it is the same taint (a node's taints are keyed by key and effect), and the
# provider reports GKE's own ones apart (``effective_taints``), so no drift.
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
POOL_LABEL = "aiinfra.dev/pool"
CAPACITY_LABEL = "aiinfra.dev/capacity-type"
CAPACITY_TYPES = ("on-demand", "spot", "reservation", "queued")


def gpu_nic_node_networks(network: ClusterNetwork) -> list[tuple[str, str]]:
    """``(network, subnetwork)`` names of the GPU NIC networks ``network`` made for a GPUDirect
    shape, in NIC order: a ``GpuNodePool``'s ``additional_networks`` (one extra node NIC each).
    TCPX / TCPXO: a VPC per NIC; RDMA: the one RoCE VPC with a subnet per NIC."""
    names = [n.get_string_attribute("name") for n in network.gpu_nic_networks]
    return [(names[0] if len(names) == 1 else names[i], subnet.get_string_attribute("name"))
            for i, subnet in enumerate(network.gpu_nic_subnetworks)]


class NodeServiceAccount(Construct):
    """The service account GKE nodes run as: never the Compute Engine default account (Editor on
    the project in many organisations), only ``NODE_ROLES`` on the project and image reads.

    Example::

        nodes = NodeServiceAccount(stack, "nodes", project="acme-ml-prod", account_id="acme-prod-gke-nodes",
                                   repository="projects/acme-ml-prod/locations/us/repositories/models")
        GpuNodePool(..., service_account_email=nodes.email)

    Args:
        project: the project id.
        account_id: the account's id (6 to 30 characters).
        repository: an Artifact Registry repository id (``projects/P/locations/L/repositories/R``):
            the reader role on that repository only. Left out, the reader role on the project (every
            repository), as ``WorkloadIdentity`` gives VM nodes.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, account_id: str, repository: str | None = None):
        super().__init__(scope, id)
        check_account_id(account_id)
        self.account = resource(self, "account", "google_service_account", project=project, account_id=account_id,
                                display_name=f"aiinfra GKE nodes {account_id}",
                                description="GKE nodes: logs, metrics and image pulls only; pods use their own accounts")
        self.email: str = self.account.get_string_attribute("email")
        self.member: str = f"serviceAccount:{self.email}"
        grant_workload_access(self, self.member, project=project, project_roles=NODE_ROLES + (() if repository else (REGISTRY_ROLE,)),
                              repositories=[repository] if repository else ())


class GpuNodePool(Construct):
    """A GKE node pool of one machine shape, autoscaled between ``min_nodes`` and ``max_nodes``.

    Example::

        GpuNodePool(stack, "train", cluster=cluster, name="train-h100", machine_type="a3-highgpu-8g",
                    accelerator_type="nvidia-h100-80gb", accelerator_count=8, spot=False, min_nodes=0, max_nodes=2,
                    zones=["us-central1-a"], kms_key_id=key.id, service_account_email=nodes.email,
                    compact_placement=True, additional_networks=gpu_nic_node_networks(net))

    What it sets, and why (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/container_node_pool):

    - ``guest_accelerator`` with ``gpu_driver_installation_config``: GKE installs the NVIDIA
      driver of ``gpu_driver_version`` itself (no driver DaemonSet to manage,
      https://cloud.google.com/kubernetes-engine/docs/how-to/gpus#create-gpu-pool-auto-drivers);
      A2 / A3 / G2 machine types name their bundled GPUs the same way.
    - Container-Optimized OS with gVNIC (``gvnic.enabled``), the NIC GPUDirect and Tier_1
      bandwidth need.
    - ``additional_networks``: one extra node NIC per ``(network, subnetwork)`` (A3 High: 4 GPU NIC
      networks for GPUDirect-TCPX, A3 Mega: 8 for TCPXO), the networks ``ClusterNetwork`` makes
      (``gpu_nic_node_networks``); the cluster must have ``multi_networking``
      (https://cloud.google.com/kubernetes-engine/docs/how-to/gpu-bandwidth-gpudirect-tcpx).
    - ``compact_placement``: ``placement_policy`` ``COMPACT``, nodes on nearby hosts for collective
      traffic; one zone only, and the pool's largest size must fit the machine series' limit
      (``aiinfra.placement``).
    - ``spot``: Spot VMs (``node_config.spot``), preempted at any time.
    - ``reservation``: the nodes consume only that named reservation (``SPECIFIC_RESERVATION``).
    - ``queued_provisioning``: Dynamic Workload Scheduler obtains all of a job's nodes at once,
      requested through ProvisioningRequest (Kueue does this for gang-admitted jobs). The docs'
      node pool has autoscaling from 0 with location policy ``ANY``, ``reservation-affinity=none``
      and no auto-repair (https://cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest);
      Cluster Toolkit's module refuses compact placement with it, and Spot
      (``modules/compute/gke-node-pool/main.tf``). This construct does the same.
    - Autoscaling with total limits (``total_min_node_count`` / ``total_max_node_count``): the
      plan counts the pool's nodes, not nodes per zone, and per-zone limits would multiply them by
      the zones ("Total size limits", container_node_pool#nested_autoscaling). Location policy
      ``ANY`` (use unused reservations first, less Spot preemption) for Spot, reservation and
      queued pools; ``BALANCED`` (spread over zones) otherwise.
    - Local SSDs as the node's ephemeral storage (``ephemeral_storage_local_ssd_config``): emptyDir
      and the image cache on NVMe (https://cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/local-ssd).
    - The GPU taint ``nvidia.com/gpu=present:NoSchedule`` (see ``GPU_TAINT``) on GPU pools; labels
      ``aiinfra.dev/pool`` and ``aiinfra.dev/capacity-type`` the next layer's queues select on.
    - The node's own service account (``NodeServiceAccount``; the default compute account is
      refused) with GKE's default scopes, the GKE metadata server (``GKE_METADATA``: pods see
      their Workload Identity, never the node's credentials), Shielded VM Secure Boot and
      integrity monitoring, boot disk under ``kms_key_id``, auto-repair and auto-upgrade, private
      nodes, and surge upgrades without surge nodes (``max_surge = 0``: an upgrade replaces a
      node in place rather than asking for one more GPU machine).

    TPU pools are not built here yet: they need a TPU topology and their own machine types
    (``placement_policy.tpu_topology``); the VM platform's ``TpuVm`` covers TPUs today.

    Args:
        cluster: the ``KubernetesCluster``.
        name: the pool name (40 characters at most).
        machine_type: the node machine type.
        accelerator_type, accelerator_count: the GPUs (``nvidia-h100-80gb``, 8); None / 0: a CPU
            pool. A2 / A3 / G2 machine types need their bundled GPU type named too.
        spot: Spot VMs.
        min_nodes, max_nodes: autoscaling bounds of the whole pool (0 for batch pools).
        zones: where the nodes may run (one zone with ``compact_placement``).
        kms_key_id: the Cloud KMS key of the boot disks.
        service_account_email: the nodes' account (``NodeServiceAccount.email``).
        compact_placement: ``COMPACT`` placement (multi-node collective runs).
        queued_provisioning: nodes only through Dynamic Workload Scheduler (training pools).
        reservation: a named reservation the nodes consume (on-demand only).
        additional_networks: ``(network, subnetwork)`` names of extra node NICs.
        local_ssd_count: Local SSDs for ephemeral storage; 0 (default) none. Machine types with
            bundled Local SSDs (A3) take their bundled count.
        labels: more Kubernetes node labels.
        gpu_driver_version: ``DEFAULT`` (GKE's tested driver for the node version, the default)
            or ``LATEST``.
        boot_disk_gib: default 200; boot_disk_type: default ``pd-balanced`` (``hyperdisk-balanced``
            on shapes that take only Hyperdisk).
        flex_start: flex-start VMs with queued provisioning (GKE 1.33.0-gke.1712000 or later asks for
            both: provisioningrequest page); default off.
        depends_on: what the pool waits for (the key's grant to Compute Engine's agent).

    Attributes:
        pool (the resource), name, capacity_type, labels (the Kubernetes node labels), taints.
    """

    def __init__(self, scope: Construct, id: str, *, cluster: KubernetesCluster, name: str, machine_type: str, accelerator_type: str | None,
                 accelerator_count: int, spot: bool, min_nodes: int, max_nodes: int, zones: Sequence[str], kms_key_id: str,
                 service_account_email: str, compact_placement: bool = False, queued_provisioning: bool = False,
                 reservation: str | None = None, additional_networks: Sequence[tuple[str, str]] | None = None, local_ssd_count: int = 0,
                 labels: dict[str, str] | None = None, gpu_driver_version: str = "DEFAULT", boot_disk_gib: int = 200,
                 boot_disk_type: str | None = None, flex_start: bool = False, depends_on: Sequence = ()):
        super().__init__(scope, id)
        problems = name_problems(name)
        if not zones:
            problems.append("zones must name at least one zone")
        if not 0 <= min_nodes <= max_nodes or max_nodes < 1:
            problems.append(f"min_nodes and max_nodes must satisfy 0 <= min_nodes <= max_nodes and max_nodes >= 1, got {min_nodes}..{max_nodes}")
        if not service_account_email or service_account_email == "default" or \
                service_account_email.endswith("-compute@developer.gserviceaccount.com"):
            problems.append("service_account_email must be the nodes' own service account (NodeServiceAccount), "
                            "not the default compute service account")
        if accelerator_count < 0 or (accelerator_count and not accelerator_type):
            problems.append("accelerator_type is required with accelerator_count (and accelerator_count is 0 or more)")
        if accelerator_type and accelerator_count < 1:
            problems.append(f"accelerator_count must be 1 or more with accelerator_type {accelerator_type!r}")
        if machine_type.split("-")[0] in BUNDLED_GPU_SERIES and not accelerator_type:
            problems.append(f"{machine_type} brings its own GPUs: name them (accelerator_type, accelerator_count) so GKE installs the driver")
        if gpu_driver_version not in DRIVER_VERSIONS:
            problems.append(f"gpu_driver_version must be one of {', '.join(DRIVER_VERSIONS)}, got {gpu_driver_version!r}")
        if reservation is not None and spot:
            problems.append("reservation launches on-demand nodes into the reservation; it cannot be combined with spot")
        if queued_provisioning:
            if spot or reservation is not None or compact_placement:
                problems.append("queued_provisioning obtains its own capacity (Dynamic Workload Scheduler): no spot, reservation "
                                "or compact_placement with it")
            if min_nodes:
                problems.append(f"queued_provisioning pools start from 0 nodes (min_nodes 0), got {min_nodes}")
        elif flex_start:
            problems.append("flex_start goes with queued_provisioning")
        if compact_placement:
            if len(zones) != 1:
                problems.append(f"compact_placement keeps the pool in one zone; give one zone, got {list(zones)}")
            limit = check_placement("gcp", machine_type, max_nodes)
            if limit:
                problems.append(f"max_nodes {max_nodes}: {limit}")
        if additional_networks and not cluster.multi_networking:
            problems.append("additional_networks need a cluster with multi_networking=True")
        if local_ssd_count < 0 or boot_disk_gib < 10:
            problems.append("local_ssd_count must be 0 or more and boot_disk_gib at least 10")
        bad_zones = [z for z in zones if not z.startswith(cluster.region + "-")]
        if bad_zones:
            problems.append(f"zones must be in the cluster's region {cluster.region}, got {bad_zones}")
        if problems:
            raise ValueError("; ".join(problems))

        self.capacity_type: str = ("queued" if queued_provisioning else "spot" if spot else
                                   "reservation" if reservation else "on-demand")
        self.labels: dict[str, str] = {**(labels or {}), POOL_LABEL: name, CAPACITY_LABEL: self.capacity_type}
        self.taints: list[dict[str, str]] = [dict(GPU_TAINT)] if accelerator_count else []
        boot_type = boot_disk_type or ("hyperdisk-balanced" if machine_type.startswith(HYPERDISK_ONLY_SERIES) else "pd-balanced")
        if reservation:
            # https://cloud.google.com/kubernetes-engine/docs/how-to/consuming-reservations#consuming_a_specific_single-project_reservation
            affinity = {"consume_reservation_type": "SPECIFIC_RESERVATION", "key": "compute.googleapis.com/reservation-name",
                        "values": [reservation]}
        elif queued_provisioning:
            affinity = {"consume_reservation_type": "NO_RESERVATION"}
        else:
            affinity = None
        accelerators = None
        if accelerator_count:
            accelerators = [{"type": accelerator_type, "count": accelerator_count,
                             "gpu_driver_installation_config": {"gpu_driver_version": gpu_driver_version}}]
        location_policy = "ANY" if (spot or reservation or queued_provisioning) else "BALANCED"
        per_zone = math.ceil(min_nodes / len(zones)) if min_nodes else None
        self.pool = resource(
            self, "pool", "google_container_node_pool", project=cluster.project, cluster=cluster.name, location=cluster.location,
            name=name, node_locations=list(zones), depends_on=list(depends_on) or None,
            # Nodes per zone at creation, so a pool with a floor starts at it; the autoscaler owns the
            # count afterwards (a changed initial_node_count would recreate the pool).
            initial_node_count=per_zone, lifecycle={"ignore_changes": ["initial_node_count"]} if per_zone else None,
            autoscaling={"total_min_node_count": min_nodes, "total_max_node_count": max_nodes, "location_policy": location_policy},
            management={"auto_repair": not queued_provisioning, "auto_upgrade": True},
            # GPU machines are scarce: no surge node during upgrades, one node at a time
            # (Cluster Toolkit's default for its GKE pools: max_surge 0, max_unavailable 1).
            upgrade_settings={"strategy": "SURGE", "max_surge": 0, "max_unavailable": 1},
            placement_policy={"type": "COMPACT"} if compact_placement else None,
            queued_provisioning={"enabled": True} if queued_provisioning else None,
            network_config={"enable_private_nodes": True,
                            "additional_node_network_configs": [{"network": n, "subnetwork": s} for n, s in additional_networks or ()] or None},
            node_config={
                "machine_type": machine_type, "image_type": "COS_CONTAINERD", "disk_type": boot_type, "disk_size_gb": boot_disk_gib,
                "boot_disk_kms_key": kms_key_id, "service_account": service_account_email, "oauth_scopes": list(NODE_SCOPES),
                "spot": True if spot else None, "flex_start": True if flex_start else None,
                "guest_accelerator": accelerators, "gvnic": {"enabled": True},
                "ephemeral_storage_local_ssd_config": {"local_ssd_count": local_ssd_count} if local_ssd_count else None,
                "reservation_affinity": affinity,
                "workload_metadata_config": {"mode": "GKE_METADATA"},
                "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                "metadata": {"disable-legacy-endpoints": "true"},
                "labels": self.labels, "taint": self.taints or None,
                "resource_labels": {"aiinfra-pool": name, "aiinfra-capacity-type": self.capacity_type},
            },
        )
        self.name: str = self.pool.get_string_attribute("name")
