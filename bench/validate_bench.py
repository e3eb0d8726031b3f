"""``terraform validate`` of many stacks: one process per stack (init + validate in each stack's
folder, as tests/test_e2e_aws.py did) against one root module that calls every stack as a child
module (one init, one validate, one provider schema load: tests/test_validate_examples.py).

    .venv/bin/python bench/validate_bench.py [SPEC ...]   # default: every bundled example

Prints the wall time of each way over the AWS stacks of the specs' synth.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.tf_harness import init, run_terraform  # noqa: E402
from tests.test_validate_examples import _module  # noqa: E402


def main(specs: list[Path]) -> None:
    work = Path(tempfile.mkdtemp(prefix="validate-bench-"))
    try:
        stacks = []
        for spec in specs:
            out = work / spec.stem
            subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out), "-q"], check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True)
            stacks += sorted(p for p in (out / "stacks").iterdir() if "-aws-" in p.name)
        started = time.monotonic()
        for stack in stacks:
            init(stack, backend=False)
            run_terraform(["validate", "-json"], stack)
        one_by_one = time.monotonic() - started
        root = work / "root"
        root.mkdir()
        modules = {f"{s.parent.parent.name}--{s.name}": _module(s, root, json.loads((s / "cdk.tf.json").read_text())) for s in stacks}
        (root / "main.tf.json").write_text(json.dumps({"module": modules}))
        started = time.monotonic()
        init(root, backend=False)
        run_terraform(["validate", "-json"], root)
        together = time.monotonic() - started
        print(f"{len(stacks)} AWS stacks: one process each {one_by_one:.1f} s, one root module {together:.1f} s "
              f"({one_by_one / together:.1f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]] or sorted((ROOT / "examples").glob("*.yaml")))
