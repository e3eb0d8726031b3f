"""One state per stack whatever the working directory (issue 27): local state is the spec's folder's
``terraform.<stack>.tfstate``, written as an absolute path by ``aiinfra synth`` from any folder,
into any output folder, and by ``cdktf synth`` (main.py at the repository root, ``AIINFRA_SPEC``);
the stacks that read another's outputs read that same file. A production spec that keeps its state
in those local files is a plan warning naming the remote backend to set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from tests.conftest import ROOT, make_spec

AWS_ONLY = ROOT / "examples" / "aws-only.yaml"


def _synth(spec: str, out: str, cwd: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", spec, "--out", out, "-q"], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return (cwd / out).resolve()


def _stacks(out: Path) -> dict[str, dict]:
    return {p.name: json.loads((p / "cdk.tf.json").read_text()) for p in sorted((out / "stacks").iterdir())}


def _state_files(docs: dict[str, dict]) -> dict[str, tuple[str, list[str]]]:
    """Per stack: (its backend's path, the paths of the states it reads)."""
    return {name: (doc["terraform"]["backend"]["local"]["path"],
                   sorted(r["config"]["path"] for r in doc.get("data", {}).get("terraform_remote_state", {}).values()))
            for name, doc in docs.items()}


def test_local_state_is_beside_the_spec_from_any_folder_into_any_output_folder(tmp_path):
    specs = tmp_path / "specs"
    (specs / "team").mkdir(parents=True)
    spec = specs / "spec.yaml"
    spec.write_text(AWS_ONLY.read_text())
    # from the spec's folder into ./cdktf.out, and from two folders up into a deeper output folder
    near = _synth("spec.yaml", "cdktf.out", specs)
    far = _synth("specs/spec.yaml", "specs/team/out/deeper", tmp_path)
    docs = _stacks(near)
    assert docs == _stacks(far)  # the same stacks, byte for byte as JSON
    files = _state_files(docs)
    for name, (own, _) in files.items():
        assert own == str(specs.resolve() / f"terraform.{name}.tfstate")  # absolute, in the spec's folder
    foundation = str(specs.resolve() / "terraform.acme-ml-production-aws-foundation.tfstate")
    # the workload reads the foundation's own file, and the data pipeline's (its cache)
    assert files["acme-ml-production-aws-recommendation-inference"][1] == sorted(
        [foundation, str(specs.resolve() / "terraform.acme-ml-production-aws-data-pipeline.tfstate")])
    assert files["acme-ml-production-aws-dashboard"][1] == [str(specs.resolve() / "terraform.acme-ml-production-aws-recommendation-inference.tfstate")]


@pytest.mark.cdk
def test_cdktf_synth_at_the_repository_root_writes_the_same_state_paths(tmp_path):
    from tests.test_cdktf_cli import base_env, cdktf, project_dir

    specs = tmp_path / "specs"
    specs.mkdir()
    spec = specs / "spec.yaml"
    spec.write_text(AWS_ONLY.read_text())
    project = project_dir(tmp_path)
    r = cdktf(["synth"], project, {**base_env(), "AIINFRA_SPEC": str(spec)})
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    via_cli = _stacks(project / "cdktf.out")
    assert {name: own for name, (own, _) in _state_files(via_cli).items()} == {
        name: str(specs.resolve() / f"terraform.{name}.tfstate") for name in via_cli}
    for doc in via_cli.values():
        doc["//"]["metadata"].pop("version")
    ours = _stacks(_synth(str(spec), "out", tmp_path))
    for doc in ours.values():
        doc["//"]["metadata"].pop("version")
    assert via_cli == ours


def _findings(tmp_path: Path, text: str) -> list[tuple[str, str, str]]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return [(f.severity, f.path, f.message) for f in make_plan(load_spec(spec)).findings]


TRAINING = """
- name: "train"
  type: "training"
  dataset_size: "500GB"
  gpu_requirements: "8x A100"
  training_frequency: "weekly"
  estimated_runtime: "12 hours"
"""


def test_production_with_local_state_is_a_warning_naming_the_remote_backend(tmp_path):
    both = "  aws: {region: us-east-1}\n  gcp: {project: acme-ml-prod, region: us-central1}"
    found = _findings(tmp_path, make_spec(TRAINING + TRAINING.replace('"train"', '"train-gcp"') + "  cloud: gcp\n", clouds=both))
    state = [f for f in found if f[1] == "state"]
    assert [s[0] for s in state] == ["warning", "warning"]
    aws, gcp = (next(s[2] for s in state if f"the {c} stacks'" in s[2]) for c in ("AWS", "GCP"))
    assert "no locking, no encryption" in aws and "state: {aws: {bucket:" in aws and "kms_key_id" in aws and "S3-native locking" in aws
    assert "state: {gcp: {bucket:" in gcp and "kms_encryption_key" in gcp and "locked by GCS" in gcp


def test_remote_state_or_another_environment_is_no_warning(tmp_path):
    s3 = "state:\n  aws: {bucket: acme-tf-state, kms_key_id: arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666}\n"
    assert not [f for f in _findings(tmp_path, make_spec(TRAINING, extra=s3)) if f[1].startswith("state")]
    assert not [f for f in _findings(tmp_path, make_spec(TRAINING, environment="development")) if f[1].startswith("state")]
    # S3 without a key of the team's own: the state's secrets are as safe as S3's own key
    found = _findings(tmp_path, make_spec(TRAINING, extra="state:\n  aws: {bucket: acme-tf-state}\n"))
    assert [(f[0], f[1]) for f in found if f[1].startswith("state")] == [("warning", "state.aws.kms_key_id")]
