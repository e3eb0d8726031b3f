"""The cdktf CLI (cdktn's in the cdktn pass) over an output folder whose set of stacks changes, as a
user drives it: ``aiinfra synth`` (``make demo``), then ``cdktf synth`` / ``cdktf diff`` of other
specs must work the first time. cdktn-cli 0.24 reads the same cdktf.json, runs the same main.py
with the same ``CDKTF_OUTDIR`` and keeps the same folder bookkeeping.

The CLI lists ``<outdir>/stacks/*`` before it runs the app and removes the listed folders the new
manifest drops once the app is done (it fails with ENOENT on one that is already gone); Terraform keeps
its working files in the stack folders it runs in (see src/aiinfra/synth.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM, moto_server, plugin_mirror  # noqa: F401

from aiinfra import cdk  # noqa: E402

# The CLI of the CDK this pass is bound to: cdktf-cli 0.21 (package.json, Node 20), or cdktn-cli 0.24
# (tools/cdktn/package.json, with the Node.js 22 it needs: its node_modules/.bin goes first on PATH).
CLI_BIN = {"cdktf": ROOT / "node_modules" / ".bin", "cdktn": ROOT / "tools" / "cdktn" / "node_modules" / ".bin"}[cdk.NAME]
CLI = CLI_BIN / cdk.NAME
pytestmark = pytest.mark.cdk


def cli_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the CLI's folder (and so, for cdktn, its Node.js 22) first on PATH."""
    assert CLI.exists(), f"{CLI} missing: make setup{' CDK=cdktn' if cdk.NAME == 'cdktn' else ''} installs it"
    return {**env, "PATH": f"{CLI_BIN}{os.pathsep}{env.get('PATH', os.environ['PATH'])}"}

TERRAFORM_WORK = {".terraform", ".terraform.lock.hcl", "plan"}


def project_dir(tmp_path: Path) -> Path:
    """A cdktf project as the repository lays it out (the same as tests/test_e2e_aws.py's cdktf deploy test)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("main.py", "cdktf.json"):
        shutil.copy(ROOT / name, project / name)
    (project / "src").symlink_to(ROOT / "src")
    (project / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (project / "examples").symlink_to(ROOT / "examples")
    return project


def base_env() -> dict[str, str]:
    return {**os.environ, "CHECKPOINT_DISABLE": "1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21",
            "PYTHONPATH": str(ROOT / "src")}


def aiinfra_synth(spec: Path, cwd: Path, env: dict[str, str]) -> Path:
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", "cdktf.out", "-q"], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return cwd / "cdktf.out"


def cdktf(args: list[str], project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], cwd=project, env=cli_env(env), capture_output=True, text=True, timeout=900)


def output(out: Path) -> dict[str, bytes]:
    """The synthesized files of an output folder (Terraform's working files and the cache record left out)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in (".aiinfra-synth.json", "manifest.json")
            and not (len(p.relative_to(out).parts) > 2 and p.relative_to(out).parts[2] in TERRAFORM_WORK)}


def expect(spec: Path, scratch: Path, env: dict[str, str]) -> tuple[list[str], dict[str, bytes]]:
    """What ``aiinfra synth`` makes of ``spec`` on its own: (stack names, files)."""
    scratch.mkdir()
    out = aiinfra_synth(spec, scratch, env)
    return sorted(json.loads((out / "manifest.json").read_text())["stacks"]), output(out)


def assert_holds_exactly(out: Path, expected: tuple[list[str], dict[str, bytes]], r: subprocess.CompletedProcess[str]) -> None:
    names, files = expected
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert "ENOENT" not in r.stdout + r.stderr
    assert sorted(p.name for p in (out / "stacks").iterdir()) == names
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == names
    got = output(out)
    notes, want_notes = got.pop("notes.txt", b"").decode().splitlines(), files.get("notes.txt", b"").decode().splitlines()
    assert got == {k: v for k, v in files.items() if k != "notes.txt"}  # what aiinfra synth writes, byte for byte
    # The notes too, and a re-synth that retires stacks adds the note that tells how to destroy them.
    assert set(want_notes) <= set(notes) and all("terraform destroy" in n for n in set(notes) - set(want_notes)), notes
    assert not list(out.parent.glob(".cdktf.out.*"))  # no temporary or old folder left beside it


def without_workload(spec: Path, workload: str, into: Path) -> Path:
    doc = yaml.safe_load(spec.read_text())
    doc["workload_inventory"] = [w for w in doc["workload_inventory"] if w["name"] != workload]
    into.write_text(yaml.safe_dump(doc, sort_keys=False))
    return into


def test_cdktf_synth_after_the_set_of_stacks_changed_works_the_first_time(tmp_path):
    env = base_env()
    project = project_dir(tmp_path)
    out = aiinfra_synth(ROOT / "examples" / "reference.yaml", project, env)  # make demo
    gcp_only = ROOT / "examples" / "gcp-only.yaml"
    smaller = without_workload(ROOT / "examples" / "reference.yaml", "feature-etl", tmp_path / "smaller.yaml")
    want_gcp, want_smaller = expect(gcp_only, tmp_path / "a", env), expect(smaller, tmp_path / "b", env)
    assert set(want_gcp[0]) != set(json.loads((out / "manifest.json").read_text())["stacks"])
    assert set(want_smaller[0]) - set(want_gcp[0]) and set(want_gcp[0]) - set(want_smaller[0])  # stacks come and go each time

    r = cdktf(["synth"], project, {**env, "AIINFRA_SPEC": str(gcp_only)})
    assert_holds_exactly(out, want_gcp, r)
    r = cdktf(["synth"], project, {**env, "AIINFRA_SPEC": str(smaller)})
    assert_holds_exactly(out, want_smaller, r)


@SKIP_NO_TERRAFORM
def test_cdktf_diff_then_synth_of_fewer_stacks_keeps_terraforms_working_files(tmp_path, moto_server):
    from tests.test_e2e_aws import moto_spec

    env = {**base_env(), **moto_server.env(), "TF_CLI_ARGS_init": f"-plugin-dir={plugin_mirror()}"}
    project = project_dir(tmp_path)
    out = aiinfra_synth(ROOT / "examples" / "reference.yaml", project, env)  # make demo
    spec = moto_spec(tmp_path, env)  # aws-only.yaml, with an AMI and a certificate the local AWS API knows
    smaller = without_workload(spec, "recommendation-inference", tmp_path / "smaller.yaml")
    want, want_smaller = expect(spec, tmp_path / "a", env), expect(smaller, tmp_path / "b", env)
    stack = "acme-ml-production-aws-foundation"
    assert stack in want_smaller[0] and set(want[0]) - set(want_smaller[0])

    r = cdktf(["diff", stack, "--skip-provider-lock"], project, {**env, "AIINFRA_SPEC": str(spec)})
    assert_holds_exactly(out, want, r)
    lock = out / "stacks" / stack / ".terraform.lock.hcl"
    assert (out / "stacks" / stack / ".terraform").is_dir() and lock.is_file()  # terraform init ran in the stack's folder
    locked = lock.read_bytes()

    r = cdktf(["synth"], project, {**env, "AIINFRA_SPEC": str(smaller)})
    assert_holds_exactly(out, want_smaller, r)
    assert lock.read_bytes() == locked and (out / "stacks" / stack / ".terraform").is_dir()  # as cdktf's own synth in place keeps them

    # Unchanged spec: the output is reused although Terraform's working files are in it.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("cdk.tf.json")}
    r = cdktf(["synth"], project, {**env, "AIINFRA_SPEC": str(smaller)})
    assert_holds_exactly(out, want_smaller, r)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("cdk.tf.json")} == before
