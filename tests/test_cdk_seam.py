"""One code base on cdktf and on CDK Terrain (cdktn): the import seam (``aiinfra.cdk``), how it
chooses, what a process that mixes the two gets, and that both write the same stacks.

``make test`` runs the construct, stack and policy tests (marker ``cdk``) a second time in
``.venv-cdktn`` with ``AIINFRA_CDK=cdktn``; the tests here that need both CDKs at once run in the
cdktf pass and reach the other venv's interpreter (``CDKTN_PYTHON``, ``CDKTF_PYTHON``).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra import cdk
from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM

pytestmark = pytest.mark.cdk

CDKTF_PYTHON = ROOT / ".venv" / "bin" / "python"
CDKTN_PYTHON = ROOT / ".venv-cdktn" / "bin" / "python"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "AIINFRA_CDK"}
    return {**base, "PYTHONPATH": str(ROOT), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21", **extra}


def python(code: str, interpreter: Path | str = sys.executable, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(interpreter), "-c", code], capture_output=True, text=True, env=env(**extra), timeout=300)


def other_venv() -> Path:
    """The interpreter of the other CDK's venv (``make setup CDK=both`` makes both)."""
    other = CDKTN_PYTHON if cdk.NAME == "cdktf" else CDKTF_PYTHON
    if not other.exists():
        message = f"{other} is missing: make setup CDK=both sets up the {cdk.OTHER} venv"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return other


def site_packages(interpreter: Path) -> str:
    r = subprocess.run([str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                       text=True, check=True)
    return r.stdout.strip()


# ---- the seam ------------------------------------------------------------------------------

def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"):
            found += [(node.lineno, a.value) for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return found


def test_no_module_but_the_seam_imports_cdktf_cdktn_or_constructs():
    banned = {"cdktf", "cdktn", "constructs"}
    seam = ROOT / "src" / "aiinfra" / "cdk.py"
    offenders = [f"{p.relative_to(ROOT)}:{line}: {name}" for p in [*sorted((ROOT / "src").rglob("*.py")), ROOT / "main.py"] if p != seam
                 for line, name in _imports(p) if name.partition(".")[0] in banned]
    assert offenders == []
    assert {name.partition(".")[0] for _, name in _imports(seam)} >= {"cdktf", "constructs"}  # the check sees imports at all


def test_the_constructs_import_nothing_from_the_stacks_or_the_planner():
    """Constructs sit below the stacks: a user's stack imports them without the spec's machinery."""
    offenders = [f"{p.relative_to(ROOT)}:{line}: {name}" for p in sorted((ROOT / "src" / "aiinfra" / "constructs").rglob("*.py"))
                 for line, name in _imports(p) if name.startswith(("aiinfra.stacks", "aiinfra.planner", "aiinfra.spec"))]
    assert offenders == []


def test_the_binding_is_the_installed_cdk_when_nothing_else_decides():
    installed = [name for name in cdk.CHOICES if _has(name)]
    r = python("import aiinfra.cdk as c; print(c.NAME, '|', c.REASON)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [installed[0], "|", installed[0], "installed"]


def _has(name: str) -> bool:
    return python(f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)").returncode == 0


@pytest.mark.parametrize("value, message", [
    ("cdk", "AIINFRA_CDK=cdk: expected cdktf or cdktn"),
    ("pulumi", "AIINFRA_CDK=pulumi: expected cdktf or cdktn"),
])
def test_a_bad_choice_is_one_line_and_exit_2_with_nothing_written(tmp_path, value, message):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(ROOT / "examples" / "aws-only.yaml"), "--out", str(out), "-q"],
                       capture_output=True, text=True, env=env(AIINFRA_CDK=value), timeout=300)
    assert (r.returncode, r.stderr.strip()) == (2, message)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_asking_for_the_cdk_that_is_not_installed_names_the_extra(tmp_path):
    missing = next((n for n in cdk.CHOICES if not _has(n)), None)
    assert missing is not None, "make setup keeps cdktf and cdktn in separate venvs"
    extra = "synth" if missing == "cdktf" else "synth-cdktn"
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(ROOT / "examples" / "aws-only.yaml"), "--out",
                        str(tmp_path / "out"), "-q"], capture_output=True, text=True, env=env(AIINFRA_CDK=missing), timeout=300)
    assert (r.returncode, r.stderr.strip()) == (2, f"AIINFRA_CDK={missing}: {missing} is not installed (pip install 'cdktf-aiinfra[{extra}]')")
    r = python("import aiinfra.cdk", AIINFRA_CDK=missing)
    assert r.returncode == 1 and f"CdkChoiceError: AIINFRA_CDK={missing}: {missing} is not installed" in r.stderr


def test_s3_backend_locks_with_the_typed_argument_on_cdktn_and_the_synthesized_attributes_on_cdktf(tmp_path):
    app = cdk.App(outdir=str(tmp_path), context={"targetVersions": cdk.TARGET_VERSIONS})
    stack = cdk.TerraformStack(app, "s")
    backend = cdk.s3_backend(stack, bucket="b", key="k", region="us-east-1", encrypt=True)
    app.synth()
    doc = json.loads((tmp_path / "stacks" / "s" / "cdk.tf.json").read_text())
    locked = {"bucket": "b", "key": "k", "region": "us-east-1", "encrypt": True, "use_lockfile": True}
    assert doc["terraform"]["backend"]["s3"] == locked
    assert backend.to_hcl_terraform()["terraform"]["backend"]["s3"] == locked  # `synth --hcl` too
    # No escape-hatch override recorded: the stack is the same file on both CDKs.
    assert "overrides" not in doc["//"]["metadata"], doc["//"]["metadata"]
    assert (type(backend) is cdk.S3Backend) == (cdk.NAME == "cdktn")  # cdktf 0.21's S3BackendConfig has no use_lockfile


# ---- a process with both -----------------------------------------------------------------

MIXED = """
import sys
sys.path.append({other_site!r})   # the other CDK, after this venv's constructs and jsii
import {first}
import aiinfra.cdk as seam
import {second}
from aiinfra.constructs.aws import AwsProvider, EncryptionKey
print("bound", seam.NAME, "|", seam.REASON)
app = {first}.App(outdir={out!r})
mine = {first}.TerraformStack(app, "mine")
AwsProvider(mine, region="us-east-1")
EncryptionKey(mine, "key", alias="k")
app.synth()
print("synthesized", sorted(__import__("json").load(open({out!r} + "/stacks/mine/cdk.tf.json"))["resource"]))
theirs = {second}.TerraformStack({second}.App(), "theirs")
try:
    EncryptionKey(theirs, "key", alias="k")
except seam.MixedCdkError as e:
    print("refused", e)
try:
    AwsProvider(theirs)
except seam.MixedCdkError as e:
    print("refused provider")
from aiinfra.policy import apply_policy
try:
    apply_policy(theirs)
except seam.MixedCdkError as e:
    print("refused policy")
"""


@pytest.mark.parametrize("first", ["cdktn", "cdktf"])
def test_a_process_with_both_binds_to_the_one_its_app_imported_and_refuses_the_other_in_one_line(tmp_path, first):
    other = other_venv()
    second = "cdktf" if first == "cdktn" else "cdktn"
    code = MIXED.format(other_site=site_packages(other), first=first, second=second, out=str(tmp_path / "out"))
    r = python(code)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0] == f"bound {first} | {first} already imported"
    assert lines[1].startswith("synthesized [") and "'aws_kms_key'" in lines[1]
    assert lines[2] == (f"refused scope 'TerraformStack' belongs to {second}, but aiinfra is bound to {first} ({first} already imported): "
                        f"{second} and {first} objects never mix in one app; build the whole app on one of them, e.g. set "
                        f"AIINFRA_CDK={second} before aiinfra is imported")
    assert lines[3:] == ["refused provider", "refused policy"]


def test_aiinfra_cdk_wins_over_what_was_imported(tmp_path):
    other = other_venv()
    code = (f"import sys; sys.path.append({site_packages(other)!r}); import cdktf, cdktn; import aiinfra.cdk as c; "
            "print(c.NAME, '|', c.REASON)")
    for name in cdk.CHOICES:
        r = python(code, AIINFRA_CDK=name)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.strip() == f"{name} | AIINFRA_CDK={name}"


# ---- the same stacks on both -----------------------------------------------------------------

def _stacks(out: Path) -> dict[str, dict]:
    docs = {}
    for path in sorted((out / "stacks").glob("*/cdk.tf.json")):
        doc = json.loads(path.read_text())
        docs[path.parent.name] = doc
    return docs


def _synth(interpreter: Path, name: str, spec: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(interpreter), "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out), "-q"], capture_output=True,
                          text=True, env=env(AIINFRA_CDK=name, PYTHONPATH=str(ROOT / "src")), timeout=600)


def test_every_example_synthesizes_to_the_same_stacks_on_both(tmp_path):
    """``aiinfra synth`` of each example under cdktf and under cdktn: the same ``cdk.tf.json``,
    ``//.metadata.version`` (the CDK's own version) aside. The examples keep AWS state local, so
    aws-only is also compared with its state in S3 (the backend that differs in how each CDK
    writes ``use_lockfile``)."""
    pythons = {cdk.NAME: Path(sys.executable), cdk.OTHER: other_venv()}
    versions = {}
    s3_state = tmp_path / "aws-only-s3-state.yaml"
    s3_state.write_text((ROOT / "examples" / "aws-only.yaml").read_text() + "state:\n  aws:\n    bucket: acme-tf-state\n")
    for spec in [*EXAMPLES, s3_state]:
        docs = {}
        for name, interpreter in pythons.items():
            out = tmp_path / name / spec.stem
            r = _synth(interpreter, name, spec, out)
            assert r.returncode == 0, (name, spec.name, r.stderr[-3000:])
            docs[name] = _stacks(out)
            for doc in docs[name].values():
                versions.setdefault(name, set()).add(doc["//"]["metadata"].pop("version"))
        assert docs["cdktf"].keys() == docs["cdktn"].keys() and docs["cdktf"], spec.name
        if spec == s3_state:
            assert all(d["terraform"]["backend"]["s3"]["use_lockfile"] is True for d in docs["cdktf"].values())
        for stack in docs["cdktf"]:
            assert docs["cdktf"][stack] == docs["cdktn"][stack], (spec.name, stack)
    assert versions == {"cdktf": {"0.21.0"}, "cdktn": {"0.24.0"}}  # the field that differs does differ: both really ran
    assert len(EXAMPLES) >= 3


# ---- a user's own app ------------------------------------------------------------------------

OWN_APP = ROOT / "examples" / "own-app" / "main.py"


@SKIP_NO_TERRAFORM
def test_a_users_own_app_on_this_cdk_synthesizes_and_validates(tmp_path):
    """examples/own-app/main.py is a cdktn app; on cdktf it is the same with ``from cdktf import``.
    Each pass (cdktf, then cdktn in make test) runs it as its user would, on its own CDK, and
    ``terraform validate`` with the real aws provider checks the output."""
    from tests.tf_harness import init, run_terraform

    text = OWN_APP.read_text()
    assert "\nfrom cdktn import App, TerraformOutput, TerraformStack\n" in text
    app = tmp_path / "main.py"
    app.write_text(text.replace("\nfrom cdktn import", f"\nfrom {cdk.NAME} import"))
    r = subprocess.run([sys.executable, str(app)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=env(PYTHONPATH=str(ROOT / "src")))
    assert r.returncode == 0, r.stderr[-3000:]
    stack = tmp_path / "cdktf.out" / "stacks" / "my-team-training"
    doc = json.loads((stack / "cdk.tf.json").read_text())
    assert doc["//"]["metadata"]["version"] == {"cdktf": "0.21.0", "cdktn": "0.24.0"}[cdk.NAME]
    assert doc["terraform"]["required_providers"]["aws"] == {"source": "hashicorp/aws", "version": "~> 5.100"}
    assert doc["provider"]["aws"] == [{"region": "us-east-1", "default_tags": [{"tags": {"team": "ml-platform", "managed-by": "cdktn"}}]}]
    assert {"aws_autoscaling_group", "aws_launch_template", "aws_kms_key", "aws_s3_bucket", "aws_placement_group",
            "aws_security_group"} <= doc["resource"].keys()
    init(stack, backend=False)
    out = run_terraform(["validate", "-json"], stack)
    assert '"valid": true' in out.stdout, out.stdout


def test_the_policy_pack_fails_a_users_app_that_loosens_a_default(tmp_path):
    text = OWN_APP.read_text().replace("\nfrom cdktn import", f"\nfrom {cdk.NAME} import")
    text = text.replace('        TerraformOutput(self, "group_name", value=group.name)',
                        '        TerraformOutput(self, "group_name", value=group.name)\n'
                        '        key.key.add_override("enable_key_rotation", False)')
    app = tmp_path / "main.py"
    app.write_text(text)
    r = subprocess.run([sys.executable, str(app)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=env(PYTHONPATH=str(ROOT / "src")))
    assert r.returncode != 0
    assert "AIINFRA-AWS-003 my-team-training/key" in r.stderr, r.stderr[-3000:]


def test_the_readmes_constructs_example_synthesizes_on_this_cdk(tmp_path):
    """The README's example of the constructs in a user's stack, as printed (with ``from cdktn
    import`` in the cdktn pass, as its comment says), policy pack included."""
    import re

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(from cdktf import App, TerraformStack .*?)```", readme, re.S)
    assert block, "the README's constructs example moved"
    code = block.group(1).replace("from cdktf import App, TerraformStack", f"from {cdk.NAME} import App, TerraformStack", 1)
    assert "aiinfra.constructs._" not in code  # public names only
    (tmp_path / "main.py").write_text(code)
    r = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=env(PYTHONPATH=str(ROOT / "src")))
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((tmp_path / "cdktf.out" / "stacks" / "my-team" / "cdk.tf.json").read_text())
    assert doc["//"]["metadata"]["version"] == {"cdktf": "0.21.0", "cdktn": "0.24.0"}[cdk.NAME]
    assert doc["provider"]["aws"] == [{"region": "us-west-2"}]
    assert {"aws_autoscaling_group", "aws_launch_template", "aws_kms_key", "aws_s3_bucket"} <= doc["resource"].keys()
