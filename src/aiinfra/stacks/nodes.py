"""What the stacks tell each workload's nodes to run, the same on both clouds: the boot
configuration (``aiinfra.boot``) from the plan and the spec's v2 keys, and the deploy-time
image input when the spec names none."""

from __future__ import annotations

from cdktf import TerraformStack, TerraformVariable

from aiinfra.boot import BootConfig
from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.models import Spec, Workload

# Instance metadata keys the boot reads (AWS: instance tags through IMDS; GCP: metadata attributes).
IMAGE_KEY = "aiinfra-image"
BUCKET_KEY = "aiinfra-data-bucket"
# Serving nodes pull an image (NGC images are 10-20 GB) and load a model before they answer
# health checks: they are not judged for the first 20 minutes.
SERVING_GRACE_SECONDS = 1200
# The stack variable holding the image when the spec has none (its id, as Terraform names it).
IMAGE_VARIABLE = "image"
IMAGE_VARIABLE_REF = f"var.{IMAGE_VARIABLE}"


def spec_workload(spec: Spec, w: WorkloadPlan) -> Workload:
    return next(x for x in spec.workload_inventory if x.name == w.name)


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


def boot_config(spec: Spec, w: WorkloadPlan, cloud: str, groups: tuple[str, ...], project: str | None = None) -> BootConfig:
    sw = spec_workload(spec, w)
    batch = w.type != "inference"
    return BootConfig(
        cloud=cloud, workload=w.name, kind=w.type, region=w.region, groups=groups, object_prefix=w.name, image=w.image,
        command=tuple(sw.command or ()), env=tuple(sorted(sw.env.items())), port=w.port or 8080,
        health_check_path=w.health_check_path or "/health", gpus_per_node=w.gpus_per_node, nodes=w.nodes if batch else 1,
        interconnect=w.interconnect if w.multi_node else "", efa_interfaces=w.efa_interfaces_per_node if w.multi_node else 0,
        retries=w.retries if batch else 0,
        max_runtime_seconds=round((w.max_runtime_hours or 0) * 3600) if batch else 0, project=project)
