"""``aiinfra review`` on real plans: terraform plans of examples/aws-only.yaml against a local AWS
API (moto, a server of this module's own), as a pull request would bring them:

1. the first deployment: each stack planned (and applied, so the next can read its state) in
   order, foundation, workloads, dashboard: everything is created;
2. a spec change that resizes the training group (24 A100s instead of 16: three nodes a run): an
   in-place update of the group and its run schedule;
3. a data bucket renamed in the synthesized foundation: terraform replaces it (exit 3, at the top);
4. the inference workload removed from the spec: its stack is no longer synthesized, so nothing
   would destroy it; CI plans its destroy from the base spec's synth (``plan -destroy``).

Every review's Markdown is read section by section, and its JSON is the documented shape
(docs/review-json.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_e2e_aws import ignore_moto_quirks, moto_spec, synth
from tests.tf_harness import SKIP_NO_TERRAFORM, MotoServer, init, run_terraform

pytestmark = SKIP_NO_TERRAFORM
PREFIX = "acme-ml-production-aws-"


def run_review(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AIINFRA_CHECKOV": ""}
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", "review", *map(str, args)], capture_output=True, text=True, env=env, timeout=300,
                          cwd=cwd)


def plan_json(stack: Path, env: dict, out: Path, apply: bool = False, destroy: bool = False) -> None:
    ignore_moto_quirks(stack)  # what moto reads back differently from AWS is not a change
    init(stack, backend=True, env=env)
    run_terraform(["plan", "-out=tfplan", *(["-destroy"] if destroy else [])], stack, env=env)
    shown = run_terraform(["show", "-json", "tfplan"], stack, env=env)
    (out / f"{stack.name}.json").write_text(shown.stdout)
    if apply:
        # A few calls at a time: a create that times out against a loaded local API is retried by the
        # SDK, and moto's CreateTargetGroup is not idempotent (DuplicateTargetGroupName).
        run_terraform(["apply", "-parallelism=4", "tfplan"], stack, env=env)


def plan_all(stacks: Path, env: dict, out: Path, apply: bool = False) -> None:
    """Foundation, then the workloads (side by side when only planned), then the dashboard (each reads the state before it)."""
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in stacks.iterdir())
    plan_json(stacks / f"{PREFIX}foundation", env, out, apply)
    # the data pipeline first: the serving stack reads its cache (names sort it first too; say so)
    workloads = sorted((n for n in names if not n.endswith(("-foundation", "-dashboard"))), key=lambda n: not n.endswith("-data-pipeline"))
    with ThreadPoolExecutor(max_workers=1 if apply else 2) as pool:
        for future in [pool.submit(plan_json, stacks / n, env, out, apply) for n in workloads]:
            future.result()
    plan_json(stacks / f"{PREFIX}dashboard", env, out, apply)


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """(folder, {case: (spec, plans folder)}): the three pull requests."""
    work = tmp_path_factory.mktemp("review")
    with MotoServer() as moto:
        env = moto.env()
        spec = moto_spec(work, env)
        first = spec.read_text()
        cases = {"first": (spec, work / "plans-first")}
        stacks = synth(spec, work)
        # the synth's output as CI keeps it for the review (its policy results and waivers), at the same depth
        shutil.copytree(work / "cdktf.out", work / "synth-first")
        plan_all(stacks, env, cases["first"][1], apply=True)
        resized = work / "resized.yaml"
        resized.write_text(first.replace('gpu_requirements: "16x A100"', 'gpu_requirements: "24x A100"'))
        cases["resized"] = (resized, work / "plans-resized")
        plan_all(synth(resized, work), env, cases["resized"][1])
        # A new data bucket name (what renaming the project's storage would do): terraform must
        # replace the bucket. The workload stacks read the foundation's outputs, so a change that
        # renames those (a region move) cannot be planned before the foundation is applied.
        stacks = synth(spec, work)
        doc = json.loads((stacks / f"{PREFIX}foundation" / "cdk.tf.json").read_text())
        (data,) = [b for b in doc["resource"]["aws_s3_bucket"].values() if b.get("tags", {}).get("tier") == "data"]
        data["bucket_prefix"] = data["bucket_prefix"].replace("-data", "-datasets")
        (stacks / f"{PREFIX}foundation" / "cdk.tf.json").write_text(json.dumps(doc))
        cases["replaced"] = (spec, work / "plans-replaced")
        plan_all(stacks, env, cases["replaced"][1])
        # The inference workload taken out of the spec: its stack is in the base's synth only; CI
        # plans its destroy there (a copy of synth-first, which stays as the synth left it: the
        # same depth, so the same local state).
        retired = work / "retired.yaml"
        retired.write_text(re.sub(r'  - name: "recommendation-inference".*?(?=# The guide)', "", first, flags=re.S))
        assert "recommendation-inference" not in retired.read_text()
        cases["retired"] = (retired, work / "plans-retired")
        plan_all(synth(retired, work), env, cases["retired"][1])
        shutil.copytree(work / "synth-first", work / "synth-base")
        plan_json(work / "synth-base" / "stacks" / f"{PREFIX}recommendation-inference", env, cases["retired"][1], destroy=True)
    return work, cases


def sections(markdown: str) -> dict[str, str]:
    out, title = {}, None
    for line in markdown.splitlines():
        if line.startswith("#### "):
            title = line[5:]
            out[title] = ""
        elif title:
            out[title] += line + "\n"
    return {k: v.strip("\n") + "\n" for k, v in out.items()}


def test_first_deployment_creates_everything_and_costs_the_plan(plans):
    work, cases = plans
    spec, folder = cases["first"]
    r = run_review(spec, "--plans", folder)
    assert r.returncode == 0, r.stderr
    s = sections(r.stdout)
    assert list(s)[:4] == ["Must not miss", "Stacks", "Money (a month, at the plan's prices)", "Findings"]
    assert s["Must not miss"].strip() == "Nothing is destroyed or replaced."
    rows = [line.split("|")[1:-1] for line in s["Stacks"].splitlines() if line.startswith("| `")]
    assert {row[0].strip(" `") for row in rows} == {f"{PREFIX}{p}" for p in ("foundation", "data-pipeline", "fraud-detection-training",
                                                                                   "recommendation-inference", "dashboard")}
    assert all(int(row[1]) > 0 and row[2].strip() == "0" and row[3].strip() == "0" for row in rows)
    money = s["Money (a month, at the plan's prices)"]
    assert money.startswith("Total: - -> $") and "| recommendation-inference | aws | on_demand | - | $" in money
    # the node-hours the planned stacks keep running match the plan (read from the plans' configuration)
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    w = next(x for x in make_plan(load_spec(spec)).workloads if x.name == "recommendation-inference")
    hours = f"{w.nodes * 730:,.1f}"
    assert f"| recommendation-inference | {hours} | {hours} | none |" in money
    assert "| fraud-detection-training | 104.0 |" in money and "runs cannot finish" not in money
    # without the synth's output the pack judges the plans' configuration, without the constructs' waivers
    assert "judged on the plans' configuration" in s["Findings"]
    r = run_review(spec, "--plans", folder, "--synth-out", "synth-first", cwd=work)
    assert r.returncode == 0, r.stderr
    findings = sections(r.stdout)["Findings"]
    assert "- Policy pack: none" in findings
    assert "AIINFRA-AWS-009 acme-ml-production-aws-recommendation-inference/identity/unscoped-reads: suppressed (construct)" in findings
    diagram = r.stdout.split("```mermaid\n", 1)[1]
    assert "\nflowchart LR\n" in diagram and "acme_ml_production_aws_recommendation_inference__nodes" in diagram


def test_resizing_the_training_group_is_an_in_place_change_with_its_cost(plans):
    work, cases = plans
    spec, folder = cases["resized"]
    r = run_review(spec, "--plans", folder, "--base-spec", cases["first"][0], "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert list(d) == ["schema_version", "project", "environment", "exit_code", "must_not_miss", "retired", "stacks", "money", "fidelity",
                       "findings", "diagram"]
    assert d["must_not_miss"] == [] and d["exit_code"] == 0 and d["retired"] == [] and d["money"]["until_destroyed_usd"] == 0
    stacks = {s["name"]: s for s in d["stacks"]}
    training = stacks[f"{PREFIX}fraud-detection-training"]
    assert training["change"] >= 2 and training["destroy"] == 0 and training["add"] == 0
    changed: dict[str, list[tuple]] = {}
    for c in training["changes"]:
        assert c["action"] == "update", c["address"]
        changed.setdefault(c["type"], []).extend((a["path"], a["before"], a["after"]) for a in c["attributes"])
    assert ("max_size", 2, 3) in changed["aws_autoscaling_group"]
    assert ("desired_capacity", 2, 3) in changed["aws_autoscaling_schedule"]  # the run's start sizes the group to 3
    assert stacks[f"{PREFIX}recommendation-inference"]["changes"] == []  # nothing else moves
    (row,) = [w for w in d["money"]["workloads"] if w["workload"] == "fraud-detection-training"]
    assert row["after_usd"] == pytest.approx(row["before_usd"] * 1.5, rel=0.01)
    assert d["money"]["clouds"]["aws"]["delta_usd"] == pytest.approx(d["money"]["delta_usd"], abs=0.01) and d["money"]["delta_usd"] > 0
    (fid,) = [f for f in d["fidelity"] if f["workload"] == "fraud-detection-training"]
    assert fid["planned"] == 156.0 and fid["problem"] is None  # three nodes x 52 h: the stacks keep them running
    md = run_review(spec, "--plans", folder, "--base-spec", cases["first"][0]).stdout
    assert "<details><summary><code>acme-ml-production-aws-fraud-detection-training</code>" in md
    assert re.search(r"\| `aws_autoscaling_group\.nodes_group_[0-9A-F]{8}` \| `max_size` \| `2` \| `3` \|", md)
    before, after = row["before_usd"], row["after_usd"]
    assert f"| fraud-detection-training | aws | on_demand | ${before:,.0f} | ${after:,.0f} | +${after - before:,.0f} |" in md


def test_a_replaced_data_bucket_comes_first_and_exits_3(plans):
    work, cases = plans
    spec, folder = cases["replaced"]
    r = run_review(spec, "--plans", folder, "--base-spec", cases["first"][0])
    assert r.returncode == 3, r.stderr
    s = sections(r.stdout)
    lines = s["Must not miss"].splitlines()
    assert lines[0].startswith("- **replace** `aws_s3_bucket.storage_data_") and "(bucket: its data goes with it)" in lines[0]
    assert "forced by `bucket_prefix`" in lines[0] and f"in `{PREFIX}foundation`" in lines[0]
    stateful = [line for line in lines if "its data goes with it" in line]
    assert lines[:len(stateful)] == stateful  # stateful ones lead
    assert "needs an explicit approval" in s["Must not miss"]
    rows = {line.split("|")[1].strip(" `"): line for line in s["Stacks"].splitlines() if line.startswith("| `")}
    assert rows[f"{PREFIX}foundation"].split("|")[4].strip() != "0"  # counted as destroyed (and added)
    # the money did not move
    assert "(+$0)" in s["Money (a month, at the plan's prices)"] or "($0)" in s["Money (a month, at the plan's prices)"]


def test_a_workload_that_leaves_the_spec_is_named_first_with_its_destroy_and_what_it_still_costs(plans, tmp_path):
    work, cases = plans
    spec, folder = cases["retired"]
    gone = f"{PREFIX}recommendation-inference"
    r = run_review(spec, "--plans", folder, "--base-spec", cases["first"][0], "--format", "json")
    assert r.returncode in (0, 3), r.stderr
    doc = json.loads(r.stdout)
    assert doc["retired"] == [{"name": gone, "workloads": ["recommendation-inference"], "monthly_usd": doc["retired"][0]["monthly_usd"],
                               "destroy_planned": True}]
    before = {w["workload"]: w for w in doc["money"]["workloads"]}["recommendation-inference"]
    assert before["after_usd"] is None and before["before_usd"] > 0
    # what keeps billing: its nodes and the controls on its endpoint (the web ACL), as the base plan prices them
    base_plan = subprocess.run([sys.executable, "-m", "aiinfra.cli", "plan", str(cases["first"][0]), "--format", "json"], capture_output=True,
                               text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=120)
    guards = [c["monthly_usd"] for c in json.loads(base_plan.stdout)["security"] if c["target"] == "recommendation-inference"]
    assert guards and doc["retired"][0]["monthly_usd"] == pytest.approx(before["before_usd"] + sum(guards), abs=0.011)
    assert doc["money"]["until_destroyed_usd"] == doc["retired"][0]["monthly_usd"]
    # its destroy plan is reviewed: every resource of the stack goes, the GPU group named as such
    (stack,) = [s for s in doc["stacks"] if s["name"] == gone]
    assert stack["add"] == 0 and stack["change"] == 0 and stack["destroy"] > 5
    (group,) = [c for c in doc["must_not_miss"] if c["stack"] == gone and c["type"] == "aws_autoscaling_group"]
    assert group["action"] == "destroy" and "GPU group is destroyed" in group["warning"]
    assert doc["exit_code"] == (3 if any(c["stateful"] for c in doc["must_not_miss"]) else 0) == r.returncode

    r = run_review(spec, "--plans", folder, "--base-spec", cases["first"][0])
    s = sections(r.stdout)
    line = s["Must not miss"].splitlines()[0]  # before every destroy
    assert line.startswith("- **leaves the spec**"), s["Must not miss"][:500]
    assert f"`{gone}`, recommendation-inference (${doc['retired'][0]['monthly_usd']:,.0f} a month in the base plan)" in line
    assert "never destroys this one" in line and "its destroy plan is reviewed here" in line
    assert f"Off the plan but billed until their stacks are destroyed: ${doc['retired'][0]['monthly_usd']:,.0f} ({gone})" in \
        s["Money (a month, at the plan's prices)"]

    # Without its destroy plan the review still names it, and says its destroy is not reviewed.
    partial = tmp_path / "no-destroy-plan"
    shutil.copytree(folder, partial)
    (partial / f"{gone}.json").unlink()
    r = run_review(spec, "--plans", partial, "--base-spec", cases["first"][0])
    # what else must not be missed decides the exit: the serving cache (the data pipeline's, stateful) goes with its only client
    assert r.returncode == (3 if any(c["stateful"] for c in doc["must_not_miss"] if c["stack"] != gone) else 0), r.stderr
    line = next(x for x in sections(r.stdout)["Must not miss"].splitlines() if x.startswith("- **leaves the spec**"))
    assert "no destroy plan of it is in the plans" in line and f"shown as `{gone}.json`" in line
    # A plan of it that keeps resources (its normal plan, not -destroy): one line, exit 2.
    shutil.copy(cases["first"][1] / f"{gone}.json", partial / f"{gone}.json")
    r = run_review(spec, "--plans", partial, "--base-spec", cases["first"][0])
    assert r.returncode == 2 and "leaves the spec, but this plan keeps" in r.stderr and "terraform plan -destroy" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # Without the base spec, a plan of a stack the spec does not have is still refused.
    r = run_review(spec, "--plans", folder)
    assert r.returncode == 2 and "which the spec does not have" in r.stderr


def test_bad_plans_are_one_line_and_exit_2(plans, tmp_path):
    work, cases = plans
    spec, folder = cases["first"]
    partial = tmp_path / "partial"
    partial.mkdir()
    for p in folder.glob("*.json"):
        if not p.name.endswith("dashboard.json"):
            (partial / p.name).write_text(p.read_text())
    r = run_review(spec, "--plans", partial)
    assert r.returncode == 2 and r.stderr.strip().endswith("(terraform show -json of each stack, named <stack>.json)")
    assert f"no plan for {PREFIX}dashboard" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (partial / f"{PREFIX}dashboard.json").write_text((folder / f"{PREFIX}foundation.json").read_text())
    r = run_review(spec, "--plans", partial)
    assert r.returncode == 2 and "the plan of another stack (acme-ml production foundation)" in r.stderr
    (partial / f"{PREFIX}dashboard.json").write_text("{not json")
    r = run_review(spec, "--plans", partial)
    assert r.returncode == 2 and "not terraform show -json output" in r.stderr and "Traceback" not in r.stderr
    (partial / f"{PREFIX}dashboard.json").write_text((folder / f"{PREFIX}dashboard.json").read_text())
    (partial / "acme-ml-production-aws-old-workload.json").write_text("{}")
    r = run_review(spec, "--plans", partial, "--out", tmp_path / "comment.md")
    assert r.returncode == 2 and "which the spec does not have" in r.stderr and not (tmp_path / "comment.md").exists()


def test_checkov_findings_on_the_plans_when_it_is_installed(plans):
    from tests.test_checkov import CHECKOV

    if CHECKOV is None:
        pytest.skip("checkov is not installed (make setup puts it in .venv-checkov)")
    work, cases = plans
    spec, folder = cases["first"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "AIINFRA_CHECKOV": CHECKOV}
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "review", str(spec), "--plans", str(folder)], capture_output=True, text=True,
                       env=env, timeout=600, cwd=ROOT)  # the project's .checkov.yaml, as a user's CI would have its own
    assert r.returncode == 0, r.stderr
    lines = sections(r.stdout)["Findings"].split("- checkov:", 1)[1].splitlines()
    assert re.fullmatch(r"  - \d+ checks passed on 5 plans", lines[-1]) and int(lines[-1].split()[1]) > 50


def test_the_synths_own_findings_whatever_else_sits_in_its_stack_folders(plans, tmp_path):
    """What CI and users leave in the synth's stack folders (a variables file, Terraform's working
    folder, a plan file) is not what the policy pack judged: the review still reports the synth's
    results and the constructs' waivers, also with the output folder moved elsewhere and the review
    run from another folder. A file the synth wrote that was changed is judged on the plans."""
    work, cases = plans
    spec, folder = cases["first"]
    synth_out = tmp_path / "elsewhere" / "deeper" / "synth"
    shutil.copytree(work / "synth-first", synth_out)
    serving = synth_out / "stacks" / f"{PREFIX}recommendation-inference"
    (serving / "terraform.tfvars").write_text('image = "nvcr.io/nvidia/tritonserver:24.08-py3"\n')
    (serving / ".terraform" / "providers").mkdir(parents=True)
    (serving / ".terraform" / "terraform.tfstate").write_text("{}")
    (serving / "tfplan").write_bytes(b"PK\x03\x04 a saved plan")
    (synth_out / "stacks" / f"{PREFIX}foundation" / "ci.auto.tfvars.json").write_text("{}")
    r = run_review(spec, "--plans", folder, "--synth-out", synth_out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    findings = sections(r.stdout)["Findings"]
    assert "- Policy pack: none" in findings and "judged on the plans' configuration" not in findings
    assert "AIINFRA-AWS-009 acme-ml-production-aws-recommendation-inference/identity/unscoped-reads: suppressed (construct)" in findings
    doc = serving / "cdk.tf.json"
    doc.write_text(doc.read_text().replace('"min_size"', '"min_size" ', 1))
    r = run_review(spec, "--plans", folder, "--synth-out", synth_out, cwd=tmp_path)
    assert "judged on the plans' configuration" in sections(r.stdout)["Findings"]
