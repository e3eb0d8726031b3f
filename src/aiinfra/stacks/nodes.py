"""What the stacks tell each workload's nodes to run, the same on both clouds: the boot
configuration (``aiinfra.boot``) from the plan and the spec's v2 keys, and the deploy-time
image input when the spec names none."""

from __future__ import annotations

from aiinfra.cdk import TerraformStack, TerraformVariable

from aiinfra.boot.workload import BUCKET_KEY, IMAGE_KEY, boot_config
from aiinfra.planner.model import WorkloadPlan

__all__ = ["BUCKET_KEY", "IMAGE_KEY", "IMAGE_VARIABLE", "IMAGE_VARIABLE_REF", "SERVING_GRACE_SECONDS", "boot_config", "image_input"]

# Serving nodes pull an image (NGC images are 10-20 GB) and load a model before they answer
# health checks: they are not judged for the first 20 minutes.
SERVING_GRACE_SECONDS = 1200
# The stack variable holding the image when the spec has none (its id, as Terraform names it).
IMAGE_VARIABLE = "image"
IMAGE_VARIABLE_REF = f"var.{IMAGE_VARIABLE}"


def image_input(stack: TerraformStack, w: WorkloadPlan, notes: list[str]) -> str | None:
    """The workload's image: None when the spec names it (it is in the boot configuration);
    else a Terraform variable of the stack (empty by default: the nodes are prepared and wait)."""
    if w.image:
        return None
    var = TerraformVariable(stack, IMAGE_VARIABLE, type="string", default="", nullable=False,
                            description=f"Container image {w.name}'s nodes run (e.g. nvcr.io/nvidia/pytorch:24.08-py3); empty: the nodes "
                                        "are prepared (disks, drivers, interconnect) and wait for your own deployment. Or set image: in the spec")
    notes.append(f"{stack.node.id}: no image for {w.name}: its nodes are prepared and wait; pass -var 'image=<registry>/<image>:<tag>' "
                 "(or set image: on the workload) to run it")
    return var.string_value
