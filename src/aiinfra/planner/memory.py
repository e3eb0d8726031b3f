"""Whether a model fits the GPUs it is planned on (the rules and their sources: planner/rules.py).

Serving: the weights at the serving precision plus KV-cache / activation headroom must fit in one
replica's GPUs (tensor parallel inside a node, never across nodes). Training: weights, gradients
and optimizer state by training method plus activations, on every GPU unsharded, or split over the
run's GPUs (ZeRO-3 / FSDP). Memory is in GB (10^9 bytes), as GPU memory is labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aiinfra.planner import rules
from aiinfra.spec.units import format_params

GB = 1e9


def fmt_gb(x: float) -> str:
    return f"{x:,.0f} GB" if x >= 10 else f"{x:,.1f} GB"


@dataclass(frozen=True)
class ServingNeed:
    weights_gb: float
    need_gb: float
    basis: str  # "13B parameters x 2 bytes (fp16)" or "a 26 GB model"

    def text(self) -> str:
        return f"{fmt_gb(self.weights_gb)} weights ({self.basis}) + {rules.INFERENCE_KV_HEADROOM:.0%} KV cache = {fmt_gb(self.need_gb)}"


def serving_need(model_size, precision: str | None) -> ServingNeed | None:
    """What one replica must hold; None without a model_size."""
    if model_size is None:
        return None
    p = precision or rules.DEFAULT_PRECISION
    if model_size.parameters is None:  # bytes: the weights as they are stored
        weights = model_size.bytes / GB
        basis = f"a {fmt_gb(weights)} model"
    else:
        weights = model_size.parameters * rules.PRECISION_BYTES[p] / GB
        basis = f"{format_params(model_size.parameters)} x {rules.PRECISION_BYTES[p]:g} bytes ({p})"
    return ServingNeed(weights, weights * (1 + rules.INFERENCE_KV_HEADROOM), basis)


@dataclass(frozen=True)
class TrainingNeed:
    parameters: int
    method: str
    state_gb: float  # weights + gradients + optimizer state, before activations

    @property
    def unsharded_gb(self) -> float:
        """Every GPU holds all of it (plain data parallel)."""
        return self.state_gb * rules.ACTIVATION_OVERHEAD

    def sharded_gb(self, gpus: int) -> float:
        return self.state_gb / max(gpus, 1) * rules.ACTIVATION_OVERHEAD

    def gpus_needed(self, gpu_gb: float) -> int:
        return math.ceil(self.state_gb * rules.ACTIVATION_OVERHEAD / gpu_gb)

    def basis(self) -> str:
        b = rules.TRAINING_METHOD_BYTES[self.method]
        what = {"full": "mixed-precision Adam", "lora": "16-bit base + LoRA adapters", "qlora": "4-bit base + LoRA adapters"}[self.method]
        return f"{format_params(self.parameters)} x {b:g} bytes ({self.method}: {what})"

    def fit(self, gpus: int, gpu_gb: float) -> tuple[bool, str]:
        """(fits, one line of arithmetic) on ``gpus`` GPUs of ``gpu_gb`` each."""
        head = f"{self.basis()} = {fmt_gb(self.state_gb)} + {rules.ACTIVATION_OVERHEAD - 1:.0%} activations"
        if self.unsharded_gb <= gpu_gb:
            return True, f"{head} = {fmt_gb(self.unsharded_gb)} <= {gpu_gb:g} GB a GPU: fits without sharding"
        per = self.sharded_gb(gpus)
        if per <= gpu_gb:
            return True, (f"{head} = {fmt_gb(self.unsharded_gb)} > {gpu_gb:g} GB a GPU: fits only sharded (ZeRO-3 / FSDP full shard) "
                          f"over the {gpus} GPUs, {fmt_gb(per)} each")
        return False, (f"{head} = {fmt_gb(self.unsharded_gb)}, {fmt_gb(per)} a GPU even sharded over {gpus} > {gpu_gb:g} GB: "
                       f"needs at least {self.gpus_needed(gpu_gb)} such GPUs")


def training_need(model_size, method: str | None) -> TrainingNeed | None:
    if model_size is None:
        return None
    m = method or rules.DEFAULT_TRAINING_METHOD
    params = model_size.estimated_parameters
    return TrainingNeed(params, m, params * rules.TRAINING_METHOD_BYTES[m] / GB)


def checkpoint_bytes(parameters: float, method: str | None) -> tuple[float, str]:
    """What one training checkpoint holds, and in words: full training saves the weights and the
    optimizer state (rules.TRAINING_BYTES_PER_PARAMETER a parameter); LoRA / QLoRA save the adapters
    and their optimizer state only (the frozen base is the published model, not saved again)."""
    m = method or rules.DEFAULT_TRAINING_METHOD
    if m == "full":
        return parameters * rules.TRAINING_BYTES_PER_PARAMETER, f"weights and optimizer state, {rules.TRAINING_BYTES_PER_PARAMETER} bytes a parameter"
    return (parameters * rules.LORA_TRAINABLE_SHARE * rules.TRAINING_BYTES_PER_PARAMETER,
            f"{m} adapters ({rules.LORA_TRAINABLE_SHARE:.0%} of the parameters) with their optimizer state")
