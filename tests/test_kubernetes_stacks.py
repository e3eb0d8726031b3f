"""The Kubernetes platform in the stacks (issue 28; SPEC.md v3 "Platforms"): a cloud on
``platform: kubernetes`` gets a cluster stack after its foundation (the cluster, one node pool per
planned pool with the plan's counts and capacity) and per workload a stack with its pod identity,
never an instance group, launch template or load balancer of its own; a spec may mix platforms
across clouds; ``existing_cluster`` reads the cluster instead of creating it. One apply of the AWS
foundation and cluster stacks against the local AWS API (tests/tf_harness.py serves what moto lacks
of EKS), re-planned empty.

Run on cdktf and on cdktn (marker ``cdk``, tests/conftest.py CDK_TEST_FILES)."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from tests.conftest import ROOT
from tests.gcp_schema import check_stack
from tests.test_e2e_aws import destroy_with_data
from tests.test_stacks_aws import run_synth
from tests.tf_harness import SKIP_NO_TERRAFORM, init, moto_server, run_terraform  # noqa: F401

EXAMPLE = ROOT / "examples" / "kubernetes.yaml"
PREFIX = "acme-ml-production-"
VM_ONLY = ("aws_autoscaling_group", "aws_launch_template", "aws_lb", "google_compute_region_instance_group_manager",
           "google_compute_instance_template", "google_compute_backend_service")


def _synth(folder: Path, text: str) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.yaml"
    spec.write_text(text)
    out = folder / "cdktf.out"
    r = run_synth(spec, out, cwd=folder)
    assert r.returncode == 0, r.stderr[-3000:]
    return out / "stacks", r.stdout + r.stderr


def stacks_of(folder: Path) -> dict[str, dict]:
    return {p.name.removeprefix(PREFIX): json.loads((p / "cdk.tf.json").read_text()) for p in folder.iterdir()}


def of(doc: dict, rtype: str, section: str = "resource") -> list[dict]:
    return list(doc.get(section, {}).get(rtype, {}).values())


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> tuple[Path, dict[str, dict], str]:
    folder = tmp_path_factory.mktemp("k8s")
    stacks, said = _synth(folder, EXAMPLE.read_text())
    return stacks, stacks_of(stacks), said


@pytest.fixture(scope="module")
def plan():
    return make_plan(load_spec(EXAMPLE))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict[str, dict]:
    # kubernetes on AWS, the VM platform (the default) on Google Cloud: the gcp block without platform / kubernetes
    text = EXAMPLE.read_text()
    head, gcp = text.split("  gcp:\n", 1)
    block, rest = gcp.split("workload_inventory:", 1)
    block = "".join(line + "\n" for line in block.splitlines() if line.startswith("    ") and not line.startswith("      ")
                    and "platform:" not in line and "kubernetes:" not in line)
    stacks, _ = _synth(tmp_path_factory.mktemp("mixed"), f"{head}  gcp:\n{block}workload_inventory:{rest}")
    return stacks_of(stacks)


@pytest.fixture(scope="module")
def existing(tmp_path_factory) -> dict[str, dict]:
    text = re.sub(r"(\n      endpoint_cidrs: [^\n]*\n)", r"\1      existing_cluster: ml-shared\n", EXAMPLE.read_text())
    assert text.count("existing_cluster") == 2
    stacks, _ = _synth(tmp_path_factory.mktemp("existing"), text)
    return stacks_of(stacks)


# ---- the example on both clouds ------------------------------------------------------------------

def test_each_cloud_has_foundation_cluster_in_cluster_stacks_and_a_stack_per_workload_and_no_vm_dashboard(example):
    _, docs, _ = example
    assert sorted(docs) == ["aws-cluster", "aws-cluster-addons", "aws-cluster-monitoring", "aws-cluster-objects", "aws-feature-extraction",
                            "aws-foundation", "aws-recommendation-inference",
                            "gcp-cluster", "gcp-cluster-addons", "gcp-cluster-objects", "gcp-foundation", "gcp-llm-finetune"]


def test_no_workload_gets_an_instance_group_launch_template_or_load_balancer_of_its_own(example):
    _, docs, _ = example
    for name, doc in docs.items():
        if name.endswith("-cluster"):
            continue  # the EKS node groups' launch templates (GpuNodePool) live here, no workload's
        made = [t for t in VM_ONLY if t in doc.get("resource", {})]
        assert made == [], (name, made)
    assert "aws_autoscaling_group" not in docs["aws-cluster"]["resource"]


def test_the_aws_cluster_stack_holds_the_cluster_and_one_node_group_per_planned_pool(example, plan):
    _, docs, _ = example
    doc = docs["aws-cluster"]
    (cluster,) = of(doc, "aws_eks_cluster")
    (planned,) = [c for c in plan.clusters if c.cloud == "aws"]
    # no version in the example: the newest in standard support on both clouds, and so the STANDARD upgrade policy
    assert cluster["name"] == planned.name and cluster["version"] == planned.version == "1.35" and not planned.extended_support
    assert cluster["upgrade_policy"] == {"support_type": "STANDARD"}
    assert cluster["vpc_config"]["public_access_cidrs"] == ["203.0.113.0/24"]
    # the foundation's subnets and key, read through the guarded cross-stack read (stacks/state.py)
    ((read, remote),) = doc["data"]["terraform_remote_state"].items()
    assert remote["config"]["path"].endswith(f"terraform.{PREFIX}aws-foundation.tfstate")
    assert f"local.{read}." in json.dumps(cluster["vpc_config"]["subnet_ids"]) and f"local.{read}." in json.dumps(cluster["encryption_config"])
    groups = {g["node_group_name"]: g for g in of(doc, "aws_eks_node_group")}
    # the planned pools, and the cluster's own system pool as the plan sizes it (KubernetesCluster: CoreDNS and the EBS CSI controller)
    system = planned.system_pool
    assert set(groups) == {p.name for p in planned.pools} | {system.name}
    assert groups[system.name]["scaling_config"]["min_size"] == groups[system.name]["scaling_config"]["max_size"] == system.min_nodes
    assert {p.name for p in planned.pools} == {"g4dn-xlarge-on-demand", "r6i-8xlarge-spot"}
    for pool in planned.pools:
        g = groups[pool.name]
        assert (g["scaling_config"]["min_size"], g["scaling_config"]["max_size"]) == (pool.min_nodes, pool.max_nodes)
        assert g["capacity_type"] == {"on_demand": "ON_DEMAND", "spot": "SPOT"}[pool.capacity_type]
        assert g["labels"]["aiinfra.dev/pool"] == pool.name
        assert len(g["subnet_ids"]) == len(pool.zones)
    assert groups["g4dn-xlarge-on-demand"]["ami_type"] == "AL2023_x86_64_NVIDIA" and groups["g4dn-xlarge-on-demand"]["taint"]
    assert groups["r6i-8xlarge-spot"]["ami_type"] == "AL2023_x86_64_STANDARD" and "taint" not in groups["r6i-8xlarge-spot"]
    # whoever applies the stack administers the cluster (an access entry in the plan, no hidden creator rights)
    (entry,) = of(doc, "aws_eks_access_entry")
    assert "data.aws_iam_session_context." in entry["principal_arn"]
    assert cluster["access_config"]["bootstrap_cluster_creator_admin_permissions"] is False


def test_each_aws_workload_has_its_pod_identity_for_namespace_environment_and_service_account_workload(example):
    _, docs, _ = example
    for name in ("recommendation-inference", "feature-extraction"):
        doc = docs[f"aws-{name}"]
        (assoc,) = of(doc, "aws_eks_pod_identity_association")
        assert (assoc["namespace"], assoc["service_account"]) == ("production", name)
        assert "local." in assoc["cluster_name"]  # the cluster stack's cluster, read across stacks
        (role,) = of(doc, "aws_iam_role")
        assert "pods.eks.amazonaws.com" in role["assume_role_policy"]
        (policy,) = of(doc, "aws_iam_role_policy")
        assert f"/{name}/*" in policy["policy"]  # its own prefix of the data bucket only
        # the serving workload's public endpoint keeps its WAF web ACL (stacks/kubernetes_serving.py; the ALB is the controller's)
        waf = {"aws_wafv2_web_acl", "aws_wafv2_web_acl_logging_configuration", "aws_cloudwatch_log_group"} if name.endswith("inference") else set()
        assert set(doc["resource"]) == {"aws_eks_pod_identity_association", "aws_iam_role", "aws_iam_role_policy", "terraform_data"} | waf


def test_the_gcp_cluster_stack_holds_the_cluster_and_the_h100_pool_with_gpu_nics_and_compact_placement(example, plan):
    _, docs, _ = example
    doc = docs["gcp-cluster"]
    assert check_stack(doc) == []
    (planned,) = [c for c in plan.clusters if c.cloud == "gcp"]
    (cluster,) = of(doc, "google_container_cluster")
    assert cluster["location"] == planned.location == "us-central1-a" and cluster["release_channel"]["channel"] == planned.release_channel
    assert cluster["enable_multi_networking"] is True
    assert cluster["node_config"]["service_account"].startswith("${google_service_account.")  # the nodes' own account, not the default one
    pools = {n["name"]: n for n in of(doc, "google_container_node_pool")}
    # the planned pool, and the cluster's own system pool as the plan sizes it (KubernetesCluster)
    system = planned.system_pool
    assert set(pools) == {p.name for p in planned.pools} | {system.name}
    assert pools[system.name]["node_config"]["machine_type"] == system.instance_type
    assert pools[system.name]["autoscaling"]["total_max_node_count"] == system.min_nodes and pools[system.name]["node_locations"] == list(system.zones)
    (p,) = planned.pools
    pool = pools[p.name]
    assert pool["name"] == p.name and pool["autoscaling"]["total_min_node_count"] == 0 and pool["autoscaling"]["total_max_node_count"] == 2
    assert pool["placement_policy"] == {"type": "COMPACT"} and "queued_provisioning" not in pool  # compact placement wins (GpuNodePool)
    assert len(pool["network_config"]["additional_node_network_configs"]) == p.gpu_nics_per_node == 8
    assert pool["node_config"]["guest_accelerator"][0]["type"] == "nvidia-h100-mega-80gb"
    assert pool["node_config"]["labels"]["aiinfra.dev/pool"] == p.name


def test_the_gcp_workload_has_its_workload_identity_and_applies_after_the_cluster(example):
    stacks, docs, _ = example
    doc = docs["gcp-llm-finetune"]
    assert check_stack(doc) == []
    (binding,) = of(doc, "google_service_account_iam_member")
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == "serviceAccount:acme-ml-prod.svc.id.goog[production/llm-finetune]"
    # the Google account the pods act as is the one the in-cluster ServiceAccount's annotation names (k8s/queues.py)
    (account,) = of(doc, "google_service_account")
    from aiinfra.k8s.queues import gcp_pod_service_account_email
    assert f"{account['account_id']}@{account['project']}.iam.gserviceaccount.com" == \
        gcp_pod_service_account_email(load_spec(EXAMPLE).spec, "llm-finetune")
    manifest = json.loads((stacks.parent / "manifest.json").read_text())
    assert f"{PREFIX}gcp-cluster" in manifest["stacks"][f"{PREFIX}gcp-llm-finetune"]["dependencies"]


def test_the_foundation_turns_on_the_kubernetes_engine_api(example):
    _, docs, _ = example
    assert "container.googleapis.com" in [s["service"] for s in of(docs["gcp-foundation"], "google_project_service")]


def test_synth_tells_once_a_cluster_to_apply_the_add_ons_before_the_objects_and_says_nothing_is_left_undeployed(example):
    stacks, _, said = example
    every = (stacks.parent / "notes.txt").read_text().splitlines()
    assert not [line for line in every if "not deployed" in line]
    told = [line for line in every if "after acme-ml-production-" in line and "-cluster-addons" in line]
    assert sorted(line.split(":", 1)[0] for line in told) == [f"{PREFIX}aws-cluster-objects", f"{PREFIX}gcp-cluster-objects"]
    assert all("YAML under kubernetes/" in line for line in told)


def test_the_plan_no_longer_lists_the_keys_the_in_cluster_objects_apply(plan):
    listed = {n.path for n in plan.not_applied}
    for path in ("workload_inventory[0].image", "workload_inventory[0].port", "workload_inventory[0].health_check_path",
                 "workload_inventory[1].image", "workload_inventory[1].max_runtime"):
        assert path not in listed, path


# ---- a platform per cloud; an existing cluster ---------------------------------------------------------

def test_a_spec_may_use_kubernetes_on_aws_and_vms_on_gcp(mixed):
    assert "aws-cluster" in mixed and "gcp-cluster" not in mixed and "gcp-dashboard" in mixed and "aws-dashboard" not in mixed
    assert "aws_autoscaling_group" not in mixed["aws-recommendation-inference"]["resource"]
    assert of(mixed["gcp-llm-finetune"], "google_compute_region_instance_group_manager") or \
        of(mixed["gcp-llm-finetune"], "google_compute_instance_group_manager")
    assert "google_container_cluster" not in json.dumps(mixed)


def test_vm_workloads_keep_their_keys_applied_in_a_mixed_spec():
    text = EXAMPLE.read_text().replace("    platform: kubernetes\n    kubernetes:\n      endpoint_cidrs: [\"203.0.113.0/24\"]\n"
                                       "    alert_emails: [ml-oncall@acme-ml.example.com]\nworkload_inventory",
                                       "    alert_emails: [ml-oncall@acme-ml.example.com]\nworkload_inventory")
    from aiinfra.spec import load_spec_text

    mixed_plan = make_plan(load_spec_text(text))
    assert mixed_plan.platform("gcp") == "vm" and mixed_plan.platform("aws") == "kubernetes"
    paths = {n.path for n in mixed_plan.not_applied}
    # the VM workload's keys, and the kubernetes workload's too (its in-cluster objects apply them)
    assert "workload_inventory[1].image" not in paths and "workload_inventory[0].image" not in paths


def test_an_existing_cluster_is_read_by_name_and_its_pools_join_it(existing):
    aws, gcp = existing["aws-cluster"], existing["gcp-cluster"]
    assert "aws_eks_cluster" not in aws["resource"] and "google_container_cluster" not in gcp["resource"]
    (read,) = of(aws, "aws_eks_cluster", "data")
    assert read["name"] == "ml-shared"
    assert all(g["cluster_name"] == "${data.aws_eks_cluster.cluster.name}" for g in of(aws, "aws_eks_node_group"))
    (gread,) = of(gcp, "google_container_cluster", "data")
    assert (gread["name"], gread["location"]) == ("ml-shared", "us-central1-a")
    (pool,) = of(gcp, "google_container_node_pool")
    assert pool["cluster"] == "${data.google_container_cluster.cluster.name}" and "network_config" not in pool or \
        "additional_node_network_configs" not in pool["network_config"]
    assert check_stack(gcp) == []
    (assoc,) = of(existing["aws-feature-extraction"], "aws_eks_pod_identity_association")
    assert "local." in assoc["cluster_name"]


# ---- one apply of the AWS foundation and cluster stacks ---------------------------------------------

@pytest.fixture(scope="module")
def applied(example, moto_server) -> dict:
    """The example's AWS foundation, then its cluster stack, applied against the local AWS API; both
    re-planned (must be empty); what the API then holds; both destroyed."""
    stacks, _, _ = example
    foundation, cluster = stacks / f"{PREFIX}aws-foundation", stacks / f"{PREFIX}aws-cluster"
    # Terraform runs as a CI role's session, as in a pipeline: the cluster's admin access entry names the role
    # behind it (data aws_iam_session_context's issuer_arn; moto's default caller, an sts "user", is no IAM principal).
    iam = moto_server.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                                                     "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="ci-deployer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    creds = moto_server.client("sts").assume_role(RoleArn=role, RoleSessionName="pipeline")["Credentials"]
    env = {**moto_server.env(), "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
           "AWS_SESSION_TOKEN": creds["SessionToken"]}
    seen: dict = {"role": role}
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # both inits at once; the cluster reads the foundation's state, so it applies after
        list(pool.map(lambda d: init(d, backend=True, env=env), (foundation, cluster)))
    try:
        run_terraform(["apply", "-auto-approve"], foundation, env=env, timeout=600)
        run_terraform(["apply", "-auto-approve"], cluster, env=env, timeout=600)
        with ThreadPoolExecutor(2) as pool:
            plans = list(pool.map(lambda d: run_terraform(["plan", "-detailed-exitcode"], d, env=env, timeout=600, check=False),
                                  (foundation, cluster)))
        seen["replans"] = [(p.returncode, p.stdout[-3000:]) for p in plans]
        eks = moto_server.client("eks")
        seen["clusters"] = eks.list_clusters()["clusters"]
        seen["cluster"] = eks.describe_cluster(name="acme-ml-prod")["cluster"]
        seen["admins"] = eks.list_access_entries(clusterName="acme-ml-prod")["accessEntries"]
        seen["groups"] = {g: eks.describe_nodegroup(clusterName="acme-ml-prod", nodegroupName=g)["nodegroup"]
                          for g in eks.list_nodegroups(clusterName="acme-ml-prod")["nodegroups"]}
        seen["subnets"] = {s["SubnetId"]: s for s in moto_server.client("ec2").describe_subnets()["Subnets"]}
        seen["asgs"] = [g["AutoScalingGroupName"] for g in moto_server.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]]
    finally:
        run_terraform(["destroy", "-auto-approve"], cluster, env=env, timeout=600)
        destroy_with_data(foundation, env)  # the access logs moto delivered into the logs bucket go with it
    seen["seconds"] = time.monotonic() - started
    return seen


@SKIP_NO_TERRAFORM
def test_the_aws_cluster_applies_after_its_foundation_and_replans_empty(applied):
    assert [code for code, _ in applied["replans"]] == [0, 0], applied["replans"]


@SKIP_NO_TERRAFORM
def test_the_applied_cluster_runs_in_the_foundations_private_subnets_with_the_planned_pools(applied, plan):
    cluster = applied["cluster"]
    assert cluster["version"] == "1.35" and cluster["resourcesVpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    zones = {applied["subnets"][s]["AvailabilityZoneId"] for s in cluster["resourcesVpcConfig"]["subnetIds"]}
    assert len(zones) >= 2 and all(not applied["subnets"][s]["MapPublicIpOnLaunch"] for s in cluster["resourcesVpcConfig"]["subnetIds"])
    (planned,) = [c for c in plan.clusters if c.cloud == "aws"]
    assert set(applied["groups"]) == {p.name for p in planned.pools} | {planned.system_pool.name}
    for p in planned.pools:
        g = applied["groups"][p.name]
        assert (g["scalingConfig"]["minSize"], g["scalingConfig"]["maxSize"]) == (p.min_nodes, p.max_nodes)
        assert g["labels"]["aiinfra.dev/pool"] == p.name
    assert not any(n.startswith("acme-ml-prod-") for n in applied["asgs"])  # no workload's instance group
    assert applied["role"] in applied["admins"]  # the role that applied it administers it
    assert applied["seconds"] < 300, applied["seconds"]
