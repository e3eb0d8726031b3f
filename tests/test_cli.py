"""The command line, run as a user runs it: exit codes, formats, and no jsii on the fast path."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REFERENCE, ROOT


def run(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_validate_reference():
    r = run("validate", REFERENCE)
    assert r.returncode == 0, r.stderr
    assert "valid; 4 workloads on aws, gcp" in r.stdout


def test_plan_text_is_a_table_with_reasons():
    r = run("plan", REFERENCE)
    assert r.returncode == 0, r.stderr
    head = r.stdout.splitlines()[0]
    assert head.startswith("acme-ml (production): 4 workloads") and "/month" in head
    for name in ("fraud-detection-training", "recommendation-inference", "llm-finetune", "feature-etl", "Why", "Storage tiers"):
        assert name in r.stdout
    assert not any(line != line.rstrip() for line in r.stdout.splitlines())


def test_plan_json_is_the_documented_shape():
    r = run("plan", REFERENCE, "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema_version"] == 1
    assert list(d) == ["schema_version", "project", "environment", "spec_path", "catalog_generated", "totals", "workloads", "storage", "security",
                       "network", "monitoring", "findings", "not_applied", "security_exceptions", "platforms", "clusters", "pipeline"]
    assert d["platforms"] == {"aws": "vm", "gcp": "vm"} and d["clusters"] == [] and d["totals"]["control_plane_monthly_usd"] == 0
    assert [m["cloud"] for m in d["monitoring"]] == ["aws", "gcp"] and all(m["monthly_usd"] >= 0 and m["reason"] for m in d["monitoring"])
    w = {x["name"]: x for x in d["workloads"]}
    assert w["llm-finetune"]["cloud"] == "gcp" and w["llm-finetune"]["gpu"] == "H100"
    assert w["recommendation-inference"]["cost_per_1k_predictions_usd"] > 0
    for x in d["workloads"]:
        for key in ("instance_type", "nodes", "capacity", "hourly_usd", "monthly_usd", "reasons", "zones"):
            assert key in x
        assert {"instance_type", "cloud", "capacity", "nodes"} <= set(x["reasons"])
    t = d["totals"]
    assert t["monthly_usd"] == pytest.approx(t["compute_monthly_usd"] + t["storage_monthly_usd"] + t["security_monthly_usd"]
                                             + t["network_monthly_usd"] + t["pipeline_monthly_usd"], abs=0.02) and t["network_monthly_usd"] > 0


def test_plan_markdown_renders_tables():
    r = run("plan", REFERENCE, "--format", "markdown")
    assert r.returncode == 0
    assert r.stdout.startswith("### aiinfra plan: acme-ml (production)")
    assert "| fraud-detection-training |" in r.stdout and "<details>" in r.stdout


def test_plan_out_writes_the_file(tmp_path):
    out = tmp_path / "plan.json"
    r = run("plan", REFERENCE, "--format", "json", "--out", out)
    assert r.returncode == 0 and json.loads(out.read_text())["project"] == "acme-ml"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as any file the user writes, not 0600


def test_strict_turns_warnings_into_exit_2():
    r = run("validate", REFERENCE, "--strict")
    assert r.returncode == 2 and "model_size_limit" in r.stderr


def test_catalog_filters_and_rejects_unknown_gpu():
    r = run("catalog", "--cloud", "aws", "--gpu", "h100", "--region", "us-east-1")
    assert r.returncode == 0 and "p5.48xlarge" in r.stdout and "a3-highgpu" not in r.stdout
    r = run("catalog", "--gpu", "A1OO")
    assert r.returncode == 2 and r.stderr.strip().startswith("--gpu: unknown GPU 'A1OO'; did you mean 'A100'?")
    assert json.loads(run("catalog", "--cloud", "gcp", "--gpu", "L4", "--format", "json").stdout)[0]["gpu"] == "L4"


def test_usage_errors_are_one_line_exit_2():
    r = run("plan", REFERENCE, "--format", "xml")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_plan_validate_and_catalog_never_import_jsii():
    code = (
        "import sys\n"
        "from aiinfra.cli import main\n"
        "for args in (['validate', sys.argv[1]], ['plan', sys.argv[1], '--format', 'json'], ['catalog']):\n"
        "    try:\n        main(args)\n    except SystemExit as e:\n        assert e.code == 0, e.code\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('jsii', 'cdktf', 'cdktn', 'constructs', 'cdktf_cdktf_provider_aws', 'cdktf_cdktf_provider_google', 'boto3', 'botocore', 'google', 'grpc', 'proto')]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-c", code, str(REFERENCE)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_plan_and_validate_import_only_what_they_use():
    """The 0.5 s budget (issue 6): no rich for a table that fits, no importlib.metadata (pydantic's
    plugin discovery), no tempfile without --out, no difflib for a valid spec."""
    for args in (["validate"], ["plan", "--format", "json"], ["plan"], ["plan", "--format", "markdown"]):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "aiinfra.cli", args[0], str(REFERENCE), *args[1:]], capture_output=True,
                           text=True, env=env, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        imported = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
        assert "aiinfra.planner" in imported
        bad = sorted(m for m in imported if m.split(".")[0] in ("rich", "tempfile", "difflib") or m.startswith("importlib.metadata"))
        assert not bad, (args, bad)


def test_the_program_exits_fast_but_keeps_atexit_handlers_and_exit_codes(tmp_path):
    """run() skips the interpreter's teardown only when nothing is registered to run at exit."""
    code = (
        "import atexit, sys\n"
        "from aiinfra.cli import run\n"
        "if sys.argv[1] == 'atexit':\n"
        "    atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "sys.argv = ['aiinfra', *sys.argv[2:]]\n"
        "run()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for mode in ("plain", "atexit"):
        r = subprocess.run([sys.executable, "-c", code, mode, "plan", str(REFERENCE), "--format", "json"], capture_output=True, text=True,
                           env=env, timeout=120)
        assert r.returncode == 0 and json.loads(r.stdout)["project"] == "acme-ml"
        assert ("atexit ran" in r.stderr) == (mode == "atexit")
        r = subprocess.run([sys.executable, "-c", code, mode, "validate", str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                           env=env, timeout=120)
        assert r.returncode == 2 and "no such file" in r.stderr
