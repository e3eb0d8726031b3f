from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok


def check(r: Resource, stack: StackView):
    if r.type == "aws_ebs_volume":
        return ok() if r.body.get("encrypted") is True and r.body.get("kms_key_id") else bad("volume is not encrypted with a customer key")
    if r.type == "aws_instance":
        roots = blocks(r.body.get("root_block_device")) + blocks(r.body.get("ebs_block_device"))
        missing = [d for d in roots if not (d.get("encrypted") is True and d.get("kms_key_id"))]
        return bad("a block device is not encrypted with a customer key") if missing or not roots else ok()
    for mapping in blocks(r.body.get("block_device_mappings")):
        ebs = (blocks(mapping.get("ebs")) or [None])[0]
        if ebs is None:
            continue
        if not (ebs.get("encrypted") in (True, "true") and ebs.get("kms_key_id")):
            return bad(f"volume {mapping.get('device_name', '?')} is not encrypted with a customer key")
    return ok()


RULE = Rule(
    id="AIINFRA-AWS-002",
    description="EBS volumes of GPU nodes are encrypted with a customer-managed KMS key",
    explanation="Root and data volumes hold model weights, datasets and credentials cached by jobs; encryption with your key "
                "keeps snapshots and detached volumes unreadable without it.",
    fix="set encrypted = true and kms_key_id on every ebs block (GpuInstanceGroup does this)",
    types=("aws_launch_template", "aws_ebs_volume", "aws_instance"),
    check=check,
)
