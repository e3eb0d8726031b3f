"""End to end on AWS: every AWS stack of every example spec passes `terraform validate` with the
real aws provider (5.100.0, from the provider mirror), and an AWS-only spec applies against a local
AWS API (moto), plans empty, and destroys; one stack also deploys through the cdktf CLI.

moto (5.2.5) does not implement placement groups, the Deep Learning AMI SSM parameters or instance
refresh: the applied spec names its AMI and uses single-node training (no placement group), and the
multi-node example's placement group is covered by `validate` and by a `plan` against moto. Where moto
reads arguments back differently from AWS, the second plan ignores them (MOTO_READ_BACK_QUIRKS); the
Budgets calls moto lacks are served by the harness (tests/tf_harness.py).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM, apply_plan_destroy, init, moto_server, plugin_mirror, run_terraform  # noqa: F401

pytestmark = SKIP_NO_TERRAFORM
# Every example that configures AWS (gcp-only.yaml's stacks are checked in test_stacks_gcp.py).
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if "\n  aws:" in p.read_text())


def synth(spec: Path, workdir: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", "cdktf.out", "-q"], cwd=workdir, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return workdir / "cdktf.out" / "stacks"


def aws_stacks(stacks: Path) -> list[Path]:
    return sorted(p for p in stacks.iterdir() if "-aws-" in p.name)


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_every_aws_stack_of_every_example_validates(spec, tmp_path):
    stacks = aws_stacks(synth(spec, tmp_path))
    assert stacks
    for stack in stacks:
        init(stack, backend=False)
        out = run_terraform(["validate", "-json"], stack)
        assert '"valid": true' in out.stdout, (stack.name, out.stdout)


def self_signed_certificate(env: dict[str, str]) -> str:
    """Import a throwaway certificate into the local ACM and return its ARN."""
    import boto3
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inference.acme.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    acm = boto3.client("acm", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    return acm.import_certificate(Certificate=cert.public_bytes(serialization.Encoding.PEM),
                                  PrivateKey=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                               serialization.NoEncryption()))["CertificateArn"]


def moto_spec(tmp_path: Path, env: dict[str, str]) -> Path:
    text = (ROOT / "examples" / "aws-only.yaml").read_text()
    text = text.replace('"16x A100"', '"8x A100"')  # single node: moto has no placement groups
    arn = self_signed_certificate(env)
    text = "\n".join(f"    certificate_arn: {arn}" if line.strip().startswith("certificate_arn:") else line for line in text.splitlines()) + "\n"
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return spec


# moto 5.2.5 reads some arguments back differently from AWS, so a second plan would always show a
# change that AWS would not: a launch template's own tags come back as a `launch-template` tag
# specification, and a target-tracking policy comes back disabled, with a predictive-scaling block.
MOTO_READ_BACK_QUIRKS = {
    "aws_launch_template": ["tag_specifications"],
    "aws_autoscaling_policy": ["enabled", "predictive_scaling_configuration"],
}


def write_override(stack: Path, name: str, per_type: dict[str, dict]) -> None:
    """A Terraform override file beside cdk.tf.json, for this test only."""
    doc = json.loads((stack / "cdk.tf.json").read_text())
    resources = {rtype: {n: body for n in doc["resource"].get(rtype, {})} for rtype, body in per_type.items() if rtype in doc["resource"]}
    (stack / name).write_text(json.dumps({"resource": resources}))


def ignore_moto_quirks(stack: Path) -> None:
    write_override(stack, "zz_moto_quirks_override.tf.json",
                   {rtype: {"lifecycle": {"ignore_changes": keys}} for rtype, keys in MOTO_READ_BACK_QUIRKS.items()})


def destroy_with_data(stack: Path, env: dict[str, str]) -> None:
    """Production buckets keep their data and load balancers refuse deletion; a test lets them go."""
    write_override(stack, "zz_test_force_destroy_override.tf.json", {"aws_s3_bucket": {"force_destroy": True},
                                                                      "aws_lb": {"enable_deletion_protection": False}})
    run_terraform(["apply", "-auto-approve"], stack, env=env)
    run_terraform(["destroy", "-auto-approve"], stack, env=env)


def test_aws_only_spec_applies_plans_empty_and_destroys(tmp_path, moto_server):
    env = moto_server.env()
    stacks = {p.name.rsplit("-aws-", 1)[1]: p for p in aws_stacks(synth(moto_spec(tmp_path, env), tmp_path))}
    assert set(stacks) == {"foundation", "fraud-detection-training", "recommendation-inference"}
    foundation = stacks.pop("foundation")
    apply_plan_destroy(foundation, env, destroy=False)
    try:
        for stack in stacks.values():  # workload stacks read the foundation's state
            ignore_moto_quirks(stack)
            outputs = apply_plan_destroy(stack, env)
            assert outputs["autoscaling_group_name"].startswith("acme-ml-prod-")
    finally:
        destroy_with_data(foundation, env)
    assert (tmp_path / "terraform.acme-ml-production-aws-foundation.tfstate").exists()  # state beside the spec, not in cdktf.out


def test_multi_node_placement_group_plans_against_the_local_api(tmp_path, moto_server):
    env = moto_server.env()
    stacks = {p.name.rsplit("-aws-", 1)[1]: p for p in aws_stacks(synth(ROOT / "examples" / "aws-only.yaml", tmp_path))}
    foundation = stacks["foundation"]
    init(foundation, env=env)
    out = run_terraform(["plan", "-no-color"], foundation, env=env)
    assert "aws_placement_group.network_placement" in out.stdout
    assert re.search(r'strategy\s+= "cluster"', out.stdout)


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdktf").exists(), reason="cdktf CLI not installed (make setup runs npm ci)")
def test_cdktf_deploy_applies_a_stack_through_the_cdktf_cli(tmp_path, moto_server):
    env = {**os.environ, **moto_server.env(), "CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21"}
    spec = moto_spec(tmp_path, env)
    project = tmp_path / "project"
    project.mkdir()
    for name in ("main.py", "cdktf.json"):
        shutil.copy(ROOT / name, project / name)
    (project / "src").symlink_to(ROOT / "src")
    (project / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (project / "examples").symlink_to(ROOT / "examples")
    env.update({"AIINFRA_SPEC": str(spec), "TF_CLI_ARGS_init": f"-plugin-dir={plugin_mirror()}"})
    cdktf = str(ROOT / "node_modules" / ".bin" / "cdktf")
    stack = "acme-ml-production-aws-foundation"
    r = subprocess.run([cdktf, "deploy", stack, "--auto-approve", "--skip-provider-lock"], cwd=project, env=env, capture_output=True,
                       text=True, timeout=900)
    try:
        assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
        assert (project / f"terraform.{stack}.tfstate").exists()
    finally:
        subprocess.run([cdktf, "destroy", stack, "--auto-approve", "--skip-provider-lock"], cwd=project, env=env, capture_output=True,
                       text=True, timeout=900)
