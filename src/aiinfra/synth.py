"""``aiinfra synth`` and the cdktf app: spec -> plan -> stacks -> ``<out>/stacks/<name>/cdk.tf.json``.

Output is atomic: stacks are written to a temporary folder beside the output folder and
swapped in whole, so a failed synth leaves the previous output as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from aiinfra.errors import Problem, SpecError
from aiinfra.planner.model import Plan
from aiinfra.spec.models import Spec


def precheck(spec: Spec, plan: Plan) -> list[Problem]:
    """What synthesis needs beyond a valid plan (checked before jsii is loaded)."""
    problems = []
    aws_inference = [w.name for w in plan.workloads if w.cloud == "aws" and w.type == "inference"]
    if aws_inference and not (spec.clouds.aws and spec.clouds.aws.certificate_arn):
        problems.append(Problem("clouds.aws.certificate_arn", f"required for the HTTPS endpoint of {', '.join(aws_inference)} "
                                "(an ACM certificate ARN); endpoints serve HTTPS only"))
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


def state_dir_for(out_dir: Path, cwd: Path | None = None) -> str:
    """Local state lives in the directory synth runs from, named relative to each stack's folder."""
    stack_dir = (out_dir / "stacks" / "x").resolve()
    return os.path.relpath((cwd or Path.cwd()).resolve(), stack_dir)


CACHE_FILE = ".aiinfra-synth.json"  # in the output folder: what it was made from, and its files' hashes
_PACKAGE = Path(__file__).resolve().parent


def _code_digest() -> str:
    """The package's own code and data (constructs, rules, catalog): any edit invalidates the cache."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*")):
        if path.suffix in (".py", ".csv") and "__pycache__" not in path.parts:
            h.update(path.relative_to(_PACKAGE).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(spec: Spec, plan: Plan, state_dir: str) -> str:
    """Everything the output depends on: the spec, the plan (so the catalog), the package
    version and code, the pinned cdktf, and where local state lives."""
    from aiinfra import __version__

    plan_doc = {k: v for k, v in plan.to_dict().items() if k != "spec_path"}
    material = json.dumps({"spec": spec.model_dump(mode="json"), "plan": plan_doc, "version": __version__, "code": _code_digest(),
                           "state_dir": state_dir}, sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def _files(out_dir: Path) -> dict[str, str]:
    return {p.relative_to(out_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out_dir.rglob("*")) if p.is_file() and p.name != CACHE_FILE}


def reuse(out_dir: Path, key: str) -> tuple[list[str], list[str]] | None:
    """(names, notes) of the earlier synth in ``out_dir`` if it was made from ``key`` and no file
    in it has changed since; else None."""
    try:
        record = json.loads((out_dir / CACHE_FILE).read_text())
        if record.get("key") != key or record.get("files") != _files(out_dir):
            return None
        return list(record["names"]), list(record["notes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def synth(spec: Spec, plan: Plan, out_dir: Path, progress=lambda message: None, force: bool = False) -> tuple[list[str], list[str]]:
    """Write every stack of the plan under ``out_dir``; returns (stack names, notes).

    When ``out_dir`` already holds the output of the same spec, plan and package (and nobody
    edited it), it is kept as it is (``force`` rebuilds anyway)."""
    problems = precheck(spec, plan)
    if problems:
        raise SpecError(problems)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    key = cache_key(spec, plan, state_dir_for(out_dir))
    if not force:
        found = reuse(out_dir, key)
        if found is not None:
            names, notes = found
            return names, [*notes, f"nothing changed since the last synth: {out_dir} reused (--force rebuilds it)"]
    progress("loading cdktf")
    from aiinfra.stacks import build_app

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output is an ordinary folder
    try:
        progress("building stacks")
        app, names, notes, policy = build_app(spec, plan, str(tmp), state_dir=state_dir_for(out_dir))
        progress(f"synthesizing {len(names)} stacks and checking them against the policy pack")
        app.synth()
        report = policy.report
        if not report.ok:
            raise SpecError([Problem(*line.split(": ", 1)) for line in report.lines()])
        notes = notes + report.notes()
        (tmp / CACHE_FILE).write_text(json.dumps({"key": key, "names": names, "notes": notes, "files": _files(tmp)}, indent=1) + "\n")
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return names, notes
