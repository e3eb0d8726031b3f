"""The guide's Step 4 in the plan (issue 15): what the spec asks of the stacks, each control with
its monthly list price counted in the totals, the keys' protection level, the rate arithmetic."""

from __future__ import annotations

import json
import math

import pytest

from aiinfra.planner import make_plan, rules
from aiinfra.planner.security import client_rate_limit, key_protection, peak_qps, requirements
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
    # The per-client limit is the endpoint's peak over the window, and the reason shows the arithmetic.
    assert client_rate_limit(w) == math.ceil(peak_qps(w) * rules.RATE_WINDOW_SECONDS)
    assert peak_qps(w) == pytest.approx(w.replica_qps * w.max_nodes)
    assert f"{client_rate_limit(w):,} requests a 60 s window" in waf.reason
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
    assert armor.monthly_usd == pytest.approx(5 + 12 + 1000 * rules.SECONDS_PER_MONTH / 1e6 * 0.75, abs=0.01)


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
