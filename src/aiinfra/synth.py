"""``aiinfra synth`` and the cdktf app: spec -> plan -> stacks -> ``<out>/stacks/<name>/cdk.tf.json``.

Output is atomic: stacks are written to a temporary folder beside the output folder and
swapped in whole, so a failed synth leaves the previous output as it was.
"""

from __future__ import annotations

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


def synth(spec: Spec, plan: Plan, out_dir: Path, progress=lambda message: None) -> tuple[list[str], list[str]]:
    """Write every stack of the plan under ``out_dir``; returns (stack names, notes)."""
    problems = precheck(spec, plan)
    if problems:
        raise SpecError(problems)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    progress("loading cdktf")
    from aiinfra.stacks import build_app

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output is an ordinary folder
    try:
        progress("building stacks")
        app, names, notes = build_app(spec, plan, str(tmp), state_dir=state_dir_for(out_dir))
        progress(f"synthesizing {len(names)} stacks")
        app.synth()
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
