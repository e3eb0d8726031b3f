"""The pinned add-ons of the in-cluster stacks (issue 29; STYLE.md "Kubernetes platform": "the add-on charts are
pinned") and the apiVersions the in-cluster documents use.

Each chart is a released version whose Chart.yaml and CRDs were read at the same tag (the source is cited at each
entry); the CRDs of the versions pinned here are kept as test data under ``tests/data/crds/<addon>-<version>/`` and
every document is checked against them (tests/k8s_schema.py).  Moving a version is an edit here plus new test data.
"""

from __future__ import annotations

from typing import NamedTuple


class Chart(NamedTuple):
    """One Helm chart at a pinned version, as ``helm_release`` takes it (``repository`` + ``chart`` + ``version``)."""

    repository: str  # a chart repository URL, or an OCI registry path ("oci://..."; chart is then the last segment)
    chart: str
    version: str  # the chart version
    app_version: str  # the version of the software the chart deploys
    crd_api_versions: tuple[str, ...] = ()  # "group/version" of the custom resources the chart's CRDs serve
    source: str = ""  # where the version was read


# Kueue: https://github.com/kubernetes-sigs/kueue tag v0.19.2, charts/kueue/Chart.yaml (version 0.19.2, appVersion
# "v0.19.2"); charts/kueue/README.md installs it as `helm install kueue oci://registry.k8s.io/kueue/charts/kueue
# --version="0.19.2"`; config/components/crd/bases/kueue.x-k8s.io_*.yaml serve v1beta2 (storage) and v1beta1
# (deprecated: "This version is deprecated. Use v1beta2 instead."), and every example under site/ uses v1beta2.
KUEUE = Chart("oci://registry.k8s.io/kueue/charts", "kueue", "0.19.2", "v0.19.2",
              ("kueue.x-k8s.io/v1beta2", "kueue.x-k8s.io/v1beta1"),
              "kubernetes-sigs/kueue v0.19.2 charts/kueue/Chart.yaml")

# JobSet: https://github.com/kubernetes-sigs/jobset tag v0.12.0, charts/jobset/Chart.yaml (version 0.12.0; the chart
# has no appVersion, the release's image is v0.12.0); charts/jobset/README.md: `helm install [RELEASE_NAME]
# oci://registry.k8s.io/jobset/charts/jobset --version 0.12.0`; charts/jobset/crds/jobset.x-k8s.io_jobsets.yaml
# serves v1alpha2 only.
JOBSET = Chart("oci://registry.k8s.io/jobset/charts", "jobset", "0.12.0", "v0.12.0", ("jobset.x-k8s.io/v1alpha2",),
               "kubernetes-sigs/jobset v0.12.0 charts/jobset/Chart.yaml")

# The apiVersions the documents of aiinfra.k8s write (each is served by the CRD test data of the pinned version).
KUEUE_API = "kueue.x-k8s.io/v1beta2"  # Kueue 0.19.2: v1beta1 is deprecated, v1beta2 is the storage version
JOBSET_API = "jobset.x-k8s.io/v1alpha2"
# Google Managed Prometheus: PodMonitoring / ClusterPodMonitoring / Rules (GoogleCloudPlatform/prometheus-engine
# v0.17.2 charts/operator/crds/monitoring.googleapis.com_*.yaml: v1 is the storage version). GKE installs them itself.
GMP_API = "monitoring.googleapis.com/v1"
# Gateway API standard channel (kubernetes-sigs/gateway-api v1.4.1 config/crd/standard: Gateway and HTTPRoute at v1).
GATEWAY_API = "gateway.networking.k8s.io/v1"
# GKE Gateway policies GCPBackendPolicy and HealthCheckPolicy
# (https://cloud.google.com/kubernetes-engine/docs/how-to/configure-gateway-resources).
GKE_NETWORKING_API = "networking.gke.io/v1"
