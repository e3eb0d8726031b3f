from aiinfra.policy.model import Resource, Rule, StackView, bad, na, ok


def check(r: Resource, stack: StackView):
    if r.body.get("customer_master_key_spec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        return ok()  # AWS rotates only symmetric keys
    if r.body.get("custom_key_store_id"):
        # Keys in a CloudHSM / external key store cannot rotate automatically (rotated by hand).
        # https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
        return na()
    return ok() if r.body.get("enable_key_rotation") is True else bad("automatic key rotation is off")


RULE = Rule(
    id="AIINFRA-AWS-003",
    description="KMS keys rotate automatically",
    explanation="Rotation limits how much data one key version protects; AWS keeps old versions for decryption, so it costs nothing "
                "to turn on.",
    fix="set enable_key_rotation = true on aws_kms_key (EncryptionKey does this)",
    types=("aws_kms_key",),
    check=check,
)
