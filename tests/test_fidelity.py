"""Cost fidelity: the node-hours the synthesized Terraform keeps running, read back from the stacks
alone (sizes, AWS scheduled actions, Cloud Scheduler resize jobs), against the plan's nodes x hours,
for every example on AWS and GCP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiinfra.fidelity import _simulate, check, judged, stack_groups
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    """Every example synthesized once (both clouds), by the real CLI."""
    out = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for spec in EXAMPLES:
        work = tmp_path_factory.mktemp(spec.stem)
        r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", "out", "-q"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        out[spec.name] = work / "out" / "stacks"
    return out


def test_workloads_on_kubernetes_node_pools_are_not_judged_by_node_hours():
    plan = make_plan(load_spec(ROOT / "examples" / "kubernetes.yaml"))
    assert plan.workloads and judged(plan) == []  # the cluster autoscaler, not the stacks, decides how long pool nodes run


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_stacks_keep_running_what_the_plan_costs(spec, synthesized):
    plan = make_plan(load_spec(spec))
    results = check(plan, synthesized[spec.name])
    assert {r.workload for r in results} == {w.name for w in plan.workloads if plan.platform(w.cloud) == "vm" and plan.spark_part(w.name) is None}
    for r in results:
        assert r.problem is None, f"{spec.name} {r.workload} ({r.cloud}): {r.problem}"
        if r.type == "inference":
            assert r.kept == pytest.approx(r.planned, abs=0.02)
        else:
            assert r.planned - 0.02 <= r.kept <= r.ceiling + 0.02
            assert r.kept > 0


def test_batch_work_is_checked_on_both_clouds(synthesized):
    plan = make_plan(load_spec(ROOT / "examples" / "reference.yaml"))
    by = {r.workload: r for r in check(plan, synthesized["reference.yaml"])}
    # AWS training (weekly, 12 h, hard stop 24 h) and GCP training (monthly, 20 h, hard stop 24 h)
    assert by["fraud-detection-training"].cloud == "aws" and by["fraud-detection-training"].kept == pytest.approx(52 / 12 * 24, abs=0.01)
    assert by["llm-finetune"].cloud == "gcp" and by["llm-finetune"].kept == pytest.approx(24, abs=0.01)


def _write(tmp_path: Path, name: str, resources: dict) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "cdk.tf.json").write_text(json.dumps({"resource": resources}))
    return folder


def test_the_check_fails_on_the_stacks_before_run_schedules(tmp_path):
    """The output of d204978 (before this check): AWS training groups rest at desired 0 with
    nothing to raise them; GCP training groups sit at the plan's size forever."""
    plan = make_plan(load_spec(ROOT / "examples" / "reference.yaml"))
    prefix = "acme-ml-production"
    _write(tmp_path, f"{prefix}-aws-fraud-detection-training",
           {"aws_autoscaling_group": {"nodes": {"min_size": 0, "max_size": 1, "desired_capacity": 0}}})
    _write(tmp_path, f"{prefix}-gcp-llm-finetune",
           {"google_compute_region_instance_group_manager": {"spot": {"name": "acme-ml-prod-llm-finetune-spot", "target_size": 1}}})
    by = {r.workload: r for r in check(plan, tmp_path)}
    assert "runs cannot finish" in by["fraud-detection-training"].problem
    assert "36.5x the plan" in by["llm-finetune"].problem
    assert by["recommendation-inference"].problem.startswith("no stack")
    assert "feature-etl" not in by  # Spark on EMR: a cluster a run, no node group to judge


def test_schedules_are_played_over_the_year(tmp_path):
    # Saturdays 06:00 up to 2, Sundays 06:00 down to 0: 24 h x 2 nodes x 52 Saturdays in 2025, / 12
    assert _simulate(0, [("0 6 * * 6", 2), ("0 6 * * 0", 0)]) == pytest.approx(2 * 24 * 52 / 12)
    # a run started on 31 December 2024 is still up on 1 January (the warm-up sees it): 4 h then, 4 h on 31 December 2025
    assert _simulate(0, [("0 20 31 12 *", 1), ("0 4 1 1 *", 0)]) == pytest.approx(8 / 12)
    assert _simulate(3, []) == pytest.approx(3 * 730)
    folder = _write(tmp_path, "s", {
        "aws_autoscaling_group": {"g": {"min_size": 0, "max_size": 2, "desired_capacity": 0}},
        "aws_autoscaling_schedule": {
            "start": {"autoscaling_group_name": "${aws_autoscaling_group.g.name}", "recurrence": "0 6 * * 6", "desired_capacity": 2},
            "stop": {"autoscaling_group_name": "${aws_autoscaling_group.g.name}", "recurrence": "0 18 * * 6", "desired_capacity": 0},
            "other": {"autoscaling_group_name": "${aws_autoscaling_group.h.name}", "recurrence": "0 1 * * *", "desired_capacity": 5}},
        "google_compute_region_instance_group_manager": {"m": {"name": "grp", "target_size": 0}},
        "google_cloud_scheduler_job": {
            "a": {"schedule": "0 7 1 * *", "time_zone": "Etc/UTC",
                  "http_target": {"uri": "https://compute.googleapis.com/compute/v1/projects/p/regions/r/instanceGroupManagers/grp/resize?size=2"}},
            "b": {"schedule": "0 7 2 * *", "time_zone": "Etc/UTC",
                  "http_target": {"uri": "https://compute.googleapis.com/compute/v1/projects/p/regions/r/instanceGroupManagers/grp/resize?size=0"}}},
    })
    hours = {g.resource: round(g.node_hours_per_month, 3) for g in stack_groups(folder)}
    assert hours == {"aws_autoscaling_group.g": round(2 * 12 * 52 / 12, 3), "google_compute_region_instance_group_manager.m": 48.0}
