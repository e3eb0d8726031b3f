"""Issue 27, plan side: storage that does not age live data away (noncurrent versions expire, live
data tiered by access, archive prefixes alone by age, the classes' terms in the reasons) and the
network charges the plan used to leave out (NAT, load balancers, internet egress, flow logs), each a
line with its arithmetic and all of them in the totals the budgets are set at."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aiinfra.planner import make_plan, rules
from aiinfra.render import plan_markdown, plan_text
from aiinfra.spec import load_spec_text
from tests.conftest import ROOT, make_spec

TRAIN = '''
- name: "train"
  type: "training"
  dataset_size: "500GB"
  model_size: "2B parameters"
  gpu_requirements: "8x A100"
  training_frequency: "weekly"
  estimated_runtime: "12 hours"
'''
SERVE = '''
- name: "serve"
  type: "inference"
  model_size: "100MB"
  expected_qps: "200"
  latency_sla: "100ms"
  availability_requirement: "99.9%"
'''
GCP = "  gcp: {project: acme-ml-prod, region: us-central1}"


def plan_of(catalog, workloads: str, extra: str = "", clouds: str = "  aws: {region: us-east-1}"):
    plan = make_plan(load_spec_text(make_spec(workloads, clouds=clouds, extra=extra)), catalog)
    assert not plan.errors, plan.errors
    return plan


def lifecycle(**keys) -> str:
    return "cost_optimization:\n  lifecycle_management:\n" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in keys.items())


# ---- lifecycle -------------------------------------------------------------------------------

@pytest.mark.parametrize("clouds", ["  aws: {region: us-east-1}", GCP])
def test_noncurrent_versions_expire_after_the_default_and_the_spec_key(fake_catalog, clouds):
    (s,) = plan_of(fake_catalog, TRAIN, clouds=clouds).storage
    assert s.noncurrent_expiration_days == rules.NONCURRENT_EXPIRATION_DAYS == 30
    assert "noncurrent versions expire 30 days after they are replaced (the default)" in s.reason
    (s90,) = plan_of(fake_catalog, TRAIN, lifecycle(noncurrent_version_expiration="90_days"), clouds).storage
    assert s90.noncurrent_expiration_days == 90 and "(cost_optimization.lifecycle_management.noncurrent_version_expiration)" in s90.reason
    # Replaced checkpoints are costed for as long as they are kept: three times the days, three times the bytes.
    assert s.noncurrent_gib > 0 and s90.noncurrent_gib == pytest.approx(3 * s.noncurrent_gib, abs=2)
    (kept,) = plan_of(fake_catalog, TRAIN, lifecycle(noncurrent_version_expiration="never"), clouds).storage
    assert kept.noncurrent_expiration_days is None and "kept (noncurrent_version_expiration: never)" in kept.reason
    assert kept.noncurrent_monthly_usd > s90.noncurrent_monthly_usd


def test_replaced_checkpoints_are_costed_at_a_checkpoint_an_hour_of_training(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN)
    (s,), (w,) = plan.storage, plan.workloads
    checkpoint = 2e9 * rules.TRAINING_BYTES_PER_PARAMETER  # 2B parameters, full training
    written = checkpoint * w.runs_per_month * w.runtime_hours / rules.CHECKPOINT_INTERVAL_HOURS  # bytes replaced a month
    held_gib = written / 2**30 * 30 * 24 / rules.HOURS_PER_MONTH
    assert s.noncurrent_gib == pytest.approx(held_gib, abs=1)
    assert s.noncurrent_monthly_usd == pytest.approx(held_gib * rules.S3_IT_FREQUENT_GB_MONTH_USD, abs=0.01)
    # In the storage total, so in the plan's total.
    parts = sum(t.monthly_usd for t in s.tiers) + s.noncurrent_monthly_usd + s.tiering_fee_monthly_usd
    assert s.monthly_usd == pytest.approx(parts, abs=0.02) and plan.totals.storage_monthly_usd == s.monthly_usd


def test_compliance_locks_outlive_the_expiry_without_keeping_every_version_forever(fake_catalog):
    extra = lifecycle(data_retention="compliance_based", retention_period="400 days")
    (s,) = plan_of(fake_catalog, TRAIN, extra).storage
    (plain,) = plan_of(fake_catalog, TRAIN).storage
    assert s.noncurrent_expiration_days == 30 and "locked ones after their 400-day lock" in s.reason
    assert s.noncurrent_gib == pytest.approx(plain.noncurrent_gib * 400 / 30, rel=0.01)


@pytest.mark.parametrize("clouds, live, cold_class", [("  aws: {region: us-east-1}", "INTELLIGENT_TIERING", "INTELLIGENT_TIERING"),
                                                       (GCP, "AUTOCLASS", "AUTOCLASS")])
def test_live_data_is_tiered_by_access_and_never_put_in_an_archive_class_by_age(fake_catalog, clouds, live, cold_class):
    (s,) = plan_of(fake_catalog, TRAIN + SERVE, clouds=clouds).storage
    tiers = {t.tier: t for t in s.tiers}
    assert s.live_tiering == live and tiers["warm"].storage_class == live and tiers["cold"].storage_class == cold_class
    assert not {t.storage_class for t in s.tiers} & {"STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE", "NEARLINE", "COLDLINE", "ARCHIVE"}
    assert s.archive_prefixes == [] and "never moved by age alone" in s.reason
    assert "no retrieval" in tiers["warm"].reason and s.retrieval_monthly_usd == 0 and s.early_deletion_monthly_usd == 0
    # The per-object fee, at the documented mean object size.
    objects = (tiers["warm"].size_gib + tiers["cold"].size_gib + s.noncurrent_gib) * 1024 / rules.MEAN_OBJECT_MIB
    assert s.tiering_fee_monthly_usd == pytest.approx(objects / 1000 * 0.0025, abs=0.01)


def test_archive_prefixes_alone_move_by_age_on_aws_with_the_classes_terms(fake_catalog):
    extra = lifecycle(model_archival="120_days_inactive", archive_prefixes=["train/releases/"])
    (s,) = plan_of(fake_catalog, TRAIN, extra).storage
    tiers = {t.tier: t for t in s.tiers}
    assert s.archive_prefixes == ["train/releases/"] and tiers["warm"].storage_class == "INTELLIGENT_TIERING"
    assert (tiers["cold"].storage_class, tiers["cold"].transition_after_days) == ("GLACIER_IR", 120)
    assert (s.archive_class, s.archive_after_days) == ("DEEP_ARCHIVE", 365)
    for text in (tiers["cold"].reason, s.reason):
        assert "GLACIER_IR: at least 90 days" in text and "$0.03/GB read" in text
        assert "DEEP_ARCHIVE: at least 180 days" in text and "InvalidObjectState" in text
    # GCP: Autoclass takes them (no age rule beside it); the plan says so.
    (g,) = plan_of(fake_catalog, TRAIN, extra, clouds=GCP).storage
    assert g.archive_prefixes == [] and "left to Autoclass" in {t.tier: t for t in g.tiers}["cold"].reason


def test_days_that_move_nothing_are_listed_as_not_applied(fake_catalog):
    extra = ("storage_tiers:\n  warm: {transition_after_days: 45}\n" + lifecycle(model_archival="120_days_inactive"))
    plan = plan_of(fake_catalog, TRAIN, extra)
    why = {n.path: n.reason for n in plan.not_applied}
    assert "never moved to the warm class by age" in why["storage_tiers.warm.transition_after_days"]
    assert "archive_prefixes" in why["cost_optimization.lifecycle_management.model_archival"]
    plan = plan_of(fake_catalog, TRAIN, lifecycle(model_archival="120_days_inactive", archive_prefixes=["train/releases/"]))
    assert not {n.path for n in plan.not_applied} & {"cost_optimization.lifecycle_management.model_archival",
                                                      "cost_optimization.lifecycle_management.archive_prefixes"}


def test_bad_lifecycle_keys_are_each_one_line_and_exit_2(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(make_spec(TRAIN + '  response_size: "lots"\n',
                              extra=lifecycle(noncurrent_version_expiration="soon", archive_prefixes=["/abs", "ok/"])))
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "validate", str(spec)], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    for path in ("cost_optimization.lifecycle_management.noncurrent_version_expiration", "cost_optimization.lifecycle_management.archive_prefixes[0]",
                 "workload_inventory[0].response_size"):
        assert sum(line.startswith(path + ":") for line in lines) == 1, (path, lines)


# ---- network ---------------------------------------------------------------------------------

def lines(plan) -> dict[tuple[str, str], object]:
    return {(n.item, n.target): n for n in plan.network}


def test_aws_nat_load_balancer_egress_and_flow_logs_each_a_line_with_its_arithmetic(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + SERVE)
    got = lines(plan)
    assert set(got) == {("nat_gateway", "foundation"), ("load_balancer", "serve"), ("internet_egress", "serve"), ("flow_logs", "foundation")}
    train, serve = plan.workloads
    # NAT: one a public zone in production with an endpoint, every hour, and the image pulls it processes.
    nats = 2
    starts = train.runs_per_month * train.nodes + serve.max_nodes
    nat = nats * 730 * 0.045 + starts * rules.IMAGE_PULL_GB * 0.045
    assert got["nat_gateway", "foundation"].monthly_usd == pytest.approx(nat, abs=0.02)
    # ALB: its hours and its LCUs, the larger of new connections (a request a connection) and GB processed.
    bytes_per_request = rules.DEFAULT_REQUEST_BYTES + rules.DEFAULT_RESPONSE_BYTES
    lcu = max(200 / 25, 200 * 3600 * bytes_per_request / 1e9)
    assert got["load_balancer", "serve"].monthly_usd == pytest.approx(730 * 0.0225 + lcu * 730 * 0.008, abs=0.02)
    assert "8.00 LCU" in got["load_balancer", "serve"].reason
    # Egress: the responses at the planned qps.
    egress = 200 * rules.SECONDS_PER_MONTH * rules.DEFAULT_RESPONSE_BYTES / 1e9 * 0.09
    assert got["internet_egress", "serve"].monthly_usd == pytest.approx(egress, abs=0.02)
    # Flow logs: node flows and the load balancer's connections, ingested and kept a year.
    node_hours = train.nodes * train.hours_per_month + serve.nodes * serve.hours_per_month
    gb = (node_hours * rules.NODE_FLOWS * 6 + 200 * rules.SECONDS_PER_MONTH) * rules.AWS_FLOW_RECORD_BYTES / 1e9
    assert got["flow_logs", "foundation"].monthly_usd == pytest.approx(gb * 0.5 + gb * 12 * 0.03, rel=0.001)
    assert all(n.reason and n.monthly_usd > 0 for n in plan.network)


def test_network_is_in_the_totals_and_so_in_the_budget_figure(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + SERVE)
    t = plan.totals
    assert t.network_monthly_usd == pytest.approx(sum(n.monthly_usd for n in plan.network), abs=0.01) and t.network_monthly_usd > 0
    assert t.monthly_usd == pytest.approx(t.compute_monthly_usd + t.storage_monthly_usd + t.security_monthly_usd + t.network_monthly_usd, abs=0.02)
    # by_cloud_monthly_usd is what the AWS budget and the GCP billing budget are created at.
    assert t.by_cloud_monthly_usd["aws"] == pytest.approx(t.monthly_usd, abs=0.02)
    assert t.on_demand_equivalent_monthly_usd >= t.monthly_usd


def test_an_internal_endpoint_pays_its_load_balancer_but_no_internet_egress(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + SERVE + '  exposure: "internal"\n')
    assert ("load_balancer", "serve") in lines(plan) and ("internet_egress", "serve") not in lines(plan)


def test_response_size_and_llm_tokens_set_the_bytes(fake_catalog):
    sized = plan_of(fake_catalog, SERVE + '  response_size: "40KB"\n')
    egress = lines(sized)["internet_egress", "serve"]
    assert egress.monthly_usd == pytest.approx(200 * rules.SECONDS_PER_MONTH * 40e3 / 1e9 * 0.09, abs=0.02) and "response_size" in egress.reason
    llm = plan_of(fake_catalog, '''
- name: "chat"
  type: "inference"
  model_size: "7B parameters"
  framework: "vllm"
  expected_qps: "2"
  output_tokens_per_request: 400
''')
    why = lines(llm)["internet_egress", "chat"].reason
    assert f"{400 * rules.STREAMED_BYTES_PER_TOKEN:,} B out (400 streamed tokens x {rules.STREAMED_BYTES_PER_TOKEN} B)" in why


def test_images_from_the_clouds_own_registry_skip_the_nat(fake_catalog):
    ecr = plan_of(fake_catalog, TRAIN + '  image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"\n')
    ngc = plan_of(fake_catalog, TRAIN + '  image: "nvcr.io/nvidia/pytorch:24.08-py3"\n')
    assert lines(ecr)["nat_gateway", "foundation"].monthly_usd == pytest.approx(730 * 0.045, abs=0.01)  # one NAT, nothing pulled through it
    assert lines(ngc)["nat_gateway", "foundation"].monthly_usd > lines(ecr)["nat_gateway", "foundation"].monthly_usd


def test_gcp_cloud_nat_load_balancer_egress_and_flow_logs(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + SERVE, clouds=GCP)
    got = lines(plan)
    train, serve = plan.workloads
    vm_hours = train.nodes * train.hours_per_month + serve.nodes * serve.hours_per_month
    starts = train.runs_per_month * train.nodes + serve.max_nodes
    nat = min(vm_hours * 0.0014, 730 * 0.044) + 730 * 0.005 + starts * rules.IMAGE_PULL_GB * 1e9 / 2**30 * 0.045
    assert got["nat_gateway", "foundation"].monthly_usd == pytest.approx(nat, abs=0.02)
    processed = 200 * rules.SECONDS_PER_MONTH * (rules.DEFAULT_REQUEST_BYTES + rules.DEFAULT_RESPONSE_BYTES) / 2**30
    assert got["load_balancer", "serve"].monthly_usd == pytest.approx(730 * 0.025 + processed * 0.008, abs=0.02)
    egress = 200 * rules.SECONDS_PER_MONTH * rules.DEFAULT_RESPONSE_BYTES / 2**30 * 0.12
    assert got["internet_egress", "serve"].monthly_usd == pytest.approx(egress, abs=0.02)
    gib = vm_hours * rules.NODE_FLOWS * 720 * 0.5 * rules.GCP_FLOW_RECORD_BYTES / 2**30
    assert got["flow_logs", "foundation"].monthly_usd == pytest.approx(gib * 0.5, abs=0.02)
    assert plan.totals.by_cloud_monthly_usd["gcp"] == pytest.approx(plan.totals.monthly_usd, abs=0.02)


def test_every_format_shows_the_network_lines_and_the_lifecycle(fake_catalog):
    plan = plan_of(fake_catalog, TRAIN + SERVE)
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["totals"]["network_monthly_usd"] == plan.totals.network_monthly_usd
    assert [(n["item"], n["target"]) for n in d["network"]] == [(n.item, n.target) for n in plan.network]
    assert set(d["network"][0]) == {"cloud", "region", "item", "target", "monthly_usd", "reason"}
    assert {"live_tiering", "noncurrent_expiration_days", "archive_prefixes", "noncurrent_gib", "noncurrent_monthly_usd",
            "tiering_fee_monthly_usd", "retrieval_monthly_usd", "early_deletion_monthly_usd", "reason"} <= set(d["storage"][0])
    text, md = plan_text(plan), plan_markdown(plan)
    assert f"+ network ${plan.totals.network_monthly_usd:,.0f})" in text.splitlines()[0]
    for n in plan.network:
        assert f"network {n.item.replace('_', ' ')} (aws us-east-1 {n.target}): {n.reason}" in text
        assert f"| {n.target} | {n.item.replace('_', ' ')} | ${n.monthly_usd:,.2f} |" in md
    assert f"    lifecycle: {plan.storage[0].reason}" in text and "#### Network" in md and f"- aws: {plan.storage[0].reason}" in md


def test_the_diagram_shows_the_buckets_tiered_by_access_in_every_region(fake_catalog):
    from aiinfra.graph import _tier_lines

    (s,) = plan_of(fake_catalog, TRAIN).storage
    assert _tier_lines("aws", s)[1:] == ["warm: INTELLIGENT_TIERING", "cold: INTELLIGENT_TIERING after 90 d unread"]
    # Other regions' buckets get the constructs' defaults: tiered by access too, never STANDARD_IA / GLACIER_IR by age.
    assert _tier_lines("aws", None) == ["warm: INTELLIGENT_TIERING", "cold: INTELLIGENT_TIERING after 90 d unread"]
    assert _tier_lines("gcp", None) == ["warm: AUTOCLASS", "cold: AUTOCLASS after 90 d unread"]
