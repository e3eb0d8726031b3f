"""Tests of the Kubernetes manifest check (tests/k8s_schema.py) itself: good documents pass, bad ones fail, for every
Kubernetes version the catalog offers (catalog/data/kubernetes_versions.csv)."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from aiinfra.catalog.kubernetes import load_versions, version_key
from aiinfra.k8s import versions as pinned

try:  # `python -m pytest` puts the repo root on sys.path; bare `pytest` only tests/
    from tests.k8s_schema import CRD_DIR, check_all, crd_kinds, problems, supported_versions
except ModuleNotFoundError:  # pragma: no cover
    from k8s_schema import CRD_DIR, check_all, crd_kinds, problems, supported_versions

VERSIONS = sorted({r.version for r in load_versions().rows}, key=version_key)


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "chat", "namespace": "prod", "labels": {"app.kubernetes.io/name": "chat"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "chat"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "chat"}},
                "spec": {
                    "serviceAccountName": "chat",
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "server", "image": "ghcr.io/acme/chat:1",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "16Gi"}, "requests": {"cpu": "4"}},
                        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
                    }],
                },
            },
        },
    }


def resource_quota() -> dict:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "prod", "namespace": "prod"},
            "spec": {"hard": {"requests.nvidia.com/gpu": "16", "persistentvolumeclaims": 10}}}


def cluster_queue() -> dict:
    # as Kueue's site/static/examples/admin/single-clusterqueue-setup.yaml (v0.19.2), plus a second flavor
    return {"apiVersion": pinned.KUEUE_API, "kind": "ClusterQueue", "metadata": {"name": "acme-prod"},
            "spec": {"namespaceSelector": {}, "queueingStrategy": "BestEffortFIFO",
                     "resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                                         "flavors": [{"name": f, "resources": [{"name": "cpu", "nominalQuota": 96},
                                                                              {"name": "memory", "nominalQuota": "1024Gi"},
                                                                              {"name": "nvidia.com/gpu", "nominalQuota": 8}]}
                                                     for f in ("gpu-spot", "gpu-on-demand")]}]}}


def resource_flavor() -> dict:
    return {"apiVersion": pinned.KUEUE_API, "kind": "ResourceFlavor", "metadata": {"name": "gpu-spot"},
            "spec": {"nodeLabels": {"aiinfra.dev/pool": "gpu-spot"},
                     "nodeTaints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}}


def local_queue() -> dict:
    return {"apiVersion": pinned.KUEUE_API, "kind": "LocalQueue", "metadata": {"name": "runs", "namespace": "prod"},
            "spec": {"clusterQueue": "acme-prod"}}


def jobset() -> dict:
    # the shape of kubernetes-sigs/jobset examples/pytorch (v0.12.0), suspended with Kueue's queue label
    return {
        "apiVersion": pinned.JOBSET_API, "kind": "JobSet",
        "metadata": {"name": "train", "namespace": "prod", "labels": {"kueue.x-k8s.io/queue-name": "runs"}},
        "spec": {
            "suspend": True,
            "network": {"enableDNSHostnames": True, "subdomain": "train"},
            "failurePolicy": {"maxRestarts": 3, "restartStrategy": "Recreate"},
            "replicatedJobs": [{
                "name": "workers", "replicas": 1,
                "template": {"spec": {
                    "parallelism": 2, "completions": 2, "backoffLimit": 0, "completionMode": "Indexed",
                    "activeDeadlineSeconds": 3600,
                    "template": {"spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "trainer", "image": "ghcr.io/acme/train:1", "command": ["torchrun"],
                                        "env": [{"name": "PET_NNODES", "value": "2"}],
                                        "resources": {"limits": {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 32}},
                                        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}]}],
                        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Gi"}}],
                    }},
                }},
            }],
        },
    }


def pod_monitoring() -> dict:
    return {"apiVersion": pinned.GMP_API, "kind": "PodMonitoring", "metadata": {"name": "chat", "namespace": "prod"},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "chat"}},
                     "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}]}}


def rules() -> dict:
    return {"apiVersion": pinned.GMP_API, "kind": "Rules", "metadata": {"name": "alerts", "namespace": "prod"},
            "spec": {"groups": [{"name": "gpu", "interval": "60s",
                                 "rules": [{"alert": "GpuIdle", "expr": "avg(DCGM_FI_DEV_GPU_UTIL) < 10", "for": "15m",
                                            "labels": {"severity": "warning"}}]}]}}


def gateway() -> dict:
    return {"apiVersion": pinned.GATEWAY_API, "kind": "Gateway", "metadata": {"name": "chat", "namespace": "prod"},
            "spec": {"gatewayClassName": "gke-l7-global-external-managed",
                     "listeners": [{"name": "https", "protocol": "HTTPS", "port": 443,
                                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "chat-tls"}]}}]}}


def http_route() -> dict:
    return {"apiVersion": pinned.GATEWAY_API, "kind": "HTTPRoute", "metadata": {"name": "chat", "namespace": "prod"},
            "spec": {"parentRefs": [{"name": "chat"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                "backendRefs": [{"name": "chat", "port": 8080}]}]}}


def backend_policy() -> dict:
    # https://cloud.google.com/kubernetes-engine/docs/how-to/configure-gateway-resources (Cloud Armor, IAP)
    return {"apiVersion": pinned.GKE_NETWORKING_API, "kind": "GCPBackendPolicy", "metadata": {"name": "chat", "namespace": "prod"},
            "spec": {"default": {"securityPolicy": "acme-prod-armor", "timeoutSec": 300,
                                 "iap": {"enabled": True, "clientID": "123.apps.googleusercontent.com",
                                         "oauth2ClientSecret": {"name": "chat-iap"}}},
                     "targetRef": {"group": "", "kind": "Service", "name": "chat"}}}


def health_check_policy() -> dict:
    return {"apiVersion": pinned.GKE_NETWORKING_API, "kind": "HealthCheckPolicy", "metadata": {"name": "chat", "namespace": "prod"},
            "spec": {"default": {"checkIntervalSec": 15, "config": {"type": "HTTP", "httpHealthCheck": {
                "portSpecification": "USE_SERVING_PORT", "requestPath": "/health"}}},
                     "targetRef": {"group": "", "kind": "Service", "name": "chat"}}}


GOOD = (deployment, resource_quota, cluster_queue, resource_flavor, local_queue, jobset, pod_monitoring, rules, gateway, http_route,
        backend_policy, health_check_policy)


def test_catalog_versions_are_supported():
    """Every Kubernetes version a spec may name has kubernetes-validate schemas (a newer catalog row needs a newer
    kubernetes-validate)."""
    assert set(VERSIONS) <= set(supported_versions()), set(VERSIONS) - set(supported_versions())


def test_crd_test_data_serves_the_pinned_api_versions():
    kinds = crd_kinds()
    for api, kind_list in ((pinned.KUEUE_API, ("ClusterQueue", "LocalQueue", "ResourceFlavor")), (pinned.JOBSET_API, ("JobSet",)),
                           (pinned.GMP_API, ("PodMonitoring", "ClusterPodMonitoring", "Rules")),
                           (pinned.GATEWAY_API, ("Gateway", "HTTPRoute")),
                           (pinned.GKE_NETWORKING_API, ("GCPBackendPolicy", "HealthCheckPolicy"))):
        for kind in kind_list:
            assert (api, kind) in kinds, (api, kind)
    # each folder is <addon>-<pinned version> and says where it came from
    for folder in set(kinds.values()):
        assert os.path.isfile(os.path.join(CRD_DIR, folder, "SOURCE.md")), folder
    assert kinds[(pinned.KUEUE_API, "ClusterQueue")] == f"kueue-{pinned.KUEUE.version}"
    assert kinds[(pinned.JOBSET_API, "JobSet")] == f"jobset-{pinned.JOBSET.version}"


@pytest.mark.parametrize("version", VERSIONS)
def test_good_documents_pass(version):
    docs = [make() for make in GOOD]
    assert check_all(docs, version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_builtin_mistakes_are_found(version):
    doc = deployment()
    doc["metadata"]["lables"] = {"a": "b"}  # misspelt
    doc["spec"]["replicas"] = "two"  # wrong type
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    found = problems(doc, version)
    assert "metadata: unknown field 'lables'" in found
    assert any(p.startswith("spec.replicas: 'two' is not of type 'integer'") for p in found), found
    assert "spec.template.spec.containers.0: unknown field 'imagePullPolcy'" in found
    assert len(found) == 3, found
    quota = resource_quota()
    quota["spec"]["hard"] = ["requests.nvidia.com/gpu"]
    assert [p.split(":")[0] for p in problems(quota, version)] == ["spec.hard"]
    assert problems({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}}, version) == ["metadata.name: required"]


def test_unknown_kinds_never_pass():
    for doc in ({"apiVersion": "v1", "kind": "Podd", "metadata": {"name": "x"}},
                {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}},
                # the right kind at an apiVersion that does not serve it (a built-in kind under a CRD group's name)
                {"apiVersion": "networking.gke.io/v1", "kind": "Ingress", "metadata": {"name": "x"}},
                {"apiVersion": "kueue.x-k8s.io/v1alpha9", "kind": "ClusterQueue", "metadata": {"name": "x"}},
                {"apiVersion": "jobset.x-k8s.io/v1alpha1", "kind": "JobSet", "metadata": {"name": "x"}}):
        found = problems(doc, "1.35")
        assert len(found) == 1 and found[0].startswith(f"(top): unknown kind {doc['kind']} of apiVersion {doc['apiVersion']}"), found
    assert "the pinned CRDs serve ClusterQueue as kueue.x-k8s.io/v1beta1, kueue.x-k8s.io/v1beta2" in problems(
        {"apiVersion": "kueue.x-k8s.io/v1alpha9", "kind": "ClusterQueue", "metadata": {"name": "x"}}, "1.35")[0]
    assert problems({"kind": "Deployment"}, "1.35")[0].startswith("(top): apiVersion and kind are required")
    assert problems(deployment(), "1.99")[0].startswith("(top): kubernetes-validate has no schemas for Kubernetes 1.99")


@pytest.mark.parametrize("version", VERSIONS)
def test_crd_mistakes_are_found(version):
    cq = cluster_queue()
    cq["metadata"]["namespace"] = "prod"  # cluster-scoped
    cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuta"] = 1  # misspelt
    cq["spec"]["resourceGroups"][0]["flavors"][1]["resources"][1]["nominalQuota"] = 1.5  # a quantity is int or string
    cq["spec"]["queueingStrategy"] = "Fifo"  # not in the enum
    found = problems(cq, version)
    assert found == [
        "metadata.namespace: ClusterQueue is cluster-scoped (kueue-0.19.2), it takes no namespace",
        f"spec.queueingStrategy: 'Fifo' is not one of ['StrictFIFO', 'BestEffortFIFO']",
        "spec.resourceGroups.0.flavors.0.resources.0: unknown field 'nominalQuta'",
        "spec.resourceGroups.0.flavors.1.resources.1.nominalQuota: 1.5 is not of type 'integer', 'string'",
    ], found
    js = jobset()
    del js["spec"]["replicatedJobs"][0]["template"]  # required by the CRD
    js["spec"]["replicatedJobs"][0]["template_"] = {}
    js["spec"]["replicatedJobs"][0]["replicas"] = "1"
    assert problems(js, version) == ["spec.replicatedJobs.0: 'template' is a required property",
                                     "spec.replicatedJobs.0: unknown field 'template_'",
                                     "spec.replicatedJobs.0.replicas: '1' is not of type 'integer'"], problems(js, version)
    # the pod template inside the JobSet is checked too (the CRD embeds the Job and Pod schemas)
    js = jobset()
    js["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]["gpus"] = 8
    assert problems(js, version) == ["spec.replicatedJobs.0.template.spec.template.spec.containers.0: unknown field 'gpus'"]
    # metadata of a custom resource is checked as ObjectMeta of the version
    lq = local_queue()
    lq["metadata"]["labels"] = {"a": 1}
    assert problems(lq, version) == ["metadata.labels.a: 1 is not of type 'string', 'null'"]
    pm = pod_monitoring()
    pm["spec"]["endpoints"][0]["scheme"] = "ftp"
    assert [p.split(":")[0] for p in problems(pm, version)] == ["spec.endpoints.0.scheme"]
    # GKE's policies (schemas extracted from a GKE cluster, see their SOURCE.md)
    bp = backend_policy()
    bp["spec"]["default"]["securityPolicy"] = {"name": "acme-prod-armor"}
    bp["spec"]["default"]["iap"]["clientId"] = "x"
    assert problems(bp, version) == ["spec.default.iap: unknown field 'clientId'",
                                     "spec.default.securityPolicy: {'name': 'acme-prod-armor'} is not of type 'string'"], problems(bp, version)
    hc = health_check_policy()
    del hc["spec"]["targetRef"]
    assert problems(hc, version) == ["spec: 'targetRef' is a required property"]


def test_check_all_names_each_document():
    bad = resource_flavor()
    bad["spec"]["nodeLabel"] = {}
    lq = local_queue()
    lq["spec"]["clusterQueue"] = "Acme_Prod"  # not a DNS subdomain (the CRD's pattern)
    assert check_all([deployment(), bad, lq], "1.35") == [
        "ResourceFlavor/gpu-spot: spec: unknown field 'nodeLabel'",
        "LocalQueue/prod/runs: spec.clusterQueue: 'Acme_Prod' does not match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'",
    ], check_all([deployment(), bad, lq], "1.35")


def test_crd_test_data_is_kept_as_published():
    """The CRDs are the published files (SOURCE.md), not edited copies: each is one CustomResourceDefinition."""
    for folder in sorted(os.listdir(CRD_DIR)):
        if folder.startswith("gke-"):  # JSON schemas extracted from a cluster (its SOURCE.md)
            continue
        for name in sorted(os.listdir(os.path.join(CRD_DIR, folder))):
            if name.endswith(".yaml"):
                with open(os.path.join(CRD_DIR, folder, name), encoding="utf-8") as fh:
                    docs = [d for d in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]
                assert [d["kind"] for d in docs] == ["CustomResourceDefinition"], name
                assert name.startswith(docs[0]["spec"]["group"] + "_"), name
