"""GKE constructs (KubernetesCluster, GpuNodePool, NodeServiceAccount, WorkloadIdentityBinding):
every argument they write exists in the google provider schema (tests/gcp_schema.py, a test per
argument), one test per behaviour on the synthesized JSON, the policy pack's GKE rules on what they
write, and checkov over a stack of them. Run on cdktf and on cdktn (marker ``cdk``, except the
checkov run, which reads the same JSON either way)."""

from __future__ import annotations

import json
import subprocess

import pytest

from aiinfra.cdk import TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs._tf import GOOGLE, provider
from aiinfra.constructs.gcp import (ClusterNetwork, EncryptionKey, GpuNicNetworks, GpuNodePool, KubernetesCluster, NodeServiceAccount,
                                    WorkloadIdentity, WorkloadIdentityBinding, gpu_nic_node_networks)
from aiinfra.constructs.gcp.project_services import services_for, stack_resource_types
from aiinfra.policy import check_stack as policy_check
from tests.gcp_schema import check_stack, load_schema
from tests.test_checkov import CHECKOV, CONFIG
from tests.test_constructs_gcp import PROJECT, REGION, synth  # synth: the stack's JSON, checked against the provider schema
REPO = f"projects/{PROJECT}/locations/us/repositories/models"


def parts(stack):
    key = EncryptionKey(stack, "key", project=PROJECT, location=REGION, name="acme-data")
    net = ClusterNetwork(stack, "net", project=PROJECT, name="acme", region=REGION, gpu_nics=GpuNicNetworks("tcpx", 4))
    nodes = NodeServiceAccount(stack, "nodes", project=PROJECT, account_id="acme-gke-nodes", repository=REPO)
    return key, net, nodes


def cluster_of(stack, key, net, **kw):
    args = dict(name="acme-ml-prod", project=PROJECT, location=REGION, version="1.33", network=net.network_id,
                subnetwork=net.subnetwork_self_link, kms_key_id=key.id, endpoint_cidrs=["203.0.113.0/24"])
    args.update(kw)
    return KubernetesCluster(stack, "cluster", **args)


def pool_of(stack, cluster, key, nodes, id="pool", **kw):
    args = dict(cluster=cluster, name="train-h100", machine_type="a3-highgpu-8g", accelerator_type="nvidia-h100-80gb", accelerator_count=8,
                spot=False, min_nodes=0, max_nodes=2, zones=["us-central1-a"], kms_key_id=key.id, service_account_email=nodes.email)
    args.update(kw)
    return GpuNodePool(stack, id, **args)


def full(stack):
    """A cluster with the three kinds of pool the plan makes and a workload's identity."""
    key, net, nodes = parts(stack)
    cluster = cluster_of(stack, key, net, multi_networking=True, node_service_account=nodes.email)
    pool_of(stack, cluster, key, nodes, "train", compact_placement=True, additional_networks=gpu_nic_node_networks(net), local_ssd_count=16)
    pool_of(stack, cluster, key, nodes, "dws", name="train-dws", zones=["us-central1-a", "us-central1-b"], max_nodes=4,
            queued_provisioning=True)
    pool_of(stack, cluster, key, nodes, "serve", name="serve-l4", machine_type="g2-standard-8", accelerator_type="nvidia-l4",
            accelerator_count=1, spot=True, min_nodes=1, max_nodes=6, zones=["us-central1-a", "us-central1-b", "us-central1-c"])
    pool_of(stack, cluster, key, nodes, "data", name="data-cpu", machine_type="n2-highmem-32", accelerator_type=None,
            accelerator_count=0, reservation="acme-res", min_nodes=0, max_nodes=3)
    WorkloadIdentityBinding(stack, "wi", project=PROJECT, namespace="training", service_account="fraud-detection", bucket="acme-data",
                            prefix="fraud-detection", kms_key_id=key.id, repository=REPO, depends_on=[cluster.cluster])
    return cluster


@pytest.fixture(scope="module")
def doc() -> dict:
    return synth(full)


def by_name(doc: dict, rtype: str) -> dict[str, dict]:
    return {r.get("name", n): r for n, r in doc["resource"].get(rtype, {}).items()}


def cluster_body(doc: dict) -> dict:
    (body,) = doc["resource"]["google_container_cluster"].values()
    return body


def pools(doc: dict) -> dict[str, dict]:
    return by_name(doc, "google_container_node_pool")


def dig(body, path: str):
    for key in path.split("."):
        if isinstance(body, list):
            body = body[0]
        body = body[key]
    return body


# ---- every argument the GKE constructs write exists in the provider schema ------------------------

CLUSTER_ARGS = [
    "remove_default_node_pool", "initial_node_count", "deletion_protection", "networking_mode", "ip_allocation_policy.stack_type",
    "private_cluster_config.enable_private_nodes", "private_cluster_config.enable_private_endpoint",
    "master_authorized_networks_config.gcp_public_cidrs_access_enabled", "master_authorized_networks_config.cidr_blocks.cidr_block",
    "master_authorized_networks_config.cidr_blocks.display_name", "master_auth.client_certificate_config.issue_client_certificate",
    "enable_legacy_abac", "enable_shielded_nodes", "enable_intranode_visibility", "workload_identity_config.workload_pool",
    "datapath_provider", "network_policy.enabled", "network_policy.provider", "enable_multi_networking", "database_encryption.state",
    "database_encryption.key_name", "release_channel.channel", "min_master_version", "logging_config.enable_components",
    "monitoring_config.enable_components", "monitoring_config.managed_prometheus.enabled", "gateway_api_config.channel",
    "cost_management_config.enabled", "addons_config.gce_persistent_disk_csi_driver_config.enabled",
    "addons_config.gcs_fuse_csi_driver_config.enabled", "resource_labels", "node_config.boot_disk_kms_key",
    "node_config.shielded_instance_config.enable_secure_boot", "node_config.workload_metadata_config.mode",
]
POOL_ARGS = {  # argument -> the pool of ``full`` that writes it
    "node_locations": "train-h100", "autoscaling.total_min_node_count": "train-h100", "autoscaling.total_max_node_count": "train-h100",
    "autoscaling.location_policy": "train-h100", "management.auto_repair": "train-h100", "management.auto_upgrade": "train-h100",
    "upgrade_settings.max_surge": "train-h100", "upgrade_settings.max_unavailable": "train-h100", "upgrade_settings.strategy": "train-h100",
    "placement_policy.type": "train-h100", "queued_provisioning.enabled": "train-dws", "network_config.enable_private_nodes": "train-h100",
    "network_config.additional_node_network_configs.network": "train-h100",
    "network_config.additional_node_network_configs.subnetwork": "train-h100", "initial_node_count": "serve-l4",
    "node_config.machine_type": "train-h100", "node_config.image_type": "train-h100", "node_config.disk_type": "train-h100",
    "node_config.disk_size_gb": "train-h100", "node_config.boot_disk_kms_key": "train-h100", "node_config.service_account": "train-h100",
    "node_config.oauth_scopes": "train-h100", "node_config.spot": "serve-l4", "node_config.guest_accelerator.type": "train-h100",
    "node_config.guest_accelerator.count": "train-h100",
    "node_config.guest_accelerator.gpu_driver_installation_config.gpu_driver_version": "train-h100",
    "node_config.gvnic.enabled": "train-h100", "node_config.ephemeral_storage_local_ssd_config.local_ssd_count": "train-h100",
    "node_config.reservation_affinity.consume_reservation_type": "data-cpu", "node_config.reservation_affinity.key": "data-cpu",
    "node_config.reservation_affinity.values": "data-cpu", "node_config.workload_metadata_config.mode": "train-h100",
    "node_config.shielded_instance_config.enable_secure_boot": "train-h100",
    "node_config.shielded_instance_config.enable_integrity_monitoring": "train-h100", "node_config.metadata": "train-h100",
    "node_config.labels": "train-h100", "node_config.taint.key": "train-h100", "node_config.taint.value": "train-h100",
    "node_config.taint.effect": "train-h100", "node_config.resource_labels": "train-h100",
}


def schema_arg(rtype: str, path: str):
    block = load_schema().resources[rtype]
    arg = None
    for key in path.split("."):
        assert block is not None and key in block, f"{rtype}: no argument {path!r} in google provider {load_schema().version}"
        arg = block[key]
        block = arg.block
    return arg


@pytest.mark.parametrize("path", CLUSTER_ARGS)
def test_cluster_argument_is_in_the_provider_schema_and_written(doc, path):
    schema_arg("google_container_cluster", path)
    assert dig(cluster_body(doc), path) is not None


@pytest.mark.parametrize("path", sorted(POOL_ARGS))
def test_node_pool_argument_is_in_the_provider_schema_and_written(doc, path):
    schema_arg("google_container_node_pool", path)
    assert dig(pools(doc)[POOL_ARGS[path]], path) is not None


@pytest.mark.parametrize("path", ["dns_endpoint_config", "authenticator_groups_config", "binary_authorization", "flex_start"])
def test_optional_argument_is_in_the_provider_schema_and_written_when_asked(path):
    doc = synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n, endpoint_cidrs=[], dns_endpoint=True,
                                                                   rbac_security_group="gke-security-groups@acme.example",
                                                                   binary_authorization=True),
                                                    k, a, queued_provisioning=True, flex_start=True))(*parts(s)))
    body = cluster_body(doc)
    if path == "dns_endpoint_config":
        schema_arg("google_container_cluster", "control_plane_endpoints_config.dns_endpoint_config.allow_external_traffic")
        assert body["control_plane_endpoints_config"]["dns_endpoint_config"]["allow_external_traffic"] is True
    elif path == "authenticator_groups_config":
        schema_arg("google_container_cluster", "authenticator_groups_config.security_group")
        assert body["authenticator_groups_config"]["security_group"] == "gke-security-groups@acme.example"
    elif path == "binary_authorization":
        schema_arg("google_container_cluster", "binary_authorization.evaluation_mode")
        assert body["binary_authorization"]["evaluation_mode"] == "PROJECT_SINGLETON_POLICY_ENFORCE"
    else:
        schema_arg("google_container_node_pool", "node_config.flex_start")
        pool = pools(doc)["train-h100"]  # beside the cluster's system pool
        assert pool["node_config"]["flex_start"] is True


# The system pool's arguments (KubernetesCluster system_machine_type / system_nodes / system_zones): each one's
# Terraform argument is in the provider schema and carries the value given.
SYSTEM = "acme-ml-prod-system"


@pytest.mark.parametrize("arg,path,value,expect", [
    ("system_machine_type", "node_config.machine_type", "n2-standard-2", "n2-standard-2"),
    ("system_nodes", "autoscaling.total_min_node_count", 4, 4),
    ("system_nodes", "autoscaling.total_max_node_count", 4, 4),
    ("system_nodes", "initial_node_count", 4, 2),  # a zone: 4 over the 2 zones below
    ("system_zones", "node_locations", ["us-central1-b", "us-central1-c"], ["us-central1-b", "us-central1-c"]),
])
def test_system_pool_argument_is_in_the_provider_schema_and_written(arg, path, value, expect):
    kw = {"system_zones": ["us-central1-b", "us-central1-c"], arg: value}
    doc = synth(lambda s: (lambda k, n, a: cluster_of(s, k, n, node_service_account=a.email, **kw))(*parts(s)))
    schema_arg("google_container_node_pool", path)
    assert dig(pools(doc)[SYSTEM], path) == expect


def test_a_misspelt_cluster_argument_fails_the_schema_check(doc):
    bad = json.loads(json.dumps(doc))
    cluster_body(bad)["private_cluster_config"]["enable_private_node"] = True
    assert any("enable_private_node: unknown argument" in p for p in check_stack(bad))


# ---- KubernetesCluster ------------------------------------------------------------------------------

def test_cluster_has_private_nodes_and_a_public_endpoint_only_for_the_given_cidrs(doc):
    body = cluster_body(doc)
    assert body["private_cluster_config"] == {"enable_private_nodes": True, "enable_private_endpoint": False}
    assert body["master_authorized_networks_config"] == {"gcp_public_cidrs_access_enabled": False,
                                                         "cidr_blocks": [{"cidr_block": "203.0.113.0/24", "display_name": "endpoint-0"}]}


def test_cluster_without_cidrs_has_the_private_endpoint_only():
    body = cluster_body(synth(lambda s: cluster_of(s, *parts(s)[:2], endpoint_cidrs=[])))
    assert body["private_cluster_config"]["enable_private_endpoint"] is True
    assert "cidr_blocks" not in body["master_authorized_networks_config"]
    assert "control_plane_endpoints_config" not in body


def test_cluster_refuses_an_endpoint_open_to_the_internet_and_lists_every_problem():
    with pytest.raises(ValueError) as e:
        synth(lambda s: cluster_of(s, *parts(s)[:2], endpoint_cidrs=["0.0.0.0/0", "nope"], version="1.27", release_channel="FAST"))
    msg = str(e.value)
    for part in ("0.0.0.0/0 opens the control plane", "'nope' is not a CIDR", "version must be 1.30 or later", "release_channel must be one of"):
        assert part in msg


def test_cluster_has_no_default_pool_and_is_protected_from_deletion(doc):
    body = cluster_body(doc)
    assert body["remove_default_node_pool"] is True and body["initial_node_count"] == 1
    assert body["deletion_protection"] is True
    assert body["lifecycle"] == {"ignore_changes": ["node_config"]}
    assert "node_pool" not in body
    with_account = cluster_body(synth(lambda s: (lambda k, n, a: cluster_of(s, k, n, node_service_account=a.email))(*parts(s))))
    assert with_account["node_config"]["service_account"] == "${google_service_account.nodes_account_4720EA6A.email}"


def test_cluster_workload_pool_is_the_projects(doc):
    assert cluster_body(doc)["workload_identity_config"] == {"workload_pool": f"{PROJECT}.svc.id.goog"}


def test_cluster_runs_dataplane_v2_without_the_calico_addon(doc):
    body = cluster_body(doc)
    assert body["datapath_provider"] == "ADVANCED_DATAPATH"
    assert body["network_policy"] == {"enabled": False, "provider": "PROVIDER_UNSPECIFIED"}


def test_cluster_encrypts_etcd_secrets_with_the_key_and_grants_gke_its_use(doc):
    body = cluster_body(doc)
    assert body["database_encryption"] == {"state": "ENCRYPTED", "key_name": "${google_kms_crypto_key.key_F64E54E4.id}"}
    grants = [g for g in doc["resource"]["google_kms_crypto_key_iam_member"].values() if "container-engine-robot" in g["member"]]
    assert [g["role"] for g in grants] == ["roles/cloudkms.cryptoKeyEncrypterDecrypter"]
    assert grants[0]["member"] == f"serviceAccount:service-${{data.google_project.gcp-project-{PROJECT}.number}}" \
                                  "@container-engine-robot.iam.gserviceaccount.com"
    assert any("google_kms_crypto_key_iam_member" in d for d in body["depends_on"])


def test_cluster_follows_the_release_channel_from_the_planned_version(doc):
    body = cluster_body(doc)
    assert body["release_channel"] == {"channel": "REGULAR"} and body["min_master_version"] == "1.33"
    stable = cluster_body(synth(lambda s: cluster_of(s, *parts(s)[:2], release_channel="STABLE", version="1.32.4-gke.1106006")))
    assert stable["release_channel"] == {"channel": "STABLE"} and stable["min_master_version"] == "1.32.4-gke.1106006"


def test_cluster_collects_managed_prometheus_with_gpu_metrics_and_logs_workloads(doc):
    body = cluster_body(doc)
    assert body["monitoring_config"]["managed_prometheus"] == {"enabled": True}
    assert "DCGM" in body["monitoring_config"]["enable_components"]
    assert set(body["logging_config"]["enable_components"]) == {"SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER",
                                                                 "WORKLOADS"}


def test_cluster_is_vpc_native_on_gke_managed_or_named_ranges(doc):
    body = cluster_body(doc)
    assert body["networking_mode"] == "VPC_NATIVE" and body["ip_allocation_policy"] == {"stack_type": "IPV4"}
    named = cluster_body(synth(lambda s: cluster_of(s, *parts(s)[:2], pods_range="pods", services_range="services")))
    assert named["ip_allocation_policy"] == {"stack_type": "IPV4", "cluster_secondary_range_name": "pods",
                                             "services_secondary_range_name": "services"}
    with pytest.raises(ValueError, match="pods_range and services_range go together"):
        synth(lambda s: cluster_of(s, *parts(s)[:2], pods_range="pods"))


def test_cluster_multi_networking_only_when_asked_and_pools_need_it(doc):
    assert cluster_body(doc)["enable_multi_networking"] is True
    plain = cluster_body(synth(lambda s: cluster_of(s, *parts(s)[:2])))
    assert "enable_multi_networking" not in plain
    with pytest.raises(ValueError, match="additional_networks need a cluster with multi_networking=True"):
        synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n), k, a, additional_networks=gpu_nic_node_networks(n)))(*parts(s)))


def test_cluster_is_zonal_or_regional_by_location():
    zonal = synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n, location="us-central1-b"), k, a,
                                                     zones=["us-central1-b"]))(*parts(s)))
    assert cluster_body(zonal)["location"] == "us-central1-b"
    assert list(pools(zonal).values())[0]["location"] == "us-central1-b"
    with pytest.raises(ValueError, match="location must be a region"):
        synth(lambda s: cluster_of(s, *parts(s)[:2], location="central"))


def test_cluster_hardening_shielded_nodes_no_client_certificate_gateway_api_cost_allocation(doc):
    body = cluster_body(doc)
    assert body["enable_shielded_nodes"] is True and body["enable_legacy_abac"] is False
    assert body["master_auth"] == {"client_certificate_config": {"issue_client_certificate": False}}
    assert body["gateway_api_config"] == {"channel": "CHANNEL_STANDARD"}
    assert body["cost_management_config"] == {"enabled": True}
    assert body["resource_labels"] == {"aiinfra-platform": "kubernetes"}


def test_stack_with_a_cluster_needs_the_kubernetes_engine_api():
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    full(stack)
    assert "container.googleapis.com" in services_for(stack_resource_types(stack))


def test_cluster_attributes_reference_the_cluster():
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "google", GOOGLE, project=PROJECT, region=REGION)
    cluster = full(stack)
    stack.add_override("output", {"endpoint": {"value": cluster.endpoint}, "ca": {"value": cluster.ca_certificate},
                                  "name": {"value": cluster.name}})
    out = json.loads(CdkTesting.synth(stack))["output"]
    assert out["endpoint"]["value"] == "${google_container_cluster.cluster_A4C38409.endpoint}"
    assert out["ca"]["value"] == "${google_container_cluster.cluster_A4C38409.master_auth[0].cluster_ca_certificate}"
    assert out["name"]["value"] == "${google_container_cluster.cluster_A4C38409.name}"
    assert cluster.location == REGION and cluster.regional


# ---- GpuNodePool ------------------------------------------------------------------------------------

def test_gpu_pool_has_gke_installed_driver_gvnic_and_the_gpu_taint_once(doc):
    cfg = pools(doc)["train-h100"]["node_config"]
    assert cfg["guest_accelerator"] == [{"type": "nvidia-h100-80gb", "count": 8,
                                         "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"}}]
    assert cfg["gvnic"] == {"enabled": True} and cfg["image_type"] == "COS_CONTAINERD"
    assert cfg["taint"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert "taint" not in pools(doc)["data-cpu"]["node_config"]  # a CPU pool takes no GPU taint


def test_collective_pool_has_compact_placement_in_one_zone_and_the_gpu_nic_networks(doc):
    pool = pools(doc)["train-h100"]
    assert pool["placement_policy"] == {"type": "COMPACT"} and pool["node_locations"] == ["us-central1-a"]
    extra = pool["network_config"]["additional_node_network_configs"]
    assert extra == [{"network": f"${{google_compute_network.net_gpu-nic-{i}-vpc_{h}.name}}",
                      "subnetwork": f"${{google_compute_subnetwork.net_gpu-nic-{i}-subnet_{g}.name}}"}
                     for i, (h, g) in enumerate(_nic_ids(doc))]
    assert pool["network_config"]["enable_private_nodes"] is True
    with pytest.raises(ValueError, match="compact_placement keeps the pool in one zone"):
        synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n), k, a, compact_placement=True,
                                                 zones=["us-central1-a", "us-central1-b"]))(*parts(s)))


def _nic_ids(doc):
    """(network, subnetwork) cdktf id suffixes of the 4 GPU NIC networks, in NIC order."""
    nets = sorted(n for n in doc["resource"]["google_compute_network"] if "gpu-nic" in n)
    subs = sorted(n for n in doc["resource"]["google_compute_subnetwork"] if "gpu-nic" in n)
    return [(a.rsplit("_", 1)[1], b.rsplit("_", 1)[1]) for a, b in zip(nets, subs)]


def test_rdma_networks_pair_each_subnet_with_the_one_roce_vpc():
    def build(s):
        key, _, nodes = parts(s)
        net = ClusterNetwork(s, "rdma", project=PROJECT, name="acme-r", region=REGION, gpu_nics=GpuNicNetworks("rdma", 8),
                             roce_zone="us-central1-b")
        pool_of(s, cluster_of(s, key, net, multi_networking=True), key, nodes, machine_type="a3-ultragpu-8g",
                accelerator_type="nvidia-h200-141gb", zones=["us-central1-b"], additional_networks=gpu_nic_node_networks(net))

    pool = pools(synth(build))["train-h100"]
    extra = pool["network_config"]["additional_node_network_configs"]
    assert len(extra) == 8 and len({e["network"] for e in extra}) == 1 and len({e["subnetwork"] for e in extra}) == 8
    assert extra[0]["network"].startswith("${google_compute_network.rdma_gpu-roce-vpc_")
    assert pool["node_config"]["disk_type"] == "hyperdisk-balanced"  # A3 Ultra boots from Hyperdisk only


def test_queued_provisioning_pool_meets_dws_constraints(doc):
    pool = pools(doc)["train-dws"]
    assert pool["queued_provisioning"] == {"enabled": True}
    assert pool["autoscaling"] == {"total_min_node_count": 0, "total_max_node_count": 4, "location_policy": "ANY"}
    assert pool["node_config"]["reservation_affinity"] == {"consume_reservation_type": "NO_RESERVATION"}
    assert pool["management"] == {"auto_repair": False, "auto_upgrade": True}
    assert pool["node_config"]["labels"]["aiinfra.dev/capacity-type"] == "queued"
    with pytest.raises(ValueError) as e:
        synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n), k, a, queued_provisioning=True, spot=True, min_nodes=1,
                                                 compact_placement=True))(*parts(s)))
    assert "no spot, reservation or compact_placement" in str(e.value) and "start from 0 nodes" in str(e.value)


def test_spot_pool_is_spot_with_location_policy_any_and_a_floor(doc):
    pool = pools(doc)["serve-l4"]
    assert pool["node_config"]["spot"] is True
    assert pool["autoscaling"] == {"total_min_node_count": 1, "total_max_node_count": 6, "location_policy": "ANY"}
    assert pool["initial_node_count"] == 1 and pool["lifecycle"] == {"ignore_changes": ["initial_node_count"]}
    assert pool["node_config"]["labels"] == {"aiinfra.dev/pool": "serve-l4", "aiinfra.dev/capacity-type": "spot"}
    assert "spot" not in pools(doc)["train-h100"]["node_config"]


def test_on_demand_pool_autoscales_from_zero_over_total_limits_balanced_across_zones():
    pool = pools(synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n), k, a, zones=["us-central1-a", "us-central1-b"],
                                                           max_nodes=5))(*parts(s))))["train-h100"]
    assert pool["autoscaling"] == {"total_min_node_count": 0, "total_max_node_count": 5, "location_policy": "BALANCED"}
    assert "initial_node_count" not in pool and "lifecycle" not in pool
    assert pool["node_config"]["labels"]["aiinfra.dev/capacity-type"] == "on-demand"


def test_reservation_pool_consumes_only_the_named_reservation(doc):
    pool = pools(doc)["data-cpu"]
    assert pool["node_config"]["reservation_affinity"] == {"consume_reservation_type": "SPECIFIC_RESERVATION",
                                                           "key": "compute.googleapis.com/reservation-name", "values": ["acme-res"]}
    assert pool["node_config"]["labels"]["aiinfra.dev/capacity-type"] == "reservation"
    with pytest.raises(ValueError, match="cannot be combined with spot"):
        synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n), k, a, spot=True, reservation="r"))(*parts(s)))


def test_local_ssd_is_ephemeral_storage(doc):
    assert pools(doc)["train-h100"]["node_config"]["ephemeral_storage_local_ssd_config"] == {"local_ssd_count": 16}
    assert "ephemeral_storage_local_ssd_config" not in pools(doc)["serve-l4"]["node_config"]


def test_pool_runs_as_its_own_account_with_gke_metadata_shielded_and_cmek(doc):
    for pool in pools(doc).values():
        cfg = pool["node_config"]
        assert cfg["service_account"] == "${google_service_account.nodes_account_4720EA6A.email}"
        assert "https://www.googleapis.com/auth/cloud-platform" not in cfg["oauth_scopes"]
        assert cfg["workload_metadata_config"] == {"mode": "GKE_METADATA"}
        assert cfg["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}
        assert cfg["boot_disk_kms_key"] == "${google_kms_crypto_key.key_F64E54E4.id}"
        # GPU pools replace a node in place (no surge GPU machine); the system pool surges one cheap node first
        system = pool["name"] == "acme-ml-prod-system"
        assert pool["upgrade_settings"] == {"strategy": "SURGE", "max_surge": 1 if system else 0, "max_unavailable": 0 if system else 1}
        # auto-repair everywhere but on the queued-provisioning pool (.checkov.yaml's CKV_GCP_9 waiver relies on this)
        assert pool["management"] == {"auto_repair": pool["name"] != "train-dws", "auto_upgrade": True}


# ---- the system pool ---------------------------------------------------------------------------------

def test_system_pool_is_untainted_on_demand_fixed_size_and_hardened(doc):
    pool = pools(doc)[SYSTEM]
    cfg = pool["node_config"]
    assert "taint" not in cfg and "spot" not in cfg and "guest_accelerator" not in cfg and "reservation_affinity" not in cfg
    assert cfg["machine_type"] == "e2-standard-2" and cfg["image_type"] == "COS_CONTAINERD"
    assert cfg["labels"] == {"aiinfra.dev/system": "true", "aiinfra.dev/pool": SYSTEM, "aiinfra.dev/capacity-type": "on-demand"}
    # the regional cluster of ``full``: one node a zone in GKE's three default zones, a fixed size
    assert "node_locations" not in pool and pool["initial_node_count"] == 1
    assert pool["autoscaling"] == {"total_min_node_count": 3, "total_max_node_count": 3, "location_policy": "BALANCED"}
    assert pool["lifecycle"] == {"ignore_changes": ["initial_node_count"]}
    assert pool["management"] == {"auto_repair": True, "auto_upgrade": True}
    assert pool["network_config"] == {"enable_private_nodes": True}
    assert cfg["service_account"] == "${google_service_account.nodes_account_4720EA6A.email}"
    assert cfg["workload_metadata_config"] == {"mode": "GKE_METADATA"} and cfg["metadata"] == {"disable-legacy-endpoints": "true"}
    assert cfg["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}
    assert cfg["boot_disk_kms_key"] == "${google_kms_crypto_key.key_F64E54E4.id}"
    assert pool["cluster"] == "${google_container_cluster.cluster_A4C38409.name}" and pool["location"] == REGION


def test_zonal_cluster_system_pool_is_two_nodes_in_its_zone():
    doc = synth(lambda s: (lambda k, n, a: cluster_of(s, k, n, location="us-central1-a", node_service_account=a.email))(*parts(s)))
    pool = pools(doc)[SYSTEM]
    assert pool["node_locations"] == ["us-central1-a"] and pool["initial_node_count"] == 2
    assert pool["autoscaling"]["total_min_node_count"] == pool["autoscaling"]["total_max_node_count"] == 2


def test_system_pool_takes_the_plans_shape_count_and_zones(fake_catalog):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec_text
    from tests.conftest import make_spec
    from tests.test_planner import INFER

    spec = make_spec(INFER + "  cloud: gcp\n", clouds="  gcp: {region: us-central1, project: acme-ml-prod, platform: kubernetes}")
    plan = make_plan(load_spec_text(spec, catalog=fake_catalog), fake_catalog)
    (planned,) = plan.clusters
    doc = synth(lambda s: (lambda k, n, a: cluster_of(s, k, n, node_service_account=a.email, system_machine_type=planned.system_instance_type,
                                                      system_nodes=planned.system_nodes, system_zones=planned.system_zones))(*parts(s)))
    pool = pools(doc)[SYSTEM]
    assert pool["node_config"]["machine_type"] == planned.system_instance_type == "e2-standard-2"
    assert pool["node_locations"] == list(planned.system_zones) and len(planned.system_zones) == 3
    assert pool["autoscaling"]["total_min_node_count"] == planned.system_nodes == 3 and pool["initial_node_count"] == 1


def test_system_pool_without_a_node_account_gets_its_own_never_the_default():
    doc = synth(lambda s: cluster_of(s, *parts(s)[:2]))
    pool = pools(doc)[SYSTEM]
    accounts = {r["account_id"]: n for n, r in doc["resource"]["google_service_account"].items()}
    assert "acme-ml-prod-sys" in accounts
    assert pool["node_config"]["service_account"] == f"${{google_service_account.{accounts['acme-ml-prod-sys']}.email}}"
    roles = {r["role"] for r in doc["resource"]["google_project_iam_member"].values()
             if accounts["acme-ml-prod-sys"] in r["member"]}
    assert {"roles/logging.logWriter", "roles/monitoring.metricWriter"} <= roles and "roles/editor" not in roles


def test_system_pool_arguments_are_checked_every_problem_at_once():
    with pytest.raises(ValueError) as e:
        synth(lambda s: cluster_of(s, *parts(s)[:2], system_machine_type="e2-medium", system_nodes=0, system_zones=["europe-west4-a"],
                                   node_service_account="123-compute@developer.gserviceaccount.com"))
    msg = str(e.value)
    for part in ("e2-medium is a shared-core machine", "system_nodes must be 1 or more", "system_zones must be zones of us-central1",
                 "not the default compute service account"):
        assert part in msg
    with pytest.raises(ValueError, match="system_zones of a zonal cluster can only be its zone us-central1-a"):
        synth(lambda s: cluster_of(s, *parts(s)[:2], location="us-central1-a", system_zones=["us-central1-b"]))


@pytest.mark.parametrize("email", ["", "default", "123456789-compute@developer.gserviceaccount.com"])
def test_pool_refuses_the_default_compute_service_account(email):
    with pytest.raises(ValueError, match="not the default compute service account"):
        synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n), k, a, service_account_email=email))(*parts(s)))


def test_pool_needs_the_gpu_type_of_a_bundled_gpu_machine_and_zones_of_the_cluster():
    with pytest.raises(ValueError) as e:
        synth(lambda s: (lambda k, n, a: pool_of(s, cluster_of(s, k, n), k, a, accelerator_type=None, accelerator_count=0,
                                                 zones=["europe-west4-a"], min_nodes=3, max_nodes=2))(*parts(s)))
    msg = str(e.value)
    assert "a3-highgpu-8g brings its own GPUs" in msg and "cluster's region us-central1" in msg and "0 <= min_nodes <= max_nodes" in msg


def test_node_service_account_has_the_minimal_node_roles_and_the_repository_reader():
    doc = synth(lambda s: parts(s))
    roles = sorted(m["role"] for m in doc["resource"]["google_project_iam_member"].values())
    assert roles == ["roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
                     "roles/stackdriver.resourceMetadata.writer"]
    (repo,) = doc["resource"]["google_artifact_registry_repository_iam_member"].values()
    assert (repo["project"], repo["location"], repo["repository"], repo["role"]) == (PROJECT, "us", "models", "roles/artifactregistry.reader")
    anywhere = synth(lambda s: NodeServiceAccount(s, "nodes", project=PROJECT, account_id="acme-gke-nodes"))
    assert "roles/artifactregistry.reader" in {m["role"] for m in anywhere["resource"]["google_project_iam_member"].values()}


# ---- WorkloadIdentityBinding -----------------------------------------------------------------------

def test_binding_member_is_the_kubernetes_service_account_in_the_workload_pool(doc):
    (binding,) = doc["resource"]["google_service_account_iam_member"].values()
    assert binding["member"] == f"serviceAccount:{PROJECT}.svc.id.goog[training/fraud-detection]"
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["service_account_id"].startswith("${google_service_account.wi_account_") and binding["service_account_id"].endswith(".name}")
    assert binding["depends_on"] == ["google_container_cluster.cluster_A4C38409"]


def test_binding_grants_what_a_vm_workload_identity_grants():
    """The same function writes both: the bucket prefix, the key, the repository, nothing on the project."""
    def grants(doc, prefix):
        out = []
        for rtype in ("google_storage_bucket_iam_member", "google_kms_crypto_key_iam_member", "google_project_iam_member",
                      "google_artifact_registry_repository_iam_member"):
            for name, body in doc["resource"].get(rtype, {}).items():
                if name.startswith(prefix):
                    out.append((rtype, name[len(prefix):].rsplit("_", 1)[0], body["role"], json.dumps(body.get("condition"), sort_keys=True)))
        return sorted(out)

    def build(s):
        WorkloadIdentityBinding(s, "wi", project=PROJECT, namespace="training", service_account="fraud-detection", bucket="acme-data",
                                prefix="fraud-detection", kms_key_id="k1", repository=None)
        WorkloadIdentity(s, "vm", project=PROJECT, account_id="acme-fraud", bucket_names=["acme-data"], object_prefix="fraud-detection",
                         kms_key_ids=["k1"], telemetry=False, container_registry=False)

    doc = synth(build)
    pods, vms = grants(doc, "wi_"), grants(doc, "vm_")
    assert pods == vms and len(pods) == 3
    assert any("fraud-detection/" in c for *_, c in pods)


def test_binding_account_id_is_derived_and_names_are_checked():
    doc = synth(lambda s: WorkloadIdentityBinding(s, "wi", project=PROJECT, namespace="recommendation-serving",
                                                  service_account="recommendation-inference", bucket="b", prefix="p", kms_key_id="k",
                                                  repository=None))
    (account,) = doc["resource"]["google_service_account"].values()
    assert len(account["account_id"]) <= 30 and account["account_id"].startswith("recommendation-serving")
    with pytest.raises(ValueError) as e:
        synth(lambda s: WorkloadIdentityBinding(s, "wi", project=PROJECT, namespace="Training", service_account="a_b", bucket="b",
                                                prefix="p", kms_key_id="k", repository="models"))
    assert "namespace must be a DNS-1123 label" in str(e.value) and "service_account must be a DNS-1123 subdomain" in str(e.value)


# ---- policy pack and checkov ------------------------------------------------------------------------

def test_the_gke_constructs_pass_the_policy_pack(doc):
    report = policy_check("test", doc)
    assert report.ok, report.lines()
    judged = {"AIINFRA-GCP-016", "AIINFRA-GCP-017", "AIINFRA-GCP-018", "AIINFRA-GCP-019"}
    assert report.passed >= len(judged)


def test_a_loosened_cluster_fails_the_policy_pack(doc):
    loose = json.loads(json.dumps(doc))
    body = cluster_body(loose)
    body["private_cluster_config"]["enable_private_nodes"] = False
    del body["database_encryption"]
    pools(loose)["serve-l4"]["node_config"]["workload_metadata_config"]["mode"] = "GCE_METADATA"
    pools(loose)["data-cpu"]["node_config"]["service_account"] = "default"
    ids = sorted({v.rule.id for v in policy_check("test", loose).violations})
    assert ids == ["AIINFRA-GCP-016", "AIINFRA-GCP-017", "AIINFRA-GCP-018", "AIINFRA-GCP-019"]


@pytest.mark.skipif(CHECKOV is None, reason="checkov is not installed (make setup puts it in .venv-checkov)")
def test_checkov_passes_on_a_stack_of_the_gke_constructs(doc, tmp_path):
    stacks = tmp_path / "stacks" / "gke"
    stacks.mkdir(parents=True)
    (stacks / "cdk.tf.json").write_text(json.dumps(doc))
    r = subprocess.run([CHECKOV, "--config-file", str(CONFIG), "-d", str(stacks.parent), "-o", "json"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    reports = json.loads(r.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for rep in reports for c in rep["results"]["failed_checks"]]
    passed = {c["check_id"] for rep in reports for c in rep["results"]["passed_checks"]}
    assert not failed, "\n".join(failed)
    # checkov's GKE checks ran on these resources (private nodes, metadata server, secure boot, auto-repair ...)
    assert {"CKV_GCP_25", "CKV_GCP_64", "CKV_GCP_69", "CKV_GCP_68", "CKV_GCP_10", "CKV_GCP_12", "CKV_GCP_18"} <= passed


# Construct, policy and schema tests run on cdktf and on cdktn (make test's cdktn pass selects -m cdk);
# checkov reads the same JSON either way, so it runs once.
for _name, _fn in list(globals().items()):
    if _name.startswith("test_") and _name != "test_checkov_passes_on_a_stack_of_the_gke_constructs":
        globals()[_name] = pytest.mark.cdk(_fn)
