"""A first deployment, and a pull request that adds a workload, plan in CI (issue 27).

The example workflow (examples/ci/aiinfra-review.yml) runs here as GitHub would run it, its own
scripts in bash, against a local AWS API (moto) with an empty account and no state anywhere:
validate, synth, ``terraform plan`` of every stack (foundation, workloads, dashboard: none of
them applied), plan the destroy of retired stacks (none: no base spec), review. Before issue 27 the
workload and dashboard plans stopped at "No stored state was found" for the foundation's state.

Nothing is applied but what must be: applying a workload's plan while its foundation has no state
is refused before any of the foundation's values is used (stacks/state.py explains the design).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.test_e2e_aws import moto_spec
from tests.tf_harness import SKIP_NO_TERRAFORM, MotoServer, plugin_mirror, run_terraform, terraform_env

pytestmark = SKIP_NO_TERRAFORM

WORKFLOW = ROOT / "examples" / "ci" / "aiinfra-review.yml"
STEPS = ("Validate", "Synthesize", "Plan every stack (foundations, then workloads, then dashboards)",
         "Plan the destroy of every stack the change retires", "Review")
PREFIX = "acme-ml-production-aws-"


def workflow_steps() -> dict[str, str]:
    """The workflow's run scripts by step name, GitHub expressions replaced by a placeholder."""
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    return {s["name"]: re.sub(r"\$\{\{[^}]*\}\}", "placeholder", s["run"]) for s in job["steps"] if "run" in s and "name" in s}


def ci_env(work: Path, spec: Path, aws: dict[str, str]) -> dict[str, str]:
    """What the runner would have: aiinfra and terraform on PATH, the cloud's credentials (the local
    API's), AIINFRA_SPEC, GITHUB_OUTPUT; providers from the mirror (there is no registry here)."""
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "aiinfra").write_text(f"#!/bin/sh\nexec {sys.executable} -m aiinfra.cli \"$@\"\n")
    (bin_dir / "aiinfra").chmod(0o755)
    return terraform_env({**aws, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT / "src"),
                          "AIINFRA_SPEC": str(spec), "GITHUB_OUTPUT": str(work / "github-output"), "AIINFRA_CHECKOV": "",
                          "TF_CLI_ARGS_init": f"-plugin-dir={plugin_mirror()}", "GIT_CEILING_DIRECTORIES": str(work.parent)})


def test_a_first_deployment_plans_and_is_reviewed_in_ci_with_no_state(tmp_path):
    steps = workflow_steps()
    with MotoServer() as moto:  # an empty account
        aws = moto.env()
        spec = moto_spec(tmp_path, aws)
        env = ci_env(tmp_path, spec, aws)
        for name in STEPS:
            r = subprocess.run(["bash", "-e", "-c", steps[name]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
            assert r.returncode == 0, (name, r.stdout[-3000:], r.stderr[-3000:])
        assert not list(tmp_path.glob("*.tfstate"))  # planned only: no state anywhere

        plans = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "plans").glob("*.json")}
        assert set(plans) == {f"{PREFIX}{p}" for p in ("foundation", "data-pipeline", "fraud-detection-training", "recommendation-inference",
                                                     "dashboard")}
        serving = plans[f"{PREFIX}recommendation-inference"]
        changes = {c["address"]: c for c in serving["resource_changes"]}
        # the foundation's values are known after apply, as a new resource's id is
        (sg,) = [c for a, c in changes.items() if a.startswith("aws_security_group.") and c["change"]["after"].get("name", "").endswith("-nodes")]
        assert sg["change"]["actions"] == ["create"] and sg["change"]["after_unknown"]["vpc_id"] is True
        marker = changes[f"terraform_data.awaiting-{PREFIX}foundation[0]"]
        assert marker["change"]["actions"] == ["create"]
        dashboard = {c["address"]: c for c in plans[f"{PREFIX}dashboard"]["resource_changes"]}
        assert f"terraform_data.awaiting-{PREFIX}recommendation-inference[0]" in dashboard
        assert "exit_code=0" in (tmp_path / "github-output").read_text()
        review = (tmp_path / "review.md").read_text()
        assert "Nothing is destroyed or replaced." in review and f"`{PREFIX}recommendation-inference`" in review

        # Applying a workload before its foundation stops before anything uses the foundation's values.
        stack = tmp_path / "cdktf.out" / "stacks" / f"{PREFIX}recommendation-inference"
        r = run_terraform(["apply", "-auto-approve", "plan"], stack, env=env, check=False)
        assert r.returncode != 0 and f"{PREFIX}foundation has no state yet: apply it first" in r.stdout + r.stderr
        assert moto.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
        assert moto.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
        assert moto.client("ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": ["*-nodes"]}])["SecurityGroups"] == []
