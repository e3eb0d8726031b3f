"""The guide's Step 4 in the synthesized stacks (issue 15), both clouds from one spec: edge filtering
on every public endpoint, API authentication, HSM keys, threat detection and scanning, per-workload
segmentation, signed images, compliance retention; what the spec asks is recorded in each stack
for the policy pack; what the account owner must supply is a Terraform variable and a note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


from aiinfra.planner import make_plan, rules  # noqa: E402
from aiinfra.planner.security import client_rate_limit, endpoint_timeout, peak_qps  # noqa: E402
from aiinfra.spec import load_spec  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

PEM = "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexample0key0material0for0tests0only0000\\n-----END PUBLIC KEY-----\\n"
SPEC = f"""
project: acme-ml
environment: production
clouds:
  aws:
    region: us-east-1
    ami_id: ami-0123456789abcdef0
    certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666
    alert_emails: [ml-oncall@acme-ml.example.com]
    custom_key_store_id: cks-1234567890abcdef0
    oidc:
      issuer: https://login.acme-ml.example.com
      authorization_endpoint: https://login.acme-ml.example.com/oauth2/authorize
      token_endpoint: https://login.acme-ml.example.com/oauth2/token
      user_info_endpoint: https://login.acme-ml.example.com/oauth2/userinfo
      client_id: reco-api
  gcp:
    region: us-central1
    project: acme-ml-prod
    domains: [reco.acme-ml.example.com]
    alert_emails: [ml-oncall@acme-ml.example.com]
workload_inventory:
  - name: train
    type: training
    gpu_requirements: "16x A100"
    model_size: "2B parameters"
    training_frequency: weekly
    estimated_runtime: "12 hours"
    cloud: aws
    image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/train@sha256:{'a' * 64}"
    image_signing_key: "awskms:///arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  - name: reco-aws
    type: inference
    model_size: "100MB"
    expected_qps: "1000"
    availability_requirement: "99.9%"
    cloud: aws
    image: "nvcr.io/nvidia/tritonserver:24.08-py3"
    image_signing_key: "{PEM}"
  - name: reco-gcp
    type: inference
    model_size: "100MB"
    expected_qps: "500"
    availability_requirement: "99.9%"
    cloud: gcp
    image: "nvcr.io/nvidia/tritonserver:24.08-py3"
    image_signing_key: "gcpkms://projects/acme-ml-prod/locations/global/keyRings/signing/cryptoKeys/cosign/cryptoKeyVersions/1"
security_controls:
  access_management:
    - api_authentication: "OAuth2 + JWT tokens"
  data_protection:
    - key_management: "hardware_security_module"
  network_security:
    - network_segmentation: "micro-segmentation"
    - intrusion_detection: "ML-based anomaly detection"
    - vulnerability_scanning: "automated_daily_scans"
    - rate_limit_per_client: "40 qps"
cost_optimization:
  lifecycle_management:
    data_retention: compliance_based
    retention_period: "2555 days"
"""
AWS = "acme-ml-production-aws-"
GCP = "acme-ml-production-gcp-"


def synth(spec: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out)], capture_output=True, text=True,
                          env=env, cwd=out.parent, timeout=600)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    spec = root / "spec.yaml"
    spec.write_text(SPEC)
    r = synth(spec, root / "cdktf.out")
    assert r.returncode == 0, r.stderr
    return root / "cdktf.out", r.stderr, make_plan(load_spec(spec))


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The aws-only example: no security_controls block."""
    root = tmp_path_factory.mktemp("plain")
    r = synth(ROOT / "examples" / "aws-only.yaml", root / "cdktf.out")
    assert r.returncode == 0, r.stderr
    return root / "cdktf.out", r.stderr


def stack(out: Path, name: str) -> dict:
    return json.loads((out / "stacks" / name / "cdk.tf.json").read_text())


def resources(doc: dict, rtype: str) -> list[dict]:
    return list((doc.get("resource") or {}).get(rtype, {}).values())


def test_every_stack_records_what_the_spec_asks(full, plain):
    out, _, _ = full
    for d in (out / "stacks").iterdir():
        assert stack(out, d.name)["//"]["aiinfra"]["requires"] == ["api_authentication", "hsm_keys", "segmentation"], d.name
    out, _ = plain
    assert all("aiinfra" not in stack(out, d.name)["//"] for d in (out / "stacks").iterdir())


def test_public_aws_endpoint_is_behind_a_web_acl_sized_from_the_plan(full, plain):
    out, _, plan = full
    doc = stack(out, f"{AWS}reco-aws")
    (acl,) = resources(doc, "aws_wafv2_web_acl")
    (assoc,) = resources(doc, "aws_wafv2_web_acl_association")
    assert "aws_lb" in assoc["resource_arn"]
    rate = next(r for r in acl["rule"] if "rate_based_statement" in json.dumps(r["statement"]))
    w = next(x for x in plan.workloads if x.name == "reco-aws")
    statement = rate["statement"]["rate_based_statement"]
    spec = load_spec(out.parent / "spec.yaml").spec
    # the spec's rate_limit_per_client (40/s over 60 s), not the whole fleet's peak
    assert statement["limit"] == client_rate_limit(spec, w) == 2400 < peak_qps(w) * 60
    assert statement["evaluation_window_sec"] == rules.RATE_WINDOW_SECONDS
    groups = {r["statement"]["managed_rule_group_statement"]["name"] for r in acl["rule"] if "managed_rule_group_statement" in r["statement"]}
    assert groups == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    (logging,) = resources(doc, "aws_wafv2_web_acl_logging_configuration")
    assert logging["logging_filter"]["default_behavior"] == "DROP"  # blocked and counted requests only
    # Without a security_controls block the endpoint is filtered all the same (a default, not an ask).
    out, _ = plain
    assert resources(stack(out, f"{AWS}recommendation-inference"), "aws_wafv2_web_acl_association")


def test_aws_endpoint_authenticates_with_the_spec_identity_provider_and_a_secret_variable(full):
    out, notes, _ = full
    doc = stack(out, f"{AWS}reco-aws")
    (listener,) = resources(doc, "aws_lb_listener")
    first, second = sorted(listener["default_action"], key=lambda a: a["order"])
    assert first["type"] == "authenticate-oidc" and second["type"] == "forward"
    assert first["authenticate_oidc"]["issuer"] == "https://login.acme-ml.example.com"
    assert first["authenticate_oidc"]["client_secret"] == "${var.oidc_client_secret}"
    assert doc["variable"]["oidc_client_secret"]["sensitive"] is True
    assert f"{AWS}reco-aws: reco-aws's endpoint authenticates callers with https://login.acme-ml.example.com" in notes


def test_aws_bearer_tokens_reach_the_model_server_through_a_waived_rule_and_streams_keep_their_connection(full):
    out, notes, plan = full
    doc = stack(out, f"{AWS}reco-aws")
    (rule,) = resources(doc, "aws_lb_listener_rule")  # "OAuth2 + JWT tokens": machine clients' JWTs skip the OIDC redirect
    assert rule["condition"][0]["http_header"] == {"http_header_name": "Authorization", "values": ["Bearer eyJ*"]}
    # The policy pack judges the rule unauthenticated; the stack waives it for that one rule, with the reason, in synth's output.
    (waiver,) = [line for line in notes.splitlines() if "AIINFRA-AWS-012" in line]
    assert "bearer-tokens: suppressed" in waiver and "the model server verifies each token" in waiver
    w = next(x for x in plan.workloads if x.name == "reco-aws")
    spec = load_spec(out.parent / "spec.yaml").spec
    (lb,) = resources(doc, "aws_lb")
    assert lb["idle_timeout"] == endpoint_timeout(spec, w) >= 60


def test_gcp_endpoint_throttles_one_client_previews_prompt_bodies_and_waits_for_responses(full):
    out, _, plan = full
    doc = stack(out, f"{GCP}reco-gcp")
    (policy,) = resources(doc, "google_compute_security_policy")
    (throttle,) = [r for r in policy["rule"] if r["action"] == "throttle"]
    assert throttle["rate_limit_options"]["rate_limit_threshold"] == {"count": 2400, "interval_sec": 60}
    assert sum(1 for r in policy["rule"] if r.get("preview") is True) == 8  # the 8 rule sets on prompt bodies
    w = next(x for x in plan.workloads if x.name == "reco-gcp")
    (backend,) = resources(doc, "google_compute_backend_service")
    assert backend["timeout_sec"] == endpoint_timeout(load_spec(out.parent / "spec.yaml").spec, w) >= 60


def test_aws_without_identity_provider_settings_asks_for_them_never_opens_the_endpoint(tmp_path):
    spec = tmp_path / "spec.yaml"
    text = SPEC.split("    oidc:")[0] + "  gcp:" + SPEC.split("  gcp:")[1]
    spec.write_text(text)
    r = synth(spec, tmp_path / "cdktf.out")
    assert r.returncode == 0, r.stderr
    doc = stack(tmp_path / "cdktf.out", f"{AWS}reco-aws")
    (listener,) = resources(doc, "aws_lb_listener")
    action = next(a for a in listener["default_action"] if a["type"] == "authenticate-oidc")
    assert action["authenticate_oidc"]["issuer"] == "${var.oidc_issuer}"
    for name in ("oidc_issuer", "oidc_authorization_endpoint", "oidc_token_endpoint", "oidc_user_info_endpoint", "oidc_client_id"):
        assert "default" not in doc["variable"][name] and doc["variable"][name]["nullable"] is False
    assert "clouds.aws.oidc is not set" in r.stderr


def test_keys_are_hsm_backed_on_both_clouds(full):
    out, _, _ = full
    (key,) = resources(stack(out, f"{AWS}foundation"), "aws_kms_key")
    assert key["custom_key_store_id"] == "cks-1234567890abcdef0" and key["enable_key_rotation"] is False
    (gkey,) = resources(stack(out, f"{GCP}foundation"), "google_kms_crypto_key")
    assert gkey["version_template"]["protection_level"] == "HSM"


def test_threat_detection_and_scanning_route_findings_to_the_alerts(full, plain):
    out, notes, _ = full
    doc = stack(out, f"{AWS}foundation")
    assert resources(doc, "aws_guardduty_detector")
    features = {f["name"] for f in resources(doc, "aws_guardduty_detector_feature")}
    assert features == {"S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RUNTIME_MONITORING"}
    (inspector,) = resources(doc, "aws_inspector2_enabler")
    assert inspector["resource_types"] == ["EC2", "ECR"]  # the training image is in the account's ECR
    targets = resources(doc, "aws_cloudwatch_event_target")
    assert len(targets) == 2 and all("aws_sns_topic" in t["arn"] for t in targets)
    gdoc = stack(out, f"{GCP}foundation")
    (scc,) = resources(gdoc, "google_scc_v2_project_notification_config")
    assert 'severity = "HIGH"' in scc["streaming_config"]["filter"]
    services = {s["service"] for s in resources(gdoc, "google_project_service")}
    assert {"securitycenter.googleapis.com", "osconfig.googleapis.com", "iap.googleapis.com"} <= services
    assert "Security Command Center must be activated" in notes
    out, _ = plain
    assert not resources(stack(out, f"{AWS}foundation"), "aws_guardduty_detector")  # not asked for: not deployed, not billed


def test_gcp_nodes_report_to_vm_manager(full):
    out, _, _ = full
    doc = stack(out, f"{GCP}reco-gcp")
    templates = resources(doc, "google_compute_region_instance_template")
    assert templates and all(t["metadata"]["enable-osconfig"] == "TRUE" for t in templates)


def test_signed_images_give_the_nodes_only_the_public_key(full):
    out, _, _ = full
    policies = json.dumps(resources(stack(out, f"{AWS}train"), "aws_iam_role_policy"))
    assert "kms:GetPublicKey" in policies and "key/1234abcd-12ab-34cd-56ef-1234567890ab" in policies
    members = resources(stack(out, f"{GCP}reco-gcp"), "google_kms_crypto_key_iam_member")
    assert any(m["role"] == "roles/cloudkms.publicKeyViewer" and m["crypto_key_id"].endswith("cryptoKeys/cosign") for m in members)


def test_compliance_retention_locks_the_aws_bucket_and_allows_per_object_locks_on_gcp(full):
    out, notes, _ = full
    (lock,) = resources(stack(out, f"{AWS}foundation"), "aws_s3_bucket_object_lock_configuration")
    assert lock["rule"]["default_retention"] == {"mode": "COMPLIANCE", "days": 2555}
    buckets = resources(stack(out, f"{GCP}foundation"), "google_storage_bucket")
    data = next(b for b in buckets if b["labels"]["tier"] == "data")
    assert data["enable_object_retention"] is True and "retention_policy" not in data
    assert "--retention-mode=locked" in notes


def test_every_aws_security_group_text_is_one_ec2_accepts(full, plain):
    # moto takes any text; EC2 refuses a description with a character outside its set (an apostrophe, say) at apply.
    from aiinfra.constructs.aws.node_security_group import RULE_TEXT, SG_TEXT

    assert not RULE_TEXT.fullmatch("traffic between this workload's nodes")  # what the check is for
    checked = 0
    for out in (full[0], plain[0]):
        for d in (out / "stacks").iterdir():
            doc = stack(out, d.name)
            for g in resources(doc, "aws_security_group"):
                assert SG_TEXT.fullmatch(g["description"]) and SG_TEXT.fullmatch(g["name"]), (d.name, g["description"])
                checked += 1
            for rtype in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
                for r in resources(doc, rtype):
                    assert RULE_TEXT.fullmatch(r.get("description", "")), (d.name, r.get("description"))
                    checked += 1
    assert checked > 20
