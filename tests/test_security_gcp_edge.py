"""GCP edge security: the Cloud Armor policy (per-client throttle from the planned peak, body size,
preconfigured WAF rules), Identity-Aware Proxy on the endpoints' backend services, and the policy
rules that judge them (AIINFRA-GCP-012, -013). Every synthesized stack passes the google provider
schema oracle (tests/gcp_schema.py)."""

from __future__ import annotations

import json

import pytest


from aiinfra.cdk import TerraformOutput, TerraformStack
from aiinfra.cdk import Testing as CdkTesting

from aiinfra.constructs._tf import GOOGLE, provider
from aiinfra.constructs.gcp.inference_endpoint import (
    IAP_ACCESSOR_ROLE,
    IapAccess,
    InferenceEndpoint,
)
from aiinfra.constructs.gcp.internal_endpoint import InternalEndpoint
from aiinfra.constructs.gcp.security_policy import (
    DEFAULT_RULE_PRIORITY,
    CLIENT_SHARE,
    DEFAULT_WAF_RULES,
    NO_BODY,
    WAF_RULE_SETS,
    SecurityPolicy,
    rate_limit,
)
from aiinfra.planner import rules as planner_rules
from aiinfra.policy import RULES_BY_ID, Result, StackView, check_stack, require
from tests.gcp_schema import check_stack as schema_problems

PROJECT = "acme-ml-prod"
REGION = "us-central1"
GROUP = f"projects/{PROJECT}/regions/{REGION}/instanceGroups/acme-reco"
ENDPOINT = {"project": PROJECT, "name": "acme-reco", "region": REGION, "network": f"projects/{PROJECT}/global/networks/acme",
            "network_tags": ["acme-nodes"], "instance_groups": [GROUP], "autoscale_group": f"{GROUP}-mig", "min_replicas": 2,
            "max_replicas": 4, "requests_per_replica": 100.0}
INTERNAL = dict(ENDPOINT, subnetwork=f"projects/{PROJECT}/regions/{REGION}/subnetworks/acme", proxy_only_cidr="10.129.0.0/23",
                ssl_certificates=[f"projects/{PROJECT}/regions/{REGION}/sslCertificates/reco"])
CALLERS = ["serviceAccount:app@acme-ml-prod.iam.gserviceaccount.com", "group:ml-callers@acme.example"]


def synth(build, requires: tuple[str, ...] = ()) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "google", GOOGLE, project=PROJECT, region=REGION)
    build(stack)
    if requires:  # recorded under "//", which Testing.synth leaves out: read the stack as the policy aspect does
        require(stack, *requires)
        doc = json.loads(json.dumps(stack.to_terraform()))
    else:
        doc = json.loads(CdkTesting.synth(stack))
    assert schema_problems(doc) == []  # every argument exists in the google provider schema
    return doc


def only(doc: dict, rtype: str) -> dict:
    (value,) = doc["resource"][rtype].values()
    return value


def policy_rules(**kw) -> dict[int, dict]:
    args = {"project": PROJECT, "name": "acme-reco", "peak_requests_per_second": 40, **kw}
    doc = synth(lambda s: SecurityPolicy(s, "armor", **args))
    policy = only(doc, "google_compute_security_policy")
    assert policy["type"] == "CLOUD_ARMOR"
    return {r["priority"]: r for r in policy["rule"]}


# ---- SecurityPolicy -------------------------------------------------------------------

def test_rate_limit_lets_one_client_send_the_whole_peak_over_the_interval():
    assert rate_limit(40, 60) == 2400
    assert rate_limit(0.1, 30) == 3  # not 4: 0.1 x 30 is 3.0000000000000004 in floating point
    assert rate_limit(2.5, 10) == 25 and rate_limit(0.26, 10) == 3  # ceil(2.6)
    assert rate_limit(0.001, 10) == 1  # Cloud Armor's minimum count


def test_throttle_rule_is_keyed_on_the_client_ip_and_answers_429_over_the_limit():
    rules = policy_rules(peak_requests_per_second=40, interval_sec=120)
    (throttle,) = [r for r in rules.values() if r["action"] == "throttle"]
    opts = throttle["rate_limit_options"]
    # a tenth of the 40/s peak over 120 s, not the whole fleet's 4,800
    assert opts["rate_limit_threshold"] == {"count": 480, "interval_sec": 120} and CLIENT_SHARE == planner_rules.RATE_LIMIT_CLIENT_SHARE
    given = policy_rules(peak_requests_per_second=40, client_requests_per_second=7, interval_sec=60)
    assert [r["rate_limit_options"]["rate_limit_threshold"]["count"] for r in given.values() if r["action"] == "throttle"] == [420]
    assert opts["enforce_on_key"] == "IP" and opts["exceed_action"] == "deny(429)" and opts["conform_action"] == "allow"
    assert throttle["match"] == {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}


def test_deny_rules_are_evaluated_before_the_throttle_allows_and_the_default_rule_allows():
    rules = policy_rules()
    throttle = next(p for p, r in rules.items() if r["action"] == "throttle")
    denies = [p for p, r in rules.items() if r["action"] == "deny(403)"]
    # body size, Log4j and the rule sets (deny without a body, preview with one); all before the throttle, whose "allow" ends evaluation
    assert len(denies) == 2 + 2 * len(DEFAULT_WAF_RULES) and max(denies) < throttle
    assert rules[DEFAULT_RULE_PRIORITY]["action"] == "allow"
    assert rules[DEFAULT_RULE_PRIORITY]["match"]["config"]["src_ip_ranges"] == ["*"]
    assert max(rules) == DEFAULT_RULE_PRIORITY


def test_preconfigured_waf_rules_use_the_stable_crs33_names_at_sensitivity_1():
    rules = policy_rules(body_inspection="deny")
    expressions = [r["match"]["expr"]["expression"] for r in rules.values() if "evaluatePreconfiguredWaf" in json.dumps(r)]
    # Log4j first, every signature (the form checkov's CKV_GCP_73 looks for), then the rule sets at sensitivity 1.
    assert expressions == ["evaluatePreconfiguredWaf('cve-canary')"] + [f"evaluatePreconfiguredWaf('{n}', {{'sensitivity': 1}})"
                                                                         for n in DEFAULT_WAF_RULES]
    assert {n.split("-")[0] for n in DEFAULT_WAF_RULES} == {"sqli", "xss", "lfi", "rfi", "rce", "scannerdetection", "protocolattack",
                                                            "sessionfixation"}
    assert set(DEFAULT_WAF_RULES) <= set(WAF_RULE_SETS) and all(n.endswith("-v33-stable") for n in WAF_RULE_SETS)
    tuned = policy_rules(waf_rules=["sqli-v33-stable", "java-v33-stable"], waf_sensitivity=2, body_inspection="deny")
    assert [r["match"]["expr"]["expression"] for r in tuned.values() if "Waf" in json.dumps(r)] == [
        "evaluatePreconfiguredWaf('cve-canary')", "evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 2})", "evaluatePreconfiguredWaf('java-v33-stable', {'sensitivity': 2})"]


def test_prompt_bodies_are_previewed_and_requests_without_a_body_are_refused():
    rules = policy_rules()
    waf = {p: r for p, r in rules.items() if "evaluatePreconfiguredWaf" in json.dumps(r)}
    enforced = {p: r for p, r in waf.items() if not r.get("preview")}
    previewed = {p: r for p, r in waf.items() if r.get("preview") is True}
    # Every rule set twice: enforced only on requests without a body, previewed on every request. Log4j's ${jndi: lookups are
    # denied everywhere (an exploit payload, not prose; checkov's CKV_GCP_73 looks for that exact rule).
    assert len(enforced) == 1 + len(DEFAULT_WAF_RULES) and len(previewed) == len(DEFAULT_WAF_RULES)
    assert NO_BODY == "request.method != 'POST' && request.method != 'PUT' && request.method != 'PATCH'"
    log4j = [r for r in enforced.values() if r["match"]["expr"]["expression"] == "evaluatePreconfiguredWaf('cve-canary')"]
    assert len(log4j) == 1 and "preview" not in log4j[0]
    assert all(r["match"]["expr"]["expression"].startswith(NO_BODY + " && evaluatePreconfiguredWaf(")
               for r in enforced.values() if r not in log4j)
    assert [r["match"]["expr"]["expression"] for r in previewed.values()] == [
        f"evaluatePreconfiguredWaf('{n}', {{'sensitivity': 1}})" for n in DEFAULT_WAF_RULES]
    assert all(r["action"] == "deny(403)" for r in waf.values())
    # A rule's expression takes at most five subexpressions: three methods and the rule set.
    assert all(r["match"]["expr"]["expression"].count("&&") + r["match"]["expr"]["expression"].count("||") + 1 <= 5 for r in waf.values())
    # Previews sit before the throttle too (evaluation goes on past a preview match).
    assert max(previewed) < next(p for p, r in rules.items() if r["action"] == "throttle")
    with pytest.raises(ValueError, match="body_inspection must be 'preview' or 'deny'"):
        policy_rules(body_inspection="count")


def test_backends_wait_for_long_generations_and_drain_on_scale_in():
    doc = synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], response_timeout_seconds=420, **ENDPOINT))
    backend = only(doc, "google_compute_backend_service")
    assert (backend["timeout_sec"], backend["connection_draining_timeout_sec"]) == (420, 420)
    doc = synth(lambda s: InternalEndpoint(s, "endpoint", response_timeout_seconds=5000, **INTERNAL))
    backend = only(doc, "google_compute_region_backend_service")
    assert (backend["timeout_sec"], backend["connection_draining_timeout_sec"]) == (5000, 3600)
    assert only(synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["r.acme.example"], **ENDPOINT)),
                "google_compute_backend_service")["timeout_sec"] == 30  # Google's default when not asked
    with pytest.raises(ValueError, match="response_timeout_seconds must be a whole number of seconds from 1 to 86,400"):
        InferenceEndpoint(CdkTesting.app(), "endpoint", domains=["r.acme.example"], response_timeout_seconds=0, **ENDPOINT)


def test_body_size_rule_denies_a_declared_content_length_over_the_limit():
    rules = policy_rules()
    (size,) = [r for r in rules.values() if "content-length" in json.dumps(r)]
    assert size["action"] == "deny(403)"
    assert size["match"]["expr"]["expression"] == ("has(request.headers['content-length']) && "
                                                   "int(request.headers['content-length']) > 10485760")
    small = policy_rules(max_body_bytes=65536)
    assert any("int(request.headers['content-length']) > 65536" in json.dumps(r) for r in small.values())


def test_json_bodies_are_parsed_and_verbose_logging_is_opt_in():
    doc = synth(lambda s: SecurityPolicy(s, "armor", project=PROJECT, name="acme-reco", peak_requests_per_second=40))
    assert only(doc, "google_compute_security_policy")["advanced_options_config"] == {"json_parsing": "STANDARD", "log_level": "NORMAL"}
    doc = synth(lambda s: SecurityPolicy(s, "armor", project=PROJECT, name="acme-reco", peak_requests_per_second=40, verbose_logging=True))
    assert only(doc, "google_compute_security_policy")["advanced_options_config"]["log_level"] == "VERBOSE"


def test_policy_exposes_id_self_link_name_and_rate_limit():
    seen = {}

    def build(s):
        armor = SecurityPolicy(s, "armor", project=PROJECT, name="acme-reco", peak_requests_per_second=12.5, interval_sec=300)
        seen.update(name=armor.name, rate_limit=armor.rate_limit)
        InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], security_policy=armor.id, **ENDPOINT)
        TerraformOutput(s, "policy", value=armor.self_link)
    doc = synth(build)
    assert seen == {"name": "acme-reco", "rate_limit": 375}  # 10% of 12.5/s x 300 s
    (address,) = [f"google_compute_security_policy.{k}" for k in doc["resource"]["google_compute_security_policy"]]
    assert only(doc, "google_compute_backend_service")["security_policy"] == f"${{{address}.id}}"
    assert doc["output"]["policy"]["value"] == f"${{{address}.self_link}}"


def test_bad_policy_props_are_reported_together():
    with pytest.raises(ValueError) as e:
        SecurityPolicy(CdkTesting.app(), "armor", project=PROJECT, name="Bad_Name", peak_requests_per_second=0, interval_sec=45,
                       max_body_bytes=0, waf_rules=["sqli-v33-stabel"], waf_sensitivity=5)
    text = str(e.value)
    for part in ("name must be lowercase", "peak_requests_per_second must be a positive number, got 0", "interval_sec must be one of 10, 30",
                 "max_body_bytes must be a whole number", "unknown preconfigured WAF rule 'sqli-v33-stabel' (did you mean 'sqli-v33-stable'?)",
                 "waf_sensitivity must be 1, 2, 3 or 4, got 5"):
        assert part in text, part


def test_a_client_rate_above_the_throttle_maximum_names_an_interval_that_fits():
    with pytest.raises(ValueError, match="above Cloud Armor's throttle maximum of 1,000,000: use interval_sec 30 or less"):
        SecurityPolicy(CdkTesting.app(), "armor", project=PROJECT, name="acme-reco", peak_requests_per_second=200_000)
    rules = policy_rules(peak_requests_per_second=200_000, interval_sec=30)
    assert [r["rate_limit_options"]["rate_limit_threshold"] for r in rules.values() if r["action"] == "throttle"] == [
        {"count": 600_000, "interval_sec": 30}]


# ---- Identity-Aware Proxy -----------------------------------------------------------

def test_iap_turns_on_on_the_public_backend_with_a_google_managed_client_and_binds_the_callers():
    doc = synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], iap=IapAccess(members=CALLERS), **ENDPOINT))
    backend = only(doc, "google_compute_backend_service")
    assert backend["iap"] == {"enabled": True}  # no oauth2_client_id / secret: nothing secret in the configuration
    binding = only(doc, "google_iap_web_backend_service_iam_binding")
    assert binding["role"] == IAP_ACCESSOR_ROLE == "roles/iap.httpsResourceAccessor"
    assert binding["members"] == CALLERS and binding["project"] == PROJECT
    assert binding["web_backend_service"].startswith("${google_compute_backend_service.") and binding["web_backend_service"].endswith(".name}")
    without = synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], **ENDPOINT))
    assert "iap" not in only(without, "google_compute_backend_service")
    assert "google_iap_web_backend_service_iam_binding" not in without["resource"]


def test_iap_turns_on_on_the_internal_regional_backend_too():
    doc = synth(lambda s: InternalEndpoint(s, "endpoint", iap=IapAccess(members=CALLERS[:1]), **INTERNAL))
    assert only(doc, "google_compute_region_backend_service")["iap"] == {"enabled": True}
    binding = only(doc, "google_iap_web_region_backend_service_iam_binding")
    assert binding["region"] == REGION and binding["members"] == CALLERS[:1] and binding["role"] == IAP_ACCESSOR_ROLE
    assert binding["web_region_backend_service"].startswith("${google_compute_region_backend_service.")


def test_iap_members_may_be_a_terraform_list_expression():
    doc = synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], iap=IapAccess(members="${var.iap_members}"),
                                            **ENDPOINT))
    assert only(doc, "google_iap_web_backend_service_iam_binding")["members"] == "${var.iap_members}"


def test_bad_iap_members_raise():
    with pytest.raises(ValueError, match="at least one principal"):
        IapAccess(members=[])
    with pytest.raises(ValueError, match=r"must be IAM principals .*'ana@acme.example'"):
        IapAccess(members=["ana@acme.example"])
    with pytest.raises(ValueError, match="Terraform list expression"):
        IapAccess(members="user:ana@acme.example")
    assert IapAccess(members=["principalSet://iam.googleapis.com/locations/global/workforcePools/acme/*"]).members


def test_the_endpoint_attaches_the_policy_it_is_given():
    def build(s):
        armor = SecurityPolicy(s, "armor", project=PROJECT, name="acme-reco", peak_requests_per_second=40)
        InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], security_policy=armor.id, **ENDPOINT)
    doc = synth(build)
    assert only(doc, "google_compute_backend_service")["security_policy"].startswith("${google_compute_security_policy.")


# ---- policy rules ---------------------------------------------------------------------

def judged(rule_id: str, doc: dict, requires: frozenset[str] | None = None) -> list[Result]:
    rule = RULES_BY_ID[rule_id]
    view = StackView.from_json("s", doc, requires)
    return [rule.evaluate(r, view)[0] for r in view.resources if r.type in rule.types]


def backend(rtype: str = "google_compute_backend_service", **body) -> dict:
    return {"resource": {rtype: {"b": body}}}


def test_gcp_012_public_backends_need_a_cloud_armor_policy():
    assert judged("AIINFRA-GCP-012", backend(load_balancing_scheme="EXTERNAL_MANAGED", security_policy="${google_compute_security_policy.p.id}")) \
        == [Result.COMPLIANT]
    assert judged("AIINFRA-GCP-012", backend(load_balancing_scheme="EXTERNAL_MANAGED")) == [Result.NON_COMPLIANT]
    assert judged("AIINFRA-GCP-012", backend()) == [Result.NON_COMPLIANT]  # EXTERNAL is the provider's default scheme
    assert judged("AIINFRA-GCP-012", backend(load_balancing_scheme="INTERNAL_SELF_MANAGED")) == [Result.NOT_APPLICABLE]


def test_gcp_012_on_a_synthesized_endpoint():
    only_012 = [RULES_BY_ID["AIINFRA-GCP-012"]]
    bare = synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], **ENDPOINT))
    report = check_stack("test", bare, rules=only_012)
    assert not report.ok and "no Cloud Armor security_policy" in "\n".join(report.lines())

    def armored(s):
        armor = SecurityPolicy(s, "armor", project=PROJECT, name="acme-reco", peak_requests_per_second=40)
        InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], security_policy=armor.id, **ENDPOINT)
    assert check_stack("test", synth(armored), rules=only_012).ok


def test_gcp_013_judges_iap_only_when_the_spec_asks_for_authentication():
    asked = frozenset({"api_authentication"})
    on = backend(load_balancing_scheme="EXTERNAL_MANAGED", iap=[{"enabled": True}])
    off = backend(load_balancing_scheme="EXTERNAL_MANAGED")
    assert judged("AIINFRA-GCP-013", on, asked) == [Result.COMPLIANT]
    assert judged("AIINFRA-GCP-013", off, asked) == [Result.NON_COMPLIANT]
    assert judged("AIINFRA-GCP-013", backend(load_balancing_scheme="EXTERNAL_MANAGED", iap={"enabled": False}), asked) == [Result.NON_COMPLIANT]
    assert judged("AIINFRA-GCP-013", off) == [Result.NOT_APPLICABLE]  # no ask, no judgement
    regional_alb = backend("google_compute_region_backend_service", load_balancing_scheme="INTERNAL_MANAGED", protocol="HTTP")
    assert judged("AIINFRA-GCP-013", regional_alb, asked) == [Result.NON_COMPLIANT]
    passthrough = backend("google_compute_region_backend_service", protocol="TCP")  # internal passthrough Network Load Balancer
    assert judged("AIINFRA-GCP-013", passthrough, asked) == [Result.NOT_APPLICABLE]


def test_gcp_013_on_synthesized_endpoints_with_the_ask_recorded_in_the_stack():
    only_013 = [RULES_BY_ID["AIINFRA-GCP-013"]]
    open_public = synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], **ENDPOINT), requires=("api_authentication",))
    report = check_stack("test", open_public, rules=only_013)
    assert not report.ok and "without Identity-Aware Proxy" in "\n".join(report.lines())
    assert check_stack("test", synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], **ENDPOINT)), rules=only_013).ok
    public = synth(lambda s: InferenceEndpoint(s, "endpoint", domains=["reco.acme.example"], iap=IapAccess(members=CALLERS), **ENDPOINT),
                   requires=("api_authentication",))
    internal = synth(lambda s: InternalEndpoint(s, "endpoint", iap=IapAccess(members=CALLERS), **INTERNAL), requires=("api_authentication",))
    open_internal = synth(lambda s: InternalEndpoint(s, "endpoint", **INTERNAL), requires=("api_authentication",))
    assert check_stack("test", public, rules=only_013).ok and check_stack("test", internal, rules=only_013).ok
    assert not check_stack("test", open_internal, rules=only_013).ok
