"""What managed Prometheus scrapes on a cluster (issue 29: "DCGM and the model server scraped by managed Prometheus
..., ``monitoring_config`` deciding what is scraped"), as in-cluster documents (GKE) and as the AMP collector's scrape
configuration (EKS). The alerting rules over what is scraped: ``aiinfra.observability.promql``.

What is scraped is ``observability.promql.scraped``: the spec's ``monitoring_config`` (the default set without one)
and the metrics its alert rules watch, per workload of the cluster:

- GKE: managed collection is on (``constructs/gcp/gke_cluster.py``). The GPUs' DCGM metrics and the JobSets' kube state
  metrics are GKE's own packages (its DCGM exporter and ClusterPodMonitoring:
  https://cloud.google.com/kubernetes-engine/docs/how-to/dcgm-metrics; kube state metrics, JobSet package:
  https://cloud.google.com/kubernetes-engine/docs/how-to/kube-state-metrics), nothing to deploy. Each scraped model
  server gets a PodMonitoring (https://cloud.google.com/stackdriver/docs/managed-prometheus/setup-managed#gmp-pod-monitoring):
  its pods (``app.kubernetes.io/name``: the workload), its ``port``, path ``/metrics``, and the target label
  ``workload`` from that pod label (``targetLabels.fromPod``; ``namespace`` GMP sets itself).
- EKS: nothing in the cluster. The AMP collector's access is an access entry AMP creates itself on a cluster in API
  authentication mode (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector-how-to.html, "Configure
  Amazon EKS for scraper access with access entries"), which ``KubernetesCluster`` is; the ClusterRole
  ``aps-collector-role`` / binding to ``aps-collector-user`` the same page gives are for clusters still on the aws-auth
  ConfigMap (``collector_rbac_documents`` has them, for an existing cluster in that mode). What it scrapes is
  ``amp_scrape_configuration``: one job per model server (its pods in the namespace, its container port, ``/metrics``),
  the DCGM exporter's pods (port 9400, the exporter's default) and kube-state-metrics' (port 8080, its default), with
  ``honor_labels`` for the two exporters, whose series name other pods (``namespace`` of a JobSet, ``pod`` of a GPU).
"""

from __future__ import annotations

from typing import Any

import yaml

from aiinfra.k8s import Doc, labels, namespace
from aiinfra.k8s.versions import GMP_API
from aiinfra.observability.promql import METRICS_PATH, NAME_LABEL, SCRAPE_INTERVAL, WORKLOAD_LABEL, scraped

# The AMP managed collector's ClusterRole and binding for the user its role is mapped to (AMP-collector-how-to.html,
# "Manually configuring Amazon EKS for scraper access", clusterrole-binding.yml).
COLLECTOR_USER = "aps-collector-user"
COLLECTOR_ROLE = "aps-collector-role"
DCGM_PORT = 9400  # dcgm-exporter's listen address ":9400" (NVIDIA/dcgm-exporter README)
KSM_PORT = 8080   # kube-state-metrics' --port default (kubernetes/kube-state-metrics docs/developer/cli-arguments.md)


def cluster_workloads(plan, cluster) -> list:
    """The planned workloads of ``cluster`` (its cloud and region)."""
    return [w for w in plan.workloads if w.cloud == cluster.cloud and w.region == cluster.region]


def pod_monitoring(spec, workload: str, port: int) -> Doc:
    """The GMP PodMonitoring of one model server's pods."""
    return {"apiVersion": GMP_API, "kind": "PodMonitoring",
            "metadata": {"name": workload, "namespace": namespace(spec), "labels": labels(spec, "monitoring", workload)},
            "spec": {"selector": {"matchLabels": {NAME_LABEL: workload}},
                     "endpoints": [{"port": port, "path": METRICS_PATH, "interval": SCRAPE_INTERVAL}],
                     "targetLabels": {"fromPod": [{"from": NAME_LABEL, "to": WORKLOAD_LABEL}]}}}


def monitoring_documents(spec, plan, cluster) -> list[Doc]:
    """The monitoring documents of ``cluster``: on GKE a PodMonitoring per scraped model server (DCGM and JobSet
    metrics are GKE's); on EKS none (the AMP collector is configured in Terraform, its access is an access entry)."""
    if cluster.cloud != "gcp":
        return []
    servers = scraped(spec, cluster_workloads(plan, cluster))["servers"]
    return [pod_monitoring(spec, name, port) for name, port in servers.items()]


def collector_rbac_documents(spec) -> list[Doc]:
    """The ClusterRole and ClusterRoleBinding AMP's guide gives for a cluster on the aws-auth ConfigMap (its role then
    mapped to ``aps-collector-user`` in aws-auth); not needed on a cluster with access entries."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": COLLECTOR_ROLE, "labels": labels(spec, "monitoring")},
            "rules": [{"apiGroups": [""], "resources": ["nodes", "nodes/proxy", "nodes/metrics", "services", "endpoints", "pods", "ingresses",
                                                       "configmaps"], "verbs": ["describe", "get", "list", "watch"]},
                      {"apiGroups": ["extensions", "networking.k8s.io"], "resources": ["ingresses/status", "ingresses"],
                       "verbs": ["describe", "get", "list", "watch"]},
                      {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
                      {"apiGroups": ["metrics.eks.amazonaws.com"], "resources": ["kcm/metrics", "ksh/metrics"], "verbs": ["get"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "aps-collector-user-role-binding", "labels": labels(spec, "monitoring")},
               "subjects": [{"kind": "User", "name": COLLECTOR_USER, "apiGroup": "rbac.authorization.k8s.io"}],
               "roleRef": {"kind": "ClusterRole", "name": COLLECTOR_ROLE, "apiGroup": "rbac.authorization.k8s.io"}}
    return [role, binding]


def _keep(labels_: list[str], regex: str) -> dict[str, Any]:
    return {"source_labels": labels_, "separator": ";", "regex": regex, "action": "keep"}


def _pod_meta(label: str) -> str:
    """The pod-role discovery label of a pod label (non-alphanumerics become "_")."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


def _pod_job(job: str, keep: list[dict[str, Any]], port: int, *, namespaces: list[str] | None = None,
             honor_labels: bool = False, extra: list[dict[str, Any]] = ()) -> dict[str, Any]:
    sd: dict[str, Any] = {"role": "pod"}
    if namespaces:
        sd["namespaces"] = {"names": namespaces}
    out: dict[str, Any] = {"job_name": job, "metrics_path": METRICS_PATH, "kubernetes_sd_configs": [sd]}
    if honor_labels:
        out["honor_labels"] = True
    out["relabel_configs"] = [
        *keep,
        _keep(["__meta_kubernetes_pod_container_port_number"], str(port)),
        _keep(["__meta_kubernetes_pod_phase"], "Running"),
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
        *extra]
    return out


def amp_scrape_configuration(spec, plan, cluster) -> str:
    """The AMP collector's scrape configuration of an EKS cluster (YAML; AMP takes ``global`` and ``scrape_configs``
    with ``kubernetes_sd_configs``, 30 s at least: AMP-collector-how-to.html, "Scraper configuration"). Always at
    least the collector's own ``up`` of every job it has; a cluster with nothing to scrape still scrapes the API
    server (the sample configuration's ``kubernetes-apiservers`` job), so the collector has a target."""
    what = scraped(spec, cluster_workloads(plan, cluster))
    ns = namespace(spec)
    jobs: list[dict[str, Any]] = []
    for name, port in what["servers"].items():
        jobs.append(_pod_job(f"model-server-{name}", [_keep([_pod_meta(NAME_LABEL)], name)], port, namespaces=[ns],
                             extra=[{"source_labels": [_pod_meta(NAME_LABEL)], "target_label": WORKLOAD_LABEL}]))
    if what["gpu"]:
        # the dcgm-exporter chart's pods (app.kubernetes.io/name: dcgm-exporter) or the GPU operator's (app: nvidia-dcgm-exporter)
        jobs.append(_pod_job("dcgm-exporter", [_keep([_pod_meta(NAME_LABEL), _pod_meta("app")], "dcgm-exporter;.*|.*;nvidia-dcgm-exporter")],
                             DCGM_PORT, honor_labels=True))
    if what["jobsets"]:
        jobs.append(_pod_job("kube-state-metrics", [_keep([_pod_meta(NAME_LABEL)], "kube-state-metrics")], KSM_PORT, honor_labels=True))
    # The API server (the sample configuration's job, as AMP's guide writes it): the collector's own check that it reaches the cluster.
    jobs.append({"job_name": "kubernetes-apiservers", "scheme": "https",
                 "authorization": {"type": "Bearer", "credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
                 "kubernetes_sd_configs": [{"role": "endpoints"}],
                 "relabel_configs": [_keep(["__meta_kubernetes_namespace", "__meta_kubernetes_service_name",
                                            "__meta_kubernetes_endpoint_port_name"], "default;kubernetes;https")]})
    config = {"global": {"scrape_interval": SCRAPE_INTERVAL, "external_labels": {"cluster": cluster.existing or cluster.name}},
              "scrape_configs": jobs}
    return yaml.safe_dump(config, sort_keys=False, width=1000)
