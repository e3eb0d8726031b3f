"""Re-synth of an unchanged spec reuses the earlier output; anything that affects it (the spec,
an edited output file, --force) rebuilds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys



from tests.conftest import ROOT  # noqa: E402

GCP_ONLY = ROOT / "examples" / "gcp-only.yaml"


def synth(spec, out, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out), "-q", *extra], capture_output=True,
                          text=True, env=env, cwd=out.parent, timeout=300)


def snapshot(out):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


def test_unchanged_spec_reuses_the_output_and_changes_rebuild(tmp_path):
    spec, out = tmp_path / "spec.yaml", tmp_path / "out"
    spec.write_text(GCP_ONLY.read_text())
    first = synth(spec, out)
    assert first.returncode == 0, first.stderr
    assert "reused" not in first.stderr
    before = snapshot(out)
    again = synth(spec, out)
    assert again.returncode == 0 and "nothing changed since the last synth" in again.stderr
    assert again.stdout == first.stdout and snapshot(out) == before  # not rewritten
    # An edited output file is not trusted.
    stack = next(out.glob("stacks/*/cdk.tf.json"))
    stack.write_text(stack.read_text().replace("acme-ml-prod", "edited"))
    rebuilt = synth(spec, out)
    assert "reused" not in rebuilt.stderr and "edited" not in stack.read_text()
    # A changed spec rebuilds.
    spec.write_text(GCP_ONLY.read_text().replace('expected_qps: "1000"', 'expected_qps: "2000"'))
    changed = synth(spec, out)
    assert changed.returncode == 0 and "reused" not in changed.stderr
    assert synth(spec, out, "--force").stderr.count("reused") == 0


def test_clouds_synthesized_in_parallel_write_what_one_process_writes(tmp_path):
    reference = ROOT / "examples" / "reference.yaml"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    parallel = synth(reference, tmp_path / "a" / "out")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AIINFRA_SYNTH_PARALLEL": "0"}
    serial = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(reference), "--out", "out", "-q"], capture_output=True,
                            text=True, env=env, cwd=tmp_path / "b", timeout=300)
    assert parallel.returncode == 0 and serial.returncode == 0, parallel.stderr + serial.stderr
    # (stderr's last line names the notes file in each output folder)
    assert parallel.stderr.replace(str(tmp_path / "a" / "out"), "out") == serial.stderr
    assert parallel.stdout.replace(str(tmp_path / "a" / "out"), "out") == serial.stdout
    files = lambda root: {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != ".aiinfra-synth.json"}  # noqa: E731
    a, b = files(tmp_path / "a" / "out"), files(tmp_path / "b" / "out")
    assert a.keys() == b.keys() and len(a) > 6
    assert {k for k in a if a[k] != b[k]} <= {"manifest.json"}  # cdktf's own JSON layout differs; the content may not
    assert json.loads(a["manifest.json"]) == json.loads(b["manifest.json"])


def test_a_spec_exception_naming_no_stack_fails_synth(tmp_path):
    spec, out = tmp_path / "spec.yaml", tmp_path / "out"
    spec.write_text((ROOT / "examples" / "reference.yaml").read_text() + "security_exceptions:\n  - rule: AIINFRA-GCP-004\n"
                    "    resource: acme-ml-staging-gcp-foundation/storage/data\n    reason: \"wrong environment in the path\"\n")
    r = synth(spec, out)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == \
        "AIINFRA-GCP-004 acme-ml-staging-gcp-foundation/storage/data: suppression names no stack of this synth (spec)"
    assert not out.exists()


def test_every_package_file_counts_for_reuse():
    """The boot scripts and their systemd unit end up in the stacks: editing any of them must rebuild."""
    from aiinfra.synth import _PACKAGE, package_files

    names = {p.relative_to(_PACKAGE).as_posix() for p in package_files()}
    assert {"boot/node.sh", "boot/aws.sh", "boot/gcp.sh", "boot/gcp-startup.sh", "boot/aiinfra-boot.service",
            "catalog/data/aws.csv", "synth.py"} <= names
    assert not any("__pycache__" in n for n in names)


def test_terraforms_working_files_in_a_stack_folder_do_not_count_as_an_edit(tmp_path):
    """`cdktf diff` / `deploy` run terraform in <out>/stacks/<name>: its .terraform/, lock file and plan are not synth output."""
    spec, out = tmp_path / "spec.yaml", tmp_path / "out"
    spec.write_text(GCP_ONLY.read_text())
    assert synth(spec, out).returncode == 0
    stack = next(out.glob("stacks/*/cdk.tf.json")).parent
    (stack / ".terraform" / "providers").mkdir(parents=True)
    (stack / ".terraform" / "providers" / "x").write_text("provider")
    (stack / ".terraform.lock.hcl").write_text("# lock\n")
    (stack / "plan").write_bytes(b"plan")
    before = snapshot(out)
    again = synth(spec, out)
    assert again.returncode == 0 and "nothing changed since the last synth" in again.stderr and snapshot(out) == before
    (stack / "extra.tf.json").write_text("{}")  # anything else is
    assert "reused" not in synth(spec, out).stderr and not (stack / "extra.tf.json").exists()


def run_app(spec, cwd, **env):
    """main.py as `cdktf synth` runs it (the CLI sets CDKTF_OUTDIR), or on its own."""
    env = {**{k: v for k, v in os.environ.items() if k != "CDKTF_OUTDIR"}, "AIINFRA_SPEC": str(spec), **env}
    return subprocess.run([sys.executable, str(ROOT / "main.py")], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_a_stack_the_new_synth_drops_is_named_with_what_deploy_will_not_do(tmp_path):
    """Synth of a spec without some of the previous synth's stacks (here the AWS side of the
    reference example, and its GCP workloads that gcp-only lacks): one note per dropped stack, since
    ``cdktf deploy`` never destroys a stack the app no longer has."""
    import re

    out = tmp_path / "cdktf.out"
    assert synth(ROOT / "examples" / "reference.yaml", out).returncode == 0
    old = {p.name for p in (out / "stacks").iterdir()}
    r = synth(GCP_ONLY, out)
    assert r.returncode == 0, r.stderr
    new = {p.name for p in (out / "stacks").iterdir()}
    notes = (out / "notes.txt").read_text()  # every note, one a line (synth prints the same advice once)
    noted = set(re.findall(r"^(\S+): in the previous synth of \S+, not in this one: deploy never destroys it", notes, re.M))
    assert noted == old - new and any("-aws-" in n for n in noted), notes
    assert "until `terraform destroy` in its folder of a synth of the spec that had it" in r.stderr
    (told,) = [line for line in r.stderr.splitlines() if "in the previous synth of" in line]  # the same advice once, an action
    assert told.startswith("note: ACTION ") and f"[likewise {len(noted) - 1} more: " in told
    again = synth(GCP_ONLY, out)
    assert "nothing changed since the last synth" in again.stderr and "in the previous synth" not in again.stderr


def test_under_the_cdktf_cli_the_old_stack_folders_stay_for_the_cli_to_remove(tmp_path):
    """The CLI lists <outdir>/stacks/* before running the app and rmSync's (no force) each one the new manifest drops
    afterwards: the app must leave them there. Terraform's working files of the stacks that remain stay with them."""
    reference = ROOT / "examples" / "reference.yaml"
    assert synth(reference, tmp_path / "cdktf.out").returncode == 0
    out = tmp_path / "cdktf.out"
    old = {p.name for p in (out / "stacks").iterdir()}
    kept = out / "stacks" / "acme-ml-production-gcp-foundation"
    (kept / ".terraform").mkdir()
    (kept / ".terraform.lock.hcl").write_text("# lock\n")
    (kept / "plan").write_bytes(b"stale plan")
    r = run_app(GCP_ONLY, tmp_path, CDKTF_OUTDIR="cdktf.out")
    assert r.returncode == 0, r.stderr
    names = set(json.loads((out / "manifest.json").read_text())["stacks"])
    assert kept.name in names and old - names and names - old
    assert {p.name for p in (out / "stacks").iterdir()} == names | old  # the dropped ones: left for the CLI
    assert (kept / ".terraform").is_dir() and (kept / ".terraform.lock.hcl").read_text() == "# lock\n" and not (kept / "plan").exists()
    for name in old - names:  # what the CLI does next; then the output is the new synth's, reusable
        shutil.rmtree(out / "stacks" / name)
    again = run_app(GCP_ONLY, tmp_path, CDKTF_OUTDIR="cdktf.out")
    assert again.returncode == 0 and "nothing changed since the last synth" in again.stderr
    # Not under the CLI (aiinfra synth, or main.py on its own): the output folder is replaced whole.
    assert synth(reference, out).returncode == 0
    r = run_app(GCP_ONLY, tmp_path)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in (out / "stacks").iterdir()} == names
