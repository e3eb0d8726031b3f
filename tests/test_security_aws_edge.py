"""The AWS edge (issue 15): a WAF web ACL in front of the inference load balancer (per-client rate
limit from the planned peak, declared-body-size limit, AWS managed rules, redacted logs), OIDC
authentication on the HTTPS listener, the two policy rules that judge them, and one real apply of
a VPC + endpoint + associated web ACL against the local AWS API (moto)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


from aiinfra.cdk import App, LocalBackend, TerraformOutput, TerraformStack
from aiinfra.cdk import Testing as CdkTesting

from aiinfra.constructs._tf import AWS, provider, resource
from aiinfra.constructs.aws.cluster_network import ClusterNetwork
from aiinfra.constructs.aws.encryption_key import EncryptionKey
from aiinfra.constructs.aws.inference_endpoint import (
    InferenceEndpoint,
    OidcAuthentication,
)
from aiinfra.constructs.aws.web_acl import CLIENT_SHARE, WebAcl, greater_than_regex, rate_limit
from aiinfra.planner import rules as planner_rules
from aiinfra.policy import check_stack, require
from tests.tf_harness import (  # noqa: F401
    SKIP_NO_TERRAFORM,
    apply_plan_destroy,
    init,
    moto_server,
    run_terraform,
)

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/acme-reco/50dc6c495c0c9188"
OIDC = dict(issuer="https://idp.acme.example", authorization_endpoint="https://idp.acme.example/authorize",
            token_endpoint="https://idp.acme.example/oauth/token", user_info_endpoint="https://idp.acme.example/userinfo",
            client_id="reco-api", client_secret="${var.oidc_client_secret}")


def synth(build, requires: tuple[str, ...] = ()) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS, region="us-east-1")
    build(stack)
    if requires:  # recorded under "//", which Testing.synth leaves out: read the stack as the policy aspect does
        require(stack, *requires)
        return json.loads(json.dumps(stack.to_terraform()))
    return json.loads(CdkTesting.synth(stack))


def only(doc: dict, rtype: str) -> dict:
    (value,) = doc["resource"][rtype].values()
    return value


def acl_doc(**kw) -> dict:
    args = dict(name="acme-reco", peak_requests_per_second=40, kms_key_arn=KEY, resource_arn=LB)
    args.update(kw)
    return synth(lambda s: WebAcl(s, "waf", **args))


def rules(doc: dict) -> dict[str, dict]:
    return {r["name"]: r for r in only(doc, "aws_wafv2_web_acl")["rule"]}


def endpoint(s, **kw) -> InferenceEndpoint:
    args = dict(name="acme-reco", vpc_id="vpc-1", subnet_ids=["subnet-a", "subnet-b"], node_security_group_id="sg-nodes",
                autoscaling_group_name="acme-reco-asg", certificate_arn=CERT, requests_per_target=20.0, vpc_cidr="10.40.0.0/16")
    args.update(kw)
    return InferenceEndpoint(s, "ep", **args)


# ---- WebAcl: rate limit ------------------------------------------------------------------------

@pytest.mark.parametrize("peak, window, limit", [
    (40, 300, 1_200),  # the docstring's example: a tenth of the planned peak from one IP, over the window
    (25, 120, 300),
    (1, 300, 30),  # 0.1 x 300 is 30.000000000000004 in floats: still 30
    (400.1, 60, 2401),  # 2400.6 rounds up
    (3352, 60, 20_112),  # the reference example's 3,352/s peak: not the whole fleet's 201,120 a minute
])
def test_rate_limit_is_a_tenth_of_the_planned_peak_over_the_window(peak, window, limit):
    doc = acl_doc(peak_requests_per_second=peak, window_seconds=window)
    statement = rules(doc)["rate-limit-per-ip"]["statement"]["rate_based_statement"]
    assert statement == {"limit": limit, "aggregate_key_type": "IP", "evaluation_window_sec": window}
    assert rules(doc)["rate-limit-per-ip"]["action"] == {"block": {}}
    assert rate_limit(peak * CLIENT_SHARE, window) == limit and CLIENT_SHARE == planner_rules.RATE_LIMIT_CLIENT_SHARE


def test_a_client_rate_given_replaces_the_share():
    doc = acl_doc(peak_requests_per_second=400, client_requests_per_second=25, window_seconds=60)
    assert rules(doc)["rate-limit-per-ip"]["statement"]["rate_based_statement"]["limit"] == 1500
    with pytest.raises(ValueError, match="client_requests_per_second must be a positive number, got 0"):
        acl_doc(client_requests_per_second=0)


def test_rate_limit_is_clamped_to_what_waf_accepts():
    assert rate_limit(0.01, 60) == 10  # WAF's minimum
    assert rate_limit(1e8, 600) == 2_000_000_000  # and maximum
    assert rules(acl_doc(peak_requests_per_second=0.05, window_seconds=60))["rate-limit-per-ip"]["statement"][
        "rate_based_statement"]["limit"] == 10


# ---- WebAcl: managed rules, body size -----------------------------------------------------------

def test_managed_rule_groups_count_every_body_rule_so_prompts_pass_and_block_the_rest():
    found = rules(acl_doc())
    common = found["aws-common-rule-set"]
    assert common["override_action"] == {"none": {}}
    count = {"count": {}}
    assert common["statement"]["managed_rule_group_statement"] == {
        "name": "AWSManagedRulesCommonRuleSet", "vendor_name": "AWS",
        "rule_action_override": [{"name": n, "action_to_use": count} for n in (
            "SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY")]}
    bad_inputs = found["aws-known-bad-inputs"]
    assert bad_inputs["override_action"] == {"none": {}}
    assert bad_inputs["statement"]["managed_rule_group_statement"] == {
        "name": "AWSManagedRulesKnownBadInputsRuleSet", "vendor_name": "AWS",
        "rule_action_override": [{"name": "JavaDeserializationRCE_BODY", "action_to_use": count}]}  # Log4JRCE_BODY still blocks
    # Only body rules are overridden: the URI, query, header and cookie signatures keep AWS's block.
    overridden = [o["name"] for r in (common, bad_inputs) for o in r["statement"]["managed_rule_group_statement"]["rule_action_override"]]
    assert all(n.endswith("_BODY") for n in overridden)
    assert [r["name"] for r in sorted(found.values(), key=lambda r: r["priority"])] == [
        "rate-limit-per-ip", "body-size-limit", "aws-common-rule-set", "aws-known-bad-inputs"]


def test_body_size_rule_blocks_declared_bodies_over_the_limit():
    rule = rules(acl_doc())["body-size-limit"]
    statement = rule["statement"]["regex_match_statement"]
    assert rule["action"] == {"block": {}}
    assert statement["field_to_match"] == {"single_header": {"name": "content-length"}}
    assert statement["text_transformation"] == [{"priority": 0, "type": "NONE"}]
    over = re.compile(statement["regex_string"])  # the default limit: 10 MiB
    assert [bool(over.match(v)) for v in ("10485760", "10485761", "0010485761", "99999999", "104857600", "8193", "0")] == [
        False, True, True, True, True, False, False]
    assert len(statement["regex_string"]) <= 512 and "(" not in statement["regex_string"]  # WAF's length limit, no groups


@pytest.mark.parametrize("limit", [1, 9, 10, 99, 8192, 10_485_760, 999_999, 1_000_000_007])
def test_greater_than_regex_matches_exactly_the_numbers_above_the_limit(limit):
    over = re.compile(greater_than_regex(limit))
    samples = set(range(1200)) | {limit - 1, limit, limit + 1, limit * 10, limit * 10 - 1, 10 ** len(str(limit)), 2 * limit}
    for value in samples:
        for text in (str(value), f"000{value}"):
            assert bool(over.match(text)) is (value > limit), (limit, text)
    assert not over.match("12a") and not over.match("")


# ---- WebAcl: metrics, logging, association -------------------------------------------------------

def test_every_rule_and_the_acl_publish_metrics_and_sampled_requests():
    doc = acl_doc()
    acl = only(doc, "aws_wafv2_web_acl")
    configs = [acl["visibility_config"]] + [r["visibility_config"] for r in acl["rule"]]
    assert all(c["cloudwatch_metrics_enabled"] is True and c["sampled_requests_enabled"] is True for c in configs)
    assert len({c["metric_name"] for c in configs}) == 5
    assert (acl["scope"], acl["default_action"]) == ("REGIONAL", {"allow": {}})


def test_logs_go_to_an_encrypted_aws_waf_logs_group_with_tokens_redacted():
    doc = acl_doc()
    group = only(doc, "aws_cloudwatch_log_group")
    assert group["name"] == "aws-waf-logs-acme-reco" and group["kms_key_id"] == KEY and group["retention_in_days"] == 365
    logging = only(doc, "aws_wafv2_web_acl_logging_configuration")
    (acl_name,) = doc["resource"]["aws_wafv2_web_acl"]
    (group_name,) = doc["resource"]["aws_cloudwatch_log_group"]
    assert logging["resource_arn"] == f"${{aws_wafv2_web_acl.{acl_name}.arn}}"
    assert logging["log_destination_configs"] == [f"${{aws_cloudwatch_log_group.{group_name}.arn}}"]
    assert logging["redacted_fields"] == [{"single_header": {"name": "authorization"}}, {"single_header": {"name": "cookie"}}]
    assert only(acl_doc(log_retention_days=731), "aws_cloudwatch_log_group")["retention_in_days"] == 731


def test_web_acl_is_associated_only_with_a_given_resource():
    doc = acl_doc()
    association = only(doc, "aws_wafv2_web_acl_association")
    (acl_name,) = doc["resource"]["aws_wafv2_web_acl"]
    assert association == {"resource_arn": LB, "web_acl_arn": f"${{aws_wafv2_web_acl.{acl_name}.arn}}"}
    assert "aws_wafv2_web_acl_association" not in acl_doc(resource_arn=None)["resource"]


def test_web_acl_exposes_its_arn_id_name_limit_and_log_group():
    seen = {}

    def build(s):
        seen["acl"] = WebAcl(s, "waf", name="acme-reco", peak_requests_per_second=3, kms_key_arn=KEY, window_seconds=60)
    synth(build)
    acl = seen["acl"]
    assert (acl.name, acl.rate_limit, acl.log_group_name) == ("acme-reco", 18, "aws-waf-logs-acme-reco")  # 10% of 3/s x 60 s
    assert acl.arn.startswith("${") and acl.id.startswith("${")


def test_bad_web_acl_props_are_reported_together():
    with pytest.raises(ValueError) as err:
        acl_doc(name="acme reco", peak_requests_per_second=0, window_seconds=90, max_body_bytes=0, kms_key_arn="", log_retention_days=366,
                redacted_headers=("Authorization",))
    text = str(err.value)
    for part in ("name must be 1-128", "peak_requests_per_second must be a positive number, got 0",
                 "window_seconds must be one of 60, 120, 300, 600, got 90", "max_body_bytes must be a whole number",
                 "kms_key_arn is required", "log_retention_days must be one of", "got 366", "redacted_headers must be lower-case"):
        assert part in text, part


# ---- InferenceEndpoint(authentication=...) ------------------------------------------------------

def test_oidc_listener_authenticates_first_then_forwards():
    doc = synth(lambda s: endpoint(s, authentication=OidcAuthentication(**OIDC)))
    first, second = only(doc, "aws_lb_listener")["default_action"]
    assert (first["type"], first["order"], second["type"], second["order"]) == ("authenticate-oidc", 1, "forward", 2)
    assert first["authenticate_oidc"] == {**{k: v for k, v in OIDC.items()}, "scope": "openid", "on_unauthenticated_request": "authenticate",
                                          "session_timeout": 3600}
    assert second["target_group_arn"].startswith("${aws_lb_target_group.")
    egress = [r for r in doc["resource"]["aws_vpc_security_group_egress_rule"].values() if r["from_port"] == 443]
    assert [(r["cidr_ipv4"], r["to_port"]) for r in egress] == [("0.0.0.0/0", 443)]  # the ALB calls the IdP's token endpoint


def test_listener_without_authentication_only_forwards_and_the_endpoint_exposes_its_arn():
    doc = synth(lambda s: TerraformOutput(s, "lb_arn", value=endpoint(s).arn))
    (action,) = only(doc, "aws_lb_listener")["default_action"]
    assert action["type"] == "forward" and "order" not in action
    assert all(r["from_port"] != 443 for r in doc["resource"]["aws_vpc_security_group_egress_rule"].values())
    (lb_name,) = doc["resource"]["aws_lb"]
    assert doc["output"]["lb_arn"]["value"] == f"${{aws_lb.{lb_name}.arn}}"


def test_bearer_jwts_skip_the_oidc_redirect_through_one_listener_rule_that_aws_012_judges():
    seen = {}

    def build(s):
        seen["ep"] = endpoint(s, authentication=OidcAuthentication(**OIDC), forward_bearer_tokens=True)
    doc = synth(build, requires=("api_authentication",))
    rule = only(doc, "aws_lb_listener_rule")
    assert rule["priority"] == 1 and rule["listener_arn"].startswith("${aws_lb_listener.")
    assert rule["condition"] == [{"http_header": {"http_header_name": "Authorization", "values": ["Bearer eyJ*"]}}]
    assert [a["type"] for a in rule["action"]] == ["forward"]
    # The listener still signs browsers in; the rule is unauthenticated at the load balancer, and the policy says so.
    assert [a["type"] for a in only(doc, "aws_lb_listener")["default_action"]] == ["authenticate-oidc", "forward"]
    assert violations(doc, "AIINFRA-AWS-012") == ["aws_lb_listener_rule"] and seen["ep"].bearer_rule is not None
    assert "aws_lb_listener_rule" not in synth(lambda s: endpoint(s, authentication=OidcAuthentication(**OIDC)))["resource"]
    with pytest.raises(ValueError, match="forward_bearer_tokens needs authentication"):
        synth(lambda s: endpoint(s, forward_bearer_tokens=True))


def test_long_generations_keep_their_connection_and_drain_on_scale_in():
    doc = synth(lambda s: endpoint(s, response_timeout_seconds=420))
    assert only(doc, "aws_lb")["idle_timeout"] == 420
    assert only(doc, "aws_lb_target_group")["deregistration_delay"] == "420"
    long = synth(lambda s: endpoint(s, response_timeout_seconds=4000))
    assert only(long, "aws_lb")["idle_timeout"] == 4000 and only(long, "aws_lb_target_group")["deregistration_delay"] == "3600"
    assert only(synth(lambda s: endpoint(s)), "aws_lb")["idle_timeout"] == 60  # AWS's default when not asked
    for bad in (0, 4001, 30.5):
        with pytest.raises(ValueError, match="response_timeout_seconds must be a whole number of seconds from 1 to 4,000"):
            synth(lambda s, bad=bad: endpoint(s, response_timeout_seconds=bad))


def test_bad_oidc_props_are_reported_together():
    with pytest.raises(ValueError) as err:
        OidcAuthentication(**{**OIDC, "issuer": "http://idp.acme.example", "client_id": " ", "on_unauthenticated_request": "redirect",
                              "session_timeout_seconds": 0})
    text = str(err.value)
    for part in ("issuer must be a full https:// URL, got 'http://idp.acme.example'", "client_id must not be empty",
                 "on_unauthenticated_request must be one of authenticate, deny, allow, got 'redirect'",
                 "session_timeout_seconds must be between 1 and 604800"):
        assert part in text, part
    with pytest.raises(ValueError, match="token_endpoint must be a full https:// URL"):
        OidcAuthentication(**{**OIDC, "token_endpoint": "idp.acme.example/token"})


# ---- policy rules AIINFRA-AWS-011 / 012 -----------------------------------------------------------

def violations(doc: dict, rule: str) -> list[str]:
    return [v.resource.type for v in check_stack("test", doc).violations if v.rule.id == rule]


def test_public_load_balancer_without_a_web_acl_fails_aws_011_and_with_one_passes():
    assert violations(synth(lambda s: endpoint(s)), "AIINFRA-AWS-011") == ["aws_lb"]

    def protected(s):
        ep = endpoint(s)
        WebAcl(s, "waf", name="acme-reco", peak_requests_per_second=40, kms_key_arn=KEY, resource_arn=ep.arn)
    assert violations(synth(protected), "AIINFRA-AWS-011") == []
    assert violations(synth(lambda s: endpoint(s, internet_facing=False)), "AIINFRA-AWS-011") == []  # internal: not at the edge


def test_web_acl_associated_with_another_load_balancer_does_not_cover_this_one():
    def other(s):
        endpoint(s)
        WebAcl(s, "waf", name="acme-reco", peak_requests_per_second=40, kms_key_arn=KEY, resource_arn=LB)
    assert violations(synth(other), "AIINFRA-AWS-011") == ["aws_lb"]


def test_forwarding_listener_fails_aws_012_only_when_the_spec_asks_for_authentication():
    assert violations(synth(lambda s: endpoint(s)), "AIINFRA-AWS-012") == []  # no ask: not applicable
    assert violations(synth(lambda s: endpoint(s), requires=("api_authentication",)), "AIINFRA-AWS-012") == ["aws_lb_listener"]
    authenticated = synth(lambda s: endpoint(s, authentication=OidcAuthentication(**OIDC)), requires=("api_authentication",))
    assert violations(authenticated, "AIINFRA-AWS-012") == []
    assert check_stack("test", authenticated).passed > 0


def test_authentication_that_lets_unauthenticated_callers_through_fails_aws_012():
    allow = OidcAuthentication(**OIDC, on_unauthenticated_request="allow")
    assert violations(synth(lambda s: endpoint(s, authentication=allow), requires=("api_authentication",)), "AIINFRA-AWS-012") == [
        "aws_lb_listener"]
    deny = OidcAuthentication(**OIDC, on_unauthenticated_request="deny")
    assert violations(synth(lambda s: endpoint(s, authentication=deny), requires=("api_authentication",)), "AIINFRA-AWS-012") == []


def test_aws_012_reads_action_order_and_judges_listener_rules():
    def with_rule(s):
        ep = endpoint(s, authentication=OidcAuthentication(**OIDC))
        # a rule that forwards /admin straight to the targets bypasses the listener's authentication
        resource(s, "bypass", "aws_lb_listener_rule", listener_arn=ep.listener.get_string_attribute("arn"), priority=10,
                 condition=[{"path_pattern": {"values": ["/admin/*"]}}],
                 action=[{"type": "forward", "order": 1, "target_group_arn": ep.target_group.get_string_attribute("arn")},
                         {"type": "authenticate-oidc", "order": 2, "authenticate_oidc": OidcAuthentication(**OIDC).action()}])
    assert violations(synth(with_rule, requires=("api_authentication",)), "AIINFRA-AWS-012") == ["aws_lb_listener_rule"]


# ---- real apply against moto --------------------------------------------------------------------

def edge_stack(outdir: Path, certificate_arn: str, image_id: str) -> Path:
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "edge")
    LocalBackend(stack, path=str(outdir / "terraform.edge.tfstate"))  # the test's own folder, not the working directory
    provider(stack, "aws", AWS, region="us-east-1")
    key = EncryptionKey(stack, "key", alias="acme-edge", deletion_window_days=7)
    net = ClusterNetwork(stack, "net", name="acme-edge", zone_ids=["use1-az1", "use1-az2"], public_zone_ids=["use1-az1", "use1-az2"],
                         log_kms_key_arn=key.arn, efa=False)
    template = resource(stack, "lt", "aws_launch_template", name="acme-edge", image_id=image_id, instance_type="t3.micro",
                        vpc_security_group_ids=[net.node_security_group_id], metadata_options={"http_tokens": "required"})
    group = resource(stack, "asg", "aws_autoscaling_group", name="acme-edge", min_size=0, max_size=1, desired_capacity=0,
                     vpc_zone_identifier=net.private_subnet_ids,
                     launch_template={"id": template.get_string_attribute("id"), "version": "$Latest"})
    ep = endpoint(stack, name="acme-edge", vpc_id=net.vpc_id, subnet_ids=net.public_subnet_ids, node_security_group_id=net.node_security_group_id,
                  autoscaling_group_name=group.get_string_attribute("name"), certificate_arn=certificate_arn, vpc_cidr=net.cidr,
                  deletion_protection=False, authentication=OidcAuthentication(**{**OIDC, "client_secret": "not-a-real-secret"}),
                  forward_bearer_tokens=True, response_timeout_seconds=420)
    waf = WebAcl(stack, "waf", name="acme-edge", peak_requests_per_second=400, kms_key_arn=key.arn, resource_arn=ep.arn)
    for name, value in {"web_acl_arn": waf.arn, "load_balancer_arn": ep.arn, "log_group": waf.log_group_name}.items():
        TerraformOutput(stack, name, value=value)
    app.synth()
    return outdir / "stacks" / "edge"


@SKIP_NO_TERRAFORM
def test_endpoint_behind_web_acl_validates_applies_plans_empty_and_destroys(tmp_path, moto_server):
    """The stack passes ``terraform validate`` with the real aws provider 5.100.0 (argument names,
    rate limit range, window values, text transformation and retention enums are the provider's
    checks), then applies against moto, re-plans empty and destroys. moto 5.2.5 serves every WAFv2
    call the provider makes here (CreateWebACL with rate-based and managed rule statements,
    GetWebACL, ListTagsForResource, AssociateWebACL / GetWebACLForResource, Put/Get/
    DeleteLoggingConfiguration) but does not evaluate rules: what the rules do to requests is
    covered by the construct tests above, not by this apply."""
    from tests.test_e2e_aws import ignore_moto_quirks, moto_ami, self_signed_certificate

    env = moto_server.env()
    stack = edge_stack(tmp_path / "out", self_signed_certificate(env), moto_ami(env))
    init(stack, backend=False)
    assert '"valid": true' in run_terraform(["validate", "-json"], stack).stdout
    ignore_moto_quirks(stack)

    def check(outputs: dict) -> None:
        waf = moto_server.client("wafv2")
        acl = waf.get_web_acl_for_resource(ResourceArn=outputs["load_balancer_arn"])["WebACL"]
        assert acl["ARN"] == outputs["web_acl_arn"]
        by_name = {r["Name"]: r for r in acl["Rules"]}
        assert by_name["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == 12_000  # 10% of 400/s x 300 s
        override = by_name["aws-common-rule-set"]["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
        assert [o["Name"] for o in override][:2] == ["SizeRestrictions_BODY", "CrossSiteScripting_BODY"]
        assert all(o["ActionToUse"] == {"Count": {}} for o in override)
        logging = waf.get_logging_configuration(ResourceArn=outputs["web_acl_arn"])["LoggingConfiguration"]
        assert logging["LogDestinationConfigs"][0].split(":log-group:")[1].startswith("aws-waf-logs-")
        assert logging["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}, {"SingleHeader": {"Name": "cookie"}}]
        (group,) = moto_server.client("logs").describe_log_groups(logGroupNamePrefix=outputs["log_group"])["logGroups"]
        assert group["retentionInDays"] == 365 and group.get("kmsKeyId")
        elb = moto_server.client("elbv2")
        (listener,) = elb.describe_listeners(LoadBalancerArn=outputs["load_balancer_arn"])["Listeners"]
        assert [(a["Type"], a["Order"]) for a in sorted(listener["DefaultActions"], key=lambda a: a["Order"])] == [
            ("authenticate-oidc", 1), ("forward", 2)]
        # Bearer JWTs skip the OIDC redirect (the model server verifies them); long generations keep their connection.
        (bearer,) = [r for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
        assert bearer["Priority"] == "1" and bearer["Actions"][0]["Type"] == "forward"
        assert bearer["Conditions"][0]["HttpHeaderConfig"] == {"HttpHeaderName": "Authorization", "Values": ["Bearer eyJ*"]}
        attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=outputs["load_balancer_arn"])["Attributes"]}
        assert attrs["idle_timeout.timeout_seconds"] == "420"

    apply_plan_destroy(stack, env, after_apply=check)
    assert "acme-edge" not in [a["Name"] for a in moto_server.client("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]]
