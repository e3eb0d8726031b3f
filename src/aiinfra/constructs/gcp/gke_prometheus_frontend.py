"""Google Managed Prometheus's query frontend in a GKE cluster: the Prometheus HTTP API over the project's Cloud
Monitoring series, for in-cluster readers that speak Prometheus (prometheus-adapter, for the HPA's pods metric)."""

from __future__ import annotations

from typing import Any

from aiinfra.cdk import Construct, TerraformProvider

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.gke_workload_identity import ANNOTATION, WORKLOAD_IDENTITY_USER, workload_member
from aiinfra.constructs.k8s.objects import KubernetesObjects
from aiinfra.k8s import versions

NAME = "frontend"  # the Deployment, Service and service account (GoogleCloudPlatform/prometheus-engine examples/frontend.yaml)
PORT = 9090
# What the frontend's account may do: read the project's metrics
# (https://cloud.google.com/stackdriver/docs/managed-prometheus/query#promui-deploy: roles/monitoring.viewer).
ROLE = "roles/monitoring.viewer"


def frontend_documents(project: str, namespace: str, email: str) -> list[dict[str, Any]]:
    """The frontend as GoogleCloudPlatform/prometheus-engine's ``examples/frontend.yaml`` writes it (tag v0.17.2: two
    replicas of ``versions.GMP_FRONTEND_IMAGE`` on :9090 with ``--query.project-id``, health and readiness probes,
    non-root, no privilege escalation, a headless Service), in ``namespace``, running as a Kubernetes service account
    bound to the Google service account ``email`` through Workload Identity."""
    labels = {"app": NAME, "app.kubernetes.io/managed-by": "aiinfra"}
    pod = {
        "serviceAccountName": NAME, "automountServiceAccountToken": True,
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64", "amd64"]},
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}},
        "containers": [{
            "name": NAME, "image": versions.GMP_FRONTEND_IMAGE,
            "args": [f"--web.listen-address=:{PORT}", f"--query.project-id={project}"],
            "ports": [{"name": "web", "containerPort": PORT}],
            "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "web"}},
            "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "privileged": False}}],
        "securityContext": {"runAsGroup": 1000, "runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": "aiinfra"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": NAME, "namespace": namespace, "labels": labels, "annotations": {ANNOTATION: email}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": NAME}},
                  "template": {"metadata": {"labels": labels}, "spec": pod}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAME, "namespace": namespace, "labels": labels},
         "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": PORT}], "selector": {"app": NAME}}},
    ]


class PrometheusFrontend(Construct):
    """The Managed Prometheus query frontend (https://cloud.google.com/stackdriver/docs/managed-prometheus/query) of
    one GKE cluster: a Google service account with ``roles/monitoring.viewer`` on the project, bound to the
    Kubernetes service account ``<namespace>/frontend`` (roles/iam.workloadIdentityUser,
    https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#kubernetes-sa-to-iam), and the
    frontend's objects (``frontend_documents``) through ``KubernetesObjects``. prometheus-adapter reads it at
    ``url`` (https://cloud.google.com/stackdriver/docs/managed-prometheus/hpa).

    Args:
        project: the cluster's project (its metrics, its workload pool).
        namespace: where the frontend runs.
        account_id: the Google service account's id (6 to 30 characters).
        provider: the ``KubernetesProvider`` (else the stack's default one).

    Attributes:
        url (``http://frontend.<namespace>.svc``), email, objects (the ``KubernetesObjects``).
    """

    def __init__(self, scope: Construct, id: str, *, project: str, namespace: str, account_id: str,
                 provider: TerraformProvider | None = None):
        super().__init__(scope, id)
        account = resource(self, "account", "google_service_account", project=project, account_id=account_id,
                           display_name="aiinfra Managed Prometheus query frontend",
                           description=f"The Managed Prometheus query frontend ({namespace}/{NAME}): reads the project's metrics")
        self.email: str = f"{account_id}@{project}.iam.gserviceaccount.com"
        viewer = resource(self, "monitoring-viewer", "google_project_iam_member", project=project, role=ROLE,
                          member=f"serviceAccount:{account.get_string_attribute('email')}")
        binding = resource(self, "workload-identity-user", "google_service_account_iam_member",
                           service_account_id=account.get_string_attribute("name"), role=WORKLOAD_IDENTITY_USER,
                           member=workload_member(project, namespace, NAME))
        self.objects = KubernetesObjects(self, "objects", documents=frontend_documents(project, namespace, self.email), provider=provider,
                                         depends_on=[viewer, binding])
        self.url = f"http://{NAME}.{namespace}.svc"
