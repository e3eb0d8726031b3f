"""The provider schema oracle (tests/gcp_schema.py) for the in-cluster stacks' ``kubernetes`` and ``helm`` providers,
read from the prebuilt bindings' jsii assemblies (cdktf_cdktf_provider_kubernetes 12.1.1 = hashicorp/kubernetes 2.38.0,
cdktf_cdktf_provider_helm 12.1.2 = hashicorp/helm 3.1.1), on hand-written Terraform JSON."""

from __future__ import annotations

import copy

import pytest

try:  # `python -m pytest` puts the repo root on sys.path; bare `pytest` only tests/
    from tests.gcp_schema import BLOCK_KINDS, KINDS, PROVIDERS, all_blocks, check_stack, load_schema
except ModuleNotFoundError:  # pragma: no cover
    from gcp_schema import BLOCK_KINDS, KINDS, PROVIDERS, all_blocks, check_stack, load_schema

EXEC = {"api_version": "client.authentication.k8s.io/v1beta1", "command": "aws",
        "args": ["eks", "get-token", "--cluster-name", "acme-prod", "--region", "us-east-1"]}
CLUSTER = {"host": "${data.aws_eks_cluster.this.endpoint}",
           "cluster_ca_certificate": "${base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)}"}


def stack() -> dict:
    """An add-ons + objects stack as cdktf writes it: providers configured from the cluster, a chart, a manifest."""
    return {
        "terraform": {"required_providers": {"kubernetes": {"source": "hashicorp/kubernetes", "version": "2.38.0"},
                                             "helm": {"source": "hashicorp/helm", "version": "3.1.1"}}},
        "provider": {
            "kubernetes": [{**CLUSTER, "exec": [dict(EXEC)]}],  # kubernetes 2.x: exec is a block
            "helm": [{"kubernetes": {**CLUSTER, "exec": dict(EXEC)}}],  # helm 3.x: kubernetes and exec are attributes
        },
        "resource": {
            "helm_release": {"kueue": {
                "name": "kueue", "repository": "oci://registry.k8s.io/kueue/charts", "chart": "kueue", "version": "0.19.2",
                "namespace": "kueue-system", "create_namespace": True, "wait": True, "timeout": 600,
                "values": ["controllerManager:\n  replicas: 2\n"],
                "set": [{"name": "enableCertManager", "value": "false"}],
            }},
            "kubernetes_manifest": {"queue": {
                "manifest": {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
                             "metadata": {"name": "runs", "namespace": "prod"}, "spec": {"clusterQueue": "acme-prod"}},
                "field_manager": {"force_conflicts": True},
                "wait": {"fields": {"status.conditions[0].type": "Active"}},
                "depends_on": ["helm_release.kueue"],
            }},
            "random_id": {"x": {"byte_length": 4, "whatever": 1}},  # other providers are not this oracle's business
        },
        "data": {"helm_template": {"kueue": {"name": "kueue", "chart": "kueue", "repository": "oci://registry.k8s.io/kueue/charts"}}},
    }


@pytest.mark.parametrize("provider, version", [("kubernetes", "2.38.0"), ("helm", "3.1.1")])
def test_schema_shape(provider, version):
    schema = load_schema(provider=provider)
    assert schema.version == version
    for blk in all_blocks(schema):
        for arg in blk.args.values():
            assert arg.kind in KINDS and (arg.block is not None) == (arg.kind in BLOCK_KINDS), arg


def test_the_pinned_bindings_say_which_helm_arguments_are_attributes():
    helm = load_schema(provider="helm")
    release = helm["helm_release"]
    assert release["chart"].required and release["name"].required and not release["version"].required
    assert release["set"].kind == "object_list" and release["set"].block["name"].required
    assert release["set_sensitive"].kind == "object_list" and release["values"].kind == "list_of_primitive"
    assert helm.provider["kubernetes"].kind == "object"
    assert helm.provider["kubernetes"].block["exec"].kind == "object"
    assert helm.provider["kubernetes"].block["exec"].block.required == ("api_version", "command")
    kube = load_schema(provider="kubernetes")
    assert kube.provider["exec"].kind == "block_list"  # the kubernetes provider kept exec a block
    manifest = kube["kubernetes_manifest"]
    assert manifest["manifest"].required and manifest["manifest"].kind == "any"
    assert manifest["wait"].kind == "block" and manifest["wait_for"].kind == "object"
    assert {"kubernetes_manifest", "kubernetes_namespace_v1", "kubernetes_config_map_v1"} <= set(kube.resources)
    assert "helm_template" in helm.data


def test_good_stack_passes():
    doc = stack()
    for provider in ("kubernetes", "helm"):
        assert check_stack(doc, provider=provider) == [], provider
    assert doc == stack()  # not mutated


def test_helm_2_style_blocks_fail():
    doc = stack()
    doc["provider"]["helm"] = [{"kubernetes": [{**CLUSTER, "exec": [dict(EXEC)]}]}]  # helm 2.x: kubernetes { exec { } }
    doc["resource"]["helm_release"]["kueue"]["set"] = {"name": "a", "value": "b"}  # one `set` block
    doc["resource"]["helm_release"]["kueue"]["dynamic"] = {"set_sensitive": {"for_each": "${var.secrets}",
                                                                            "content": {"name": "x", "value": "y"}}}
    found = check_stack(doc, provider="helm")
    assert len(found) == 3, found
    assert found[0].startswith("helm_release.kueue.set: set is a list attribute of objects (not a block) and needs a list, got an object")
    assert found[1].startswith("helm_release.kueue.dynamic.set_sensitive: a nested attribute, not a block")
    assert found[2].startswith("provider.helm[0].kubernetes: kubernetes is an object attribute (not a block) and needs one object, got a list")


def test_misspelt_missing_and_wrongly_typed_arguments_fail():
    doc = stack()
    release = doc["resource"]["helm_release"]["kueue"]
    release["chart_version"] = release.pop("version")
    release["set"][0].pop("name")
    release["timeout"] = "ten minutes"
    manifest = doc["resource"]["kubernetes_manifest"]["queue"]
    manifest["manifests"] = manifest.pop("manifest")
    doc["provider"]["kubernetes"][0]["exec"][0].pop("api_version")
    doc["provider"]["helm"][0]["kubernetes"]["exec"]["comand"] = "aws"
    assert check_stack(doc, provider="helm") == [
        "helm_release.kueue.timeout: timeout is a number, got the string 'ten minutes'",
        "helm_release.kueue.set[0]: missing required argument 'name' (string)",
        "helm_release.kueue.chart_version: unknown argument",
        "provider.helm[0].kubernetes.exec.comand: unknown argument (did you mean 'command'?)",
    ], check_stack(doc, provider="helm")
    assert check_stack(doc, provider="kubernetes") == [
        "kubernetes_manifest.queue.manifests: unknown argument (did you mean 'manifest'?)",
        "kubernetes_manifest.queue: missing required argument 'manifest' (any)",
        "provider.kubernetes[0].exec[0]: missing required argument 'api_version' (string)",
    ], check_stack(doc, provider="kubernetes")


def test_unknown_types_fail():
    doc = stack()
    doc["resource"]["kubernetes_manifests"] = {"x": {"manifest": {}}}
    doc["resource"]["helm_chart"] = {"x": {}}
    assert check_stack(doc, provider="kubernetes")[0].startswith(
        "kubernetes_manifests: unknown resource type in kubernetes provider 2.38.0 (did you mean 'kubernetes_manifest'")
    assert check_stack(doc, provider="helm")[0].startswith("helm_chart: unknown resource type in helm provider 3.1.1")


def test_google_stays_the_default():
    assert PROVIDERS["google"].blocks == ("google", "google-beta")
    doc = copy.deepcopy(stack())
    doc["resource"]["google_storage_bucket"] = {"b": {"name": "x", "location": "US", "lokation": "x"}}
    assert check_stack(doc) == ["google_storage_bucket.b.lokation: unknown argument (did you mean 'location'?)"]
    with pytest.raises(ValueError):
        load_schema(provider="kubernetess")
