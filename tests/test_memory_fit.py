"""Memory fit and LLM serving throughput (planner/memory.py, rules.py): every rule with a case,
the bad cases as one-line errors, and hypothesis properties over the rules."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiinfra.catalog import load_catalog
from aiinfra.planner import make_plan, memory, rules
from aiinfra.planner import serving
from aiinfra.spec import load_spec_text
from aiinfra.spec.units import ModelSize
from tests.conftest import ROOT, fake_catalog, make_spec  # noqa: F401  (fixture)

BOTH = "  aws: {region: us-east-1}\n  gcp: {region: us-central1, project: fit-check-1}"


def plan(workloads: str, clouds: str = BOTH, catalog=None):
    cat = catalog or load_catalog()
    return make_plan(load_spec_text(make_spec(workloads, clouds=clouds), catalog=cat), cat)


def error_of(p, path="workload_inventory[0].gpu_requirements"):
    found = [f for f in p.errors if f.path == path]
    assert found, p.errors
    return found[0].message


# ---- serving ----------------------------------------------------------------------------

def test_a_2t_model_on_one_t4_is_an_error_not_1429_replicas(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(make_spec('- name: huge\n  type: inference\n  model_size: "2T parameters"\n  gpu_requirements: "1x T4"\n'
                              '  expected_qps: "1000"\n', clouds=BOTH))
    r = subprocess.run([sys.executable, "-m", "aiinfra.cli", "plan", str(spec)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.splitlines()
    assert line.startswith("workload_inventory[0].gpu_requirements: 4,000 GB weights (2T parameters x 2 bytes (fp16)) + 20% KV cache "
                           "= 4,800 GB > 16 GB on 1x T4")
    assert "no single node of the configured clouds holds it" in line and line.endswith(")") and "(line " in line


def test_13b_on_one_l4_names_the_need_the_ask_and_the_cheapest_shapes_that_fit():
    msg = error_of(plan('- name: chat\n  type: inference\n  model_size: "13B parameters"\n  gpu_requirements: "1x L4"\n  expected_qps: "10"\n'))
    assert msg.startswith("26 GB weights (13B parameters x 2 bytes (fp16)) + 20% KV cache = 31 GB > 24 GB on 1x L4")
    assert "the cheapest that fit are g2-standard-24 (2x L4-24GB, 48 GB, gcp us-central1)" in msg
    assert msg.endswith("ask for 2x L4")


def test_a_lower_serving_precision_makes_it_fit_and_the_reason_shows_the_arithmetic():
    w = plan('- name: chat\n  type: inference\n  model_size: "13B parameters"\n  gpu_requirements: "1x L4"\n  expected_qps: "10"\n'
             '  precision: int4\n').workloads[0]
    assert w.gpu == "L4" and w.gpus_per_node == 1
    assert w.reasons["memory"] == "6.5 GB weights (13B parameters x 0.5 bytes (int4)) + 20% KV cache = 7.8 GB <= 24 GB on 1x L4-24GB a replica"


def test_a_model_size_in_bytes_is_the_weights():
    msg = error_of(plan('- name: chat\n  type: inference\n  model_size: "30GB"\n  gpu_requirements: "1x L4"\n  expected_qps: "10"\n'))
    assert msg.startswith("30 GB weights (a 30 GB model) + 20% KV cache = 36 GB > 24 GB on 1x L4")


def test_without_an_ask_the_planner_picks_a_shape_that_holds_the_model():
    w = plan('- name: chat\n  type: inference\n  model_size: "70B parameters"\n  expected_qps: "5"\n').workloads[0]
    need = 70e9 * 2 * 1.2 / 1e9
    assert w.gpus_per_node * w.gpu_memory_gib >= need
    assert "tensor parallel over the node's" in w.reasons["memory"]


# ---- training -----------------------------------------------------------------------------

TRAIN = '- name: t\n  type: training\n  model_size: "{size}"\n  gpu_requirements: "{ask}"\n  estimated_runtime: "10 hours"\n  training_frequency: weekly\n'


def test_full_training_too_big_for_the_ask_says_how_many_gpus_would_fit():
    msg = error_of(plan(TRAIN.format(size="70B parameters", ask="8x A100"), clouds="  aws: {region: us-east-1}"))
    # 70e9 x 16 bytes = 1,120 GB + 20% = 1,344 GB; over 8 GPUs 168 GB each > 40 (p4d) and > 80 (p4de).
    assert "8x A100 on p4d.24xlarge in us-east-1: 70B parameters x 16 bytes (full: mixed-precision Adam) = 1,120 GB + 20% activations " \
           "= 1,344 GB, 168 GB a GPU even sharded over 8 > 40 GB: needs at least 34 such GPUs; ask for 40x A100-40GB" in msg
    assert "on p4de.24xlarge in us-east-1" in msg and "needs at least 17 such GPUs; ask for 24x A100-80GB" in msg


def test_a_model_that_fits_only_sharded_is_planned_and_says_so():
    w = plan(TRAIN.format(size="70B parameters", ask="64x A100"), clouds="  aws: {region: us-east-1}").workloads[0]
    assert w.nodes * w.gpus_per_node == 64
    assert "fits only sharded (ZeRO-3 / FSDP full shard) over the 64 GPUs" in w.reasons["memory"]


@pytest.mark.parametrize("method, expect", [
    ("lora", "70B parameters x 2.16 bytes (lora: 16-bit base + LoRA adapters) = 151 GB + 20% activations = 181 GB > 80 GB a GPU: fits only sharded"),
    ("qlora", "70B parameters x 0.676 bytes (qlora: 4-bit base + LoRA adapters) = 47 GB + 20% activations = 57 GB <= 80 GB a GPU: fits without sharding"),
])
def test_lora_and_qlora_need_a_fraction_of_full_training(method, expect):
    w = plan(TRAIN.format(size="70B parameters", ask="8x A100-80GB") + f"  training_method: {method}\n",
             clouds="  aws: {region: us-east-1}").workloads[0]
    assert w.reasons["memory"].startswith(expect)


def test_qlora_65b_fits_one_48gb_gpu_as_the_paper_reports():
    need = memory.training_need(ModelSize(parameters=65_000_000_000), "qlora")
    assert need.unsharded_gb == pytest.approx(65 * 0.676 * 1.2, rel=1e-6)  # 52.7 GB: the paper's paged optimizer states take the rest
    assert rules.TRAINING_METHOD_BYTES == {"full": 16.0, "lora": 2.16, "qlora": pytest.approx(0.676)}


def test_keys_are_checked_against_the_workload_type(tmp_path):
    from aiinfra.errors import SpecError

    with pytest.raises(SpecError) as exc:
        load_spec_text(make_spec(TRAIN.format(size="7B parameters", ask="8x A100") + "  precision: int4\n  output_tokens_per_request: 100\n"))
    paths = {p.path for p in exc.value.problems}
    assert {"workload_inventory[0].precision", "workload_inventory[0].output_tokens_per_request"} <= paths
    with pytest.raises(SpecError) as exc:
        load_spec_text(make_spec('- name: s\n  type: inference\n  expected_qps: "10"\n  training_method: lora\n'))
    assert "workload_inventory[0].training_method" in {p.path for p in exc.value.problems}


# ---- LLM serving throughput ----------------------------------------------------------------

def test_llm_serving_sizes_replicas_from_the_serving_model_and_the_overrides_win():
    base = '- name: c\n  type: inference\n  model_size: "13B parameters"\n  expected_qps: "50"\n  gpu_requirements: "1x H100"\n'
    w = plan(base, clouds="  aws: {region: us-east-1}").workloads[0]
    # p5.48xlarge is the only H100 shape: 8 GPUs, the engine's batch of 256 (planner/serving.py).
    acc = serving.Accelerators("H100", 8, 80.0, 3350.0, 989.0)
    cap = serving.llm_capacity(13e9, 2.0, acc, 512, 256)
    assert cap.limit == "engine" and cap.point.batch == 256
    assert w.replica_qps == pytest.approx(cap.requests_per_s, abs=0.05)
    assert w.nodes == max(2, math.ceil(50 / (cap.requests_per_s * 0.7)))
    assert w.reasons["replica_qps"].startswith("8x H100 at fp16 weights, 16-bit math: batch 256 (the engine's limit")
    short = plan(base + "  output_tokens_per_request: 32\n  input_tokens_per_request: 64\n", clouds="  aws: {region: us-east-1}").workloads[0]
    assert short.replica_qps > 5 * w.replica_qps
    fixed = plan(base + "  replica_qps: \"7\"\n", clouds="  aws: {region: us-east-1}").workloads[0]
    assert fixed.replica_qps == 7 and fixed.reasons["replica_qps"] == "replica_qps set on the workload, measured on 1x H100"


def test_what_counts_as_a_language_model():
    llm = "at fp16 weights, 16-bit math: batch"
    small_vllm = plan('- name: c\n  type: inference\n  model_size: "500M parameters"\n  expected_qps: "10"\n  framework: vllm\n').workloads[0]
    assert llm in small_vllm.reasons["replica_qps"]
    not_llm = plan('- name: c\n  type: inference\n  model_size: "13B parameters"\n  expected_qps: "10"\n  model_type: other\n').workloads[0]
    assert "GFLOP a request" in not_llm.reasons["replica_qps"]
    small = plan('- name: c\n  type: inference\n  model_size: "100M parameters"\n  expected_qps: "10"\n').workloads[0]
    assert "GFLOP a request" in small.reasons["replica_qps"]


# ---- properties ------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(params_b=st.integers(1, 400), precision=st.sampled_from(sorted(rules.PRECISION_BYTES)))
def test_the_chosen_serving_shape_always_holds_the_model(params_b, precision):
    p = plan(f'- name: c\n  type: inference\n  model_size: "{params_b}B parameters"\n  expected_qps: "5"\n  precision: {precision}\n')
    need = params_b * 1e9 * rules.PRECISION_BYTES[precision] * (1 + rules.INFERENCE_KV_HEADROOM) / 1e9
    if p.errors:  # only when no node holds it, or those that do are in too few zones for production
        (e,) = p.errors
        # (production runs on-demand: a spot-only shape such as p5e is no holder)
        holders = [o for o in load_catalog().all if o.gpu and o.total_gpu_memory_gib >= need and o.on_demand_usd_hr is not None
                   and o.region in ("us-east-1", "us-central1")]
        assert (not holders and "no shape holds" in e.message) or ("offered in too few zones" in e.message and all(len(o.zones) < 2 for o in holders))
    else:
        w = p.workloads[0]
        assert w.gpus_per_node * w.gpu_memory_gib >= need


@settings(max_examples=60, deadline=None)
@given(params_b=st.integers(1, 200), nodes=st.integers(1, 8), method=st.sampled_from(["full", "lora", "qlora"]))
def test_adding_gpus_to_an_ask_that_fits_never_makes_it_not_fit(params_b, nodes, method):
    need = memory.training_need(ModelSize(parameters=params_b * 10**9), method)
    for gpu_gb in (40, 80, 141):
        fits, _ = need.fit(nodes * 8, gpu_gb)
        if fits:
            assert need.fit((nodes + 1) * 8, gpu_gb)[0]
            w = plan(TRAIN.format(size=f"{params_b}B parameters", ask=f"{(nodes + 1) * 8}x H200") + f"  training_method: {method}\n",
                     clouds="  aws: {region: us-east-1}")
            if gpu_gb == 141:
                assert not w.errors, w.errors
