"""The cluster's add-ons as Helm releases at pinned chart versions (``aiinfra.k8s.versions``): what the
in-cluster documents need to exist before they can be planned (Kueue's and JobSet's CRDs), what makes the
nodes' devices schedulable and observable, and what turns an Ingress into a load balancer.

``releases(...)`` says which releases a cluster gets and with which values (pure data, no CDK);
``AddOns`` makes one ``helm_release`` each."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiinfra.cdk import Construct, TerraformProvider

from aiinfra.constructs._tf import GenericResource, _check
from aiinfra.constructs.k8s.objects import _literal
from aiinfra.k8s import POOL_LABEL
from aiinfra.k8s import versions
from aiinfra.k8s.versions import Chart

# How long helm waits for a release's pods (the provider's default is 300 s): a controller's image is pulled
# on a node that may have just joined.
TIMEOUT_SECONDS = 600

# Kueue's configuration (the chart's managerConfig.controllerManagerConfigYaml, which replaces the whole file):
# the chart's own defaults at v0.19.2 (charts/kueue/values.yaml), with
# * integrations.frameworks: the two kinds aiinfra's runs are (batch/job for CronJob-started and single-pod
#   runs, jobset.x-k8s.io/jobset for gang runs: https://kueue.sigs.k8s.io/docs/tasks/run/jobsets/); the
#   chart's other defaults (pod, deployment, Ray, Kubeflow...) would make Kueue watch kinds nothing here uses;
# * waitForPodsReady: all-or-nothing admission (https://kueue.sigs.k8s.io/docs/tasks/manage/setup_wait_for_pods_ready/):
#   an admitted run whose pods are not all ready in time (a node pool that cannot grow, an image that cannot
#   be pulled) is suspended and requeued, releasing its quota, instead of holding GPUs half-started.
#   30 minutes: a GPU node joins in ~5-10 minutes and a training image of several GB is pulled after it.
KUEUE_CONFIG = """apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
health:
  healthProbeBindAddress: :8081
metrics:
  bindAddress: :8443
webhook:
  port: 9443
leaderElection:
  leaderElect: true
  resourceName: c1f6bfd2.kueue.x-k8s.io
controller:
  groupKindConcurrency:
    Job.batch: 5
    Pod: 5
    Workload.kueue.x-k8s.io: 10
    LocalQueue.kueue.x-k8s.io: 5
    ClusterQueue.kueue.x-k8s.io: 5
    ResourceFlavor.kueue.x-k8s.io: 1
clientConnection:
  qps: 300
  burst: 500
waitForPodsReady:
  timeout: 30m
  blockAdmission: false
integrations:
  frameworks:
  - "batch/job"
  - "jobset.x-k8s.io/jobset"
"""

# The taints of accelerator nodes (constructs/aws/eks_node_pool.py TAINTS, constructs/gcp/gke_node_pool.py
# GPU_TAINT), tolerated by key whatever their value: the DaemonSets that serve those nodes must run there.
GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
NEURON_TOLERATIONS = [{"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"}]


def on_pools(pools: Sequence[str]) -> dict[str, Any]:
    """A node affinity to the nodes of ``pools`` (their ``aiinfra.dev/pool`` label)."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": sorted(pools)}]}]}}}


@dataclass(frozen=True)
class Release:
    """One Helm release: ``chart`` installed as ``chart.name`` in ``chart.namespace`` with ``values``; ``after``:
    the names of the releases it is installed after; ``why``: the release's description."""

    chart: Chart
    values: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    why: str = ""

    @property
    def name(self) -> str:
        return self.chart.name

    @property
    def namespace(self) -> str:
        return self.chart.namespace


@dataclass(frozen=True)
class ClusterPools:
    """What the add-ons need to know of a cluster's node pools: the names of its NVIDIA GPU pools and of its
    pools whose nodes carry EFA interfaces."""

    gpu: tuple[str, ...] = ()
    efa: tuple[str, ...] = ()


# prometheus-adapter's one rule: the pods metric the serving HPA asks for (k8s/serving.py REQUESTS_METRIC), each pod's
# request rate from the model server's request-duration histogram (observability/promql.py LATENCY_HISTOGRAM, the
# series the managed Prometheus scrapes with namespace and pod labels), in the form of the adapter's walkthrough
# (kubernetes-sigs/prometheus-adapter docs/config-walkthrough.md: seriesQuery, resources.overrides, name.matches/as,
# metricsQuery over <<.Series>> / <<.LabelMatchers>> / <<.GroupBy>>). The chart's default rules (cAdvisor series
# managed Prometheus does not collect) are off.
ADAPTER_RATE_WINDOW = "2m"


def adapter_rules() -> dict[str, Any]:
    from aiinfra.k8s.serving import REQUESTS_METRIC
    from aiinfra.observability.promql import LATENCY_HISTOGRAM

    series = f"{LATENCY_HISTOGRAM}_count"
    return {"default": False, "custom": [{
        "seriesQuery": f'{series}{{namespace!="",pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{series}$", "as": REQUESTS_METRIC},
        "metricsQuery": f"sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[{ADAPTER_RATE_WINDOW}])) by (<<.GroupBy>>)"}]}


# aws-sigv4-proxy's port beside prometheus-adapter in its pod (prometheus-adapter itself listens on 6443).
SIGV4_PROXY_PORT = 8005


def adapter_values(cloud: str, region: str, *, workspace_id: str | None = None, frontend_url: str | None = None) -> dict[str, Any]:
    """prometheus-adapter's values: the managed Prometheus it queries and its one rule. EKS: Amazon Managed Service
    for Prometheus takes SigV4-signed queries only, so the adapter asks an ``aws-sigv4-proxy`` sidecar on
    localhost (awslabs/aws-sigv4-proxy README "Configuration": --name aps --region R --host
    aps-workspaces.R.amazonaws.com), which signs with the pod's Pod Identity role, at the workspace's path
    (``/workspaces/<id>``: https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-onboard-query-APIs.html).
    GKE: the Google Managed Prometheus query frontend (``frontend_url``,
    https://cloud.google.com/stackdriver/docs/managed-prometheus/hpa)."""
    values: dict[str, Any] = {"rules": adapter_rules(), "serviceAccount": {"create": True, "name": versions.PROMETHEUS_ADAPTER.name}}
    if cloud == "aws":
        if not workspace_id:
            raise ValueError("prometheus-adapter on EKS needs the cluster's Amazon Managed Service for Prometheus workspace (workspace_id)")
        host = f"aps-workspaces.{region}.amazonaws.com"
        values["prometheus"] = {"url": "http://127.0.0.1", "port": SIGV4_PROXY_PORT, "path": f"/workspaces/{workspace_id}"}
        values["extraContainers"] = [{
            "name": "aws-sigv4-proxy", "image": versions.AWS_SIGV4_PROXY_IMAGE,
            "args": ["--name", "aps", "--region", region, "--host", host, "--port", f":{SIGV4_PROXY_PORT}"],
            "ports": [{"name": "sigv4", "containerPort": SIGV4_PROXY_PORT}],
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                                "runAsUser": 65534}}]
    else:
        if not frontend_url:
            raise ValueError("prometheus-adapter on GKE needs the managed Prometheus query frontend's URL (frontend_url)")
        values["prometheus"] = {"url": frontend_url, "port": 9090, "path": ""}
    return values


def cluster_autoscaler_values(cluster_name: str, region: str, kubernetes_version: str) -> dict[str, Any]:
    """The Cluster Autoscaler on EKS: the managed node groups it finds by their tags (``autoDiscovery.clusterName``:
    ``--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/<cluster>``,
    the chart's deployment template), ``awsRegion``, its service account named for its Pod Identity association,
    and the image of the cluster's Kubernetes minor version (``versions.CLUSTER_AUTOSCALER_IMAGE_TAGS``)."""
    tag = versions.CLUSTER_AUTOSCALER_IMAGE_TAGS.get(kubernetes_version)
    if tag is None:
        raise ValueError(f"no Cluster Autoscaler release is pinned for Kubernetes {kubernetes_version} (k8s/versions.py "
                         f"CLUSTER_AUTOSCALER_IMAGE_TAGS has {', '.join(sorted(versions.CLUSTER_AUTOSCALER_IMAGE_TAGS))})")
    return {"cloudProvider": "aws", "awsRegion": region, "autoDiscovery": {"clusterName": cluster_name},
            "rbac": {"serviceAccount": {"create": True, "name": versions.CLUSTER_AUTOSCALER.name}},
            "image": {"tag": tag}}


def releases(cloud: str, *, cluster_name: str, region: str, pools: ClusterPools, vpc_id: str | None = None,
             adapter: dict[str, Any] | None = None, kubernetes_version: str = "1.35") -> list[Release]:
    """The releases of a cluster on ``cloud`` (``aws``: EKS, ``gcp``: GKE), in install order (``versions.ADDONS``
    names the charts of each cloud).

    Both: JobSet, Kueue (after JobSet: Kueue starts its JobSet integration when the JobSet API is served,
    pkg/controller/jobframework/setup.go WaitForAPI, so either order works; this one spares it the wait), and
    prometheus-adapter (``adapter``: ``adapter_values``; None leaves it out) for the serving HPA's pods metric.
    EKS also gets the AWS Load Balancer Controller first (``clusterName``, ``region``, ``vpcId``: pods do not
    reach the instance metadata service, IMDSv2 hop limit 1 on the nodes); with NVIDIA GPU pools, the NVIDIA
    device plugin and the DCGM exporter on those pools; with EFA pools, the EFA device plugin on those;
    kube-state-metrics for the JobSets' conditions (``kube_state_metrics_values``); and the Cluster Autoscaler,
    without which a managed node group never leaves its minimum (``cluster_autoscaler_values``; GKE's node pools
    autoscale by themselves); metrics-server for the HPA's cpu / memory targets (GKE runs its own). GKE
    installs and manages the NVIDIA driver and device plugin itself on GPU nodes
    (https://cloud.google.com/kubernetes-engine/docs/how-to/gpus#installing_drivers), its managed DCGM metrics
    come with the cluster's monitoring config (https://cloud.google.com/kubernetes-engine/docs/how-to/dcgm-metrics),
    and its Gateway controller is built in (https://cloud.google.com/kubernetes-engine/docs/concepts/gateway-api),
    as are its kube state metrics with the JobSet package
    (https://cloud.google.com/kubernetes-engine/docs/how-to/kube-state-metrics): none of those is installed there.
    """
    out: list[Release] = []
    first: tuple[str, ...] = ()
    if cloud == "aws":
        lbc = versions.AWS_LOAD_BALANCER_CONTROLLER
        # https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/installation/ (helm install with
        # clusterName, serviceAccount.name; region and vpcId where the pods cannot read them from instance metadata).
        # The Service mutator webhook only makes new LoadBalancer Services NLBs (serving is exposed through an Ingress here),
        # and with its failurePolicy Fail it would refuse every other release's Services while the controller is down.
        out.append(Release(lbc, {"clusterName": cluster_name, "region": region, "vpcId": vpc_id,
                                 "serviceAccount": {"create": True, "name": lbc.name}, "enableServiceMutatorWebhook": False},
                           why="serving Ingresses become ALBs"))
        first = (lbc.name,)
    out.append(Release(versions.JOBSET, {}, first, why="gang runs (JobSet CRD and controller)"))
    out.append(Release(versions.KUEUE, {"managerConfig": {"controllerManagerConfigYaml": KUEUE_CONFIG}}, (*first, versions.JOBSET.name),
                       why="queues, quotas and all-or-nothing admission of runs"))
    if cloud == "aws" and pools.gpu:
        # The chart's default affinity wants node-feature-discovery's labels, which nothing here sets: the GPU pools' label instead.
        # https://github.com/NVIDIA/k8s-device-plugin deployments/helm/nvidia-device-plugin/values.yaml (affinity, tolerations)
        out.append(Release(versions.NVIDIA_DEVICE_PLUGIN, {"affinity": on_pools(pools.gpu), "tolerations": GPU_TOLERATIONS}, first,
                           why="nvidia.com/gpu on the GPU nodes"))
        # https://github.com/NVIDIA/dcgm-exporter deployment/values.yaml: serviceMonitor needs the Prometheus operator's CRD, which
        # is not installed (managed Prometheus scrapes the exporter's pods).
        out.append(Release(versions.DCGM_EXPORTER, {"affinity": on_pools(pools.gpu), "tolerations": GPU_TOLERATIONS,
                                                    "serviceMonitor": {"enabled": False}}, first, why="GPU metrics for managed Prometheus"))
    if cloud == "aws" and pools.efa:
        # https://github.com/aws/eks-charts stable/aws-efa-k8s-device-plugin: its affinity is supportedInstanceLabels (keys x values,
        # operator In); the EFA pools' label selects exactly the nodes with EFA interfaces. No tolerations by default.
        out.append(Release(versions.EFA_DEVICE_PLUGIN, {"supportedInstanceLabels": {"keys": [POOL_LABEL], "values": sorted(pools.efa)},
                                                        "tolerations": GPU_TOLERATIONS + NEURON_TOLERATIONS}, first,
                           why="vpc.amazonaws.com/efa on the EFA nodes"))
    if adapter is not None:
        out.append(Release(versions.PROMETHEUS_ADAPTER, adapter, first, why="the serving HPA's pods metric (custom.metrics.k8s.io)"))
    if cloud == "aws":
        out.append(Release(versions.KUBE_STATE_METRICS, kube_state_metrics_values(), first, why="the JobSets' conditions for the failed-run alert"))
        out.append(Release(versions.CLUSTER_AUTOSCALER, cluster_autoscaler_values(cluster_name, region, kubernetes_version), first,
                           why="the node groups grow for pending pods and shrink when idle"))
        # The chart's defaults (its apiService registers metrics.k8s.io); EKS does not run one itself.
        out.append(Release(versions.METRICS_SERVER, {}, first, why="the HPA's cpu / memory metrics (metrics.k8s.io)"))
    return out


def kube_state_metrics_values() -> dict[str, Any]:
    """kube-state-metrics on EKS, for the failed-run alert (``observability/promql.py`` reads
    ``kube_jobset_status_condition``): the JobSets' conditions as custom resource state metrics
    (``JOBSET_CUSTOM_RESOURCE_STATE``), with list / watch on JobSets (the chart's ``rbac.extraRules``: values.yaml
    "Add (Cluster)Role permissions to list/watch the resources defined in the config to rbac.extraRules"). Its
    built-in collectors are cut to the runs' CronJobs and Jobs: every series the managed collector scrapes is
    stored and billed by Amazon Managed Service for Prometheus, and nothing reads the others."""
    from aiinfra.observability.promql import JOBSET_CUSTOM_RESOURCE_STATE

    group = JOBSET_CUSTOM_RESOURCE_STATE["spec"]["resources"][0]["groupVersionKind"]["group"]
    return {"customResourceState": {"enabled": True, "config": JOBSET_CUSTOM_RESOURCE_STATE},
            "rbac": {"extraRules": [{"apiGroups": [group], "resources": ["jobsets"], "verbs": ["list", "watch"]}]},
            "collectors": ["cronjobs", "jobs"]}


class AddOns(Construct):
    """One ``helm_release`` per add-on of ``releases(...)``
    (https://registry.terraform.io/providers/hashicorp/helm/latest/docs/resources/release): the chart at its
    pinned version from its repository (an ``oci://`` one for Kueue and JobSet), its namespace created,
    its values as one YAML document, installed after the releases it needs (``depends_on``), waited for
    (``wait``, the provider's default) up to ``TIMEOUT_SECONDS``.

    These live in a stack of their own, applied before the in-cluster objects: ``kubernetes_manifest``
    reads the CRDs these charts install when it plans (``KubernetesObjects``).

    Example::

        AddOns(stack, "addons", cloud="aws", cluster_name="ml-prod", region="us-east-1",
               pools=ClusterPools(gpu=("p5-on-demand",), efa=("p5-on-demand",)), vpc_id=vpc.id,
               release_depends_on={"aws-load-balancer-controller": [lbc_identity.association]})

    Args:
        cloud: ``aws`` (EKS) or ``gcp`` (GKE).
        cluster_name, region: the cluster (the Load Balancer Controller's settings).
        pools: its GPU and EFA pools.
        vpc_id: the cluster's VPC (EKS).
        adapter: prometheus-adapter's values (``adapter_values``); None: no prometheus-adapter.
        kubernetes_version: the cluster's minor version (the Cluster Autoscaler's image on EKS).
        provider: the ``HelmProvider`` (else the stack's default ``helm`` provider).
        depends_on: what every release waits for.
        release_depends_on: release name -> what that release waits for (an add-on's Pod Identity association:
            EKS hands credentials to pods created after it).

    Attributes:
        releases: release name -> ``helm_release``; ``planned``: the ``Release`` list.
    """

    def __init__(self, scope: Construct, id: str, *, cloud: str, cluster_name: str, region: str, pools: ClusterPools = ClusterPools(),
                 vpc_id: str | None = None, adapter: dict[str, Any] | None = None, kubernetes_version: str = "1.35",
                 provider: TerraformProvider | None = None, depends_on: Sequence[Any] = (),
                 release_depends_on: Mapping[str, Sequence[Any]] | None = None):
        if cloud not in ("aws", "gcp"):
            raise ValueError(f"cloud must be aws or gcp, got {cloud!r}")
        if cloud == "aws" and not vpc_id:
            raise ValueError("vpc_id is required on aws (the AWS Load Balancer Controller's vpcId)")
        extra = dict(release_depends_on or {})
        _check(scope, provider, [*depends_on, *(d for deps in extra.values() for d in deps)])
        super().__init__(scope, id)
        self.planned = releases(cloud, cluster_name=cluster_name, region=region, pools=pools, vpc_id=vpc_id, adapter=adapter,
                                kubernetes_version=kubernetes_version)
        unknown = sorted(set(extra) - {r.name for r in self.planned})
        if unknown:
            raise ValueError(f"release_depends_on names releases this cluster does not get: {', '.join(unknown)}")
        self.releases: dict[str, GenericResource] = {}
        for rel in self.planned:
            deps = [*depends_on, *extra.get(rel.name, ()), *(self.releases[n] for n in rel.after)]
            r = GenericResource(self, rel.name, "helm_release", {
                "name": rel.name, "repository": rel.chart.repository, "chart": rel.chart.chart, "version": rel.chart.version,
                "namespace": rel.namespace, "create_namespace": True, "timeout": TIMEOUT_SECONDS,
                "values": [_literal(json.dumps(rel.values, sort_keys=True))] if rel.values else None,
                "description": rel.why or None,
            }, depends_on=deps or None)
            r.override_logical_id(rel.name)
            if provider is not None:
                r.provider = provider
            self.releases[rel.name] = r
