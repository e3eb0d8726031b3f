"""Regional instance template and regional managed instance group for GPU (or CPU) nodes:
no external IP, shielded VM, OS Login, project SSH keys blocked, a dedicated service account,
customer-key boot and data disks, local SSDs, GPU NICs, Spot with an on-demand base group,
compact placement for multi-node training, and an image family resolved once and pinned."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.boot import IMAGES
from aiinfra.constructs._tf import data, pinned, resource, terraform_literal
from aiinfra.constructs.gcp.common import check_name
from aiinfra.constructs.gcp.spot_pool import SpotPool
from aiinfra.naming import short
from aiinfra.placement import require_group

# Default images (image families), the ones the boot configuration is written for
# (aiinfra.boot.IMAGES, with their sources).
GPU_IMAGE = IMAGES["gcp-gpu"]["image"]
CPU_IMAGE = IMAGES["gcp-cpu"]["image"]
# An image family as source_image takes: [projects/PROJECT/]global/images/family/FAMILY (or the full URL).
IMAGE_FAMILY = re.compile(r"^(?:https://www\.googleapis\.com/compute/v1/)?(?:projects/(?P<project>[^/]+)/)?(?:global/images/)?family/(?P<family>[^/]+)$")
LOCAL_SSD_GIB = 375  # one Local SSD partition
# Scopes of the node service account: the account's IAM roles decide what it may do; the
# scopes only narrow them further (no cloud-platform scope).
NODE_SCOPES = (
    "https://www.googleapis.com/auth/devstorage.read_write",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring.write",
)
# Machine series whose GPUs come with the machine type; N1 takes them as guest accelerators.
BUNDLED_GPU_SERIES = ("a2", "a3", "a4", "g2", "g4")
# Machine series whose disks must be Hyperdisk.
HYPERDISK_ONLY_SERIES = ("a3-ultragpu", "a4")
DATA_DISK_TYPES = ("pd-ssd", "pd-balanced", "hyperdisk-balanced", "hyperdisk-extreme", "hyperdisk-ml")


class GpuInstanceGroup(Construct):
    """A regional managed instance group of identical nodes for one workload.

    Example::

        group = GpuInstanceGroup(stack, "train", project="acme-ml-prod", name="acme-ml-prod-train", region="us-central1",
                                 zones=["us-central1-a"], machine_type="a3-highgpu-8g", subnetwork=net.subnetwork_self_link,
                                 service_account_email=ident.email, kms_key_id=key.id, target_size=2,
                                 gpu_nic_subnetworks=net.gpu_nic_subnetwork_self_links, placement_policy=placement.self_link)

    Args:
        project, region: where the group lives.
        name: template prefix, group name and VM name prefix.
        zones: the zones the group spreads over (``distribution_policy_zones``).
        machine_type: the Compute Engine machine type.
        subnetwork: the private subnet of the first NIC (no external IP, ever).
        service_account_email: the nodes' own service account (``WorkloadIdentity.email``);
            the default compute service account is refused.
        kms_key_id: customer key for the boot and data disks.
        target_size: the number of VMs (the plan's nodes). With ``spot``, the Spot group gets
            ``target_size - on_demand_base`` and the on-demand group the base.
        image: boot image or image family; default the Deep Learning VM family
            ``GPU_IMAGE`` (``CPU_IMAGE`` with ``gpu=False``). The default image carries signed
            NVIDIA drivers, which Secure Boot requires.
        pin_image: an image family is resolved once, not by each VM: a template naming a family
            gets whatever image is newest when Compute creates each VM, so a replaced node could
            boot another driver stack than its peers. With ``pin_image`` (default) the family is
            read when Terraform plans (``data.google_compute_image``: the family's latest
            non-deprecated image) and kept from the first apply on (``image_pin``, a
            ``terraform_data`` whose later inputs are ignored). Roll to the family's current image,
            between runs, with ``terraform apply -replace=terraform_data.<image_pin's id>`` (new
            templates; the groups take them for new VMs). Off, the template names the family.
        accelerator_type, accelerator_count: GPUs to attach on N1 machine types
            (``nvidia-tesla-t4``); A2 / A3 / G2 machine types bring their own and take none.
        gpu_nic_subnetworks: one subnet per extra GPU NIC (GPUDirect shapes), in NIC order.
        gpu_nic_type: ``GVNIC`` (TCPX / TCPXO) or ``MRDMA`` (RDMA); default ``GVNIC``.
        local_ssd_count: Local SSD partitions (375 GiB each, NVMe), the hot tier on the node.
        boot_disk_gib: default 200; boot_disk_type: default ``pd-balanced`` (Hyperdisk on
            shapes that only take Hyperdisk).
        data_disk_gib / data_disk_type: a persistent data disk per VM for the hot tier
            (``pd-ssd`` default); 0 (default): none.
        reservation: a named reservation (in one of ``zones``) the nodes consume
            (``reservation_affinity`` SPECIFIC_RESERVATION); on-demand only (not with ``spot``).
            The reservation is billed whether the nodes use it or not.
        placement_policy: a compact placement policy's self link (``CompactPlacement``);
            the group then stays in one zone (``ANY_SINGLE_ZONE``). ``target_size`` must fit
            the policy's documented limit for the machine series (``aiinfra.placement``).
        spot: a ``SpotPool``; left out, all on-demand. A multi-node group (``placement_policy``
            or ``gpu_nic_subnetworks``) takes only alternative machine types with the planned
            shape's GPUs and GPUDirect network (see ``SpotPool.allow_heterogeneous``); a
            single-node group may mix any shapes the pool names.
        tier1_networking: Tier_1 egress bandwidth (gVNIC); default on for multi-NIC shapes.
        secure_boot: Shielded VM Secure Boot; default on (vTPM and integrity monitoring are
            always on).
        network_tags: tags the network's firewall rules target (``ClusterNetwork.node_tag``).
        named_ports: ``{"http": 8080}`` for a load balancer's backend service.
        auto_healing_health_check: a health check id; unhealthy VMs are recreated.
        auto_healing_delay_seconds: how long a new VM may fail the health check before it is
            recreated; default 600. For model servers it must cover the image pull and model load.
        auto_healing_when: a Terraform boolean expression deciding at apply time whether
            auto-healing is on (e.g. only when the nodes run a server); default always.
        boot_metadata: the boot configuration (``aiinfra.boot.gcp_metadata``: ``startup-script``
            and the files it reads), literal text: written escaped so Terraform does not read
            ``${`` in a shell script as its own interpolation.
        metadata: further metadata values (may be Terraform references, e.g. the data bucket's
            name the boot reads); ``enable-oslogin`` and ``block-project-ssh-keys`` always win.
        extra_scopes: OAuth scopes beyond ``NODE_SCOPES`` (e.g. Compute Engine for nodes that
            resize their own group); the service account's IAM roles still decide.
        manage_size: let Terraform own the group's size; off (a scheduler or autoscaler owns
            it, Terraform sets it once) is the default for training.
        depends_on: resources the templates wait for (the key's grants to the Compute agent).
    """

    @staticmethod
    def names_for(name: str, spot: SpotPool | None) -> dict[str, str]:
        """{"spot" | "on-demand": managed instance group name} of a group called ``name``: known
        before the group exists (its nodes' boot and its run schedule name them)."""
        if spot is None:
            return {"on-demand": check_name(name)}
        names = {"spot": check_name(f"{name}-spot")}
        if spot.on_demand_base or spot.on_demand_fallback:
            names["on-demand"] = check_name(f"{name}-od")
        return names

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, region: str, zones: Sequence[str], machine_type: str,
                 subnetwork: str, service_account_email: str, kms_key_id: str, target_size: int, image: str | None = None, gpu: bool = True,
                 accelerator_type: str | None = None, accelerator_count: int = 0, gpu_nic_subnetworks: Sequence[str] = (),
                 gpu_nic_type: str = "GVNIC", local_ssd_count: int = 0, boot_disk_gib: int = 200, boot_disk_type: str | None = None,
                 data_disk_gib: int = 0, data_disk_type: str = "pd-ssd", placement_policy: str | None = None, spot: SpotPool | None = None,
                 tier1_networking: bool | None = None, secure_boot: bool = True, network_tags: Sequence[str] = (),
                 named_ports: dict[str, int] | None = None, auto_healing_health_check: str | None = None, auto_healing_when: str | None = None,
                 manage_size: bool = True, boot_metadata: dict[str, str] | None = None, metadata: dict[str, str] | None = None,
                 extra_scopes: Sequence[str] = (), labels: dict[str, str] | None = None, depends_on: Sequence[Any] = (),
                 auto_healing_delay_seconds: int = 600, reservation: str | None = None, pin_image: bool = True):
        super().__init__(scope, id)
        check_name(name, "name", 50)
        if not zones:
            raise ValueError("zones must name at least one zone")
        if target_size < 0:
            raise ValueError(f"target_size must be 0 or more, got {target_size}")
        if not service_account_email or service_account_email.endswith("-compute@developer.gserviceaccount.com"):
            raise ValueError("service_account_email must be the workload's own service account, not the default compute service account")
        if gpu_nic_type not in ("GVNIC", "MRDMA"):
            raise ValueError(f"gpu_nic_type must be GVNIC or MRDMA, got {gpu_nic_type!r}")
        if data_disk_gib < 0 or local_ssd_count < 0 or boot_disk_gib < 10:
            raise ValueError("data_disk_gib and local_ssd_count must be 0 or more and boot_disk_gib at least 10")
        if data_disk_type not in DATA_DISK_TYPES:
            raise ValueError(f"data_disk_type must be one of {', '.join(DATA_DISK_TYPES)}, got {data_disk_type!r}")
        series = machine_type.split("-")[0]
        if accelerator_count and series in BUNDLED_GPU_SERIES:
            raise ValueError(f"{machine_type} brings its own GPUs; accelerator_type / accelerator_count are for N1 machine types")
        if accelerator_count and not accelerator_type:
            raise ValueError("accelerator_type is required with accelerator_count")
        if reservation is not None and spot is not None:
            raise ValueError("reservation launches on-demand nodes into the reservation; it cannot be combined with spot")
        if spot is not None and spot.on_demand_base > target_size:
            raise ValueError(f"spot.on_demand_base ({spot.on_demand_base}) is larger than target_size ({target_size})")
        multi_node = placement_policy is not None or bool(gpu_nic_subnetworks)
        alternatives = [t for t in dict.fromkeys(spot.alternative_machine_types) if t != machine_type] if spot else []
        require_group("gcp", machine_type, alternatives, multi_node=multi_node, placed=placement_policy is not None, size=target_size,
                      size_arg="target_size", alternatives_arg="alternative_machine_types",
                      allow_heterogeneous=bool(spot and spot.allow_heterogeneous))
        hyperdisk_only = machine_type.startswith(HYPERDISK_ONLY_SERIES)
        boot_type = boot_disk_type or ("hyperdisk-balanced" if hyperdisk_only else "pd-balanced")
        if hyperdisk_only and data_disk_gib and not data_disk_type.startswith("hyperdisk"):
            data_disk_type = "hyperdisk-balanced"
        self.zones = list(zones)
        self.project, self.region, self.machine_type = project, region, machine_type
        labels = dict(labels or {})
        depends = list(depends_on) or None

        encryption = {"kms_key_self_link": kms_key_id}
        source_image = image or (GPU_IMAGE if gpu else CPU_IMAGE)
        family = IMAGE_FAMILY.match(source_image)
        self.image_pin = None
        if pin_image and family:
            # The family's latest non-deprecated image, read at plan time
            # (https://registry.terraform.io/providers/hashicorp/google/latest/docs/data-sources/compute_image,
            # Compute images.getFromFamily: https://cloud.google.com/compute/docs/reference/rest/v1/images/getFromFamily),
            # then kept in state until the pin is replaced.
            latest = data(self, "image-family", "google_compute_image", family=family["family"], project=family["project"])
            self.image_pin = pinned(self, "image", latest.get_string_attribute("self_link"))
            source_image = self.image_pin.get_string_attribute("output")
        self.image: str = source_image
        disks: list[dict[str, Any]] = [{"boot": True, "auto_delete": True, "source_image": source_image,
                                        "disk_type": boot_type, "disk_size_gb": boot_disk_gib, "disk_encryption_key": encryption,
                                        "labels": labels or None}]
        if data_disk_gib:
            disks.append({"boot": False, "auto_delete": True, "device_name": "data", "disk_type": data_disk_type,
                          "disk_size_gb": data_disk_gib, "disk_encryption_key": encryption, "labels": labels or None})
        for i in range(local_ssd_count):
            disks.append({"boot": False, "auto_delete": True, "type": "SCRATCH", "disk_type": "local-ssd", "interface": "NVME",
                          "disk_size_gb": LOCAL_SSD_GIB, "device_name": f"local-ssd-{i}"})
        nics: list[dict[str, Any]] = [{"subnetwork": subnetwork, "nic_type": "GVNIC", "stack_type": "IPV4_ONLY"}]
        nics += [{"subnetwork": sn, "nic_type": gpu_nic_type, "stack_type": "IPV4_ONLY"} for sn in gpu_nic_subnetworks]
        tier1 = tier1_networking if tier1_networking is not None else bool(gpu_nic_subnetworks)
        accelerators = [{"type": accelerator_type, "count": accelerator_count}] if accelerator_count else None
        common = dict(
            project=project, region=region, machine_type=machine_type, can_ip_forward=False, disk=disks, network_interface=nics,
            guest_accelerator=accelerators,
            network_performance_config={"total_egress_bandwidth_tier": "TIER_1"} if tier1 else None,
            service_account={"email": service_account_email, "scopes": list(dict.fromkeys([*NODE_SCOPES, *extra_scopes]))},
            shielded_instance_config={"enable_secure_boot": secure_boot, "enable_vtpm": True, "enable_integrity_monitoring": True},
            metadata={**{k: terraform_literal(v) for k, v in (boot_metadata or {}).items()}, **(metadata or {}),
                      "enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"},
            tags=list(network_tags) or None, labels=labels or None,
            resource_policies=[placement_policy] if placement_policy else None,
            # A named reservation: the nodes consume only it (SPECIFIC_RESERVATION), never open capacity
            # https://cloud.google.com/compute/docs/instances/reservations-consume#consuming_instances_from_a_specific_reservation
            reservation_affinity=({"type": "SPECIFIC_RESERVATION", "specific_reservation": {
                "key": "compute.googleapis.com/reservation-name", "values": [reservation]}} if reservation else None),
            lifecycle={"create_before_destroy": True},
        )
        on_demand_scheduling = {"provisioning_model": "STANDARD", "automatic_restart": True, "on_host_maintenance": "TERMINATE",
                                "preemptible": False}
        base = short(name, 36)
        self.templates = {}
        self.managers = {}
        shape = "ANY_SINGLE_ZONE" if placement_policy else ("EVEN" if len(zones) > 1 else None)
        size_spot = target_size - spot.on_demand_base if spot else 0
        size_od = spot.on_demand_base if spot else target_size
        self.group_names: dict[str, str] = self.names_for(name, spot)
        groups = []
        if "spot" in self.group_names:
            groups.append(("spot", spot.scheduling(), size_spot, spot.flexibility_policy(machine_type)))
        if "on-demand" in self.group_names:
            groups.append(("on-demand", on_demand_scheduling, size_od, None))
        healing = {"health_check": auto_healing_health_check, "initial_delay_sec": auto_healing_delay_seconds} if auto_healing_health_check else None
        for kind, scheduling, size, flexibility in groups:
            group_name = self.group_names[kind]
            suffix = group_name[len(name):]
            template = resource(self, f"template{suffix}", "google_compute_region_instance_template", name_prefix=f"{base}{suffix}-",
                                description=f"{name} nodes ({kind})", scheduling=scheduling, depends_on=depends, **common)
            # A group with a compact placement policy or instance flexibility cannot rebalance across zones.
            group_shape = "BALANCED" if flexibility and shape == "EVEN" else shape
            rolling = kind == "on-demand" and auto_healing_health_check is not None and auto_healing_when is None
            zone_count = 1 if group_shape == "ANY_SINGLE_ZONE" else len(zones)
            update = {"type": "PROACTIVE" if rolling else "OPPORTUNISTIC", "minimal_action": "REPLACE",
                      "max_surge_fixed": zone_count if rolling else 0, "max_unavailable_fixed": 0 if rolling else zone_count,
                      "instance_redistribution_type": "PROACTIVE" if group_shape == "EVEN" else "NONE"}
            manager = resource(
                self, f"group{suffix}", "google_compute_region_instance_group_manager", project=project, name=group_name, region=region,
                base_instance_name=short(f"{name}{suffix}", 54), target_size=size,
                version=[{"name": "primary", "instance_template": template.get_string_attribute("self_link_unique")}],
                distribution_policy_zones=list(zones), distribution_policy_target_shape=group_shape, update_policy=update,
                instance_flexibility_policy=flexibility,
                named_port=[{"name": k, "port": v} for k, v in (named_ports or {}).items()] or None,
                auto_healing_policies=healing if healing and auto_healing_when is None else None,
                dynamic={"auto_healing_policies": {"for_each": f"${{{auto_healing_when} ? [1] : []}}", "content": healing}}
                if healing and auto_healing_when is not None else None,
                wait_for_instances=False,
                lifecycle=None if manage_size else {"ignore_changes": ["target_size"]})
            self.templates[kind] = template
            self.managers[kind] = manager
        # The main group: the Spot group when there is one (it carries the planned capacity).
        main = self.managers.get("spot") or self.managers["on-demand"]
        self.manager = main
        self.instance_groups: list[str] = [m.get_string_attribute("instance_group") for m in self.managers.values()]
        self.id: str = main.get_string_attribute("id")
        self.self_link: str = main.get_string_attribute("self_link")
        self.instance_group: str = main.get_string_attribute("instance_group")
        self.name: str = main.get_string_attribute("name")
