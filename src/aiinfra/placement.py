"""Multi-node placement facts as pure functions (no cloud SDK, no cdktf / jsii), for the
constructs now and the planner later:

* ``placement_limit`` / ``check_placement``: how many nodes one AWS cluster placement group or
  one GCP compact placement policy holds for a shape, with the documentation it comes from;
* ``check_homogeneous``: whether other shapes (spot alternatives, instance flexibility) may join
  a shape's multi-node run. A collective run (NCCL all-reduce over EFA or GPUDirect) needs every
  node to have the same GPU model, GPU count, GPU memory and interconnect: a slower or smaller
  node stalls every step, a different EFA / GPU NIC count changes the rings NCCL builds, and a
  different memory size makes the same sharding fail with out-of-memory on some ranks only.

The shape facts come from the catalog (``aiinfra.catalog``, pure data), imported on first use.
"""

from __future__ import annotations

CLOUDS = ("aws", "gcp")

# ---- placement limits -------------------------------------------------------------------------

# AWS, "Placement group rules and limitations" (EC2 User Guide). The rules list no cap on the
# instances of one cluster placement group; they say: at most 500 placement groups per account per
# Region; a cluster placement group cannot span Availability Zones (Auto Scaling: "You cannot
# specify multiple Availability Zones and a cluster placement group",
# https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html);
# the same instance type for every instance is recommended (launching several types lowers the
# chance that the capacity is there); reserve capacity in the group (an On-Demand Capacity
# Reservation in the group, or a Capacity Block) for large runs; burstable (T) instances are not
# supported; a Spot Instance that stops or hibernates on interruption cannot launch into one.
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/placement-groups.html#limitations-placement-groups
# (China mirror read: https://docs.amazonaws.cn/en_us/AWSEC2/latest/UserGuide/limitations-placement-groups.html)
AWS_PLACEMENT_SOURCE = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/placement-groups.html#limitations-placement-groups"
AWS_BURSTABLE_FAMILIES = ("t2", "t3", "t3a", "t4g")

# GCP, "Placement policies overview", restrictions of compact placement policies: the number of
# VMs one compact policy holds. Earlier versions of the page said "up to 150 VMs per policy" and
# "only A2, C2, G2, C2D, N2 and N2D machine types" (the stored copies of
# https://cloud.google.com/compute/docs/instances/define-instance-placement); the current page
# lists A3 / A4 as well and 1,500 VMs (Google's own Slurm scripts, slurm-gcp resume.py,
# went PLACEMENT_MAX_CNT 22 -> 150 -> 1500 with these revisions). N1 is not a supported series.
# A policy with maxDistance (google-beta only; CompactPlacement never sets it) holds fewer VMs the
# smaller the distance: not modelled here.
GCP_PLACEMENT_SOURCE = "https://cloud.google.com/compute/docs/instances/placement-policies-overview#compact-placement-policies"
GCP_COMPACT_MAX_VMS = {series: 1500 for series in ("a2", "a3", "a4", "g2", "c2", "c2d", "c3", "c3d", "h3", "n2", "n2d")}
GCP_COMPACT_UNSUPPORTED = ("n1",)

_KIND = {"aws": "cluster placement group", "gcp": "compact placement policy"}


def _cloud(cloud: str) -> str:
    if cloud not in CLOUDS:
        raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, got {cloud!r}")
    return cloud


def family(cloud: str, instance_type: str) -> str:
    """The AWS instance family (``p5`` of ``p5.48xlarge``) or the GCP machine series (``a3`` of
    ``a3-highgpu-8g``) the placement rules are written for."""
    return instance_type.split("." if _cloud(cloud) == "aws" else "-")[0].lower()


def placement_limit(cloud: str, instance_type: str) -> tuple[int | None, str]:
    """(the most nodes of ``instance_type`` one AWS cluster placement group or one GCP compact
    placement policy holds, its source). None: the cloud documents no limit; 0: the shape cannot
    use that placement at all. The source is ``"<url>: <what the page says>"``."""
    fam = family(cloud, instance_type)
    if cloud == "aws":
        if fam in AWS_BURSTABLE_FAMILIES:
            return 0, f"{AWS_PLACEMENT_SOURCE}: burstable performance ({fam}) instances cannot launch into a cluster placement group"
        return None, (f"{AWS_PLACEMENT_SOURCE}: no per-group instance limit documented; a cluster placement group stays in one "
                      "Availability Zone, and a large run's capacity is best reserved in the group (On-Demand Capacity "
                      "Reservation or Capacity Block)")
    if fam in GCP_COMPACT_UNSUPPORTED:
        return 0, f"{GCP_PLACEMENT_SOURCE}: compact placement policies do not support {fam.upper()} machine types"
    limit = GCP_COMPACT_MAX_VMS.get(fam)
    if limit is None:
        return None, f"{GCP_PLACEMENT_SOURCE}: no limit recorded here for the {fam.upper()} series; check the page before relying on one policy"
    return limit, f"{GCP_PLACEMENT_SOURCE}: at most {limit} VMs per compact placement policy for the {fam.upper()} series without maxDistance"


def check_placement(cloud: str, instance_type: str, nodes: int) -> str | None:
    """A one-line error when ``nodes`` of ``instance_type`` do not fit one cluster placement group
    (AWS) or compact placement policy (GCP); None when they fit or no limit is documented."""
    limit, source = placement_limit(cloud, instance_type)
    kind = _KIND[cloud]
    if limit is None or nodes <= limit:
        return None
    if limit == 0:
        return f"{instance_type} cannot use a {kind} (source: {source})"
    return (f"{nodes} {instance_type} nodes exceed the limit of {limit} per {kind}; split the run into groups of at most {limit} "
            f"or use fewer, larger nodes (source: {source})")


# ---- homogeneous multi-node runs --------------------------------------------------------------

def shape(cloud: str, instance_type: str):
    """The catalog's facts of a shape (an ``InstanceOffer``; GPUs and interconnect are the same in
    every region), or None when the catalog does not know it."""
    from aiinfra.catalog import load_catalog  # pure data, cached per process

    for offer in load_catalog().offers(cloud=_cloud(cloud)):
        if offer.instance_type == instance_type:
            return offer
    return None


def describe(offer) -> str:
    """``8x H100-80GB, 32 EFA`` (AWS) / ``8x H100-80GB, GPUDirect-TCPX, 4 GPU NICs`` (GCP)."""
    if offer.cloud == "aws":
        net = f"{offer.efa_interfaces} EFA" if offer.efa_interfaces else "no EFA"
    elif offer.gpudirect:
        net = f"GPUDirect-{offer.gpudirect.upper()}, {offer.gpu_nics} GPU NICs"
    else:
        net = "no GPUDirect"
    return f"{offer.gpu_label}, {net}"


def differences(a, b) -> list[str]:
    """What differs between two shapes for a collective run, ``b``'s value first:
    ``["GPU model (H200 vs H100)", "GPU memory (141 vs 80 GB)"]``; empty when they match."""
    out = []
    if a.gpu != b.gpu:
        out.append(f"GPU model ({b.gpu or 'none'} vs {a.gpu or 'none'})")
    if a.gpu_count != b.gpu_count:
        out.append(f"GPU count ({b.gpu_count} vs {a.gpu_count})")
    if a.gpu_memory_gib != b.gpu_memory_gib:
        out.append(f"GPU memory ({b.gpu_memory_gib} vs {a.gpu_memory_gib} GB)")
    if a.efa_interfaces != b.efa_interfaces:
        out.append(f"EFA interfaces ({b.efa_interfaces} vs {a.efa_interfaces})")
    if a.gpudirect != b.gpudirect and a.cloud == "gcp":
        out.append(f"GPUDirect ({b.gpudirect or 'none'} vs {a.gpudirect or 'none'})")
    if a.gpu_nics != b.gpu_nics:
        out.append(f"GPU NICs ({b.gpu_nics} vs {a.gpu_nics})")
    return out


def check_homogeneous(cloud: str, instance_type: str, others) -> str | None:
    """A one-line error when a shape in ``others`` may not join a multi-node run of
    ``instance_type`` (GPU model, count, memory or interconnect differ), or when a shape is not in
    the catalog and so cannot be checked; None when every shape matches."""
    others = [t for t in dict.fromkeys(others) if t != instance_type]
    if not others:
        return None
    main = shape(cloud, instance_type)
    if main is None:
        return f"{instance_type} is not in the aiinfra catalog, so its alternatives ({', '.join(others)}) cannot be checked for a multi-node run"
    for other in others:
        alt = shape(cloud, other)
        if alt is None:
            return f"{other} is not in the aiinfra catalog, so it cannot be checked against a multi-node run of {instance_type} ({describe(main)})"
        diff = differences(main, alt)
        if diff:
            return (f"{other} ({describe(alt)}) cannot join a multi-node run of {instance_type} ({describe(main)}): different "
                    f"{', '.join(diff)}; a collective run needs one GPU model, GPU count, GPU memory and interconnect")
    return None


def require_group(cloud: str, shape: str, alternatives: list[str], *, multi_node: bool, placed: bool, size: int, size_arg: str,
                  alternatives_arg: str, allow_heterogeneous: bool) -> None:
    """The constructs' eager checks of a node group: a multi-node run's alternatives join it only when
    homogeneous (``check_homogeneous``), and a placed group fits one placement group / policy
    (``check_placement``). Raises ValueError naming the argument to change."""
    if multi_node and alternatives and not allow_heterogeneous:
        problem = check_homogeneous(cloud, shape, alternatives)
        if problem:
            raise ValueError(f"{problem}. Keep only matching shapes in the SpotPool's {alternatives_arg}, or pass "
                             "SpotPool(allow_heterogeneous=True) if the job tolerates mixed nodes")
    if placed:
        for s in (shape, *alternatives):
            problem = check_placement(cloud, s, size)
            if problem:
                raise ValueError(f"{size_arg} {size}: {problem}")
