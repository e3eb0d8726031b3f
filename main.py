"""The cdktf app (``cdktf synth`` / ``cdktf deploy`` from the repository root; ``cdktn synth`` /
``cdktn deploy`` too: CDK Terrain's CLI reads the same cdktf.json).

The spec comes from ``AIINFRA_SPEC`` (default: the bundled reference example). Bad input
prints one line per problem and exits 2, as ``aiinfra synth`` does. The CDK is cdktf unless
``AIINFRA_CDK=cdktn`` (``aiinfra.cdk``); cdktf.json starts ``.venv/bin/python``, so with
``AIINFRA_CDK=cdktn`` and no cdktn there the app moves to ``.venv-cdktn`` (``make setup CDK=cdktn``).
"""

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if os.environ.get("AIINFRA_CDK") == "cdktn" and importlib.util.find_spec("cdktn") is None:
    other = ROOT / ".venv-cdktn" / "bin" / "python"
    if other.exists() and Path(sys.prefix).resolve() != other.parent.parent.resolve():
        os.execv(str(other), [str(other), __file__, *sys.argv[1:]])

sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aiinfra.errors import SpecError  # noqa: E402


def main() -> None:
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec
    from aiinfra.synth import synth

    spec_path = os.environ.get("AIINFRA_SPEC", str(ROOT / "examples" / "reference.yaml"))
    try:
        loaded = load_spec(spec_path)
        plan = make_plan(loaded)
        if plan.errors:
            raise SpecError(plan.errors)
        # The same path as `aiinfra synth`: precheck, stacks, policy pack, atomic swap of the output. The cdktf
        # CLI runs this app with CDKTF_OUTDIR set (its --output) and keeps its own bookkeeping in that folder:
        # it removes the old stack folders the new manifest drops itself, after the app exits (see synth.py).
        under_cli = "CDKTF_OUTDIR" in os.environ
        out = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
        names, notes = synth(loaded.spec, plan, out, cdktf_cli=under_cli)
    except SpecError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        raise SystemExit(2) from None
    from aiinfra.notes import publish

    for line in publish(notes, names, out):  # as `aiinfra synth` does: grouped, and every note in <out>/notes.txt
        print(line, file=sys.stderr)


if __name__ == "__main__":
    main()
