"""The serving model (planner/serving.py) against published measurements, and latency feasibility.

Every row of tests/data/serving_reference.csv (model, accelerators, precision, tokens in / out,
batch, measured throughput, source) is re-computed through the planner's own path: the catalog's
figures for the part (catalog/data/gpus.csv) via compute.accelerators_for, then the model, and must
land within 25 % of the measurement.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from aiinfra.catalog import load_catalog
from aiinfra.planner import make_plan, rules, serving
from aiinfra.planner.compute import accelerators_for
from aiinfra.spec import load_spec_text
from tests.conftest import make_spec

DATA = Path(__file__).parent / "data" / "serving_reference.csv"
TOLERANCE = 0.25


def _rows() -> list[dict[str, str]]:
    lines = [line for line in DATA.read_text().splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


def _sources() -> dict[str, str]:
    return {line.split(":", 1)[0].removeprefix("# source ").strip(): line.split(":", 1)[1].strip()
            for line in DATA.read_text().splitlines() if line.startswith("# source ")}


ROWS = _rows()


def predicted(row: dict[str, str]) -> float:
    acc, _ = accelerators_for(load_catalog(), row["gpu"], int(row["gpus"]), int(row["gpu_memory_gb"]), row["precision"])
    params = float(row["parameters"])
    if row["kind"] == "encoder":
        return serving.encoder_capacity(params, acc, int(row["in_tokens"])).requests_per_s
    weight_bytes = rules.PRECISION_BYTES[row["precision"]]
    kv = float(row["kv_bytes_per_token"])
    i, o = int(row["in_tokens"]), int(row["out_tokens"])
    if row["batch"]:
        return serving.llm_point(params, weight_bytes, acc, i, o, int(row["batch"]), kv).output_tokens_per_s
    return serving.llm_capacity(params, weight_bytes, acc, i, o, kv_bytes=kv).point.output_tokens_per_s


def test_the_reference_table_is_broad_and_sourced():
    sources = _sources()
    assert len(ROWS) >= 8
    assert {r["gpu"] for r in ROWS} >= {"H100", "H200", "A100", "L40S", "T4"}
    assert {r["precision"] for r in ROWS} >= {"fp16", "fp8"}
    sizes = {float(r["parameters"]) for r in ROWS}
    assert min(sizes) < 1e9 and any(6e9 <= s <= 9e9 for s in sizes) and any(s >= 65e9 for s in sizes)
    for r in ROWS:
        assert sources[r["source"]].startswith("https://github.com/NVIDIA/"), r


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['model']}-{r['gpus']}x{r['gpu']}-{r['precision']}-{r['in_tokens']}/{r['out_tokens'] or '-'}"
                         f"-b{r['batch'] or 'engine'}")
def test_the_model_is_within_a_quarter_of_each_measurement(row):
    got, measured = predicted(row), float(row["measured"])
    assert abs(got / measured - 1) <= TOLERANCE, f"predicted {got:,.0f}, measured {measured:,.0f} ({row['source']})"


def test_requests_per_second_follow_from_tokens():
    # The planner sizes replicas in requests/s: output tokens/s / output tokens, for the same rows.
    for row in (r for r in ROWS if r["kind"] == "llm" and not r["batch"]):
        acc, _ = accelerators_for(load_catalog(), row["gpu"], int(row["gpus"]), int(row["gpu_memory_gb"]), row["precision"])
        cap = serving.llm_capacity(float(row["parameters"]), rules.PRECISION_BYTES[row["precision"]], acc, int(row["in_tokens"]),
                                   int(row["out_tokens"]), kv_bytes=float(row["kv_bytes_per_token"]))
        measured_rps = float(row["measured"]) / int(row["out_tokens"])
        assert abs(cap.requests_per_s / measured_rps - 1) <= TOLERANCE


def test_decode_is_bandwidth_bound_at_small_batches_and_compute_bound_at_large():
    acc, _ = accelerators_for(load_catalog(), "H100", 1, 80, "fp16")
    small = serving.llm_point(8e9, 2.0, acc, 128, 128, 1, 131072)
    # One sequence: a step reads the 16 GB of weights at 75 % of 3,350 GB/s.
    assert small.tpot_s == pytest.approx(16e9 / (3350e9 * 0.75), rel=0.05)
    # Doubling the batch at 1 costs almost nothing; at 256 the step grows with the KV cache read.
    two = serving.llm_point(8e9, 2.0, acc, 128, 128, 2, 131072)
    big = serving.llm_point(8e9, 2.0, acc, 128, 128, 256, 131072)
    assert two.output_tokens_per_s > 1.9 * small.output_tokens_per_s and big.tpot_s > 1.2 * small.tpot_s


# ---- latency feasibility through the planner ------------------------------------------------

LLM = """
- name: chat
  type: inference
  framework: vllm
  model_size: "70B parameters"
  gpu_requirements: "8x H200"
  expected_qps: "40"
  input_tokens_per_request: 1024
  output_tokens_per_request: 256
  availability_requirement: "99.5%"
"""


def _plan(workload: str):
    return make_plan(load_spec_text(make_spec(workload, clouds="  aws: {region: us-east-1}")))


def test_an_impossible_latency_is_an_error_naming_the_arithmetic():
    plan = _plan(LLM + '  latency_sla: "100ms"\n')
    (err,) = plan.errors
    assert err.path == "workload_inventory[0].latency_sla"
    assert "100 ms is faster than any shape holding 8x H200 can answer (1024 tokens in / 256 out)" in err.message
    assert "p5en.48xlarge: prefill" in err.message and "256 tokens x" in err.message and "at batch 1" in err.message


def test_p95_latency_applies_when_the_workload_has_none():
    extra = "performance_requirements:\n  inference:\n    p95_latency: \"100ms\"\n"
    plan = make_plan(load_spec_text(make_spec(LLM, clouds="  aws: {region: us-east-1}", extra=extra)))
    assert [e.path for e in plan.errors] == ["performance_requirements.inference.p95_latency"]


def test_a_possible_latency_is_met_by_a_smaller_batch_and_more_replicas():
    free = _plan(LLM).workloads[0]
    held = _plan(LLM + '  latency_sla: "4s"\n').workloads[0]
    assert not _plan(LLM + '  latency_sla: "4s"\n').errors
    assert "the largest that meets 4,000 ms" in held.reasons["replica_qps"]
    assert held.replica_qps < free.replica_qps and held.nodes > free.nodes
    batch = int(held.reasons["replica_qps"].split("batch ")[1].split(" ")[0])
    acc, _ = accelerators_for(load_catalog(), "H200", 8, 141, "fp16")
    kv = serving.kv_bytes_per_token(70e9, 2.0)
    assert serving.llm_point(70e9, 2.0, acc, 1024, 256, batch, kv).latency_s <= 4.0
    assert serving.llm_point(70e9, 2.0, acc, 1024, 256, batch + 1, kv).latency_s > 4.0


def test_a_borderline_latency_plans_at_batch_one():
    acc, _ = accelerators_for(load_catalog(), "H200", 8, 141, "fp16")
    kv = serving.kv_bytes_per_token(70e9, 2.0)
    at_one = serving.llm_point(70e9, 2.0, acc, 1024, 256, 1, kv)
    one = at_one.latency_s
    w = _plan(LLM + f'  latency_sla: "{math.ceil(one * 1000) + 1}ms"\n').workloads[0]
    assert "batch 1 (the largest that meets" in w.reasons["replica_qps"]
    assert w.nodes == math.ceil(40 / (at_one.requests_per_s * 0.7))  # about 115 nodes: a target this tight costs that
    bad = _plan(LLM + f'  latency_sla: "{math.floor(one * 1000) - 1}ms"\n')
    assert [e.path for e in bad.errors] == ["workload_inventory[0].latency_sla"]


def test_the_issue_example_plans_three_to_four_nodes_a_zone_pair():
    # Issue 26: 70B at 40 qps, 1,024 in / 256 out, on 8x H200: published 16-bit runs of this class give
    # 13-20 requests/s a replica (the old model: 8.77). Zone-loss sizing is off below 99.9 %.
    w = _plan(LLM).workloads[0]
    assert 13 <= w.replica_qps <= 20
    assert w.nodes == math.ceil(40 / (w.replica_qps * 0.7)) and 3 <= w.nodes <= 5


def test_at_three_nines_the_survivors_of_a_lost_zone_hold_the_peak():
    w = _plan(LLM.replace("99.5%", "99.9%")).workloads[0]
    lost = math.ceil(w.nodes / 2)
    assert (w.nodes - lost) * w.replica_qps >= 40 > (w.nodes - 1 - math.ceil((w.nodes - 1) / 2)) * w.replica_qps
    assert "so that losing one of 2 zones" in w.reasons["nodes"]


def test_an_encoder_latency_bounds_the_dynamic_batch():
    small = '- name: embed\n  type: inference\n  model_size: "335M parameters"\n  expected_qps: "500"\n  gpu_requirements: "1x L4"\n'
    w = _plan(small).workloads[0]
    # 2 x 335M x 256 tokens = 171.5 GFLOP at 60 % of 121 TFLOPS x 0.55 (power cap): 233 requests/s.
    assert w.replica_qps == pytest.approx(121e12 * 0.6 * 0.55 / (2 * 335e6 * 256), abs=0.1)
    tight = _plan(small + '  latency_sla: "1ms"\n')
    assert [e.path for e in tight.errors] == ["workload_inventory[0].latency_sla"]
