"""The guide's Step 4 (``security_controls``) as deployed controls, and what each costs a month.

What a spec asks of its stacks (``requirements``: API authentication, HSM keys, segmentation) is
recorded in every stack and judged by the policy pack; the controls themselves (edge filtering,
keys, threat detection, scanning, segmentation, retention) are listed per cloud and region with
their monthly list price (``planner/rules.py`` has the prices and their sources) and counted in
the plan's totals. No cdktf here: the stacks read the same functions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from aiinfra.planner import rules
from aiinfra.planner.model import WorkloadPlan
from aiinfra.spec.models import Spec

_OFF = re.compile(r"^\s*(none|no|off|disabled?|false|n/?a)\s*$", re.I)
_HSM = re.compile(r"hsm|hardware[\s_-]*security[\s_-]*module", re.I)
_BEARER = re.compile(r"jwt|bearer|token", re.I)
# WAF rules of the endpoint's web ACL / Cloud Armor rules of its policy (the constructs' own).
WAF_RULES = 4  # per-client rate, body size, AWSManagedRulesCommonRuleSet, AWSManagedRulesKnownBadInputsRuleSet
# per-client rate, body size, Log4j (cve-canary), 8 preconfigured WAF rule sets twice each (deny on requests without a
# body, preview on every request), the default rule (constructs/gcp/security_policy.py)
ARMOR_RULES = 20
# How each edge treats the signatures that read a request's body (the prompt): they report, they do not refuse.
PROMPT_SAFE = {
    "aws": ("the managed rules' body signatures (SizeRestrictions_BODY, CrossSiteScripting_BODY, GenericLFI_BODY, GenericRFI_BODY, "
            "EC2MetaDataSSRF_BODY, JavaDeserializationRCE_BODY) count instead of blocking, so a prompt quoting SQL, HTML, paths or "
            "URLs reaches the model; the URI, query, header and cookie signatures and Log4j (${jndi: lookups) block"),
    "gcp": ("the preconfigured WAF rules (sensitivity 1) deny requests that carry no body (methods other than POST, PUT, PATCH) "
            "and only preview the others (logged, not enforced), so a prompt quoting SQL, HTML, paths or URLs reaches the model; "
            "Log4j (${jndi: lookups) is denied everywhere"),
}


# Edge filtering a cloud: (what is billed, its month, rules, a rule's month, a million requests, what is deployed).
EDGE = {
    "aws": ("an ACL", rules.WAF_WEB_ACL_MONTH_USD, WAF_RULES, rules.WAF_RULE_MONTH_USD, rules.WAF_MILLION_REQUESTS_USD,
            "AWS WAF web ACL on the load balancer: per-client rate rule, body size limit, AWS managed common and known-bad-inputs "
            "rule groups; blocked and counted requests logged"),
    "gcp": ("a policy", rules.ARMOR_POLICY_MONTH_USD, ARMOR_RULES, rules.ARMOR_RULE_MONTH_USD, rules.ARMOR_MILLION_REQUESTS_USD,
            "Cloud Armor policy on the backend service: per-client throttle, body size limit, Log4j and preconfigured WAF rules; "
            "decisions in the load balancer's request logs"),
}


@dataclass(frozen=True)
class SecurityControlPlan:
    """One deployed control: where, on what, what it is, what it costs a month, why."""

    cloud: str
    region: str
    control: str  # edge_filtering, api_authentication, key, threat_detection, vulnerability_scanning, segmentation, retention
    target: str  # a workload's name, or "foundation"
    detail: str
    monthly_usd: float
    reason: str


def asked(value: str | None) -> bool:
    """A control's value asks for it (set, and not none / off / disabled ...)."""
    return bool(value) and not _OFF.match(value or "")


def api_authentication(spec: Spec) -> bool:
    """The spec asks the serving endpoints to authenticate their callers."""
    am = spec.security_controls.access_management if spec.security_controls else None
    return bool(am and asked(am.api_authentication))


def hsm_keys(spec: Spec) -> bool:
    dp = spec.security_controls.data_protection if spec.security_controls else None
    return bool(dp and dp.key_management and _HSM.search(dp.key_management))


def segmentation(spec: Spec) -> bool:
    ns = spec.security_controls.network_security if spec.security_controls else None
    return bool(ns and asked(ns.network_segmentation))


def threat_detection(spec: Spec) -> bool:
    ns = spec.security_controls.network_security if spec.security_controls else None
    return bool(ns and asked(ns.intrusion_detection))


def vulnerability_scanning(spec: Spec) -> bool:
    ns = spec.security_controls.network_security if spec.security_controls else None
    return bool(ns and asked(ns.vulnerability_scanning))


def compliance_based(spec: Spec) -> bool:
    lm = spec.cost_optimization.lifecycle_management if spec.cost_optimization else None
    return bool(lm and lm.data_retention and "compliance" in lm.data_retention.lower())


def compliance_retention_days(spec: Spec) -> int | None:
    """Days objects are locked for (``data_retention: compliance_based`` with ``retention_period``)."""
    lm = spec.cost_optimization.lifecycle_management if spec.cost_optimization else None
    return lm.retention_period if lm and compliance_based(spec) else None


def requirements(spec: Spec) -> frozenset[str]:
    """What the spec asks of its stacks, in the policy pack's words (``policy.model.REQUIREMENTS``)."""
    asks = {"api_authentication": api_authentication(spec), "hsm_keys": hsm_keys(spec), "segmentation": segmentation(spec)}
    return frozenset(k for k, v in asks.items() if v)


def key_protection(spec: Spec, cloud: str) -> str:
    """The data keys' protection: AWS ``HSM`` (KMS, FIPS 140-3 validated HSMs) or ``CLOUDHSM``
    (a custom key store); GCP ``HSM`` or ``SOFTWARE``."""
    if cloud == "aws":
        return "CLOUDHSM" if spec.clouds.aws and spec.clouds.aws.custom_key_store_id else "HSM"
    return "HSM" if hsm_keys(spec) else "SOFTWARE"


def peak_qps(w: WorkloadPlan) -> float:
    """The most the endpoint serves: each replica's throughput at the group's largest size."""
    if w.replica_qps:
        return w.replica_qps * max(w.max_nodes, w.nodes, 1)
    return max(w.expected_qps or 0.0, 1.0)


def client_qps(spec: Spec | None, w: WorkloadPlan) -> tuple[float, str]:
    """Requests a second one client address may send the endpoint, and where that comes from:
    ``security_controls.network_security.rate_limit_per_client`` (a rate, or a share of the
    planned peak), else ``rules.RATE_LIMIT_CLIENT_SHARE`` of the peak. Never the whole fleet's
    peak by default: one client could then drive scale-out to the largest group."""
    ns = spec.security_controls.network_security if spec and spec.security_controls else None
    asked = ns.rate_limit_per_client if ns else None
    key = "security_controls.network_security.rate_limit_per_client"
    peak = (f"the endpoint's planned peak {peak_qps(w):,.0f}/s ({w.replica_qps or 0:,.1f}/s a replica x "
            f"{max(w.max_nodes, w.nodes)} replicas)")
    if asked and asked[1] == "qps":
        return asked[0], f"{key} ({asked[0]:,.1f}/s; {peak})"
    share = asked[0] / 100 if asked else rules.RATE_LIMIT_CLIENT_SHARE
    why = f"{key} {asked[0]:g}%" if asked else f"the default share (set {key} to change it)"
    return peak_qps(w) * share, f"{share:.0%} of {peak}, {why}"


def client_rate_limit(spec: Spec | None, w: WorkloadPlan, window_seconds: int = rules.RATE_WINDOW_SECONDS) -> int:
    """Requests one client address may send in ``window_seconds`` (``client_qps`` over the window,
    at least the 10 AWS WAF accepts); the constructs round the same way (0.1 x 300 is 30, not 31)."""
    return max(rules.MIN_CLIENT_RATE_LIMIT, math.ceil(round(client_qps(spec, w)[0] * window_seconds, 6)))


def response_timeout(w: WorkloadPlan, latency_target_s: float | None = None) -> tuple[int, str]:
    """Seconds the load balancer waits for one response (GCP backend service ``timeout_sec``, AWS
    ALB ``idle_timeout``), and the arithmetic: ``rules.RESPONSE_TIMEOUT_FACTOR`` x the plan's
    modelled request latency (else the latency target), between the floor and the cap."""
    floor, cap, factor = rules.RESPONSE_TIMEOUT_FLOOR_SECONDS, rules.RESPONSE_TIMEOUT_CAP_SECONDS, rules.RESPONSE_TIMEOUT_FACTOR
    latency, what = ((w.request_latency_s, "the modelled response time") if w.request_latency_s
                     else (latency_target_s, "the latency target") if latency_target_s else (None, ""))
    if latency is None:
        return floor, f"{floor} s, the floor (no modelled response time or latency target to size it from)"
    wanted = math.ceil(round(factor * latency, 6))
    got = min(max(wanted, floor), cap)
    text = f"{factor} x {what} {latency:,.1f} s (a response {factor} times as long as planned) = {wanted:,} s"
    if got == floor and wanted < floor:
        return got, f"{text}, raised to the {floor} s floor"
    if got == cap and wanted > cap:
        return got, (f"{text}, cut to the {cap} s cap: a longer generation is cut off (stream it, shorten it, or run it as a "
                     "batch job)")
    return got, text


def _public(w: WorkloadPlan) -> bool:
    return w.type == "inference" and w.exposure != "internal"


def bearer_tokens(spec: Spec) -> bool:
    """api_authentication names tokens machine clients send (the guide's "OAuth2 + JWT tokens")."""
    am = spec.security_controls.access_management if spec.security_controls else None
    return bool(am and asked(am.api_authentication) and _BEARER.search(am.api_authentication or ""))


def model_server_checks(issuer: str, audience: str) -> str:
    """What the model server must verify of a bearer JWT the load balancer forwards unverified."""
    return (f"signature against the keys at the jwks_uri of {issuer}/.well-known/openid-configuration (alg as the issuer signs, "
            f"RS256 or ES256; never none or HS256), iss = {issuer}, aud = {audience}, exp and nbf current, the scope the API "
            "requires; a request without a valid token gets 401")


def endpoint_timeout(spec: Spec, w: WorkloadPlan) -> int:
    """The serving endpoint's response timeout in seconds (``response_timeout``), as the stacks deploy it."""
    return response_timeout(w, _latency_target_s(spec, w.name))[0]


def _latency_target_s(spec: Spec, name: str) -> float | None:
    w = next((x for x in spec.workload_inventory if x.name == name), None)
    perf = spec.performance_requirements
    if w is not None and w.latency_sla:
        return w.latency_sla / 1000
    if perf and perf.inference and perf.inference.p95_latency:
        return perf.inference.p95_latency / 1000
    return None


def plan_security(spec: Spec, workloads: list[WorkloadPlan]) -> list[SecurityControlPlan]:
    out: list[SecurityControlPlan] = []
    for w in workloads:
        if not _public(w):
            continue
        limit = client_rate_limit(spec, w)
        rps, source = client_qps(spec, w)
        replicas = max(w.max_nodes, w.nodes)
        millions = (w.expected_qps or 0.0) * rules.SECONDS_PER_MONTH / 1e6
        arith = f"one client address may send {limit:,} requests a {rules.RATE_WINDOW_SECONDS} s window ({rps:,.1f}/s): {source}"
        if w.replica_qps:
            util = w.target_utilization or rules.DEFAULT_TARGET_UTILIZATION
            busy = min(replicas, max(1, math.ceil(round(rps / (w.replica_qps * util), 6))))
            node_month = w.hourly_usd / max(w.nodes, 1) * rules.HOURS_PER_MONTH
            arith += (f"; alone at that rate it keeps {busy} of {replicas} replicas busy at the {util:.0%} target "
                      f"(${busy * node_month:,.0f} a month)" + ("" if busy < replicas else ": as many as the peak needs"))
        if w.expected_qps and rps < w.expected_qps:
            arith += (f"; one caller sending the whole expected {w.expected_qps:,.0f}/s from one address (a backend behind one NAT "
                      "address) is refused above it: give rate_limit_per_client its rate")
        arith += f"; {PROMPT_SAFE[w.cloud]}; bodies over {rules.MAX_REQUEST_BODY_BYTES // 2**20} MiB refused"
        unit, base, count, per_rule, per_million, detail = EDGE[w.cloud]
        usd = base + count * per_rule + millions * per_million
        out.append(SecurityControlPlan(w.cloud, w.region, "edge_filtering", w.name, detail, round(usd, 2),
                                       f"{arith}; ${base:g} {unit} + {count} rules x ${per_rule:g} + {millions:,.0f}M requests x "
                                       f"${per_million}/M at the expected {w.expected_qps or 0:,.0f}/s"))
    for w in workloads:
        if w.type != "inference":
            continue
        seconds, why = response_timeout(w, _latency_target_s(spec, w.name))
        what = ("ALB idle timeout (no byte either way; a response that is not streamed sends nothing until it is done) and target "
                "deregistration delay" if w.cloud == "aws" else
                "backend service timeout (the whole response, streamed or not) and connection draining")
        out.append(SecurityControlPlan(w.cloud, w.region, "response_timeout", w.name, f"{what}: {seconds:,} s", 0.0,
                                       f"{why}; between the {rules.RESPONSE_TIMEOUT_FLOOR_SECONDS} s floor and the "
                                       f"{rules.RESPONSE_TIMEOUT_CAP_SECONDS} s cap; scale-in waits as long for responses in "
                                       "flight; no charge"))
    if api_authentication(spec):
        for w in workloads:
            if w.type != "inference":
                continue
            if w.cloud == "aws":
                oidc = spec.clouds.aws.oidc
                how = ("ALB authenticate-oidc with clouds.aws.oidc" if oidc else
                       "ALB authenticate-oidc; the identity provider's settings are Terraform variables (clouds.aws.oidc not set)")
                if bearer_tokens(spec):
                    how += ("; requests carrying Authorization: Bearer <JWT> go to the model server, which verifies the token (the "
                            "pinned aws provider 5.100 has no ALB jwt-validation action)")
                    why = ("api_authentication names tokens machine clients send, which ALB authenticate-oidc never reads (it answers a "
                           "request without its session cookie with a redirect to the identity provider); the model server must "
                           "verify every bearer token: " + model_server_checks(oidc.issuer if oidc else "var.oidc_issuer",
                                                                               oidc.client_id if oidc else "var.oidc_client_id"))
                else:
                    why = ("ALB authenticate-oidc signs callers in with the identity provider's login (a session cookie); a machine "
                           "client's bearer token is answered with a redirect: name tokens in api_authentication (\"OAuth2 + JWT "
                           "tokens\") to send them to the model server to verify")
            else:
                how = ("Identity-Aware Proxy on the backend service; callers: clouds.gcp.iap_members" if spec.clouds.gcp.iap_members else
                       "Identity-Aware Proxy on the backend service; who may call it is a Terraform variable (clouds.gcp.iap_members not set)")
                why = ("IAP verifies every request before it reaches the nodes: a service account sends a Google-signed OIDC ID token or "
                       "a service-account-signed JWT in Authorization: Bearer (with IAP's Google-managed OAuth client, ID tokens of "
                       "other OAuth clients need the programmatic-access allowlist); the model server may check the signed "
                       "x-goog-iap-jwt-assertion header IAP adds")
            out.append(SecurityControlPlan(w.cloud, w.region, "api_authentication", w.name, how, 0.0,
                                           f"security_controls.access_management.api_authentication asks for it; {why}; no charge of its own"))
    for cloud, region in sorted({(w.cloud, w.region) for w in workloads}):
        level = key_protection(spec, cloud)
        if cloud == "aws":
            usd = rules.AWS_KMS_KEY_MONTH_USD
            detail = ("KMS key in the CloudHSM custom key store " + spec.clouds.aws.custom_key_store_id if level == "CLOUDHSM"
                      else "KMS key (AWS KMS keys live in FIPS 140-3 validated HSMs)")
            why = "$1 a key a month" + ("; the CloudHSM cluster's HSMs are billed by CloudHSM by the hour, outside this plan"
                                        if level == "CLOUDHSM" else "")
        else:
            usd = rules.GCP_KMS_HSM_VERSION_MONTH_USD if level == "HSM" else rules.GCP_KMS_SOFTWARE_VERSION_MONTH_USD
            detail = f"Cloud KMS key at protection level {level}"
            why = (f"${usd:.2f} an active key version a month; rotation every 90 days adds a version, billed until it is destroyed")
        if hsm_keys(spec):
            why = "key_management asks for a hardware security module; " + why
        out.append(SecurityControlPlan(cloud, region, "key", "foundation", detail, round(usd, 2), why))
    for cloud, region in sorted({(w.cloud, w.region) for w in workloads}):
        mine = [w for w in workloads if (w.cloud, w.region) == (cloud, region)]
        node_months = sum(w.nodes * w.hours_per_month for w in mine) / rules.HOURS_PER_MONTH
        vcpu_months = sum(w.nodes * w.vcpus_per_node * w.hours_per_month for w in mine) / rules.HOURS_PER_MONTH
        if threat_detection(spec):
            if cloud == "aws":
                usd = vcpu_months * rules.GUARDDUTY_RUNTIME_VCPU_MONTH_USD
                out.append(SecurityControlPlan(cloud, region, "threat_detection", "foundation",
                                               "GuardDuty detector: S3 data events, EBS malware protection, runtime monitoring of the "
                                               "nodes; findings of severity 7+ to the alerts topic", round(usd, 2),
                                               f"runtime monitoring {vcpu_months:,.1f} vCPU-months (the planned node-hours) x "
                                               f"${rules.GUARDDUTY_RUNTIME_VCPU_MONTH_USD}; CloudTrail, flow / DNS log and S3 event "
                                               "volume is billed on top by usage (not estimated)"))
            elif (cloud, region) == min((w.cloud, w.region) for w in workloads if w.cloud == "gcp"):
                out.append(SecurityControlPlan(cloud, region, "threat_detection", "foundation",
                                               "Security Command Center findings (active, HIGH and CRITICAL) to the alert channels through a "
                                               "Pub/Sub topic", 0.0,
                                               "the project's SCC tier is activated outside the stacks (Standard: no charge; Premium "
                                               "is priced by SCC, not in this plan)"))
        if vulnerability_scanning(spec):
            if cloud == "aws":
                usd = node_months * rules.INSPECTOR_EC2_INSTANCE_MONTH_USD
                detail = "Inspector scanning the nodes (and the ECR repositories the images are in), HIGH and CRITICAL findings to the alerts topic"
                why = f"{node_months:,.1f} instance-months (the planned node-hours) x ${rules.INSPECTOR_EC2_INSTANCE_MONTH_USD}"
            else:
                usd = node_months * rules.HOURS_PER_MONTH * rules.VM_MANAGER_VM_HOUR_USD
                detail = "VM Manager (OS Config) inventory and vulnerability reports of the nodes"
                why = (f"{node_months * rules.HOURS_PER_MONTH:,.0f} node-hours x ${rules.VM_MANAGER_VM_HOUR_USD} (free for a billing "
                       "account's first 100 VMs, not counted)")
            out.append(SecurityControlPlan(cloud, region, "vulnerability_scanning", "foundation", detail, round(usd, 2), why))
    seg = "security_controls.network_security.network_segmentation asks for it" if segmentation(spec) else "the default"
    for w in workloads:
        scope = "its own security group" if w.cloud == "aws" else "firewall rules scoped to its own service account"
        # Every run over several nodes, multi-node training and Spark alike (WorkloadPlan.collective).
        ins = [x for x, on in (("its own nodes (collective traffic)", w.collective),
                               ("the load balancer on the serving port", w.type == "inference")) if on]
        outs = ["HTTPS"] + (["its own nodes"] if w.collective else [])
        out.append(SecurityControlPlan(w.cloud, w.region, "segmentation", w.name,
                                       f"{scope}: in from {' and '.join(ins) or 'nothing'}; out {' and '.join(outs)} only",
                                       0.0, f"{seg}; no charge"))
    days = compliance_retention_days(spec)
    if compliance_based(spec):
        for cloud, region in sorted({(w.cloud, w.region) for w in workloads}):
            if cloud == "aws":
                detail = (f"warm-tier bucket versioned with S3 Object Lock, COMPLIANCE mode: every object version kept {days} days, "
                          "checkpoints and run records included" if days else
                          "warm-tier bucket versioned with S3 Object Lock available per object; no default period "
                          "(set cost_optimization.lifecycle_management.retention_period)")
            else:
                detail = ("warm-tier bucket with per-object retention: model artifacts are locked one by one (a bucket-wide policy "
                          "would refuse the rewrites of run records and checkpoints)")
            out.append(SecurityControlPlan(cloud, region, "retention", "foundation", detail, 0.0,
                                           "data_retention: compliance_based; storage is costed as never deleted (the plan's "
                                           "expiration_days is null)"))
    return out
