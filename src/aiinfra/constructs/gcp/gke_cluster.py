"""A GKE Standard cluster for GPU node pools: private nodes, the control plane reachable only from
the given CIDRs (or only privately), VPC-native, Workload Identity, Dataplane V2, shielded nodes,
etcd secrets under the customer key, a release channel, managed Prometheus, and no default node
pool (``GpuNodePool`` adds the pools).

The Kubernetes platform's room on Google Cloud (``constructs/gcp/gke_*``): the VM constructs
(``GpuInstanceGroup``) are not touched by it, and the foundation's network and key are shared."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._endpoint_access import endpoint_cidr_problems
from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import GcpContext, check_name

# https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/container_cluster#channel
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")
ZONE_RE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")
# "1.33" or a full GKE version "1.33.2-gke.1111000".
VERSION_RE = re.compile(r"^1\.(?P<minor>\d+)(?:\.\d+(?:-gke\.\d+)?)?$")
# DCGM metrics (GPU utilization, memory, NVLink) through managed Prometheus need GKE 1.30.1-gke.1204000
# or later (https://cloud.google.com/kubernetes-engine/docs/how-to/dcgm-metrics); KUBELET and CADVISOR
# need 1.29.3-gke.1093000 (container_cluster#enable_components, below).
MIN_MINOR = 30
# Logs of the system components, the control plane and the workloads' stdout/stderr
# (container_cluster#nested_logging_config: SYSTEM_COMPONENTS, APISERVER, CONTROLLER_MANAGER, SCHEDULER, WORKLOADS).
LOGGING_COMPONENTS = ("SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER", "WORKLOADS")
# container_cluster#nested_monitoring_config: "SYSTEM_COMPONENTS, APISERVER, SCHEDULER, CONTROLLER_MANAGER,
# STORAGE, HPA, POD, DAEMONSET, DEPLOYMENT, STATEFULSET, KUBELET, CADVISOR, DCGM and JOBSET"
# (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/container_cluster#enable_components).
MONITORING_COMPONENTS = ("SYSTEM_COMPONENTS", "APISERVER", "SCHEDULER", "CONTROLLER_MANAGER", "STORAGE", "HPA", "POD", "DAEMONSET",
                         "DEPLOYMENT", "STATEFULSET", "KUBELET", "CADVISOR", "DCGM")
# JobSet's kube state metrics (kube_jobset_status_condition: a failed run's alert, observability/promql.py) need GKE
# 1.32.1-gke.1357001 or later (https://cloud.google.com/kubernetes-engine/docs/how-to/kube-state-metrics#requirements).
JOBSET_MIN_MINOR = 32
# The API a GKE cluster and its node pools call (https://cloud.google.com/kubernetes-engine/docs/reference/rest:
# container.googleapis.com); project_services.RESOURCE_SERVICES maps google_container_* to it, so a
# stack with a cluster gets it enabled by the foundation's ProjectServices like every other API.
SERVICES = ("container.googleapis.com",)
PLATFORM_LABEL = {"aiinfra-platform": "kubernetes"}
# The system pool's machine: the plan's choice (planner/rules.py SYSTEM_NODE_*: the cheapest 2 vCPU / 8 GiB machine,
# no shared-core one) unless the stack passes another. Shared-core E2 machines time-slice their vCPUs
# (https://cloud.google.com/compute/docs/general-purpose-machines#sharedcore) and leave little allocatable memory
# after GKE's reservations (https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes), so they are refused.
SYSTEM_MACHINE_TYPE = "e2-standard-2"
SHARED_CORE = ("e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small")
SYSTEM_LABEL = "aiinfra.dev/system"
# A regional cluster's node pools are created in three zones of its region unless node_locations names others
# ("GKE replicates each node pool across three zones of the control plane's region",
# https://cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters).
REGIONAL_DEFAULT_ZONES = 3


def _minor(version: str) -> int:
    m = VERSION_RE.match(version or "")
    return int(m["minor"]) if m else 0


def check_version(version: str) -> str:
    """``version`` if it is a GKE version this construct supports (1.30 or later), else ValueError."""
    m = VERSION_RE.match(version or "")
    if not m:
        raise ValueError(f"version must be a GKE version like '1.33' or '1.33.2-gke.1111000', got {version!r}")
    if int(m["minor"]) < MIN_MINOR:
        raise ValueError(f"version must be 1.{MIN_MINOR} or later (DCGM GPU metrics through managed Prometheus), got {version!r}")
    return version


def name_problems(name: str) -> list[str]:
    """[] when ``name`` is a valid cluster or node pool name (40 characters at most), else the problem."""
    try:
        check_name(name, "name", 40)
    except ValueError as e:
        return [str(e)]
    return []


def region_of(location: str) -> str:
    """The region of a region or zone (``us-central1-a`` -> ``us-central1``)."""
    return location.rsplit("-", 1)[0] if ZONE_RE.match(location) else location


class KubernetesCluster(Construct):
    """A GKE Standard cluster, regional or zonal, without a default node pool.

    Example::

        cluster = KubernetesCluster(stack, "cluster", name="acme-ml-prod", project="acme-ml-prod", location="us-central1",
                                    version="1.33", network=net.network_id, subnetwork=net.subnetwork_self_link,
                                    kms_key_id=key.id, endpoint_cidrs=["203.0.113.0/24"])
        GpuNodePool(stack, "train", cluster=cluster, ...)

    What it sets, and why (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/container_cluster):

    - ``remove_default_node_pool`` with ``initial_node_count = 1``: a cluster cannot be created
      without a node pool, so the smallest one is created and deleted at once; the node pools are
      separate resources, added and removed without touching the cluster (the provider's
      recommended pattern). Its ``node_config`` (shielded, GKE metadata server, customer-key boot
      disk) is ignored after creation.
    - Private nodes (``private_cluster_config.enable_private_nodes``): nodes have internal
      addresses only and reach the internet through the network's Cloud NAT
      (https://cloud.google.com/kubernetes-engine/docs/how-to/private-clusters). No
      ``master_ipv4_cidr_block``: clusters created on GKE 1.29 and later reach their control plane
      through Private Service Connect and need none
      (https://cloud.google.com/kubernetes-engine/docs/concepts/network-isolation).
    - The control plane endpoint: with ``endpoint_cidrs``, the public endpoint answers those CIDRs
      only (``master_authorized_networks_config``, Google Cloud's public ranges not admitted);
      without, the private endpoint only (``enable_private_endpoint``). Terraform then has to run
      where it reaches the VPC: a bastion or Cloud Build private pool in the network, or, with
      ``dns_endpoint=True``, the control plane's DNS-based endpoint, which admits callers by IAM
      (``container.clusters.connect``) instead of by address
      (https://cloud.google.com/kubernetes-engine/docs/concepts/network-isolation#dns-based_endpoint).
    - VPC-native (``networking_mode = "VPC_NATIVE"``, ``ip_allocation_policy``): Pods and Services take
      the subnet's secondary ranges named ``pods_range`` / ``services_range``. The foundation's
      subnet (``ClusterNetwork``) has none, so left out GKE creates the two secondary ranges on the
      subnet itself when the cluster is created ("GKE-managed secondary ranges",
      https://cloud.google.com/kubernetes-engine/docs/concepts/alias-ips#cluster_sizing_secondary_range_pods);
      name your own (created on the subnet beforehand) when addresses are planned centrally.
    - Workload Identity (``workload_identity_config.workload_pool = "<project>.svc.id.goog"``): pods
      act as their own Google service account (``WorkloadIdentityBinding``), never as the node's.
    - Dataplane V2 (``datapath_provider = "ADVANCED_DATAPATH"``): eBPF networking that enforces
      NetworkPolicy itself, so the Calico ``network_policy`` add-on stays off
      (https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2). Required by
      multi-networking.
    - ``multi_networking``: extra node networks (the A3 GPU NIC networks, ``GpuNodePool``'s
      ``additional_networks``) need ``enable_multi_networking``
      (https://cloud.google.com/kubernetes-engine/docs/how-to/gpu-bandwidth-gpudirect-tcpx). The
      GKENetworkParamSet and Network objects a pod's GPU NICs attach through are in-cluster
      objects (the workload layer), not created here.
    - Shielded GKE nodes, intranode visibility (pod-to-pod traffic on one node passes the VPC's
      firewall and flow logs: https://cloud.google.com/kubernetes-engine/docs/how-to/intranode-visibility),
      no client certificate, no legacy ABAC.
    - Secrets in etcd encrypted with ``kms_key_id`` (``database_encryption`` ``ENCRYPTED``,
      https://cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets). The key must be in
      the cluster's region and the GKE service agent
      (``service-<number>@container-engine-robot.iam.gserviceaccount.com``) needs
      ``cloudkms.cryptoKeyEncrypterDecrypter`` on it: ``key_grants`` makes that grant (on by default).
    - ``release_channel`` (REGULAR by default) with ``min_master_version = version``: GKE upgrades
      within the channel, never below the version the plan names.
    - Logs and metrics of the system components, control plane and workloads; managed Prometheus
      collection with DCGM GPU metrics (``monitoring_config``); cost allocation by namespace and
      label (``cost_management_config``).
    - The Gateway API (``gateway_api_config`` ``CHANNEL_STANDARD``) for serving through Gateways.
    - ``deletion_protection`` on: Terraform refuses to destroy the cluster until it is set false.
    - Dynamic Workload Scheduler (queued provisioning) needs nothing on the cluster beyond GKE
      1.28.3-gke.1098000 or later; the node pool carries it
      (https://cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest).

    Args:
        name: the cluster name (40 characters at most: GKE's limit).
        project: the project id.
        location: a region (regional cluster: control plane replicated over three zones, what
            availability asks) or a zone (zonal cluster: one control plane, cheaper).
        version: the lowest GKE version, ``1.33`` or a full ``1.33.2-gke.1111000`` (1.30 or later).
        network, subnetwork: the VPC and the subnet of the nodes (``ClusterNetwork.network_id`` /
            ``subnetwork_self_link``).
        kms_key_id: the Cloud KMS key of etcd's secrets and the default pool's boot disk.
        endpoint_cidrs: who may reach the public endpoint (where Terraform and kubectl run); empty:
            private endpoint only (see above). ``0.0.0.0/0`` is refused.
        pods_range, services_range: names of existing secondary ranges on ``subnetwork``; both
            or neither (neither: GKE-managed ranges).
        release_channel: ``RAPID``, ``REGULAR`` (default), ``STABLE`` or ``EXTENDED`` (extended
            support is billed extra).
        multi_networking: enable extra node networks (A3 GPU NIC networks); default off.
        labels: resource labels on the cluster (merged with ``aiinfra-platform: kubernetes``).
        dns_endpoint: also open the DNS-based control plane endpoint (IAM-authorized); default off.
        deletion_protection: default on.
        key_grants: grant the GKE service agent use of ``kms_key_id``; off when the key's owner grants it.
        depends_on: what the cluster waits for (the key's grants to other agents).
        rbac_security_group: ``gke-security-groups@<your domain>``: Google Groups in Kubernetes RBAC
            (``authenticator_groups_config``, https://cloud.google.com/kubernetes-engine/docs/how-to/google-groups-rbac);
            needs a Workspace / Cloud Identity domain, so left out, none (RBAC binds users and
            service accounts).
        node_service_account: the account the short-lived default pool runs as (``NodeServiceAccount.email``);
            left out, the Compute Engine default account, for the minutes between the cluster's
            creation and the pool's removal.
        binary_authorization: enforce the project's Binary Authorization policy at admission
            (``PROJECT_SINGLETON_POLICY_ENFORCE``; the project needs binaryauthorization.googleapis.com
            on and a policy of its own: the default policy admits every image). Default off.
        system_machine_type, system_nodes, system_zones: the cluster's own small pool (``system_pool``,
            ``ClusterPlan.system_instance_type`` / ``system_nodes`` / ``system_zones`` of the plan): untainted,
            on-demand, labelled ``aiinfra.dev/system=true``, where kube-dns, metrics-server, the konnectivity
            agents and managed Prometheus's operator run (GPU pools are tainted and batch pools scale to zero,
            so without it those pods stay Pending). Default ``e2-standard-2`` (shared-core machines are
            refused); ``system_nodes`` is the pool's total, default 2 on a zonal cluster and one a zone on a
            regional one (3); ``system_zones`` its zones (a zonal cluster: its own zone; a regional one: left
            out, GKE's three default zones). A fixed size (autoscaling minimum = maximum), so the plan's count
            is what runs; surge upgrades add one node at a time so the pods keep two replicas serving. Its
            nodes run as ``node_service_account``, or, left out, as an account of their own
            (``NodeServiceAccount`` ``<name>-sys``): never the Compute Engine default account.

    Attributes:
        name, endpoint, ca_certificate (base64 PEM), location, id, workload_pool, cluster (the resource),
        system_pool (its google_container_node_pool), system_service_account (the account made when
        ``node_service_account`` is left out, else None), system_nodes, system_labels.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, project: str, location: str, version: str, network: str, subnetwork: str,
                 kms_key_id: str, endpoint_cidrs: Sequence[str], pods_range: str | None = None, services_range: str | None = None,
                 release_channel: str = "REGULAR", multi_networking: bool = False, labels: dict[str, str] | None = None,
                 dns_endpoint: bool = False, deletion_protection: bool = True, key_grants: bool = True, depends_on: Sequence = (),
                 rbac_security_group: str | None = None, binary_authorization: bool = False, node_service_account: str | None = None,
                 system_machine_type: str = SYSTEM_MACHINE_TYPE, system_nodes: int | None = None,
                 system_zones: Sequence[str] | None = None):
        super().__init__(scope, id)
        problems = name_problems(name)
        problems += _system_problems(location, system_machine_type, system_nodes, system_zones, node_service_account)
        if not (ZONE_RE.match(location) or REGION_RE.match(location)):
            problems.append(f"location must be a region (us-central1) or a zone (us-central1-a), got {location!r}")
        try:
            check_version(version)
        except ValueError as e:
            problems.append(str(e))
        if release_channel not in RELEASE_CHANNELS:
            problems.append(f"release_channel must be one of {', '.join(RELEASE_CHANNELS)}, got {release_channel!r}")
        if rbac_security_group is not None and not rbac_security_group.startswith("gke-security-groups@"):
            problems.append(f"rbac_security_group must be gke-security-groups@<your domain>, got {rbac_security_group!r}")
        if (pods_range is None) != (services_range is None):
            problems.append("pods_range and services_range go together: name both secondary ranges, or neither (GKE-managed ranges)")
        problems += endpoint_cidr_problems(endpoint_cidrs)
        if problems:
            raise ValueError("; ".join(problems))
        self.project = project
        self.location: str = location
        self.region: str = region_of(location)
        self.regional: bool = not ZONE_RE.match(location)
        self.version = version
        self.multi_networking = multi_networking
        self.kms_key_id = kms_key_id
        self.workload_pool: str = f"{project}.svc.id.goog"
        depends = list(depends_on)
        if key_grants:
            # GKE's service agent encrypts etcd's data encryption keys with the customer key
            # (https://cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets#grant_permission_to_use_the_key);
            # Compute Engine's agent encrypts the boot disks (EncryptionKey grants it already).
            number = GcpContext(self, project).number
            self.key_grant = resource(self, "gke-agent-key", "google_kms_crypto_key_iam_member", crypto_key_id=kms_key_id,
                                      role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                      member=f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com")
            depends.append(self.key_grant)
        private_endpoint = not endpoint_cidrs
        self.cluster = resource(
            self, "cluster", "google_container_cluster", project=project, name=name, location=location,
            description=f"aiinfra GPU cluster {name}", depends_on=depends or None,
            remove_default_node_pool=True, initial_node_count=1, deletion_protection=deletion_protection,
            # The default pool lives only until the separate pools replace it; its settings are ignored
            # after creation (changing them would recreate the cluster for a pool that no longer exists).
            node_config={"boot_disk_kms_key": kms_key_id, "service_account": node_service_account, "shielded_instance_config": {"enable_secure_boot": True,
                                                                                       "enable_integrity_monitoring": True},
                         "workload_metadata_config": {"mode": "GKE_METADATA"}},
            lifecycle={"ignore_changes": ["node_config"]},
            network=network, subnetwork=subnetwork, networking_mode="VPC_NATIVE",
            ip_allocation_policy={"stack_type": "IPV4", "cluster_secondary_range_name": pods_range,
                                  "services_secondary_range_name": services_range},
            private_cluster_config={"enable_private_nodes": True, "enable_private_endpoint": private_endpoint},
            master_authorized_networks_config={"gcp_public_cidrs_access_enabled": False,
                                               "cidr_blocks": [{"cidr_block": c, "display_name": f"endpoint-{i}"}
                                                               for i, c in enumerate(endpoint_cidrs)] or None},
            control_plane_endpoints_config={"dns_endpoint_config": {"allow_external_traffic": True}} if dns_endpoint else None,
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            authenticator_groups_config={"security_group": rbac_security_group} if rbac_security_group else None,
            binary_authorization={"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"} if binary_authorization else None,
            enable_legacy_abac=False, enable_shielded_nodes=True, enable_intranode_visibility=True,
            workload_identity_config={"workload_pool": self.workload_pool},
            datapath_provider="ADVANCED_DATAPATH",
            # Dataplane V2 enforces NetworkPolicy itself; the Calico add-on must stay off with it
            # (https://cloud.google.com/kubernetes-engine/docs/how-to/dataplane-v2#limitations).
            network_policy={"enabled": False, "provider": "PROVIDER_UNSPECIFIED"},
            enable_multi_networking=True if multi_networking else None,
            database_encryption={"state": "ENCRYPTED", "key_name": kms_key_id},
            release_channel={"channel": release_channel}, min_master_version=version,
            logging_config={"enable_components": list(LOGGING_COMPONENTS)},
            monitoring_config={"enable_components": list(MONITORING_COMPONENTS) + (["JOBSET"] if _minor(version) >= JOBSET_MIN_MINOR else []),
                               "managed_prometheus": {"enabled": True}},
            gateway_api_config={"channel": "CHANNEL_STANDARD"},
            cost_management_config={"enabled": True},
            addons_config={"gce_persistent_disk_csi_driver_config": {"enabled": True}, "gcs_fuse_csi_driver_config": {"enabled": True}},
            resource_labels={**PLATFORM_LABEL, **(labels or {})},
        )
        self.id: str = self.cluster.get_string_attribute("id")
        self.name: str = self.cluster.get_string_attribute("name")
        self.endpoint: str = self.cluster.get_string_attribute("endpoint")
        self.ca_certificate: str = self.cluster.get_string_attribute("master_auth[0].cluster_ca_certificate")
        self._system_pool(name, kms_key_id, node_service_account, system_machine_type, system_nodes, system_zones)

    def _system_pool(self, name: str, kms_key_id: str, node_service_account: str | None, machine_type: str, nodes: int | None,
                     zones: Sequence[str] | None) -> None:
        from aiinfra.constructs.gcp.gke_node_pool import CAPACITY_LABEL, NODE_SCOPES, POOL_LABEL, NodeServiceAccount
        from aiinfra.naming import short

        self.system_service_account = None
        if node_service_account is None:
            account_id = short(f"{name}-sys", 30).rstrip("-")
            self.system_service_account = NodeServiceAccount(self, "system-nodes", project=self.project, account_id=account_id)
            node_service_account = self.system_service_account.email
        locations = list(zones) if zones else ([self.location] if not self.regional else [])
        zone_count = len(locations) or REGIONAL_DEFAULT_ZONES
        self.system_nodes: int = nodes if nodes is not None else (zone_count if self.regional else 2)
        pool_name = short(f"{name}-system", 40)
        self.system_labels: dict[str, str] = {SYSTEM_LABEL: "true", POOL_LABEL: pool_name, CAPACITY_LABEL: "on-demand"}
        self.system_pool = resource(
            self, "system", "google_container_node_pool", project=self.project, cluster=self.name, location=self.location,
            name=pool_name, node_locations=locations or None,
            # Nodes a zone at creation (the total spread over the zones); the fixed autoscaling bounds own the
            # count afterwards (a changed initial_node_count would recreate the pool).
            initial_node_count=math.ceil(self.system_nodes / zone_count), lifecycle={"ignore_changes": ["initial_node_count"]},
            autoscaling={"total_min_node_count": self.system_nodes, "total_max_node_count": self.system_nodes,
                         "location_policy": "BALANCED"},
            management={"auto_repair": True, "auto_upgrade": True},
            # One surge node at a time: an upgrade never takes a system node away before its replacement is Ready.
            upgrade_settings={"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
            network_config={"enable_private_nodes": True},
            node_config={
                "machine_type": machine_type, "image_type": "COS_CONTAINERD", "disk_type": "pd-balanced", "disk_size_gb": 50,
                "boot_disk_kms_key": kms_key_id, "service_account": node_service_account, "oauth_scopes": list(NODE_SCOPES),
                "gvnic": {"enabled": True}, "workload_metadata_config": {"mode": "GKE_METADATA"},
                "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                "metadata": {"disable-legacy-endpoints": "true"}, "labels": self.system_labels,
                "resource_labels": {"aiinfra-pool": pool_name, "aiinfra-capacity-type": "on-demand"},
            },
        )


def _system_problems(location: str, machine_type: str, nodes: int | None, zones: Sequence[str] | None,
                     node_service_account: str | None) -> list[str]:
    """What is wrong with the system pool's arguments, one line each."""
    problems = []
    if machine_type in SHARED_CORE:
        problems.append(f"system_machine_type {machine_type} is a shared-core machine; give 2 vCPU / 8 GiB or more ({SYSTEM_MACHINE_TYPE})")
    if nodes is not None and nodes < 1:
        problems.append(f"system_nodes must be 1 or more (kube-dns and metrics-server run there), got {nodes}")
    zonal = ZONE_RE.match(location)
    if zones:
        bad = [z for z in zones if not (ZONE_RE.match(z) and region_of(z) == region_of(location))]
        if bad:
            problems.append(f"system_zones must be zones of {region_of(location)}, got {bad}")
        elif zonal and list(zones) != [location]:
            problems.append(f"system_zones of a zonal cluster can only be its zone {location}, got {list(zones)}")
    if node_service_account and (node_service_account == "default" or node_service_account.endswith("-compute@developer.gserviceaccount.com")):
        problems.append("node_service_account must be the nodes' own service account (NodeServiceAccount), not the default compute service account")
    return problems
