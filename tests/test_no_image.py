"""No image, no spend (issue 25): a workload whose spec names no image gets the stack's Terraform
variable ``image`` (empty by default), and until it is given nothing starts its nodes. The run
schedule exists but its start sets zero nodes (AWS scheduled action, GCP Cloud Scheduler resize),
a serving group rests at zero (AWS min / desired, GCP target size and the autoscaler off), and the
plan and synth say so. With an image in the spec nothing of this is in the stacks.

The AWS training stack is applied against the local AWS API (moto) without an image and then
with ``-var image=...``, and its scheduled start action read back with boto3 each time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aiinfra.fidelity import stack_groups
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec
from tests.conftest import ROOT
from tests.tf_harness import SKIP_NO_TERRAFORM, init, moto_server, run_terraform  # noqa: F401
from tests.test_stacks_aws import run_synth

AWS_ONLY, GCP_ONLY = ROOT / "examples" / "aws-only.yaml", ROOT / "examples" / "gcp-only.yaml"
AWS, GCP = "acme-ml-production-aws-", "acme-ml-production-gcp-"
IMAGE = "nvcr.io/nvidia/pytorch:24.08-py3"
HAS_IMAGE = 'var.image != ""'


def without_images(spec: Path, folder: Path, replace: dict[str, str] | None = None) -> Path:
    """``spec`` with every workload's ``image:`` line taken out (and any text replaced)."""
    text = "\n".join(line for line in spec.read_text().splitlines() if not line.strip().startswith("image:")) + "\n"
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    out = folder / f"{spec.stem}-no-image.yaml"
    out.write_text(text)
    return out


def synth(spec: Path, folder: Path) -> tuple[Path, str]:
    out = folder / "cdktf.out"
    r = run_synth(spec, out, cwd=folder)
    assert r.returncode == 0, r.stderr
    return out / "stacks", r.stderr


def doc(stacks: Path, name: str) -> dict:
    return json.loads((stacks / name / "cdk.tf.json").read_text())


def each(d: dict, rtype: str) -> list[dict]:
    return list(d["resource"].get(rtype, {}).values())


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """aws-only and gcp-only as they are (an image on their workloads but one) and without any image."""
    out = {}
    for key, spec in (("aws", AWS_ONLY), ("gcp", GCP_ONLY)):
        out[key] = synth(spec, tmp_path_factory.mktemp(key))
        folder = tmp_path_factory.mktemp(f"{key}-no-image")
        out[f"{key}-no-image"] = synth(without_images(spec, folder), folder)
    return out


# ---------------------------------------------------------------- AWS


def test_aws_run_schedule_exists_but_starts_nothing_without_an_image(synthesized):
    stacks, _ = synthesized["aws-no-image"]
    d = doc(stacks, f"{AWS}fraud-detection-training")
    actions = {a["scheduled_action_name"].rsplit("-", 1)[1]: a for a in each(d, "aws_autoscaling_schedule")}
    assert set(actions) == {"start", "stop"}
    assert actions["start"]["desired_capacity"] == f"${{{HAS_IMAGE} ? 2 : 0}}"
    assert actions["start"]["max_size"] == f"${{{HAS_IMAGE} ? 2 : 0}}"
    assert (actions["stop"]["desired_capacity"], actions["stop"]["max_size"]) == (0, 2)  # the hard stop is unchanged
    assert d["variable"]["image"]["default"] == ""


def test_aws_serving_group_rests_at_zero_without_an_image(synthesized):
    stacks, _ = synthesized["aws-no-image"]
    (asg,) = each(doc(stacks, f"{AWS}recommendation-inference"), "aws_autoscaling_group")
    w = _serving(AWS_ONLY)
    assert asg["min_size"] == f"${{{HAS_IMAGE} ? {w.min_nodes} : 0}}" and asg["desired_capacity"] == f"${{{HAS_IMAGE} ? {w.nodes} : 0}}"
    assert asg["max_size"] == w.max_nodes


def test_aws_stacks_with_an_image_start_their_nodes_as_planned(synthesized):
    stacks, stderr = synthesized["aws"]
    start = next(a for a in each(doc(stacks, f"{AWS}fraud-detection-training"), "aws_autoscaling_schedule")
                 if a["scheduled_action_name"].endswith("-start"))
    assert (start["desired_capacity"], start["max_size"]) == (2, 2)
    (asg,) = each(doc(stacks, f"{AWS}recommendation-inference"), "aws_autoscaling_group")
    w = _serving(AWS_ONLY)
    assert (asg["min_size"], asg["desired_capacity"]) == (w.min_nodes, w.nodes)
    assert "no node starts until an image is given" not in stderr


def test_synth_says_no_node_starts_until_an_image_is_given(synthesized):
    aws_stacks, _ = synthesized["aws-no-image"]
    gcp_stacks, _ = synthesized["gcp-no-image"]
    # every note, one a line (synth prints the same advice once, the stacks it concerns after it)
    aws, gcp = ("".join(f"note: {n}\n" for n in (s.parent / "notes.txt").read_text().splitlines()) for s in (aws_stacks, gcp_stacks))
    assert (f"note: {AWS}fraud-detection-training: no image for fraud-detection-training: no node starts until an image is given "
            "(its run schedule exists but starts zero nodes); pass -var 'image=") in aws
    assert (f"note: {AWS}recommendation-inference: no image for recommendation-inference: no node starts until an image is given "
            "(its serving group stays at zero nodes)") in aws
    assert f"note: {GCP}embedding-refresh: no image for embedding-refresh: no node starts until an image is given" in gcp


def test_the_plan_says_no_node_starts_until_an_image_is_given(tmp_path):
    plan = make_plan(load_spec(without_images(AWS_ONLY, tmp_path)))
    notes = {f.path: f for f in plan.findings if f.path.endswith(".image")}
    assert set(notes) == {"workload_inventory[0].image", "workload_inventory[1].image"}
    assert all(f.severity == "info" and "no node starts until an image is given" in f.message for f in notes.values())
    assert "run schedule starts zero nodes" in notes["workload_inventory[0].image"].message
    assert "serving group stays at zero nodes" in notes["workload_inventory[1].image"].message
    assert not [f for f in make_plan(load_spec(AWS_ONLY)).findings if f.path.endswith(".image")]


# ---------------------------------------------------------------- GCP


def test_gcp_start_jobs_resize_to_zero_without_an_image(synthesized):
    stacks, _ = synthesized["gcp-no-image"]
    for part in ("llm-pretrain", "embedding-refresh"):
        jobs = each(doc(stacks, f"{GCP}{part}"), "google_cloud_scheduler_job")
        starts = [j["http_target"]["uri"] for j in jobs if j["name"].endswith("-start")]
        stops = [j["http_target"]["uri"] for j in jobs if j["name"].endswith("-stop")]
        assert starts and all(re.search(r'/resize\?size=\$\{var\.image != "" \? [1-9]\d* : 0\}$', u) for u in starts), starts
        assert stops and all(u.endswith("/resize?size=0") for u in stops)


def _serving(spec: Path, name: str = "recommendation-inference"):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    return next(w for w in make_plan(load_spec(spec)).workloads if w.name == name)


def test_gcp_serving_group_rests_at_zero_and_its_autoscaler_is_off_without_an_image(synthesized):
    stacks, _ = synthesized["gcp-no-image"]
    d = doc(stacks, f"{GCP}recommendation-inference")
    (mig,) = each(d, "google_compute_region_instance_group_manager")
    w = _serving(GCP_ONLY)
    assert mig["target_size"] == f"${{{HAS_IMAGE} ? {w.nodes} : 0}}"
    (autoscaler,) = each(d, "google_compute_region_autoscaler")
    assert autoscaler["autoscaling_policy"]["mode"] == f'${{{HAS_IMAGE} ? "ON" : "OFF"}}'
    assert autoscaler["autoscaling_policy"]["min_replicas"] == w.min_nodes


def test_gcp_stacks_with_an_image_start_their_nodes_as_planned(synthesized):
    stacks, _ = synthesized["gcp"]
    d = doc(stacks, f"{GCP}recommendation-inference")
    (mig,) = each(d, "google_compute_region_instance_group_manager")
    (autoscaler,) = each(d, "google_compute_region_autoscaler")
    assert (mig["target_size"], autoscaler["autoscaling_policy"]["mode"]) == (_serving(GCP_ONLY).nodes, "ON")
    starts = [j["http_target"]["uri"] for j in each(doc(stacks, f"{GCP}llm-pretrain"), "google_cloud_scheduler_job")
              if j["name"].endswith("-start")]
    assert starts and all(re.search(r"/resize\?size=[1-9]\d*$", u) for u in starts)


def test_gcp_stacks_without_an_image_match_the_provider_schema(synthesized):
    from tests.gcp_schema import check_stack

    stacks, _ = synthesized["gcp-no-image"]
    for part in ("recommendation-inference", "llm-pretrain", "embedding-refresh"):
        assert check_stack(doc(stacks, f"{GCP}{part}")) == [], part


def test_cost_fidelity_counts_the_nodes_an_image_starts(synthesized):
    # The plan prices the workload once it runs: the simulation plays the larger branch of the condition.
    for key, prefix in (("aws-no-image", AWS), ("gcp-no-image", GCP)):
        stacks, _ = synthesized[key]
        with_image = {g.resource.split(".")[0]: g.node_hours_per_month for g in stack_groups(stacks / f"{prefix}recommendation-inference")}
        assert with_image and all(h > 0 for h in with_image.values()), key


# ---------------------------------------------------------------- applied (AWS, local API)


@SKIP_NO_TERRAFORM
def test_aws_scheduled_start_sets_zero_nodes_until_the_image_is_given(tmp_path, moto_server):  # noqa: F811
    from tests.test_e2e_aws import destroy_with_data, ignore_moto_quirks, moto_ami

    env = moto_server.env()
    spec = without_images(AWS_ONLY, tmp_path, {"ami-0123456789abcdef0": moto_ami(env)})
    planned = {w.name: w for w in make_plan(load_spec(spec)).workloads}["fraud-detection-training"]
    stacks, _ = synth(spec, tmp_path)
    foundation, training = stacks / f"{AWS}foundation", stacks / f"{AWS}fraud-detection-training"
    asg = moto_server.client("autoscaling")

    def start_action(group: str) -> dict:
        actions = asg.describe_scheduled_actions(AutoScalingGroupName=group)["ScheduledUpdateGroupActions"]
        (start,) = [a for a in actions if a["ScheduledActionName"].endswith("-start")]
        return start

    init(foundation, env=env)
    try:
        run_terraform(["apply", "-auto-approve"], foundation, env=env)
        ignore_moto_quirks(training)
        init(training, env=env)
        try:
            run_terraform(["apply", "-auto-approve"], training, env=env)
            group = json.loads(run_terraform(["output", "-json"], training, env=env).stdout)["autoscaling_group_name"]["value"]
            start = start_action(group)
            assert (start["DesiredCapacity"], start["MaxSize"]) == (0, 0)  # the schedule exists and starts nothing
            run_terraform(["apply", "-auto-approve", f"-var=image={IMAGE}"], training, env=env)
            start = start_action(group)
            assert (start["DesiredCapacity"], start["MaxSize"]) == (planned.nodes, planned.max_nodes) == (2, 2)
        finally:
            destroy_with_data(training, env)
    finally:
        destroy_with_data(foundation, env)


# ---------------------------------------------------------------- the constructs


def _synth(build) -> dict:
    from aiinfra.cdk import TerraformStack, Testing
    from aiinfra.constructs._tf import AWS as AWS_PROVIDER
    from aiinfra.constructs._tf import GOOGLE, provider

    app = Testing.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS_PROVIDER, region="us-east-1")
    provider(stack, "google", GOOGLE, project="acme-ml-prod", region="us-central1")
    build(stack)
    return json.loads(Testing.synth(stack))


def test_run_schedules_start_their_nodes_only_while_start_when_holds():
    from aiinfra.constructs.aws import RunSchedule as AwsRuns
    from aiinfra.constructs.gcp import RunSchedule as GcpRuns

    def build(s):
        AwsRuns(s, "runs-aws", group_name="g", nodes=2, max_nodes=3, start="0 6 * * 6", stop="0 6 * * 0", start_when=HAS_IMAGE)
        GcpRuns(s, "runs-gcp", project="acme-ml-prod", region="us-central1", name="acme-train", groups=[("acme-train-spot", 2), ("acme-train-od", 0)],
                start="0 6 * * 6", stop="0 6 * * 0", service_account_email="sa@acme-ml-prod.iam.gserviceaccount.com", start_when=HAS_IMAGE)

    d = _synth(build)
    actions = {a["scheduled_action_name"]: a for a in d["resource"]["aws_autoscaling_schedule"].values()}
    start, stop = actions["runs-aws-start"], actions["runs-aws-hard-stop"]
    assert (start["desired_capacity"], start["max_size"]) == (f"${{{HAS_IMAGE} ? 2 : 0}}", f"${{{HAS_IMAGE} ? 3 : 0}}")
    assert (stop["desired_capacity"], stop["max_size"]) == (0, 3)
    jobs = {j["name"]: j for j in d["resource"]["google_cloud_scheduler_job"].values()}
    assert jobs["acme-train-0-start"]["http_target"]["uri"].endswith(f"/acme-train-spot/resize?size=${{{HAS_IMAGE} ? 2 : 0}}")
    assert jobs["acme-train-0-stop"]["http_target"]["uri"].endswith("/acme-train-spot/resize?size=0")
    assert "acme-train-1-start" not in jobs  # a group a run starts at zero is only resized down, as before


@pytest.mark.parametrize("bad", ["", "  ", "${var.image != \"\"}"])
def test_start_when_is_a_bare_expression(bad):
    from aiinfra.constructs.aws import RunSchedule as AwsRuns

    with pytest.raises(ValueError, match="start_when must be a bare Terraform expression"):
        _synth(lambda s: AwsRuns(s, "runs-aws", group_name="g", nodes=2, start="0 6 * * 6", stop="0 6 * * 0", start_when=bad))
