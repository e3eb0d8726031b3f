"""Cloud Armor in front of an inference endpoint's backend service: a per-client rate limit sized
as a share of the workload's planned peak, a declared-body-size limit, and Google's preconfigured
WAF rules (OWASP CRS 3.3) refusing requests that carry no body and only previewing prompt bodies,
the same edge filtering ``aws.WebAcl`` gives the AWS endpoint."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import check_name

# Rate-based rules (https://cloud.google.com/armor/docs/rate-limiting-overview): a throttle's threshold count is 1 to
# 1,000,000 (a rate-based ban's only 1 to 10,000), over an interval of 10, 30, 60, 120, 180, 240, 300, 600, 900, 1200,
# 1800, 2700 or 3600 seconds; the exceed action is deny(403|404|429|502), 429 recommended. The threshold applies to each
# backend service the policy is attached to, separately.
INTERVALS_SECONDS = (10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600)
MAX_THROTTLE_COUNT = 1_000_000
DEFAULT_INTERVAL_SECONDS = 60
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# Preconfigured WAF rules, OWASP CRS 3.3, "-stable" names (https://cloud.google.com/armor/docs/waf-rules). The
# default set leaves out the language-specific ones (php, java, nodejs: the model servers run none of them) and
# methodenforcement (the model server's routing already refuses methods it does not serve).
WAF_RULE_SETS = ("sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rfi-v33-stable", "rce-v33-stable",
                 "methodenforcement-v33-stable", "scannerdetection-v33-stable", "protocolattack-v33-stable", "php-v33-stable",
                 "sessionfixation-v33-stable", "java-v33-stable", "nodejs-v33-stable")
DEFAULT_WAF_RULES = ("sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rfi-v33-stable", "rce-v33-stable",
                     "scannerdetection-v33-stable", "protocolattack-v33-stable", "sessionfixation-v33-stable")
# Sensitivity 1-4 is the OWASP paranoia level; lower = higher-confidence signatures, fewer false positives; 0 turns
# every signature off (https://cloud.google.com/armor/docs/rule-tuning#choose_a_sensitivity_level).
SENSITIVITIES = (1, 2, 3, 4)
DEFAULT_RULE_PRIORITY = 2147483647  # the rule every policy has, matching "*" (provider docs, google_compute_security_policy)
BODY_SIZE_PRIORITY = 1000
# The Log4j (CVE-2021-44228 / CVE-2021-45046) preconfigured rule set, every signature (no sensitivity):
# https://cloud.google.com/armor/docs/waf-rules#cves_and_other_vulnerabilities
LOG4J_PRIORITY = 1500
LOG4J_EXPRESSION = "evaluatePreconfiguredWaf('cve-canary')"
WAF_PRIORITY = 2000  # then one deny rule per rule set: 2000, 2001, ...
WAF_PREVIEW_PRIORITY = 3000  # and one preview rule per rule set: 3000, 3001, ...
RATE_LIMIT_PRIORITY = 9000
# Requests that carry a body (the prompt) to the model server. A preconfigured rule set reads the body with the URI, query
# and headers at once, and Cloud Armor can exclude headers, cookies, query parameters and URIs from it but not the body
# (a rule's preconfigured_waf_config.exclusion takes request_header, request_cookie, request_query_param and request_uri
# only: google provider 6.x schema, tests/gcp_schema.py; https://cloud.google.com/armor/docs/rule-tuning), so each rule set is two rules:
# deny for requests without a body, preview (logged as previewSecurityPolicy, not enforced, later rules still evaluated:
# https://cloud.google.com/armor/docs/request-logging) for every request. A rule's expression takes at most five
# subexpressions (https://cloud.google.com/armor/docs/rules-language-reference): three methods and the rule set are four.
BODY_METHODS = ("POST", "PUT", "PATCH")
NO_BODY = " && ".join(f"request.method != '{m}'" for m in BODY_METHODS)
# One client address's default share of the planned peak (the planner's rules.RATE_LIMIT_CLIENT_SHARE): a tenth of the
# largest group, so one client can neither drive scale-out to the maximum nor bill more than about a tenth of it.
CLIENT_SHARE = 0.10


def rate_limit(client_requests_per_second: float, interval_sec: int) -> int:
    """Requests one client IP may send in ``interval_sec``: its rate over the interval,
    ``ceil(rate x interval)``, at least 1 (Cloud Armor's minimum)."""
    # round() first: 0.1 x 30 is 3.0000000000000004 in binary floating point, which is 3, not 4.
    return max(1, math.ceil(round(client_requests_per_second * interval_sec, 6)))


def body_size_expression(max_body_bytes: int) -> str:
    """A rules-language expression true for requests that declare a body over ``max_body_bytes``.
    Header keys in ``request.headers`` are lower case; ``int()`` converts the header's string to a
    number for the comparison (https://cloud.google.com/armor/docs/rules-language-reference)."""
    return f"has(request.headers['content-length']) && int(request.headers['content-length']) > {max_body_bytes}"


def waf_expression(rule_set: str, sensitivity: int) -> str:
    # https://cloud.google.com/armor/docs/configure-waf (evaluatePreconfiguredWaf with a sensitivity)
    return f"evaluatePreconfiguredWaf('{rule_set}', {{'sensitivity': {sensitivity}}})"


class SecurityPolicy(Construct):
    """A Cloud Armor backend security policy (``CLOUD_ARMOR``) for an external Application Load
    Balancer's backend service (``InferenceEndpoint(security_policy=policy.id)``).

    Rules, in evaluation order (Cloud Armor applies the highest-priority matching rule and
    evaluates no other, https://cloud.google.com/armor/docs/rules-language-reference):

    1. ``1000`` body size: deny(403) requests whose ``Content-Length`` declares more than
       ``max_body_bytes`` (a rule's deny takes 403, 404 or 502, not 413). Cloud Armor inspects the first 8 KB of a body by default
       (https://cloud.google.com/armor/docs/content-parsing), so the size it can judge is the
       declared one. Limits: a body sent without ``Content-Length`` (HTTP/1.1 chunked, HTTP/2
       without the header) is not judged, so the model server must still cap what it reads; a body
       longer than it declares is cut off by HTTP framing, not by Cloud Armor.
    1b. ``1500``: deny(403) on the Log4j rule set (``cve-canary``, every signature), every request,
       bodies included: a ``${jndi:`` lookup is an exploit payload, not prose (AWS's endpoint blocks
       ``Log4JRCE_BODY`` the same way; checkov's CKV_GCP_73 looks for this rule).
    2. ``2000`` onward: one deny(403) rule per preconfigured WAF rule set (``waf_rules``) at
       ``waf_sensitivity``, for requests that carry no body; ``3000`` onward: the same rule sets
       in preview for every request. Even at sensitivity 1 the SQL injection, XSS, LFI and RFI
       signatures refuse ordinary prompts that quote SQL, HTML, paths or URLs, and a rule set
       reads the body with the rest of the request (Cloud Armor excludes headers, cookies,
       query parameters and URIs from a rule set, never the body). So a prompt is judged in
       preview only: the match is logged (``previewSecurityPolicy``) and the request goes on,
       as AWS's endpoint counts its body signatures; requests without a body (GET, HEAD,
       DELETE, OPTIONS ...) are refused on a match. A POST's URI and query string are judged
       in preview too (the model servers' inference routes take their input in the body).
       ``body_inspection="deny"`` refuses body matches as before (every rule set deny for every
       request). Default sensitivity 1, the highest-confidence signatures only.
    3. ``9000`` per-client rate: ``throttle`` keyed on the client IP, ``rate_limit =
       ceil(client_requests_per_second x interval_sec)`` per ``interval_sec``, over it deny(429).
       The client's rate defaults to ``CLIENT_SHARE`` (10%) of ``peak_requests_per_second``:
       never the whole peak, or one client could keep the largest group busy and drive scale-out
       to it. E.g. a 40 req/s peak over the default 60 s allows 240 requests per IP a minute; a
       caller that sends more from one address (a backend behind one NAT address) needs its own
       rate, ``client_requests_per_second``. Throttle, not ``rate_based_ban``: a throttled client keeps being served at the
       limit instead of being shut out for a ban period, a ban's threshold stops at 10,000 (a
       250 req/s peak over 60 s needs 15,000), and a ban rule cannot be turned back into a
       throttle. It comes after the deny rules because its conform action is ``allow``: a request
       under the limit is let through with no later rule evaluated.
    4. ``2147483647`` allow (the default rule).

    JSON bodies are parsed (``json_parsing = STANDARD``) so the WAF signatures judge the values,
    not JSON's own punctuation (Google recommends it for REST APIs,
    https://cloud.google.com/armor/docs/content-parsing). Cloud Armor's decisions are written into
    the load balancer's request logs, so the backend service must log
    (https://cloud.google.com/armor/docs/request-logging); ``InferenceEndpoint`` logs every request.
    Logging stays ``NORMAL``: ``VERBOSE`` adds the request content that matched a signature
    (https://cloud.google.com/armor/docs/verbose-logging), customer prompts in the logs; Google
    recommends it only while tuning.

    Example::

        armor = SecurityPolicy(stack, "armor", project="acme-ml-prod", name="acme-prod-reco", peak_requests_per_second=40)
        InferenceEndpoint(stack, "endpoint", ..., security_policy=armor.id)

    Args:
        project: where the policy lives; name: its name (an RFC 1035 label).
        peak_requests_per_second: the workload's planned peak request rate (all clients together).
        client_requests_per_second: what one client IP may send a second; default ``CLIENT_SHARE``
            (10%) of the peak.
        body_inspection: what a WAF match in a request body does: ``preview`` (default: logged, the
            request goes on; prompts quote SQL, HTML and paths) or ``deny``.
        interval_sec: the rate rule's interval, one of 10, 30, 60, 120, 180, 240, 300, 600, 900,
            1200, 1800, 2700, 3600; default 60 (a client cannot spend minutes of budget in one burst).
        max_body_bytes: the largest declared request body; default 10 MiB (10,485,760 bytes).
        waf_rules: preconfigured WAF rule sets; default sqli, xss, lfi, rfi, rce, scannerdetection,
            protocolattack, sessionfixation (the ``-v33-stable`` names).
        waf_sensitivity: 1-4; default 1.
        verbose_logging: log the matched request content (``log_level = VERBOSE``) while tuning; default off.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, peak_requests_per_second: float,
                 interval_sec: int = DEFAULT_INTERVAL_SECONDS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 waf_rules: Sequence[str] = DEFAULT_WAF_RULES, waf_sensitivity: int = 1, verbose_logging: bool = False,
                 client_requests_per_second: float | None = None, body_inspection: str = "preview"):
        super().__init__(scope, id)
        problems = []
        try:
            check_name(name)
        except ValueError as e:
            problems.append(str(e))
        peak_ok = (isinstance(peak_requests_per_second, (int, float)) and not isinstance(peak_requests_per_second, bool)
                   and math.isfinite(peak_requests_per_second) and peak_requests_per_second > 0)
        if not peak_ok:
            problems.append(f"peak_requests_per_second must be a positive number, got {peak_requests_per_second!r}")
        client_ok = client_requests_per_second is None or (
            isinstance(client_requests_per_second, (int, float)) and not isinstance(client_requests_per_second, bool)
            and math.isfinite(client_requests_per_second) and client_requests_per_second > 0)
        if not client_ok:
            problems.append(f"client_requests_per_second must be a positive number, got {client_requests_per_second!r}")
        client = (client_requests_per_second if client_requests_per_second is not None
                  else peak_requests_per_second * CLIENT_SHARE if peak_ok else None)
        if body_inspection not in ("preview", "deny"):
            problems.append(f"body_inspection must be 'preview' or 'deny', got {body_inspection!r}")
        if interval_sec not in INTERVALS_SECONDS:
            problems.append(f"interval_sec must be one of {', '.join(map(str, INTERVALS_SECONDS))}, got {interval_sec!r}")
        elif client_ok and client is not None and rate_limit(client, interval_sec) > MAX_THROTTLE_COUNT:
            fits = [i for i in INTERVALS_SECONDS if rate_limit(client, i) <= MAX_THROTTLE_COUNT]
            hint = f"use interval_sec {fits[-1]} or less" if fits else "no interval fits"
            problems.append(f"a {client:g} req/s client rate over {interval_sec} s is "
                            f"{rate_limit(client, interval_sec):,} requests, above Cloud Armor's throttle maximum of "
                            f"{MAX_THROTTLE_COUNT:,}: {hint}")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
            problems.append(f"max_body_bytes must be a whole number of bytes, at least 1, got {max_body_bytes!r}")
        rules = list(waf_rules)
        for r in rules:
            if r not in WAF_RULE_SETS:
                close = difflib.get_close_matches(r, WAF_RULE_SETS, n=1)
                problems.append(f"unknown preconfigured WAF rule {r!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                                + f"; known: {', '.join(WAF_RULE_SETS)}")
        if len(set(rules)) != len(rules):
            problems.append(f"waf_rules lists a rule twice: {rules!r}")
        if waf_sensitivity not in SENSITIVITIES:
            problems.append(f"waf_sensitivity must be 1, 2, 3 or 4, got {waf_sensitivity!r}")
        if problems:
            raise ValueError("; ".join(problems))

        self.name = name
        self.interval_sec = interval_sec
        self.client_requests_per_second: float = client
        self.rate_limit: int = rate_limit(client, interval_sec)
        self.body_size_expression: str = body_size_expression(max_body_bytes)
        self.waf_rules: tuple[str, ...] = tuple(rules)
        rule = [{"priority": BODY_SIZE_PRIORITY, "action": "deny(403)", "description": f"declared body over {max_body_bytes} bytes",
                 "match": {"expr": {"expression": self.body_size_expression}}}]
        preview = body_inspection == "preview"
        self.body_inspection = body_inspection
        rule.append({"priority": LOG4J_PRIORITY, "action": "deny(403)", "description": "preconfigured WAF cve-canary (Log4j)",
                     "match": {"expr": {"expression": LOG4J_EXPRESSION}}})
        # deny without a body (or always, body_inspection "deny"), preview with one (the prompt)
        sets = [(WAF_PRIORITY + i, WAF_PREVIEW_PRIORITY + i, r, waf_expression(r, waf_sensitivity)) for i, r in enumerate(rules)]
        for deny_at, preview_at, what, expression in sorted(sets):
            rule.append({"priority": deny_at, "action": "deny(403)",
                         "description": f"preconfigured WAF {what}" + (", requests without a body" if preview else ""),
                         "match": {"expr": {"expression": f"{NO_BODY} && {expression}" if preview else expression}}})
        if preview:
            rule += [{"priority": preview_at, "action": "deny(403)", "preview": True,
                      "description": f"preconfigured WAF {what}, prompt bodies: logged, not enforced",
                      "match": {"expr": {"expression": expression}}} for _, preview_at, what, expression in sorted(sets)]
        rule.append({"priority": RATE_LIMIT_PRIORITY, "action": "throttle",
                     "description": f"per client IP: {self.rate_limit} requests per {interval_sec} s",
                     "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}},
                     "rate_limit_options": {"conform_action": "allow", "exceed_action": "deny(429)", "enforce_on_key": "IP",
                                            "rate_limit_threshold": {"count": self.rate_limit, "interval_sec": interval_sec}}})
        rule.append({"priority": DEFAULT_RULE_PRIORITY, "action": "allow", "description": "default rule",
                     "match": {"versioned_expr": "SRC_IPS_V1", "config": {"src_ip_ranges": ["*"]}}})
        self.policy = resource(self, "policy", "google_compute_security_policy", project=project, name=name, type="CLOUD_ARMOR",
                               description=f"Edge filtering for {name}: body size, preconfigured WAF, per-client rate", rule=rule,
                               advanced_options_config={"json_parsing": "STANDARD", "log_level": "VERBOSE" if verbose_logging else "NORMAL"})
        self.id: str = self.policy.get_string_attribute("id")
        self.self_link: str = self.policy.get_string_attribute("self_link")
