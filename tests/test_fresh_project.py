"""What stops a first apply in a fresh GCP project: an API a stack calls that the project has off
(403 SERVICE_DISABLED), and a grant an organization policy refuses (the usage-log writer under
domain-restricted sharing). Stacks are built in-process (aiinfra.stacks.build_app) and read back as
the Terraform JSON they synthesize."""

from __future__ import annotations

import json
from pathlib import Path

from aiinfra.cdk import TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs._tf import GOOGLE, provider
from aiinfra.constructs.gcp import EncryptionKey, TieredStorage
from aiinfra.constructs.gcp.project_services import PREREQUISITE_SERVICES, RESOURCE_SERVICES, service_for, services_for
from aiinfra.constructs.gcp.tiered_storage import ANALYTICS_WRITER, DRS_CONSTRAINT
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from tests.conftest import ROOT
from tests.gcp_schema import check_stack

GCP_ONLY = (ROOT / "examples" / "gcp-only.yaml").read_text()
# The example with an internal endpoint (Certificate Manager) and a TPU VM workload (Cloud TPU API):
# the stacks' widest spread of APIs.
FRESH = GCP_ONLY.replace('    health_check_path: "/v2/health/ready"\n', '    health_check_path: "/v2/health/ready"\n    exposure: internal\n').replace(
    "workload_inventory:\n", 'workload_inventory:\n  - name: "pretrain-tpu"\n    type: "training"\n    dataset_size: "200GB"\n'
    '    gpu_requirements: "8x TPU v5e"\n    training_frequency: "weekly"\n    estimated_runtime: "10 hours"\n    spot: true\n'
    '    image: "us-docker.pkg.dev/acme-ml-prod/train/jax:1"\n', 1)


def synth_stacks(text: str, tmp_path: Path) -> tuple[dict[str, dict], list[str]]:
    from aiinfra.stacks import build_app

    loaded = load_spec_text(text)
    plan = make_plan(loaded)
    assert not [f for f in plan.findings if f.severity == "error"], plan.findings
    out = tmp_path / "out"
    out.mkdir(parents=True)
    app, names, notes, _policy = build_app(loaded.spec, plan, str(out), clouds=("gcp",))
    app.synth()
    return {n: json.loads((out / "stacks" / n / "cdk.tf.json").read_text()) for n in names}, notes


def types_of(doc: dict) -> set[str]:
    return {t for kind in ("resource", "data") for t in doc.get(kind, {}) if t.startswith("google_")}


def enabled(doc: dict) -> set[str]:
    return {s["service"] for s in doc.get("resource", {}).get("google_project_service", {}).values()}


def test_every_api_a_gcp_stack_calls_is_enabled_by_its_foundation(tmp_path):
    stacks, _notes = synth_stacks(FRESH, tmp_path)
    foundation = next(doc for name, doc in stacks.items() if name.endswith("-gcp-foundation"))
    on = enabled(foundation)
    assert "certificatemanager.googleapis.com" in on and "tpu.googleapis.com" in on
    for name, doc in stacks.items():
        unmapped = sorted(t for t in types_of(doc) if service_for(t) is None)
        assert not unmapped, f"{name}: resource types with no API in RESOURCE_SERVICES: {unmapped}"
        missing = sorted(set(services_for(types_of(doc))) - on)
        assert not missing, f"{name} calls APIs its foundation never enables: {missing}"
    assert check_stack(foundation) == []


def test_the_service_map_names_apis_by_their_endpoint_host():
    assert service_for("google_certificate_manager_certificate") == "certificatemanager.googleapis.com"
    assert service_for("google_project_iam_custom_role") == "iam.googleapis.com"  # the IAM API, not Resource Manager
    assert service_for("google_project_iam_member") == "cloudresourcemanager.googleapis.com"
    assert service_for("google_service_account_iam_member") == "iam.googleapis.com"
    assert service_for("aws_instance") is None and service_for("terraform_data") is None
    assert services_for(["google_project_service", "google_compute_network"]) == ("compute.googleapis.com",)
    assert all(s.endswith(".googleapis.com") for s in RESOURCE_SERVICES.values()) and PREREQUISITE_SERVICES == ("serviceusage.googleapis.com",)


# ---- the usage-log writer and domain-restricted sharing ---------------------------------------

def storage_doc(**kw) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "google", GOOGLE, project="acme-ml-prod", region="us-central1")
    key = EncryptionKey(stack, "key", project="acme-ml-prod", location="us-central1", name="acme-data")
    TieredStorage(stack, "storage", project="acme-ml-prod", name="acme-ml-prod-acme", location="us-central1", kms_key_id=key.id,
                  depends_on=key.grants, **kw)
    doc = json.loads(CdkTesting.synth(stack))
    assert check_stack(doc) == []
    return doc


def analytics_grants(doc: dict) -> list[dict]:
    return [m for m in doc["resource"].get("google_storage_bucket_iam_member", {}).values() if m["member"] == ANALYTICS_WRITER]


def data_bucket(doc: dict) -> dict:
    return next(b for b in doc["resource"]["google_storage_bucket"].values() if b["name"].endswith("-data"))


def test_storage_grants_the_usage_log_writer_only_when_asked():
    doc = storage_doc()
    assert analytics_grants(doc) == [] and "logging" not in data_bucket(doc)
    asked = storage_doc(usage_logs=True)
    (grant,) = analytics_grants(asked)
    assert grant["role"] == "roles/storage.objectCreator"
    assert data_bucket(asked)["logging"]["log_bucket"].startswith("${google_storage_bucket.")


def test_the_foundation_leaves_the_grant_out_and_names_the_org_policy_unless_the_spec_asks(tmp_path):
    stacks, notes = synth_stacks(GCP_ONLY, tmp_path / "default")
    foundation = next(doc for name, doc in stacks.items() if name.endswith("-gcp-foundation"))
    assert analytics_grants(foundation) == []
    (note,) = [n for n in notes if ANALYTICS_WRITER in n]
    assert DRS_CONSTRAINT in note and "storage_usage_logs: true" in note
    text = GCP_ONLY.replace("    billing_account:", "    storage_usage_logs: true\n    billing_account:")
    stacks, notes = synth_stacks(text, tmp_path / "asked")
    foundation = next(doc for name, doc in stacks.items() if name.endswith("-gcp-foundation"))
    assert len(analytics_grants(foundation)) == 1
    (note,) = [n for n in notes if ANALYTICS_WRITER in n]
    assert DRS_CONSTRAINT in note and "allow that principal" in note
