"""``aiinfra synth`` and the cdktf app: spec -> plan -> stacks -> ``<out>/stacks/<name>/cdk.tf.json``, and
on the Kubernetes platform each cluster's in-cluster documents as YAML, ``<out>/kubernetes/<cluster stack>/``
(``aiinfra.k8s.export``).

Output is atomic: stacks are written to a temporary folder beside the output folder and
swapped in whole, so a failed synth leaves the previous output as it was.

Under the cdktf CLI (``cdktf synth`` / ``diff`` / ``deploy`` run ``main.py`` with ``CDKTF_OUTDIR``
set) the output folder is also the CLI's: before it runs the app, the CLI lists the folders under
``<outdir>/stacks``, and afterwards it removes (``fs.rmSync`` without ``force``, so a missing one is an
ENOENT error) every listed folder that the new manifest no longer names (cdktf-cli 0.21,
``SynthStack.synth`` in @cdktf/cli-core/src/lib/synth-stack.js, bundled in
cdktf-cli/bundle/bin/cmds/handlers.js). Terraform, run by the CLI in ``<outdir>/stacks/<name>``,
keeps its working files there too (``.terraform/``, ``.terraform.lock.hcl``, the ``plan`` file).
So with ``cdktf_cli=True`` the swap still replaces the folder whole, and then hands the CLI back what
it expects to find: each old stack folder the new synth dropped (for the CLI to remove) and
Terraform's working files of the stacks that remain.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from aiinfra.cdk_choice import CdkChoiceError, current, describe
from aiinfra.errors import Problem, SpecError
from aiinfra.k8s import export
from aiinfra.notes import NOTES_FILE
from aiinfra.planner.model import Plan
from aiinfra.spec.models import Spec


def precheck(spec: Spec, plan: Plan) -> list[Problem]:
    """What synthesis needs beyond a valid plan (checked before jsii is loaded)."""
    problems = []
    from aiinfra.boot import aws_user_data_gzip, gcp_metadata
    from aiinfra.boot.workload import boot_config
    from aiinfra.observability.workload import boot_monitoring
    from aiinfra.naming import resource_prefix

    for i, w in enumerate(spec.workload_inventory):
        placed = next((p for p in plan.workloads if p.name == w.name), None)
        if placed is None or plan.spark_part(w.name) is not None:  # EMR / Dataproc start their own nodes: nothing of ours boots
            continue
        try:  # the nodes' boot, rendered as the stacks will (EC2's 16 KB user-data limit included)
            name = f"{resource_prefix(spec.project, spec.environment)}-{w.name}"
            cfg = boot_config(spec, placed, placed.cloud, (name,), project=spec.clouds.gcp.project if placed.cloud == "gcp" else None,
                              **boot_monitoring(spec, placed, name))
            aws_user_data_gzip(cfg) if placed.cloud == "aws" else gcp_metadata(cfg)
        except ValueError as exc:
            problems.append(Problem(f"workload_inventory[{i}]", f"cannot boot its nodes: {exc}"))
    flavours: dict[str, dict[str, list[str]]] = {}
    for w in plan.workloads:
        if w.cloud == "gcp" and w.multi_node and w.gpu_nics_per_node:
            flavours.setdefault(w.region, {}).setdefault(w.interconnect, []).append(w.name)
    for region, kinds in flavours.items():
        if len(kinds) > 1:
            listed = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(kinds.items()))
            problems.append(Problem("workload_inventory", f"multi-node workloads in gcp {region} need different GPU NIC networks ({listed}); "
                                    "one region's network carries one GPUDirect flavour: pin them to different regions"))
    return problems


def state_dir_for(plan: Plan) -> str:
    """Where local Terraform state lives: the spec's folder, absolute, whatever folder synth runs
    from and wherever its output goes (``aiinfra.stacks.state`` says why); the working directory
    when the plan was made from no file."""
    return str(Path(plan.spec_path).resolve().parent) if plan.spec_path else str(Path.cwd().resolve())


CACHE_FILE = ".aiinfra-synth.json"  # in the output folder: what it was made from, and its files' hashes
# NOTES_FILE: the notes of the last synth (aiinfra.notes), written by the CLI once the output is in
# place; not synth output, so it does not invalidate the cache.
REUSED_NOTE = "nothing changed since the last synth"
# What Terraform run by the cdktf CLI writes into a stack's folder (``<out>/stacks/<name>/<entry>``): not
# synth output, so it neither invalidates the cache nor is thrown away under the CLI (the plan file is
# rewritten by every diff/deploy, so it is not carried over).
TERRAFORM_WORK = (".terraform", ".terraform.lock.hcl", "plan")
CARRIED_OVER = (".terraform", ".terraform.lock.hcl")
_PACKAGE = Path(__file__).resolve().parent


def package_files() -> list[Path]:
    """Every file of the package (code, catalog data, boot scripts and units): what synth output is made from."""
    return [p for p in sorted(_PACKAGE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]


def _code_digest() -> str:
    """The package's own code and data: any edit invalidates the cache."""
    h = hashlib.sha256()
    for path in package_files():
        h.update(path.relative_to(_PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(spec: Spec, plan: Plan, state_dir: str) -> str:
    """Everything the output depends on: the spec, the plan (so the catalog), the package
    version and code, the CDK it is built with (cdktf or cdktn, and its version), and where local
    state lives."""
    from aiinfra import __version__

    plan_doc = {k: v for k, v in plan.to_dict().items() if k != "spec_path"}
    material = json.dumps({"spec": spec.model_dump(mode="json"), "plan": plan_doc, "version": __version__, "code": _code_digest(),
                           "cdk": describe(), "state_dir": state_dir}, sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def _terraform_work(rel: tuple[str, ...]) -> bool:
    return len(rel) >= 3 and rel[0] == "stacks" and rel[2] in TERRAFORM_WORK


def _files(out_dir: Path) -> dict[str, str]:
    return {p.relative_to(out_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out_dir.rglob("*"))
            if p.is_file() and p.name != CACHE_FILE and p.relative_to(out_dir).as_posix() != NOTES_FILE
            and not _terraform_work(p.relative_to(out_dir).parts)}


def reuse(out_dir: Path, key: str, extra_files: bool = False) -> tuple[list[str], list[str]] | None:
    """(names, notes) of the earlier synth in ``out_dir`` if it was made from ``key`` and no file
    in it has changed since; else None. ``extra_files``: files the synth did not write (a
    ``terraform.tfvars``, a plan file, anything a user or CI put in a stack's folder) do not count,
    only that every file it wrote is there as it wrote it (``aiinfra review``)."""
    try:
        record = json.loads((out_dir / CACHE_FILE).read_text())
        files = _files(out_dir)
        written = record.get("files")
        if record.get("key") != key or not isinstance(written, dict):
            return None
        if written != files and not (extra_files and all(files.get(name) == digest for name, digest in written.items())):
            return None
        return list(record["names"]), list(record["notes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def synth(spec: Spec, plan: Plan, out_dir: Path, progress=lambda message: None, force: bool = False,
          cdktf_cli: bool = False) -> tuple[list[str], list[str]]:
    """Write every stack of the plan under ``out_dir``; returns (stack names, notes).

    When ``out_dir`` already holds the output of the same spec, plan and package (and nobody
    edited it), it is kept as it is (``force`` rebuilds anyway). ``cdktf_cli``: the app runs under
    the cdktf CLI, which owns ``out_dir`` too (see the module's docstring)."""
    try:
        cdk = current()  # before anything is written; the workers get the same one
    except CdkChoiceError as exc:
        raise SpecError([*precheck(spec, plan), Problem(exc.where, exc.reason)]) from None
    clouds = [c for c in ("aws", "gcp") if c in plan.clouds()]
    parallel = len(clouds) > 1 and os.environ.get("AIINFRA_SYNTH_PARALLEL", "1") != "0"
    if not parallel:
        _raise_problems(precheck(spec, plan))
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    state_dir = state_dir_for(plan)
    key = cache_key(spec, plan, state_dir)
    if not force:
        # The key covers the spec, the plan and the package: an output it matches passed the precheck.
        found = reuse(out_dir, key)
        if found is not None:
            names, notes = found
            return names, [*notes, f"{REUSED_NOTE}: {out_dir} reused (--force rebuilds it)"]
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output is an ordinary folder
    try:
        if parallel:
            progress(f"synthesizing {' and '.join(clouds)} stacks in parallel and checking them against the policy pack")
            # The precheck (every workload's boot rendered: a few ms each) runs while the workers load the CDK,
            # not before them: a failing one stops them and nothing is written.
            shards = _synth_in_processes(spec, plan, tmp, state_dir, clouds, meanwhile=lambda: _raise_problems(precheck(spec, plan)))
        else:
            progress(f"loading {cdk} and synthesizing stacks")
            shards = [_synth_shard(spec, plan, tmp, state_dir, tuple(clouds))]
        names = [n for shard in shards for n in shard["names"]]
        notes = [n for key_ in ("notes", "policy_notes") for shard in shards for n in shard[key_]]
        problems = [p for shard in shards for p in shard["problems"]]
        for e in spec.security_exceptions:  # a path no stack starts with was judged by no shard
            if not any(e.resource == n or e.resource.startswith(n + "/") for n in names):
                problems.append(f"{e.rule} {e.resource}: suppression names no stack of this synth (spec)")
        if problems:
            raise SpecError([Problem(*line.split(": ", 1)) for line in problems])
        (tmp / CACHE_FILE).write_text(json.dumps({"key": key, "names": names, "notes": notes, "files": _files(tmp)}, indent=1) + "\n")
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
        try:
            tmp.rename(out_dir)
        except BaseException:
            if old is not None:  # the previous output back where it was
                old.rename(out_dir)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        try:
            notes = [*notes, *_retired_notes(old, out_dir, names)]
            if cdktf_cli:
                _hand_back_to_cdktf_cli(old, out_dir, names)
        finally:
            shutil.rmtree(old, ignore_errors=True)
    return names, notes


def _raise_problems(problems: list[Problem]) -> None:
    if problems:
        raise SpecError(problems)


def _retired_notes(old: Path, out_dir: Path, names: list[str]) -> list[str]:
    """A note per stack the previous output had and this synth does not make: deploy (``cdktf
    deploy``, which deploys the stacks the app has) never destroys it, so what it created keeps
    running and billing until someone does."""
    stacks = old / "stacks"
    gone = sorted(p.name for p in stacks.iterdir() if p.is_dir() and not p.is_symlink() and p.name not in names) if stacks.is_dir() else []
    return [f"{name}: in the previous synth of {out_dir}, not in this one: deploy never destroys it, so its resources keep running "
            "(and billing) until `terraform destroy` in its folder of a synth of the spec that had it (`aiinfra review --base-spec` "
            "shows it and its cost)" for name in gone]


def _hand_back_to_cdktf_cli(old: Path, out_dir: Path, names: list[str]) -> None:
    """Move from the previous output ``old`` into the new one what the cdktf CLI expects to find there
    once the app exits: every stack folder it listed before running the app and that this synth no
    longer makes (it removes those itself, and fails on one that is gone), and Terraform's working files
    of the stacks that remain (else every diff/deploy re-initializes and re-locks providers from scratch).
    Only renames within one folder: the new output is already in place, whole."""
    stacks = old / "stacks"
    if not stacks.is_dir():
        return
    (out_dir / "stacks").mkdir(exist_ok=True)
    for entry in sorted(stacks.iterdir()):
        if entry.is_symlink() or not entry.is_dir():  # the CLI lists directories only (lstat)
            continue
        target = out_dir / "stacks" / entry.name
        if entry.name not in names:
            if not os.path.lexists(target):
                entry.rename(target)
            continue
        for work in CARRIED_OVER:
            if os.path.lexists(entry / work) and target.is_dir() and not os.path.lexists(target / work):
                (entry / work).rename(target / work)


def _synth_shard(spec: Spec, plan: Plan, outdir: Path, state_dir: str, clouds: tuple[str, ...]) -> dict:
    """Build and synthesize ``clouds``' stacks into ``outdir`` and judge them (in this process)."""
    from aiinfra.stacks import build_app

    app, names, notes, policy = build_app(spec, plan, str(outdir), state_dir=state_dir, clouds=clouds)
    app.synth()
    # The in-cluster objects stacks' documents as YAML (<out>/kubernetes/<cluster stack>/), beside the stacks, so
    # they are swapped in (or thrown away) with the rest of the output.
    export.write(outdir, getattr(app, export.APP_ATTRIBUTE, None) or {})
    report = policy.check_output(outdir)
    return {"names": names, "notes": notes, "policy_notes": report.notes(), "problems": report.lines()}


def _synth_in_processes(spec: Spec, plan: Plan, tmp: Path, state_dir: str, clouds: list[str],
                        meanwhile: Callable[[], None] = lambda: None) -> list[dict]:
    """One process per cloud (each loads cdktf and its own node): the clouds' stacks share no
    references, so they synthesize side by side; the outputs are merged into ``tmp``. ``meanwhile``
    runs once they are started; when it raises, they are stopped and its exception goes on."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
           "AIINFRA_CDK": current()}  # this process's choice (it may have imported one already), not a fresh one
    workers = []
    for cloud in clouds:
        shard = tmp / f".shard-{cloud}"
        args = tmp / f".shard-{cloud}.pickle"
        args.write_bytes(pickle.dumps((spec, plan, shard, state_dir, (cloud,))))
        # -O: the CDK's generated Python checks every call's argument types with typeguard inside
        # `if __debug__:` blocks (a fifth of a 100-workload shard's time); the test suite builds the
        # same stacks in-process with those checks on, so a wrong type still fails CI.
        proc = subprocess.Popen([sys.executable, "-O", "-m", "aiinfra.synth", str(args)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        workers.append((cloud, shard, proc))
    try:
        meanwhile()
    except BaseException:
        for _, _, proc in workers:
            proc.kill()
            proc.communicate()
        raise
    results = []
    manifest: dict = {}
    for cloud, shard, proc in workers:
        out, err = proc.communicate()  # both pipes at once; the other workers keep running meanwhile
        if proc.returncode != 0:
            raise RuntimeError(f"synthesizing the {cloud} stacks failed: {err.decode(errors='replace').strip()[-2000:]}")
        results.append(json.loads(out))
        shard_manifest = json.loads((shard / "manifest.json").read_text())
        manifest = {**shard_manifest, "stacks": {**manifest.get("stacks", {}), **shard_manifest.get("stacks", {})}}
        (tmp / "stacks").mkdir(exist_ok=True)
        for stack_dir in (shard / "stacks").iterdir():
            stack_dir.rename(tmp / "stacks" / stack_dir.name)
        if (shard / export.FOLDER).is_dir():  # the cluster stacks' YAML (aiinfra.k8s.export): one folder a cluster stack
            (tmp / export.FOLDER).mkdir(exist_ok=True)
            for folder in (shard / export.FOLDER).iterdir():
                folder.rename(tmp / export.FOLDER / folder.name)
        shutil.rmtree(shard)
        (tmp / f".shard-{cloud}.pickle").unlink()
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return results


def _worker() -> None:
    """``python -m aiinfra.synth ARGS``: one shard of a parallel synth (ARGS: the pickled arguments, written by
    the parent into its private temporary folder; JSON result on stdout)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21")
    spec, plan, outdir, state_dir, clouds = pickle.loads(Path(sys.argv[1]).read_bytes())
    result = _synth_shard(spec, plan, Path(outdir), state_dir, clouds)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    _worker()
