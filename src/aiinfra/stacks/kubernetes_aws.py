"""The Kubernetes platform's stacks on AWS (``stacks/kubernetes.py`` says what they hold and why): an
EKS cluster stack per planned cluster, after the region's foundation (its private subnets and key),
holding the control plane with its pinned add-ons (``KubernetesCluster``; with ``existing_cluster``
the cluster is read by name instead) and one managed node group per planned pool (``GpuNodePool``);
and per workload a stack with its EKS Pod Identity (``PodIdentity``); then the cluster's add-ons and
objects stacks (``stacks/kubernetes_objects.py``). No launch template, Auto Scaling group or load
balancer is made for a workload here."""

from __future__ import annotations

from aiinfra.boot.workload import signing_key_arns, spec_workload
from aiinfra.cdk import App, TerraformOutput, TerraformStack, stack_id

from aiinfra.constructs._tf import data
from aiinfra.constructs.aws import GpuNodePool, KubernetesCluster, PodIdentity
from aiinfra.constructs.aws.log_group import RETENTION_DAYS, retention_at_least
from aiinfra.constructs.aws.managed_prometheus import ManagedPrometheus
from aiinfra.naming import cost_labels, short
from aiinfra.planner.model import Plan, WorkloadPlan
from aiinfra.planner.platform import ClusterPlan, NodePoolPlan
from aiinfra.spec.models import Spec
from aiinfra.stacks.kubernetes_serving import aws_serving_exposure, workload_image
from aiinfra.stacks.kubernetes import cluster_part, namespace
from aiinfra.stacks.nodes import log_retention_days

ROOT_GIB = 200  # the nodes' root volume holds images and the pods' ephemeral storage (EKS's AL2023 AMI)


def more_zones(region: str, zones: list[str], at_least: int) -> list[str]:
    """``zones`` and, until there are ``at_least``, the region's other zone ids the catalog knows (every
    shape's, in order): CreateCluster wants subnets in two availability zones at least
    (https://docs.aws.amazon.com/eks/latest/userguide/network-reqs.html: "a VPC and at least two subnets
    that are in different Availability Zones"), and a region's batch work may plan one zone."""
    from aiinfra.catalog import load_catalog

    known = sorted({z for o in load_catalog().offers("aws", region) for z in o.zones})
    out = list(zones)
    for z in known:
        if len(out) >= at_least:
            break
        if z not in out:
            out.append(z)
    if len(out) < at_least:
        raise ValueError(f"an EKS cluster in {region} needs subnets in {at_least} availability zones; the catalog knows "
                         f"{', '.join(known) or 'none'} there")
    return out


class ExistingCluster:
    """A cluster the spec names in ``clouds.aws.kubernetes.existing_cluster``, read by name
    (data source ``aws_eks_cluster``:
    https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/eks_cluster): what
    ``GpuNodePool`` and ``PodIdentity`` read of a ``KubernetesCluster`` (name, the cluster security
    group the nodes join, tags)."""

    def __init__(self, stack: TerraformStack, name: str, tags: dict[str, str]):
        self.data = data(stack, "cluster", "aws_eks_cluster", name=name)
        self.name: str = self.data.get_string_attribute("name")
        self.arn: str = self.data.get_string_attribute("arn")
        self.given_name = name
        self.cluster_security_group_id: str = self.data.get_string_attribute("vpc_config[0].cluster_security_group_id")
        self.tags = tags


def _capacity(pool: NodePoolPlan) -> str:
    """GpuNodePool's capacity type of a planned pool: a Capacity Block is its own market; an On-Demand
    Capacity Reservation is on-demand capacity launched into the reservation."""
    if pool.capacity_type == "spot":
        return "spot"
    return "capacity_block" if pool.capacity_block and pool.reservation else "on_demand"


def _pool_subnets(foundation, pool: NodePoolPlan) -> list[str]:
    """The pool's private subnets: one a zone of its zones; one only (its first zone) for a
    placement group or a reservation, which live in one zone."""
    from aiinfra.stacks.aws import _subnets_for

    subnets = _subnets_for(foundation, foundation.network.private_subnet_ids, list(pool.zones), 1)
    return subnets[:1] if pool.compact or pool.reservation else subnets


class AwsClusterStack:
    """``<project>-<environment>-aws-cluster``: the EKS cluster (or the existing one, read) and its node pools."""

    def __init__(self, app: App, spec: Spec, plan: Plan, cluster: ClusterPlan, foundation, make_stack):
        self.stack = make_stack(app, spec, cluster.region, cluster_part(cluster, spec.clouds.aws.region))
        self.notes: list[str] = []
        self.cluster_name = cluster.existing or cluster.name  # as the plan names it
        net, key = foundation.network, foundation.key
        tags = {"aiinfra-platform": "kubernetes", **cost_labels(spec.project, spec.environment)}
        self.created = cluster.existing is None
        if self.created:
            # The identity that applies this stack administers the cluster through an access entry, as
            # terraform-aws-modules/eks's enable_cluster_creator_admin_permissions grants it (main.tf: data
            # "aws_iam_session_context" of the caller, whose issuer_arn is the role behind an assumed-role session:
            # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/iam_session_context);
            # visible in the plan, unlike EKS's hidden bootstrap admin (KubernetesCluster turns that off).
            caller = data(self.stack, "caller", "aws_caller_identity")
            session = data(self.stack, "caller-session", "aws_iam_session_context", arn=caller.get_string_attribute("arn"))
            # EKS wants control plane subnets in two zones at least (the foundation has them on kubernetes).
            self.cluster = KubernetesCluster(
                self.stack, "cluster", name=cluster.name, version=cluster.version, subnet_ids=list(net.private_subnet_ids),
                vpc_id=net.vpc_id, kms_key_arn=key.arn, endpoint_cidrs=list(cluster.endpoint_cidrs),
                admin_principal_arns=[session.get_string_attribute("issuer_arn")],
                log_retention_days=retention_at_least(min(log_retention_days(spec), RETENTION_DAYS[-1])), tags=tags,
                # EXTENDED only when the spec pins a version past standard support (the plan warns and costs it at $0.60/h);
                # otherwise STANDARD, and EKS upgrades the cluster when standard support ends.
                support_type="EXTENDED" if cluster.extended_support else "STANDARD",
                # the plan's system pool (ClusterPlan.system_pool: shape and count, costed in the plan)
                **({"system_instance_type": cluster.system_instance_type, "system_nodes": cluster.system_nodes} if cluster.system_pool else {}))
            self.notes.append(f"{stack_id(self.stack)}: whoever applies this stack gets an EKS access entry with "
                              "AmazonEKSClusterAdminPolicy on cluster " + cluster.name + " (the caller's IAM role); "
                              "add others' access entries for kubectl" + ("" if cluster.endpoint_cidrs else
                              "; the API endpoint is private: apply and run kubectl from inside the VPC (a runner or "
                              "bastion there, a VPN, or an SSM port forward)"))
            TerraformOutput(self.stack, "cluster_endpoint", value=self.cluster.endpoint)
        else:
            self.cluster = ExistingCluster(self.stack, cluster.existing, tags)
        self.pools: dict[str, GpuNodePool] = {}
        workloads = {w.name: w for w in plan.workloads if w.cloud == "aws" and w.region == cluster.region}
        for pool in cluster.pools:
            disk = max([ROOT_GIB] + [workloads[n].data_volume_gib_per_node for n in pool.workloads if n in workloads])
            self.pools[pool.name] = GpuNodePool(
                self.stack, pool.name, cluster=self.cluster, name=pool.name, instance_type=pool.instance_type,
                capacity_type=_capacity(pool), min_size=pool.min_nodes, max_size=pool.max_nodes, desired_size=None,
                subnet_ids=_pool_subnets(foundation, pool), kms_key_arn=key.arn,
                accelerator_runtime=pool.accelerator_runtime if pool.accelerator_runtime in ("cuda", "neuron") else "none",
                efa_interfaces=pool.efa_interfaces_per_node, placement_group=pool.compact,
                capacity_reservation_id=pool.reservation, disk_gib=disk, device_count=pool.gpu_count)
        TerraformOutput(self.stack, "cluster_name", value=self.cluster.name)


class AwsClusterMonitoringStack:
    """``<project>-<environment>-aws-cluster-monitoring`` (``cluster-<region>-monitoring`` outside the primary region):
    the cluster's Amazon Managed Service for Prometheus (``ManagedPrometheus``): what ``monitoring_config`` asks scraped
    by the AMP collector, the guide's alerting rules in PromQL (``observability/promql.py``), alerts to the foundation's
    topic. A stack of its own, applied after the cluster stack: the collector cannot be updated (any change of what
    is scraped replaces it: prometheus_scraper docs), so workloads and monitoring_config changing re-plan this stack,
    never the cluster's; and the cluster stack's apply stays testable against moto, which serves no AMP collector."""

    def __init__(self, app: App, spec: Spec, plan: Plan, planned: ClusterPlan, foundation, cluster: AwsClusterStack, make_stack):
        from aiinfra.k8s.monitoring import amp_scrape_configuration, cluster_workloads
        from aiinfra.observability.promql import kubernetes_rules

        self.stack = make_stack(app, spec, planned.region, cluster_part(planned, spec.clouds.aws.region) + "-monitoring")
        self.stack.add_dependency(cluster.stack)
        self.notes: list[str] = []
        tags = {"aiinfra-platform": "kubernetes", **cost_labels(spec.project, spec.environment)}
        rules, untranslated = kubernetes_rules(spec.alerting_rules, cluster_workloads(plan, planned), namespace(spec))
        self.prometheus = ManagedPrometheus(
            self.stack, "prometheus", name=short(cluster.cluster_name, 46), kms_key_arn=foundation.key.arn, cluster_arn=cluster.cluster.arn,
            subnet_ids=list(foundation.network.private_subnet_ids), security_group_ids=[cluster.cluster.cluster_security_group_id],
            scrape_configuration=amp_scrape_configuration(spec, plan, planned), topic_arn=foundation.alerts.topic_arn, rules=rules,
            log_retention_days=retention_at_least(min(log_retention_days(spec), RETENTION_DAYS[-1])), tags=tags)
        TerraformOutput(self.stack, "prometheus_query_endpoint", value=self.prometheus.query_endpoint)
        for r in untranslated:
            self.notes.append(f"{stack_id(self.stack)}: alert rule {r.name!r} ({r.condition}) is not watched on cluster "
                              f"{cluster.cluster_name}: {r.reason}")
        from aiinfra.k8s.versions import ADDONS
        from aiinfra.observability.promql import scraped

        if scraped(spec, cluster_workloads(plan, planned))["jobsets"] and not any(c.chart == "kube-state-metrics" for c in ADDONS["aws"]):
            # The failed-run rule reads kube-state-metrics' JobSet conditions (promql.JOBSET_CUSTOM_RESOURCE_STATE): say so
            # rather than leave a rule that can never fire.
            self.notes.append(f"{stack_id(self.stack)}: the failed-run alert reads kube_jobset_status_condition from kube-state-metrics, "
                              f"which the add-ons of cluster {cluster.cluster_name} do not install yet: install its chart with "
                              "aiinfra.observability.promql.JOBSET_CUSTOM_RESOURCE_STATE as customResourceState.config, or no run "
                              "failure is alerted")
        if not cluster.created:
            self.notes.append(f"{stack_id(self.stack)}: the Managed Prometheus collector reaches existing cluster {cluster.cluster_name} "
                              "through the access entry AMP creates on a cluster in API authentication mode; on the aws-auth ConfigMap, "
                              "map the scraper's role to aps-collector-user (aiinfra.k8s.monitoring.collector_rbac_documents)")


class AwsKubernetesWorkload:
    """``<project>-<environment>-aws-<workload>`` on kubernetes: the role its pods assume through EKS
    Pod Identity (service account ``<environment>/<workload>``), with ``WorkloadIdentity``'s grants on
    its bucket prefix and key."""

    def __init__(self, app: App, spec: Spec, plan: Plan, w: WorkloadPlan, foundation, cluster: AwsClusterStack, make_stack):
        self.stack = make_stack(app, spec, w.region, w.name)
        ns = namespace(spec)
        self.identity = PodIdentity(self.stack, "identity", cluster=cluster.cluster, namespace=ns, service_account=w.name,
                                    bucket_arn=foundation.storage.arn, prefix=w.name, kms_key_arn=foundation.key.arn, repository_arns=[],
                                    name=short(f"{foundation.name}-{w.name}-pods", 64),
                                    signing_key_arns=signing_key_arns(spec_workload(spec, w).image_signing_key))
        TerraformOutput(self.stack, "pod_role_arn", value=self.identity.role_arn)
        self.notes: list[str] = []
        # A serving workload's certificate, WAF web ACL ... its Ingress names (k8s/serving.py's exposure; stacks/kubernetes_serving.py).
        self.exposure = (aws_serving_exposure(self.stack, spec, w, foundation, self.notes) if w.type == "inference" else
                         workload_image(self.stack, w, self.notes) or None)


def add_aws_kubernetes(app: App, spec: Spec, plan: Plan, region: str, in_region: list[WorkloadPlan], foundation,
                       make_stack) -> tuple[list[str], list[str]]:
    """The cluster stack of ``region``, its workloads' stacks, then its add-ons and objects stacks
    (``stacks/kubernetes_objects.py``); returns (stack names, notes)."""
    from aiinfra.stacks.kubernetes import cluster_of
    from aiinfra.stacks.kubernetes_objects import add_in_cluster_stacks

    planned = cluster_of(plan, "aws", region)
    cluster = AwsClusterStack(app, spec, plan, planned, foundation, make_stack)
    names, notes = [stack_id(cluster.stack)], list(cluster.notes)
    monitoring = AwsClusterMonitoringStack(app, spec, plan, planned, foundation, cluster, make_stack)
    names.append(stack_id(monitoring.stack))
    notes += monitoring.notes
    workloads, exposure = [], {}
    for w in in_region:
        workload = AwsKubernetesWorkload(app, spec, plan, w, foundation, cluster, make_stack)
        names.append(stack_id(workload.stack))
        notes += workload.notes
        workloads.append(workload.stack)
        if getattr(workload, "exposure", None) is not None:
            exposure[w.name] = workload.exposure
    more, said = add_in_cluster_stacks(app, spec, plan, planned, cluster, make_stack, after=workloads, exposure=exposure,
                                       prometheus=monitoring.prometheus, data_bucket=foundation.storage.bucket_name)
    return names + more, notes + said
