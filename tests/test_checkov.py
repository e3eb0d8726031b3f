"""checkov (offline, Terraform JSON) over the synthesized stacks of every example spec: no failed
check, and checks must actually have run on every stack file (a scan of nothing fails).

The checks the project skips, each with its reason, are in .checkov.yaml at the repository root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".checkov.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
# `make setup` installs checkov in its own virtualenv (.venv-checkov: its pins clash with the
# project's) and exports AIINFRA_CHECKOV; a checkov next to this interpreter also does.
_OWN_VENV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV = (os.environ.get("AIINFRA_CHECKOV") if os.path.exists(os.environ.get("AIINFRA_CHECKOV", "")) else None) or \
    (str(_OWN_VENV) if _OWN_VENV.exists() else None) or shutil.which("checkov", path=os.path.dirname(sys.executable))
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")


def synth(spec: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out), "-q"], capture_output=True,
                       text=True, env=env, cwd=out.parent, timeout=300)
    assert r.returncode == 0, f"synth {spec.name} failed:\n{r.stderr[-3000:]}"


def run_checkov(stacks: Path) -> list[dict]:
    """The reports of one checkov run (checkov prints one dict, or a list when several
    frameworks report)."""
    r = subprocess.run([CHECKOV, "--config-file", str(CONFIG), "-d", str(stacks), "-o", "json"], capture_output=True, text=True,
                       cwd=stacks.parent, timeout=600)
    try:
        doc = json.loads(r.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov exited {r.returncode} without a JSON report:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return doc if isinstance(doc, list) else [doc]


# Resource types checkov 3 has no check for (a dashboard holds no data and opens nothing; terraform_data is Terraform's own;
# kubernetes_manifest: checkov's Terraform checks do not read it, the in-cluster objects stack's documents are schema-checked
# by tests/test_k8s_stacks.py).
RESOURCES_WITHOUT_CHECKS = {"google_monitoring_dashboard", "terraform_data",  # terraform_data: the stand-ins of stacks/state.py
                            "kubernetes_manifest"}


@pytest.mark.skipif(CHECKOV is None, reason="checkov is not installed (make setup puts it in .venv-checkov)")
@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_checkov_passes_on_the_synthesized_stacks(spec, tmp_path):
    out = tmp_path / "cdktf.out"
    synth(spec, out)
    stacks = out / "stacks"
    files = {os.path.realpath(p) for p in stacks.glob("*/cdk.tf.json")}
    assert files, f"synth of {spec.name} wrote no stack"

    reports = run_checkov(stacks)
    passed, failed, parsing_errors = [], [], []
    for report in reports:
        if "results" not in report:  # checkov's empty summary: nothing was scanned
            continue
        passed += report["results"].get("passed_checks", [])
        failed += report["results"].get("failed_checks", [])
        parsing_errors += report["results"].get("parsing_errors", [])
    assert not parsing_errors, f"checkov could not parse: {parsing_errors}"

    if failed:
        lines = sorted(f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}" for c in failed)
        pytest.fail(f"{len(failed)} failed checkov check(s) on {spec.name} ({len(passed)} passed):\n" + "\n".join(lines), pytrace=False)
    assert passed, f"checkov ran no check on {spec.name}: nothing was scanned"
    scanned = {os.path.realpath(c["file_abs_path"]) for c in passed}
    # A stack of nothing checkov has a check for (the GCP dashboard stack) is read, not skipped:
    # every other stack file must have passed checks.
    unchecked = {f for f in files - scanned
                 if set(json.loads(Path(f).read_text()).get("resource", {})) <= RESOURCES_WITHOUT_CHECKS}
    unscanned = sorted(os.path.relpath(f, stacks) for f in files - scanned - unchecked)
    assert not unscanned, f"checkov passed no check on these stack files: {unscanned}"


def test_every_skipped_check_has_a_reason():
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    assert config["framework"] == ["terraform_json"] and config["skip-download"] is True

    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("skip-check:"))
    listed = []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line and not line.startswith((" ", "#")):
            break  # the next top-level key
        entry = re.match(r"^\s+-\s+(\S+)\s*$", line)
        if not entry:
            continue
        check_id = entry.group(1)
        listed.append(check_id)
        assert CHECK_ID.match(check_id), f"{check_id!r} is not a checkov check id"
        reason = []
        j = i - 1
        while j > start and lines[j].strip().startswith("#"):
            reason.insert(0, lines[j].strip().lstrip("#").strip())
            j -= 1
        assert len(" ".join(reason).split()) >= 8, f"skip of {check_id} needs a reason: a comment block right above it"
    assert listed == config.get("skip-check", []), "every skip-check entry must be a '- ID' line of its own"
    assert len(set(listed)) == len(listed), "a check is skipped twice"
