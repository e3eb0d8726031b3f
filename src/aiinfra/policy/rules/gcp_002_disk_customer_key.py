from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok


def check(r: Resource, stack: StackView):
    if r.type in ("google_compute_disk", "google_compute_region_disk"):
        return ok() if r.get("disk_encryption_key", "kms_key_self_link") else bad("disk is not encrypted with a customer key")
    if r.type == "google_compute_instance":
        if not r.get("boot_disk", "kms_key_self_link"):
            return bad("boot disk is not encrypted with a customer key")
        return ok()
    for i, disk in enumerate(blocks(r.body.get("disk"))):
        if disk.get("type") == "SCRATCH" or disk.get("disk_type") == "local-ssd":
            continue  # Local SSD cannot take a customer key; its data dies with the VM
        key = (blocks(disk.get("disk_encryption_key")) or [{}])[0].get("kms_key_self_link")
        if not key:
            return bad(f"disk {i} ({disk.get('device_name') or ('boot' if disk.get('boot') else 'data')}) is not encrypted with a customer key")
    return ok()


RULE = Rule(
    id="AIINFRA-GCP-002",
    description="Persistent disks are encrypted with a customer-managed key",
    explanation="Boot and data disks hold model weights and cached credentials; with a customer key, snapshots and images made "
                "from them stay under your key.",
    fix="set disk_encryption_key { kms_key_self_link } on every persistent disk (GpuInstanceGroup does this)",
    types=("google_compute_region_instance_template", "google_compute_instance_template", "google_compute_disk",
           "google_compute_region_disk", "google_compute_instance"),
    check=check,
)
