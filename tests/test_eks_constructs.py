"""The EKS constructs (issue 28): ``KubernetesCluster``, ``GpuNodePool`` and ``PodIdentity``, one
test per behaviour on the synthesized JSON, then one stack with all three validated with the aws
provider (5.100.0) and applied once against the patched moto server (tests/tf_harness.py serves the
EKS add-ons, their versions, access entries and Pod Identity associations moto lacks, in the EKS REST API's
shapes), re-planned empty, re-planned empty again once the server publishes new default add-on versions,
and destroyed; what the (local) cloud then holds is checked per construct.

Run on cdktf and on cdktn (marker ``cdk``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiinfra.cdk import TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs._tf import AWS, provider
from aiinfra.constructs.aws import ClusterNetwork, EncryptionKey, GpuNodePool, KubernetesCluster, PodIdentity, WorkloadIdentity
from aiinfra.constructs.aws.eks_cluster import ADDONS, CONTROL_PLANE_LOGS
from aiinfra.policy.aspect import construct_suppressions
from tests.test_checkov import CHECKOV, run_checkov
from tests.tf_harness import SKIP_NO_TERRAFORM, MotoServer, apply_plan_destroy, init, run_terraform, started

pytestmark = pytest.mark.cdk

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
BUCKET = "arn:aws:s3:::acme-ml-data"
REPO = "arn:aws:ecr:us-east-1:123456789012:repository/acme/train"
CB = "cr-0123456789abcdef0"


VERSION = "1.35"  # the planner's default: the one version in EKS standard support on 2026-12-07 (catalog/data/kubernetes_versions.csv)


def build(stack, *, endpoint_cidrs=("203.0.113.0/24",), neuron: bool = False, version: str = VERSION, **cluster_props) -> dict:
    key = EncryptionKey(stack, "key", alias="eks-test", allow_autoscaling=False)
    net = ClusterNetwork(stack, "net", name="eks-test", zone_ids=["use1-az1", "use1-az2"], log_kms_key_arn=key.arn, node_security_group=False)
    cluster = KubernetesCluster(stack, "eks", name="acme-ml", version=version, subnet_ids=net.private_subnet_ids, vpc_id=net.vpc_id,
                                kms_key_arn=key.arn, endpoint_cidrs=list(endpoint_cidrs), admin_principal_arns=[ADMIN], tags={"team": "ml"},
                                **cluster_props)
    made = {"key": key, "net": net, "cluster": cluster}
    made["train"] = GpuNodePool(stack, "train", cluster=cluster, name="train-p5", instance_type="p5.48xlarge", capacity_type="capacity_block",
                                capacity_reservation_id=CB, min_size=0, max_size=2, desired_size=None,
                                subnet_ids=[net.private_subnet_ids[0]], kms_key_arn=key.arn, accelerator_runtime="cuda",
                                efa_interfaces=32, placement_group=True, device_count=8)
    made["cpu"] = GpuNodePool(stack, "cpu", cluster=cluster, name="data-cpu", instance_type="m6i.8xlarge", capacity_type="spot",
                              min_size=0, max_size=4, desired_size=1, subnet_ids=net.private_subnet_ids, kms_key_arn=key.arn,
                              accelerator_runtime="none", labels={"aiinfra.dev/workload": "data"})
    if neuron:
        made["neuron"] = GpuNodePool(stack, "inf", cluster=cluster, name="serve-inf2", instance_type="inf2.xlarge", capacity_type="on_demand",
                                     min_size=1, max_size=3, desired_size=None, subnet_ids=net.private_subnet_ids, kms_key_arn=key.arn,
                                     accelerator_runtime="neuron")
    made["pods"] = PodIdentity(stack, "train-id", cluster=cluster, namespace="train", service_account="trainer", bucket_arn=BUCKET,
                               prefix="train", kms_key_arn=key.arn, repository_arns=[REPO])
    return made


def synth(fn=build, **kw) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS, region="us-east-1")
    fn(stack, **kw)
    return json.loads(CdkTesting.synth(stack))


def of(doc: dict, rtype: str, kind: str = "resource") -> dict:
    return doc.get(kind, {}).get(rtype, {})


def one(doc: dict, rtype: str, contains: str = "") -> dict:
    (body,) = [b for name, b in of(doc, rtype).items() if contains in name]
    return body


def by_name(doc: dict, rtype: str, key: str, value: str) -> dict:
    (body,) = [b for b in of(doc, rtype).values() if b.get(key) == value]
    return body


@pytest.fixture(scope="module")
def doc() -> dict:
    return synth(neuron=True)


# ---- KubernetesCluster ----------------------------------------------------------------------

def test_secrets_are_envelope_encrypted_with_the_given_key_which_the_cluster_role_may_use(doc):
    cluster = one(doc, "aws_eks_cluster")
    assert cluster["encryption_config"]["resources"] == ["secrets"]
    assert cluster["encryption_config"]["provider"]["key_arn"].startswith("${aws_kms_key.key_")
    key_ref = cluster["encryption_config"]["provider"]["key_arn"]
    role_policy = json.loads(by_name(doc, "aws_iam_role_policy", "name", "encrypt-secrets")["policy"])
    (statement,) = role_policy["Statement"]
    assert statement["Resource"] == key_ref and set(statement["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"}


def test_every_control_plane_log_goes_to_the_clusters_encrypted_log_group_with_retention(doc):
    cluster = one(doc, "aws_eks_cluster")
    assert set(cluster["enabled_cluster_log_types"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    group = by_name(doc, "aws_cloudwatch_log_group", "name", "/aws/eks/acme-ml/cluster")
    assert group["retention_in_days"] == 365 and group["kms_key_id"].startswith("${aws_kms_key.")
    # Created before the cluster, so EKS does not create it first without retention or key.
    assert any("aws_cloudwatch_log_group.eks_logs" in d for d in cluster["depends_on"])


def test_admins_come_from_access_entries_without_aws_auth_or_creator_rights(doc):
    cluster = one(doc, "aws_eks_cluster")
    assert cluster["access_config"] == {"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False}
    (entry,) = of(doc, "aws_eks_access_entry").values()
    assert entry["principal_arn"] == ADMIN and entry["type"] == "STANDARD"
    (association,) = of(doc, "aws_eks_access_policy_association").values()
    assert association["policy_arn"].endswith(":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert association["access_scope"] == {"type": "cluster"}
    assert "aws-auth" not in json.dumps(doc) and "kubernetes_config_map" not in json.dumps(doc)


def test_standard_support_by_default_and_extended_when_the_plan_keeps_a_version_past_it(doc):
    assert one(doc, "aws_eks_cluster")["upgrade_policy"] == {"support_type": "STANDARD"}
    # 1.33 left EKS standard support on 2026-07-29: the plan says extended_support, the stacks pass EXTENDED.
    old = synth(version="1.33", support_type="EXTENDED")
    cluster = one(old, "aws_eks_cluster")
    assert cluster["version"] == "1.33" and cluster["upgrade_policy"] == {"support_type": "EXTENDED"}
    # its add-ons are resolved for 1.33, not for the default version
    assert {d["kubernetes_version"] for d in of(old, "aws_eks_addon_version", "data").values()} == {"1.33"}


def test_public_endpoint_only_for_the_given_cidrs_and_private_access_always():
    vpc = one(synth(), "aws_eks_cluster")["vpc_config"]
    assert vpc["endpoint_private_access"] is True and vpc["endpoint_public_access"] is True
    assert vpc["public_access_cidrs"] == ["203.0.113.0/24"]
    private = one(synth(endpoint_cidrs=()), "aws_eks_cluster")["vpc_config"]
    assert private["endpoint_public_access"] is False and private["endpoint_private_access"] is True
    assert "public_access_cidrs" not in private
    with pytest.raises(ValueError, match="0.0.0.0/0 opens the API server to the whole internet"):
        synth(endpoint_cidrs=("0.0.0.0/0",))


def test_cluster_runs_in_the_given_subnets_with_its_own_security_group_and_role(doc):
    cluster = one(doc, "aws_eks_cluster")
    assert len(cluster["vpc_config"]["subnet_ids"]) == 2 and all("aws_subnet" in s for s in cluster["vpc_config"]["subnet_ids"])
    (sg,) = cluster["vpc_config"]["security_group_ids"]
    assert sg.startswith("${aws_security_group.eks_sg")
    trust = json.loads(by_name(doc, "aws_iam_role", "name", "acme-ml-eks-cluster")["assume_role_policy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    assert any(a["policy_arn"].endswith(":iam::aws:policy/AmazonEKSClusterPolicy") for a in of(doc, "aws_iam_role_policy_attachment").values())


def test_addons_run_eks_default_version_for_the_kubernetes_version_resolved_once_and_kept_in_state(doc):
    addons = {a["addon_name"]: a for a in of(doc, "aws_eks_addon").values()}
    assert set(addons) == set(ADDONS) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    lookups = {d["addon_name"]: f"data.aws_eks_addon_version.{name}" for name, d in of(doc, "aws_eks_addon_version", "data").items()}
    assert set(lookups) == set(ADDONS)
    for d in of(doc, "aws_eks_addon_version", "data").values():
        assert d["kubernetes_version"] == VERSION and "most_recent" not in d  # the default, not the newest build
    pins = of(doc, "terraform_data")
    for name, addon in addons.items():
        ref = addon["addon_version"]
        assert ref.startswith("${terraform_data.") and ref.endswith(".output}")
        pin = pins[ref[len("${terraform_data."):-len(".output}")]]
        assert pin["input"] == "${" + lookups[name] + ".version}"
        # a newer default changes no plan; a new Kubernetes version replaces the pin and takes its default
        assert pin["lifecycle"] == {"ignore_changes": ["input"]} and pin["triggers_replace"] == VERSION
    assert one(doc, "aws_eks_cluster")["bootstrap_self_managed_addons"] is False


def test_an_addon_version_given_explicitly_wins_over_the_default():
    doc = synth(addon_versions={"coredns": "v1.12.1-eksbuild.2"})
    addons = {a["addon_name"]: a for a in of(doc, "aws_eks_addon").values()}
    assert addons["coredns"]["addon_version"] == "v1.12.1-eksbuild.2"
    assert {d["addon_name"] for d in of(doc, "aws_eks_addon_version", "data").values()} == set(ADDONS) - {"coredns"}
    assert len(of(doc, "terraform_data")) == len(ADDONS) - 1
    assert addons["kube-proxy"]["addon_version"].startswith("${terraform_data.")


def test_ebs_csi_driver_gets_its_role_through_pod_identity(doc):
    association = by_name(doc, "aws_eks_pod_identity_association", "service_account", "ebs-csi-controller-sa")
    assert association["namespace"] == "kube-system"
    role = by_name(doc, "aws_iam_role", "name", "acme-ml-ebs-csi")
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"} and trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert any(a["policy_arn"].endswith(":policy/service-role/AmazonEBSCSIDriverPolicy") for a in of(doc, "aws_iam_role_policy_attachment").values())
    addon = by_name(doc, "aws_eks_addon", "addon_name", "aws-ebs-csi-driver")
    assert any("aws_eks_pod_identity_association.eks_ebs-csi-identity" in d for d in addon["depends_on"])


def refused(fn, *parts: str) -> None:
    """``fn``'s stack is refused with one error naming every one of ``parts``."""
    with pytest.raises(ValueError) as err:
        synth(fn)
    missing = [p for p in parts if p not in str(err.value)]
    assert not missing, (missing, str(err.value))


def test_cluster_bad_props_are_reported_together():
    def bad(stack):
        KubernetesCluster(stack, "eks", name="-bad", version="1.35.2", subnet_ids=[], vpc_id="vpc-1", kms_key_arn="arn:k",
                          endpoint_cidrs=["0.0.0.0/0", "nope"], admin_principal_arns=["someone"], log_retention_days=45, system_nodes=0,
                          support_type="BASIC", addon_versions={"metrics-server": "v0.7.2-eksbuild.1"})
    refused(bad, "name must be", "version must be a Kubernetes minor version such as '1.35', got '1.35.2'", "subnet_ids",
            "whole internet", "'nope' is not a CIDR", "admin_principal_arns", "log_retention_days", "system_nodes must be 1 or more",
            "support_type must be one of STANDARD, EXTENDED, got 'BASIC'", "addon_versions names 'metrics-server'")


def test_nodes_wait_for_the_daemonset_addons_and_the_deployment_addons_for_the_untainted_system_pool(doc):
    system = by_name(doc, "aws_eks_node_group", "node_group_name", "acme-ml-system")
    assert system["scaling_config"] == {"min_size": 2, "max_size": 2, "desired_size": 2} and "taint" not in system
    assert system["capacity_type"] == "ON_DEMAND" and by_name(doc, "aws_launch_template", "name", "acme-ml-system")["instance_type"] == "m6i.large"
    addon_refs = {a["addon_name"]: f"aws_eks_addon.{name}" for name, a in of(doc, "aws_eks_addon").items()}
    node_group_refs = {g["node_group_name"]: f"aws_eks_node_group.{name}" for name, g in of(doc, "aws_eks_node_group").items()}
    for group in of(doc, "aws_eks_node_group").values():  # every pool, the system one too
        assert {addon_refs[a] for a in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")} <= set(group["depends_on"])
    for addon in ("coredns", "aws-ebs-csi-driver"):
        assert node_group_refs["acme-ml-system"] in by_name(doc, "aws_eks_addon", "addon_name", addon)["depends_on"]
    for addon in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent"):
        assert not [d for d in by_name(doc, "aws_eks_addon", "addon_name", addon).get("depends_on", []) if "node_group" in d]


# ---- GpuNodePool -----------------------------------------------------------------------------

def test_gpu_pool_uses_the_nvidia_ami_is_tainted_labelled_and_may_idle_at_zero(doc):
    group = by_name(doc, "aws_eks_node_group", "node_group_name", "train-p5")
    assert group["ami_type"] == "AL2023_x86_64_NVIDIA"
    assert group["taint"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert group["labels"] == {"aiinfra.dev/pool": "train-p5", "aiinfra.dev/capacity-type": "capacity_block"}
    assert group["scaling_config"] == {"min_size": 0, "max_size": 2, "desired_size": 0}
    assert group["lifecycle"]["ignore_changes"] == ["scaling_config[0].desired_size"]
    assert group["update_config"] == {"max_unavailable": 1}


def test_collective_pool_has_efa_on_every_card_in_a_placement_group_and_launches_into_the_capacity_block(doc, real_catalog):
    group = by_name(doc, "aws_eks_node_group", "node_group_name", "train-p5")
    assert group["capacity_type"] == "CAPACITY_BLOCK" and len(group["subnet_ids"]) == 1
    template = by_name(doc, "aws_launch_template", "name", "train-p5")
    p5 = next(o for o in real_catalog.offers("aws") if o.instance_type == "p5.48xlarge")
    nics = template["network_interfaces"]
    assert len(nics) == p5.efa_interfaces == 32
    assert [n["network_card_index"] for n in nics] == list(range(32)) and {n["interface_type"] for n in nics} == {"efa"}
    assert all(n["associate_public_ip_address"] is False and len(n["security_groups"]) == 1
               and n["security_groups"][0].startswith("${aws_eks_cluster.")
               and n["security_groups"][0].endswith(".vpc_config[0].cluster_security_group_id}") for n in nics)
    assert template["placement"]["group_name"].startswith("${aws_placement_group.train_placement")
    assert by_name(doc, "aws_placement_group", "name", "train-p5-cluster")["strategy"] == "cluster"
    assert template["instance_market_options"] == {"market_type": "capacity-block"}
    assert template["capacity_reservation_specification"] == {"capacity_reservation_target": {"capacity_reservation_id": CB}}
    assert template["instance_type"] == "p5.48xlarge" and "instance_types" not in group
    assert group["launch_template"]["version"].endswith(".latest_version}")


def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume_with_the_key(doc):
    template = by_name(doc, "aws_launch_template", "name", "train-p5")
    assert template["metadata_options"]["http_tokens"] == "required"
    (volume,) = template["block_device_mappings"]
    assert volume["device_name"] == "/dev/xvda" and volume["ebs"]["encrypted"] is True
    assert volume["ebs"]["kms_key_id"].startswith("${aws_kms_key.") and volume["ebs"]["volume_size"] == 200
    assert "image_id" not in template and "iam_instance_profile" not in template  # EKS's, from ami_type and the node role


def test_spot_cpu_pool_has_no_taint_the_standard_ami_and_one_ordinary_interface(doc):
    group = by_name(doc, "aws_eks_node_group", "node_group_name", "data-cpu")
    assert group["capacity_type"] == "SPOT" and group["ami_type"] == "AL2023_x86_64_STANDARD" and "taint" not in group
    assert group["labels"] == {"aiinfra.dev/workload": "data", "aiinfra.dev/pool": "data-cpu", "aiinfra.dev/capacity-type": "spot"}
    assert group["scaling_config"] == {"min_size": 0, "max_size": 4, "desired_size": 1}
    (nic,) = by_name(doc, "aws_launch_template", "name", "data-cpu")["network_interfaces"]
    assert "interface_type" not in nic


def test_neuron_pool_uses_the_neuron_ami_and_taint(doc):
    group = by_name(doc, "aws_eks_node_group", "node_group_name", "serve-inf2")
    assert group["ami_type"] == "AL2023_x86_64_NEURON"
    assert group["taint"] == [{"key": "aws.amazon.com/neuron", "value": "true", "effect": "NO_SCHEDULE"}]


def test_node_role_has_the_three_eks_node_policies_and_nothing_else(doc):
    role_ref = by_name(doc, "aws_eks_node_group", "node_group_name", "train-p5")["node_role_arn"]
    role_name_ref = role_ref.replace(".arn}", ".name}")
    attached = sorted(a["policy_arn"].rsplit("/", 1)[-1] for a in of(doc, "aws_iam_role_policy_attachment").values() if a["role"] == role_name_ref)
    assert attached == ["AmazonEC2ContainerRegistryPullOnly", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"]
    assert not [p for p in of(doc, "aws_iam_role_policy").values() if p["role"] == role_name_ref]


def test_pool_bad_props_are_reported_together():
    def bad(stack):
        made = build(stack)
        GpuNodePool(stack, "bad", cluster=made["cluster"], name="bad", instance_type="p5.48xlarge", capacity_type="reserved",
                    min_size=3, max_size=2, desired_size=5, subnet_ids=["a", "b"], kms_key_arn="k", accelerator_runtime="rocm",
                    placement_group=True, capacity_reservation_id="cr-x", labels={"bad key!": "x"})
    refused(bad, "capacity_type must be", "accelerator_runtime must be", "sizes must satisfy", "desired_size", "one subnet",
            "capacity_reservation_id must look like", "label keys")


def test_capacity_block_needs_its_reservation():
    def bad(stack):
        made = build(stack)
        GpuNodePool(stack, "bad", cluster=made["cluster"], name="bad", instance_type="p5.48xlarge", capacity_type="capacity_block",
                    min_size=0, max_size=1, desired_size=None, subnet_ids=["a"], kms_key_arn="k", accelerator_runtime="cuda")
    refused(bad, "capacity_block' needs the Capacity Block's id")


# ---- PodIdentity -----------------------------------------------------------------------------

def test_pod_identity_role_is_trusted_by_eks_pods_only_and_bound_to_the_namespace_and_service_account(doc):
    role = by_name(doc, "aws_iam_role", "name", "acme-ml-train-trainer")
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"} and statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    association = by_name(doc, "aws_eks_pod_identity_association", "service_account", "trainer")
    assert association["namespace"] == "train" and association["role_arn"].endswith(".arn}")


def test_pod_identity_grants_what_the_vm_identity_grants_scoped_to_prefix_key_and_repository(doc):
    policy = json.loads(by_name(doc, "aws_iam_role_policy", "name", "acme-ml-train-trainer-own-resources")["policy"])
    grants = {s["Sid"]: s for s in policy["Statement"]}
    assert set(grants) == {"ListOwnPrefix", "ReadWriteOwnObjects", "UseOwnKeys", "PullOwnAccountImages"}
    assert grants["ReadWriteOwnObjects"]["Resource"] == [f"{BUCKET}/train/*"]
    assert grants["ListOwnPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["train/*", "train"]}}
    assert grants["UseOwnKeys"]["Resource"][0].startswith("${aws_kms_key.")
    assert grants["PullOwnAccountImages"]["Resource"] == REPO
    # The same statements as the VM identity for the same bucket, prefix and key (one function writes both).
    key_ref = grants["UseOwnKeys"]["Resource"]
    vm = synth(lambda s: WorkloadIdentity(s, "vm", name="train", bucket_arns=[BUCKET], object_prefix="train", kms_key_arns=key_ref,
                                          cloudwatch_agent=False, cluster_discovery=False, container_registry=False))
    vm_grants = {s["Sid"]: s for s in json.loads(by_name(vm, "aws_iam_role_policy", "name", "train-own-resources")["policy"])["Statement"]}
    assert {k: grants[k] for k in vm_grants} == vm_grants
    unscoped = json.loads(by_name(doc, "aws_iam_role_policy", "name", "acme-ml-train-trainer-describe")["policy"])["Statement"]
    assert unscoped[0]["Action"] == ["ecr:GetAuthorizationToken"]


def test_pod_identity_reads_the_image_signing_keys_as_the_vm_identity_does():
    signing = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    doc = synth(lambda s: PodIdentity(s, "signed", cluster=build(s)["cluster"], namespace="train", service_account="signed",
                                      bucket_arn=BUCKET, prefix="signed", kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
                                      repository_arns=[], signing_key_arns=[signing]))
    grants = json.loads(by_name(doc, "aws_iam_role_policy", "name", "acme-ml-train-signed-own-resources")["policy"])["Statement"]
    vm = synth(lambda s: WorkloadIdentity(s, "vm", name="signed", bucket_arns=[BUCKET], object_prefix="signed",
                                          kms_key_arns=["arn:aws:kms:us-east-1:123456789012:key/k"], cloudwatch_agent=False,
                                          cluster_discovery=False, container_registry=False, signing_key_arns=[signing]))
    vm_grants = json.loads(by_name(vm, "aws_iam_role_policy", "name", "signed-own-resources")["policy"])["Statement"]
    read = [g for g in vm_grants if signing in json.dumps(g["Resource"])]
    assert read and all(g in grants for g in read)


def test_pod_identity_refuses_a_bad_namespace_and_an_empty_prefix():
    def bad(stack):
        made = build(stack)
        PodIdentity(stack, "bad", cluster=made["cluster"], namespace="Train_NS", service_account="sa", bucket_arn=BUCKET, prefix="/",
                    kms_key_arn="k", repository_arns=[])
    refused(bad, "namespace must be a DNS-1123 label", "prefix must name")


def test_the_stack_synthesizes_under_the_policy_pack_in_a_users_app_with_only_the_written_waiver(tmp_path):
    from aiinfra.cdk import App, Aspects

    from aiinfra.constructs.aws import AwsProvider
    from aiinfra.policy import PolicyAspect

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "mine")
    AwsProvider(stack, "aws", region="us-east-1")
    build(stack, neuron=True)
    Aspects.of(stack).add(PolicyAspect())
    app.synth()  # raises on any violation
    assert [(w.rule, w.path) for w in construct_suppressions(stack)] == [("AIINFRA-AWS-009", "mine/train-id/unscoped-reads")]
    # Loosened in the user's stack, the cluster fails the synth with the EKS rules.
    app = App(outdir=str(tmp_path / "loose"))
    stack = TerraformStack(app, "mine")
    AwsProvider(stack, "aws", region="us-east-1")
    made = build(stack)
    made["cluster"].cluster.add_override("vpc_config.public_access_cidrs", ["0.0.0.0/0"])
    made["cluster"].cluster.add_override("encryption_config", None)
    Aspects.of(stack).add(PolicyAspect())
    with pytest.raises(Exception) as err:
        app.synth()
    assert "AIINFRA-AWS-014 mine/eks/cluster" in str(err.value) and "AIINFRA-AWS-015 mine/eks/cluster" in str(err.value)


# ---- terraform validate and one apply against the local AWS API -------------------------------

@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """Where this module's server reads the add-on versions EKS offers from, once a test writes it
    (tests/tf_harness.py: AIINFRA_TEST_EKS_ADDON_VERSIONS; until then, the harness's own list)."""
    return tmp_path_factory.mktemp("eks-addons") / "addon-versions.json"


@pytest.fixture(scope="module")
def moto_server(published):
    """A server of this module's own: it is told where published add-on versions are (the session's is not)."""
    server = started(MotoServer(env={"AIINFRA_TEST_EKS_ADDON_VERSIONS": str(published)}))
    yield server
    server.stop()


def defaults(eks, version: str) -> dict[str, str]:
    """{add-on: EKS's default version for ``version``} as the server answers DescribeAddonVersions."""
    return {a["addonName"]: v["addonVersion"] for a in eks.describe_addon_versions(kubernetesVersion=version)["addons"]
            for v in a["addonVersions"] if any(c["defaultVersion"] for c in v["compatibilities"])}


def publish_newest_as_default(eks, path: Path, version: str) -> dict[str, str]:
    """Write the server's add-on versions with each add-on's newest build made ``version``'s default (what
    EKS does when it promotes a build); returns the new defaults."""
    addons = eks.describe_addon_versions()["addons"]
    for addon in addons:
        builds = [v for v in addon["addonVersions"] if any(c["clusterVersion"] == version for c in v["compatibilities"])]
        for build in builds:
            for c in build["compatibilities"]:
                if c["clusterVersion"] == version:
                    c["defaultVersion"] = build is builds[0]
    path.write_text(json.dumps({"addons": addons}))
    return defaults(eks, version)


@pytest.fixture(scope="module")
def applied(tmp_path_factory, moto_server, published) -> dict:
    """Validate, apply, re-plan empty, re-plan empty once newer defaults are published, and destroy once;
    what the server held after the apply."""
    stack_dir = tmp_path_factory.mktemp("eks") / "stack"
    stack_dir.mkdir()
    (stack_dir / "cdk.tf.json").write_text(json.dumps(synth()))
    init(stack_dir, backend=False)
    validated = json.loads(run_terraform(["validate", "-json"], stack_dir).stdout)
    seen: dict = {"valid": validated["valid"], "diagnostics": validated["diagnostics"], "defaults": defaults(moto_server.client("eks"), VERSION)}

    def replan_after_new_defaults() -> None:
        seen["new_defaults"] = publish_newest_as_default(moto_server.client("eks"), published, VERSION)
        env = moto_server.env()
        plan = run_terraform(["plan", "-detailed-exitcode", "-out=newer.plan"], stack_dir, env=env, check=False, timeout=600)
        seen["replan_exit"], seen["replan_tail"] = plan.returncode, plan.stdout[-3000:]
        shown = json.loads(run_terraform(["show", "-json", "newer.plan"], stack_dir, env=env, timeout=120).stdout)
        resources = shown.get("prior_state", {}).get("values", {}).get("root_module", {}).get("resources", [])
        seen["looked_up"] = {r["values"]["addon_name"]: r["values"]["version"] for r in resources if r["type"] == "aws_eks_addon_version"}

    def capture(outputs: dict) -> None:
        eks, ec2, iam = moto_server.client("eks"), moto_server.client("ec2"), moto_server.client("iam")
        seen["cluster"] = eks.describe_cluster(name="acme-ml")["cluster"]
        seen["addons"] = {a: eks.describe_addon(clusterName="acme-ml", addonName=a)["addon"] for a in eks.list_addons(clusterName="acme-ml")["addons"]}
        seen["entries"] = {p: eks.describe_access_entry(clusterName="acme-ml", principalArn=p)["accessEntry"]
                           for p in eks.list_access_entries(clusterName="acme-ml")["accessEntries"]}
        seen["policies"] = eks.list_associated_access_policies(clusterName="acme-ml", principalArn=ADMIN)["associatedAccessPolicies"]
        seen["groups"] = {g: eks.describe_nodegroup(clusterName="acme-ml", nodegroupName=g)["nodegroup"]
                          for g in eks.list_nodegroups(clusterName="acme-ml")["nodegroups"]}
        seen["asg_tags"] = {g: {t["Key"]: t["Value"] for t in moto_server.client("autoscaling").describe_tags(Filters=[
            {"Name": "auto-scaling-group", "Values": [ng["resources"]["autoScalingGroups"][0]["name"]]}])["Tags"]}
            for g, ng in seen["groups"].items()}
        seen["templates"] = {t["LaunchTemplateName"]: ec2.describe_launch_template_versions(LaunchTemplateId=t["LaunchTemplateId"])
                             ["LaunchTemplateVersions"][-1]["LaunchTemplateData"] for t in ec2.describe_launch_templates()["LaunchTemplates"]}
        seen["associations"] = [eks.describe_pod_identity_association(clusterName="acme-ml", associationId=a["associationId"])["association"]
                                for a in eks.list_pod_identity_associations(clusterName="acme-ml")["associations"]]
        seen["trust"] = {a["serviceAccount"]: iam.get_role(RoleName=a["roleArn"].rsplit("/", 1)[-1])["Role"]["AssumeRolePolicyDocument"]
                         for a in seen["associations"]}
        seen["role_policy"] = iam.get_role_policy(RoleName="acme-ml-train-trainer", PolicyName="acme-ml-train-trainer-own-resources")["PolicyDocument"]
        seen["key_arn"] = next(k for k in moto_server.client("kms").list_aliases()["Aliases"] if k["AliasName"] == "alias/eks-test")["TargetKeyId"]
        seen["log_group"] = moto_server.client("logs").describe_log_groups(logGroupNamePrefix="/aws/eks/acme-ml/")["logGroups"]
        replan_after_new_defaults()
        seen["addons_after_replan"] = {a: eks.describe_addon(clusterName="acme-ml", addonName=a)["addon"]["addonVersion"]
                                       for a in eks.list_addons(clusterName="acme-ml")["addons"]}

    apply_plan_destroy(stack_dir, moto_server.env(), after_apply=capture, timeout=600)
    seen["after_destroy"] = moto_server.client("eks").list_clusters()["clusters"]
    return seen


@SKIP_NO_TERRAFORM
def test_stack_validates_with_the_aws_provider(applied):
    assert applied["valid"] is True and applied["diagnostics"] == []


@SKIP_NO_TERRAFORM
def test_applied_cluster_encrypts_secrets_logs_everything_and_has_standard_support(applied):
    cluster = applied["cluster"]
    (config,) = cluster["encryptionConfig"]
    assert config["resources"] == ["secrets"] and config["provider"]["keyArn"].endswith(applied["key_arn"])
    (logging,) = [entry for entry in cluster["logging"]["clusterLogging"] if entry["enabled"]]
    assert set(logging["types"]) == set(CONTROL_PLANE_LOGS)
    assert cluster["accessConfig"]["authenticationMode"] == "API" and cluster["upgradePolicy"]["supportType"] == "STANDARD"
    vpc = cluster["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"] and vpc["endpointPrivateAccess"] is True
    (group,) = applied["log_group"]
    assert group["retentionInDays"] == 365 and group["kmsKeyId"].endswith(applied["key_arn"])
    assert applied["after_destroy"] == []


@SKIP_NO_TERRAFORM
def test_applied_access_entries_are_the_admin_and_the_node_roles_eks_adds(applied):
    entries = applied["entries"]
    assert entries[ADMIN]["type"] == "STANDARD"
    assert [p["policyArn"].rsplit("/", 1)[-1] for p in applied["policies"]] == ["AmazonEKSClusterAdminPolicy"]
    node_roles = {g["nodeRole"] for g in applied["groups"].values()}
    assert {p for p, e in entries.items() if e["type"] == "EC2_LINUX"} == node_roles and len(node_roles) == 3  # system, train, cpu


@SKIP_NO_TERRAFORM
def test_applied_addons_run_eks_default_versions_served_for_the_clusters_kubernetes_version(applied):
    assert set(applied["defaults"]) == set(ADDONS)
    assert {n: a["addonVersion"] for n, a in applied["addons"].items()} == applied["defaults"]
    assert applied["defaults"]["kube-proxy"].startswith(f"v{VERSION}.")  # kube-proxy follows the Kubernetes minor version
    assert applied["cluster"]["version"] == VERSION


@SKIP_NO_TERRAFORM
def test_newer_defaults_published_after_the_apply_change_no_plan(applied):
    # the lookups see the new defaults, the pins keep the applied ones: nothing to change
    assert applied["looked_up"] == applied["new_defaults"] and set(applied["new_defaults"]) == set(ADDONS)
    assert all(applied["new_defaults"][a] != applied["defaults"][a] for a in ADDONS)
    assert applied["replan_exit"] == 0, applied["replan_tail"]
    assert applied["addons_after_replan"] == applied["defaults"]


@SKIP_NO_TERRAFORM
def test_applied_node_groups_carry_taints_labels_capacity_and_efa(applied):
    train, cpu = applied["groups"]["train-p5"], applied["groups"]["data-cpu"]
    assert train["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}] and not cpu.get("taints")
    assert train["labels"]["aiinfra.dev/pool"] == "train-p5" and cpu["labels"]["aiinfra.dev/capacity-type"] == "spot"
    assert train["scalingConfig"]["minSize"] == 0 and train["capacityType"] == "CAPACITY_BLOCK" and cpu["capacityType"] == "SPOT"
    assert train["amiType"] == "AL2023_x86_64_NVIDIA" and cpu["amiType"] == "AL2023_x86_64_STANDARD"
    data = applied["templates"]["train-p5"]
    assert len(data["NetworkInterfaces"]) == 32 and {n["InterfaceType"] for n in data["NetworkInterfaces"]} == {"efa"}
    cluster_sg = applied["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
    assert all(n["Groups"] == [cluster_sg] for n in data["NetworkInterfaces"])
    assert data["MetadataOptions"]["HttpTokens"] == "required" and data["Placement"]["GroupName"] == "train-p5-cluster"
    assert data["CapacityReservationSpecification"]["CapacityReservationTarget"]["CapacityReservationId"] == CB


@SKIP_NO_TERRAFORM
def test_applied_pod_identities_are_trusted_by_eks_pods_and_scoped(applied):
    by_account = {(a["namespace"], a["serviceAccount"]) for a in applied["associations"]}
    assert by_account == {("train", "trainer"), ("kube-system", "ebs-csi-controller-sa")}
    for trust in applied["trust"].values():
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"} and set(statement["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    resources = [r for s in applied["role_policy"]["Statement"] for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert "*" not in resources and f"{BUCKET}/train/*" in resources and REPO in resources


@pytest.mark.skipif(CHECKOV is None, reason="checkov is not installed (make setup puts it in .venv-checkov)")
def test_checkov_passes_on_the_eks_stack_with_its_eks_checks_run(tmp_path):
    stack_dir = tmp_path / "stacks" / "eks"
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(synth(neuron=True)))
    results = [r["results"] for r in run_checkov(tmp_path / "stacks") if "results" in r]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for r in results for c in r.get("failed_checks", [])]
    assert not failed, failed
    passed = {c["check_id"] for r in results for c in r.get("passed_checks", [])}
    # Control-plane logging, endpoint not open to 0.0.0.0/0, secrets encryption, no node SSH.
    assert {"CKV_AWS_37", "CKV_AWS_38", "CKV_AWS_58", "CKV_AWS_100"} <= passed


def test_a_pool_tells_the_cluster_autoscaler_what_its_nodes_offer_so_it_scales_up_from_zero(applied):
    """A pod asking for EFA interfaces or GPUs pends on a pool with no node; the Cluster Autoscaler then reads what a
    node would offer from the node group's Auto Scaling group tags (node-template/resources), set on the group EKS
    made. The CPU pool offers no extended resource and gets none."""
    doc = synth()
    tags = {b["tag"]["key"]: b["tag"]["value"] for b in of(doc, "aws_autoscaling_group_tag").values()}
    assert tags == {"k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": "8",
                    "k8s.io/cluster-autoscaler/node-template/resources/vpc.amazonaws.com/efa": "32"}
    assert all(b["autoscaling_group_name"].endswith(".resources[0].autoscaling_groups[0].name}") and not b["tag"]["propagate_at_launch"]
               for b in of(doc, "aws_autoscaling_group_tag").values())
    assert applied["asg_tags"]["train-p5"] == {k: v for k, v in tags.items()} and applied["asg_tags"]["data-cpu"] == {}
