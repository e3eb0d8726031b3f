"""AWS WAF in front of an inference endpoint's load balancer: a per-client rate limit sized as a
share of the workload's planned peak, a declared-body-size limit, and AWS's baseline managed rule
groups with their body signatures counting (prompts carry SQL, HTML, paths and URLs), with the
blocked and counted requests logged (tokens redacted) to an encrypted CloudWatch Logs group."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource

# Rate-based rules: the evaluation window is 60, 120, 300 or 600 s (300 is AWS's default) and the limit
# at least 10 (https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-high-level-settings.html);
# the limit is at most 2,000,000,000 (https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html).
WINDOWS_SECONDS = (60, 120, 300, 600)
MIN_RATE_LIMIT = 10
MAX_RATE_LIMIT = 2_000_000_000
# WAF on an Application Load Balancer sees the first 8 KB of a body, a fixed limit
# (https://docs.aws.amazon.com/waf/latest/developerguide/web-acl-setting-body-inspection-limit.html).
ALB_BODY_INSPECTION_BYTES = 8 * 1024
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Managed rule groups and their rules that read the request body
# (https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html): the core rule set's
# SizeRestrictions_BODY blocks every body over 8 KB (8,192 bytes); its CrossSiteScripting_BODY, GenericLFI_BODY,
# GenericRFI_BODY and EC2MetaDataSSRF_BODY, and the known-bad-inputs set's JavaDeserializationRCE_BODY, match HTML, "../"
# paths, URLs and serialized-object markers, which ordinary prompts quote. They count (labelled, logged, in the metrics)
# instead of blocking; every rule on the URI, query string, headers and cookies keeps AWS's action, and so does
# Log4JRCE_BODY (a "${jndi:" lookup is an exploit payload, not prose; Cloud Armor's cve-canary rule denies it too). A body rule
# AWS adds in a later version of a group (ReactJSRCE_BODY in the known-bad-inputs set's newest) blocks until listed here.
COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
BODY_SIZE_RULE = "SizeRestrictions_BODY"
COMMON_BODY_RULES = (BODY_SIZE_RULE, "CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY")
KNOWN_BAD_BODY_RULES = ("JavaDeserializationRCE_BODY",)
# One client address's default share of the planned peak (the planner's rules.RATE_LIMIT_CLIENT_SHARE): a tenth of the
# largest group, so one client can neither drive scale-out to the maximum nor bill more than about a tenth of it.
CLIENT_SHARE = 0.10
# A log destination's name must start with aws-waf-logs-
# (https://docs.aws.amazon.com/waf/latest/APIReference/API_LoggingConfiguration.html).
LOG_GROUP_PREFIX = "aws-waf-logs-"
# Retention values CloudWatch Logs accepts (aws provider 5.100.0 validates the same list).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# Web ACL and rule names: 1-128 of [A-Za-z0-9_-] (https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html).
_NAME = re.compile(r"^[\w-]{1,128}$", re.ASCII)
# A regex_string is 1-512 characters (https://docs.aws.amazon.com/waf/latest/APIReference/API_RegexMatchStatement.html).
MAX_REGEX_CHARS = 512
# REGIONAL protects load balancers (and API Gateway, AppSync, ...) in the provider's region; CLOUDFRONT protects
# distributions and must be created in us-east-1 (https://docs.aws.amazon.com/waf/latest/APIReference/API_CreateWebACL.html, Scope).
SCOPES = ("REGIONAL", "CLOUDFRONT")
_HEADER = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$")


def rate_limit(client_requests_per_second: float, window_seconds: int) -> int:
    """Requests one client IP may send in ``window_seconds``: its rate over the window,
    ``ceil(rate x window)``, clamped to what WAF accepts (10 to 2,000,000,000)."""
    # round() first: 0.1 x 300 is 30.000000000000004 in binary floating point, which is 30, not 31.
    wanted = math.ceil(round(client_requests_per_second * window_seconds, 6))
    return min(max(wanted, MIN_RATE_LIMIT), MAX_RATE_LIMIT)


def greater_than_regex(limit: int) -> str:
    """A regex matching the decimal integers above ``limit`` (leading zeros allowed), built from
    plain PCRE only: anchors, classes, counted repeats and alternation, no groups (WAF supports no
    capturing groups: https://docs.aws.amazon.com/waf/latest/developerguide/waf-regex-pattern-support.html)."""
    digits = str(limit)
    n = len(digits)
    branches = [rf"^0*[1-9]\d{{{n},}}$"]  # more digits than the limit
    for i, d in enumerate(digits):  # as many digits: equal up to position i, then a larger digit
        if d == "9":
            continue
        rest = n - i - 1
        higher = "9" if d == "8" else f"[{int(d) + 1}-9]"
        branches.append(f"^0*{digits[:i]}{higher}" + (rf"\d{{{rest}}}" if rest > 1 else r"\d" if rest == 1 else "") + "$")
    return "|".join(branches)


def _visibility(metric: str) -> dict[str, Any]:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}


class WebAcl(Construct):
    """A regional AWS WAF web ACL for an Application Load Balancer (default action allow), with
    CloudWatch metrics on every rule and on the ACL, and full request logs.

    Rules, in evaluation order:

    1. ``rate-limit-per-ip`` blocks a client IP that sends more than ``rate_limit`` requests in any
       ``window_seconds``: ``rate_limit = ceil(client_requests_per_second x window_seconds)``,
       clamped to WAF's 10 to 2,000,000,000. The client's rate defaults to ``CLIENT_SHARE`` (10%)
       of ``peak_requests_per_second``: never the whole peak, or one client could keep the largest
       group busy and drive scale-out to it. E.g. a 40 req/s peak over the default 300 s window
       allows 1,200 requests per IP. A caller that sends more from one address (a backend behind
       one NAT address) needs its own rate, ``client_requests_per_second``. WAF counts the IP the
       connection comes from and enforces near, not exactly at, the limit.
    2. ``body-size-limit`` blocks requests whose ``Content-Length`` declares more than
       ``max_body_bytes``. WAF on an ALB only sees a body's first 8 KB, so the size it can judge
       is the declared one, matched as a number by a regex on the header. Limits of this: a body
       sent without ``Content-Length`` (HTTP/1.1 chunked, or HTTP/2 without the header) is not
       judged, so the model server must still cap what it reads; a body longer than it declares
       is cut off by HTTP framing, not by WAF.
    3. ``aws-common-rule-set`` (AWSManagedRulesCommonRuleSet, the core rule set) with its body
       rules (``COMMON_BODY_RULES``) set to count: ``SizeRestrictions_BODY`` blocks every body
       over 8 KB, and prompts, images and tensors are larger (rule 2 is the size limit instead);
       the cross-site scripting, LFI, RFI and EC2 metadata body rules refuse prompts that quote
       HTML, paths, URLs or 169.254.169.254. Their labels and count metrics still show such
       requests; the URI, query string, header and cookie rules block.
    4. ``aws-known-bad-inputs`` (AWSManagedRulesKnownBadInputsRuleSet) with ``KNOWN_BAD_BODY_RULES``
       (``JavaDeserializationRCE_BODY``) set to count the same way; ``Log4JRCE_BODY`` blocks (a
       ``${jndi:`` lookup is an exploit payload, as on GCP).

    About 905 WCUs, inside the 1,500 a web ACL has without extra charge.

    Logs go to the CloudWatch Logs group ``aws-waf-logs-<name>`` (WAF requires the prefix),
    encrypted with ``kms_key_arn`` (its key policy must let ``logs.<region>.amazonaws.com`` use it,
    as ``EncryptionKey``'s does); the ``authorization`` and ``cookie`` headers (bearer tokens, ALB
    session cookies) are redacted. WAF adds the log group's resource policy itself when logging is
    put (https://docs.aws.amazon.com/waf/latest/APIReference/API_LoggingConfiguration.html), so the
    deploying role needs ``logs:CreateLogDelivery``, ``logs:PutResourcePolicy``,
    ``logs:DescribeResourcePolicies`` and ``logs:DescribeLogGroups``
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-CWL.html).

    Example::

        endpoint = InferenceEndpoint(stack, "endpoint", ...)
        WebAcl(stack, "waf", name="acme-prod-reco", peak_requests_per_second=40, kms_key_arn=key.arn,
               resource_arn=endpoint.arn)

    Args:
        name: web ACL name (1-128 of letters, digits, ``-``, ``_``); also names the metrics and the log group.
        peak_requests_per_second: the workload's planned peak request rate (all clients together).
        client_requests_per_second: what one client IP may send a second; default ``CLIENT_SHARE``
            (10%) of the peak.
        kms_key_arn: the key that encrypts the log group.
        window_seconds: the rate rule's evaluation window, 60, 120, 300 or 600; default 300 (AWS's).
        max_body_bytes: the largest declared request body; default 10 MiB (10,485,760 bytes).
        resource_arn: the load balancer to protect; left out, the ACL is not associated (associate it
            with ``aws_wafv2_web_acl_association`` yourself).
        log_retention_days: how long request logs are kept; default 365 (a CloudWatch Logs value).
        redacted_headers: request headers whose values never reach the logs (lower case); default
            ``authorization`` and ``cookie``.
        log_all_requests: log every request, not only the blocked and counted ones (default off: a
            full log of a busy endpoint costs more than the web ACL).
        scope_type: ``"REGIONAL"`` (default: a load balancer's) or ``"CLOUDFRONT"`` (a distribution's, which names the
            ACL's ``arn`` as its ``web_acl_id``; no ``resource_arn`` then). A CLOUDFRONT ACL, its log group and the log
            group's key must be in us-east-1: pass ``provider`` (an ``AwsProvider`` of us-east-1) when the stack's region
            is another, and a ``kms_key_arn`` of a us-east-1 key.
        provider: the aws provider configuration the ACL, its log group and logging are created with; default the stack's.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, peak_requests_per_second: float, kms_key_arn: str,
                 window_seconds: int = 300, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, resource_arn: str | None = None,
                 log_retention_days: int = 365, redacted_headers: Sequence[str] = ("authorization", "cookie"),
                 log_all_requests: bool = False, tags: dict[str, str] | None = None, client_requests_per_second: float | None = None,
                 scope_type: str = "REGIONAL", provider: Any = None):
        super().__init__(scope, id)
        problems = []
        if scope_type not in SCOPES:
            problems.append(f"scope_type must be one of {', '.join(SCOPES)}, got {scope_type!r}")
        elif scope_type == "CLOUDFRONT" and resource_arn:
            problems.append("resource_arn is for REGIONAL web ACLs: a CloudFront distribution names a CLOUDFRONT web ACL in its web_acl_id")
        if not _NAME.match(name):
            problems.append(f"name must be 1-128 letters, digits, '-' or '_' (a web ACL name), got {name!r}")
        if not (isinstance(peak_requests_per_second, (int, float)) and math.isfinite(peak_requests_per_second)
                and peak_requests_per_second > 0):
            problems.append(f"peak_requests_per_second must be a positive number, got {peak_requests_per_second!r}")
        if client_requests_per_second is not None and not (
                isinstance(client_requests_per_second, (int, float)) and not isinstance(client_requests_per_second, bool)
                and math.isfinite(client_requests_per_second) and client_requests_per_second > 0):
            problems.append(f"client_requests_per_second must be a positive number, got {client_requests_per_second!r}")
        if window_seconds not in WINDOWS_SECONDS:
            problems.append(f"window_seconds must be one of {', '.join(map(str, WINDOWS_SECONDS))}, got {window_seconds!r}")
        regex = None
        if not (isinstance(max_body_bytes, int) and max_body_bytes >= 1):
            problems.append(f"max_body_bytes must be a whole number of bytes, at least 1, got {max_body_bytes!r}")
        else:
            regex = greater_than_regex(max_body_bytes)
            if len(regex) > MAX_REGEX_CHARS:
                problems.append(f"max_body_bytes {max_body_bytes} needs a {len(regex)}-character regex, WAF takes {MAX_REGEX_CHARS}")
        if not kms_key_arn:
            problems.append("kms_key_arn is required: the request logs are encrypted with a customer key")
        if log_retention_days not in RETENTION_DAYS:
            problems.append(f"log_retention_days must be one of CloudWatch Logs' values ({', '.join(map(str, RETENTION_DAYS))}), "
                            f"got {log_retention_days!r}")
        bad_headers = [h for h in redacted_headers if not _HEADER.match(h)]
        if bad_headers:
            problems.append(f"redacted_headers must be lower-case header names, got {bad_headers!r}")
        if problems:
            raise ValueError("; ".join(problems))

        tags = dict(tags or {})
        self.name = name
        self.client_requests_per_second: float = (client_requests_per_second if client_requests_per_second is not None
                                                  else peak_requests_per_second * CLIENT_SHARE)
        self.rate_limit: int = rate_limit(self.client_requests_per_second, window_seconds)
        self.body_size_regex: str = regex or ""
        rules = [
            {"name": "rate-limit-per-ip", "priority": 10, "action": {"block": {}},
             "statement": {"rate_based_statement": {"limit": self.rate_limit, "aggregate_key_type": "IP",
                                                    "evaluation_window_sec": window_seconds}},
             "visibility_config": _visibility(f"{name}-rate-limit-per-ip")},
            {"name": "body-size-limit", "priority": 20, "action": {"block": {}},
             "statement": {"regex_match_statement": {"regex_string": self.body_size_regex,
                                                     "field_to_match": {"single_header": {"name": "content-length"}},
                                                     "text_transformation": [{"priority": 0, "type": "NONE"}]}},
             "visibility_config": _visibility(f"{name}-body-size-limit")},
            {"name": "aws-common-rule-set", "priority": 30, "override_action": {"none": {}},
             "statement": {"managed_rule_group_statement": {
                 "name": COMMON_RULE_SET, "vendor_name": "AWS",
                 # prompts quote HTML, paths and URLs and exceed 8 KB; rule body-size-limit judges size instead
                 "rule_action_override": [{"name": r, "action_to_use": {"count": {}}} for r in COMMON_BODY_RULES]}},
             "visibility_config": _visibility(f"{name}-aws-common-rule-set")},
            {"name": "aws-known-bad-inputs", "priority": 40, "override_action": {"none": {}},
             "statement": {"managed_rule_group_statement": {
                 "name": KNOWN_BAD_INPUTS, "vendor_name": "AWS",
                 "rule_action_override": [{"name": r, "action_to_use": {"count": {}}} for r in KNOWN_BAD_BODY_RULES]}},
             "visibility_config": _visibility(f"{name}-aws-known-bad-inputs")},
        ]
        self.scope_type = scope_type
        self.web_acl = resource(self, "web-acl", "aws_wafv2_web_acl", name=name, scope=scope_type,
                                description=f"Edge filtering for {name}: per-client rate, body size, AWS managed rules",
                                default_action={"allow": {}}, rule=rules, visibility_config=_visibility(name), tags=tags)
        self.arn: str = self.web_acl.get_string_attribute("arn")
        self.id: str = self.web_acl.get_string_attribute("id")
        self.log_group_name = f"{LOG_GROUP_PREFIX}{name}"
        self.log_group = resource(self, "logs", "aws_cloudwatch_log_group", name=self.log_group_name, retention_in_days=log_retention_days,
                                  kms_key_id=kms_key_arn, tags=tags)
        self.logging = resource(self, "logging", "aws_wafv2_web_acl_logging_configuration", resource_arn=self.arn,
                                log_destination_configs=[self.log_group.get_string_attribute("arn")],
                                redacted_fields=[{"single_header": {"name": h}} for h in redacted_headers],
                                # Blocked and counted requests only: a full log of a 1,000/s endpoint is ~4 TB of CloudWatch
                                # Logs a month (~1.5 KB a record at $0.50/GB ingested, https://aws.amazon.com/cloudwatch/pricing/).
                                # https://docs.aws.amazon.com/waf/latest/developerguide/logging-management.html (log filtering)
                                logging_filter=None if log_all_requests else {
                                    "default_behavior": "DROP",
                                    "filter": [{"behavior": "KEEP", "requirement": "MEETS_ANY",
                                                "condition": [{"action_condition": {"action": "BLOCK"}},
                                                              {"action_condition": {"action": "COUNT"}}]}]})
        if provider is not None:
            for r in (self.web_acl, self.log_group, self.logging):
                r.provider = provider
        self.association = None
        if resource_arn:
            self.association = resource(self, "association", "aws_wafv2_web_acl_association", resource_arn=resource_arn, web_acl_arn=self.arn)
