"""Which boot image a GCP workload's nodes get (no cdktf here: synth's precheck renders the boot,
agent included, before jsii loads, and the agent depends on the image)."""

from __future__ import annotations

from aiinfra.boot import IMAGES
from aiinfra.planner.model import WorkloadPlan


def node_image(w: WorkloadPlan, configured: str | None) -> str:
    """The boot image: the spec's, else the one Google documents for the node's GPUs and
    interconnect (``aiinfra.boot.IMAGES``)."""
    if configured:
        return configured
    if not w.gpu:
        return IMAGES["gcp-cpu"]["image"]
    if w.multi_node and w.interconnect in ("tcpx", "tcpxo", "rdma"):
        return IMAGES[f"gcp-{w.interconnect}"]["image"]
    return IMAGES["gcp-gpu"]["image"]
