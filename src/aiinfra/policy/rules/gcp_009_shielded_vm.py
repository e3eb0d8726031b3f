from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

FLAGS = ("enable_secure_boot", "enable_vtpm", "enable_integrity_monitoring")


def check(r: Resource, stack: StackView):
    shielded = r.get("shielded_instance_config", default={})
    off = [f for f in FLAGS if shielded.get(f) is not True]
    return bad(f"shielded VM has {', '.join(off)} off") if off else ok()


RULE = Rule(
    id="AIINFRA-GCP-009",
    description="GPU nodes are shielded VMs (secure boot, vTPM, integrity monitoring)",
    explanation="Secure boot keeps unsigned kernels and drivers off the node; vTPM and integrity monitoring detect a tampered "
                "boot chain.",
    fix="set shielded_instance_config with all three true and use an image with signed NVIDIA drivers (GpuInstanceGroup's default)",
    types=("google_compute_region_instance_template", "google_compute_instance_template", "google_compute_instance"),
    check=check,
)
