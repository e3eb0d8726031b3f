"""GCP construct tests: synthesize a small stack, assert on the Terraform JSON (one test per
behaviour), and check every synthesized stack against the google provider schema as the
prebuilt bindings describe it (tests/gcp_schema.py), so a misspelt argument fails here."""

from __future__ import annotations

import json

import pytest


from aiinfra.cdk import TerraformStack  # noqa: E402
from aiinfra.cdk import Testing as CdkTesting  # noqa: E402

from aiinfra.constructs._tf import GOOGLE, provider  # noqa: E402
from aiinfra.constructs.gcp import (AlertRule, Alerts, JobMetric, MetricDescriptors, PolicyTarget, ClusterNetwork, CompactPlacement, EncryptionKey, GpuInstanceGroup,  # noqa: E402
                                    GpuNicNetworks, GroupRunnerRole, HealthCheck, InferenceEndpoint, InternalEndpoint, ProjectServices, RunSchedule, SpotPool,
                                    TieredStorage, WorkloadIdentity)
from aiinfra.constructs.gcp.inference_endpoint import CPU_TARGET  # noqa: E402
from tests.gcp_schema import check_stack  # noqa: E402

PROJECT = "acme-ml-prod"
REGION = "us-central1"


def synth(build) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "google", GOOGLE, project=PROJECT, region=REGION)
    build(stack)
    doc = json.loads(CdkTesting.synth(stack))
    assert check_stack(doc) == []  # every argument exists in the google provider schema
    return doc


def only(doc: dict, rtype: str) -> dict:
    (value,) = doc["resource"][rtype].values()
    return value


def each(doc: dict, rtype: str) -> list[dict]:
    return list(doc["resource"].get(rtype, {}).values())


def group_stack(stack, **kw):
    key = EncryptionKey(stack, "key", project=PROJECT, location=REGION, name="acme-data")
    net = ClusterNetwork(stack, "net", project=PROJECT, name="acme", region=REGION, gpu_nics=kw.pop("gpu_nics", None))
    ident = WorkloadIdentity(stack, "id", project=PROJECT, account_id="acme-train")
    args = dict(project=PROJECT, name="acme-train", region=REGION, zones=["us-central1-a", "us-central1-b"], machine_type="a3-highgpu-8g",
                subnetwork=net.subnetwork_self_link, service_account_email=ident.email, kms_key_id=key.id, target_size=2,
                network_tags=[net.node_tag])
    args.update(kw)
    return GpuInstanceGroup(stack, "group", **args), net


# ---- EncryptionKey ------------------------------------------------------------------

def test_key_rotates_within_90_days_and_cannot_be_destroyed_by_terraform():
    doc = synth(lambda s: EncryptionKey(s, "key", project=PROJECT, location=REGION, name="acme-data"))
    key = only(doc, "google_kms_crypto_key")
    assert key["rotation_period"] == "7776000s" and key["purpose"] == "ENCRYPT_DECRYPT"
    assert key["lifecycle"]["prevent_destroy"] is True and only(doc, "google_kms_key_ring")["lifecycle"]["prevent_destroy"] is True
    faster = only(synth(lambda s: EncryptionKey(s, "key", project=PROJECT, location=REGION, name="k1", rotation_period_days=30)),
                  "google_kms_crypto_key")
    assert faster["rotation_period"] == "2592000s"
    with pytest.raises(ValueError, match="rotation_period_days must be between 1 and 90"):
        synth(lambda s: EncryptionKey(s, "key", project=PROJECT, location=REGION, name="k1", rotation_period_days=365))


def test_key_grants_exactly_the_storage_and_compute_agents():
    doc = synth(lambda s: EncryptionKey(s, "key", project=PROJECT, location=REGION, name="acme-data"))
    grants = each(doc, "google_kms_crypto_key_iam_member")
    assert {g["role"] for g in grants} == {"roles/cloudkms.cryptoKeyEncrypterDecrypter"}
    members = sorted(g["member"] for g in grants)
    assert len(members) == 2
    assert members[0].startswith("serviceAccount:${data.google_storage_project_service_account.")
    assert members[1] == "serviceAccount:service-${data.google_project.gcp-project-acme-ml-prod.number}@compute-system.iam.gserviceaccount.com"
    storage_only = synth(lambda s: EncryptionKey(s, "key", project=PROJECT, location=REGION, name="k1", service_agents=["storage"]))
    assert len(each(storage_only, "google_kms_crypto_key_iam_member")) == 1
    with pytest.raises(ValueError, match="unknown service agent 'bigquery'"):
        synth(lambda s: EncryptionKey(s, "key", project=PROJECT, location=REGION, name="k1", service_agents=["bigquery"]))


# ---- ClusterNetwork -----------------------------------------------------------------

def test_network_is_custom_mode_with_private_google_access_nat_and_flow_logs():
    doc = synth(lambda s: ClusterNetwork(s, "net", project=PROJECT, name="acme", region=REGION))
    assert only(doc, "google_compute_network")["auto_create_subnetworks"] is False
    subnet = only(doc, "google_compute_subnetwork")
    assert subnet["private_ip_google_access"] is True and subnet["log_config"]["metadata"] == "INCLUDE_ALL_METADATA"
    nat = only(doc, "google_compute_router_nat")
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS" and nat["log_config"]["enable"] is True
    assert "google_compute_router" in doc["resource"]


def test_firewall_admits_only_the_subnet_and_iap():
    doc = synth(lambda s: ClusterNetwork(s, "net", project=PROJECT, name="acme", region=REGION))
    rules = {r["name"]: r for r in each(doc, "google_compute_firewall")}
    assert set(rules) == {"acme-allow-internal", "acme-allow-iap-ssh"}
    assert rules["acme-allow-internal"]["source_ranges"] == ["10.50.0.0/20"]
    assert rules["acme-allow-iap-ssh"]["source_ranges"] == ["35.235.240.0/20"]
    assert rules["acme-allow-iap-ssh"]["allow"] == [{"protocol": "tcp", "ports": ["22"]}]
    assert all("0.0.0.0/0" not in r["source_ranges"] for r in rules.values())
    no_iap = synth(lambda s: ClusterNetwork(s, "net", project=PROJECT, name="acme", region=REGION, iap_ssh=False))
    assert [r["name"] for r in each(no_iap, "google_compute_firewall")] == ["acme-allow-internal"]


@pytest.mark.parametrize("kind,count,mtu,networks", [("tcpx", 4, 8244, 5), ("tcpxo", 8, 8244, 9), ("rdma", 8, 8896, 2)])
def test_gpudirect_shapes_get_their_gpu_nic_networks(kind, count, mtu, networks):
    doc = synth(lambda s: ClusterNetwork(s, "net", project=PROJECT, name="acme", region=REGION, gpu_nics=GpuNicNetworks(kind, count),
                                         roce_zone="us-central1-b"))
    vpcs = each(doc, "google_compute_network")
    assert len(vpcs) == networks  # the primary network + one per GPU NIC (RDMA: one RoCE network)
    assert {v["mtu"] for v in vpcs if "gpu" in v["name"]} == {mtu}
    assert len(each(doc, "google_compute_subnetwork")) == 1 + count
    assert all(sn["log_config"]["metadata"] == "INCLUDE_ALL_METADATA" for sn in each(doc, "google_compute_subnetwork"))  # flow logs
    if kind == "rdma":
        roce = next(v for v in vpcs if v["name"].endswith("gpu-roce"))
        assert roce["network_profile"] == f"projects/{PROJECT}/global/networkProfiles/us-central1-b-vpc-roce"


def test_rdma_needs_a_zone_and_nic_counts_are_checked():
    with pytest.raises(ValueError, match="roce_zone is required"):
        synth(lambda s: ClusterNetwork(s, "net", project=PROJECT, name="acme", region=REGION, gpu_nics=GpuNicNetworks("rdma", 8)))
    with pytest.raises(ValueError, match="GPU NIC kind must be one of"):
        GpuNicNetworks("efa", 4)


def test_compact_placement_is_for_multi_node_groups():
    doc = synth(lambda s: CompactPlacement(s, "p", project=PROJECT, name="acme-compact", region=REGION, vm_count=2))
    # no exact vm_count unless asked: VMs join the policy as they are created (CompactPlacement, exact)
    assert only(doc, "google_compute_resource_policy")["group_placement_policy"] == {"collocation": "COLLOCATED"}
    with pytest.raises(ValueError, match="vm_count must be between 2"):
        synth(lambda s: CompactPlacement(s, "p", project=PROJECT, name="acme-compact", region=REGION, vm_count=1))


# ---- GpuInstanceGroup ---------------------------------------------------------------

def test_template_is_shielded_with_os_login_no_external_ip_and_terminate_on_maintenance():
    doc = synth(lambda s: group_stack(s))
    tpl = only(doc, "google_compute_region_instance_template")
    assert tpl["shielded_instance_config"] == {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}
    assert tpl["metadata"] == {"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"}
    assert all("access_config" not in nic for nic in tpl["network_interface"])
    assert tpl["scheduling"]["on_host_maintenance"] == "TERMINATE" and tpl["scheduling"]["provisioning_model"] == "STANDARD"
    assert tpl["can_ip_forward"] is False and tpl["network_interface"][0]["nic_type"] == "GVNIC"


def test_template_uses_its_own_service_account_with_narrow_scopes():
    doc = synth(lambda s: group_stack(s))
    sa = only(doc, "google_compute_region_instance_template")["service_account"]
    assert sa["email"].startswith("${google_service_account.") and "https://www.googleapis.com/auth/cloud-platform" not in sa["scopes"]
    with pytest.raises(ValueError, match="not the default compute service account"):
        synth(lambda s: group_stack(s, service_account_email="123456789-compute@developer.gserviceaccount.com"))


def test_boot_and_data_disks_use_the_customer_key_and_local_ssds_follow_the_catalog():
    doc = synth(lambda s: group_stack(s, local_ssd_count=16, data_disk_gib=500, data_disk_type="pd-ssd"))
    disks = only(doc, "google_compute_region_instance_template")["disk"]
    persistent = [d for d in disks if d.get("type") != "SCRATCH"]
    scratch = [d for d in disks if d.get("type") == "SCRATCH"]
    assert len(persistent) == 2 and all(d["disk_encryption_key"]["kms_key_self_link"].startswith("${google_kms_crypto_key.") for d in persistent)
    assert persistent[1]["disk_size_gb"] == 500 and persistent[1]["disk_type"] == "pd-ssd"
    assert len(scratch) == 16 and {(d["disk_type"], d["interface"], d["disk_size_gb"]) for d in scratch} == {("local-ssd", "NVME", 375)}


def test_hyperdisk_only_shapes_get_hyperdisk():
    doc = synth(lambda s: group_stack(s, machine_type="a3-ultragpu-8g", data_disk_gib=100, data_disk_type="pd-ssd"))
    disks = only(doc, "google_compute_region_instance_template")["disk"]
    assert [d["disk_type"] for d in disks] == ["hyperdisk-balanced", "hyperdisk-balanced"]


def test_regional_group_has_the_plans_size_and_zones():
    doc = synth(lambda s: group_stack(s, target_size=3, zones=["us-central1-a", "us-central1-c"]))
    mig = only(doc, "google_compute_region_instance_group_manager")
    assert mig["target_size"] == 3 and mig["distribution_policy_zones"] == ["us-central1-a", "us-central1-c"]
    assert mig["version"][0]["instance_template"].endswith(".self_link_unique}")
    # No health check: replace opportunistically, at most one VM per zone at a time (regional fixed values are 0 or >= zones).
    assert mig["update_policy"] == {"type": "OPPORTUNISTIC", "minimal_action": "REPLACE", "max_surge_fixed": 0, "max_unavailable_fixed": 2,
                                    "instance_redistribution_type": "PROACTIVE"}
    assert mig["distribution_policy_target_shape"] == "EVEN"


def test_gpu_nics_tier1_and_compact_placement_keep_the_group_in_one_zone():
    def build(s):
        key = EncryptionKey(s, "key", project=PROJECT, location=REGION, name="acme-data")
        net = ClusterNetwork(s, "net", project=PROJECT, name="acme", region=REGION, gpu_nics=GpuNicNetworks("tcpx", 4))
        ident = WorkloadIdentity(s, "id", project=PROJECT, account_id="acme-train")
        placement = net.compact_placement(s, "placement", name="acme-compact", vm_count=2)
        GpuInstanceGroup(s, "group", project=PROJECT, name="acme-train", region=REGION, zones=["us-central1-a"], machine_type="a3-highgpu-8g",
                         subnetwork=net.subnetwork_self_link, service_account_email=ident.email, kms_key_id=key.id, target_size=2,
                         gpu_nic_subnetworks=net.gpu_nic_subnetwork_self_links, placement_policy=placement.self_link)
    doc = synth(build)
    tpl = only(doc, "google_compute_region_instance_template")
    assert len(tpl["network_interface"]) == 5 and {n["nic_type"] for n in tpl["network_interface"]} == {"GVNIC"}
    assert tpl["network_performance_config"] == {"total_egress_bandwidth_tier": "TIER_1"}
    policy_id = next(iter(doc["resource"]["google_compute_resource_policy"]))
    assert tpl["resource_policies"] == [f"${{google_compute_resource_policy.{policy_id}.self_link}}"]
    mig = only(doc, "google_compute_region_instance_group_manager")
    assert mig["distribution_policy_target_shape"] == "ANY_SINGLE_ZONE" and mig["update_policy"]["instance_redistribution_type"] == "NONE"


def test_n1_takes_guest_accelerators_and_bundled_shapes_refuse_them():
    doc = synth(lambda s: group_stack(s, machine_type="n1-standard-8", accelerator_type="nvidia-tesla-t4", accelerator_count=1))
    assert only(doc, "google_compute_region_instance_template")["guest_accelerator"] == [{"type": "nvidia-tesla-t4", "count": 1}]
    with pytest.raises(ValueError, match="brings its own GPUs"):
        synth(lambda s: group_stack(s, accelerator_type="nvidia-h100-80gb", accelerator_count=8))


# ---- SpotPool -----------------------------------------------------------------------

def test_spot_group_with_termination_action_and_an_on_demand_base_group():
    doc = synth(lambda s: group_stack(s, target_size=4, spot=SpotPool(on_demand_base=1)))
    templates = {t["description"].split("(")[1].rstrip(")"): t for t in each(doc, "google_compute_region_instance_template")}
    spot, od = templates["spot"]["scheduling"], templates["on-demand"]["scheduling"]
    assert spot == {"provisioning_model": "SPOT", "preemptible": True, "automatic_restart": False, "on_host_maintenance": "TERMINATE",
                    "instance_termination_action": "DELETE"}
    assert od["provisioning_model"] == "STANDARD"
    sizes = {m["name"]: m["target_size"] for m in each(doc, "google_compute_region_instance_group_manager")}
    assert sizes == {"acme-train-spot": 3, "acme-train-od": 1}


def test_on_demand_fallback_group_exists_at_zero_and_alternatives_use_instance_flexibility():
    doc = synth(lambda s: group_stack(s, target_size=2, spot=SpotPool(alternative_machine_types=["a3-megagpu-8g"])))
    groups = {m["name"]: m for m in each(doc, "google_compute_region_instance_group_manager")}
    assert groups["acme-train-od"]["target_size"] == 0 and groups["acme-train-spot"]["target_size"] == 2
    flex = groups["acme-train-spot"]["instance_flexibility_policy"]["instance_selections"]
    assert [s["machine_types"] for s in flex] == [["a3-highgpu-8g"], ["a3-megagpu-8g"]]
    assert groups["acme-train-spot"]["distribution_policy_target_shape"] == "BALANCED"
    no_fallback = synth(lambda s: group_stack(s, spot=SpotPool(on_demand_fallback=False)))
    assert [m["name"] for m in each(no_fallback, "google_compute_region_instance_group_manager")] == ["acme-train-spot"]
    with pytest.raises(ValueError, match="termination_action must be DELETE or STOP"):
        SpotPool(termination_action="HIBERNATE")


# ---- TieredStorage ------------------------------------------------------------------

def storage_doc(**kw) -> dict:
    def build(s):
        key = EncryptionKey(s, "key", project=PROJECT, location=REGION, name="acme-data")
        TieredStorage(s, "storage", project=PROJECT, name="acme-ml-prod-acme", location=REGION, kms_key_id=key.id, depends_on=key.grants, **kw)
    return synth(build)


def test_buckets_enforce_uniform_access_public_prevention_versioning_and_cmek():
    doc = storage_doc()
    buckets = {b["name"]: b for b in each(doc, "google_storage_bucket")}
    assert set(buckets) == {"acme-ml-prod-acme-data", "acme-ml-prod-acme-logs"}
    for b in buckets.values():
        assert b["uniform_bucket_level_access"] is True and b["public_access_prevention"] == "enforced"
        assert b["versioning"] == {"enabled": True} and b["encryption"]["default_kms_key_name"].startswith("${google_kms_crypto_key.")
        assert len(b["depends_on"]) == 2 and b["force_destroy"] is False
    assert "logging" not in buckets["acme-ml-prod-acme-data"]  # usage logs only when asked (tests/test_fresh_project.py)


def test_lifecycle_moves_objects_to_nearline_coldline_archive_at_the_plans_days():
    doc = storage_doc(warm_after_days=45, cold_after_days=120, archive_after_days=400, noncurrent_expiration_days=30,
                      autoclass_terminal_class=None)  # age rules only without Autoclass (tests/test_storage_lifecycle_stacks.py)
    data = next(b for b in each(doc, "google_storage_bucket") if b["name"].endswith("-data"))
    moves = [(r["condition"]["age"], r["action"]["storage_class"]) for r in data["lifecycle_rule"] if r["action"]["type"] == "SetStorageClass"]
    assert moves == [(45, "NEARLINE"), (120, "COLDLINE"), (400, "ARCHIVE")]
    kinds = [r["action"]["type"] for r in data["lifecycle_rule"]]
    assert "AbortIncompleteMultipartUpload" in kinds and "Delete" in kinds
    with pytest.raises(ValueError, match="cold_after_days must be at least 30 days after"):
        storage_doc(warm_after_days=30, cold_after_days=40)


# ---- WorkloadIdentity ---------------------------------------------------------------

def test_identity_reaches_only_its_prefix_its_keys_and_telemetry():
    doc = synth(lambda s: WorkloadIdentity(s, "id", project=PROJECT, account_id="acme-reco", bucket_names=["acme-data"],
                                           object_prefix="reco", kms_key_ids=["projects/p/locations/l/keyRings/r/cryptoKeys/k"]))
    bucket = {m["role"]: m for m in each(doc, "google_storage_bucket_iam_member")}
    assert bucket["roles/storage.objectUser"]["condition"]["expression"] == \
        'resource.name.startsWith("projects/_/buckets/acme-data/objects/reco/")'
    assert "condition" not in bucket["roles/storage.legacyBucketReader"]
    assert only(doc, "google_kms_crypto_key_iam_member")["crypto_key_id"] == "projects/p/locations/l/keyRings/r/cryptoKeys/k"
    project_roles = {m["role"] for m in each(doc, "google_project_iam_member")}
    assert project_roles == {"roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/artifactregistry.reader"}
    no_pulls = synth(lambda s: WorkloadIdentity(s, "id", project=PROJECT, account_id="acme-reco", container_registry=False))
    assert "roles/artifactregistry.reader" not in {m["role"] for m in each(no_pulls, "google_project_iam_member")}
    roles = json.dumps(doc["resource"])
    assert "roles/editor" not in roles and "roles/owner" not in roles
    with pytest.raises(ValueError, match="account_id must be 6-30"):
        WorkloadIdentity(CdkTesting.app(), "id", project=PROJECT, account_id="Bad_Name")


# ---- InferenceEndpoint --------------------------------------------------------------

def endpoint_doc(**kw) -> dict:
    def build(s):
        group, net = group_stack(s, machine_type="g2-standard-4", named_ports={"http": 8080})
        args = dict(project=PROJECT, name="acme-reco", region=REGION, network=net.network_id, network_tags=[net.node_tag],
                    instance_groups=group.instance_groups, autoscale_group=group.id, min_replicas=4, max_replicas=8,
                    requests_per_replica=260, domains=["reco.acme.example"])
        args.update(kw)
        InferenceEndpoint(s, "endpoint", **args)
    return synth(build)


def test_endpoint_serves_https_only_with_a_restricted_tls12_policy():
    doc = endpoint_doc()
    ssl = only(doc, "google_compute_ssl_policy")
    assert ssl["profile"] == "RESTRICTED" and ssl["min_tls_version"] == "TLS_1_2"
    assert only(doc, "google_compute_target_https_proxy")["ssl_policy"].startswith("${google_compute_ssl_policy.")
    rule = only(doc, "google_compute_global_forwarding_rule")
    assert rule["port_range"] == "443" and rule["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    assert only(doc, "google_compute_managed_ssl_certificate")["managed"]["domains"] == ["reco.acme.example"]
    assert "google_compute_target_http_proxy" not in doc["resource"]
    with pytest.raises(ValueError, match="domains or ssl_certificates is required"):
        endpoint_doc(domains=[])


def test_endpoint_backend_health_check_and_firewall_for_google_front_ends_only():
    doc = endpoint_doc()
    backend = only(doc, "google_compute_backend_service")
    assert backend["backend"][0]["balancing_mode"] == "RATE" and backend["backend"][0]["max_rate_per_instance"] == 260
    assert backend["log_config"]["enable"] is True and len(backend["health_checks"]) == 1
    lb_rule = next(r for r in each(doc, "google_compute_firewall") if r["name"] == "acme-reco-allow-lb")
    assert lb_rule["source_ranges"] == ["130.211.0.0/22", "35.191.0.0/16"] and lb_rule["allow"] == [{"protocol": "tcp", "ports": ["8080"]}]


def test_gpu_autoscaler_scales_on_load_balancing_utilization_of_the_replica_rate_alone():
    # A GPU group scales on its serving signal only: the autoscaler follows whichever signal asks for the most VMs, so a
    # busy-polling engine's CPU would hold every idle replica.
    doc = endpoint_doc(lb_utilization_target=0.7)
    policy = only(doc, "google_compute_region_autoscaler")["autoscaling_policy"]
    assert (policy["min_replicas"], policy["max_replicas"]) == (4, 8)
    assert policy["load_balancing_utilization"] == {"target": 0.7} and "cpu_utilization" not in policy and "metric" not in policy
    # ... of the backend's RATE capacity: 260 requests a second a replica, so each is kept at 0.7 x 260 = 182, the rate
    # the AWS endpoint's requests-per-target policy tracks for the same plan (requests_per_target = 260 x 0.7)
    (backend,) = only(doc, "google_compute_backend_service")["backend"]
    assert (backend["balancing_mode"], backend["max_rate_per_instance"], backend["capacity_scaler"]) == ("RATE", 260, 1)
    assert check_stack(doc) == []
    assert only(endpoint_doc(), "google_compute_region_autoscaler")["autoscaling_policy"]["load_balancing_utilization"] == {"target": 0.8}


def test_cpu_only_autoscaler_keeps_a_cpu_signal_when_asked():
    doc = endpoint_doc(cpu_target=CPU_TARGET)
    policy = only(doc, "google_compute_region_autoscaler")["autoscaling_policy"]
    assert policy["cpu_utilization"] == {"target": 0.7} and policy["load_balancing_utilization"] == {"target": 0.8}
    assert check_stack(doc) == []
    with pytest.raises(ValueError, match=r"cpu_target \(when given\) and lb_utilization_target between 0 and 1"):
        endpoint_doc(cpu_target=1.5)


def test_group_auto_heals_on_a_shared_health_check():
    def build(s):
        hc = HealthCheck(s, "health", project=PROJECT, name="acme-reco-health")
        group, net = group_stack(s, machine_type="g2-standard-4", named_ports={"http": 8080}, auto_healing_health_check=hc.id)
        InferenceEndpoint(s, "endpoint", project=PROJECT, name="acme-reco", region=REGION, network=net.network_id, network_tags=[net.node_tag],
                          instance_groups=group.instance_groups, autoscale_group=group.id, min_replicas=2, max_replicas=4,
                          requests_per_replica=100, ssl_certificates=["projects/acme-ml-prod/global/sslCertificates/reco"], health_check=hc)
    doc = synth(build)
    assert len(each(doc, "google_compute_health_check")) == 1
    mig = only(doc, "google_compute_region_instance_group_manager")
    assert mig["auto_healing_policies"]["health_check"].startswith("${google_compute_health_check.")
    assert mig["update_policy"]["type"] == "PROACTIVE" and mig["named_port"] == [{"name": "http", "port": 8080}]


# ---- Alerts -------------------------------------------------------------------------

def test_alerts_make_one_policy_per_rule_with_a_notification_channel():
    rules = [AlertRule("GPU Memory Exhaustion", "gpu_memory_utilization", ">", 95, 300, "critical"),
             AlertRule("High CPU", "cpu_utilization", ">=", 90, 120, "warning")]
    target = PolicyTarget(workload="reco", labels={"cost-scope": "acme-prod"})
    doc = synth(lambda s: Alerts(s, "alerts", project=PROJECT, name="acme", rules=rules, target=target, email_addresses=["oncall@acme.example"]))
    channel = only(doc, "google_monitoring_notification_channel")
    assert channel["type"] == "email" and channel["labels"] == {"email_address": "oncall@acme.example"}
    policies = {p["display_name"]: p for p in each(doc, "google_monitoring_alert_policy")}
    gpu = policies["acme: GPU Memory Exhaustion"]
    cond = gpu["conditions"][0]["condition_threshold"]
    assert gpu["severity"] == "CRITICAL" and cond["comparison"] == "COMPARISON_GT" and cond["duration"] == "300s"
    # how full device memory is: used over used + free, per GPU, as a fraction
    assert cond["threshold_value"] == 0.95 and len(gpu["notification_channels"]) == 1
    assert 'metric.label.memory_state = "used"' in cond["filter"] and "memory_state" not in cond["denominator_filter"]
    assert cond["aggregations"][0]["group_by_fields"] == ["resource.label.instance_id", "metric.label.gpu_number"]
    assert cond["evaluation_missing_data"] == "EVALUATION_MISSING_DATA_INACTIVE"
    cpu = policies["acme: High CPU"]["conditions"][0]["condition_threshold"]
    assert cpu["threshold_value"] == 0.9 and cpu["comparison"] == "COMPARISON_GT"  # a fraction; the API compares strictly
    assert 'metadata.user_labels."aiinfra-workload" = "reco"' in cpu["filter"]
    assert 'metadata.user_labels."cost-scope" = "acme-prod"' in cpu["filter"]
    with pytest.raises(ValueError, match="unknown metric 'gpu_power'"):
        AlertRule("x", "gpu_power", ">", 1)
    with pytest.raises(ValueError, match="unknown operator '=='"):
        AlertRule("x", "cpu_utilization", "==", 1)
    twins = [AlertRule("High CPU", "cpu_utilization", ">", 90), AlertRule("high cpu!", "cpu_utilization", ">", 80)]
    with pytest.raises(ValueError, match="two alert rules share the name 'high cpu!'"):
        synth(lambda s: Alerts(s, "alerts", project=PROJECT, name="acme", rules=twins, target=target))


def test_serving_policies_use_backend_latency_and_treat_silence_per_metric():
    external = PolicyTarget(workload="reco", forwarding_rule="acme-reco-https", groups=("acme-reco",), serving=True)
    internal = PolicyTarget(workload="reco", forwarding_rule="acme-reco-https", groups=("acme-reco",), serving=True, internal=True)
    latency = AlertRule("Latency", "p95_inference_latency", ">", 200).condition(external)["condition_threshold"]
    assert 'metric.type = "loadbalancing.googleapis.com/https/backend_latencies"' in latency["filter"]  # not total_latencies
    assert latency["aggregations"][0]["cross_series_reducer"] == "REDUCE_PERCENTILE_95"
    inner = AlertRule("Latency", "p95_inference_latency", ">", 200).condition(internal)["condition_threshold"]
    assert 'loadbalancing.googleapis.com/https/internal/backend_latencies' in inner["filter"]
    assert 'resource.type = "internal_http_lb_rule"' in inner["filter"]
    nodes = AlertRule("Nodes", "healthy_nodes", "<", 2).condition(external)["condition_threshold"]
    assert nodes["evaluation_missing_data"] == "EVALUATION_MISSING_DATA_ACTIVE"  # no group size reported: nothing serves
    assert 'monitoring.regex.full_match("acme-reco")' in nodes["filter"]
    errors = AlertRule("Errors", "inference_error_rate", ">", 5).condition(external)["condition_threshold"]
    assert "response_code_class = 500" in errors["filter"] and "response_code_class" not in errors["denominator_filter"]
    assert errors["threshold_value"] == 0.05
    cost = AlertRule("Cost", "cost_per_prediction", ">", 0.001).condition(
        PolicyTarget(forwarding_rule="fr", groups=("a", "b"), node_hour_usd=0.7))["condition_prometheus_query_language"]
    assert cost["query"].startswith('sum(compute_googleapis_com:instance_group_size{monitored_resource="instance_group", instance_group_name=~"a|b"}) * 0.7 / 3600 /')
    assert cost["query"].endswith("> 0.001")


def test_job_metric_descriptors_exist_before_the_policies_on_them():
    def build(s):
        d = MetricDescriptors(s, "job", project=PROJECT, metrics=[JobMetric("run_failed", "INT64", "1", "failed runs")])
        Alerts(s, "alerts", project=PROJECT, name="acme", rules=[AlertRule("Run Failed", "training_job_status", ">", 0, 60, "high")],
               target=PolicyTarget(job="acme-train", job_types=d.types))
    doc = synth(build)
    desc = only(doc, "google_monitoring_metric_descriptor")
    assert (desc["type"], desc["metric_kind"], desc["value_type"]) == ("custom.googleapis.com/aiinfra/run_failed", "GAUGE", "INT64")
    cond = only(doc, "google_monitoring_alert_policy")["conditions"][0]["condition_threshold"]
    assert cond["filter"].startswith('metric.type = "${google_monitoring_metric_descriptor.')  # a reference: created after it
    assert 'metric.label.workload = "acme-train"' in cond["filter"] and cond["comparison"] == "COMPARISON_GT"


def test_uptime_check_watches_a_public_endpoint():
    def build(s):
        a = Alerts(s, "alerts", project=PROJECT, name="acme", rules=[])
        a.uptime(host="reco.acme.example", path="/v2/health/ready", validate_ssl=True)
    doc = synth(build)
    check = only(doc, "google_monitoring_uptime_check_config")
    assert check["http_check"]["path"] == "/v2/health/ready" and check["http_check"]["use_ssl"] is True
    assert check["monitored_resource"]["labels"]["host"] == "reco.acme.example"
    policy = only(doc, "google_monitoring_alert_policy")
    assert "uptime_check/check_passed" in policy["conditions"][0]["condition_threshold"]["filter"]


# ---- a user's own stack -------------------------------------------------------------

def test_users_own_stack_uses_the_constructs_without_a_spec(tmp_path):
    from aiinfra.cdk import App

    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "my-gpu-stack")
    provider(stack, "google", GOOGLE, project=PROJECT, region=REGION)
    key = EncryptionKey(stack, "key", project=PROJECT, location=REGION, name="team-data")
    net = ClusterNetwork(stack, "net", project=PROJECT, name="team", region=REGION)
    storage = TieredStorage(stack, "storage", project=PROJECT, name="acme-ml-prod-team", location=REGION, kms_key_id=key.id,
                            depends_on=key.grants)
    ident = WorkloadIdentity(stack, "id", project=PROJECT, account_id="team-batch", bucket_names=[storage.bucket_name], object_prefix="batch")
    GpuInstanceGroup(stack, "batch", project=PROJECT, name="team-batch", region=REGION, zones=["us-central1-a"], machine_type="g2-standard-8",
                     subnetwork=net.subnetwork_self_link, service_account_email=ident.email, kms_key_id=key.id, target_size=1,
                     spot=SpotPool(on_demand_fallback=False), network_tags=[net.node_tag], depends_on=key.grants)
    app.synth()
    doc = json.loads((tmp_path / "stacks" / "my-gpu-stack" / "cdk.tf.json").read_text())
    assert check_stack(doc) == []
    tpl = only(doc, "google_compute_region_instance_template")
    assert tpl["scheduling"]["provisioning_model"] == "SPOT" and len(tpl["depends_on"]) == 2
    assert only(doc, "google_compute_region_instance_group_manager")["name"] == "team-batch-spot"


# ---- boot, run schedules, project services -------------------------------------------

def test_boot_metadata_is_escaped_for_terraform_and_references_stay_references():
    script = "#!/bin/bash\nset -euo pipefail\necho \"${HOME}\" %{x}\n"
    doc = synth(lambda s: group_stack(s, boot_metadata={"startup-script": script, "aiinfra-node-sh": "x=${1:-}"},
                                      metadata={"aiinfra-data-bucket": "${google_storage_bucket.data.name}"}))
    (template,) = each(doc, "google_compute_region_instance_template")
    md = template["metadata"]
    assert md["startup-script"] == script.replace("${", "$${").replace("%{", "%%{")  # Terraform reads it back as the script
    assert md["aiinfra-node-sh"] == "x=$${1:-}"
    assert md["aiinfra-data-bucket"] == "${google_storage_bucket.data.name}"
    assert (md["enable-oslogin"], md["block-project-ssh-keys"]) == ("TRUE", "TRUE")


def test_batch_nodes_get_the_compute_scope_only_when_asked():
    doc = synth(lambda s: group_stack(s, extra_scopes=["https://www.googleapis.com/auth/compute"]))
    (template,) = each(doc, "google_compute_region_instance_template")
    scopes = template["service_account"]["scopes"]
    assert "https://www.googleapis.com/auth/compute" in scopes and "https://www.googleapis.com/auth/cloud-platform" not in scopes
    (plain,) = each(synth(lambda s: group_stack(s)), "google_compute_region_instance_template")
    assert "https://www.googleapis.com/auth/compute" not in plain["service_account"]["scopes"]


def test_auto_healing_can_wait_for_an_apply_time_condition():
    def build(s):
        hc = HealthCheck(s, "hc", project=PROJECT, name="acme-reco-health", port=8000, path="/v2/health/ready")
        group_stack(s, auto_healing_health_check=hc.id, auto_healing_when='var.image != ""', auto_healing_delay_seconds=1200,
                    named_ports={"http": 8000})
    doc = synth(build)
    (group,) = each(doc, "google_compute_region_instance_group_manager")
    assert "auto_healing_policies" not in group
    healing = group["dynamic"]["auto_healing_policies"]
    assert healing["for_each"] == '${var.image != "" ? [1] : []}'
    assert healing["content"]["initial_delay_sec"] == 1200
    assert only(doc, "google_compute_health_check")["http_health_check"] == {"port": 8000, "request_path": "/v2/health/ready"}


def test_run_schedule_resizes_every_group_at_start_and_to_zero_at_the_hard_stop():
    doc = synth(lambda s: RunSchedule(s, "runs", project=PROJECT, region=REGION, name="acme-train", groups=[("acme-train-spot", 2),
                                      ("acme-train-od", 0)], start="0 7 1 * *", stop="0 7 2 * *", service_account_email="runner@x.iam.gserviceaccount.com"))
    jobs = {j["name"]: j for j in each(doc, "google_cloud_scheduler_job")}
    assert set(jobs) == {"acme-train-0-start", "acme-train-0-stop", "acme-train-1-stop"}  # a group started at 0 is only stopped
    start = jobs["acme-train-0-start"]
    assert (start["schedule"], start["time_zone"], start["http_target"]["http_method"]) == ("0 7 1 * *", "Etc/UTC", "POST")
    assert start["http_target"]["uri"] == (f"https://compute.googleapis.com/compute/v1/projects/{PROJECT}/regions/{REGION}"
                                           "/instanceGroupManagers/acme-train-spot/resize?size=2")
    assert start["http_target"]["oauth_token"]["service_account_email"] == "runner@x.iam.gserviceaccount.com"
    assert jobs["acme-train-1-stop"]["http_target"]["uri"].endswith("/acme-train-od/resize?size=0")
    with pytest.raises(ValueError, match="start and stop must differ"):
        synth(lambda s: RunSchedule(s, "r", project=PROJECT, region=REGION, name="a-b", groups=[("g", 1)], start="0 1 * * *",
                                    stop="0 1 * * *", service_account_email="r@x"))


def test_group_runner_role_is_granted_on_the_workloads_own_groups_only():
    def build(s):
        role = GroupRunnerRole(s, "runner", project=PROJECT, role_id="aiinfra.acme.prod.groupRunner")
        role.grant(s, "grant", member="serviceAccount:w@x", region=REGION, groups=["acme-train-spot", "acme-train-od"], instance_prefix="acme-train")
    doc = synth(build)
    role = only(doc, "google_project_iam_custom_role")
    assert sorted(role["permissions"]) == ["compute.instanceGroupManagers.get", "compute.instanceGroupManagers.update", "compute.instances.get"]
    grant = only(doc, "google_project_iam_member")
    expr = grant["condition"]["expression"]
    assert f'projects/{PROJECT}/regions/{REGION}/instanceGroupManagers/acme-train-spot' in expr and "acme-train-od" in expr
    assert 'startsWith("acme-train")' in expr and grant["role"].startswith("${google_project_iam_custom_role.")


def test_every_resource_of_a_stack_waits_for_the_project_apis():
    def build(s):
        services = ProjectServices(s, "services", project=PROJECT)
        EncryptionKey(s, "key", project=PROJECT, location=REGION, name="acme-data")
        services.wait_for_services(s)
    doc = synth(build)
    apis = {v["service"] for v in each(doc, "google_project_service")}
    assert {"compute.googleapis.com", "cloudkms.googleapis.com", "monitoring.googleapis.com", "cloudscheduler.googleapis.com"} <= apis
    assert all(v["disable_on_destroy"] is False for v in each(doc, "google_project_service"))
    for rtype in ("google_kms_key_ring", "google_kms_crypto_key"):
        assert len(only(doc, rtype)["depends_on"]) == len(apis)
    assert all(len(d["depends_on"]) >= len(apis) for d in doc["data"]["google_project"].values())


def test_internal_endpoint_takes_existing_regional_certificates_and_refuses_plain_http():
    def build(s, **kw):
        group, net = group_stack(s, target_size=2)
        args = dict(project=PROJECT, name="acme-reco", region=REGION, network=net.network_id, subnetwork=net.subnetwork_self_link,
                    proxy_only_cidr="10.129.0.0/23", network_tags=[net.node_tag], instance_groups=group.instance_groups,
                    autoscale_group=group.id, min_replicas=2, max_replicas=4, requests_per_replica=100.0)
        args.update(kw)
        InternalEndpoint(s, "ep", **args)
    cert = f"projects/{PROJECT}/regions/{REGION}/sslCertificates/reco"
    doc = synth(lambda s: build(s, ssl_certificates=[cert]))
    assert only(doc, "google_compute_region_target_https_proxy")["ssl_certificates"] == [cert]
    assert "google_certificate_manager_certificate" not in doc["resource"]
    policy = only(doc, "google_compute_region_autoscaler")["autoscaling_policy"]
    assert policy["min_replicas"] == 2 and "cpu_utilization" not in policy and policy["load_balancing_utilization"] == {"target": 0.8}
    assert only(doc, "google_compute_region_backend_service")["backend"][0]["max_rate_per_instance"] == 100
    cpu = synth(lambda s: build(s, ssl_certificates=[cert], cpu_target=CPU_TARGET))
    assert only(cpu, "google_compute_region_autoscaler")["autoscaling_policy"]["cpu_utilization"] == {"target": 0.7}
    with pytest.raises(ValueError, match="serves HTTPS only"):
        synth(lambda s: build(s))
    with pytest.raises(ValueError, match="1 <= min_replicas <= max_replicas"):
        synth(lambda s: build(s, ssl_certificates=[cert], min_replicas=5))
    with pytest.raises(ValueError, match="proxy_only_cidr must be a private range apart from cidr"):
        ClusterNetwork(CdkTesting.app(), "n", project=PROJECT, name="acme", region=REGION, proxy_only_cidr="10.50.0.0/23")


def test_dashboard_rows_continue_past_100_tiles_and_chart_ratios_as_ratios():
    from aiinfra.constructs.gcp import Dashboard, DashboardRow

    target = PolicyTarget(workload="reco", forwarding_rule="acme-reco-https", groups=("acme-reco",), node_hour_usd=0.7, serving=True)
    rows = [DashboardRow(f"w{i}", target, ("node_count", "gpu_memory_usage", "error_rate", "node_cost"), planned_nodes=4, planned_hourly_usd=2.8)
            for i in range(30)]
    doc = synth(lambda s: Dashboard(s, "dash", project=PROJECT, name="acme-prod", rows=rows))
    boards = [json.loads(b["dashboard_json"]) for b in each(doc, "google_monitoring_dashboard")]
    assert sorted(b["displayName"] for b in boards) == ["acme-prod", "acme-prod (2)"]
    assert all(len(b["mosaicLayout"]["tiles"]) <= 100 for b in boards) and sum(len(b["mosaicLayout"]["tiles"]) for b in boards) == 150
    tiles = next(b for b in boards if b["displayName"] == "acme-prod")["mosaicLayout"]["tiles"]
    assert tiles[1]["widget"]["xyChart"]["thresholds"] == [{"label": "planned", "value": 4}]
    ratio = tiles[2]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilterRatio"]
    assert 'memory_state = "used"' in ratio["numerator"]["filter"] and "memory_state" not in ratio["denominator"]["filter"]
    assert "* 0.7" in tiles[4]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]["prometheusQuery"]
    assert tiles[4]["widget"]["xyChart"]["thresholds"] == [{"label": "plan (USD/h)", "value": 2.8}]  # spend against the plan


def test_group_consumes_a_named_reservation_on_demand_only():
    doc = synth(lambda s: group_stack(s, reservation="acme-h100-block"))
    (template,) = each(doc, "google_compute_region_instance_template")
    assert template["reservation_affinity"] == {"type": "SPECIFIC_RESERVATION", "specific_reservation": {
        "key": "compute.googleapis.com/reservation-name", "values": ["acme-h100-block"]}}
    (plain,) = each(synth(group_stack), "google_compute_region_instance_template")
    assert "reservation_affinity" not in plain
    with pytest.raises(ValueError, match="reservation launches on-demand nodes into the reservation; it cannot be combined with spot"):
        synth(lambda s: group_stack(s, reservation="acme-h100-block", spot=SpotPool()))


# ---- homogeneous multi-node runs and placement limits ------------------------------------------

POLICY = f"projects/{PROJECT}/regions/{REGION}/resourcePolicies/acme-compact"


def test_compact_placement_group_refuses_flexibility_with_another_accelerator():
    pool = SpotPool(alternative_machine_types=["a2-ultragpu-8g"])
    with pytest.raises(ValueError) as err:
        synth(lambda s: group_stack(s, machine_type="a2-highgpu-8g", zones=["us-central1-a"], placement_policy=POLICY, spot=pool))
    assert str(err.value).startswith("a2-ultragpu-8g (8x A100-80GB, no GPUDirect) cannot join a multi-node run of a2-highgpu-8g "
                                     "(8x A100-40GB, no GPUDirect): different GPU memory (80 vs 40 GB);")
    assert "SpotPool(allow_heterogeneous=True)" in str(err.value)
    with pytest.raises(ValueError, match=r"different GPU model \(L4 vs A100\), GPU memory \(24 vs 40 GB\)"):
        synth(lambda s: group_stack(s, machine_type="a2-highgpu-8g", zones=["us-central1-a"], placement_policy=POLICY,
                                    spot=SpotPool(alternative_machine_types=["g2-standard-96"])))


def test_gpu_nic_group_refuses_another_gpudirect_flavour():
    def build(s):
        key = EncryptionKey(s, "key", project=PROJECT, location=REGION, name="acme-data")
        net = ClusterNetwork(s, "net", project=PROJECT, name="acme", region=REGION, gpu_nics=GpuNicNetworks("tcpx", 4))
        ident = WorkloadIdentity(s, "id", project=PROJECT, account_id="acme-train")
        GpuInstanceGroup(s, "group", project=PROJECT, name="acme-train", region=REGION, zones=["us-central1-a"], machine_type="a3-highgpu-8g",
                         subnetwork=net.subnetwork_self_link, service_account_email=ident.email, kms_key_id=key.id, target_size=2,
                         gpu_nic_subnetworks=net.gpu_nic_subnetwork_self_links, spot=SpotPool(alternative_machine_types=["a3-megagpu-8g"]))
    with pytest.raises(ValueError, match=r"a3-megagpu-8g \(8x H100-80GB, GPUDirect-TCPXO, 8 GPU NICs\) cannot join a multi-node run of "
                                         r"a3-highgpu-8g \(8x H100-80GB, GPUDirect-TCPX, 4 GPU NICs\): different GPUDirect \(tcpxo vs tcpx\), "
                                         r"GPU NICs \(8 vs 4\)"):
        synth(build)


def test_compact_placement_group_takes_flexibility_with_the_same_gpus_and_single_node_groups_still_mix():
    doc = synth(lambda s: group_stack(s, machine_type="g2-standard-16", zones=["us-central1-a"], placement_policy=POLICY,
                                      spot=SpotPool(alternative_machine_types=["g2-standard-32"])))  # 1x L4-24GB each
    groups = {m["name"]: m for m in each(doc, "google_compute_region_instance_group_manager")}
    selections = groups["acme-train-spot"]["instance_flexibility_policy"]["instance_selections"]
    assert [s["machine_types"] for s in selections] == [["g2-standard-16"], ["g2-standard-32"]]
    single = synth(lambda s: group_stack(s, machine_type="a2-highgpu-8g", spot=SpotPool(alternative_machine_types=["a2-ultragpu-8g",
                                                                                                                 "z9-unknown-8g"])))
    groups = {m["name"]: m for m in each(single, "google_compute_region_instance_group_manager")}
    assert groups["acme-train-spot"]["instance_flexibility_policy"]["instance_selections"][1]["machine_types"] == ["a2-ultragpu-8g",
                                                                                                                   "z9-unknown-8g"]


def test_heterogeneous_flexibility_needs_the_escape_hatch():
    with pytest.raises(ValueError, match=r"z9-unknown-8g is not in the aiinfra catalog, so it cannot be checked"):
        synth(lambda s: group_stack(s, machine_type="a2-highgpu-8g", zones=["us-central1-a"], placement_policy=POLICY,
                                    spot=SpotPool(alternative_machine_types=["z9-unknown-8g"])))
    pool = SpotPool(alternative_machine_types=["a2-ultragpu-8g", "z9-unknown-8g"], allow_heterogeneous=True)
    doc = synth(lambda s: group_stack(s, machine_type="a2-highgpu-8g", zones=["us-central1-a"], placement_policy=POLICY, spot=pool))
    groups = {m["name"]: m for m in each(doc, "google_compute_region_instance_group_manager")}
    assert groups["acme-train-spot"]["instance_flexibility_policy"]["instance_selections"][1]["machine_types"] == ["a2-ultragpu-8g",
                                                                                                                   "z9-unknown-8g"]


def test_compact_placement_limits_per_machine_series_with_their_source():
    doc = synth(lambda s: CompactPlacement(s, "p", project=PROJECT, name="acme-compact", region=REGION, vm_count=64,
                                           machine_type="a3-highgpu-8g", exact=True))
    assert only(doc, "google_compute_resource_policy")["group_placement_policy"]["vm_count"] == 64
    with pytest.raises(ValueError, match=r"vm_count 2: n1-standard-8 cannot use a compact placement policy \(source: "
                                         r"https://cloud\.google\.com/compute/docs/instances/placement-policies-overview"):
        synth(lambda s: CompactPlacement(s, "p", project=PROJECT, name="acme-compact", region=REGION, vm_count=2,
                                         machine_type="n1-standard-8"))
    with pytest.raises(ValueError, match=r"target_size 1501: 1501 a3-highgpu-8g nodes exceed the limit of 1500 per compact placement "
                                         r"policy; .*\(source: https://cloud\.google\.com/"):
        synth(lambda s: group_stack(s, zones=["us-central1-a"], placement_policy=POLICY, target_size=1501))
