"""GCP stacks from specs: names, the foundation / workload split, the 16x H100 case, Spot with
on-demand fallback, the endpoint, alert policies, the GCS backend with CMEK, both clouds from
one synth, and every emitted google argument checked against the provider schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


from tests.conftest import ROOT  # noqa: E402
from tests.gcp_schema import check_stack  # noqa: E402
from tests.test_stacks_aws import run_synth, serving_plan  # noqa: E402

GCP_ONLY = ROOT / "examples" / "gcp-only.yaml"
PREFIX = "acme-ml-production-gcp-"


@pytest.fixture(scope="module")
def gcp_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cdktf.out"
    r = run_synth(GCP_ONLY, out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def reference_out(tmp_path_factory) -> tuple[Path, str]:
    # The guide's serving example pinned to GCP (on the bundled catalog two T4s on AWS are cheaper), so the
    # reference synth still carries a GCP endpoint with Identity-Aware Proxy and no domain.
    base = tmp_path_factory.mktemp("synth")
    spec = base / "reference.yaml"
    text = (ROOT / "examples" / "reference.yaml").read_text()
    assert text.count('expected_qps: "1000"\n') == 1
    spec.write_text(text.replace('expected_qps: "1000"\n', 'expected_qps: "1000"\n    cloud: gcp\n'))
    out = base / "cdktf.out"
    r = run_synth(spec, out)
    assert r.returncode == 0, r.stderr
    return out, r.stderr


def stack(out: Path, part: str, prefix: str = PREFIX) -> dict:
    return json.loads((out / "stacks" / f"{prefix}{part}" / "cdk.tf.json").read_text())


def resources(doc: dict, rtype: str) -> list[dict]:
    return list(doc["resource"].get(rtype, {}).values())


def test_one_foundation_and_one_stack_per_workload(gcp_out):
    names = sorted(p.name for p in (gcp_out / "stacks").iterdir())
    assert names == sorted(f"{PREFIX}{p}" for p in ("foundation", "llm-pretrain", "recommendation-inference", "embedding-refresh", "feature-etl",
                                                    "data-pipeline", "dashboard"))


def test_every_example_stack_conforms_to_the_google_provider_schema(gcp_out, reference_out):
    checked = 0
    for out in (gcp_out, reference_out[0]):
        for path in sorted((out / "stacks").glob("*-gcp-*/cdk.tf.json")):
            doc = json.loads(path.read_text())
            assert check_stack(doc) == [], path.parent.name
            checked += sum(len(v) for k, v in doc["resource"].items() if k.startswith("google_"))
    assert checked > 100  # a scan of nothing is a failure


def test_foundation_holds_key_network_storage_and_channels(gcp_out):
    doc = stack(gcp_out, "foundation")
    for rtype in ("google_kms_crypto_key", "google_compute_network", "google_compute_router_nat", "google_storage_bucket",
                  "google_monitoring_notification_channel"):
        assert rtype in doc["resource"], rtype
    assert "google_compute_region_instance_template" not in doc["resource"]
    # 16x H100 on an A3 shape (a3-highgpu-8g: four GPUDirect-TCPX NIC networks; a3-megagpu-8g: eight TCPXO), MTU 8244.
    w = serving_plan(GCP_ONLY, "llm-pretrain")
    assert w.instance_type in ("a3-highgpu-8g", "a3-megagpu-8g")
    gpu_nets = [n for n in resources(doc, "google_compute_network") if "-gpu-" in n["name"]]
    assert len(gpu_nets) == w.gpu_nics_per_node == {"tcpx": 4, "tcpxo": 8}[w.interconnect] and {n["mtu"] for n in gpu_nets} == {8244}


def test_16x_h100_is_two_a3_nodes_with_all_gpu_nics_compact_placement_and_no_external_ip(gcp_out):
    doc = stack(gcp_out, "llm-pretrain")
    (tpl,) = resources(doc, "google_compute_region_instance_template")
    w = serving_plan(GCP_ONLY, "llm-pretrain")
    assert tpl["machine_type"] == w.instance_type and w.nodes == 2
    nics = tpl["network_interface"]
    assert len(nics) == 1 + w.gpu_nics_per_node and all("access_config" not in n for n in nics)
    assert all("gpu-nic" in n["subnetwork"] for n in nics[1:]) and tpl["network_performance_config"]["total_egress_bandwidth_tier"] == "TIER_1"
    (policy,) = resources(doc, "google_compute_resource_policy")
    # no exact vm_count: a replaced node joins the policy on its own (CompactPlacement, exact)
    assert policy["group_placement_policy"] == {"collocation": "COLLOCATED"}
    assert tpl["resource_policies"][0].startswith("${google_compute_resource_policy.")
    (mig,) = resources(doc, "google_compute_region_instance_group_manager")
    # empty between runs; the run schedule resizes it to the two nodes of a run and back to zero
    assert mig["target_size"] == 0 and mig["distribution_policy_target_shape"] == "ANY_SINGLE_ZONE"
    sizes = sorted(j["http_target"]["uri"].rsplit("=", 1)[1] for j in resources(doc, "google_cloud_scheduler_job"))
    assert sizes == ["0", "2"]
    assert len(mig["distribution_policy_zones"]) == 1
    assert len([d for d in tpl["disk"] if d.get("type") == "SCRATCH"]) == 16  # 6,000 GiB of Local SSD on either A3 shape


def test_spot_training_gets_a_spot_group_and_an_on_demand_fallback(gcp_out):
    doc = stack(gcp_out, "embedding-refresh")
    groups = {m["name"]: m for m in resources(doc, "google_compute_region_instance_group_manager")}
    assert {n.rsplit("-", 1)[1] for n in groups} == {"spot", "od"}
    spot = next(m for n, m in groups.items() if n.endswith("-spot"))
    od = next(m for n, m in groups.items() if n.endswith("-od"))
    assert (spot["target_size"], od["target_size"]) == (0, 0)  # a batch group is empty between runs
    starts = [j for j in resources(doc, "google_cloud_scheduler_job") if j["name"].endswith("-start")]
    # runs start on spot, and only once the image is given (the spec names none: no image, no spend)
    assert [j["http_target"]["uri"].rsplit("/", 2)[1:] for j in starts] == [[spot["name"], 'resize?size=${var.image != "" ? 1 : 0}']]
    schedules = {t["scheduling"]["provisioning_model"] for t in resources(doc, "google_compute_region_instance_template")}
    assert schedules == {"SPOT", "STANDARD"}
    data_disks = [d for t in resources(doc, "google_compute_region_instance_template") for d in t["disk"] if d.get("device_name") == "data"]
    assert {d["disk_size_gb"] for d in data_disks} == {559} and all("kms_key_self_link" in d["disk_encryption_key"] for d in data_disks)


def test_inference_stack_has_endpoint_autoscaler_and_alert_policies(gcp_out):
    doc = stack(gcp_out, "recommendation-inference")
    (autoscaler,) = resources(doc, "google_compute_region_autoscaler")
    policy = autoscaler["autoscaling_policy"]
    w = serving_plan(GCP_ONLY)
    assert (policy["min_replicas"], policy["max_replicas"]) == (w.min_nodes, w.max_nodes)
    # GPU serving scales on the load balancer's utilization of each replica's planned rate, at the plan's target
    # utilisation: the rate AWS's requests-per-target policy tracks for the same plan. No CPU signal (the autoscaler
    # follows whichever signal asks for the most VMs, so a busy-polling engine's CPU would hold idle GPU nodes).
    w = serving_plan(GCP_ONLY)
    assert w.gpu and "cpu_utilization" not in policy and "metric" not in policy
    assert policy["load_balancing_utilization"] == {"target": w.target_utilization}
    (backend,) = resources(doc, "google_compute_backend_service")[0]["backend"]
    assert (backend["balancing_mode"], backend["max_rate_per_instance"]) == ("RATE", round(w.replica_qps, 2))
    (mig,) = resources(doc, "google_compute_region_instance_group_manager")
    assert mig["lifecycle"] == {"ignore_changes": ["target_size"]} and len(mig["distribution_policy_zones"]) == 2
    assert resources(doc, "google_compute_managed_ssl_certificate")[0]["managed"]["domains"] == ["reco.acme-ml.example.com"]
    policies = {p["display_name"].split(": ", 1)[1]: p for p in resources(doc, "google_monitoring_alert_policy")}
    # the spec's two rules that apply to serving, and the outage policies nobody asked for (a node's failed boot, no capacity)
    assert set(policies) == {"GPU Memory Exhaustion", "Model Inference Latency", "Healthy Nodes Below Minimum", "Serving Errors", "Endpoint Down",
                             "Boot Failed", "Capacity Not Met"}
    latency = policies["Model Inference Latency"]["conditions"][0]["condition_threshold"]
    assert latency["threshold_value"] == 200 and latency["aggregations"][0]["cross_series_reducer"] == "REDUCE_PERCENTILE_95"
    assert "https/backend_latencies" in latency["filter"]  # the backend's latency, not the client's round trip
    assert latency["duration"] == "120s" and policies["Model Inference Latency"]["severity"] == "CRITICAL"
    assert policies["GPU Memory Exhaustion"]["notification_channels"][0].startswith("${local.cross-stack-reference-input-")
    (uptime,) = resources(doc, "google_monitoring_uptime_check_config")
    assert uptime["monitored_resource"]["labels"]["host"] == "reco.acme-ml.example.com" and uptime["http_check"]["validate_ssl"] is True


def test_training_failure_alert_goes_to_training_stacks_only(gcp_out):
    names = {p["display_name"] for p in resources(stack(gcp_out, "llm-pretrain"), "google_monitoring_alert_policy")}
    assert any(n.endswith("Training Job Failure") for n in names) and not any("Latency" in n for n in names)


def test_state_block_gives_a_gcs_backend_written_with_the_kms_key(gcp_out):
    for part in ("foundation", "llm-pretrain"):
        backend = stack(gcp_out, part)["terraform"]["backend"]["gcs"]
        assert backend == {"bucket": "acme-ml-tf-state", "prefix": f"aiinfra/{PREFIX}{part}",
                           "kms_encryption_key": "projects/acme-ml-prod/locations/us/keyRings/terraform/cryptoKeys/state"}
    remote = next(iter(stack(gcp_out, "llm-pretrain")["data"]["terraform_remote_state"].values()))
    assert remote["backend"] == "gcs" and remote["config"]["prefix"] == f"aiinfra/{PREFIX}foundation"


def test_gcs_state_without_a_key_is_refused(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(GCP_ONLY.read_text().split("state:")[0] + "state:\n  gcp:\n    bucket: acme-ml-tf-state\n")
    r = run_synth(spec, tmp_path / "out")
    assert r.returncode == 2 and r.stderr.startswith("state.gcp.kms_encryption_key:") and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_provider_labels_and_project(gcp_out):
    google = stack(gcp_out, "foundation")["provider"]["google"][0]
    assert google["project"] == "acme-ml-prod" and google["region"] == "us-central1"
    assert google["default_labels"] == {"project": "acme-ml", "environment": "production", "cost-scope": "acme-ml-prod", "aiinfra-part": "foundation",
                                        "managed-by": "aiinfra"}


def test_reference_spec_synthesizes_both_clouds_from_one_synth(reference_out):
    out, stderr = reference_out
    names = {p.name for p in (out / "stacks").iterdir()}
    assert names == {"acme-ml-production-aws-foundation", "acme-ml-production-aws-fraud-detection-training",
                     "acme-ml-production-aws-feature-etl", "acme-ml-production-aws-dashboard", f"{PREFIX}foundation",
                     # the guide's ingestion lands where its Spark job (feature-etl) runs
                     "acme-ml-production-aws-data-pipeline",
                     f"{PREFIX}recommendation-inference", f"{PREFIX}llm-finetune", f"{PREFIX}dashboard",
                     # the guide's cache serves recommendation-inference, on GCP here (its CDN is in the workload's stack)
                     f"{PREFIX}data-pipeline"}
    assert "not synthesized" not in stderr
    # No DNS name in the guide's spec: the endpoint asks Terraform for it, and synth says so.
    assert "endpoint_domains" in stderr
    # No alert e-mails either: the policies exist, and synth says they notify nobody.
    # (6, Boot Failed and Capacity Not Met included, no uptime check: the spec asks for authenticated endpoints, and an uptime
    # check would only ever see Identity-Aware Proxy.)
    assert f"{PREFIX}recommendation-inference: 6 alert policies notify nobody" in stderr
    assert f"{PREFIX}recommendation-inference: no uptime check on recommendation-inference's endpoint" in stderr
    doc = stack(out, "recommendation-inference")
    assert doc["variable"]["endpoint_domains"]["type"] == "list(string)"
    assert resources(doc, "google_compute_managed_ssl_certificate")[0]["managed"]["domains"] == "${var.endpoint_domains}"


def test_different_gpudirect_flavours_in_one_region_are_refused(tmp_path):
    spec = tmp_path / "spec.yaml"
    text = GCP_ONLY.read_text().replace('''  - name: "embedding-refresh"''', '''  - name: "h200-train"
    type: "training"
    gpu_requirements: "16x H200"
    estimated_runtime: "10 hours"
  - name: "embedding-refresh"''')
    spec.write_text(text)
    r = run_synth(spec, tmp_path / "out")
    flavour = serving_plan(GCP_ONLY, "llm-pretrain").interconnect
    assert r.returncode == 2 and f"need different GPU NIC networks (rdma: h200-train; {flavour}: llm-pretrain)" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()


def test_cdktf_app_writes_the_same_gcp_stacks(tmp_path, gcp_out):
    env = {**os.environ, "AIINFRA_SPEC": str(GCP_ONLY), "CDKTF_OUTDIR": "cdktf.out"}
    r = subprocess.run([sys.executable, str(ROOT / "main.py")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    for part in ("foundation", "llm-pretrain", "recommendation-inference", "embedding-refresh"):
        assert stack(tmp_path / "cdktf.out", part) == stack(gcp_out, part), part


def test_internal_exposure_is_a_regional_internal_https_endpoint(tmp_path):
    spec = tmp_path / "internal.yaml"
    spec.write_text((ROOT / "examples" / "gcp-only.yaml").read_text().replace('    health_check_path: "/v2/health/ready"\n',
                                                                              '    health_check_path: "/v2/health/ready"\n    exposure: internal\n'))
    out = tmp_path / "out"
    r = run_synth(spec, out)
    assert r.returncode == 0, r.stderr
    assert "dns_authorization_records" in r.stderr  # the note says which DNS records to add
    doc = json.loads((out / "stacks" / f"{PREFIX}recommendation-inference" / "cdk.tf.json").read_text())
    assert check_stack(doc) == []
    rtypes = set(doc["resource"])
    assert "google_compute_global_forwarding_rule" not in rtypes and "google_compute_global_address" not in rtypes
    (rule,) = resources(doc, "google_compute_forwarding_rule")
    assert (rule["load_balancing_scheme"], rule["port_range"]) == ("INTERNAL_MANAGED", "443")
    (address,) = resources(doc, "google_compute_address")
    assert address["address_type"] == "INTERNAL"
    (backend,) = resources(doc, "google_compute_region_backend_service")
    assert backend["load_balancing_scheme"] == "INTERNAL_MANAGED"
    (autoscaler,) = resources(doc, "google_compute_region_autoscaler")  # the same serving signal as the public endpoint
    assert "cpu_utilization" not in autoscaler["autoscaling_policy"] and backend["backend"][0]["balancing_mode"] == "RATE"
    (hc,) = resources(doc, "google_compute_region_health_check")
    assert hc["http_health_check"] == {"port": 8000, "request_path": "/v2/health/ready"}
    (policy,) = resources(doc, "google_compute_region_ssl_policy")
    assert (policy["profile"], policy["min_tls_version"]) == ("RESTRICTED", "TLS_1_2")
    (proxy,) = resources(doc, "google_compute_region_target_https_proxy")
    assert proxy["certificate_manager_certificates"][0].startswith("${google_certificate_manager_certificate.")
    (auth,) = resources(doc, "google_certificate_manager_dns_authorization")
    assert auth["for_each"] == '${toset(["reco.acme-ml.example.com"])}' and auth["domain"] == "${each.value}"
    (firewall,) = [f for f in resources(doc, "google_compute_firewall") if f["name"].endswith("-allow-lb")]
    assert "10.129.0.0/23" in firewall["source_ranges"] and firewall["allow"] == [{"protocol": "tcp", "ports": ["8000"]}]
    foundation = json.loads((out / "stacks" / f"{PREFIX}foundation" / "cdk.tf.json").read_text())
    (proxy_only,) = [s for s in resources(foundation, "google_compute_subnetwork") if s.get("purpose") == "REGIONAL_MANAGED_PROXY"]
    assert (proxy_only["ip_cidr_range"], proxy_only["role"]) == ("10.129.0.0/23", "ACTIVE")


def test_a_reserved_workload_consumes_its_named_reservation_on_demand(tmp_path):
    spec = tmp_path / "reserved.yaml"
    spec.write_text(GCP_ONLY.read_text().replace('    gpu_requirements: "16x H100"\n',
                                                 '    gpu_requirements: "16x H100"\n    cloud: gcp\n    reservation: acme-h100-block\n', 1))
    out = tmp_path / "out"
    r = run_synth(spec, out)
    assert r.returncode == 0, r.stderr
    doc = stack(out, "llm-pretrain")
    assert check_stack(doc) == []
    templates = resources(doc, "google_compute_region_instance_template")
    assert templates and all(t["reservation_affinity"] == {"type": "SPECIFIC_RESERVATION", "specific_reservation": {
        "key": "compute.googleapis.com/reservation-name", "values": ["acme-h100-block"]}} for t in templates)
    assert all(t["scheduling"]["provisioning_model"] == "STANDARD" for t in templates)  # on-demand: never a spot template
