"""Benchmark: cold `aiinfra synth` against the hand-written prebuilt-bindings baseline
(bench/baseline_synth.py), run alternately in fresh processes, in one run.

Prints median wall time, peak memory (the process tree's largest resident set, node
included) and the ratio to the baseline. What ours synthesizes is printed beside it (stacks
and resources), so the comparison is read against the work done.

    .venv/bin/python bench/synth_bench.py [--repeat 3] [--spec examples/reference.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command run in a fresh process tree."""
    # ru_maxrss of RUSAGE_CHILDREN is the largest of the waited-for descendants, node included;
    # running each sample under its own `python -c` wrapper keeps samples independent.
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); r = subprocess.run(sys.argv[1:]); "
               "w = time.perf_counter() - t; m = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
               "print(f'{r.returncode} {w} {m}', file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21", "CHECKPOINT_DISABLE": "1"}
    r = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, env=env, capture_output=True, text=True)
    rc, wall, peak = r.stderr.strip().splitlines()[-1].split()
    if rc != "0":
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr[-2000:]}")
    return float(wall), int(peak) / 1024


def count(out: Path) -> tuple[int, int]:
    stacks = list((out / "stacks").iterdir())
    resources = 0
    for s in stacks:
        doc = json.loads((s / "cdk.tf.json").read_text())
        resources += sum(len(v) for v in doc.get("resource", {}).values())
    return len(stacks), resources


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--spec", default=str(ROOT / "examples" / "reference.yaml"))
    args = ap.parse_args()
    ours, base = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(args.repeat):
            base.append(measure([sys.executable, str(ROOT / "bench" / "baseline_synth.py"), str(work / f"base{i}")], work))
            ours.append(measure([sys.executable, "-m", "aiinfra.cli", "synth", args.spec, "--out", str(work / f"ours{i}"), "-q"], work))
        o_stacks, o_res = count(work / "ours0")
        b_stacks, b_res = count(work / "base0")
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    bw, bm, ow, om = med(base, 0), max(x[1] for x in base), med(ours, 0), max(x[1] for x in ours)
    print(f"{'case':34} {'median s':>9} {'peak MiB':>9} {'stacks':>7} {'resources':>10}")
    print(f"{'baseline (prebuilt bindings)':34} {bw:9.2f} {bm:9.0f} {b_stacks:7} {b_res:10}")
    print(f"{'aiinfra synth (cold)':34} {ow:9.2f} {om:9.0f} {o_stacks:7} {o_res:10}")
    print(f"ratio ours/baseline: wall {ow / bw:.2f}x, peak memory {om / bm:.2f}x  (runs: {args.repeat} each, alternating)")


if __name__ == "__main__":
    main()
