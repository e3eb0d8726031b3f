"""Benchmark: `aiinfra validate` and `aiinfra plan` on the reference spec and on generated
specs of 10, 100 and 1,000 workloads, as a user runs them (a fresh process each time).

Baselines in the same run: the bare interpreter start (`python -c pass`), which no CLI can
beat, and the 10-workload plan, against which larger specs must grow no worse than linearly.
Budgets (issue 6): reference validate / plan under 0.5 s; 1,000 workloads under 3 s.

    .venv/bin/python bench/plan_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from gen_spec import generate  # noqa: E402


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS MiB of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[:500]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def median_run(cmd: list[str], repeat: int) -> tuple[float, float]:
    runs = [run(cmd) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), max(m for _, m in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    cli = [py, "-m", "aiinfra.cli"]
    rows = []
    base_wall, base_mem = median_run([py, "-c", "pass"], args.repeat)
    rows.append(("python -c pass (floor)", base_wall, base_mem, None))
    ref = ROOT / "examples" / "reference.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        for label, cmd, budget in (
            ("validate reference", [*cli, "validate", str(ref)], 0.5),
            ("plan reference (json)", [*cli, "plan", str(ref), "--format", "json"], 0.5),
            ("plan reference (text)", [*cli, "plan", str(ref)], 0.5),
        ):
            w, m = median_run(cmd, args.repeat)
            rows.append((label, w, m, budget))
        scale = {}
        for n in (10, 100, 1000):
            spec = Path(tmp) / f"spec-{n}.yaml"
            spec.write_text(generate(n))
            w, m = median_run([*cli, "plan", str(spec), "--format", "json"], args.repeat)
            scale[n] = w
            rows.append((f"plan {n} workloads", w, m, 3.0 if n == 1000 else None))
    print(f"{'case':28} {'median s':>9} {'peak MiB':>9} {'x floor':>8} {'budget s':>9} {'x budget':>9}")
    for label, w, m, budget in rows:
        b = f"{budget:9.2f} {w / budget:9.2f}" if budget else f"{'-':>9} {'-':>9}"
        print(f"{label:28} {w:9.3f} {m:9.1f} {w / base_wall:8.1f} {b}")
    print(f"scale: 100 workloads / 10 = {scale[100] / scale[10]:.2f}x time (linear would be 10x); "
          f"1000 / 10 = {scale[1000] / scale[10]:.2f}x (linear 100x)")
    over = [label for label, w, _, budget in rows if budget and w > budget]
    print("all within budget" if not over else f"over budget: {', '.join(over)}")


if __name__ == "__main__":
    main()
