"""The Kubernetes platform's stacks on Google Cloud (``stacks/kubernetes.py`` says what they hold and
why): a GKE cluster stack per planned cluster, after the region's foundation (its network, GPU NIC
networks and key), holding the nodes' own service account, the cluster (``KubernetesCluster``; with
``existing_cluster`` the cluster is read by name instead) and one node pool per planned pool
(``GpuNodePool``); and per workload a stack with its Workload Identity (``WorkloadIdentityBinding``); then the
cluster's add-ons and objects stacks (``stacks/kubernetes_objects.py``). No instance template, managed instance
group or load balancer is made for a workload here."""

from __future__ import annotations

from aiinfra.cdk import App, TerraformOutput, TerraformStack, stack_id

from aiinfra.boot.workload import signing_key_ids, spec_workload
from aiinfra.constructs._tf import data
from aiinfra.constructs.gcp.gke_cluster import KubernetesCluster, region_of
from aiinfra.constructs.gcp.gke_node_pool import GpuNodePool, NodeServiceAccount, gpu_nic_node_networks
from aiinfra.constructs.gcp.gke_workload_identity import WorkloadIdentityBinding
from aiinfra.constructs.gcp.gpu_instance_group import LOCAL_SSD_GIB
from aiinfra.constructs.gcp.project_services import services_for, stack_resource_types
from aiinfra.constructs.gcp.prometheus_alerts import PrometheusAlertPolicies
from aiinfra.k8s.queues import gcp_pod_account_id  # the same id the ServiceAccount's annotation names
from aiinfra.naming import cost_labels, short
from aiinfra.planner.model import Plan, WorkloadPlan
from aiinfra.planner.platform import ClusterPlan, NodePoolPlan
from aiinfra.spec.models import Spec
from aiinfra.stacks.kubernetes_serving import gcp_serving_exposure, workload_image
from aiinfra.stacks.kubernetes import cluster_of, cluster_part, namespace


class ExistingCluster:
    """A cluster the spec names in ``clouds.gcp.kubernetes.existing_cluster``, read by name and location
    (data source ``google_container_cluster``:
    https://registry.terraform.io/providers/hashicorp/google/latest/docs/data-sources/container_cluster):
    what ``GpuNodePool`` reads of a ``KubernetesCluster``. Its pools get GPU NIC networks only when the
    cluster was created with multi-networking, which the plan cannot see: they are left out."""

    def __init__(self, stack: TerraformStack, name: str, project: str, location: str):
        self.data = data(stack, "cluster", "google_container_cluster", name=name, location=location, project=project)
        self.name: str = self.data.get_string_attribute("name")
        self.given_name = name
        self.project = project
        self.location = location
        self.region = region_of(location)
        self.multi_networking = False


def queued(pool: NodePoolPlan) -> bool:
    """Whether a pool gets its nodes through Dynamic Workload Scheduler (queued provisioning): a GPU pool
    of batch work only (training, data processing: a run needs all its nodes at once, and waits for
    them), on-demand, without a reservation. A compact-placed pool keeps its placement instead:
    queued provisioning takes neither compact placement nor a reservation nor Spot (GpuNodePool, as
    Cluster Toolkit's gke-node-pool refuses them), and the plan's collective run asked for placement."""
    return bool(pool.gpu_count) and pool.batch and not pool.serving and pool.capacity_type == "on_demand" \
        and not pool.reservation and not pool.compact


class GcpClusterStack:
    """``<project>-<environment>-gcp-cluster``: the nodes' service account, the GKE cluster (or the existing
    one, read) and its node pools."""

    def __init__(self, app: App, spec: Spec, plan: Plan, cluster: ClusterPlan, foundation, make_stack):
        gcp = spec.clouds.gcp
        self.stack = make_stack(app, spec, cluster.region, cluster_part(cluster, gcp.region))
        self.notes: list[str] = []
        self.cluster_name = cluster.existing or cluster.name  # as the plan names it
        net, key = foundation.network, foundation.key
        nic_pools = [p for p in cluster.pools if p.gpu_nics_per_node and p.interconnect]
        # The nodes' own account (never the Compute Engine default one), image reads on the project as VM nodes have.
        self.nodes = NodeServiceAccount(self.stack, "node-identity", project=gcp.project, account_id=short(f"{foundation.name}-gke-nodes", 30))
        self.created = cluster.existing is None
        if self.created:
            self.cluster = KubernetesCluster(
                self.stack, "cluster", name=cluster.name, project=gcp.project, location=cluster.location or cluster.region,
                version=cluster.version, network=net.network_id, subnetwork=net.subnetwork_self_link, kms_key_id=key.id,
                endpoint_cidrs=list(cluster.endpoint_cidrs), release_channel=cluster.release_channel or "REGULAR",
                multi_networking=bool(nic_pools), labels=cost_labels(spec.project, spec.environment),
                node_service_account=self.nodes.email,
                # the plan's system pool (ClusterPlan.system_pool: shape, count and zones, costed in the plan)
                **({"system_machine_type": cluster.system_instance_type, "system_nodes": cluster.system_nodes,
                    "system_zones": list(cluster.system_zones)} if cluster.system_pool else {}))
            TerraformOutput(self.stack, "cluster_endpoint", value=self.cluster.endpoint, sensitive=True)
            if not cluster.endpoint_cidrs:
                self.notes.append(f"{stack_id(self.stack)}: cluster {cluster.name}'s API endpoint is private: apply and run kubectl from "
                                  "inside the VPC (a runner or bastion there, Cloud Build private pools, or a VPN)")
        else:
            self.cluster = ExistingCluster(self.stack, cluster.existing, gcp.project, cluster.location or cluster.region)
            if nic_pools:
                self.notes.append(f"{stack_id(self.stack)}: the pools of existing cluster {cluster.existing} get no GPU NIC networks "
                                  f"({', '.join(p.name for p in nic_pools)}): that needs a cluster created with multi-networking")
        self.pools: dict[str, GpuNodePool] = {}
        nic_networks = gpu_nic_node_networks(net) if nic_pools and self.cluster.multi_networking else []
        for pool in cluster.pools:
            if pool.accelerator_runtime == "tpu":
                raise ValueError(f"node pool {pool.name}: TPU node pools are not built on GKE yet; plan {', '.join(pool.workloads)} "
                                 "on clouds.gcp.platform: vm (a TPU VM a run)")
            self.pools[pool.name] = GpuNodePool(
                self.stack, pool.name, cluster=self.cluster, name=pool.name, machine_type=pool.instance_type,
                accelerator_type=pool.accelerator_type or None, accelerator_count=pool.gpu_count if pool.accelerator_type else 0,
                spot=pool.capacity_type == "spot", min_nodes=pool.min_nodes, max_nodes=pool.max_nodes, zones=list(pool.zones),
                kms_key_id=key.id, service_account_email=self.nodes.email, compact_placement=pool.compact,
                queued_provisioning=queued(pool), reservation=pool.reservation,
                additional_networks=nic_networks[: pool.gpu_nics_per_node] if pool.interconnect else None,
                local_ssd_count=pool.local_nvme_gib_per_node // LOCAL_SSD_GIB)
        self.alerts = self._alerts(spec, plan, cluster, foundation)
        TerraformOutput(self.stack, "cluster_name", value=self.cluster.name)

    def _alerts(self, spec: Spec, plan: Plan, cluster: ClusterPlan, foundation) -> PrometheusAlertPolicies:
        """The guide's alerting rules in PromQL over the cluster's Managed Prometheus series (``cluster`` label: the
        project's Cloud Monitoring holds every cluster's), notifying the foundation's channels."""
        from aiinfra.k8s.monitoring import cluster_workloads
        from aiinfra.observability.promql import kubernetes_rules

        rules, untranslated = kubernetes_rules(spec.alerting_rules, cluster_workloads(plan, cluster), namespace(spec),
                                               cluster=self.cluster_name)
        for r in untranslated:
            self.notes.append(f"{stack_id(self.stack)}: alert rule {r.name!r} ({r.condition}) is not watched on cluster "
                              f"{self.cluster_name}: {r.reason}")
        return PrometheusAlertPolicies(self.stack, "prometheus-alerts", project=spec.clouds.gcp.project, name=self.cluster_name,
                                       rules=rules, notification_channels=foundation.alerts.channel_ids)


class GcpKubernetesWorkload:
    """``<project>-<environment>-gcp-<workload>`` on kubernetes: the Google service account its pods act
    as through Workload Identity (service account ``<environment>/<workload>``), with the grants
    ``WorkloadIdentity`` gives a VM workload (its bucket prefix, its key, its signing keys)."""

    def __init__(self, app: App, spec: Spec, w: WorkloadPlan, foundation, cluster: GcpClusterStack, make_stack):
        gcp = spec.clouds.gcp
        self.stack = make_stack(app, spec, w.region, w.name)
        # The workload pool <project>.svc.id.goog exists once the cluster does: this stack applies after it.
        self.stack.add_dependency(cluster.stack)
        ns = namespace(spec)
        self.identity = WorkloadIdentityBinding(
            self.stack, "identity", project=gcp.project, namespace=ns, service_account=w.name, bucket=foundation.storage.bucket_name,
            prefix=w.name, kms_key_id=foundation.key.id, repository=None, account_id=gcp_pod_account_id(spec, w.name),
            signing_key_ids=signing_key_ids(spec_workload(spec, w).image_signing_key))
        TerraformOutput(self.stack, "pod_service_account", value=self.identity.email)
        self.notes: list[str] = []
        # A serving workload's TLS policy, certificate, Cloud Armor policy, IAP access ... its Gateway names (k8s/serving.py's
        # exposure; stacks/kubernetes_serving.py).
        self.exposure = (gcp_serving_exposure(self.stack, spec, w, foundation, self.notes) if w.type == "inference" else
                         workload_image(self.stack, w, self.notes) or None)


def add_gcp_kubernetes(app: App, spec: Spec, plan: Plan, region: str, in_region: list[WorkloadPlan], foundation,
                       make_stack) -> tuple[list[str], list[str]]:
    """The cluster stack of ``region``, its workloads' stacks, then its add-ons and objects stacks
    (``stacks/kubernetes_objects.py``); returns (stack names, notes). Every API their resources call is
    turned on by the foundation (it applies first)."""
    from aiinfra.stacks.kubernetes_objects import add_in_cluster_stacks

    planned = cluster_of(plan, "gcp", region)
    cluster = GcpClusterStack(app, spec, plan, planned, foundation, make_stack)
    names, notes = [stack_id(cluster.stack)], list(cluster.notes)
    foundation.services.add(services_for(stack_resource_types(cluster.stack)))
    workloads, exposure = [], {}
    for w in in_region:
        workload = GcpKubernetesWorkload(app, spec, w, foundation, cluster, make_stack)
        names.append(stack_id(workload.stack))
        notes += workload.notes
        foundation.services.add(services_for(stack_resource_types(workload.stack)))
        workloads.append(workload.stack)
        if getattr(workload, "exposure", None) is not None:
            exposure[w.name] = workload.exposure
    more, said = add_in_cluster_stacks(app, spec, plan, planned, cluster, make_stack, after=workloads, exposure=exposure,
                                       data_bucket=foundation.storage.bucket_name)
    return names + more, notes + said
