"""The two in-cluster stacks of a cluster (STYLE.md "Kubernetes platform": cluster, add-ons and workload objects
are three layers with three lifecycles), on both clouds:

* ``<project>-<environment>-<cloud>-cluster-addons`` (``cluster-<region>-addons`` outside the primary region):
  the add-ons as pinned Helm releases (``constructs/k8s/addons.py``), with what they need of the cloud (on EKS
  the Load Balancer Controller's and prometheus-adapter's IAM roles through Pod Identity, on GKE the Managed
  Prometheus query frontend). Applied after the cluster stack.
* ``<project>-<environment>-<cloud>-cluster-objects``: one ``kubernetes_manifest`` per document of
  ``aiinfra.k8s.documents.cluster_documents`` (the namespace, quota, queues, runs and serving objects).
  Applied after the add-ons (``kubernetes_manifest`` reads their CRDs when it plans) and after the workloads'
  identity stacks (EKS hands Pod Identity credentials only to pods created after their association).

Both reach the cluster through the kubernetes / helm providers configured from the cluster read by name
(``constructs/k8s/provider.py``: ``aws eks get-token`` on EKS, the google provider's access token on GKE), so
the providers read no other stack's outputs. synth also writes the objects stack's documents as YAML under
``<out>/kubernetes/<cluster stack>/`` (``aiinfra.k8s.export``; ``APP_ATTRIBUTE`` on the app carries them there).
"""

from __future__ import annotations

import re

from aiinfra.cdk import App, stack_id

from aiinfra.constructs.k8s import AddOns, ClusterPools, HelmProvider, KubernetesObjects, KubernetesProvider, eks_access, gke_access
from aiinfra.k8s.export import APP_ATTRIBUTE, TOKEN
from aiinfra.naming import short
from aiinfra.planner.model import Plan
from aiinfra.planner.platform import ClusterPlan
from aiinfra.spec.models import Spec
from aiinfra.stacks.kubernetes import cluster_part



def exposure_variables(exposure: dict[str, dict]) -> tuple[dict[str, str], dict[str, str]]:
    """The YAML export's variables (``aiinfra.k8s.export.render``) for the values of ``exposure`` (per workload,
    ``k8s/serving.py``'s exposure) that Terraform knows only when it runs: token -> ``<WORKLOAD>_<KEY>``
    (upper-case, ``_`` for anything else), and name -> where the value comes from."""
    variables: dict[str, str] = {}
    sources: dict[str, str] = {}

    def walk(workload: str, path: list[str], value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(workload, [*path, str(k)], v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(workload, [*path, str(i)], v)
        elif isinstance(value, str):
            for token in TOKEN.findall(value):
                if token not in variables:
                    name = re.sub(r"[^A-Z0-9]", "_", "_".join([workload, *path]).upper())
                    variables[token] = name
                    sources[name] = (f"{workload}'s {'.'.join(path)}: an output of the stack that makes it (known once applied; "
                                     "terraform output in that stack's folder)")

    for workload, values in sorted(exposure.items()):
        walk(workload, [], values)
    return variables, sources


def cluster_pools(cluster: ClusterPlan) -> ClusterPools:
    """The cluster's NVIDIA GPU pools and its pools with EFA interfaces."""
    return ClusterPools(gpu=tuple(p.name for p in cluster.pools if p.gpu_count and p.accelerator_runtime == "cuda"),
                        efa=tuple(p.name for p in cluster.pools if p.efa_interfaces_per_node))


def _access(stack, spec: Spec, cluster: ClusterPlan, name: str):
    if cluster.cloud == "aws":
        return eks_access(stack, "cluster", cluster_name=name, region=cluster.region)
    return gke_access(stack, "cluster", cluster_name=name, location=cluster.location or cluster.region, project=spec.clouds.gcp.project)


def _primary(spec: Spec, cloud: str) -> str:
    return spec.clouds.aws.region if cloud == "aws" else spec.clouds.gcp.region


class ClusterAddOnsStack:
    """``<project>-<environment>-<cloud>-cluster-addons``: the add-ons of one cluster (``AddOns``), after its
    cluster stack. ``cluster_stack``: the ``AwsClusterStack`` / ``GcpClusterStack`` (its ``stack``,
    ``cluster_name``); ``prometheus``: the cluster's ``ManagedPrometheus`` on EKS (its workspace), None: no
    prometheus-adapter there.

    On EKS the AWS Load Balancer Controller, the Cluster Autoscaler and prometheus-adapter get their IAM roles through Pod Identity
    (``AddOnIdentity``), each release created after its association; prometheus-adapter reads the cluster's
    Amazon Managed Service for Prometheus workspace (the cluster stack's). On GKE it reads Managed Prometheus
    through the query frontend (``PrometheusFrontend``), deployed here first."""

    def __init__(self, app: App, spec: Spec, plan: Plan, cluster: ClusterPlan, cluster_stack, make_stack, prometheus=None):
        from aiinfra.constructs.k8s.addons import adapter_values
        from aiinfra.k8s import versions

        part = cluster_part(cluster, _primary(spec, cluster.cloud))
        self.stack = make_stack(app, spec, cluster.region, f"{part}-addons")
        self.stack.add_dependency(cluster_stack.stack)
        name = cluster_stack.cluster_name
        access = _access(self.stack, spec, cluster, name)
        HelmProvider(self.stack, "helm", access=access)
        waits: dict[str, list] = {}
        vpc_id = adapter = None
        adapter_chart = versions.PROMETHEUS_ADAPTER
        if cluster.cloud == "aws":
            from aiinfra.constructs.aws.eks_addon_identity import (AUTOSCALER_WAIVER, LBC_WAIVER, AddOnIdentity, cluster_autoscaler_statements,
                                                                   load_balancer_controller_statements, prometheus_query_statements)
            from aiinfra.constructs.aws.common import AwsContext

            vpc_id = access.source.get_string_attribute("vpc_config[0].vpc_id")
            lbc = versions.AWS_LOAD_BALANCER_CONTROLLER
            identity = AddOnIdentity(self.stack, "load-balancer-controller", cluster_name=name, namespace=lbc.namespace,
                                     service_account=lbc.name, name=short(f"{name}-{cluster.region}-lb-controller", 64),
                                     statements=load_balancer_controller_statements(AwsContext(self.stack).partition), waiver=LBC_WAIVER)
            waits[lbc.name] = [identity.association]  # its pods get credentials only when created after the association
            scaler = versions.CLUSTER_AUTOSCALER
            scaling = AddOnIdentity(self.stack, "cluster-autoscaler", cluster_name=name, namespace=scaler.namespace,
                                    service_account=scaler.name, name=short(f"{name}-{cluster.region}-autoscaler", 64),
                                    statements=cluster_autoscaler_statements(name), waiver=AUTOSCALER_WAIVER)
            waits[scaler.name] = [scaling.association]
            if prometheus is not None:
                reader = AddOnIdentity(self.stack, "prometheus-adapter", cluster_name=name, namespace=adapter_chart.namespace,
                                       service_account=adapter_chart.name, name=short(f"{name}-{cluster.region}-metrics-adapter", 64),
                                       statements=prometheus_query_statements(prometheus.workspace_arn))
                waits[adapter_chart.name] = [reader.association]
                adapter = adapter_values("aws", cluster.region, workspace_id=prometheus.workspace_id)
        else:
            from aiinfra.constructs.gcp.gke_prometheus_frontend import PrometheusFrontend

            KubernetesProvider(self.stack, "kubernetes", access=access)
            frontend = PrometheusFrontend(self.stack, "prometheus-frontend", project=spec.clouds.gcp.project,
                                          namespace=adapter_chart.namespace, account_id=short(f"{name}-gmp-frontend", 30))
            waits[adapter_chart.name] = list(frontend.objects.manifests.values())
            adapter = adapter_values("gcp", cluster.region, frontend_url=frontend.url)
        self.addons = AddOns(self.stack, "addons", cloud=cluster.cloud, cluster_name=name, region=cluster.region,
                             pools=cluster_pools(cluster), vpc_id=vpc_id, adapter=adapter, kubernetes_version=cluster.version,
                             release_depends_on=waits)
        self.notes: list[str] = []
        if cluster.existing:
            self.notes.append(f"{stack_id(self.stack)}: installs {', '.join(r.name for r in self.addons.planned)} into existing "
                              f"cluster {name}: where it already runs one of them under the same release name, import it first "
                              "(terraform import helm_release.<name> <namespace>/<name>) or the apply fails on it")


class ClusterObjectsStack:
    """``<project>-<environment>-<cloud>-cluster-objects``: the cluster's documents, one ``kubernetes_manifest``
    each, after the add-ons stack and the workloads' identity stacks (``after``)."""

    def __init__(self, app: App, spec: Spec, plan: Plan, cluster: ClusterPlan, cluster_stack, addons: ClusterAddOnsStack, make_stack,
                 after=(), exposure=None, data_bucket: str | None = None):
        from aiinfra.k8s.documents import cluster_documents

        part = cluster_part(cluster, _primary(spec, cluster.cloud))
        self.stack = make_stack(app, spec, cluster.region, f"{part}-objects")
        self.stack.add_dependency(addons.stack)
        for other in after:
            self.stack.add_dependency(other)
        self.documents = cluster_documents(spec, plan, cluster, exposure, data_bucket)
        KubernetesProvider(self.stack, "kubernetes", access=_access(self.stack, spec, cluster, cluster_stack.cluster_name))
        self.objects = KubernetesObjects(self.stack, "objects", documents=self.documents)
        exports = getattr(app, APP_ATTRIBUTE, None)
        if exports is None:
            exports = {}
            setattr(app, APP_ATTRIBUTE, exports)
        self.variables, sources = exposure_variables({**(exposure or {}), **({"storage": {"data_bucket": data_bucket}} if data_bucket else {})})
        exports[stack_id(cluster_stack.stack)] = {"documents": self.documents, "variables": self.variables, "sources": sources}
        self.notes = [f"{stack_id(self.stack)}: plan and apply it after {stack_id(addons.stack)} (its objects need the CRDs the "
                      f"add-ons install), where the cluster's API endpoint answers and the "
                      f"{'aws CLI (aws eks get-token)' if cluster.cloud == 'aws' else 'google provider credentials'} work; "
                      f"the same objects are written as YAML under kubernetes/{stack_id(cluster_stack.stack)}/ for Argo CD or Flux"]


def add_in_cluster_stacks(app: App, spec: Spec, plan: Plan, cluster: ClusterPlan, cluster_stack, make_stack, *, after=(),
                          exposure: dict | None = None, prometheus=None, data_bucket: str | None = None) -> tuple[list[str], list[str]]:
    """The add-ons and objects stacks of ``cluster``, after ``cluster_stack``; the objects stack also after the
    stacks ``after`` (the workloads' identity stacks). ``exposure``: per serving workload's name, its
    ``k8s/serving.py`` exposure; ``prometheus``: the cluster's ``ManagedPrometheus`` (EKS); ``data_bucket``: the
    foundation's data bucket the runs read (``aiinfra.k8s.documents.cluster_documents``). Returns (stack names,
    notes)."""
    addons = ClusterAddOnsStack(app, spec, plan, cluster, cluster_stack, make_stack, prometheus=prometheus)
    objects = ClusterObjectsStack(app, spec, plan, cluster, cluster_stack, addons, make_stack, after=after, exposure=exposure,
                                  data_bucket=data_bucket)
    return [stack_id(addons.stack), stack_id(objects.stack)], addons.notes + objects.notes
