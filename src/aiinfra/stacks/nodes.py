"""What the stacks tell each workload's nodes to run, the same on both clouds: the boot
configuration (``aiinfra.boot``) from the plan and the spec's v2 keys, and the deploy-time
image input when the spec names none."""

from __future__ import annotations

import json

from aiinfra.cdk import TerraformStack, TerraformVariable, stack_id

from aiinfra.boot.workload import BUCKET_KEY, IMAGE_KEY, boot_config
from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.models import Spec

__all__ = ["BUCKET_KEY", "HAS_IMAGE", "IMAGE_KEY", "IMAGE_VARIABLE", "IMAGE_VARIABLE_REF", "SERVING_GRACE_SECONDS", "boot_config", "if_image", "image_input",
           "log_retention_days", "with_image"]

# Serving nodes pull an image (NGC images are 10-20 GB) and load a model before they answer
# health checks: they are not judged for the first 20 minutes.
SERVING_GRACE_SECONDS = 1200
# The stack variable holding the image when the spec has none (its id, as Terraform names it).
IMAGE_VARIABLE = "image"
IMAGE_VARIABLE_REF = f"var.{IMAGE_VARIABLE}"
# No image, no spend: with the image a deploy-time input, what starts nodes (the run schedule's
# start, a serving group's size) is this Terraform condition's, so an empty image starts none.
# Written as Terraform text, as every condition on the image is (``if_image``): through the CDK's
# ``Op.eq(var, "")`` cdktf 0.21 wrote ``(var.image == undefined)`` (``aiinfra.cdk.Op``).
HAS_IMAGE = f'{IMAGE_VARIABLE_REF} != ""'
# Days the nodes' logs are kept when the spec asks for no compliance retention: a year, as the
# foundation keeps its VPC flow logs (and as checkov's CKV_AWS_338 asks of a log group).
LOG_RETENTION_DAYS = 365


def if_image(then: str | int, otherwise: str | int) -> str:
    """``then`` once an image is given, else ``otherwise``: a Terraform expression (the values
    written as Terraform literals) for an argument that depends on the deploy-time image."""
    return f"${{{HAS_IMAGE} ? {json.dumps(then)} : {json.dumps(otherwise)}}}"


def with_image(nodes: int) -> str:
    """``nodes`` once an image is given, else 0: a Terraform expression for a size argument."""
    return if_image(nodes, 0)


def log_retention_days(spec: Spec) -> int:
    """How long the nodes' logs are kept: the compliance retention when the spec asks for one
    (``data_retention: compliance_based`` with ``retention_period``), else ``LOG_RETENTION_DAYS``."""
    from aiinfra.planner.security import compliance_retention_days

    return max(compliance_retention_days(spec) or 0, LOG_RETENTION_DAYS)


def image_input(stack: TerraformStack, w: WorkloadPlan, notes: list[str]) -> str | None:
    """The workload's image: None when the spec names it (it is in the boot configuration);
    else a Terraform variable of the stack, empty by default: then no node starts (the run
    schedule starts none, a serving group stays at zero) until an image is given."""
    if w.image:
        return None
    var = TerraformVariable(stack, IMAGE_VARIABLE, type="string", default="", nullable=False,
                            description=f"Container image {w.name}'s nodes run (e.g. nvcr.io/nvidia/pytorch:24.08-py3); empty: no node starts "
                                        "(the run schedule starts none, a serving group stays at zero). Or set image: in the spec")
    if w.type == "inference":
        held = "its serving group stays at zero nodes"
    elif w.schedule and w.stop_schedule:
        held = "its run schedule exists but starts zero nodes"
    else:
        held = "nothing starts its nodes (runs on demand only), and a node started by hand is prepared and waits"
    notes.append(f"{stack_id(stack)}: no image for {w.name}: no node starts until an image is given ({held}); pass "
                 "-var 'image=<registry>/<image>:<tag>' (or set image: on the workload) to run it")
    return var.string_value



def serving_targets(spec: Spec, w: WorkloadPlan, requests: float, cpu: float | None, stack: str,
                    cpu_scale: float = 1.0) -> tuple[float, float | None, list[str]]:
    """The serving group's scaling targets on the vm platform: (requests a second per replica, CPU target or None, notes).

    Without the workload's ``autoscaling`` (the guide's HPA), the plan's: ``requests`` and ``cpu`` as given. With it,
    as SPEC.md v3 maps it: its cpu Utilization target (percent, times ``cpu_scale``: 0.01 where the cloud takes a
    fraction) is the CPU target tracking, its requests_per_second Pods target the requests per replica. The endpoint
    always tracks requests, so an HPA without that metric keeps the plan's figure; that, and the parts a group cannot
    scale on (other metrics, behavior), are said in the notes."""
    from aiinfra.boot.workload import spec_workload
    from aiinfra.spec.autoscaling import vm_scaling

    hpa = spec_workload(spec, w).autoscaling
    if not hpa:
        return requests, cpu, []
    hpa_cpu, hpa_rps, unmapped = vm_scaling(hpa)
    key = f"workload_inventory.{w.name}.autoscaling"
    notes = []
    if hpa_rps is None:
        notes.append(f"{stack}: {key} has no requests_per_second Pods target: the endpoint tracks the plan's {requests:g} requests a "
                     "second per replica")
    if unmapped:
        notes.append(f"{stack}: {key}: {', '.join(unmapped)} not applied on the vm platform (its group scales on CPU and requests "
                     "per replica only; on kubernetes the HPA applies them)")
    return (hpa_rps if hpa_rps is not None else requests), (hpa_cpu * cpu_scale if hpa_cpu is not None else None), notes
