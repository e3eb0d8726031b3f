"""The policy pack: each rule has a compliant and a non-compliant case; loosening a default in a
user's own stack fails the synth; suppressions are per resource, written, and shown."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aiinfra.policy import RULES, RULES_BY_ID, Result, StackView, Suppression, check_stack
from tests.conftest import ROOT

KEY = "${aws_kms_key.key.arn}"
GKEY = "${google_kms_crypto_key.key.id}"


def doc(*resources: tuple[str, str, dict], backend: dict | None = None, requires: tuple[str, ...] = ()) -> dict:
    out: dict = {"resource": {}}
    if requires:  # what the spec asks of the stack, as aiinfra.policy.require records it
        out["//"] = {"aiinfra": {"requires": list(requires)}}
    for rtype, name, body in resources:
        out["resource"].setdefault(rtype, {})[name] = {**body, "//": {"metadata": {"path": f"s/{name}"}}}
    if backend:
        out["terraform"] = {"backend": backend}
    return out


def bucket(*extra):
    return doc(("aws_s3_bucket", "b", {"bucket_prefix": "x-"}), *extra)


SSE_KMS = ("aws_s3_bucket_server_side_encryption_configuration", "sse", {
    "bucket": "${aws_s3_bucket.b.id}", "rule": [{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": KEY}}]})
SSE_S3 = ("aws_s3_bucket_server_side_encryption_configuration", "sse", {
    "bucket": "${aws_s3_bucket.b.id}", "rule": [{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}]})
PAB = {"bucket": "${aws_s3_bucket.b.id}", "block_public_acls": True, "block_public_policy": True, "ignore_public_acls": True,
       "restrict_public_buckets": True}
TLS_POLICY = json.dumps({"Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": "*",
                                        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
LT = {"image_id": "ami-1", "metadata_options": {"http_tokens": "required"},
      "block_device_mappings": [{"device_name": "/dev/sda1", "ebs": {"encrypted": True, "kms_key_id": KEY}}],
      "network_interfaces": [{"associate_public_ip_address": False}]}
TPL = {"machine_type": "a3-highgpu-8g", "disk": [{"boot": True, "disk_encryption_key": {"kms_key_self_link": GKEY}},
                                                  {"type": "SCRATCH", "disk_type": "local-ssd"}],
       "network_interface": [{"subnetwork": "x"}], "service_account": {"email": "${google_service_account.a.email}", "scopes": ["x"]},
       "shielded_instance_config": {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True},
       "metadata": {"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"}}
GCS = {"name": "b", "location": "US", "uniform_bucket_level_access": True, "public_access_prevention": "enforced",
       "encryption": {"default_kms_key_name": GKEY}}
SG_LB = ("aws_lb", "lb", {"security_groups": ["${aws_security_group.lbsg.id}"]})


def tweak(body: dict, **changes) -> dict:
    return {**body, **changes}


# GKE (KubernetesCluster / GpuNodePool): the compliant bodies are what the constructs write.
GKE = {"private_cluster_config": {"enable_private_nodes": True, "enable_private_endpoint": False},
       "master_authorized_networks_config": {"gcp_public_cidrs_access_enabled": False, "cidr_blocks": [{"cidr_block": "203.0.113.0/24"}]},
       "database_encryption": {"state": "ENCRYPTED", "key_name": GKEY}, "workload_identity_config": {"workload_pool": "p.svc.id.goog"}}
GKE_POOL = {"cluster": "c", "node_config": {"service_account": "${google_service_account.nodes.email}",
                                            "oauth_scopes": ["https://www.googleapis.com/auth/logging.write"],
                                            "workload_metadata_config": {"mode": "GKE_METADATA"}}}
GKE_CASES = {
    "AIINFRA-GCP-016": (doc(("google_container_cluster", "c", GKE)),
                        doc(("google_container_cluster", "c", tweak(GKE, database_encryption={"state": "DECRYPTED"})))),
    "AIINFRA-GCP-017": (doc(("google_container_cluster", "c", GKE)),
                        doc(("google_container_cluster", "c", tweak(GKE, master_authorized_networks_config={
                            "cidr_blocks": [{"cidr_block": "0.0.0.0/0"}]})))),
    "AIINFRA-GCP-018": (doc(("google_container_node_pool", "n", GKE_POOL)),
                        doc(("google_container_node_pool", "n", tweak(GKE_POOL, node_config={"workload_metadata_config": {"mode": "GKE_METADATA"}})))),
    "AIINFRA-GCP-019": (doc(("google_container_cluster", "c", GKE), ("google_container_node_pool", "n", GKE_POOL)),
                        doc(("google_container_node_pool", "n", tweak(GKE_POOL, node_config={
                            "service_account": "a@p.iam.gserviceaccount.com", "workload_metadata_config": {"mode": "GCE_METADATA"}})))),
}


# rule id -> (compliant stack, non-compliant stack), the judged resource named "b" / "t" / "k" ...
CASES = {
    "AIINFRA-AWS-001": (bucket(SSE_KMS), bucket(SSE_S3)),
    "AIINFRA-AWS-002": (doc(("aws_launch_template", "t", LT)),
                        doc(("aws_launch_template", "t", tweak(LT, block_device_mappings=[{"device_name": "/dev/sda1", "ebs": {"encrypted": True}}])))),
    "AIINFRA-AWS-003": (doc(("aws_kms_key", "k", {"enable_key_rotation": True})), doc(("aws_kms_key", "k", {"enable_key_rotation": False}))),
    "AIINFRA-AWS-004": (bucket(("aws_s3_bucket_public_access_block", "p", PAB)),
                        bucket(("aws_s3_bucket_public_access_block", "p", tweak(PAB, block_public_policy=False)))),
    "AIINFRA-AWS-005": (bucket(("aws_s3_bucket_policy", "p", {"bucket": "${aws_s3_bucket.b.id}", "policy": TLS_POLICY})), bucket()),
    "AIINFRA-AWS-006": (doc(("aws_launch_template", "t", LT)),
                        doc(("aws_launch_template", "t", tweak(LT, metadata_options={"http_tokens": "optional"})))),
    "AIINFRA-AWS-007": (doc(("aws_launch_template", "t", LT)),
                        doc(("aws_launch_template", "t", tweak(LT, network_interfaces=[{"associate_public_ip_address": True}])))),
    "AIINFRA-AWS-008": (doc(SG_LB, ("aws_vpc_security_group_ingress_rule", "r", {"security_group_id": "${aws_security_group.lbsg.id}",
                                                                                 "cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp",
                                                                                 "from_port": 443, "to_port": 443})),
                        doc(SG_LB, ("aws_vpc_security_group_ingress_rule", "r", {"security_group_id": "${aws_security_group.nodes.id}",
                                                                                 "cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp",
                                                                                 "from_port": 22, "to_port": 22}))),
    "AIINFRA-AWS-009": (doc(("aws_iam_role_policy", "p", {"policy": json.dumps({"Statement": [
                            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/w/*"}]})})),
                        doc(("aws_iam_role_policy", "p", {"policy": json.dumps({"Statement": [
                            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]})}))),
    "AIINFRA-AWS-010": (doc(("aws_lb_listener", "l", {"protocol": "HTTPS", "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06"})),
                        doc(("aws_lb_listener", "l", {"protocol": "HTTPS", "ssl_policy": "ELBSecurityPolicy-2016-08"}))),
    "AIINFRA-AWS-011": (doc(("aws_lb", "b", {"load_balancer_type": "application", "internal": False}),
                            ("aws_wafv2_web_acl_association", "w", {"resource_arn": "${aws_lb.b.arn}",
                                                                    "web_acl_arn": "${aws_wafv2_web_acl.a.arn}"})),
                        doc(("aws_lb", "b", {"load_balancer_type": "application"}))),
    "AIINFRA-AWS-012": ({**doc(("aws_lb_listener", "l", {"protocol": "HTTPS", "default_action": [
                            {"type": "authenticate-oidc", "order": 1, "authenticate_oidc": {"issuer": "https://idp"}},
                            {"type": "forward", "order": 2, "target_group_arn": "${aws_lb_target_group.t.arn}"}]})),
                         "//": {"aiinfra": {"requires": ["api_authentication"]}}},
                        {**doc(("aws_lb_listener", "l", {"protocol": "HTTPS", "default_action": [
                            {"type": "forward", "target_group_arn": "${aws_lb_target_group.t.arn}"}]})),
                         "//": {"aiinfra": {"requires": ["api_authentication"]}}}),
    "AIINFRA-STATE-001": (doc(backend={"s3": {"bucket": "b", "key": "k", "encrypt": True}}),
                          doc(backend={"gcs": {"bucket": "b", "prefix": "p"}})),
    "AIINFRA-GCP-001": (doc(("google_storage_bucket", "b", GCS)), doc(("google_storage_bucket", "b", tweak(GCS, encryption=None)))),
    "AIINFRA-GCP-002": (doc(("google_compute_region_instance_template", "t", TPL)),
                        doc(("google_compute_region_instance_template", "t", tweak(TPL, disk=[{"boot": True}])))),
    "AIINFRA-GCP-003": (doc(("google_kms_crypto_key", "k", {"rotation_period": "7776000s"})),
                        doc(("google_kms_crypto_key", "k", {"rotation_period": "31536000s"}))),
    "AIINFRA-GCP-004": (doc(("google_storage_bucket", "b", GCS)),
                        doc(("google_storage_bucket", "b", tweak(GCS, public_access_prevention="inherited")))),
    "AIINFRA-GCP-005": (doc(("google_compute_region_instance_template", "t", TPL)),
                        doc(("google_compute_region_instance_template", "t", tweak(TPL, network_interface=[{"subnetwork": "x",
                                                                                                             "access_config": [{}]}])))),
    "AIINFRA-GCP-006": (doc(("google_compute_firewall", "f", {"direction": "INGRESS", "source_ranges": ["10.0.0.0/8"]})),
                        doc(("google_compute_firewall", "f", {"direction": "INGRESS", "source_ranges": ["0.0.0.0/0"]}))),
    "AIINFRA-GCP-007": (doc(("google_project_iam_member", "m", {"role": "roles/logging.logWriter", "member": "serviceAccount:a"})),
                        doc(("google_project_iam_member", "m", {"role": "roles/editor", "member": "serviceAccount:a"}))),
    "AIINFRA-GCP-008": (doc(("google_compute_region_instance_template", "t", TPL)),
                        doc(("google_compute_region_instance_template", "t", tweak(TPL, service_account={
                            "email": "123-compute@developer.gserviceaccount.com", "scopes": ["cloud-platform"]})))),
    "AIINFRA-GCP-009": (doc(("google_compute_region_instance_template", "t", TPL)),
                        doc(("google_compute_region_instance_template", "t", tweak(TPL, shielded_instance_config={"enable_vtpm": True})))),
    "AIINFRA-GCP-010": (doc(("google_compute_ssl_policy", "p", {"profile": "RESTRICTED", "min_tls_version": "TLS_1_2"})),
                        doc(("google_compute_ssl_policy", "p", {"profile": "COMPATIBLE", "min_tls_version": "TLS_1_0"}))),
    "AIINFRA-GCP-011": (doc(("google_compute_region_instance_template", "t", TPL)),
                        doc(("google_compute_region_instance_template", "t", tweak(TPL, metadata={"enable-oslogin": "TRUE"})))),
    "AIINFRA-AWS-013": (doc(("aws_security_group", "own", {"name": "own"}),
                            ("aws_launch_template", "t", {"vpc_security_group_ids": ["${aws_security_group.own.id}"]}), requires=("segmentation",)),
                        doc(("aws_launch_template", "t", {"vpc_security_group_ids": ["sg-0123456789abcdef0"]}), requires=("segmentation",))),
    "AIINFRA-GCP-014": (doc(("google_compute_firewall", "f", {"direction": "INGRESS", "source_service_accounts": ["a@x"],
                                                              "target_service_accounts": ["a@x"]}), requires=("segmentation",)),
                        doc(("google_compute_firewall", "f", {"direction": "INGRESS", "source_ranges": ["10.50.0.0/20"],
                                                              "target_tags": ["gpu-node"]}), requires=("segmentation",))),
    "AIINFRA-GCP-012": (doc(("google_compute_backend_service", "b", {"load_balancing_scheme": "EXTERNAL_MANAGED",
                                                                     "security_policy": "${google_compute_security_policy.p.id}"})),
                        doc(("google_compute_backend_service", "b", {"load_balancing_scheme": "EXTERNAL_MANAGED"}))),
    "AIINFRA-GCP-013": (doc(("google_compute_backend_service", "b", {"load_balancing_scheme": "EXTERNAL_MANAGED", "iap": [{"enabled": True}]}),
                            requires=("api_authentication",)),
                        doc(("google_compute_backend_service", "b", {"load_balancing_scheme": "EXTERNAL_MANAGED"}), requires=("api_authentication",))),
    "AIINFRA-GCP-015": (doc(("google_kms_crypto_key", "k", {"version_template": [{"protection_level": "HSM"}]}), requires=("hsm_keys",)),
                        doc(("google_kms_crypto_key", "k", {"version_template": [{"protection_level": "SOFTWARE"}]}), requires=("hsm_keys",))),
    **GKE_CASES,
}


# Dataproc (DataprocSparkRuns): a workflow template's managed cluster as the construct writes it (more in tests/test_spark_gcp.py).
def dataproc(**config) -> dict:
    return {"name": "t", "location": "us-central1", "placement": {"managed_cluster": {"cluster_name": "t", "config": {
        "encryption_config": {"gce_pd_kms_key_name": GKEY}, "gce_cluster_config": {"internal_ip_only": True, "subnetwork": "s"}, **config}}}}


CASES.update({
    "AIINFRA-GCP-020": (doc(("google_dataproc_workflow_template", "t", dataproc())),
                        doc(("google_dataproc_workflow_template", "t", dataproc(encryption_config={})))),
    "AIINFRA-GCP-021": (doc(("google_dataproc_workflow_template", "t", dataproc())),
                        doc(("google_dataproc_workflow_template", "t", dataproc(gce_cluster_config={"subnetwork": "s"})))),
})


def test_a_rule_judging_an_ask_does_not_apply_without_it():
    # A SOFTWARE key is fine for a spec that does not ask for HSMs; the record of the ask can come
    # from the stack or from the caller (a review passes the spec's).
    software = doc(("google_kms_crypto_key", "k", {"version_template": [{"protection_level": "SOFTWARE"}]}))
    assert results("AIINFRA-GCP-015", software) == [Result.NOT_APPLICABLE]
    only = [RULES_BY_ID["AIINFRA-GCP-015"]]
    assert check_stack("s", software, rules=only).ok and not check_stack("s", software, rules=only, requires=frozenset({"hsm_keys"})).ok


# EKS (KubernetesCluster / GpuNodePool): the compliant bodies are what the constructs write.
EKS = {"name": "c", "role_arn": "${aws_iam_role.cluster.arn}",
       "encryption_config": {"resources": ["secrets"], "provider": {"key_arn": KEY}},
       "vpc_config": {"subnet_ids": ["subnet-1"], "endpoint_private_access": True, "endpoint_public_access": True,
                      "public_access_cidrs": ["203.0.113.0/24"]}}
EKS_NODES = ("aws_eks_node_group", "n", {"cluster_name": "c", "node_role_arn": "${aws_iam_role.nodes.arn}"})
NODE_ROLE = ("aws_iam_role", "nodes", {"name": "nodes"})


def node_policy(name: str) -> tuple[str, str, dict]:
    return ("aws_iam_role_policy_attachment", name, {"role": "${aws_iam_role.nodes.name}", "policy_arn": f"arn:aws:iam::aws:policy/{name}"})


CASES.update({
    "AIINFRA-AWS-014": (doc(("aws_eks_cluster", "c", EKS)), doc(("aws_eks_cluster", "c", tweak(EKS, encryption_config=None)))),
    "AIINFRA-AWS-015": (doc(("aws_eks_cluster", "c", EKS)),
                        doc(("aws_eks_cluster", "c", tweak(EKS, vpc_config={"subnet_ids": ["subnet-1"], "endpoint_public_access": True,
                                                                          "public_access_cidrs": ["0.0.0.0/0"]})))),
    "AIINFRA-AWS-016": (doc(EKS_NODES, NODE_ROLE, node_policy("AmazonEKSWorkerNodePolicy"), node_policy("AmazonEC2ContainerRegistryPullOnly")),
                        doc(EKS_NODES, NODE_ROLE, node_policy("AmazonEKSWorkerNodePolicy"), node_policy("AdministratorAccess"))),
})


# EMR (EmrSparkRuns): the security configuration's at-rest encryption as the construct writes it (more in tests/test_spark_aws.py).
EMR_AT_REST = {"S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": KEY},
               "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": KEY, "EnableEbsEncryption": True}}


def emr_security(at_rest: dict) -> dict:
    return doc(("aws_emr_security_configuration", "c", {"name": "c", "configuration": json.dumps(
        {"EncryptionConfiguration": {"EnableAtRestEncryption": True, "AtRestEncryptionConfiguration": at_rest}})}))


CASES.update({
    "AIINFRA-AWS-017": (emr_security(EMR_AT_REST),
                        emr_security({**EMR_AT_REST, "S3EncryptionConfiguration": {"EncryptionMode": "SSE-S3"}})),
})


# The GCP data pipeline (ServingCache, ScheduledIngestion): the compliant bodies are what the constructs write.
REDIS = {"shard_count": 3, "kms_key": GKEY, "transit_encryption_mode": "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION",
         "authorization_mode": "AUTH_MODE_IAM_AUTH"}
TRANSFER = {"description": "x", "logging_config": {"log_actions": ["FIND", "COPY"], "log_action_states": ["FAILED"]}}
CASES.update({
    "AIINFRA-GCP-022": (doc(("google_redis_cluster", "r", REDIS)),
                        doc(("google_redis_cluster", "r", tweak(REDIS, transit_encryption_mode="TRANSIT_ENCRYPTION_MODE_DISABLED")))),
    "AIINFRA-GCP-023": (doc(("google_storage_transfer_job", "j", TRANSFER)),
                        doc(("google_storage_transfer_job", "j", tweak(TRANSFER, logging_config={"log_actions": ["COPY"]})))),
})


# The AWS CDN (StaticContentCdn): the compliant body is what the construct writes with a certificate of its own.
CDN = {"origin": [{"origin_id": "static-bucket", "domain_name": "${aws_s3_bucket.b.bucket_regional_domain_name}",
                   "origin_access_control_id": "${aws_cloudfront_origin_access_control.o.id}"}],
       "default_cache_behavior": {"target_origin_id": "static-bucket", "viewer_protocol_policy": "redirect-to-https"},
       "viewer_certificate": {"acm_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/x", "ssl_support_method": "sni-only",
                              "minimum_protocol_version": "TLSv1.2_2021"},
       "web_acl_id": "${aws_wafv2_web_acl.w.arn}"}
CASES.update({
    "AIINFRA-AWS-021": (doc(("aws_cloudfront_distribution", "d", CDN)),
                        doc(("aws_cloudfront_distribution", "d", tweak(CDN, origin=[{"origin_id": "static-bucket",
                                                                                     "domain_name": "b.s3.us-east-1.amazonaws.com"}])))),
    "AIINFRA-AWS-022": (doc(("aws_cloudfront_distribution", "d", CDN)), doc(("aws_cloudfront_distribution", "d", tweak(CDN, web_acl_id=None)))),
})
# The serving cache (ServingCache): the compliant body is what the construct writes.
CACHE = {"replication_group_id": "c", "at_rest_encryption_enabled": "true", "kms_key_id": KEY, "transit_encryption_enabled": True,
         "transit_encryption_mode": "required", "user_group_ids": ["${aws_elasticache_user_group.u.user_group_id}"]}
CASES.update({
    "AIINFRA-AWS-019": (doc(("aws_elasticache_replication_group", "g", CACHE)),
                        doc(("aws_elasticache_replication_group", "g", tweak(CACHE, transit_encryption_mode="preferred")))),
    "AIINFRA-AWS-020": (doc(("aws_datasync_task", "t", {"cloudwatch_log_group_arn": "${aws_cloudwatch_log_group.l.arn}",
                                                          "options": {"verify_mode": "ONLY_FILES_TRANSFERRED", "log_level": "BASIC"}})),
                        doc(("aws_datasync_task", "t", {"options": {"verify_mode": "NONE"}}))),
})

def test_eks_endpoint_left_public_by_default_and_private_only_are_judged():
    # The provider opens the endpoint to 0.0.0.0/0 when vpc_config says nothing; private only needs no allow-list.
    unset = doc(("aws_eks_cluster", "c", tweak(EKS, vpc_config={"subnet_ids": ["subnet-1"]})))
    private = doc(("aws_eks_cluster", "c", tweak(EKS, vpc_config={"subnet_ids": ["subnet-1"], "endpoint_public_access": False,
                                                                 "endpoint_private_access": True})))
    assert results("AIINFRA-AWS-015", unset) == [Result.NON_COMPLIANT]
    assert results("AIINFRA-AWS-015", private) == [Result.COMPLIANT]


def test_eks_node_role_with_a_wildcard_inline_policy_is_refused_and_another_stacks_role_is_not_judged():
    wildcard = ("aws_iam_role_policy", "p", {"role": "${aws_iam_role.nodes.id}",
                                             "policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})})
    assert results("AIINFRA-AWS-016", doc(EKS_NODES, NODE_ROLE, wildcard)) == [Result.NON_COMPLIANT]
    elsewhere = ("aws_eks_node_group", "n", {"cluster_name": "c", "node_role_arn": "arn:aws:iam::123456789012:role/nodes"})
    assert results("AIINFRA-AWS-016", doc(elsewhere)) == [Result.NOT_APPLICABLE]


def results(rule_id: str, stack_doc: dict) -> list[Result]:
    rule = RULES_BY_ID[rule_id]
    view = StackView.from_json("s", stack_doc)
    return [rule.evaluate(r, view)[0] for r in view.resources if r.type in rule.types]


def test_every_rule_has_cases_an_id_a_description_an_explanation_and_a_fix():
    assert set(CASES) == {r.id for r in RULES}
    for r in RULES:
        assert r.description and r.explanation and r.fix and r.types, r.id
        assert "\n" not in r.description


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_passes_the_compliant_case(rule_id):
    judged = results(rule_id, CASES[rule_id][0])
    assert judged and all(r is Result.COMPLIANT for r in judged)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_the_non_compliant_case(rule_id):
    assert Result.NON_COMPLIANT in results(rule_id, CASES[rule_id][1])


def test_rules_do_not_judge_other_types():
    assert results("AIINFRA-GCP-001", doc(("aws_s3_bucket", "b", {}))) == []
    rule = RULES_BY_ID["AIINFRA-GCP-001"]
    view = StackView.from_json("s", doc(("aws_s3_bucket", "b", {})))
    assert rule.evaluate(view.resources[0], view)[0] is Result.NOT_APPLICABLE


def test_violation_line_names_rule_path_and_fix():
    report = check_stack("s", CASES["AIINFRA-GCP-006"][1])
    (line,) = report.lines()
    assert line.startswith("AIINFRA-GCP-006 s/f: admits traffic from anywhere") and "; fix: narrow source_ranges" in line


def test_suppression_waives_one_resource_and_must_name_one():
    noncompliant = CASES["AIINFRA-GCP-006"][1]
    report = check_stack("s", noncompliant, [Suppression("AIINFRA-GCP-006", "s/f", "bastion for a vendor's fixed range, ticket SEC-12", "spec")])
    assert report.ok and len(report.suppressed) == 1
    wrong = check_stack("s", noncompliant, [Suppression("AIINFRA-GCP-006", "s/nothing", "reason long enough", "spec")])
    assert not wrong.ok and "names no resource" in wrong.lines()[0]
    two = doc(("google_compute_firewall", "f", {"source_ranges": ["0.0.0.0/0"]}), ("google_compute_firewall", "g", {"source_ranges": ["1.0.0.0/8"]}))
    broad = check_stack("s", two, [Suppression("AIINFRA-GCP-006", "s", "reason long enough", "spec")])
    assert any("covers 2 resources" in line for line in broad.lines())
    unknown = check_stack("s", noncompliant, [Suppression("AIINFRA-XYZ-001", "s/f", "reason long enough", "spec")])
    assert any("names no known rule" in line for line in unknown.lines())


# ---- the Aspect in a user's own stack ------------------------------------------------

from aiinfra import cdk  # noqa: E402


def user_stack_synth(tmp_path, build):
    from aiinfra.cdk import App, Aspects, TerraformStack

    from aiinfra.constructs.aws import AwsProvider
    from aiinfra.constructs.gcp import GoogleProvider
    from aiinfra.policy import PolicyAspect

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "mine")
    AwsProvider(stack, "aws", region="us-east-1")
    GoogleProvider(stack, "google", project="acme-ml-prod", region="us-central1")
    build(stack)
    Aspects.of(stack).add(PolicyAspect())
    app.synth()


def failing_lines(tmp_path, build) -> str:
    with pytest.raises(Exception) as e:
        user_stack_synth(tmp_path, build)
    return str(e.value)


def test_a_public_bucket_in_a_users_stack_fails_synth(tmp_path):
    from aiinfra.constructs.gcp import EncryptionKey, TieredStorage

    def build(s):
        key = EncryptionKey(s, "key", project="acme-ml-prod", location="us-central1", name="k1")
        storage = TieredStorage(s, "storage", project="acme-ml-prod", name="acme-ml-prod-x", location="us-central1", kms_key_id=key.id)
        storage.bucket.add_override("public_access_prevention", "inherited")
    message = failing_lines(tmp_path, build)
    assert "AIINFRA-GCP-004 mine/storage/data: public access prevention is not enforced" in message
    assert "mine/storage/logs" not in message  # only the loosened bucket


def test_an_open_security_group_in_a_users_stack_fails_synth(tmp_path):
    from aiinfra.constructs._tf import resource
    from aiinfra.constructs.aws import ClusterNetwork, EncryptionKey

    def build(s):
        key = EncryptionKey(s, "key", alias="k")
        net = ClusterNetwork(s, "net", name="n", zone_ids=["use1-az1"], log_kms_key_arn=key.arn)
        resource(s, "ssh", "aws_vpc_security_group_ingress_rule", security_group_id=net.node_security_group_id, cidr_ipv4="0.0.0.0/0",
                 ip_protocol="tcp", from_port=22, to_port=22)
    assert "AIINFRA-AWS-008 mine/ssh: ingress from anywhere to ports 22-22 (tcp)" in failing_lines(tmp_path, build)


def test_a_wildcard_policy_in_a_users_stack_fails_synth(tmp_path):
    from aiinfra.constructs._tf import policy_json, resource
    from aiinfra.constructs.aws import WorkloadIdentity

    def build(s):
        ident = WorkloadIdentity(s, "id", name="w")
        resource(s, "admin", "aws_iam_role_policy", role=ident.role_name, policy=policy_json([{"Effect": "Allow", "Action": "*", "Resource": "*"}]))
    assert "AIINFRA-AWS-009 mine/admin: allows the action wildcard *" in failing_lines(tmp_path, build)


def gcp_group(s, **kw):
    from aiinfra.constructs.gcp import ClusterNetwork, EncryptionKey, GpuInstanceGroup, WorkloadIdentity

    key = EncryptionKey(s, "key", project="acme-ml-prod", location="us-central1", name="k1")
    net = ClusterNetwork(s, "net", project="acme-ml-prod", name="n", region="us-central1")
    ident = WorkloadIdentity(s, "id", project="acme-ml-prod", account_id="acme-train")
    group = GpuInstanceGroup(s, "g", project="acme-ml-prod", name="g", region="us-central1", zones=["us-central1-a"],
                             machine_type="g2-standard-4", subnetwork=net.subnetwork_self_link, service_account_email=ident.email,
                             kms_key_id=key.id, target_size=1, **kw)
    return group, net


def test_loosened_node_defaults_in_a_users_stack_fail_synth(tmp_path):
    def build(s):
        group, net = gcp_group(s, secure_boot=False)
        # cdktf's escape hatch, as with the prebuilt bindings: a path into the synthesized arguments.
        group.templates["on-demand"].add_override("network_interface.0.access_config", [{}])
    message = failing_lines(tmp_path, build)
    assert "AIINFRA-GCP-009 mine/g/template: shielded VM has enable_secure_boot off" in message
    assert "AIINFRA-GCP-005 mine/g/template: network interface 0 has an external IP" in message


def test_suppression_on_the_construct_is_honoured(tmp_path):
    from aiinfra.policy import suppress

    def build(s):
        group, _ = gcp_group(s, secure_boot=False, image="projects/acme-ml-prod/global/images/custom-driver")
        suppress(group.templates["on-demand"], "AIINFRA-GCP-009", "custom image with an unsigned driver build; tracked in SEC-7")
    user_stack_synth(tmp_path, build)  # no exception
    with pytest.raises(ValueError, match="needs a written reason"):
        suppress(cdk.Testing.app(), "AIINFRA-GCP-009", " ")


# ---- through aiinfra synth -----------------------------------------------------------

def run_cli(*args, cwd) -> subprocess.CompletedProcess:
    import os
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def test_spec_exceptions_show_in_the_plan_and_bad_ones_fail_synth_atomically(tmp_path):
    text = (ROOT / "examples" / "gcp-only.yaml").read_text()
    good = text + ("security_exceptions:\n  - rule: AIINFRA-GCP-009\n"
                   "    resource: acme-ml-production-gcp-llm-pretrain/nodes/template\n"
                   "    reason: \"vendor image with an unsigned NCCL plugin driver; SEC-31\"\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(good)
    plan = run_cli("plan", str(spec), cwd=tmp_path)
    assert plan.returncode == 0 and "Security exceptions" in plan.stdout
    assert "AIINFRA-GCP-009 acme-ml-production-gcp-llm-pretrain/nodes/template: vendor image" in plan.stdout
    assert json.loads(run_cli("plan", str(spec), "--format", "json", cwd=tmp_path).stdout)["security_exceptions"][0]["rule"] == "AIINFRA-GCP-009"
    # The node template is compliant, so the exception names nothing it waives: still a valid synth, and it says so.
    out = tmp_path / "out"
    r = run_cli("synth", str(spec), "--out", str(out), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "AIINFRA-GCP-009 acme-ml-production-gcp-llm-pretrain/nodes/template: exception not needed, the resource complies (spec)" in r.stderr
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    spec.write_text(good.replace("llm-pretrain/nodes/template", "llm-pretrain/nodes/nothing-here"))
    r = run_cli("synth", str(spec), "--out", str(out), "-q", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(
        "AIINFRA-GCP-009 acme-ml-production-gcp-llm-pretrain/nodes/nothing-here: suppression names no resource")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_cdktf_synth_app_fails_on_policy_problems_in_one_line_each(tmp_path):
    import os

    spec = tmp_path / "spec.yaml"
    spec.write_text((ROOT / "examples" / "gcp-only.yaml").read_text() + "security_exceptions:\n  - rule: AIINFRA-GCP-001\n"
                    "    resource: acme-ml-production-gcp-foundation/storage\n    reason: \"covers both buckets, which is refused\"\n")
    env = {**os.environ, "AIINFRA_SPEC": str(spec), "CDKTF_OUTDIR": str(tmp_path / "cdktf.out")}
    r = subprocess.run([sys.executable, str(ROOT / "main.py")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("AIINFRA-GCP-001 acme-ml-production-gcp-foundation/storage: suppression covers 2 resources")
    assert not (tmp_path / "cdktf.out").exists()
