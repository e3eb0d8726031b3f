"""The pinned add-ons of the in-cluster stacks (issue 29; STYLE.md "Kubernetes platform": "the add-on charts are
pinned") and the apiVersions the in-cluster documents use.

Each chart is a released version whose Chart.yaml (and CRDs, where it has any) were read at the same tag or commit,
cited at the entry.  The CRDs of the versions pinned here are kept as test data under
``tests/data/crds/<addon>-<version>/`` and every document is checked against them (tests/k8s_schema.py).  Moving a
version is an edit here plus new test data.

What runs where (``ADDONS``):
- both clouds: Kueue (gang admission, quotas) and JobSet (the training / data-processing runs); prometheus-adapter
  for the serving HPA's ``type: Pods`` metric ``requests_per_second``: it serves ``custom.metrics.k8s.io`` from a
  PromQL rule, under the metric name the guide's HPA asks for verbatim (KEDA would serve ``external.metrics.k8s.io``
  through its own ScaledObject, so the guide's HPA could not be applied as written).  It reads the managed
  Prometheus: on EKS, Amazon Managed Service for Prometheus through an ``aws-sigv4-proxy`` sidecar (AMP's query API
  takes SigV4-signed requests only: https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-onboard-query-APIs.html);
  on GKE, Google Managed Prometheus through its query frontend (the path
  https://cloud.google.com/stackdriver/docs/managed-prometheus/hpa documents for prometheus-adapter; its example,
  GoogleCloudPlatform/prometheus-engine examples/hpa, maps ``http_requests_total`` to a Pods metric
  ``http_requests_per_second`` as an HPA ``type: Pods`` reads it).
- EKS only: the NVIDIA device plugin (the EKS NVIDIA AMIs carry the driver and the container toolkit, so the device
  plugin chart is what awslabs/ai-on-eks installs: infra/base/terraform/addons.tf ``enable_nvidia_device_plugin``, not
  the GPU operator), the EFA device plugin, the DCGM exporter, and the AWS Load Balancer Controller.
- GKE manages its own equivalents (no chart): the GPU device plugin and driver (the node pool's
  ``gpu_driver_installation_config``), DCGM metrics (the cluster's ``monitoring_config``, ``enable_components``
  "DCGM"), Google Managed Prometheus collection (PodMonitoring / Rules CRDs) and the Gateway controller
  (``gateway_api_config``).
"""

from __future__ import annotations

from typing import NamedTuple


class Chart(NamedTuple):
    """One Helm chart at a pinned version, as ``helm_release`` takes it (``repository`` + ``chart`` + ``version``)."""

    name: str  # aiinfra's name of the add-on (the helm_release name)
    repository: str  # a chart repository URL, or an OCI registry path ("oci://...", the chart's parent)
    chart: str
    version: str  # the chart version
    app_version: str  # the version of the software the chart deploys
    namespace: str  # the namespace its documentation installs it in
    crd_api_versions: tuple[str, ...] = ()  # "group/version" of the custom resources the chart's CRDs serve
    source: str = ""  # where the version was read


# Kueue: kubernetes-sigs/kueue tag v0.19.2 (commit 8eab68778fc1b52affe165fdf5af29d1e9b4f3cb), charts/kueue/Chart.yaml
# (version 0.19.2, appVersion "v0.19.2"); charts/kueue/README.md: `helm install kueue
# oci://registry.k8s.io/kueue/charts/kueue --version="0.19.2" --create-namespace --namespace=kueue-system`
# ("Requires Kubernetes 1.29 or newer", README.md); config/components/crd/bases/kueue.x-k8s.io_*.yaml serve v1beta2
# (storage) and v1beta1 (deprecated: "This version is deprecated. Use v1beta2 instead."); every example under site/
# uses v1beta2.  values.yaml integrations.frameworks includes "jobset.x-k8s.io/jobset" by default.
KUEUE = Chart("kueue", "oci://registry.k8s.io/kueue/charts", "kueue", "0.19.2", "v0.19.2", "kueue-system",
              ("kueue.x-k8s.io/v1beta2", "kueue.x-k8s.io/v1beta1"), "kubernetes-sigs/kueue v0.19.2 charts/kueue/Chart.yaml")

# JobSet: kubernetes-sigs/jobset tag v0.12.0 (commit f22e565ac3cc3265c7c45ef67ecffdc689af5d77), charts/jobset/Chart.yaml
# (version 0.12.0, no appVersion: the release's controller is v0.12.0); charts/jobset/README.md: `helm install
# [RELEASE_NAME] oci://registry.k8s.io/jobset/charts/jobset --version 0.12.0`; charts/jobset/crds/jobset.x-k8s.io_jobsets.yaml
# serves v1alpha2 only.
JOBSET = Chart("jobset", "oci://registry.k8s.io/jobset/charts", "jobset", "0.12.0", "v0.12.0", "jobset-system",
               ("jobset.x-k8s.io/v1alpha2",), "kubernetes-sigs/jobset v0.12.0 charts/jobset/Chart.yaml")

# NVIDIA device plugin: NVIDIA/k8s-device-plugin tag v0.20.0 (commit 1b826acc6af3079d8923bac395c3124b8861a9a6),
# deployments/helm/nvidia-device-plugin/Chart.yaml (version "0.20.0", appVersion "0.20.0"); README.md: `helm repo add
# nvdp https://nvidia.github.io/k8s-device-plugin`, `helm upgrade -i nvdp nvdp/nvidia-device-plugin --namespace
# nvidia-device-plugin`.  No CRDs.
NVIDIA_DEVICE_PLUGIN = Chart("nvidia-device-plugin", "https://nvidia.github.io/k8s-device-plugin", "nvidia-device-plugin",
                             "0.20.0", "0.20.0", "nvidia-device-plugin", (),
                             "NVIDIA/k8s-device-plugin v0.20.0 deployments/helm/nvidia-device-plugin/Chart.yaml")

# EFA device plugin: aws/eks-charts commit bfe91c4b9257c80f754ad4b3d6a9a3c239b2b8ec (2026-07-21, unchanged at
# 5239609242f3430be50fb0b714a24d3ef2b47983), stable/aws-efa-k8s-device-plugin/Chart.yaml (version v0.5.30,
# appVersion "v0.5.20"; values.yaml image tag "v0.5.20"); README.md: `helm repo add eks https://aws.github.io/eks-charts`,
# installed in kube-system.  No CRDs.
EFA_DEVICE_PLUGIN = Chart("aws-efa-k8s-device-plugin", "https://aws.github.io/eks-charts", "aws-efa-k8s-device-plugin",
                          "v0.5.30", "v0.5.20", "kube-system", (),
                          "aws/eks-charts bfe91c4b stable/aws-efa-k8s-device-plugin/Chart.yaml")

# DCGM exporter: NVIDIA/dcgm-exporter tag 4.5.3-4.8.2 (commit 691c92762eb551313c825f6efe4ceeee20982801),
# deployment/Chart.yaml (version "4.8.2", appVersion "4.8.2"); README.md: `helm repo add gpu-helm-charts
# https://nvidia.github.io/dcgm-exporter/helm-charts`.  No CRDs.
DCGM_EXPORTER = Chart("dcgm-exporter", "https://nvidia.github.io/dcgm-exporter/helm-charts", "dcgm-exporter", "4.8.2", "4.8.2",
                      "dcgm-exporter", (), "NVIDIA/dcgm-exporter 4.5.3-4.8.2 deployment/Chart.yaml")

# AWS Load Balancer Controller: aws/eks-charts commit 5239609242f3430be50fb0b714a24d3ef2b47983 (2026-08-03),
# stable/aws-load-balancer-controller/Chart.yaml (version 3.5.0, appVersion v3.5.0); README.md: `helm install
# aws-load-balancer-controller eks/aws-load-balancer-controller --set clusterName=my-cluster -n kube-system`;
# crds/crds.yaml: elbv2.k8s.aws IngressClassParams v1beta1, TargetGroupBinding v1alpha1 + v1beta1 (the Ingress the
# serving documents write is the built-in networking.k8s.io/v1 kind with the controller's annotations).
AWS_LOAD_BALANCER_CONTROLLER = Chart("aws-load-balancer-controller", "https://aws.github.io/eks-charts", "aws-load-balancer-controller",
                                     "3.5.0", "v3.5.0", "kube-system", ("elbv2.k8s.aws/v1beta1", "elbv2.k8s.aws/v1alpha1"),
                                     "aws/eks-charts 52396092 stable/aws-load-balancer-controller/Chart.yaml")

# prometheus-adapter: prometheus-community/helm-charts tag prometheus-adapter-5.3.0 (commit
# e6e041b675fc44c3b869dfbb88d183e40b449dd2), charts/prometheus-adapter/Chart.yaml (version 5.3.0, appVersion v0.12.0);
# templates/custom-metrics-apiservice.yaml registers custom.metrics.k8s.io v1beta1; values.yaml: prometheus.url /
# port / path, rules.custom, extraContainers (the SigV4 proxy on EKS).  No CRDs.
PROMETHEUS_ADAPTER = Chart("prometheus-adapter", "https://prometheus-community.github.io/helm-charts", "prometheus-adapter",
                           "5.3.0", "v0.12.0", "monitoring", (),
                           "prometheus-community/helm-charts prometheus-adapter-5.3.0 charts/prometheus-adapter/Chart.yaml")

# kube-state-metrics (EKS): prometheus-community/helm-charts tag kube-state-metrics-8.4.0 (commit
# 1982f1c5828920f5d4ea5d04956169e81f8c5129), charts/kube-state-metrics/Chart.yaml (version 8.4.0, appVersion 2.20.0);
# README.md: `helm install [RELEASE_NAME] oci://ghcr.io/prometheus-community/charts/kube-state-metrics` (the chart is also
# in the prometheus-community repository); values.yaml customResourceState.enabled / config ("Add (Cluster)Role
# permissions to list/watch the resources defined in the config to rbac.extraRules"), collectors.  No CRDs.  It publishes
# the JobSets' Failed condition the failed-run alert reads (observability/promql.py JOBSET_CUSTOM_RESOURCE_STATE); GKE's
# managed kube state metrics publish it there.
KUBE_STATE_METRICS = Chart("kube-state-metrics", "https://prometheus-community.github.io/helm-charts", "kube-state-metrics", "8.4.0",
                           "2.20.0", "monitoring", (),
                           "prometheus-community/helm-charts kube-state-metrics-8.4.0 charts/kube-state-metrics/Chart.yaml")

# Cluster Autoscaler (EKS: managed node groups scale only when it asks; GKE's node pools have it built in):
# kubernetes/autoscaler tag cluster-autoscaler-chart-9.59.0 (commit 5a0b98e45f896e98132737240ac131a519d3b33d),
# cluster-autoscaler/charts/cluster-autoscaler/Chart.yaml (version 9.59.0, appVersion 1.35.0); README.md: `helm repo add
# autoscaler https://kubernetes.github.io/autoscaler`; cluster-autoscaler/README.md "Releases": "We recommend using
# Cluster Autoscaler with the Kubernetes control plane version for which it was meant ... versioning scheme was changed
# to match Kubernetes minor releases exactly", so its image is the newest release of the cluster's minor version
# (``CLUSTER_AUTOSCALER_IMAGE_TAGS``: the repository's cluster-autoscaler-1.<minor>.<patch> tags at that commit).  No CRDs.
CLUSTER_AUTOSCALER = Chart("cluster-autoscaler", "https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.59.0", "1.35.0",
                           "kube-system", (), "kubernetes/autoscaler cluster-autoscaler-chart-9.59.0 charts/cluster-autoscaler/Chart.yaml")
CLUSTER_AUTOSCALER_IMAGE_TAGS = {"1.29": "v1.29.5", "1.30": "v1.30.7", "1.31": "v1.31.5", "1.32": "v1.32.7", "1.33": "v1.33.6",
                                 "1.34": "v1.34.5", "1.35": "v1.35.2", "1.36": "v1.36.1"}

# metrics-server (EKS: the HPA's cpu / memory Resource metrics, metrics.k8s.io; GKE runs its own): kubernetes-sigs/metrics-server
# tag metrics-server-helm-chart-3.13.1 (commit 842dcc8c42f22cc19f10c7d5f2d32a9f4b6013b0), charts/metrics-server/Chart.yaml
# (version 3.13.1, appVersion 0.8.1); README.md: `helm repo add metrics-server https://kubernetes-sigs.github.io/metrics-server/`;
# values.yaml apiService.create true registers v1beta1.metrics.k8s.io; EKS installs it in kube-system
# (https://docs.aws.amazon.com/eks/latest/userguide/metrics-server.html).  No CRDs.
METRICS_SERVER = Chart("metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "metrics-server", "3.13.1", "0.8.1",
                       "kube-system", (), "kubernetes-sigs/metrics-server metrics-server-helm-chart-3.13.1 charts/metrics-server/Chart.yaml")

# The images prometheus-adapter needs to reach the managed Prometheus (no chart of their own).
# awslabs/aws-sigv4-proxy tag v1.11.1 (VERSION "1.11.1"; .github/workflows/release.yaml pushes
# public.ecr.aws/aws-observability/aws-sigv4-proxy:<VERSION>); flags --name aps --region R --host
# aps-workspaces.R.amazonaws.com (README.md "Configuration").
AWS_SIGV4_PROXY_IMAGE = "public.ecr.aws/aws-observability/aws-sigv4-proxy:1.11.1"
# GoogleCloudPlatform/prometheus-engine tag v0.17.2, examples/frontend.yaml (Deployment "frontend", args
# --web.listen-address=:9090 --query.project-id=PROJECT_ID, Service port 9090).
GMP_FRONTEND_IMAGE = "gke.gcr.io/prometheus-engine/frontend:v0.15.3-gke.0"
# The HPA's pods metric API that prometheus-adapter serves (templates/custom-metrics-apiservice.yaml).
CUSTOM_METRICS_API = "custom.metrics.k8s.io/v1beta1"

# The add-on charts of each cloud, in install order (Kueue before JobSet: Kueue's JobSet integration watches JobSets).
ADDONS: dict[str, tuple[Chart, ...]] = {
    "aws": (KUEUE, JOBSET, NVIDIA_DEVICE_PLUGIN, EFA_DEVICE_PLUGIN, DCGM_EXPORTER, AWS_LOAD_BALANCER_CONTROLLER, PROMETHEUS_ADAPTER,
            KUBE_STATE_METRICS, CLUSTER_AUTOSCALER, METRICS_SERVER),
    "gcp": (KUEUE, JOBSET, PROMETHEUS_ADAPTER),
}

# The apiVersions the documents of aiinfra.k8s write (each is served by the CRD test data of the pinned version).
KUEUE_API = "kueue.x-k8s.io/v1beta2"  # Kueue 0.19.2: v1beta1 is deprecated, v1beta2 is the storage version
JOBSET_API = "jobset.x-k8s.io/v1alpha2"
# Google Managed Prometheus: PodMonitoring / ClusterPodMonitoring / Rules (GoogleCloudPlatform/prometheus-engine
# v0.17.2 charts/operator/crds/monitoring.googleapis.com_*.yaml: v1 is the storage version). GKE installs them itself.
GMP_API = "monitoring.googleapis.com/v1"
GMP_CRDS_VERSION = "0.17.2"  # tests/data/crds/gmp-0.17.2
# Gateway API standard channel (kubernetes-sigs/gateway-api v1.4.1 config/crd/standard: Gateway and HTTPRoute at v1);
# GKE installs the Gateway API CRDs itself with gateway_api_config.
GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_API_CRDS_VERSION = "1.4.1"  # tests/data/crds/gateway-api-1.4.1
# GKE Gateway policies GCPBackendPolicy and HealthCheckPolicy
# (https://cloud.google.com/kubernetes-engine/docs/how-to/configure-gateway-resources); schemas as a GKE 1.33
# cluster serves them: tests/data/crds/gke-networking-1.33.
GKE_NETWORKING_API = "networking.gke.io/v1"

# The oldest Kubernetes minor version every pinned add-on supports (Kueue 0.19: "Requires Kubernetes 1.29 or newer").
MIN_KUBERNETES = "1.29"
