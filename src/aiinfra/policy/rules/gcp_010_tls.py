from aiinfra.policy.model import Resource, Rule, StackView, bad, ok


def check(r: Resource, stack: StackView):
    if r.type == "google_compute_target_http_proxy":
        return bad("plain-HTTP proxy")
    if r.type == "google_compute_ssl_policy":
        if r.body.get("min_tls_version") not in ("TLS_1_2", "TLS_1_3"):
            return bad(f"minimum TLS version is {r.body.get('min_tls_version', 'TLS_1_0 (the default)')}")
        if r.body.get("profile", "COMPATIBLE") == "COMPATIBLE":
            return bad("COMPATIBLE profile offers weak ciphers")
        return ok()
    return ok() if r.body.get("ssl_policy") else bad("HTTPS proxy without an SSL policy (Google's default allows TLS 1.0)")


RULE = Rule(
    id="AIINFRA-GCP-010",
    description="HTTPS load balancers serve TLS 1.2 or later with a RESTRICTED or MODERN policy",
    explanation="Without an SSL policy Google's front ends accept TLS 1.0; predictions and their inputs are customer data.",
    fix="attach google_compute_ssl_policy { profile = \"RESTRICTED\", min_tls_version = \"TLS_1_2\" } to the target HTTPS proxy "
        "(InferenceEndpoint does this); serve no plain-HTTP proxy",
    types=("google_compute_target_https_proxy", "google_compute_ssl_policy", "google_compute_target_http_proxy"),
    check=check,
)
