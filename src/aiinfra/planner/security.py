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
# WAF rules of the endpoint's web ACL / Cloud Armor rules of its policy (the constructs' own).
WAF_RULES = 4  # per-client rate, body size, AWSManagedRulesCommonRuleSet, AWSManagedRulesKnownBadInputsRuleSet
ARMOR_RULES = 12  # per-client rate, body size, 8 preconfigured WAF rules, Log4j (cve-canary), the default rule (constructs/gcp/security_policy.py)


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


def client_rate_limit(w: WorkloadPlan, window_seconds: int = rules.RATE_WINDOW_SECONDS) -> int:
    """Requests one client address may send in ``window_seconds``: the endpoint's whole peak (a
    backend behind one NAT address may carry all of it), no more."""
    return max(10, math.ceil(round(peak_qps(w) * window_seconds, 6)))  # the constructs' rounding (0.1 x 300 is 30)


def _public(w: WorkloadPlan) -> bool:
    return w.type == "inference" and w.exposure != "internal"


def plan_security(spec: Spec, workloads: list[WorkloadPlan]) -> list[SecurityControlPlan]:
    out: list[SecurityControlPlan] = []
    for w in workloads:
        if not _public(w):
            continue
        limit = client_rate_limit(w)
        millions = (w.expected_qps or 0.0) * rules.SECONDS_PER_MONTH / 1e6
        arith = (f"one client may send {limit:,} requests a {rules.RATE_WINDOW_SECONDS} s window: the endpoint's peak "
                 f"{peak_qps(w):,.0f}/s ({w.replica_qps or 0:,.1f}/s a replica x {max(w.max_nodes, w.nodes)} replicas) x "
                 f"{rules.RATE_WINDOW_SECONDS} s; bodies over {rules.MAX_REQUEST_BODY_BYTES // 2**20} MiB refused")
        unit, base, count, per_rule, per_million, detail = EDGE[w.cloud]
        usd = base + count * per_rule + millions * per_million
        out.append(SecurityControlPlan(w.cloud, w.region, "edge_filtering", w.name, detail, round(usd, 2),
                                       f"{arith}; ${base:g} {unit} + {count} rules x ${per_rule:g} + {millions:,.0f}M requests x "
                                       f"${per_million}/M at the expected {w.expected_qps or 0:,.0f}/s"))
    if api_authentication(spec):
        for w in workloads:
            if w.type != "inference":
                continue
            if w.cloud == "aws":
                how = ("ALB authenticate-oidc with clouds.aws.oidc" if spec.clouds.aws.oidc else
                       "ALB authenticate-oidc; the identity provider's settings are Terraform variables (clouds.aws.oidc not set)")
            else:
                how = ("Identity-Aware Proxy on the backend service; callers: clouds.gcp.iap_members" if spec.clouds.gcp.iap_members else
                       "Identity-Aware Proxy on the backend service; who may call it is a Terraform variable (clouds.gcp.iap_members not set)")
            out.append(SecurityControlPlan(w.cloud, w.region, "api_authentication", w.name, how, 0.0,
                                           "security_controls.access_management.api_authentication asks for it; no charge of its own"))
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
