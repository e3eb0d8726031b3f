"""Benchmark: `aiinfra synth` against the hand-written prebuilt-bindings baseline
(bench/baseline_synth.py), run alternately in fresh processes, in one run.

Cases: cold synth of the reference spec (both clouds) against the baseline; warm re-synth of
the unchanged spec (output reused); cold synth of examples/kubernetes.yaml (both clouds on the
Kubernetes platform: cluster stacks); and scale, cold synth of generated specs of 10 and 100
workloads (bench/gen_spec.py), whose ratio must stay within 3x (linear would be 10x).
Prints median wall time, peak memory (the process tree's largest resident set, node
included) and ratios. What each synthesizes is printed beside it (stacks and resources), so
the comparison is read against the work done. Budgets (issue 6): cold at most 0.5x the
baseline's wall time (goal 0.1x) and half its memory; warm under 1 s; 100 / 10 workloads at
most 3x. And the same cold synth on CDK Terrain (cdktn, ``.venv-cdktn``, ``AIINFRA_CDK=cdktn``)
against cdktf, reference spec and 100 workloads, alternating in the same run: the ratio says
what moving to the fork costs (no budget: it is informative; both write the same stacks). Both
run on the same Node.js (the one on PATH), so the ratio is the CDKs', not the Node versions'.

    .venv/bin/python bench/synth_bench.py [--repeat 3] [--spec examples/reference.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from gen_spec import generate  # noqa: E402


CDKTN_PYTHON = ROOT / ".venv-cdktn" / "bin" / "python"


def measure(cmd: list[str], cwd: Path, **extra_env: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command run in a fresh process tree."""
    # ru_maxrss of RUSAGE_CHILDREN is the largest of the waited-for descendants, node included;
    # running each sample under its own `python -c` wrapper keeps samples independent.
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); r = subprocess.run(sys.argv[1:]); "
               "w = time.perf_counter() - t; m = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss; "
               "print(f'{r.returncode} {w} {m}', file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21", "CHECKPOINT_DISABLE": "1",
           **extra_env}
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
    ours = [sys.executable, "-m", "aiinfra.cli", "synth"]
    cdktn = [str(CDKTN_PYTHON), "-m", "aiinfra.cli", "synth"] if CDKTN_PYTHON.exists() else None
    base, cold, warm, scale, kube = [], [], [], {10: [], 100: []}, []
    kube_spec = ROOT / "examples" / "kubernetes.yaml"  # the Kubernetes platform: cluster stacks, node pools, pod identities
    on_cdktn = {"cold": [], 100: []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        specs = {}
        for n in scale:
            specs[n] = work / f"gen{n}.yaml"
            specs[n].write_text(generate(n))
        for i in range(args.repeat):  # alternating, so load drifts hit every case alike
            base.append(measure([sys.executable, str(ROOT / "bench" / "baseline_synth.py"), str(work / f"base{i}")], work))
            cold.append(measure([*ours, args.spec, "--out", str(work / f"ours{i}"), "-q"], work, AIINFRA_CDK="cdktf"))
            warm.append(measure([*ours, args.spec, "--out", str(work / f"ours{i}"), "-q"], work))
            for n in scale:
                scale[n].append(measure([*ours, str(specs[n]), "--out", str(work / f"gen{n}-{i}"), "-q", "--force"], work, AIINFRA_CDK="cdktf"))
            kube.append(measure([*ours, str(kube_spec), "--out", str(work / f"kube{i}"), "-q", "--force"], work, AIINFRA_CDK="cdktf"))
            if cdktn:
                on_cdktn["cold"].append(measure([*cdktn, args.spec, "--out", str(work / f"cdktn{i}"), "-q"], work, AIINFRA_CDK="cdktn"))
                on_cdktn[100].append(measure([*cdktn, str(specs[100]), "--out", str(work / f"cdktn-gen100-{i}"), "-q", "--force"], work,
                                             AIINFRA_CDK="cdktn"))
        work_done = {"base": count(work / "base0"), "ours": count(work / "ours0"), 10: count(work / "gen10-0"), 100: count(work / "gen100-0"),
                     "kube": count(work / "kube0")}
        if cdktn:
            work_done.update({"cdktn": count(work / "cdktn0"), "cdktn100": count(work / "cdktn-gen100-0")})
    med = lambda xs: statistics.median(x[0] for x in xs)  # noqa: E731
    peak = lambda xs: max(x[1] for x in xs)  # noqa: E731
    rows = [("baseline (prebuilt bindings)", base, work_done["base"]), ("aiinfra synth, cold", cold, work_done["ours"]),
            ("aiinfra synth, warm (unchanged)", warm, work_done["ours"]), ("aiinfra synth, 10 workloads", scale[10], work_done[10]),
            ("aiinfra synth, 100 workloads", scale[100], work_done[100]),
            ("aiinfra synth, kubernetes example", kube, work_done["kube"])]
    if cdktn:
        rows += [("cdktn: synth, cold", on_cdktn["cold"], work_done["cdktn"]), ("cdktn: synth, 100 workloads", on_cdktn[100], work_done["cdktn100"])]
    print(f"{'case':34} {'median s':>9} {'peak MiB':>9} {'stacks':>7} {'resources':>10}")
    for label, xs, (stacks, res) in rows:
        print(f"{label:34} {med(xs):9.2f} {peak(xs):9.0f} {stacks:7} {res:10}")
    bw, bm = med(base), peak(base)
    print(f"cold / baseline: wall {med(cold) / bw:.2f}x (budget 0.50x, goal 0.10x), peak memory {peak(cold) / bm:.2f}x (budget 0.50x)")
    print(f"warm: {med(warm):.2f} s (budget 1.00 s); {med(warm) / bw:.3f}x the baseline")
    print(f"kubernetes example / baseline: wall {med(kube) / bw:.2f}x, peak memory {peak(kube) / bm:.2f}x (the cold budgets: 0.50x each)")
    print(f"scale: 100 / 10 workloads = {med(scale[100]) / med(scale[10]):.2f}x time (budget 3x; linear would be 10x), "
          f"{work_done[100][1] / work_done[10][1]:.1f}x resources")
    if cdktn:
        print(f"cdktn / cdktf: cold {med(on_cdktn['cold']) / med(cold):.2f}x time, {peak(on_cdktn['cold']) / peak(cold):.2f}x memory; "
              f"100 workloads {med(on_cdktn[100]) / med(scale[100]):.2f}x time, {peak(on_cdktn[100]) / peak(scale[100]):.2f}x memory")
    else:
        print(f"cdktn: not measured ({CDKTN_PYTHON} missing: make setup CDK=cdktn)")
    print(f"runs: {args.repeat} of each, alternating, fresh processes")


if __name__ == "__main__":
    main()
