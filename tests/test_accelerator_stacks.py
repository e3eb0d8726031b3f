"""Stacks for the guide's specialized accelerators (issue 26): an inf2 inference workload and a
trn1.32xlarge x 2 training run on AWS (Neuron DLAMI, EFA, placement; terraform validate), a TPU
v5e training workload on GCP (a TPU VM a run, created and deleted by Cloud Scheduler through the
Cloud TPU API; the google provider schema oracle, and the create request's body evaluated by
Terraform itself), and what the planner refuses on TPU VMs."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from aiinfra.boot import IMAGES, gcp_metadata
from aiinfra.boot.workload import boot_config
from aiinfra.planner import make_plan
from aiinfra.planner.checks import check_accelerator_platform
from aiinfra.spec import load_spec_text
from aiinfra.synth import synth
from tests.conftest import make_spec
from tests.gcp_schema import check_stack
from tests.tf_harness import SKIP_NO_TERRAFORM, init, run_terraform, terraform_bin

NEURON_SPEC = make_spec('''
- name: "chat-inf2"
  type: "inference"
  gpu_requirements: "1x Inferentia2"
  expected_qps: 5
  latency_sla: "2000ms"
  availability_requirement: "99%"
  image: "public.ecr.aws/neuron/pytorch-inference-neuronx:2.1.2-neuronx-py310-sdk2.20.0-ubuntu20.04"
- name: "pretrain-trn1"
  type: "training"
  dataset_size: "500GB"
  gpu_requirements: "32x Trainium"
  training_frequency: "weekly"
  estimated_runtime: "12 hours"
  image: "public.ecr.aws/neuron/pytorch-training-neuronx:2.1.2-neuronx-py310-sdk2.20.0-ubuntu20.04"
  command: ["torchrun", "train.py"]
''')

TPU_SPEC = make_spec('''
- name: "pretrain-tpu"
  type: "training"
  dataset_size: "200GB"
  gpu_requirements: "8x TPU v5e"
  training_frequency: "weekly"
  estimated_runtime: "10 hours"
  spot: true
  image: "us-docker.pkg.dev/acme-ml/train/jax:1"
''', clouds="  gcp: {project: acme-ml-prod, region: us-central1}")
# What the catalog's v5e row makes of it (the plan is checked, not patched).
TPU_SHAPE: dict = {}


def test_the_guides_tpu_ask_plans_one_v5e_slice_on_spot():
    _, plan = _plan(TPU_SPEC)
    (w,) = plan.workloads
    assert (w.instance_type, w.accelerator_type, w.gpu, w.gpus_per_node, w.nodes, w.accelerator_runtime, w.capacity) == (
        "v5litepod-8", "v5litepod-8", "TPU-v5e", 8, 1, "tpu", "spot")
    assert w.hourly_usd > 0 and len(w.zones) == 1


def _plan(text: str, **replace):
    loaded = load_spec_text(text)
    plan = make_plan(loaded)
    assert not [f for f in plan.findings if f.severity == "error"], plan.findings
    if replace:
        plan.workloads = [dataclasses.replace(w, **replace) for w in plan.workloads]
    return loaded.spec, plan


def _stack(out: Path, name: str) -> dict:
    return json.loads((out / "stacks" / name / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def neuron_out(tmp_path_factory) -> Path:
    spec, plan = _plan(NEURON_SPEC)
    assert {w.name: (w.instance_type, w.nodes, w.accelerator_runtime) for w in plan.workloads} == {
        "chat-inf2": ("inf2.xlarge", 2, "neuron"), "pretrain-trn1": ("trn1.32xlarge", 2, "neuron")}
    out = tmp_path_factory.mktemp("neuron") / "cdktf.out"
    synth(spec, plan, out)
    return out


@pytest.fixture(scope="module")
def tpu_out(tmp_path_factory) -> tuple[Path, object, object]:
    spec, plan = _plan(TPU_SPEC, **TPU_SHAPE)
    out = tmp_path_factory.mktemp("tpu") / "cdktf.out"
    synth(spec, plan, out)
    return out, spec, plan


def test_neuron_groups_boot_the_base_neuron_dlami_and_no_nvidia_stack(neuron_out):
    for name in ("chat-inf2", "pretrain-trn1"):
        doc = _stack(neuron_out, f"acme-ml-production-aws-{name}")
        [param] = doc["data"]["aws_ssm_parameter"].values()
        assert param["name"] == IMAGES["aws-neuron"]["ssm_parameter"] == "/aws/service/neuron/dlami/base/ubuntu-24.04/latest/image_id"
        # no GPU metric or alarm (NVML / DCGM) on Neuron nodes
        alarms = json.dumps(doc["resource"].get("aws_cloudwatch_metric_alarm", {}))
        assert "nvidia" not in alarms.lower() and "gpu_" not in alarms.lower()
        [lt] = doc["resource"]["aws_launch_template"].values()
        import gzip
        user_data = gzip.decompress(base64.b64decode(lt["user_data"])).decode()
        assert "AIINFRA_ACCELERATOR_RUNTIME=neuron" in user_data and "AIINFRA_COLLECT='cpu" in user_data
        assert "gpu" not in re.search(r"AIINFRA_COLLECT=(.*)", user_data).group(1)


def test_trn1_training_is_two_nodes_on_eight_efa_interfaces_in_the_cluster_placement_group(neuron_out):
    doc = _stack(neuron_out, "acme-ml-production-aws-pretrain-trn1")
    [lt] = doc["resource"]["aws_launch_template"].values()
    assert lt["instance_type"] == "trn1.32xlarge"
    assert [n["interface_type"] for n in lt["network_interfaces"]] == ["efa"] * 8  # trn1.32xlarge: 8 EFA devices
    assert "placement_group" in lt["placement"]["group_name"]
    import gzip
    user_data = gzip.decompress(base64.b64decode(lt["user_data"])).decode()
    # 16 Trainium chips x 2 NeuronCores: torchrun's 32 processes a node, 64 in the world of 2 nodes
    assert "AIINFRA_PROCS_PER_NODE=32" in user_data and "AIINFRA_NODES=2" in user_data and "AIINFRA_EFA_INTERFACES=8" in user_data
    [group] = doc["resource"]["aws_autoscaling_group"].values()
    assert group["max_size"] >= 2 and "placement_group" in group["placement_group"]


@SKIP_NO_TERRAFORM
def test_neuron_stacks_pass_terraform_validate(neuron_out, tmp_path):
    for name in ("foundation", "chat-inf2", "pretrain-trn1"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "cdk.tf.json").write_text((neuron_out / "stacks" / f"acme-ml-production-aws-{name}" / "cdk.tf.json").read_text())
        init(folder, backend=False)
        r = run_terraform(["validate", "-json"], folder, check=False)
        assert json.loads(r.stdout)["valid"], r.stdout + r.stderr


def test_tpu_stacks_conform_to_the_google_provider_schema(tpu_out):
    out, _spec, _plan_ = tpu_out
    for folder in sorted((out / "stacks").iterdir()):
        assert check_stack(json.loads((folder / "cdk.tf.json").read_text())) == [], folder.name


def test_tpu_training_is_a_tpu_vm_created_and_deleted_by_the_run_schedule(tpu_out):
    out, spec, plan = tpu_out
    doc = _stack(out, "acme-ml-production-gcp-pretrain-tpu")
    assert "google_compute_region_instance_group_manager" not in doc["resource"]  # a TPU VM joins no group
    assert "google_compute_region_instance_template" not in doc["resource"]
    jobs = {j["name"]: j for j in doc["resource"]["google_cloud_scheduler_job"].values()}
    [start] = [j for n, j in jobs.items() if n.endswith("-start")]
    [stop] = [j for n, j in jobs.items() if n.endswith("-stop")]
    node = start["name"].removesuffix("-start")
    assert start["http_target"]["http_method"] == "POST"
    assert start["http_target"]["uri"] == f"https://tpu.googleapis.com/v2/projects/acme-ml-prod/locations/us-central1-a/nodes?nodeId={node}"
    assert stop["http_target"] == {"http_method": "DELETE", "uri": f"https://tpu.googleapis.com/v2/projects/acme-ml-prod/locations/"
                                   f"us-central1-a/nodes/{node}", "oauth_token": stop["http_target"]["oauth_token"]}
    w = plan.workloads[0]
    assert (start["schedule"], stop["schedule"]) == (w.schedule, w.stop_schedule) and start["time_zone"] == "Etc/UTC"
    assert start["http_target"]["oauth_token"]["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert "paused" not in start  # the spec names its image: every start creates the node
    # the TPU runner role: create / delete / get its node, and act as its own service account
    [role] = doc["resource"]["google_project_iam_custom_role"].values()
    assert role["permissions"] == ["tpu.nodes.create", "tpu.nodes.delete", "tpu.nodes.get", "tpu.operations.get"]
    [act_as] = doc["resource"]["google_service_account_iam_member"].values()
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    foundation = _stack(out, "acme-ml-production-gcp-foundation")
    assert "tpu.googleapis.com" in {s["service"] for s in foundation["resource"]["google_project_service"].values()}


def _evaluate(expression: str, tmp_path: Path) -> str:
    """A Terraform expression evaluated by terraform console, its references replaced by "REF:<ref>"."""
    inner = expression.removeprefix("${").removesuffix("}")
    # (the foundation's values come through stacks/state.py's guarded read: local.cross-stack-reference-input-...)
    inner = re.sub(r"\b((?:data\.terraform_remote_state|local\.cross-stack-reference-input-[a-z0-9-]+|google_[a-z0-9_]+)\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|var\.[a-z_]+)",
                   lambda m: json.dumps(f"REF:{m.group(1)}"), inner)
    # An output of a configuration without resources or providers (terraform console reads lines of
    # at most 64 KiB, and the boot scripts are longer): applied offline, read back raw.
    (tmp_path / "main.tf").write_text(f"output \"value\" {{\n  value = {inner}\n}}\n")
    for args in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        r = subprocess.run([terraform_bin(), *args], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                           env={**os.environ, "CHECKPOINT_DISABLE": "1"})
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([terraform_bin(), "output", "-raw", "value"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@SKIP_NO_TERRAFORM
def test_the_create_request_is_the_documented_node_with_the_boot_as_terraform_writes_it(tpu_out, tmp_path):
    out, spec, plan = tpu_out
    doc = _stack(out, "acme-ml-production-gcp-pretrain-tpu")
    [start] = [j for j in doc["resource"]["google_cloud_scheduler_job"].values() if j["name"].endswith("-start")]
    body = json.loads(base64.b64decode(_evaluate(start["http_target"]["body"], tmp_path)))
    assert set(body) == {"description", "acceleratorType", "runtimeVersion", "networkConfig", "serviceAccount", "schedulingConfig",
                         "labels", "tags", "metadata"}
    assert (body["acceleratorType"], body["runtimeVersion"]) == ("v5litepod-8", "v2-alpha-tpuv5-lite")  # Google's table for v5e
    assert body["schedulingConfig"] == {"spot": True}  # the plan's spot
    net = body["networkConfig"]
    assert net["enableExternalIps"] is False and net["canIpForward"] is False
    foundation = ("REF:data.terraform_remote_state", "REF:local.cross-stack-reference-input-acme-ml-production-gcp-foundation")
    assert net["network"].startswith(foundation) and net["subnetwork"].startswith(foundation)
    assert body["serviceAccount"]["email"].startswith("REF:google_service_account.identity")
    assert body["labels"]["aiinfra-workload"] == "pretrain-tpu"
    # the boot exactly as gcp_metadata renders it (quotes, newlines and ${...} of the scripts intact)
    w = plan.workloads[0]
    from aiinfra.observability.workload import boot_monitoring
    node = start["name"].removesuffix("-start")
    expected = gcp_metadata(boot_config(spec, w, "gcp", (node,), project="acme-ml-prod", log_group=node,
                                        **boot_monitoring(spec, w, node)))
    for key, value in expected.items():
        assert body["metadata"][key] == value, key
    assert "AIINFRA_ACCELERATOR_RUNTIME=tpu" in body["metadata"]["aiinfra-workload-env"]
    assert (body["metadata"]["enable-oslogin"], body["metadata"]["block-project-ssh-keys"]) == ("TRUE", "TRUE")
    assert body["metadata"]["aiinfra-data-bucket"].startswith(foundation)


def test_without_an_image_the_tpu_start_job_is_paused(tmp_path):
    spec, plan = _plan(TPU_SPEC.replace('  image: "us-docker.pkg.dev/acme-ml/train/jax:1"\n', ""), **TPU_SHAPE)
    out = tmp_path / "cdktf.out"
    synth(spec, plan, out)
    doc = _stack(out, "acme-ml-production-gcp-pretrain-tpu")
    [start] = [j for j in doc["resource"]["google_cloud_scheduler_job"].values() if j["name"].endswith("-start")]
    assert start["paused"] == '${!(var.image != "")}'
    assert check_stack(doc) == []


def test_the_planner_refuses_tpu_serving_and_multislice_runs_naming_the_alternatives():
    spec, plan = _plan(TPU_SPEC, **TPU_SHAPE)
    found = []
    serving = dataclasses.replace(plan.workloads[0], type="inference")
    check_accelerator_platform(spec, [serving], lambda sev, path, msg: found.append((sev, path, msg)))
    [(sev, path, msg)] = found
    assert (sev, path) == ("error", "workload_inventory[0].gpu_requirements")
    assert "TPU VMs join no managed instance group" in msg and "GKE TPU node pools or Vertex AI" in msg
    found.clear()
    two = dataclasses.replace(plan.workloads[0], nodes=2)
    check_accelerator_platform(spec, [two], lambda sev, path, msg: found.append((sev, path, msg)))
    [(sev, path, msg)] = found
    assert sev == "error" and "multislice" in msg and "queued resources" in msg
    found.clear()
    check_accelerator_platform(spec, plan.workloads, lambda *a: found.append(a))
    assert found == []
