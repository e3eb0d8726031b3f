"""aiinfra.placement: placement limits with their sources and the homogeneity check, as pure
functions (no cdktf, no cloud SDK)."""

from __future__ import annotations

import re

import subprocess
import sys

import pytest

from aiinfra.placement import (AWS_PLACEMENT_SOURCE, GCP_PLACEMENT_SOURCE, check_homogeneous, check_placement, family,
                               placement_limit)


def test_aws_cluster_placement_group_documents_no_instance_cap():
    limit, source = placement_limit("aws", "p5.48xlarge")
    assert limit is None
    assert source.startswith(f"{AWS_PLACEMENT_SOURCE}: no per-group instance limit documented;")
    assert "one Availability Zone" in source
    assert check_placement("aws", "p5.48xlarge", 10_000) is None


def test_aws_burstable_instances_cannot_use_a_cluster_placement_group():
    assert placement_limit("aws", "t3.large")[0] == 0
    assert check_placement("aws", "t3.large", 1) == (f"t3.large cannot use a cluster placement group (source: {AWS_PLACEMENT_SOURCE}: "
                                                     "burstable performance (t3) instances cannot launch into a cluster placement group)")


def test_gcp_compact_placement_limit_per_machine_series_with_its_source():
    limit, source = placement_limit("gcp", "a3-highgpu-8g")
    assert limit == 1500
    assert source == f"{GCP_PLACEMENT_SOURCE}: at most 1500 VMs per compact placement policy for the A3 series without maxDistance"
    assert check_placement("gcp", "a3-highgpu-8g", 1500) is None
    assert check_placement("gcp", "a2-ultragpu-8g", 2) is None


def test_over_the_limit_is_a_one_line_error_naming_limit_and_source():
    msg = check_placement("gcp", "a3-megagpu-8g", 1501)
    assert msg == ("1501 a3-megagpu-8g nodes exceed the limit of 1500 per compact placement policy; split the run into groups of at "
                   f"most 1500 or use fewer, larger nodes (source: {GCP_PLACEMENT_SOURCE}: at most 1500 VMs per compact placement "
                   "policy for the A3 series without maxDistance)")
    assert "\n" not in msg


def test_gcp_n1_is_not_a_compact_placement_series():
    assert placement_limit("gcp", "n1-standard-8") == (0, f"{GCP_PLACEMENT_SOURCE}: compact placement policies do not support N1 machine types")
    assert "cannot use a compact placement policy" in check_placement("gcp", "n1-standard-8", 2)


def test_unknown_series_and_clouds():
    limit, source = placement_limit("gcp", "z9-unknown-8g")
    assert limit is None and source.startswith(f"{GCP_PLACEMENT_SOURCE}: no limit recorded here for the Z9 series")
    assert check_placement("gcp", "z9-unknown-8g", 100_000) is None
    assert family("aws", "p4de.24xlarge") == "p4de" and family("gcp", "a3-ultragpu-8g") == "a3"
    with pytest.raises(ValueError, match="cloud must be one of aws, gcp, got 'azure'"):
        placement_limit("azure", "Standard_ND96asr_v4")


def test_homogeneity_names_both_shapes_and_what_differs():
    assert check_homogeneous("aws", "p5.48xlarge", ["p5e.48xlarge"]) == (
        "p5e.48xlarge (8x H200-141GB, 32 EFA) cannot join a multi-node run of p5.48xlarge (8x H100-80GB, 32 EFA): different GPU model "
        "(H200 vs H100), GPU memory (141 vs 80 GB); a collective run needs one GPU model, GPU count, GPU memory and interconnect")
    assert "different GPU memory (80 vs 40 GB)" in check_homogeneous("aws", "p4d.24xlarge", ["p4de.24xlarge"])
    assert "different GPU count (4 vs 8)" in check_homogeneous("gcp", "a2-highgpu-8g", ["a2-highgpu-4g"])
    assert check_homogeneous("gcp", "a3-megagpu-8g", ["a3-ultragpu-8g"]).startswith(
        "a3-ultragpu-8g (8x H200-141GB, GPUDirect-RDMA, 8 GPU NICs) cannot join a multi-node run of a3-megagpu-8g "
        "(8x H100-80GB, GPUDirect-TCPXO, 8 GPU NICs): different GPU model (H200 vs H100), GPU memory (141 vs 80 GB), GPUDirect (rdma vs tcpxo);")


def test_homogeneity_passes_matching_shapes_and_refuses_unknown_ones():
    assert check_homogeneous("aws", "g5.12xlarge", ["g5.24xlarge"]) is None
    assert check_homogeneous("gcp", "g2-standard-16", ["g2-standard-32", "g2-standard-16"]) is None
    assert check_homogeneous("aws", "p5.48xlarge", []) is None
    assert check_homogeneous("aws", "p5.48xlarge", ["p9.48xlarge"]) == (
        "p9.48xlarge is not in the aiinfra catalog, so it cannot be checked against a multi-node run of p5.48xlarge (8x H100-80GB, 32 EFA)")
    assert check_homogeneous("aws", "p9.48xlarge", ["p5.48xlarge"]) == (
        "p9.48xlarge is not in the aiinfra catalog, so its alternatives (p5.48xlarge) cannot be checked for a multi-node run")


def test_module_imports_no_cdktf_and_no_catalog_until_used():
    code = ("import sys, aiinfra.placement; "
            "assert not any(m.split('.')[0] in ('cdktf', 'cdktn', 'constructs', 'jsii', 'boto3', 'google') for m in sys.modules), 'sdk'; "
            "assert 'aiinfra.catalog' not in sys.modules, 'catalog'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the planner applies them ---------------------------------------------------------------

def _plan(workloads: str, clouds: str):
    from aiinfra.catalog import load_catalog
    from aiinfra.planner import make_plan
    from aiinfra.spec import load_spec_text
    from tests.conftest import make_spec

    cat = load_catalog()
    return make_plan(load_spec_text(make_spec(workloads, clouds=clouds), catalog=cat), cat)


GCP_ONLY = "  gcp: {region: us-central1, project: fit-check-1}"
RUN = '- name: t\n  type: training\n  gpu_requirements: "{ask}"\n  estimated_runtime: "10 hours"\n  training_frequency: weekly\n'


def test_the_planner_refuses_a_run_larger_than_one_compact_placement_policy():
    p = _plan(RUN.format(ask="12008x H100"), GCP_ONLY)  # 1,501 nodes of an 8x H100 A3 shape (a3-megagpu-8g in the v8 catalog)
    (e,) = [f for f in p.errors if f.path == "workload_inventory[0].gpu_requirements"]
    assert re.match(r"1501 a3-(high|mega)gpu-8g nodes exceed the limit of 1500 per compact placement policy", e.message), e.message
    assert "https://cloud.google.com/compute/docs/instances/placement-policies-overview" in e.message


def test_a_shape_without_compact_placement_runs_without_it_and_says_so():
    p = _plan(RUN.format(ask="16x T4"), GCP_ONLY)  # 4 x n1-standard-32 with 4 T4 each
    assert not p.errors, p.errors
    w = p.workloads[0]
    assert w.instance_type.startswith("n1-") and w.nodes == 4 and w.placement == "none"
    assert any("without compact placement: compact placement policies do not support N1 machine types" in f.message for f in p.warnings)
