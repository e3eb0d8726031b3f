"""Benchmark: ``aiinfra review`` on the reference example's stacks (budget: under 2 s).

The plans are ``terraform show -json`` documents built from the synthesized stacks (every resource
created, its arguments in ``configuration`` as terraform writes them): there is no google provider
here to plan the GCP stacks with. The baseline, in the same run, is the floor any reviewer of
those files pays: a fresh Python process that reads and parses every plan.

    .venv/bin/python bench/review_bench.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "reference.yaml"
BUDGET_S = 2.0
RUNS = 5


def _expressions(value):
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [{k: _expressions(v) for k, v in block.items()} for block in value]
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return {"references": [value[2:-1]]}
    return {"constant_value": value}


def plan_of(stack: str, doc: dict) -> dict:
    """A ``terraform show -json`` plan creating every resource of a synthesized stack."""
    changes, config = [], []
    for rtype, items in doc.get("resource", {}).items():
        for name, body in items.items():
            args = {k: v for k, v in body.items() if k not in ("//", "depends_on", "lifecycle", "provider", "count", "for_each")}
            changes.append({"address": f"{rtype}.{name}", "mode": "managed", "type": rtype, "name": name,
                            "change": {"actions": ["create"], "before": None, "after": args, "after_unknown": {"id": True},
                                       "before_sensitive": False, "after_sensitive": {}}})
            config.append({"address": f"{rtype}.{name}", "mode": "managed", "type": rtype, "name": name,
                           "expressions": {k: _expressions(v) for k, v in args.items()}})
    providers = {}
    for pname, blocks in doc.get("provider", {}).items():
        block = blocks[0]
        expr = {k: _expressions(v) for k, v in block.items() if k != "default_tags"}
        if "default_tags" in block:
            expr["default_tags"] = [{"tags": {"constant_value": block["default_tags"][0]["tags"]}}]
        providers[pname] = {"name": pname, "expressions": expr}
    return {"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": changes, "planned_values": {},
            "configuration": {"provider_config": providers, "root_module": {"resources": config}}}


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AIINFRA_CHECKOV": ""}
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if r.returncode not in (0, 3):
        sys.exit(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr[-500:]}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(SPEC), "--out", str(work / "out"), "-q"], check=True, env=env,
                       capture_output=True)
        plans = work / "plans"
        plans.mkdir()
        for stack in sorted((work / "out" / "stacks").iterdir()):
            (plans / f"{stack.name}.json").write_text(json.dumps(plan_of(stack.name, json.loads((stack / "cdk.tf.json").read_text()))))
        n = len(list(plans.iterdir()))
        review = [sys.executable, "-m", "aiinfra.cli", "review", str(SPEC), "--plans", str(plans), "--no-checkov", "--out", str(work / "r.md")]
        floor = [sys.executable, "-c", f"import json, pathlib; [json.loads(p.read_text()) for p in pathlib.Path({str(plans)!r}).iterdir()]"]
        ours, base = [], []
        for _ in range(RUNS):  # alternating, fresh processes
            ours.append(timed(review))
            base.append(timed(floor))
    med, med_base = statistics.median(ours), statistics.median(base)
    print(f"{'case':34} {'median s':>9}")
    print(f"{'read + parse the plans (floor)':34} {med_base:9.3f}")
    print(f"{f'aiinfra review, {n} stacks':34} {med:9.3f}")
    print(f"review / floor: {med / med_base:.2f}x; budget {BUDGET_S:.1f} s: {'within' if med < BUDGET_S else 'OVER'}")
    print(f"runs: {RUNS} of each, alternating, fresh processes; checkov off (it scans for seconds on its own)")
    if med >= BUDGET_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
