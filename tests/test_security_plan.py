"""The guide's Step 4 in the plan (issue 15): what the spec asks of the stacks, each control with
its monthly list price counted in the totals, the keys' protection level, the rate arithmetic."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from aiinfra.planner import make_plan, rules
from aiinfra.planner.security import client_qps, client_rate_limit, key_protection, peak_qps, requirements, response_timeout
from aiinfra.render import plan_markdown, plan_text
from aiinfra.spec import load_spec, load_spec_text
from tests.conftest import REFERENCE, make_spec

SERVE = """
- name: reco
  type: inference
  model_size: "100MB"
  expected_qps: "1000"
  availability_requirement: "99.9%"
"""

CONTROLS = """
security_controls:
  access_management:
    - api_authentication: "OAuth2 + JWT tokens"
  data_protection:
    - key_management: "hardware_security_module"
  network_security:
    - network_segmentation: "micro-segmentation"
    - intrusion_detection: "ML-based anomaly detection"
    - vulnerability_scanning: "automated_daily_scans"
"""

GCP = "  gcp: {region: us-central1, project: acme-ml-prod}"


def plan_of(fake_catalog, workloads=SERVE, clouds="  aws: {region: us-east-1}", extra=""):
    loaded = load_spec_text(make_spec(workloads, clouds=clouds, extra=extra), catalog=fake_catalog)
    return loaded.spec, make_plan(loaded, fake_catalog)


def by(plan, control, cloud=None):
    return [c for c in plan.security if c.control == control and (cloud is None or c.cloud == cloud)]


def test_requirements_follow_the_spec_and_none_turns_one_off(fake_catalog):
    spec, _ = plan_of(fake_catalog, extra=CONTROLS)
    assert requirements(spec) == {"api_authentication", "hsm_keys", "segmentation"}
    off = CONTROLS.replace('"OAuth2 + JWT tokens"', '"none"').replace('"hardware_security_module"', '"customer_managed"')
    spec, _ = plan_of(fake_catalog, extra=off)
    assert requirements(spec) == {"segmentation"}
    spec, _ = plan_of(fake_catalog)
    assert requirements(spec) == frozenset()


def test_public_endpoint_is_filtered_and_its_requests_are_costed(fake_catalog):
    _, plan = plan_of(fake_catalog)
    (waf,) = by(plan, "edge_filtering", "aws")
    (w,) = plan.workloads
    millions = 1000 * rules.SECONDS_PER_MONTH / 1e6  # 2,628M requests a month at the expected 1000/s
    assert waf.monthly_usd == pytest.approx(5 + 4 * 1 + millions * 0.60, abs=0.01)
    assert waf.target == w.name and "AWS WAF" in waf.detail
    # The per-client limit is a tenth of the endpoint's peak over the window, and the reason shows the arithmetic.
    assert client_rate_limit(None, w) == math.ceil(round(0.10 * peak_qps(w) * rules.RATE_WINDOW_SECONDS, 6))
    assert peak_qps(w) == pytest.approx(w.replica_qps * w.max_nodes)
    assert f"{client_rate_limit(None, w):,} requests a 60 s window" in waf.reason
    # Counted in the totals, by cloud and in the headline.
    t = plan.totals
    assert t.security_monthly_usd == pytest.approx(sum(c.monthly_usd for c in plan.security), abs=0.01)
    assert t.monthly_usd == pytest.approx(t.compute_monthly_usd + t.storage_monthly_usd + t.security_monthly_usd + t.network_monthly_usd, abs=0.02)
    assert "+ security $" in plan_text(plan)


def test_internal_endpoints_and_batch_work_get_no_edge_filtering(fake_catalog):
    _, plan = plan_of(fake_catalog, workloads=SERVE + "  exposure: internal\n")
    assert not by(plan, "edge_filtering")
    train = '- name: train\n  type: training\n  gpu_requirements: "1x T4"\n  training_frequency: weekly\n  estimated_runtime: "2 hours"\n'
    _, plan = plan_of(fake_catalog, workloads=train)
    assert not by(plan, "edge_filtering") and by(plan, "segmentation")


def test_cloud_armor_is_priced_on_gcp(fake_catalog):
    _, plan = plan_of(fake_catalog, workloads=SERVE + "  cloud: gcp\n", clouds=GCP)
    (armor,) = by(plan, "edge_filtering", "gcp")
    assert "Cloud Armor" in armor.detail
    # 20 rules: rate, body size, Log4j, the default rule, and 8 preconfigured rule sets twice each (deny without a
    # body, preview with one), each $1 a month.
    assert armor.monthly_usd == pytest.approx(5 + 20 + 1000 * rules.SECONDS_PER_MONTH / 1e6 * 0.75, abs=0.01)


def test_key_levels_and_their_price(fake_catalog):
    spec, plan = plan_of(fake_catalog, workloads=SERVE + "  cloud: gcp\n", clouds=GCP)
    (key,) = by(plan, "key", "gcp")
    assert key_protection(spec, "gcp") == "SOFTWARE" and key.monthly_usd == rules.GCP_KMS_SOFTWARE_VERSION_MONTH_USD
    spec, plan = plan_of(fake_catalog, workloads=SERVE + "  cloud: gcp\n", clouds=GCP, extra=CONTROLS)
    (key,) = by(plan, "key", "gcp")
    assert key_protection(spec, "gcp") == "HSM" and "HSM" in key.detail and key.monthly_usd == rules.GCP_KMS_HSM_VERSION_MONTH_USD
    assert "rotation every 90 days adds a version" in key.reason
    # AWS KMS keys are HSM-held already; a custom key store is named in the plan.
    spec, plan = plan_of(fake_catalog, extra=CONTROLS)
    assert key_protection(spec, "aws") == "HSM"
    store = "  aws: {region: us-east-1, custom_key_store_id: cks-1234567890abcdef0}"
    spec, plan = plan_of(fake_catalog, clouds=store, extra=CONTROLS)
    (key,) = by(plan, "key", "aws")
    assert key_protection(spec, "aws") == "CLOUDHSM" and "cks-1234567890abcdef0" in key.detail and "CloudHSM" in key.reason


def test_authentication_is_listed_with_how_it_is_configured(fake_catalog):
    _, plan = plan_of(fake_catalog, extra=CONTROLS)
    (auth,) = by(plan, "api_authentication")
    assert "Terraform variables" in auth.detail
    oidc = ("  aws:\n    region: us-east-1\n    oidc: {issuer: 'https://idp.example.com', authorization_endpoint: 'https://idp.example.com/a', "
            "token_endpoint: 'https://idp.example.com/t', user_info_endpoint: 'https://idp.example.com/u', client_id: reco}")
    _, plan = plan_of(fake_catalog, clouds=oidc, extra=CONTROLS)
    (auth,) = by(plan, "api_authentication")
    assert "with clouds.aws.oidc" in auth.detail


def test_segmentation_names_only_what_the_workload_needs(fake_catalog):
    _, plan = plan_of(fake_catalog, extra=CONTROLS)
    (seg,) = by(plan, "segmentation")
    assert seg.detail == "its own security group: in from the load balancer on the serving port; out HTTPS only"
    assert "network_segmentation asks for it" in seg.reason


def test_compliance_retention_is_listed_with_its_period(fake_catalog):
    extra = "cost_optimization:\n  lifecycle_management:\n    data_retention: compliance_based\n    retention_period: '2555 days'\n"
    _, plan = plan_of(fake_catalog, extra=extra)
    (lock,) = by(plan, "retention")
    assert "2555 days" in lock.detail and "COMPLIANCE" in lock.detail
    extra = "cost_optimization:\n  lifecycle_management:\n    data_retention: compliance_based\n"
    _, plan = plan_of(fake_catalog, extra=extra)
    (lock,) = by(plan, "retention")
    assert "no default period" in lock.detail


def test_reference_plan_lists_every_step_4_control_in_json_and_markdown():
    plan = make_plan(load_spec(REFERENCE))
    d = json.loads(json.dumps(plan.to_dict()))
    controls = {(c["cloud"], c["control"]) for c in d["security"]}
    serving = next(w["cloud"] for w in d["workloads"] if w["type"] == "inference")
    assert {(serving, "edge_filtering"), (serving, "api_authentication"), ("aws", "key"), ("gcp", "key"), ("aws", "segmentation"),
            ("gcp", "segmentation")} <= controls
    assert d["totals"]["security_monthly_usd"] > 0
    md = plan_markdown(plan)
    assert "#### Security controls" in md and "Cloud KMS key at protection level HSM" in md


# ---- issue 27: per-client limits that protect, prompt-safe rules, streaming timeouts, bearer tokens ----------

BIG = """
- name: chat
  type: inference
  framework: vllm
  model_size: "8B parameters"
  gpu_requirements: "1x A100"
  expected_qps: "400"
  output_tokens_per_request: 1024
  availability_requirement: "99.9%"
"""


@pytest.mark.parametrize("clouds", ["  aws: {region: us-east-1}", GCP])
def test_one_client_gets_a_tenth_of_the_peak_and_cannot_drive_scale_out_to_the_maximum(fake_catalog, clouds):
    spec, plan = plan_of(fake_catalog, workloads=BIG + (f"  cloud: {clouds.split(':')[0].strip()}\n"), clouds=clouds)
    (w,) = plan.workloads
    (edge,) = by(plan, "edge_filtering")
    rps, _ = client_qps(spec, w)
    assert rps == pytest.approx(0.10 * w.replica_qps * w.max_nodes)
    limit = client_rate_limit(spec, w)
    assert limit == math.ceil(round(rps * 60, 6)) < peak_qps(w) * 60 / 5  # far from the whole fleet's peak
    # The reason shows the share, the peak's arithmetic and how many replicas one client alone keeps busy.
    busy = math.ceil(round(rps / (w.replica_qps * w.target_utilization), 6))
    assert busy < w.max_nodes
    assert f"{limit:,} requests a 60 s window ({rps:,.1f}/s): 10% of the endpoint's planned peak {peak_qps(w):,.0f}/s" in edge.reason
    assert f"({w.replica_qps:,.1f}/s a replica x {w.max_nodes} replicas), the default share" in edge.reason
    assert f"keeps {busy} of {w.max_nodes} replicas busy" in edge.reason
    # A backend sending the whole expected load from one address would be refused: the plan says how to allow it.
    assert "give rate_limit_per_client its rate" in edge.reason


def test_rate_limit_per_client_takes_a_rate_or_a_share(fake_catalog):
    extra = "security_controls:\n  network_security:\n    - rate_limit_per_client: \"{}\"\n"
    spec, plan = plan_of(fake_catalog, extra=extra.format("25 qps"))
    (w,), (edge,) = plan.workloads, by(plan, "edge_filtering")
    assert client_rate_limit(spec, w) == 1500 and "1,500 requests a 60 s window (25.0/s): security_controls" in edge.reason
    spec, plan = plan_of(fake_catalog, extra=extra.format("50%"))
    (w,), (edge,) = plan.workloads, by(plan, "edge_filtering")
    assert client_rate_limit(spec, w) == math.ceil(round(0.5 * peak_qps(w) * 60, 6))
    assert "50% of the endpoint's planned peak" in edge.reason and "rate_limit_per_client 50%" in edge.reason


@pytest.mark.parametrize("value", ["fast", "0 qps", "150%", "-3"])
def test_a_bad_rate_limit_per_client_is_one_line_naming_the_key(value, fake_catalog):
    from aiinfra.errors import SpecError

    text = make_spec(SERVE, extra=f"security_controls:\n  network_security:\n    - rate_limit_per_client: \"{value}\"\n")
    with pytest.raises(SpecError) as e:
        load_spec_text(text, catalog=fake_catalog)
    assert "security_controls.network_security.rate_limit_per_client" in str(e.value)


@pytest.mark.parametrize("cloud, what", [("aws", "CrossSiteScripting_BODY"), ("gcp", "preview")])
def test_the_plan_says_prompt_bodies_are_not_refused(fake_catalog, cloud, what):
    clouds = "  aws: {region: us-east-1}" if cloud == "aws" else GCP
    _, plan = plan_of(fake_catalog, workloads=SERVE + f"  cloud: {cloud}\n", clouds=clouds)
    (edge,) = by(plan, "edge_filtering")
    assert what in edge.reason and "a prompt quoting SQL, HTML, paths or URLs reaches the model" in edge.reason


LONG = """
- name: chat
  type: inference
  framework: vllm
  model_size: "70B parameters"
  gpu_requirements: "8x H200"
  expected_qps: "40"
  input_tokens_per_request: 1024
  output_tokens_per_request: 1024
  availability_requirement: "99.5%"
"""


def real_plan(workloads: str, clouds: str = "  aws: {region: us-east-1}"):
    """The bundled catalog's GPUs (bandwidth and TFLOPS), which the serving model reads."""
    return make_plan(load_spec_text(make_spec(workloads, clouds=clouds)))


def test_llm_endpoints_wait_for_long_generations(fake_catalog):
    plan = real_plan(LONG)
    (w,) = plan.workloads
    assert w.request_latency_s and w.request_latency_s > 15  # 1,024 output tokens: far beyond the old 30 s backend timeout / 4
    (t,) = by(plan, "response_timeout")
    seconds, _ = response_timeout(w)
    assert seconds == math.ceil(round(4 * w.request_latency_s, 6)) > 60
    assert f"{seconds:,} s" in t.detail and f"4 x the modelled response time {w.request_latency_s:,.1f} s" in t.reason
    # Encoders answer in milliseconds: the floor.
    _, plan = plan_of(fake_catalog)
    (t,) = by(plan, "response_timeout")
    assert t.detail.endswith(": 60 s") and "raised to the 60 s floor" in t.reason


def test_the_response_timeout_is_capped(fake_catalog):
    plan = real_plan(BIG)
    (w,) = plan.workloads
    slow = dataclasses.replace(w, request_latency_s=400.0)
    seconds, why = response_timeout(slow)
    assert seconds == rules.RESPONSE_TIMEOUT_CAP_SECONDS == 900 and "cut to the 900 s cap" in why


def test_bearer_tokens_name_what_the_model_server_verifies_on_aws_and_iap_on_gcp(fake_catalog):
    oidc = ("  aws:\n    region: us-east-1\n    oidc: {issuer: https://idp.acme.example, authorization_endpoint: https://idp.acme.example/a, "
            "token_endpoint: https://idp.acme.example/t, user_info_endpoint: https://idp.acme.example/u, client_id: reco-api}")
    _, plan = plan_of(fake_catalog, clouds=oidc, extra=CONTROLS)
    (auth,) = by(plan, "api_authentication")
    assert "Authorization: Bearer <JWT> go to the model server" in auth.detail
    assert ("jwks_uri of https://idp.acme.example/.well-known/openid-configuration" in auth.reason
            and "iss = https://idp.acme.example, aud = reco-api, exp and nbf current" in auth.reason)
    # Without tokens in api_authentication the plan says a machine client's token is answered with a redirect.
    _, plan = plan_of(fake_catalog, clouds=oidc, extra=CONTROLS.replace("OAuth2 + JWT tokens", "OAuth2"))
    (auth,) = by(plan, "api_authentication")
    assert "answered with a redirect" in auth.reason and "model server" not in auth.detail
    _, plan = plan_of(fake_catalog, workloads=SERVE + "  cloud: gcp\n", clouds=GCP, extra=CONTROLS)
    (auth,) = by(plan, "api_authentication")
    assert "Google-signed OIDC ID token" in auth.reason and "Authorization: Bearer" in auth.reason
