from aiinfra.policy.model import Resource, Rule, StackView, bad, ok

TLS_MODE = "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"
IAM_AUTH = "AUTH_MODE_IAM_AUTH"


def check(r: Resource, stack: StackView):
    missing = []
    if not r.get("kms_key"):
        missing.append("no customer-managed key (kms_key)")
    if r.get("transit_encryption_mode") != TLS_MODE:
        missing.append(f"transit_encryption_mode is not {TLS_MODE} (plain-text connections)")
    if r.get("authorization_mode") != IAM_AUTH:
        missing.append(f"authorization_mode is not {IAM_AUTH} (any client on the network may connect)")
    return bad("; ".join(missing)) if missing else ok()


RULE = Rule(
    id="AIINFRA-GCP-022",
    description="Memorystore for Redis clusters use a customer-managed key, TLS in transit and IAM authentication",
    explanation="The serving cache holds features and predictions: without TLS anyone on the network path reads them, without "
                "IAM authentication any workload on the network connects, and without a customer key its persisted data is "
                "outside your key's audit and revocation.",
    fix="set kms_key, transit_encryption_mode = \"TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION\" and authorization_mode = "
        "\"AUTH_MODE_IAM_AUTH\" (ServingCache does)",
    types=("google_redis_cluster",),
    check=check,
)
