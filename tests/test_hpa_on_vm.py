"""The guide's HPA (``autoscaling``) on the vm platform (SPEC.md v3 "Platforms"): its replica bounds are the group's,
its cpu Utilization target the CPU target tracking, its requests_per_second Pods target the requests per replica; what a
group cannot scale on is named in the notes. Stacks are built in-process and read back as the Terraform JSON they
synthesize."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from aiinfra.spec.autoscaling import quantity_value, vm_scaling
from tests.conftest import ROOT
from tests.test_k8s_serving import GUIDE_SPEC_FORM

pytestmark = pytest.mark.cdk

# The guide's HPA in the spec form (its spec, scaleTargetRef left out), as a workload's key.
GUIDE_HPA = "    autoscaling:\n" + "".join(f"      {line}\n" for line in yaml.safe_dump(GUIDE_SPEC_FORM, sort_keys=False).splitlines())
MEMORY = """\
      - type: Resource
        resource:
          name: memory
          target:
            type: Utilization
            averageUtilization: 80
"""  # appended to the guide's metrics list (safe_dump indents list items at the key's level)


def with_hpa(example: str, hpa: str) -> str:
    text = (ROOT / "examples" / example).read_text()
    anchor = '    health_check_path: "/v2/health/ready"\n'
    assert anchor in text
    return text.replace(anchor, anchor + hpa, 1)


def synth(text: str, cloud: str, tmp_path: Path) -> tuple[dict, list[str], object]:
    from aiinfra.stacks import build_app

    loaded = load_spec_text(text)
    plan = make_plan(loaded)
    assert not [f for f in plan.findings if f.severity == "error"], plan.findings
    out = tmp_path / cloud
    out.mkdir(parents=True)
    app, names, notes, _policy = build_app(loaded.spec, plan, str(out), clouds=(cloud,))
    app.synth()
    name = next(n for n in names if n.endswith("recommendation-inference"))
    w = next(w for w in plan.workloads if w.name == "recommendation-inference")
    return json.loads((out / "stacks" / name / "cdk.tf.json").read_text()), notes, w


def test_quantities_and_the_mapping_of_the_guides_metrics():
    assert [quantity_value(q) for q in ("100", "500m", "1.5k", "2e3", 7)] == [100.0, 0.5, 1500.0, 2000.0, 7.0]
    spec = {"minReplicas": 2, "maxReplicas": 20, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
        {"type": "Pods", "pods": {"metric": {"name": "requests_per_second"}, "target": {"type": "AverageValue", "averageValue": "250m"}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}]}
    assert vm_scaling(spec) == (70.0, 0.25, [".metrics[2]", ".behavior"])
    document = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"}, "spec": spec}
    assert vm_scaling(document) == (70.0, 0.25, [".spec.metrics[2]", ".spec.behavior"])
    with pytest.raises(ValueError):
        quantity_value("ten")


def test_aws_group_scales_on_the_hpas_cpu_and_requests_targets_within_its_bounds(tmp_path):
    doc, notes, w = synth(with_hpa("aws-only.yaml", GUIDE_HPA + MEMORY), "aws", tmp_path)
    policies = {p["target_tracking_configuration"]["predefined_metric_specification"]["predefined_metric_type"]:
                p["target_tracking_configuration"]["target_value"] for p in doc["resource"]["aws_autoscaling_policy"].values()}
    # ALBRequestCountPerTarget counts a minute's requests: 100 a second is 6000 (inference_endpoint.py).
    assert policies == {"ALBRequestCountPerTarget": 6000.0, "ASGAverageCPUUtilization": 70.0}
    assert 2 <= w.min_nodes and w.max_nodes <= 20
    (group,) = doc["resource"]["aws_autoscaling_group"].values()
    assert group["max_size"] == w.max_nodes
    assert any("autoscaling: .metrics[2] not applied on the vm platform" in n for n in notes), notes


def test_aws_without_an_hpa_keeps_the_plans_targets(tmp_path):
    doc, notes, w = synth((ROOT / "examples" / "aws-only.yaml").read_text(), "aws", tmp_path)
    policies = {p["target_tracking_configuration"]["predefined_metric_specification"]["predefined_metric_type"]:
                p["target_tracking_configuration"]["target_value"] for p in doc["resource"]["aws_autoscaling_policy"].values()}
    # A GPU server scales on requests alone, at the plan's share of the replica's throughput.
    assert set(policies) == {"ALBRequestCountPerTarget"}
    assert policies["ALBRequestCountPerTarget"] == pytest.approx(round(w.replica_qps * w.target_utilization * 60, 1))
    assert not any("autoscaling" in n for n in notes)


def test_gcp_autoscaler_takes_the_hpas_cpu_and_requests_share(tmp_path):
    doc, notes, w = synth(with_hpa("gcp-only.yaml", GUIDE_HPA), "gcp", tmp_path)
    (autoscaler,) = doc["resource"]["google_compute_region_autoscaler"].values()
    policy = autoscaler["autoscaling_policy"]
    assert policy["cpu_utilization"]["target"] == pytest.approx(0.70)
    # the load balancer's max rate is the replica's throughput; the HPA's 100 a second is that share of it
    assert policy["load_balancing_utilization"]["target"] == pytest.approx(min(1.0, 100 / w.replica_qps), abs=1e-4)
    assert policy["min_replicas"] >= 2 and policy["max_replicas"] <= 20
    assert not any("not applied on the vm platform" in n for n in notes)
