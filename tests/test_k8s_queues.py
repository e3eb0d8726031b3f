"""The environment's governance objects in a cluster (issue 29; aiinfra.k8s.queues): the namespace with its Pod
Security labels, the guide's resource_quotas.<environment> as its ResourceQuota (round-tripped unchanged), a
service account per workload (GKE: the Google account the identity stack creates), a Kueue ResourceFlavor per node
pool with the pool's label and taint, the ClusterQueue whose nominal quotas add up to the spec's quota (or the
pools' capacity without one), spot flavors first, and the namespace's LocalQueue. Every document passes the
manifest check of the cluster's Kubernetes version (tests/k8s_schema.py). Fast: no CDK, no Terraform."""

from __future__ import annotations

import ast

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aiinfra.k8s import LOCAL_QUEUE, POOL_LABEL, cluster_queue
from aiinfra.k8s.queues import (EKS_TAINTS, GKE_GPU_TAINT, _split, bytes_quantity, cpu_quantity, flavor_name, gcp_pod_account_id,
                                gcp_pod_service_account_email, governance_documents, pool_flavors, quota_problems, quota_reasons)
from aiinfra.k8s.versions import KUEUE_API
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec, load_spec_text
from aiinfra.spec.units import parse_cpu_cores, parse_size_bytes
from tests.conftest import REFERENCE, ROOT, make_spec  # REFERENCE: examples/reference.yaml, the guide's examples
from tests.k8s_schema import check_all
from tests.test_planner import TRAIN_8_A100 as TRAIN

EXAMPLE = ROOT / "examples" / "kubernetes.yaml"
AWS_K8S = "  aws: {region: us-east-1, platform: kubernetes}"
TRAIN2 = TRAIN.replace("name: train", "name: train2")
TRAIN3 = TRAIN.replace("name: train", "name: train3")
GIB = 2**30


@pytest.fixture(autouse=True)
def _on(monkeypatch):
    monkeypatch.setenv("AIINFRA_TODAY", "2026-03-01")  # as tests/test_platform_plan.py: 1.35 in standard support


def on_kubernetes(text: str) -> str:
    """The reference spec (the guide's examples as they stand) with both clouds on the kubernetes platform."""
    text = text.replace("    region: us-east-1\n", "    region: us-east-1\n    platform: kubernetes\n", 1)
    return text.replace("    project: acme-ml-prod\n", "    project: acme-ml-prod\n    platform: kubernetes\n", 1)


def docs_by_kind(docs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def one(docs, kind):
    (doc,) = docs_by_kind(docs)[kind]
    return doc


def nominal(cq: dict, resource: str) -> dict[str, str]:
    """{flavor: nominalQuota} of one resource of the ClusterQueue's one resource group."""
    (group,) = cq["spec"]["resourceGroups"]
    return {f["name"]: next(r["nominalQuota"] for r in f["resources"] if r["name"] == resource) for f in group["flavors"]}


def total(cq: dict, resource: str) -> int:
    parse = {"cpu": lambda v: round(parse_cpu_cores(v) * 1000), "memory": parse_size_bytes}.get(resource, int)
    return sum(parse(v) for v in nominal(cq, resource).values())


def capacity(plan, pools, resource: str) -> int:
    """The pools' batch capacity of a resource: max nodes x per-node amount, from the plan's shapes."""
    out = 0
    for p in pools:
        w = next(x for x in plan.workloads if x.name in p.workloads)
        per = {"cpu": w.vcpus_per_node * 1000, "memory": round(w.memory_gib_per_node * GIB), "nvidia.com/gpu": p.gpu_count,
               "aws.amazon.com/neuron": p.gpu_count}[resource]
        out += p.max_nodes * per
    return out


@pytest.fixture(scope="module")
def reference():
    loaded = load_spec_text(on_kubernetes(open(REFERENCE).read()))
    plan = make_plan(loaded)
    assert [c.cloud for c in plan.clusters] == ["aws", "gcp"]
    return loaded.spec, plan, {c.cloud: governance_documents(loaded.spec, plan, c) for c in plan.clusters}


@pytest.fixture(scope="module")
def example():
    loaded = load_spec(EXAMPLE)
    plan = make_plan(loaded)
    assert [c.cloud for c in plan.clusters] == ["aws", "gcp"]
    return loaded.spec, plan, {c.cloud: governance_documents(loaded.spec, plan, c) for c in plan.clusters}


def plan_of(catalog, workloads, clouds=AWS_K8S, **kw):
    loaded = load_spec_text(make_spec(workloads, clouds=clouds, **kw), catalog=catalog)
    return loaded.spec, make_plan(loaded, catalog)


# ---- the manifest check ------------------------------------------------------------------------------------------

def test_every_document_passes_the_manifest_check_of_its_clusters_version(reference, example):
    for spec, plan, by_cloud in (reference, example):
        for cluster in plan.clusters:
            docs = by_cloud[cluster.cloud]
            assert check_all(docs, cluster.version) == [], cluster.cloud
            kinds = [d["kind"] for d in docs]
            assert kinds[:1] == ["Namespace"] and kinds[-2:] == ["ClusterQueue", "LocalQueue"]


def test_the_manifest_check_catches_a_wrong_queue_field(example):
    # the check above can fail: a misspelt ClusterQueue field and a ResourceQuota value that is no quantity
    spec, plan, by_cloud = example
    docs = [dict(d) for d in by_cloud["aws"]]
    cq = one(docs, "ClusterQueue")
    cq["spec"] = {**cq["spec"], "queuingStrategy": "BestEffortFIFO"}
    assert any("queuingStrategy" in p for p in check_all([cq], plan.clusters[0].version))


# ---- the namespace and its ResourceQuota -----------------------------------------------------------------------

def test_the_guides_resource_quota_round_trips_unchanged(reference):
    spec, plan, by_cloud = reference
    guide = yaml.safe_load(open(REFERENCE))["resource_quotas"]
    for docs in by_cloud.values():
        rq = one(docs, "ResourceQuota")
        assert rq["metadata"]["namespace"] == "production" and rq["spec"]["hard"] == guide["production"]
        assert list(rq["spec"]["hard"]) == list(guide["production"])  # key for key, in the guide's order


def test_the_development_block_round_trips_in_a_development_spec():
    text = on_kubernetes(open(REFERENCE).read()).replace("environment: production", "environment: development")
    loaded = load_spec_text(text)
    plan = make_plan(loaded)
    guide = yaml.safe_load(open(REFERENCE))["resource_quotas"]["development"]
    assert len(plan.clusters) == 2
    for cluster in plan.clusters:
        docs = governance_documents(loaded.spec, plan, cluster)
        rq = one(docs, "ResourceQuota")
        assert rq["metadata"]["namespace"] == "development" and rq["spec"]["hard"] == guide
        assert check_all(docs, cluster.version) == []


def test_quantities_are_written_back_as_kubernetes_reads_them():
    assert [bytes_quantity(parse_size_bytes(v)) for v in ("200Gi", "1000Gi", "400Gi", "1.5Gi", "500GB", "2TB", "1Ti")] == \
        ["200Gi", "1000Gi", "400Gi", "1536Mi", "500G", "2T", "1Ti"]
    assert [cpu_quantity(parse_cpu_cores(v)) for v in ("100", "250m", "0.5", "1500m")] == ["100", "250m", "500m", "1500m"]


def test_a_gpu_limit_is_written_as_the_request_kubernetes_counts(fake_catalog):
    quota = 'resource_quotas:\n  production:\n    limits.nvidia.com/gpu: "16"\n    requests.storage: "2TB"\n    pods: "40"\n'
    spec, plan = plan_of(fake_catalog, TRAIN, extra=quota)
    rq = one(governance_documents(spec, plan, plan.clusters[0]), "ResourceQuota")
    # extended resources take requests. quotas only (resource-quotas page): the limit becomes the request
    assert rq["spec"]["hard"] == {"requests.nvidia.com/gpu": "16", "requests.storage": "2T", "pods": "40"}


def _deployment(resources: dict, init: dict | None = None) -> dict:
    pod = {"containers": [{"name": "model", "image": "x", "resources": resources}]}
    if init is not None:
        pod["initContainers"] = [{"name": "fetch", "image": "x", "resources": init}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "serve"}, "spec": {"template": {"spec": pod}}}


def test_quota_problems_name_each_container_the_namespaces_quota_would_refuse():
    text = on_kubernetes(open(REFERENCE).read()).replace("environment: production", "environment: development")
    spec = load_spec_text(text).spec  # the guide's development block: requests.cpu / memory and limits.cpu / memory
    whole = {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}
    assert quota_problems(spec, [_deployment(whole, init={"limits": {"cpu": "1", "memory": "1Gi"}})]) == []  # a limit states the request
    no_cpu_limit = {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}
    assert quota_problems(spec, [_deployment(no_cpu_limit, init={})]) == [
        "Deployment/serve: container fetch must specify requests.cpu (resource_quotas.development has requests.cpu)",
        "Deployment/serve: container fetch must specify requests.memory (resource_quotas.development has requests.memory)",
        "Deployment/serve: container fetch must specify limits.cpu (resource_quotas.development has limits.cpu)",
        "Deployment/serve: container fetch must specify limits.memory (resource_quotas.development has limits.memory)",
        "Deployment/serve: container model must specify limits.cpu (resource_quotas.development has limits.cpu)"]
    # a document a ConfigMap keeps as YAML (the launcher's JobSet) is read too
    kept = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "train-run"},
            "data": {"jobset.yaml": yaml.safe_dump(_deployment(no_cpu_limit))}}
    assert quota_problems(spec, [kept]) == ["Deployment/serve: container model must specify limits.cpu "
                                            "(resource_quotas.development has limits.cpu)"]
    # production's block has no limits: a container without a cpu limit passes there
    assert quota_problems(load_spec_text(on_kubernetes(open(REFERENCE).read())).spec, [_deployment(no_cpu_limit)]) == []


def test_no_quota_block_no_resource_quota(example):
    spec, plan, by_cloud = example
    assert all("ResourceQuota" not in docs_by_kind(docs) for docs in by_cloud.values())


def test_namespace_enforces_baseline_and_warns_and_audits_restricted(example):
    spec, plan, by_cloud = example
    for cluster in plan.clusters:
        got = one(by_cloud[cluster.cloud], "Namespace")["metadata"]["labels"]
        assert got["pod-security.kubernetes.io/enforce"] == "baseline"
        assert got["pod-security.kubernetes.io/warn"] == got["pod-security.kubernetes.io/audit"] == "restricted"
        assert got["pod-security.kubernetes.io/enforce-version"] == f"v{cluster.version}"


# ---- service accounts --------------------------------------------------------------------------------------------

def test_a_service_account_per_workload_named_the_workload_and_gke_names_its_google_account(example):
    spec, plan, by_cloud = example
    for cloud, docs in by_cloud.items():
        sas = docs_by_kind(docs)["ServiceAccount"]
        assert sorted(sa["metadata"]["name"] for sa in sas) == sorted(w.name for w in plan.workloads if w.cloud == cloud)
        assert all(sa["metadata"]["namespace"] == "production" for sa in sas)
        for sa in sas:
            annotations = sa["metadata"].get("annotations", {})
            if cloud == "aws":
                assert annotations == {}  # EKS Pod Identity associates the role with <namespace>/<name>: no annotation
            else:
                assert annotations == {"iam.gke.io/gcp-service-account": "acme-ml-llm-finetune-pods@acme-ml-prod.iam.gserviceaccount.com"}
    assert gcp_pod_service_account_email(spec, "llm-finetune") == f"{gcp_pod_account_id(spec, 'llm-finetune')}@acme-ml-prod.iam.gserviceaccount.com"


def test_a_long_workload_name_gets_the_cut_account_id_the_stack_creates():
    spec = load_spec(EXAMPLE).spec
    long = "a-very-long-workload-name-for-the-account"
    assert len(gcp_pod_account_id(spec, long)) == 30 and gcp_pod_account_id(spec, long).startswith("acme-ml-a-very-long")


# ---- Kueue: flavors ------------------------------------------------------------------------------------------------

def _literal(path: str, name: str):
    """A module-level literal of a construct's source, read without importing the CDK."""
    tree = ast.parse((ROOT / "src" / "aiinfra" / path).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == name for t in n.targets))
    return ast.literal_eval(node.value)


def test_flavor_taints_are_the_taints_the_node_pools_declare():
    effect = {"NO_SCHEDULE": "NoSchedule"}
    eks = _literal("constructs/aws/eks_node_pool.py", "TAINTS")
    assert {k: {**t, "effect": effect[t["effect"]]} for k, t in eks.items()} == EKS_TAINTS
    gke = _literal("constructs/gcp/gke_node_pool.py", "GPU_TAINT")
    assert {**gke, "effect": effect[gke["effect"]]} == GKE_GPU_TAINT
    assert _literal("constructs/aws/eks_node_pool.py", "POOL_LABEL") == _literal("constructs/gcp/gke_node_pool.py", "POOL_LABEL") == POOL_LABEL


def test_a_flavor_per_pool_with_its_label_and_its_nodes_taint(example):
    spec, plan, by_cloud = example
    for cluster in plan.clusters:
        flavors = {f["metadata"]["name"]: f for f in docs_by_kind(by_cloud[cluster.cloud])["ResourceFlavor"]}
        assert list(flavors) == [flavor_name(p) for p in pool_flavors(cluster)]
        assert sorted(flavors) == sorted(p.name for p in cluster.pools)
        for p in cluster.pools:
            f = flavors[p.name]
            assert f["apiVersion"] == KUEUE_API and f["spec"]["nodeLabels"] == {POOL_LABEL: p.name}
            assert "tolerations" not in f["spec"]  # Kueue would then ignore the taints at admission
            expect = ([{"key": "nvidia.com/gpu", "value": "true" if cluster.cloud == "aws" else "present", "effect": "NoSchedule"}]
                      if p.gpu_count else None)
            assert f["spec"].get("nodeTaints") == expect, p.name


def test_spot_flavors_come_first_even_when_the_plan_lists_on_demand_first(fake_catalog):
    spec, plan = plan_of(fake_catalog, TRAIN2 + "  spot: false\n" + TRAIN + "  spot: true\n")
    cluster = plan.clusters[0]
    assert [p.capacity_type for p in cluster.pools] == ["on_demand", "spot"]
    docs = governance_documents(spec, plan, cluster)
    (group,) = one(docs, "ClusterQueue")["spec"]["resourceGroups"]
    assert [f["name"] for f in group["flavors"]] == ["p4d-24xlarge-spot", "p4d-24xlarge-on-demand"]
    assert [f["metadata"]["name"] for f in docs_by_kind(docs)["ResourceFlavor"]] == ["p4d-24xlarge-spot", "p4d-24xlarge-on-demand"]
    assert check_all(docs, cluster.version) == []


def test_a_neuron_pool_is_covered_with_its_devices_and_its_taint(real_catalog):
    trn = "- name: pretrain\n  type: training\n  gpu_requirements: \"16x Trainium\"\n  training_frequency: weekly\n  estimated_runtime: \"8 hours\"\n"
    spec, plan = plan_of(real_catalog, trn)
    cluster = plan.clusters[0]
    (pool,) = cluster.pools
    assert pool.accelerator_runtime == "neuron"
    docs = governance_documents(spec, plan, cluster)
    flavor = one(docs, "ResourceFlavor")
    assert flavor["spec"]["nodeTaints"] == [{"key": "aws.amazon.com/neuron", "value": "true", "effect": "NoSchedule"}]
    cq = one(docs, "ClusterQueue")
    (group,) = cq["spec"]["resourceGroups"]
    assert group["coveredResources"][:4] == ["cpu", "memory", "nvidia.com/gpu", "aws.amazon.com/neuron"]
    assert nominal(cq, "aws.amazon.com/neuron") == {pool.name: str(pool.max_nodes * pool.gpu_count)}
    assert nominal(cq, "nvidia.com/gpu") == {pool.name: "0"}
    assert check_all(docs, cluster.version) == []


def test_a_collective_pools_efa_devices_are_covered_or_kueue_would_never_admit_its_runs(fake_catalog):
    spec, plan = plan_of(fake_catalog, TRAIN.replace("8x A100", "16x A100") + TRAIN2)
    cluster = plan.clusters[0]
    docs = governance_documents(spec, plan, cluster)
    cq = one(docs, "ClusterQueue")
    assert cq["spec"]["resourceGroups"][0]["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu", "vpc.amazonaws.com/efa"]
    compact = next(p for p in cluster.pools if p.compact)
    assert compact.efa_interfaces_per_node == 4
    assert nominal(cq, "vpc.amazonaws.com/efa") == {compact.name: "8", "p4d-24xlarge-on-demand": "0"}
    assert check_all(docs, cluster.version) == []


# ---- Kueue: the ClusterQueue's quota -------------------------------------------------------------------------------

def test_cluster_queue_quotas_add_up_to_the_spec_quota_or_the_pools_capacity(reference):
    spec, plan, by_cloud = reference
    quota = spec.resource_quotas["production"]
    for cluster in plan.clusters:
        cq = one(by_cloud[cluster.cloud], "ClusterQueue")
        assert cq["metadata"]["name"] == cluster_queue(spec) == "acme-ml-production"
        batch = [p for p in cluster.pools if p.batch]
        for resource, spec_value in (("cpu", round(quota.requests_cpu * 1000)), ("memory", quota.requests_memory),
                                     ("nvidia.com/gpu", quota.requests_gpu)):
            cap = capacity(plan, batch, resource)
            assert total(cq, resource) == min(spec_value, cap), (cluster.cloud, resource)
    # on AWS the guide's 500 CPUs and 1000Gi are less than the batch pools hold: the queue's quotas add up to the spec's
    aws = one(by_cloud["aws"], "ClusterQueue")
    assert total(aws, "cpu") == 500_000 and total(aws, "memory") == 1000 * GIB
    assert "resource_quotas.production.requests.cpu 500 split over the flavors" in aws["metadata"]["annotations"]["aiinfra.dev/quota"]


def test_without_a_quota_each_flavor_gets_its_pools_capacity_and_a_reason_says_so(example):
    spec, plan, by_cloud = example
    for cluster in plan.clusters:
        cq = one(by_cloud[cluster.cloud], "ClusterQueue")
        batch = [p for p in cluster.pools if p.batch]
        assert [f["name"] for f in cq["spec"]["resourceGroups"][0]["flavors"]] == [p.name for p in pool_flavors(cluster) if p.batch]
        for resource in ("cpu", "memory", "nvidia.com/gpu"):
            assert total(cq, resource) == capacity(plan, batch, resource)
        reasons = quota_reasons(spec, plan, cluster)
        assert any("no resource_quotas.production.requests.nvidia.com/gpu in the spec" in r and "batch capacity" in r for r in reasons)
        assert cq["metadata"]["annotations"]["aiinfra.dev/quota"] == "; ".join(reasons)
    # the serving pool (g4dn, the Triton Deployment) is a flavor but not in the queue: Deployments are not Kueue's
    aws = next(c for c in plan.clusters if c.cloud == "aws")
    serving = [p.name for p in aws.pools if not p.batch]
    assert serving and not set(serving) & set(nominal(one(by_cloud["aws"], "ClusterQueue"), "cpu"))


def test_a_gpu_quota_below_the_pools_capacity_is_split_never_repeated(fake_catalog):
    quota = 'resource_quotas:\n  production:\n    requests.nvidia.com/gpu: "12"\n'
    spec, plan = plan_of(fake_catalog, TRAIN + "  spot: true\n" + TRAIN2 + "  spot: false\n", extra=quota)
    cq = one(governance_documents(spec, plan, plan.clusters[0]), "ClusterQueue")
    # two 8-GPU pools and 12 GPUs: Kueue counts each flavor alone, so the 12 are shared, 6 + 6, never 12 on each
    assert nominal(cq, "nvidia.com/gpu") == {"p4d-24xlarge-spot": "6", "p4d-24xlarge-on-demand": "6"}
    assert any("less than one run of each pool's largest batch workload" in r for r in quota_reasons(spec, plan, plan.clusters[0]))


def test_a_quota_between_one_run_a_pool_and_every_run_fills_spot_first(fake_catalog):
    # two runs share the spot pool (16 GPUs for both at once), one the on-demand pool (8): 20 GPUs give each pool
    # its largest run (8 + 8), then the 4 left to the spot pool, tried first
    quota = 'resource_quotas:\n  production:\n    requests.nvidia.com/gpu: "20"\n'
    spec, plan = plan_of(fake_catalog, TRAIN + "  spot: true\n" + TRAIN2 + "  spot: true\n" + TRAIN3 + "  spot: false\n", extra=quota)
    cq = one(governance_documents(spec, plan, plan.clusters[0]), "ClusterQueue")
    assert nominal(cq, "nvidia.com/gpu") == {"p4d-24xlarge-spot": "12", "p4d-24xlarge-on-demand": "8"}
    assert total(cq, "nvidia.com/gpu") == 20


@given(st.integers(0, 10_000), st.lists(st.tuples(st.integers(0, 500), st.integers(0, 5_000)), min_size=1, max_size=8))
def test_the_split_never_exceeds_the_quota_nor_a_pools_capacity_and_adds_up(total, pools):
    largest = [min(a, b) for a, b in pools]
    capacity = [max(a, b) for a, b in pools]
    got = _split(total, [largest, capacity])
    assert sum(got) == min(total, sum(capacity))
    assert all(0 <= g <= c for g, c in zip(got, capacity))
    if total >= sum(largest):  # every pool can hold one run of its largest workload before any holds two
        assert all(g >= lg for g, lg in zip(got, largest))


def test_queue_spec_local_queue_and_selector(example):
    spec, plan, by_cloud = example
    docs = by_cloud["gcp"]
    cq = one(docs, "ClusterQueue")
    assert cq["spec"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "production"}}
    assert cq["spec"]["queueingStrategy"] == "BestEffortFIFO"
    assert cq["spec"]["preemption"]["withinClusterQueue"] == "LowerPriority"
    lq = one(docs, "LocalQueue")
    assert (lq["metadata"]["name"], lq["metadata"]["namespace"], lq["spec"]) == (LOCAL_QUEUE, "production", {"clusterQueue": cluster_queue(spec)})


def test_a_cluster_without_batch_work_gets_no_queue(fake_catalog):
    from tests.test_planner import INFER

    spec, plan = plan_of(fake_catalog, INFER)
    kinds = [d["kind"] for d in governance_documents(spec, plan, plan.clusters[0])]
    assert kinds == ["Namespace", "ServiceAccount", "ResourceFlavor"]


# ---- the plan's not-applied list ---------------------------------------------------------------------------------

def test_this_environments_quota_keys_leave_not_applied_on_kubernetes_and_stay_on_vm(fake_catalog):
    quota = ('resource_quotas:\n  production:\n    limits.cpu: "10"\n    persistentvolumeclaims: "5"\n'
             '  staging:\n    pods: "3"\n')
    _, kube = plan_of(fake_catalog, TRAIN, extra=quota)
    assert [n.path for n in kube.not_applied] == ["resource_quotas.staging"]
    _, vm = plan_of(fake_catalog, TRAIN, clouds="  aws: {region: us-east-1}", extra=quota)
    assert [n.path for n in vm.not_applied] == ["resource_quotas.production.limits.cpu", "resource_quotas.production.persistentvolumeclaims",
                                               "resource_quotas.staging"]
