"""SPEC.md v3 "Platforms": clouds.<cloud>.platform / kubernetes, and the clusters and node pools the plan derives
on kubernetes (planner/platform.py), their cost, and how the plan shows them."""

import json
import os
import subprocess
import sys

import pytest

from aiinfra.errors import SpecError
from aiinfra.planner import make_plan
from aiinfra.render import plan_json, plan_markdown, plan_text
from aiinfra.spec import load_spec_text
from tests.conftest import ROOT, make_spec
from tests.test_planner import INFER as SERVE  # 1B parameters, 1000 qps, 99.9%
from tests.test_planner import TRAIN_8_A100 as TRAIN  # weekly, 12 hours

AWS_K8S = "  aws: {region: us-east-1, platform: kubernetes%s}"
GCP_K8S = "  gcp: {region: us-central1, project: acme-ml-prod, platform: kubernetes%s}"

TRAIN2 = TRAIN.replace("name: train", "name: train2").replace("12 hours", "6 hours")
ETL = """
- name: etl
  type: data_processing
  dataset_size: "2TB"
  framework: spark
"""


@pytest.fixture(autouse=True)
def _on(monkeypatch):
    # 2026-03-01: EKS 1.32-1.35 in standard support, 1.31 in extended; GKE 1.35 in the Regular channel, 1.31 past
    # standard support; the version table (as of 2026-02-19) is fresh.
    monkeypatch.setenv("AIINFRA_TODAY", "2026-03-01")


def k8s(extra: str = "", cloud: str = "aws") -> str:
    return (AWS_K8S if cloud == "aws" else GCP_K8S) % ((", kubernetes: {" + extra + "}") if extra else "")


def load(catalog, workloads, clouds, **kw):
    return load_spec_text(make_spec(workloads, clouds=clouds, **kw), catalog=catalog)


def plan_of(catalog, workloads, clouds=None, **kw):
    return make_plan(load(catalog, workloads, clouds or k8s(), **kw), catalog)


def problems(catalog, workloads, clouds, **kw) -> dict[str, str]:
    with pytest.raises(SpecError) as exc:
        load(catalog, workloads, clouds, **kw)
    return {p.path: p.message for p in exc.value.problems}


def warnings(plan) -> dict[str, str]:
    return {f.path: f.message for f in plan.findings if f.severity == "warning"}


# ---- the spec ----------------------------------------------------------------------------------------------

def test_platform_defaults_to_vm_with_no_cluster(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN, "  aws: {region: us-east-1}")
    assert plan.platform("aws") == "vm" and plan.platforms == {"aws": "vm"}
    assert plan.clusters == [] and plan.pool_of("train") is None and plan.workloads[0].node_pools == []
    assert plan.totals.control_plane_monthly_usd == 0


def test_platform_kubernetes_plans_a_cluster(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN)
    assert plan.platform("aws") == "kubernetes"
    [cluster] = plan.clusters
    assert (cluster.cloud, cluster.region, cluster.name) == ("aws", "us-east-1", "acme-ml-prod")


def test_unknown_platform_is_an_error_naming_the_allowed_values(fake_catalog):
    got = problems(fake_catalog, TRAIN, "  aws: {region: us-east-1, platform: eks}")
    assert "allowed: kubernetes, vm" in got["clouds.aws.platform"]


def test_unknown_key_in_the_kubernetes_block_names_the_allowed_ones(fake_catalog):
    got = problems(fake_catalog, TRAIN, k8s("verison: '1.33'"))
    assert "did you mean 'version'" in got["clouds.aws.kubernetes.verison"]
    assert "allowed: endpoint_cidrs, existing_cluster, version" in got["clouds.aws.kubernetes.verison"]


def test_unquoted_version_is_an_error_saying_to_quote_it(fake_catalog):
    got = problems(fake_catalog, TRAIN, k8s("version: 1.30"))
    assert "quoted" in got["clouds.aws.kubernetes.version"] and "1.3" in got["clouds.aws.kubernetes.version"]


def test_every_bad_endpoint_cidr_is_reported_at_once_with_its_place(fake_catalog):
    got = problems(fake_catalog, TRAIN, k8s('endpoint_cidrs: ["10.0.0.1/24", "nope", "1.2.3.4", "10.1.0.0/16"], colour: red'))
    assert "write '10.0.0.0/24'" in got["clouds.aws.kubernetes.endpoint_cidrs[0]"]
    assert "is not an IPv4 CIDR" in got["clouds.aws.kubernetes.endpoint_cidrs[1]"]
    assert "write '1.2.3.4/32'" in got["clouds.aws.kubernetes.endpoint_cidrs[2]"]
    assert "clouds.aws.kubernetes.endpoint_cidrs[3]" not in got and "clouds.aws.kubernetes.colour" in got


def test_unknown_version_is_an_error_suggesting_only_a_close_one(fake_catalog):
    far = problems(fake_catalog, TRAIN, k8s("version: '1.40'"))["clouds.aws.kubernetes.version"]
    assert "unknown EKS Kubernetes version '1.40'" in far and "did you mean" not in far and "1.35" in far
    near = problems(fake_catalog, TRAIN, k8s("version: '1.3.5'"))["clouds.aws.kubernetes.version"]
    assert "did you mean '1.35'" in near


def test_version_not_offered_on_that_cloud_is_an_error(fake_catalog):
    got = problems(fake_catalog, TRAIN, k8s("version: '1.28'", cloud="gcp"))
    assert "unknown GKE Kubernetes version '1.28'" in got["clouds.gcp.kubernetes.version"]


def test_version_past_end_of_extended_support_is_an_error(fake_catalog, monkeypatch):
    monkeypatch.setenv("AIINFRA_TODAY", "2026-12-07")
    got = problems(fake_catalog, TRAIN, k8s("version: '1.31'"))
    assert "end of extended support on 2026-11-26" in got["clouds.aws.kubernetes.version"]


def test_existing_cluster_name_follows_each_clouds_rule(fake_catalog):
    got = problems(fake_catalog, TRAIN.replace("8x A100", "8x A100") + "  cloud: gcp\n", k8s("existing_cluster: My_Cluster", cloud="gcp"))
    assert "is not a GKE cluster name" in got["clouds.gcp.kubernetes.existing_cluster"]
    plan = plan_of(fake_catalog, TRAIN, k8s("existing_cluster: My_Cluster"))  # EKS allows capitals and underscores
    assert plan.clusters[0].existing == "My_Cluster"


def test_kubernetes_block_on_a_vm_cloud_is_a_warning_naming_the_fix_and_not_applied(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN, "  aws: {region: us-east-1, kubernetes: {version: '1.33'}}")
    assert "set clouds.aws.platform: kubernetes" in warnings(plan)["clouds.aws.kubernetes"]
    assert plan.clusters == [] and [n.path for n in plan.not_applied] == ["clouds.aws.kubernetes"]


def test_open_endpoint_warns_in_production_only(fake_catalog):
    open_ = k8s('endpoint_cidrs: ["203.0.113.0/24", "0.0.0.0/0"]')
    assert "whole internet" in warnings(plan_of(fake_catalog, TRAIN, open_))["clouds.aws.kubernetes.endpoint_cidrs[1]"]
    dev = plan_of(fake_catalog, TRAIN, open_, environment="development")
    assert not any(p.startswith("clouds.aws.kubernetes") for p in warnings(dev))
    assert dev.clusters[0].endpoint_cidrs == ("203.0.113.0/24", "0.0.0.0/0") and dev.clusters[0].endpoint_public


def test_no_endpoint_cidrs_is_a_private_endpoint(fake_catalog):
    cluster = plan_of(fake_catalog, TRAIN).clusters[0]
    assert cluster.endpoint_cidrs == () and not cluster.endpoint_public
    assert any("private" in r for r in cluster.reasons)


def test_validate_exits_2_with_every_kubernetes_problem(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(make_spec(TRAIN, clouds=k8s('version: "9.99", endpoint_cidrs: ["300.0.0.0/8"], existing: x')))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AIINFRA_TODAY": "2026-03-01"}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "validate", str(spec)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    for path in ("clouds.aws.kubernetes.version", "clouds.aws.kubernetes.endpoint_cidrs[0]", "clouds.aws.kubernetes.existing"):
        assert path in r.stderr


# ---- versions -------------------------------------------------------------------------------------------

def test_default_version_is_the_newest_both_clouds_offer(fake_catalog):
    from aiinfra.catalog.kubernetes import load_versions

    versions = load_versions()
    plan = plan_of(fake_catalog, TRAIN)
    assert plan.clusters[0].version == versions.default() == "1.35"
    assert versions.find("aws", "1.35") and versions.find("gcp", "1.35")


def test_eks_version_past_standard_support_warns_of_the_6x_cost_and_costs_it(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN, k8s("version: '1.31'"))
    msg = warnings(plan)["clouds.aws.kubernetes.version"]
    assert "$0.60 per cluster-hour instead of $0.10" in msg and "6x" in msg
    cluster = plan.clusters[0]
    assert cluster.extended_support and cluster.monthly_cost == pytest.approx(0.60 * 730)
    assert plan.totals.control_plane_monthly_usd == pytest.approx(438.0)
    assert any("upgrade policy is EXTENDED, so it stays on 1.31" in r for r in cluster.reasons)


def test_eks_version_in_standard_support_costs_the_standard_rate_without_warning(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN, k8s("version: '1.33'"))
    assert "clouds.aws.kubernetes.version" not in warnings(plan)
    assert plan.clusters[0].monthly_cost == pytest.approx(73.0) and not plan.clusters[0].extended_support
    # STANDARD: at the end of standard support EKS upgrades the cluster rather than bill extended support
    assert any("upgrade policy stays STANDARD" in r and "EKS upgrades the cluster to the next Kubernetes version" in r
               for r in plan.clusters[0].reasons)


def test_gke_version_past_standard_support_is_the_extended_channel_with_a_warning(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + "  cloud: gcp\n", k8s("version: '1.31'", cloud="gcp"))
    assert "Extended release channel" in warnings(plan)["clouds.gcp.kubernetes.version"]
    assert plan.clusters[0].release_channel == "EXTENDED"


def test_stale_version_table_is_a_warning(fake_catalog, monkeypatch):
    monkeypatch.setenv("AIINFRA_TODAY", "2026-12-07")
    plan = plan_of(fake_catalog, TRAIN)
    assert any("kubernetes_versions.csv as of 2026-02-19" in f.message for f in plan.findings if f.severity == "warning")
    vm = plan_of(fake_catalog, TRAIN, "  aws: {region: us-east-1}")
    assert not any("kubernetes_versions" in f.message for f in vm.findings)


# ---- node pools ------------------------------------------------------------------------------------------

def test_workloads_of_one_shape_and_capacity_share_a_pool_from_zero(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + "  spot: true\n" + TRAIN2 + "  spot: true\n")
    [pool] = plan.clusters[0].pools
    assert pool.name == "p4d-24xlarge-spot" and pool.capacity_type == "spot" and pool.workloads == ("train", "train2")
    assert pool.min_nodes == 0 and pool.max_nodes == 2 and pool.batch and not pool.serving
    assert plan.pool_of("train") is plan.pool_of("train2") is pool
    assert (pool.instance_type, pool.gpu, pool.gpu_count, pool.accelerator_runtime) == ("p4d.24xlarge", "A100", 8, "cuda")
    assert "shared with train2" in plan.workloads[0].reasons["node_pool"]


def test_spot_and_on_demand_of_one_shape_are_separate_pools(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + "  spot: true\n" + TRAIN2 + "  spot: false\n")
    assert [(p.name, p.capacity_type) for p in plan.clusters[0].pools] == [("p4d-24xlarge-spot", "spot"),
                                                                          ("p4d-24xlarge-on-demand", "on_demand")]
    assert plan.pool_of("train2").name == "p4d-24xlarge-on-demand"


def test_serving_pool_keeps_the_serving_minimum(fake_catalog):
    plan = plan_of(fake_catalog, SERVE)
    w = plan.workloads[0]
    pool = plan.pool_of("serve")
    assert pool.min_nodes == w.min_nodes > 0 and pool.max_nodes == w.max_nodes and pool.serving and not pool.batch
    assert pool.zones == tuple(w.zones) and pool.capacity_type == "on_demand"


def test_mixed_serving_lands_on_an_on_demand_base_pool_and_a_spot_pool(fake_catalog):
    plan = plan_of(fake_catalog, SERVE + "  spot: true\n")
    w = plan.workloads[0]
    assert w.capacity == "mixed"
    base, spot = plan.pools_of("serve")
    assert (base.capacity_type, base.min_nodes, base.max_nodes) == ("on_demand", w.on_demand_base_nodes, w.on_demand_base_nodes)
    assert (spot.capacity_type, spot.min_nodes, spot.max_nodes) == ("spot", w.min_nodes - w.on_demand_base_nodes,
                                                                    w.max_nodes - w.on_demand_base_nodes)
    assert plan.pool_of("serve") is base and w.node_pools == [base.name, spot.name]


def test_data_processing_pool_scales_from_zero(fake_catalog):
    plan = plan_of(fake_catalog, ETL, k8s(cloud="gcp"))
    w, pool = plan.workloads[0], plan.pool_of("etl")
    assert w.min_nodes > 0 and pool.min_nodes == 0 and pool.max_nodes == w.max_nodes and pool.gpu == ""


def test_compact_multi_node_run_is_its_own_collective_pool(fake_catalog):
    multi = TRAIN.replace("8x A100", "16x A100")
    plan = plan_of(fake_catalog, multi + "  spot: true\n" + TRAIN2 + "  spot: true\n")
    pools = {p.name: p for p in plan.clusters[0].pools}
    assert set(pools) == {"p4d-24xlarge-spot-compact", "p4d-24xlarge-spot"}
    compact = pools["p4d-24xlarge-spot-compact"]
    assert compact.collective and compact.compact and compact.interconnect == "efa" and compact.efa_interfaces_per_node == 4
    assert len(compact.zones) == 1 and compact.max_nodes == 2 and not pools["p4d-24xlarge-spot"].collective


def test_shapes_and_counts_do_not_change_with_the_platform(fake_catalog):
    workloads = TRAIN + "  spot: true\n" + SERVE + ETL
    vm = plan_of(fake_catalog, workloads, "  aws: {region: us-east-1}")
    kube = plan_of(fake_catalog, workloads)
    keep = ("instance_type", "nodes", "min_nodes", "max_nodes", "capacity", "zones", "monthly_usd", "hourly_usd")
    assert [[getattr(w, k) for k in keep] for w in vm.workloads] == [[getattr(w, k) for k in keep] for w in kube.workloads]


def test_one_cluster_per_cloud_and_region(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + TRAIN2 + "  region: eu-west-1\n")
    assert [(c.cloud, c.region) for c in plan.clusters] == [("aws", "us-east-1"), ("aws", "eu-west-1")]
    assert [c.pools[0].workloads for c in plan.clusters] == [("train",), ("train2",)]
    assert plan.pool_of("train2").region == "eu-west-1" and plan.totals.control_plane_monthly_usd == pytest.approx(146.0)
    # EKS cluster names (and the IAM roles named after them) are account-wide: the second region's cluster has its own.
    assert [c.name for c in plan.clusters] == ["acme-ml-prod", "acme-ml-prod-eu-west-1"]


# ---- cost ------------------------------------------------------------------------------------------------

# The EKS system pool in the fake catalog: 2x m6i.large at $0.096 an hour, 730 h a month.
EKS_SYSTEM = 2 * 0.096 * 730


def test_control_plane_and_system_pool_cost_are_in_the_totals_and_the_cloud_budget(fake_catalog):
    # A Spark ETL would run on EMR on the vm platform (issue 30: planner/spark.py, a pipeline part) and as a JobSet on
    # kubernetes: a non-Spark one keeps the two plans' workloads alike, so the difference is the cluster's alone.
    etl = ETL.replace("spark", "dask")
    vm = plan_of(fake_catalog, TRAIN + etl, "  aws: {region: us-east-1}")
    kube = plan_of(fake_catalog, TRAIN + etl)
    assert vm.pipeline == [] and kube.pipeline == []
    assert kube.totals.control_plane_monthly_usd == pytest.approx(73.0)
    assert kube.totals.system_pools_monthly_usd == pytest.approx(EKS_SYSTEM) and vm.totals.system_pools_monthly_usd == 0
    assert kube.totals.monthly_usd == pytest.approx(vm.totals.monthly_usd + 73.0 + EKS_SYSTEM)
    # by_cloud is what each cloud's budget is set from (stacks/aws.py, stacks/gcp.py)
    assert kube.totals.by_cloud_monthly_usd["aws"] == pytest.approx(vm.totals.by_cloud_monthly_usd["aws"] + 73.0 + EKS_SYSTEM)
    assert kube.totals.on_demand_equivalent_monthly_usd == pytest.approx(vm.totals.on_demand_equivalent_monthly_usd + 73.0 + EKS_SYSTEM)
    # the workloads' own cost is unchanged: the system pool is a line of its own, not a workload's
    assert kube.totals.compute_monthly_usd == pytest.approx(vm.totals.compute_monthly_usd)


def test_created_eks_cluster_has_a_priced_on_demand_system_pool(fake_catalog):
    [cluster] = plan_of(fake_catalog, TRAIN).clusters
    pool = cluster.system_pool
    assert pool is not None and pool.system and pool not in cluster.pools
    assert (pool.instance_type, pool.capacity_type, pool.min_nodes, pool.max_nodes) == ("m6i.large", "on_demand", 2, 2)
    assert pool.gpu == "" and pool.workloads == () and pool.name == "acme-ml-prod-system"
    # the cheapest shape that fits 2 vCPU / 8 GiB, not the also-listed m6i.8xlarge ($1.50 an hour)
    assert pool.hourly_usd == pytest.approx(0.096) and pool.monthly_usd == pytest.approx(EKS_SYSTEM)
    assert (cluster.system_instance_type, cluster.system_nodes) == ("m6i.large", 2)
    assert any(r.startswith("system pool 2x m6i.large") and "CoreDNS" in r and "$140.16 a month" in r for r in cluster.reasons)
    # the workloads' pools keep no cost of their own (their nodes are their workloads' cost)
    assert all(p.monthly_usd == 0 and not p.system for p in cluster.pools)


def test_existing_cluster_has_no_system_pool_and_no_system_cost(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN, k8s("existing_cluster: shared-gpu"))
    [cluster] = plan.clusters
    assert cluster.system_pool is None and cluster.system_instance_type is None and cluster.system_nodes is None
    assert plan.totals.system_pools_monthly_usd == 0
    assert plan.totals.monthly_usd == pytest.approx(plan_of(fake_catalog, TRAIN, "  aws: {region: us-east-1}").totals.monthly_usd)
    assert any("no system pool" in r for r in cluster.reasons)


def test_gke_system_pool_zonal_two_nodes_regional_one_a_zone(fake_catalog):
    zonal = plan_of(fake_catalog, ETL, k8s(cloud="gcp")).clusters[0]
    assert not zonal.regional
    assert (zonal.system_instance_type, zonal.system_nodes, zonal.system_zones) == ("e2-standard-2", 2, (zonal.location,))
    assert zonal.system_pool.monthly_usd == pytest.approx(round(2 * 0.06701 * 730, 2))
    regional = plan_of(fake_catalog, SERVE + "  cloud: gcp\n", k8s(cloud="gcp"))
    cluster = regional.clusters[0]
    assert cluster.regional
    # a regional cluster's pool puts its nodes in every zone it names: one a zone, three zones of the four listed
    assert cluster.system_zones == ("us-central1-a", "us-central1-b", "us-central1-c") and cluster.system_nodes == 3
    assert regional.totals.system_pools_monthly_usd == pytest.approx(round(3 * 0.06701 * 730, 2))
    assert any("1 a zone, in 3 zones" in r for r in cluster.reasons)


def test_system_pool_in_a_region_without_the_shape_is_priced_at_the_dearest_listed_and_warned(fake_catalog):
    from aiinfra.catalog import Catalog
    from tests.conftest import GPUS, STORAGE, fake_offers, offer

    offers = fake_offers() + [offer("aws", "m6i.large", "", 0, 0, 0.107, 0.048, region="eu-west-1", vcpus=2, memory=8)]
    plan = plan_of(Catalog(offers, GPUS, [], STORAGE), TRAIN2 + "  region: eu-west-1\n", "  aws: {region: eu-west-1, platform: kubernetes}")
    assert plan.clusters[0].system_pool.hourly_usd == pytest.approx(0.107)  # the region's own row
    offers = [o for o in fake_offers() if not o.instance_type.startswith("m6i.")] + [
        offer("aws", "m6i.large", "", 0, 0, 0.107, 0.048, region="eu-west-1", vcpus=2, memory=8),
        offer("aws", "m6i.large", "", 0, 0, 0.096, 0.0365, region="us-east-2", vcpus=2, memory=8)]
    plan = plan_of(Catalog(offers, GPUS, [], STORAGE), TRAIN)
    pool = plan.clusters[0].system_pool
    assert pool.instance_type == "m6i.large" and pool.hourly_usd == pytest.approx(0.107)
    assert plan.totals.system_pools_monthly_usd == pytest.approx(round(2 * 0.107 * 730, 2))
    assert "lists no m6i shape in us-east-1" in warnings(plan)["clouds.aws"]


def test_existing_cluster_costs_no_control_plane_and_still_plans_pools(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN, k8s("existing_cluster: shared-gpu"))
    [cluster] = plan.clusters
    assert cluster.name == cluster.existing == "shared-gpu" and cluster.monthly_cost == 0
    assert plan.totals.control_plane_monthly_usd == 0 and [p.workloads for p in cluster.pools] == [("train",)]


def test_gke_cluster_of_batch_work_is_zonal_and_may_get_the_free_tier(fake_catalog):
    plan = plan_of(fake_catalog, ETL, k8s(cloud="gcp"))
    [cluster] = plan.clusters
    assert not cluster.regional and cluster.location == plan.workloads[0].zones[0] and cluster.release_channel == "REGULAR"
    assert cluster.monthly_cost == pytest.approx(73.0)
    assert any("zonal" in r for r in cluster.reasons) and any("$74.40 monthly credit" in r and "applies" in r for r in cluster.reasons)


def test_gke_cluster_with_serving_is_regional_without_the_free_tier(fake_catalog):
    plan = plan_of(fake_catalog, SERVE + "  cloud: gcp\n", k8s(cloud="gcp"))
    [cluster] = plan.clusters
    assert cluster.regional and cluster.location == "us-central1"
    assert any("regional" in r and "99.9" in r for r in cluster.reasons)
    assert any("regional cluster does not get the free tier" in r for r in cluster.reasons)


def test_eks_is_always_regional(fake_catalog):
    cluster = plan_of(fake_catalog, TRAIN).clusters[0]
    assert cluster.regional and cluster.location == "us-east-1" and cluster.release_channel == ""


def test_one_cloud_on_kubernetes_and_the_other_on_vm(fake_catalog):
    clouds = "  aws: {region: us-east-1}\n" + k8s(cloud="gcp")
    plan = plan_of(fake_catalog, TRAIN + "  cloud: aws\n" + ETL + "  cloud: gcp\n", clouds)
    assert plan.platforms == {"aws": "vm", "gcp": "kubernetes"}
    assert [c.cloud for c in plan.clusters] == ["gcp"] and plan.pool_of("train") is None and plan.pool_of("etl") is not None


ALERTS = """
alerting_rules:
  - {name: "GPU Memory Exhaustion", condition: "gpu_memory_utilization > 95%", duration: "5m", severity: warning, action: notify}
  - {name: "Cost Overrun", condition: "monthly_cost > 50000", severity: high, action: notify}
  - {name: "Disk Full", condition: "disk_utilization > 90%", duration: "5m", severity: warning}
monitoring_config:
  infrastructure_metrics: ["gpu_utilization"]
"""


def test_on_kubernetes_everywhere_rules_without_a_cluster_metric_are_not_applied(fake_catalog):
    # issue 29: managed Prometheus scrapes what monitoring_config asks and the rules are PromQL (observability/promql.py)
    told = {n.path: n.reason for n in plan_of(fake_catalog, TRAIN, extra=ALERTS).not_applied}
    assert "alerting_rules[0]" not in told and "monitoring_config" not in told
    assert "alerting_rules[1]" not in told  # monthly_cost: the foundation's budget threshold on either platform
    assert "no cluster metric watches it" in told["alerting_rules[2]"] and "node exporter" in told["alerting_rules[2]"]
    mixed = plan_of(fake_catalog, TRAIN + "  cloud: aws\n", "  aws: {region: us-east-1}\n" + k8s(cloud="gcp"), extra=ALERTS)
    assert not [n for n in mixed.not_applied if n.path in ("alerting_rules[0]", "alerting_rules[1]", "alerting_rules[2]", "monitoring_config")]


# ---- output ----------------------------------------------------------------------------------------------

def test_text_shows_the_cluster_line_and_its_pool_table(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + "  spot: true\n" + TRAIN2 + "  spot: true\n")
    text = plan_text(plan)
    assert "cluster aws us-east-1: acme-ml-prod, Kubernetes 1.35, regional, control plane $73.00/month" in text
    assert "Node pools of acme-ml-prod (aws us-east-1)" in text
    row = next(line for line in text.splitlines() if line.lstrip().startswith("p4d-24xlarge-spot "))
    assert row.split()[-2:] == ["train,", "train2"]
    assert "node_pool: kubernetes platform: p4d-24xlarge-spot (p4d.24xlarge spot, 0-2 nodes, shared with train2) in cluster acme-ml-prod" in text
    assert "each run a JobSet admitted whole by queue" in text
    assert "+ control plane $73 + system pools $140)" in text.splitlines()[0]
    assert "control plane $73.00/month, system pool 2x m6i.large on-demand $140.16/month" in text
    row = next(line for line in text.splitlines() if line.lstrip().startswith("acme-ml-prod-system "))
    assert row.split() == ["acme-ml-prod-system", "m6i.large", "on-demand", "-", "2", "2", "3", "(system", "pods)"]
    assert "system pool 2x m6i.large (2 vCPU, 8 GiB) on-demand" in text  # its reason, under the cluster's


def test_markdown_names_each_workloads_pool(fake_catalog):
    md = plan_markdown(plan_of(fake_catalog, TRAIN + "  spot: true\n"))
    assert "| $/1k pred. | Pool |" in md and md.count("| p4d-24xlarge-spot |") == 2  # the workload row and the pool row
    assert "#### Node pools of acme-ml-prod (aws us-east-1)" in md


def test_json_carries_platforms_clusters_pools_and_each_workloads_pool(fake_catalog):
    d = json.loads(plan_json(plan_of(fake_catalog, TRAIN + "  spot: true\n" + SERVE)))
    assert d["platforms"] == {"aws": "kubernetes"} and d["totals"]["control_plane_monthly_usd"] == 73.0
    [c] = d["clusters"]
    assert {"cloud", "region", "name", "version", "regional", "existing", "endpoint_cidrs", "monthly_cost", "pools", "reasons",
            "location", "release_channel", "extended_support"} <= set(c)
    pool = c["pools"][0]
    assert {"name", "instance_type", "capacity_type", "gpu", "gpu_count", "accelerator_runtime", "min_nodes", "max_nodes",
            "workloads", "collective", "zones"} <= set(pool)
    assert {w["name"]: w["node_pools"] for w in d["workloads"]} == {p["workloads"][0]: [p["name"]] for p in c["pools"]}


def test_json_and_markdown_show_the_system_pool_and_its_total(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN)
    d = json.loads(plan_json(plan))
    [cluster] = d["clusters"]
    assert cluster["system_pool"]["instance_type"] == "m6i.large" and cluster["system_pool"]["system"] is True
    assert cluster["system_pool"]["min_nodes"] == 2 and cluster["system_pool"]["monthly_usd"] == pytest.approx(EKS_SYSTEM)
    assert [p["system"] for p in cluster["pools"]] == [False]  # pools stay the workloads' pools
    assert d["totals"]["system_pools_monthly_usd"] == pytest.approx(EKS_SYSTEM)
    md = plan_markdown(plan)
    assert "| acme-ml-prod-system | m6i.large | on-demand | - | 2 | 2 | 3 | (system pods) |" in md
    assert "system pool 2x m6i.large on-demand $140.16/month" in md and "+ system pools $140)" in md
    existing = json.loads(plan_json(plan_of(fake_catalog, TRAIN, k8s("existing_cluster: shared-gpu"))))
    assert existing["clusters"][0]["system_pool"] is None and existing["totals"]["system_pools_monthly_usd"] == 0
