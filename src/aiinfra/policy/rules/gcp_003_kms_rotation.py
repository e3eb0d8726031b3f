import re

from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

MAX_SECONDS = 90 * 86400


def check(r: Resource, stack: StackView):
    if r.body.get("purpose", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return ok()  # Cloud KMS rotates symmetric keys only
    period = str(r.body.get("rotation_period", ""))
    m = re.fullmatch(r"(\d+)(?:\.\d+)?s", period)
    if not m:
        return bad("no rotation period")
    seconds = int(m.group(1))
    return ok() if seconds <= MAX_SECONDS else bad(f"rotates every {seconds // 86400} days, more than 90")


RULE = Rule(
    id="AIINFRA-GCP-003",
    description="Cloud KMS keys rotate at least every 90 days",
    explanation="Rotation bounds how much data one key version protects; 90 days is the CIS Google Cloud benchmark's limit.",
    fix="set rotation_period to \"7776000s\" or less (EncryptionKey does this)",
    types=("google_kms_crypto_key",),
    check=check,
)
