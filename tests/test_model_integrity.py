"""Model integrity (issue 15): the signing key's path from the spec to the node (BootConfig, the
identities that may read a KMS key), S3 Object Lock on the AWS data bucket (synthesized, then applied
to the local AWS API and read back with boto3) and object retention on the GCP data bucket (checked
against the google provider schema)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from aiinfra.boot import BootConfig, boot_files
from aiinfra.boot.workload import boot_config, signing_key_arns, signing_key_ids
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text


from aiinfra.cdk import TerraformStack
from aiinfra.cdk import Testing as CdkTesting

from aiinfra.constructs import aws, gcp
from aiinfra.constructs._tf import AWS, GOOGLE, provider
from tests.gcp_schema import check_stack
from tests.tf_harness import (  # noqa: F401  (moto_server: fixture)
    SKIP_NO_TERRAFORM,
    apply_plan_destroy,
    moto_server,
    run_terraform,
)

ROOT = Path(__file__).resolve().parent.parent
PEM = ("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2Hc6dN3sYy9Fq1d2mXxwQm0c0b8l\n"
       "b3Zr0Q8V4y3JqkqJ1eQ5r6e0Tt1o7Hc9tD0s2H5w8bq7m1zY3gP4x7sQ==\n-----END PUBLIC KEY-----\n")
AWS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
AWS_ALIAS = "arn:aws:kms:us-east-1:123456789012:alias/image-signing"
GCP_KEY = "projects/acme-ml-prod/locations/us-central1/keyRings/signing/cryptoKeys/images"


def _env(cfg: BootConfig) -> dict[str, str]:
    """workload.env as bash reads it (POSIX quoting across lines: a PEM key spans several)."""
    return dict(word.split("=", 1) for word in shlex.split(boot_files(cfg)["workload.env"], comments=True))


def _aws_cfg(**kw) -> BootConfig:
    base = {"cloud": "aws", "workload": "train", "kind": "training", "region": "us-east-1", "groups": ("g",), "object_prefix": "train",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1"}
    return BootConfig(**{**base, **kw})


# ---------------------------------------------------------------- BootConfig and the spec


@pytest.mark.parametrize("key", [PEM, f"awskms:///{AWS_KEY}", f"awskms:///{AWS_ALIAS}"])
def test_the_signing_key_reaches_the_node_exactly_as_given(key):
    assert _env(_aws_cfg(signing_key=key))["AIINFRA_SIGNING_KEY"] == key
    assert _env(_aws_cfg())["AIINFRA_SIGNING_KEY"] == ""  # no key: no signature check


def test_a_gcp_kms_key_is_accepted_on_gcp_with_or_without_a_version():
    for key in (f"gcpkms://{GCP_KEY}", f"gcpkms://{GCP_KEY}/cryptoKeyVersions/3"):
        cfg = BootConfig(cloud="gcp", workload="train", kind="training", region="us-central1", groups=("g",), object_prefix="train",
                         signing_key=key)
        assert _env(cfg)["AIINFRA_SIGNING_KEY"] == key


@pytest.mark.parametrize("kw, message", [
    ({"signing_key": "ssh-rsa AAAA"}, "signing_key must be a PEM public key"),
    ({"signing_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "signing_key must be a PEM public key"),
    ({"signing_key": "hashivault://transit/keys/x"}, "signing_key must be a PEM public key"),
    ({"signing_key": f"gcpkms://{GCP_KEY}"}, "gcpkms:// can only be read by gcp nodes"),
])
def test_bootconfig_rejects_keys_the_node_cannot_use(kw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _aws_cfg(**kw)


def test_the_kms_key_to_grant_is_derived_from_the_uri():
    assert signing_key_arns(f"awskms:///{AWS_KEY}") == (AWS_KEY,)
    assert signing_key_arns(f"awskms:///{AWS_ALIAS}") == (AWS_ALIAS,)
    assert signing_key_ids(f"gcpkms://{GCP_KEY}/cryptoKeyVersions/7") == (GCP_KEY,)  # IAM is on the key, not a version
    assert signing_key_ids(f"gcpkms://{GCP_KEY}") == (GCP_KEY,)
    for other in (PEM, None, f"gcpkms://{GCP_KEY}"):
        assert signing_key_arns(other) == ()
    for other in (PEM, None, f"awskms:///{AWS_KEY}"):
        assert signing_key_ids(other) == ()


def test_boot_config_carries_the_workloads_image_signing_key():
    doc = yaml.safe_load((ROOT / "examples" / "aws-only.yaml").read_text())
    doc["workload_inventory"][0]["image_signing_key"] = f"awskms:///{AWS_KEY}"
    loaded = load_spec_text(yaml.safe_dump(doc))
    plan = make_plan(loaded)
    by_name = {w.name: w for w in plan.workloads}
    first, second = (w["name"] for w in doc["workload_inventory"][:2])
    assert boot_config(loaded.spec, by_name[first], "aws", ("g",)).signing_key == f"awskms:///{AWS_KEY}"
    assert boot_config(loaded.spec, by_name[second], "aws", ("g",)).signing_key is None


# ---------------------------------------------------------------- identities


def _aws_synth(build) -> dict:
    stack = TerraformStack(CdkTesting.app(), "test")
    provider(stack, "aws", AWS, region="us-east-1")
    build(stack)
    return json.loads(CdkTesting.synth(stack))


def _gcp_synth(build) -> dict:
    stack = TerraformStack(CdkTesting.app(), "test")
    provider(stack, "google", GOOGLE, project="acme-ml-prod", region="us-central1")
    build(stack)
    doc = json.loads(CdkTesting.synth(stack))
    assert check_stack(doc) == []  # every argument exists in the google provider schema
    return doc


def _statements(doc: dict) -> dict[str, dict]:
    [policy] = [p for p in doc["resource"]["aws_iam_role_policy"].values() if p["name"].endswith("-own-resources")]
    return {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}


def test_aws_identity_reads_only_the_signing_keys_public_half():
    doc = _aws_synth(lambda s: aws.WorkloadIdentity(s, "id", name="w", signing_key_arns=[AWS_KEY, AWS_ALIAS]))
    st = _statements(doc)
    assert st["ReadSigningPublicKeys"] == {"Sid": "ReadSigningPublicKeys", "Effect": "Allow",
                                           "Action": ["kms:GetPublicKey", "kms:DescribeKey"], "Resource": [AWS_KEY]}
    # an alias ARN cannot be a key's resource: the account's keys in that region, when asked for by that alias
    alias = st["ReadSigningPublicKeyByAlias0"]
    assert alias["Resource"] == "arn:aws:kms:us-east-1:123456789012:key/*"
    assert alias["Condition"] == {"StringEquals": {"kms:RequestAlias": "alias/image-signing"}}
    assert alias["Action"] == ["kms:GetPublicKey", "kms:DescribeKey"]
    assert not any("kms:Sign" in json.dumps(s) or "kms:Decrypt" in json.dumps(s) for s in (st["ReadSigningPublicKeys"], alias))


def test_aws_identity_without_signing_keys_grants_no_kms_read():
    st = _statements(_aws_synth(lambda s: aws.WorkloadIdentity(s, "id", name="w", bucket_arns=["arn:aws:s3:::b"])))
    assert not [sid for sid in st if sid.startswith("ReadSigning")]


def test_aws_identity_rejects_a_signing_key_that_is_not_a_kms_arn():
    with pytest.raises(ValueError, match="signing_key_arns must be KMS key or alias ARNs"):
        _aws_synth(lambda s: aws.WorkloadIdentity(s, "id", name="w", signing_key_arns=["awskms:///" + AWS_KEY]))


def test_gcp_identity_gets_public_key_and_key_viewer_on_the_signing_key_only():
    doc = _gcp_synth(lambda s: gcp.WorkloadIdentity(s, "id", project="acme-ml-prod", account_id="acme-prod-train",
                                                    signing_key_ids=[GCP_KEY]))
    grants = [g for g in doc["resource"]["google_kms_crypto_key_iam_member"].values()]
    assert sorted((g["crypto_key_id"], g["role"]) for g in grants) == [
        (GCP_KEY, "roles/cloudkms.publicKeyViewer"), (GCP_KEY, "roles/cloudkms.viewer")]
    roles = {g["role"] for g in doc["resource"].get("google_project_iam_member", {}).values()}
    assert not [r for r in roles if r.startswith("roles/cloudkms")]  # nothing project-wide


def test_gcp_identity_rejects_a_key_version_as_signing_key_id():
    with pytest.raises(ValueError, match="signing_key_ids must be crypto keys"):
        _gcp_synth(lambda s: gcp.WorkloadIdentity(s, "id", project="acme-ml-prod", account_id="acme-prod-train",
                                                  signing_key_ids=[f"{GCP_KEY}/cryptoKeyVersions/1"]))


# ---------------------------------------------------------------- AWS object lock


KMS = "arn:aws:kms:us-east-1:123456789012:key/x"


def _storage(**kw) -> dict:
    return _aws_synth(lambda s: aws.TieredStorage(s, "st", name="acme", kms_key_arn=KMS, **kw))


def _buckets(doc: dict) -> dict[str, tuple[str, dict]]:
    return {b["tags"]["tier"]: (name, b) for name, b in doc["resource"]["aws_s3_bucket"].items()}


def test_data_bucket_has_object_lock_enabled_in_place_and_versioning_first():
    doc = _storage()
    (data_name, data), (logs_name, _) = _buckets(doc)["data"], _buckets(doc)["logs"]
    assert "object_lock_enabled" not in data  # that argument would replace an existing bucket
    [lock] = doc["resource"]["aws_s3_bucket_object_lock_configuration"].values()
    assert lock["object_lock_enabled"] == "Enabled" and "rule" not in lock  # per-object locks only
    assert lock["bucket"] == f"${{aws_s3_bucket.{data_name}.id}}"
    versioning = {v["bucket"]: (n, v) for n, v in doc["resource"]["aws_s3_bucket_versioning"].items()}
    vname, v = versioning[lock["bucket"]]
    assert v["versioning_configuration"] == {"status": "Enabled"}
    assert f"aws_s3_bucket_versioning.{vname}" in lock["depends_on"]
    assert logs_name not in json.dumps(lock)  # the access-log bucket cannot be locked


def test_compliance_retention_days_sets_a_compliance_default_retention():
    [lock] = _storage(compliance_retention_days=2555).get("resource")["aws_s3_bucket_object_lock_configuration"].values()
    assert lock["rule"] == {"default_retention": {"mode": "COMPLIANCE", "days": 2555}}


@pytest.mark.parametrize("days", [0, -1, 36501, 1.5, True])
def test_compliance_retention_days_out_of_range_is_refused(days):
    with pytest.raises(ValueError, match="compliance_retention_days must be a whole number of days between 1 and 36500"):
        _storage(compliance_retention_days=days)


@SKIP_NO_TERRAFORM
def test_object_lock_applies_to_an_existing_bucket_in_place_against_the_local_aws_api(tmp_path, moto_server):  # noqa: F811
    """moto serves S3 Object Lock: the storage is applied first without the lock (a bucket as deployed
    before this change), then with it: the plan adds the lock and replaces nothing; boto3 reads
    the default retention back; the plan after apply is empty."""
    env = moto_server.env()
    doc = _storage(compliance_retention_days=30, force_destroy=True)  # moto delivers access logs into the log bucket
    before = json.loads(json.dumps(doc))
    del before["resource"]["aws_s3_bucket_object_lock_configuration"]
    (tmp_path / "cdk.tf.json").write_text(json.dumps(before))
    apply_plan_destroy(tmp_path, env, destroy=False)
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc))
    plan = run_terraform(["plan", "-no-color"], tmp_path, env=env, timeout=600).stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan, plan[-3000:]
    assert "must be replaced" not in plan

    def check(_outputs):
        s3 = moto_server.client("s3")
        [name] = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"] == _outputs_bucket(tmp_path, "data")]
        conf = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
        assert conf["ObjectLockEnabled"] == "Enabled"
        assert conf["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE" and conf["Rule"]["DefaultRetention"]["Days"] == 30
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        logs = _outputs_bucket(tmp_path, "logs")
        with pytest.raises(Exception, match="ObjectLockConfigurationNotFound"):
            s3.get_object_lock_configuration(Bucket=logs)

    apply_plan_destroy(tmp_path, env, after_apply=check)


def _outputs_bucket(stack_dir: Path, tier: str) -> str:
    """The bucket of a tier as this stack's state has it (the session's moto holds other tests' buckets too)."""
    state = json.loads((stack_dir / "terraform.tfstate").read_text())
    [name] = [r["instances"][0]["attributes"]["id"] for r in state["resources"]
              if r["type"] == "aws_s3_bucket" and r["instances"][0]["attributes"]["tags"].get("tier") == tier]
    return name


# ---------------------------------------------------------------- GCP object retention


def _gcp_storage(**kw) -> dict:
    doc = _gcp_synth(lambda s: gcp.TieredStorage(s, "st", project="acme-ml-prod", name="acme-ml-prod-us-central1", location="us-central1",
                                                 kms_key_id="projects/acme-ml-prod/locations/us-central1/keyRings/r/cryptoKeys/k", **kw))
    return {b["labels"]["tier"]: b for b in doc["resource"]["google_storage_bucket"].values()}


def test_gcp_data_bucket_allows_per_object_retention_and_keeps_versioning():
    buckets = _gcp_storage(object_retention=True)
    assert buckets["data"]["enable_object_retention"] is True
    assert buckets["data"]["versioning"] == {"enabled": True} and "retention_policy" not in buckets["data"]
    assert "enable_object_retention" not in buckets["logs"] and buckets["logs"]["versioning"] == {"enabled": True}
    # Off by default: Cloud Storage takes it at bucket creation only (on an existing bucket it is a replacement).
    assert "enable_object_retention" not in _gcp_storage()["data"]


def test_gcp_compliance_retention_is_an_unlocked_bucket_policy_without_versioning():
    buckets = _gcp_storage(compliance_retention_days=365, object_retention=True)
    data = buckets["data"]
    assert data["retention_policy"] == {"retention_period": 365 * 86400, "is_locked": False}
    assert data["versioning"] == {"enabled": False}  # Cloud Storage refuses versioning with a retention policy
    assert data["enable_object_retention"] is True
    assert "retention_policy" not in buckets["logs"] and buckets["logs"]["versioning"] == {"enabled": True}


@pytest.mark.parametrize("days", [0, 36525 + 1, 2.5])
def test_gcp_compliance_retention_days_out_of_range_is_refused(days):
    with pytest.raises(ValueError, match="compliance_retention_days must be a whole number of days between 1 and 36525"):
        _gcp_storage(compliance_retention_days=days)
