"""Which boot image a GCP workload's nodes get (no cdktf here: synth's precheck renders the boot,
agent included, before jsii loads, and the agent depends on the image)."""

from __future__ import annotations

from aiinfra.boot import IMAGES, TPU_RUNTIME_VERSIONS
from aiinfra.planner.model import WorkloadPlan


def tpu_runtime_version(w: WorkloadPlan) -> str:
    """The TPU software version a TPU VM of ``w`` boots (``TPU_RUNTIME_VERSIONS``, Google's table)."""
    if w.gpu not in TPU_RUNTIME_VERSIONS:
        raise ValueError(f"no TPU software version for {w.gpu!r} (known: {', '.join(TPU_RUNTIME_VERSIONS)})")
    return TPU_RUNTIME_VERSIONS[w.gpu]


def node_image(w: WorkloadPlan, configured: str | None) -> str:
    """The boot image: the spec's, else the one Google documents for the node's GPUs and
    interconnect (``aiinfra.boot.IMAGES``). A TPU VM boots no Compute Engine image but its TPU
    software version (Ubuntu with Docker: https://cloud.google.com/tpu/docs/runtimes); that is
    what is returned for it, whatever ``configured`` says (clouds.gcp.image is for VM groups)."""
    if w.accelerator_runtime == "tpu":
        return tpu_runtime_version(w)
    if configured:
        return configured
    if not w.gpu:
        return IMAGES["gcp-cpu"]["image"]
    if w.multi_node and w.interconnect in ("tcpx", "tcpxo", "rdma"):
        return IMAGES[f"gcp-{w.interconnect}"]["image"]
    return IMAGES["gcp-gpu"]["image"]
