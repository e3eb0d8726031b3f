"""How much one serving replica does, and how fast: the planner's serving model.

Language models (``llm_point`` / ``llm_capacity``) follow how serving engines (vLLM,
TensorRT-LLM, TGI) run them: a request's prompt is processed in one compute-bound pass
(prefill: 2 FLOPs a parameter a token at ``rules.LLM_PREFILL_MFU`` of the accelerators' dense
tensor throughput at the serving precision), then its output tokens are decoded one step at a time
with every running sequence of the batch in the same step (continuous batching). A decode step
reads all the weights once plus every running sequence's KV cache, so it is bound by memory
bandwidth at small batches and by compute at large ones; the batch is capped by the KV cache
that fits beside the weights (``rules.SERVING_MEMORY_UTILIZATION``), by the engine's scheduler
(``rules.LLM_MAX_BATCH``) and by the latency target. Tensor parallelism over a node's accelerators
costs ``rules.TENSOR_PARALLEL_OVERHEAD`` a doubling (the all-reduce of every layer).

Other models (``encoder_capacity``: embedding, classification, ranking, vision) are compute
bound: 2 FLOPs a parameter a token of input at ``rules.ENCODER_MFU`` of the throughput, batched
dynamically inside the latency target.

The constants are fitted to published measurements, kept with their sources in
``tests/data/serving_reference.csv`` and checked by ``tests/test_serving_model.py`` (every
point within 25 %). Pure arithmetic: no catalog, no spec; the planner passes numbers in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiinfra.planner import rules


@dataclass(frozen=True)
class Accelerators:
    """One replica's accelerators: how many, and one's memory, bandwidth and dense tensor throughput."""

    name: str
    count: int
    memory_gb: float
    bandwidth_gb_s: float
    tflops: float  # dense, at the precision the model is served in (see tensor_tflops)
    sustained: float = 1.0  # rules.SUSTAINED_SHARE: the share of the peak a power-capped part holds

    @property
    def label(self) -> str:
        return f"{self.count}x {self.name}"


def tensor_tflops(precision: str, fp16: float, fp8: float | None, int8: float | None) -> tuple[float, str]:
    """The dense tensor throughput a model served at ``precision`` computes with, and what it is.

    fp8 runs on FP8 tensor cores where the part has them (H100, H200, L40S, L4, B200), else at
    16-bit (weights only: A100 and T4 dequantize); int8 on INT8 tensor cores (W8A8, SmoothQuant);
    int4 weights are dequantized into 16-bit math (AWQ / GPTQ W4A16); fp32 at the 16-bit figure
    (no engine serves fp32 on tensor cores faster than TF32; a conservative use of the figure)."""
    if precision == "fp8" and fp8:
        return fp8, "FP8"
    if precision == "int8" and int8:
        return int8, "INT8"
    return fp16, "16-bit"


def kv_bytes_per_token(parameters: float, kv_precision_bytes: float) -> float:
    """KV cache a token of context holds when the architecture is not given: rules.KV_BYTES_PER_TOKEN_8B
    at 8B parameters, scaled by rules.KV_SCALING_EXPONENT (documented there)."""
    return rules.KV_BYTES_PER_TOKEN_8B * (parameters / 8e9) ** rules.KV_SCALING_EXPONENT * kv_precision_bytes / 2


def tp_efficiency(count: int) -> float:
    return 1.0 if count <= 1 else 1.0 / (1.0 + rules.TENSOR_PARALLEL_OVERHEAD * math.log2(count))


@dataclass(frozen=True)
class LlmPoint:
    """A replica serving at one batch size."""

    batch: int
    requests_per_s: float
    output_tokens_per_s: float
    ttft_s: float  # prefill of one request's input
    tpot_s: float  # a decode step, stretched by the prefills interleaved with it
    latency_s: float  # ttft + output tokens x tpot


def llm_point(parameters: float, weight_bytes: float, acc: Accelerators, in_tokens: int, out_tokens: int,
              batch: int, kv_bytes: float) -> LlmPoint:
    """Throughput and latency of one replica decoding ``batch`` sequences at once."""
    eff = tp_efficiency(acc.count)
    flops = acc.count * acc.tflops * 1e12 * acc.sustained
    bandwidth = acc.count * acc.bandwidth_gb_s * 1e9 * rules.DECODE_BANDWIDTH_EFFICIENCY
    weights = parameters * weight_bytes
    # Every sequence holds its input and, on average, half its output in the KV cache.
    step_memory = (weights + batch * (in_tokens + out_tokens / 2) * kv_bytes) / bandwidth
    step_compute = 2 * parameters * batch / (flops * rules.LLM_PREFILL_MFU)
    step = max(step_memory, step_compute) / eff
    prefill = 2 * parameters * in_tokens / (flops * rules.LLM_PREFILL_MFU) / eff
    seconds = prefill + out_tokens * step / batch  # replica-seconds a request takes
    rps = 1 / seconds
    busy_prefilling = min(0.95, rps * prefill)
    tpot = step / (1 - busy_prefilling)
    return LlmPoint(batch, rps, rps * out_tokens, prefill, tpot, prefill + out_tokens * tpot)


@dataclass(frozen=True)
class LlmCapacity:
    point: LlmPoint  # at the batch the replica is planned at
    batch1: LlmPoint  # the fastest a request can be served
    kv_batch: int  # sequences the KV cache holds
    limit: str  # what capped the batch: "kv cache", "engine", "latency"
    feasible: bool  # the latency target holds at batch 1
    why: str

    @property
    def requests_per_s(self) -> float:
        return self.point.requests_per_s


def _ms(s: float) -> str:
    return f"{s * 1000:,.0f} ms" if s < 10 else f"{s:,.1f} s"


def llm_capacity(parameters: float, weight_bytes: float, acc: Accelerators, in_tokens: int, out_tokens: int,
                 latency_target_s: float | None = None, kv_bytes: float | None = None, precision_label: str = "") -> LlmCapacity | None:
    """The replica's throughput at the largest batch its KV cache, the engine and the latency target
    allow; None when the weights leave no room for a KV cache."""
    kv = kv_bytes if kv_bytes is not None else kv_bytes_per_token(parameters, min(weight_bytes, 2.0) if weight_bytes >= 1 else 2.0)
    free = acc.count * acc.memory_gb * 1e9 * rules.SERVING_MEMORY_UTILIZATION - parameters * weight_bytes
    kv_batch = int(free // (kv * (in_tokens + out_tokens))) if free > 0 else 0
    if kv_batch < 1:
        return None
    top, limit = (kv_batch, "kv cache") if kv_batch <= rules.LLM_MAX_BATCH else (rules.LLM_MAX_BATCH, "engine")
    one = llm_point(parameters, weight_bytes, acc, in_tokens, out_tokens, 1, kv)
    best = llm_point(parameters, weight_bytes, acc, in_tokens, out_tokens, top, kv)
    feasible = latency_target_s is None or one.latency_s <= latency_target_s
    if latency_target_s is not None and feasible and best.latency_s > latency_target_s:
        lo, hi = 1, top  # latency grows with the batch: the largest batch that meets the target
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if llm_point(parameters, weight_bytes, acc, in_tokens, out_tokens, mid, kv).latency_s <= latency_target_s:
                lo = mid
            else:
                hi = mid - 1
        best, limit = llm_point(parameters, weight_bytes, acc, in_tokens, out_tokens, lo, kv), "latency"
    elif not feasible:
        best, limit = one, "latency"
    p = best
    held = f"the KV cache holds {kv_batch:,} sequences of {in_tokens + out_tokens:,} tokens at {kv / 1e3:,.0f} KB a token"
    cap = {"kv cache": held, "engine": f"the engine's limit; {held}",
           "latency": f"the largest that meets {_ms(latency_target_s or 0)}; {held}"}[limit]
    why = (f"{acc.label}{f' at {precision_label}' if precision_label else ''}: batch {p.batch} ({cap}); prefill {_ms(p.ttft_s)} + "
           f"{out_tokens} tokens x {_ms(p.tpot_s)} a token = {_ms(p.latency_s)} a request; {p.output_tokens_per_s:,.0f} output tokens/s, "
           f"{p.requests_per_s:.3g} requests/s a replica")
    return LlmCapacity(p, one, kv_batch, limit, feasible, why)


def latency_text(c: LlmCapacity, out_tokens: int) -> str:
    """The batch-1 arithmetic for an infeasible latency target."""
    one = c.batch1
    return f"prefill {_ms(one.ttft_s)} + {out_tokens} tokens x {_ms(one.tpot_s)} = {_ms(one.latency_s)} at batch 1"


@dataclass(frozen=True)
class EncoderCapacity:
    requests_per_s: float
    batch: int
    latency_s: float  # one batch's compute plus waiting for it to fill (dynamic batching)
    batch1_latency_s: float
    feasible: bool
    why: str


def encoder_capacity(parameters: float, acc: Accelerators, tokens: int, latency_target_s: float | None = None,
                     precision_label: str = "") -> EncoderCapacity:
    """Compute-bound models: requests/s at the largest dynamic batch (up to rules.ENCODER_MAX_BATCH)
    whose wait plus compute stays inside the latency target; throughput per request does not
    depend on the batch once the GPU is busy, so the batch only bounds latency."""
    flops = acc.count * acc.tflops * 1e12 * acc.sustained * rules.ENCODER_MFU
    per_request = 2 * parameters * tokens / flops
    rps = 1 / per_request
    one = per_request
    feasible = latency_target_s is None or one <= latency_target_s
    if latency_target_s is None:
        batch = rules.ENCODER_MAX_BATCH
    else:
        # A request waits for its batch to fill and then for the batch's compute: 2 x batch x per_request.
        batch = max(1, min(rules.ENCODER_MAX_BATCH, int(latency_target_s / (2 * per_request))))
    latency = (2 * batch - 1) * per_request if batch > 1 else one
    why = (f"{acc.label}{f' at {precision_label}' if precision_label else ''}: 2 x {parameters / 1e6:,.0f}M parameters x {tokens} tokens "
           f"= {2 * parameters * tokens / 1e9:,.1f} GFLOP a request at {rules.ENCODER_MFU:.0%} of {acc.count} x {acc.tflops:g} TFLOPS"
           + (f" (x {acc.sustained:g} sustained under its power cap)" if acc.sustained < 1 else "")
           + f" = {rps:,.0f} requests/s a replica, batches of up to {batch} ({_ms(latency)} a request)")
    return EncoderCapacity(rps, batch, latency, one, feasible, why)
