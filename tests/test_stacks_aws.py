"""AWS stacks from specs: names, the foundation / workload split, cross-stack references,
backends, and `aiinfra synth` output (atomic, same layout as `cdktf synth`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


from tests.conftest import ROOT  # noqa: E402

AWS_ONLY = ROOT / "examples" / "aws-only.yaml"
PREFIX = "acme-ml-production-aws-"


def run_synth(spec: Path, out: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "aiinfra.cli", "synth", str(spec), "--out", str(out)], capture_output=True, text=True,
                          env=env, cwd=cwd or out.parent, timeout=300)


@pytest.fixture(scope="module")
def aws_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cdktf.out"
    r = run_synth(AWS_ONLY, out)
    assert r.returncode == 0, r.stderr
    return out


def stack(out: Path, part: str) -> dict:
    return json.loads((out / "stacks" / f"{PREFIX}{part}" / "cdk.tf.json").read_text())


def test_one_foundation_one_stack_per_workload_and_the_dashboard(aws_out):
    names = sorted(p.name for p in (aws_out / "stacks").iterdir())
    assert names == [f"{PREFIX}dashboard", f"{PREFIX}data-pipeline", f"{PREFIX}foundation", f"{PREFIX}fraud-detection-training",
                     f"{PREFIX}recommendation-inference"]
    assert json.loads((aws_out / "manifest.json").read_text())["stacks"].keys() == set(names)


def test_foundation_holds_network_key_storage_and_budget(aws_out):
    doc = stack(aws_out, "foundation")
    for rtype in ("aws_vpc", "aws_kms_key", "aws_s3_bucket", "aws_sns_topic", "aws_budgets_budget", "aws_placement_group"):
        assert rtype in doc["resource"], rtype
    assert "aws_launch_template" not in doc["resource"]


def test_workload_stacks_reference_the_foundation_across_stacks(aws_out):
    doc = stack(aws_out, "fraud-detection-training")
    ((read, remote),) = doc["data"]["terraform_remote_state"].items()
    assert remote["backend"] == "local" and f"terraform.{PREFIX}foundation.tfstate" in remote["config"]["path"]
    # the foundation's outputs through the guarded read (stacks/state.py): its state, or unknown until it exists
    assert f"data.terraform_remote_state.{read}[*].outputs" in doc["locals"][read]
    lt = next(iter(doc["resource"]["aws_launch_template"].values()))
    assert f"local.{read}." in json.dumps(lt["block_device_mappings"])


def test_multi_node_training_gets_efa_and_the_placement_group(aws_out):
    doc = stack(aws_out, "fraud-detection-training")
    lt = next(iter(doc["resource"]["aws_launch_template"].values()))
    assert len(lt["network_interfaces"]) == 4 and lt["placement"]["group_name"]
    asg = next(iter(doc["resource"]["aws_autoscaling_group"].values()))
    assert (asg["min_size"], asg["desired_capacity"], asg["max_size"]) == (0, 0, 2)  # idles at zero; jobs scale it up


def test_inference_stack_has_endpoint_alarms_and_replicas_from_the_plan(aws_out):
    doc = stack(aws_out, "recommendation-inference")
    asg = next(iter(doc["resource"]["aws_autoscaling_group"].values()))
    w = serving_plan(AWS_ONLY)
    assert (asg["min_size"], asg["desired_capacity"], asg["max_size"]) == (w.min_nodes, w.nodes, w.max_nodes)
    assert "aws_lb_listener" in doc["resource"]
    alarms = {a["alarm_name"].removeprefix("acme-ml-prod-recommendation-inference-"): a
              for a in doc["resource"]["aws_cloudwatch_metric_alarm"].values()}
    # the spec's two rules that apply to serving, and the outage alarms nobody asked for (a node's failed boot, no capacity)
    assert set(alarms) == {"gpu-memory-exhaustion", "model-inference-latency", "healthy-nodes-below-minimum", "serving-errors",
                           "boot-failed", "capacity-not-met"}
    latency = alarms["model-inference-latency"]
    assert latency["metric_query"][0]["metric"]["metric_name"] == "TargetResponseTime"
    assert latency["threshold"] == 0.5 and latency["evaluation_periods"] == 2
    healthy = alarms["healthy-nodes-below-minimum"]
    assert (healthy["metric_query"][0]["metric"]["metric_name"], healthy["threshold"], healthy["treat_missing_data"]) == \
        ("HealthyHostCount", w.min_nodes, "breaching")
    assert set(healthy["metric_query"][0]["metric"]["dimensions"]) == {"LoadBalancer", "TargetGroup"}


def serving_plan(spec: Path, name: str = "recommendation-inference"):
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec

    return next(w for w in make_plan(load_spec(spec)).workloads if w.name == name)


def test_gpu_serving_scales_on_requests_per_target_only(aws_out):
    # The planned GPU serving group tracks the plan's target utilisation of its replica throughput, in requests per target a
    # minute; no CPU policy (it would hold scale-in: the group scales in only when every target-tracking policy agrees).
    w = serving_plan(AWS_ONLY)
    assert w.gpu and w.replica_qps and w.target_utilization
    doc = stack(aws_out, "recommendation-inference")
    (policy,) = doc["resource"]["aws_autoscaling_policy"].values()
    tracking = policy["target_tracking_configuration"]
    assert tracking["predefined_metric_specification"]["predefined_metric_type"] == "ALBRequestCountPerTarget"
    assert tracking["target_value"] == round(w.replica_qps * w.target_utilization * 60, 1)


def test_provider_tags_and_local_state_outside_the_output(aws_out):
    doc = stack(aws_out, "foundation")
    tags = doc["provider"]["aws"][0]["default_tags"][0]["tags"]
    assert tags == {"project": "acme-ml", "environment": "production", "cost-scope": "acme-ml-prod", "aiinfra-part": "foundation", "managed-by": "aiinfra"}
    path = doc["terraform"]["backend"]["local"]["path"]
    assert path == str(AWS_ONLY.parent.resolve() / f"terraform.{PREFIX}foundation.tfstate")  # beside the spec, absolute


def test_state_block_gives_an_encrypted_s3_backend_with_locking(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(AWS_ONLY.read_text() + "state:\n  aws:\n    bucket: acme-tf-state\n")
    out = tmp_path / "out"
    r = run_synth(spec, out)
    assert r.returncode == 0, r.stderr
    backend = stack(out, "foundation")["terraform"]["backend"]["s3"]
    assert backend["encrypt"] is True and backend["use_lockfile"] is True and backend["key"] == f"aiinfra/{PREFIX}foundation/terraform.tfstate"


def test_failed_synth_leaves_previous_output_untouched(tmp_path, aws_out):
    out = tmp_path / "out"
    r = run_synth(AWS_ONLY, out)
    assert r.returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.yaml"
    bad.write_text(AWS_ONLY.read_text().replace("    certificate_arn:", "    x_certificate_arn:"))
    r = run_synth(bad, out)
    assert r.returncode == 2 and "x_certificate_arn" in r.stderr and "Traceback" not in r.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_inference_without_a_certificate_synthesizes_with_a_variable_and_a_note(tmp_path):
    no_cert = tmp_path / "nocert.yaml"
    no_cert.write_text("\n".join(line for line in AWS_ONLY.read_text().splitlines() if "certificate_arn" not in line) + "\n")
    out = tmp_path / "out"
    r = run_synth(no_cert, out)
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if line.startswith("note: ")]
    assert any("recommendation-inference: pass the endpoint's certificate with -var 'certificate_arn=" in n for n in notes), notes
    doc = json.loads((out / "stacks" / f"{PREFIX}recommendation-inference" / "cdk.tf.json").read_text())
    var = doc["variable"]["certificate_arn"]
    assert var["type"] == "string" and "ACM certificate" in var["description"]
    (listener,) = doc["resource"]["aws_lb_listener"].values()
    assert listener["certificate_arn"] == "${var.certificate_arn}"


def test_domains_request_an_acm_certificate_validated_in_the_hosted_zone(tmp_path):
    spec = tmp_path / "domains.yaml"
    spec.write_text(AWS_ONLY.read_text().replace(
        "    certificate_arn: arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666",
        "    domains: [reco.acme-ml.example.com]\n    hosted_zone_id: Z0123456789ABCDEFGHIJ"))
    out = tmp_path / "out"
    r = run_synth(spec, out)
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "stacks" / f"{PREFIX}recommendation-inference" / "cdk.tf.json").read_text())
    (cert,) = doc["resource"]["aws_acm_certificate"].values()
    assert (cert["domain_name"], cert["validation_method"]) == ("reco.acme-ml.example.com", "DNS")
    (record,) = doc["resource"]["aws_route53_record"].values()
    assert record["zone_id"] == "Z0123456789ABCDEFGHIJ"
    (listener,) = doc["resource"]["aws_lb_listener"].values()
    assert listener["certificate_arn"].startswith("${aws_acm_certificate_validation.")


def test_reference_spec_synthesizes_its_aws_workloads(tmp_path):
    out = tmp_path / "out"
    r = run_synth(ROOT / "examples" / "reference.yaml", out)
    assert r.returncode == 0, r.stderr
    names = {p.name for p in (out / "stacks").iterdir()}
    assert {f"{PREFIX}foundation", f"{PREFIX}fraud-detection-training", f"{PREFIX}feature-etl", f"{PREFIX}data-pipeline"} <= names
    # The guide's cache: the serving stack reaches it from its own nodes and tags them with what the boot hands the container
    # (the endpoint and TTL, the user and replication group an IAM token is signed for); the pipeline stack never reads it.
    serving, pipeline = stack(out, "recommendation-inference"), stack(out, "data-pipeline")
    [template] = serving["resource"]["aws_launch_template"].values()
    tags = next(t["tags"] for t in template["tag_specifications"] if t["resource_type"] == "instance")
    group = next(iter(pipeline["resource"]["aws_elasticache_replication_group"].values()))
    assert "data-pipeline" in tags["aiinfra-cache-endpoint"] and "configuration_endpoint_address" in tags["aiinfra-cache-endpoint"]
    assert (tags["aiinfra-cache-ttl-seconds"], tags["aiinfra-cache-name"]) == ("86400", group["replication_group_id"])
    assert tags["aiinfra-cache-user"] == next(iter(pipeline["resource"]["aws_elasticache_user"].values()))["user_id"]
    [ingress] = [r for r in serving["resource"]["aws_vpc_security_group_ingress_rule"].values() if r["from_port"] == 6379]
    assert "data-pipeline" in ingress["security_group_id"] and "node-sg" in ingress["referenced_security_group_id"]
    assert "recommendation-inference" not in json.dumps(pipeline.get("data", {})) + json.dumps(pipeline.get("locals", {}))


def test_cdktf_app_writes_the_same_stacks(tmp_path):
    ours_dir, theirs_dir = tmp_path / "a", tmp_path / "b"
    ours_dir.mkdir(), theirs_dir.mkdir()
    assert run_synth(AWS_ONLY, ours_dir / "cdktf.out", cwd=ours_dir).returncode == 0
    # As `cdktf synth` runs it: from the project folder, CDKTF_OUTDIR set by the cdktf CLI.
    env = {**os.environ, "AIINFRA_SPEC": str(AWS_ONLY), "CDKTF_OUTDIR": "cdktf.out"}
    r = subprocess.run([sys.executable, str(ROOT / "main.py")], capture_output=True, text=True, env=env, cwd=theirs_dir, timeout=300)
    assert r.returncode == 0, r.stderr
    for part in ("foundation", "fraud-detection-training", "recommendation-inference"):
        assert stack(ours_dir / "cdktf.out", part) == stack(theirs_dir / "cdktf.out", part), part


def test_cdktf_app_reports_bad_specs_in_one_line_each(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(AWS_ONLY.read_text().replace('"16x A100"', '"12x A100"'))
    env = {**os.environ, "AIINFRA_SPEC": str(bad), "CDKTF_OUTDIR": str(tmp_path / "out")}
    r = subprocess.run([sys.executable, str(ROOT / "main.py")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("workload_inventory[0].gpu_requirements: 12x A100 does not fill whole nodes")
    assert not (tmp_path / "out").exists()


def test_alert_thresholds_in_every_unit_reach_cloudwatch_units():
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec_text
    from aiinfra.stacks.aws import alert_rules_for

    extra = "".join(f'  - name: "r{i}"\n    condition: "{c}"\n    severity: warning\n' for i, c in enumerate(
        ["cost_per_prediction > $0.01", "gpu_temperature > 85C", "avg_inference_latency > 250ms", "gpu_utilization < 10%", "queue_depth > 100"]))
    text = AWS_ONLY.read_text() + "alerting_rules:\n" + extra if "alerting_rules" not in AWS_ONLY.read_text() else \
        AWS_ONLY.read_text().replace("alerting_rules:\n", "alerting_rules:\n" + extra)
    loaded = load_spec_text(text)
    serve = next(w for w in make_plan(loaded).workloads if w.type == "inference")
    rules = {r.name: r.threshold for r in alert_rules_for(loaded.spec.alerting_rules, serve)}
    assert rules["r0"] == 0.01 and rules["r1"] == 85 and rules["r2"] == 0.25 and rules["r3"] == 10 and rules["r4"] == 100


def test_a_boot_over_the_user_data_limit_is_one_line_before_anything_is_written(tmp_path):
    spec = tmp_path / "big.yaml"
    noise = __import__("hashlib").sha256
    big = "{" + ", ".join(f"VAR_{i}: \"{''.join(noise(f'{i}-{j}'.encode()).hexdigest() for j in range(6))}\"" for i in range(80)) + "}"
    spec.write_text(AWS_ONLY.read_text().replace('    env: {NCCL_DEBUG: WARN}\n', f"    env: {big}\n"))
    r = run_synth(spec, tmp_path / "out")
    errors = [line for line in r.stderr.strip().splitlines() if not line.startswith("warning: ")]  # the plan's warnings come too
    assert r.returncode == 2 and errors[0].startswith("workload_inventory[0]: cannot boot its nodes: user data is "), r.stderr
    assert "bytes compressed" in r.stderr
    assert "over EC2's limit of 16384" in r.stderr and len(errors) == 1
    assert not (tmp_path / "out").exists()


def test_with_both_clouds_the_boot_check_runs_beside_the_workers_and_still_writes_nothing(tmp_path):
    """Two clouds synthesize in two worker processes; the boot precheck runs while they load the CDK,
    and a failing one stops them: the same one line, exit 2, no output and no temporary folder left."""
    spec = tmp_path / "big.yaml"
    noise = __import__("hashlib").sha256
    big = "{" + ", ".join(f"VAR_{i}: \"{''.join(noise(f'{i}-{j}'.encode()).hexdigest() for j in range(6))}\"" for i in range(80)) + "}"
    text = AWS_ONLY.read_text().replace('    env: {NCCL_DEBUG: WARN}\n', f"    env: {big}\n")
    text = text.replace("workload_inventory:\n", "  gcp: {region: us-central1, project: acme-ml-prod}\nworkload_inventory:\n"
                        "  - {name: gcp-etl, type: data_processing, dataset_size: 100GB, cloud: gcp}\n", 1)
    spec.write_text(text)
    r = run_synth(spec, tmp_path / "out")
    errors = [line for line in r.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert r.returncode == 2 and errors == [e for e in errors if e.startswith("workload_inventory[1]: cannot boot its nodes: user data is ")]
    assert len(errors) == 1 and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml"]  # no output, no .out.tmp-* folder


def test_the_boot_check_leaves_out_spark_on_emr_whose_nodes_emr_starts():
    """A Spark workload runs on EMR's nodes, which boot nothing of ours: its env is not user data, so the 16 KB check is
    not its; the same env on a workload of our own nodes still fails it."""
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec_text
    from aiinfra.synth import precheck

    noise = __import__("hashlib").sha256
    big = "{" + ", ".join(f"VAR_{i}: \"{''.join(noise(f'{i}-{j}'.encode()).hexdigest() for j in range(6))}\"" for i in range(80)) + "}"
    base = AWS_ONLY.read_text()
    spark = base.replace("workload_inventory:\n", "workload_inventory:\n  - {name: nightly-etl, type: data_processing, framework: spark, "
                         f"dataset_size: 2TB, training_frequency: daily, env: {big}}}\n", 1)
    loaded = load_spec_text(spark)
    plan = make_plan(loaded)
    assert plan.spark_part("nightly-etl") is not None and plan.spark_part("nightly-etl").settings["engine"] == "emr"
    assert precheck(loaded.spec, plan) == []
    own = load_spec_text(spark.replace("framework: spark, ", "framework: dask, "))
    problems = precheck(own.spec, make_plan(own))
    assert [p.path for p in problems] == ["workload_inventory[0]"] and "cannot boot its nodes" in str(problems[0])
