"""The cloud side of serving on the Kubernetes platform (stacks/kubernetes_serving.py): a serving workload's stack
makes what its in-cluster exposure names (certificate, WAF web ACL / Cloud Armor policy, TLS policy, IAP access), with
the VM endpoint's constructs, and the objects it feeds (the Ingress / Gateway policies, in the YAML synth writes)
name them. Synth on AWS and GCP specs with public and internal endpoints and API authentication; the GCP stacks
against the google provider's schema (tests/gcp_schema.py); the AWS ones are Terraform-validated with every example
(tests/test_validate_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.gcp_schema import check_stack
from tests.test_kubernetes_stacks import _synth, of, stacks_of

PREFIX = "acme-ml-production-"
SERVING = """
  - name: ai-inference
    type: inference
    model_size: "100MB"
    expected_qps: "1000"
    availability_requirement: "99.9%"
    image: "nvcr.io/nvidia/tritonserver:24.08-py3"
  - name: ai-internal
    type: inference
    model_size: "100MB"
    expected_qps: "100"
    exposure: internal
    image: "nvcr.io/nvidia/tritonserver:24.08-py3"
"""
AUTH = """security_controls:
  access_management:
    - api_authentication: "OAuth2 + JWT tokens"
"""
AWS_SPEC = f"""project: acme-ml
environment: production
clouds:
  aws:
    region: us-east-1
    platform: kubernetes
    kubernetes: {{endpoint_cidrs: ["203.0.113.0/24"]}}
    oidc:
      issuer: https://idp.acme-ml.example.com
      authorization_endpoint: https://idp.acme-ml.example.com/authorize
      token_endpoint: https://idp.acme-ml.example.com/token
      user_info_endpoint: https://idp.acme-ml.example.com/userinfo
      client_id: aiinfra-serving
{AUTH}workload_inventory:{SERVING}  - name: ai-later
    type: inference
    model_size: "100MB"
    expected_qps: "100"
"""
GCP_SPEC = f"""project: acme-ml
environment: production
clouds:
  gcp:
    region: us-central1
    project: acme-ml-prod
    platform: kubernetes
    domains: [api.acme-ml.example.com]
    iap_members: ["group:ml-callers@acme-ml.example.com"]
    kubernetes: {{endpoint_cidrs: ["203.0.113.0/24"]}}
{AUTH}workload_inventory:{SERVING}"""


def _yaml_docs(out: Path, cloud: str) -> dict[tuple[str, str], dict]:
    folder = out.parent / "kubernetes" / f"{PREFIX}{cloud}-cluster"
    docs = [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml")) if p.name != "kustomization.yaml"]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    stacks, said = _synth(tmp_path_factory.mktemp("serving-aws"), AWS_SPEC)
    return stacks_of(stacks), _yaml_docs(stacks, "aws"), said


@pytest.fixture(scope="module")
def gcp(tmp_path_factory):
    stacks, said = _synth(tmp_path_factory.mktemp("serving-gcp"), GCP_SPEC)
    return stacks_of(stacks), _yaml_docs(stacks, "gcp"), said


def test_a_public_aws_endpoint_keeps_its_waf_web_acl_attached_by_the_controller(aws):
    stacks, docs, said = aws
    public, internal = stacks["aws-ai-inference"], stacks["aws-ai-internal"]
    (acl,) = of(public, "aws_wafv2_web_acl")
    assert acl["scope"] == "REGIONAL" and acl["name"] == "acme-ml-prod-ai-inference"
    assert "aws_wafv2_web_acl_association" not in public["resource"]  # the controller attaches it (wafv2-acl-arn)
    assert {"endpoint_certificate_arn", "web_acl_arn"} <= set(public["output"])
    assert "certificate_arn" in public["variable"]  # no certificate in the spec: asked for, as on VMs
    assert "aws_wafv2_web_acl" not in internal["resource"] and "web_acl_arn" not in internal["output"]
    notes = docs[("Ingress", "ai-inference")]["metadata"]["annotations"]
    assert notes["alb.ingress.kubernetes.io/wafv2-acl-arn"].startswith("${") and notes["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    internal_notes = docs[("Ingress", "ai-internal")]["metadata"]["annotations"]
    assert "alb.ingress.kubernetes.io/wafv2-acl-arn" not in internal_notes and internal_notes["alb.ingress.kubernetes.io/scheme"] == "internal"


def test_aws_authentication_is_kept_with_the_spec_identity_provider(aws):
    _, docs, said = aws
    for name in ("ai-inference", "ai-internal"):
        notes = docs[("Ingress", name)]["metadata"]["annotations"]
        assert notes["alb.ingress.kubernetes.io/auth-type"] == "oidc"
        idp = yaml.safe_load(notes["alb.ingress.kubernetes.io/auth-idp-oidc"])
        assert idp["issuer"] == "https://idp.acme-ml.example.com" and idp["secretName"] == f"{name}-oidc"
    assert "Secret production/ai-inference-oidc" in said


def test_a_public_gke_endpoint_keeps_armor_tls_and_iap(gcp):
    stacks, docs, said = gcp
    public = stacks["gcp-ai-inference"]
    assert check_stack(public) == [] and check_stack(stacks["gcp-ai-internal"]) == []
    (armor,) = of(public, "google_compute_security_policy")
    (tls,) = of(public, "google_compute_ssl_policy")
    assert (tls["profile"], tls["min_tls_version"]) == ("RESTRICTED", "TLS_1_2")
    (cert,) = of(public, "google_compute_managed_ssl_certificate")
    assert cert["managed"]["domains"] == ["api.acme-ml.example.com"]
    (grant,) = of(public, "google_iap_web_iam_member")
    assert grant["role"] == "roles/iap.httpsResourceAccessor" and grant["member"] == "group:ml-callers@acme-ml.example.com"
    assert grant["condition"]["expression"] == 'request.host == "api.acme-ml.example.com"'
    backend = docs[("GCPBackendPolicy", "ai-inference")]["spec"]["default"]
    assert backend["securityPolicy"] == armor["name"] and backend["iap"] == {"enabled": True}
    assert docs[("GCPGatewayPolicy", "ai-inference")]["spec"]["default"]["sslPolicy"] == tls["name"]
    listener = docs[("Gateway", "ai-inference")]["spec"]["listeners"][0]
    assert listener["tls"]["options"]["networking.gke.io/pre-shared-certs"] == cert["name"]


def test_an_internal_gke_endpoint_is_regional_without_armor(gcp):
    stacks, docs, said = gcp
    internal = stacks["gcp-ai-internal"]
    assert "google_compute_security_policy" not in internal["resource"]
    (tls,) = of(internal, "google_compute_region_ssl_policy")
    assert tls["region"] == "us-central1" and tls["profile"] == "RESTRICTED"
    assert "certificate_manager_certs" in internal["variable"] and "certificate_manager_certs" in said
    assert docs[("Gateway", "ai-internal")]["spec"]["gatewayClassName"] == "gke-l7-rilb"
    assert "securityPolicy" not in docs[("GCPBackendPolicy", "ai-internal")]["spec"]["default"]


def test_a_serving_workload_without_an_image_asks_for_it(aws):
    stacks, docs, said = aws
    assert "image" in stacks["aws-ai-later"]["variable"] and "image" not in stacks["aws-ai-inference"].get("variable", {})
    [c] = docs[("Deployment", "ai-later")]["spec"]["template"]["spec"]["containers"]
    assert c["image"].startswith("${")  # the workload stack's variable, filled in at apply (variables.env for GitOps)
    assert "no image for ai-later" in said
