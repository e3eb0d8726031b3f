from aiinfra.policy.model import Resource, Rule, StackView, bad, na, ok

# Cloud KMS protection levels held in hardware: HSM (Cloud HSM, FIPS 140-2 Level 3 HSMs) and the
# key-management partner's HSMs (EXTERNAL, EXTERNAL_VPC). https://cloud.google.com/kms/docs/algorithms#protection_levels
HARDWARE = ("HSM", "EXTERNAL", "EXTERNAL_VPC")


def check(r: Resource, stack: StackView):
    if "hsm_keys" not in stack.requires:
        return na()
    level = str(r.get("version_template", "protection_level", default="SOFTWARE")).upper()
    return ok() if level in HARDWARE else bad(f"protection level {level} while the spec's key_management asks for a hardware security module")


RULE = Rule(
    id="AIINFRA-GCP-015",
    description="Keys are HSM-protected when the spec asks for a hardware security module",
    explanation="A SOFTWARE-level Cloud KMS key holds its material outside HSMs, which a key_management policy of "
                "hardware_security_module forbids. (AWS KMS keys are always held in FIPS 140-3 validated HSMs, so no AWS rule.)",
    fix="set version_template.protection_level = \"HSM\" on google_kms_crypto_key (EncryptionKey(protection_level=\"HSM\"); "
        "aiinfra synth does it when key_management names an HSM); the level of an existing key cannot change: a new key is needed",
    types=("google_kms_crypto_key",),
    check=check,
)
