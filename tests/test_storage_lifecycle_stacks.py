"""Issue 27, stack side: the data buckets tier live objects by access (S3 Intelligent-Tiering without
its archive tiers, GCS Autoclass), move only archive prefixes by age, expire noncurrent versions,
and the budgets are created at the plan's total with its network lines. AWS arguments pass
``terraform validate`` with the provider mirror; GCP ones the schema oracle (tests/gcp_schema.py)."""

from __future__ import annotations

import json

import pytest

from aiinfra.cdk import TerraformStack
from aiinfra.cdk import Testing as CdkTesting
from aiinfra.constructs._tf import GOOGLE, provider
from aiinfra.constructs.aws import TieredStorage as AwsStorage
from aiinfra.constructs.gcp import EncryptionKey as GcpKey
from aiinfra.constructs.gcp import TieredStorage as GcpStorage
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from aiinfra.synth import synth
from tests.conftest import make_spec
from tests.gcp_schema import check_stack
from tests.tf_harness import SKIP_NO_TERRAFORM, init, run_terraform

pytestmark = pytest.mark.cdk

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/x"


def aws_doc(**kw) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    AwsStorage(stack, "st", name="acme", kms_key_arn=KEY_ARN, **kw)
    return json.loads(CdkTesting.synth(stack))


def data_rules(doc: dict) -> list[dict]:
    (data,) = [v for v in doc["resource"]["aws_s3_bucket_lifecycle_configuration"].values() if "data" in v["bucket"]]
    return data["rule"]


def test_aws_live_objects_go_to_intelligent_tiering_on_day_0_and_noncurrent_versions_expire():
    (rule,) = data_rules(aws_doc())
    assert rule["id"] == "live-intelligent-tiering" and rule["filter"] == {"prefix": ""}
    assert rule["transition"] == [{"days": 0, "storage_class": "INTELLIGENT_TIERING"}]  # nothing else, whatever its age
    assert "noncurrent_version_transition" not in rule
    assert rule["noncurrent_version_expiration"] == {"noncurrent_days": 30}
    # Intelligent-Tiering's archive tiers are opt-in through this resource: never created.
    assert "aws_s3_bucket_intelligent_tiering_configuration" not in aws_doc()["resource"]
    (kept,) = data_rules(aws_doc(noncurrent_expiration_days=None))
    assert "noncurrent_version_expiration" not in kept
    with pytest.raises(ValueError, match="noncurrent_expiration_days must be at least 1"):
        aws_doc(noncurrent_expiration_days=0)


def test_aws_archive_prefixes_alone_move_by_age():
    live, archive = data_rules(aws_doc(archive_prefixes=["models/releases/"], cold_after_days=120, archive_after_days=400))
    assert live["transition"] == [{"days": 0, "storage_class": "INTELLIGENT_TIERING"}]
    assert archive["filter"] == {"prefix": "models/releases/"}
    assert archive["transition"] == [{"days": 120, "storage_class": "GLACIER_IR"}, {"days": 400, "storage_class": "DEEP_ARCHIVE"}]


def gcp_doc(**kw) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "google", GOOGLE, project="acme-ml-prod", region="us-central1")
    key = GcpKey(stack, "key", project="acme-ml-prod", location="us-central1", name="acme-data")
    GcpStorage(stack, "st", project="acme-ml-prod", name="acme-ml-prod-acme", location="us-central1", kms_key_id=key.id, depends_on=key.grants, **kw)
    doc = json.loads(CdkTesting.synth(stack))
    assert check_stack(doc) == []  # every argument in the google provider schema
    return doc


def gcp_data(doc: dict) -> dict:
    return next(b for b in doc["resource"]["google_storage_bucket"].values() if b["name"].endswith("-data"))


def test_gcp_data_bucket_has_autoclass_and_no_age_rule_and_noncurrent_versions_expire():
    data = gcp_data(gcp_doc())
    assert data["autoclass"] == {"enabled": True, "terminal_storage_class": "ARCHIVE"} and data["storage_class"] == "STANDARD"
    assert not [r for r in data["lifecycle_rule"] if r["action"]["type"] == "SetStorageClass"]
    deletes = [r["condition"] for r in data["lifecycle_rule"] if r["action"]["type"] == "Delete"]
    assert deletes == [{"days_since_noncurrent_time": 30, "with_state": "ARCHIVED"}]
    # Without Autoclass, age rules scoped to the archive prefixes.
    scoped = gcp_data(gcp_doc(autoclass_terminal_class=None, archive_prefixes=["models/releases/"]))
    moves = [r["condition"] for r in scoped["lifecycle_rule"] if r["action"]["type"] == "SetStorageClass"]
    assert moves and all(c["matches_prefix"] == ["models/releases/"] for c in moves) and "autoclass" not in scoped


SPEC = make_spec('''
- name: "train"
  type: "training"
  dataset_size: "500GB"
  model_size: "2B parameters"
  gpu_requirements: "8x A100"
  training_frequency: "weekly"
  estimated_runtime: "12 hours"
  cloud: aws
- name: "serve"
  type: "inference"
  model_size: "100MB"
  expected_qps: "200"
  latency_sla: "100ms"
  availability_requirement: "99.9%"
  cloud: aws
- name: "tune"
  type: "training"
  dataset_size: "100GB"
  model_size: "1B parameters"
  gpu_requirements: "8x A100"
  training_frequency: "weekly"
  estimated_runtime: "6 hours"
  cloud: gcp
''', clouds="  aws: {region: us-east-1}\n  gcp: {project: acme-ml-prod, region: us-central1, billing_account: 012345-6789AB-CDEF01}",
   extra='''cost_optimization:
  lifecycle_management:
    noncurrent_version_expiration: "45_days"
    archive_prefixes: ["train/releases/"]
''')


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    loaded = load_spec_text(SPEC)
    plan = make_plan(loaded)
    assert not plan.errors, plan.errors
    out = tmp_path_factory.mktemp("lifecycle") / "cdktf.out"
    synth(loaded.spec, plan, out)
    return plan, out


def stack(out, name: str) -> dict:
    return json.loads((out / "stacks" / name / "cdk.tf.json").read_text())


def test_the_budgets_hold_the_network_lines(synthesized):
    plan, out = synthesized
    t = plan.totals
    for cloud in ("aws", "gcp"):
        network = sum(n.monthly_usd for n in plan.network if n.cloud == cloud)
        assert network > 0
        before = sum(w.monthly_usd for w in plan.workloads if w.cloud == cloud) + sum(s.monthly_usd for s in plan.storage if s.cloud == cloud) \
            + sum(c.monthly_usd for c in plan.security if c.cloud == cloud)
        assert t.by_cloud_monthly_usd[cloud] == pytest.approx(before + network, abs=0.02)
    (budget,) = stack(out, "acme-ml-production-aws-foundation")["resource"]["aws_budgets_budget"].values()
    assert budget["limit_amount"] == f"{t.by_cloud_monthly_usd['aws']:.2f}"
    (billing,) = stack(out, "acme-ml-production-gcp-foundation")["resource"]["google_billing_budget"].values()
    assert billing["amount"]["specified_amount"]["units"] == str(round(t.by_cloud_monthly_usd["gcp"]))


def test_the_spec_lifecycle_reaches_both_data_buckets(synthesized):
    _, out = synthesized
    live, archive = data_rules(stack(out, "acme-ml-production-aws-foundation"))
    assert live["noncurrent_version_expiration"] == {"noncurrent_days": 45} and archive["filter"] == {"prefix": "train/releases/"}
    gcp = stack(out, "acme-ml-production-gcp-foundation")
    assert check_stack(gcp) == []
    data = gcp_data(gcp)
    assert data["autoclass"]["terminal_storage_class"] == "ARCHIVE"
    assert [r["condition"]["days_since_noncurrent_time"] for r in data["lifecycle_rule"] if r["action"]["type"] == "Delete"] == [45]


@SKIP_NO_TERRAFORM
def test_the_aws_foundation_with_the_new_lifecycle_passes_terraform_validate(synthesized, tmp_path):
    _, out = synthesized
    (tmp_path / "cdk.tf.json").write_text((out / "stacks" / "acme-ml-production-aws-foundation" / "cdk.tf.json").read_text())
    init(tmp_path, backend=False)
    r = run_terraform(["validate", "-json"], tmp_path, check=False)
    assert json.loads(r.stdout)["valid"], r.stdout + r.stderr
