"""HTTPS load balancer in front of an inference group, with target-tracking autoscaling on a
serving signal: ALB requests per target at the plan's target utilisation of the replica
throughput. CPU target tracking is opt-in (``cpu_target_percent``), for CPU-only serving groups.

Why not CPU on GPU serving: a GPU node's CPU says little about its load (serving engines busy-poll
a core, so CPU reads high while idle; or the GPU saturates while the CPU stays low), and with
several target-tracking policies a group "will scale out ... if any of the target tracking
policies are ready for scale out, but will scale in only if all of the target tracking policies
(with the scale-in portion enabled) are ready to scale in" (Amazon EC2 Auto Scaling User Guide,
target tracking considerations:
https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html), so a CPU
policy reading high would hold every idle GPU node. ``ALBRequestCountPerTarget`` is one of the
predefined metrics target tracking documents (same page), changes in proportion to the group's
size, and, unlike other metrics, emits zeros when no request arrives, so the group scales in when
traffic stops.

No GPU-utilization policy either: the CloudWatch agent's ``nvidia_smi_utilization_gpu`` (the
repository's ``gpu_utilization``, ``constructs/aws/metrics.py``) is NVML's "percent of time over
the past sample period during which one or more kernels was executing on the GPU"
(https://docs.nvidia.com/deploy/nvml-api/structnvmlUtilization__t.html): a continuous-batching
engine with one request in flight reads near 100%, which is not proportional to load as target
tracking requires ("the metric value must increase or decrease proportionally to the number of
instances", same page), and as a second policy it would block scale-in as CPU does. A metric
target tracking does not get at all (the agent not collecting it) also holds scale-in: "A target
tracking scaling policy does not scale in your Auto Scaling group when the specified metric has
insufficient data, unless you use the ALBRequestCountPerTarget metric" (same page)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiinfra.cdk import Construct, Token

from aiinfra.constructs._tf import resource

TLS13_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# What an unauthenticated request may get, and AWS's default session, 604800 s = 7 days, which is also the longest this
# construct accepts: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_AuthenticateOidcActionConfig.html
UNAUTHENTICATED_ACTIONS = ("authenticate", "deny", "allow")
MAX_SESSION_SECONDS = 604_800
# The connection idle timeout an ALB accepts, 1-4,000 s (AWS's default 60:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html#connection-idle-timeout),
# and a target group's deregistration delay, 0-3,600 s: a target an Auto Scaling group scales in drains that long before it
# is terminated (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay).
IDLE_TIMEOUT_RANGE = (1, 4000)
MAX_DEREGISTRATION_DELAY = 3600
# A bearer JWT in the Authorization header: its base64url header starts with "eyJ" ('{"'). Listener rule header values are
# matched case-insensitively, with * and ? wildcards, at most 128 characters
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html#http-header-conditions).
BEARER_JWT = "Bearer eyJ*"
# The guide's HPA CPU target, for CPU-only serving groups (``InferenceEndpoint(cpu_target_percent=...)``);
# GPU serving scales on requests per target only (the module's docstring says why).
CPU_TARGET_PERCENT = 70.0


@dataclass(frozen=True)
class OidcAuthentication:
    """Callers sign in with an OpenID Connect identity provider before the load balancer forwards
    their requests (ALB ``authenticate-oidc``:
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html).
    The ALB runs the authorization-code flow and keeps the session in a cookie; register
    ``https://<endpoint DNS name or alias>/oauth2/idpresponse`` as a redirect URL with the IdP.

    This is for callers with a browser-like flow (or the session cookie). Machine clients that send
    a bearer JWT need the ALB ``jwt-validation`` action, which the pinned aws provider 5.100.0 does
    not have (its listener actions are authenticate-cognito, authenticate-oidc, fixed-response,
    forward and redirect; added by hashicorp/terraform-provider-aws PR #45089), so it is not
    offered here: ``InferenceEndpoint(forward_bearer_tokens=True)`` sends their requests to the
    model server, which verifies the token.

    Args:
        issuer, authorization_endpoint, token_endpoint, user_info_endpoint: the IdP's, full
            ``https://`` URLs (its discovery document lists them).
        client_id: the OAuth 2.0 client registered with the IdP.
        client_secret: its secret; pass a sensitive Terraform variable (``${var.oidc_client_secret}``),
            never a literal: the value is in the plan and the state.
        scope: claims asked of the IdP; default ``openid``.
        on_unauthenticated_request: ``authenticate`` (redirect to the IdP; default), ``deny`` (401)
            or ``allow`` (forward without a user: not authentication; AIINFRA-AWS-012 fails it).
        session_timeout_seconds: how long a sign-in lasts, 1 s to 7 days; default 3600 (AWS's
            default, 7 days, is long for API credentials).
        idp_cidrs: where the load balancer may reach the IdP's token and user info endpoints on
            443 (https://repost.aws/knowledge-center/elb-configure-authentication-alb); default anywhere.
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    user_info_endpoint: str
    client_id: str
    client_secret: str
    scope: str = "openid"
    on_unauthenticated_request: str = "authenticate"
    session_timeout_seconds: int = 3600
    idp_cidrs: tuple[str, ...] = ("0.0.0.0/0",)

    def __post_init__(self) -> None:
        problems = [f"{f} must be a full https:// URL, got {getattr(self, f)!r}"
                    for f in ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint")
                    if not (isinstance(getattr(self, f), str) and (Token.is_unresolved(getattr(self, f))  # a Terraform variable
                                                                   or getattr(self, f).startswith("https://") and len(getattr(self, f)) > 8))]
        if not (self.client_id or "").strip():
            problems.append("client_id must not be empty")
        if not (self.client_secret or "").strip():
            problems.append("client_secret must not be empty (pass a sensitive Terraform variable)")
        if not (self.scope or "").strip():
            problems.append("scope must not be empty (the IdP needs at least openid)")
        if self.on_unauthenticated_request not in UNAUTHENTICATED_ACTIONS:
            problems.append(f"on_unauthenticated_request must be one of {', '.join(UNAUTHENTICATED_ACTIONS)}, "
                            f"got {self.on_unauthenticated_request!r}")
        if not (isinstance(self.session_timeout_seconds, int) and 1 <= self.session_timeout_seconds <= MAX_SESSION_SECONDS):
            problems.append(f"session_timeout_seconds must be between 1 and {MAX_SESSION_SECONDS} (7 days), got {self.session_timeout_seconds!r}")
        if not self.idp_cidrs:
            problems.append("idp_cidrs must name at least one range (the load balancer calls the IdP)")
        if problems:
            raise ValueError("; ".join(problems))

    def action(self) -> dict[str, Any]:
        """The listener's ``authenticate_oidc`` block."""
        return {"issuer": self.issuer, "authorization_endpoint": self.authorization_endpoint, "token_endpoint": self.token_endpoint,
                "user_info_endpoint": self.user_info_endpoint, "client_id": self.client_id, "client_secret": self.client_secret,
                "scope": self.scope, "on_unauthenticated_request": self.on_unauthenticated_request,
                "session_timeout": self.session_timeout_seconds}


class InferenceEndpoint(Construct):
    """An application load balancer for a ``GpuInstanceGroup`` serving predictions.

    Example::

        InferenceEndpoint(stack, "endpoint", name="acme-prod-reco", vpc_id=net.vpc_id, subnet_ids=net.public_subnet_ids,
                          node_security_group_id=net.node_security_group_id, autoscaling_group_name=group.name,
                          certificate_arn="arn:aws:acm:...", requests_per_target=260)

    Args:
        name: load balancer and target group name (32 characters at most).
        vpc_id, subnet_ids: where the load balancer lives (public subnets if internet-facing).
        node_security_group_id: the nodes' group; the endpoint admits traffic from the load
            balancer to ``port`` on it, nothing else.
        autoscaling_group_name: the group to register and scale.
        certificate_arn: the ACM certificate of the HTTPS listener (required: no plain HTTP).
        requests_per_target: requests a second each replica should carry (the plan's replica
            throughput x its target utilisation); the target-tracking value of ALB requests per
            target a minute is 60 times it. The group's serving signal, the only one by default.
        cpu_target_percent: a second target-tracking policy on the group's average CPU, for
            CPU-only serving groups (``CPU_TARGET_PERCENT``, 70, is the guide's HPA). Left out,
            none: a GPU group scales on requests per target alone (a busy-polling engine's CPU
            reads high while idle, and the group scales in only when every policy agrees; the
            module's docstring cites why). It used to default to 70: pass it to keep a CPU policy
            on a group whose CPU follows its load.
        port: the model server's port on the nodes; default 8080.
        health_check_path: default ``/health``.
        internet_facing: default on (a public HTTPS endpoint, as on GCP: give public subnets);
            off makes it internal (private subnets, reachable from the VPC only).
        allowed_cidrs: who may reach port 443. Left out: ``0.0.0.0/0`` when internet-facing,
            the VPC range otherwise.
        vpc_cidr: the VPC's range (used for the internal default of ``allowed_cidrs``).
        access_log_bucket: bucket name for ALB access logs (an SSE-S3 bucket whose policy lets
            the region's load balancers write: ``TieredStorage(load_balancer_logs=True)``'s log
            bucket); left out, none.
        deletion_protection: refuse to delete the load balancer until this is turned off;
            default on (an endpoint under an availability target).
        authentication: an ``OidcAuthentication``: the HTTPS listener authenticates every request
            with the IdP (order 1) before forwarding it (order 2), and the load balancer may call
            the IdP on 443. Left out, the listener forwards every request (the model server must
            authenticate callers itself).
        forward_bearer_tokens: with ``authentication``, a listener rule (priority 1) forwards
            requests whose ``Authorization`` header carries a bearer JWT (``Bearer eyJ...``)
            straight to the targets: ALB ``authenticate-oidc`` never reads a bearer token (it
            answers a request without its session cookie with a redirect to the IdP, useless to a
            machine client), and the pinned aws provider 5.100.0 has no ``jwt-validation`` action.
            The model server must then verify every token itself (signature against the IdP's
            keys, issuer, audience, expiry, scope); policy rule AIINFRA-AWS-012 judges the rule as
            unauthenticated, so the stack that asks for it waives the rule with that reason.
            Default off. Attribute ``bearer_rule`` (None when off).
        response_timeout_seconds: the load balancer's connection idle timeout (1-4,000 s), the
            longest a response may send nothing: a response that is not streamed sends nothing
            until it is done, so this is the longest generation the endpoint serves; and the
            targets' deregistration delay (at most 3,600 s), so a replica the group scales in
            finishes its responses first. Default 60 (AWS's idle timeout).

    Attributes: ``arn`` (the load balancer's, for ``WebAcl(resource_arn=...)``), ``dns_name``,
    ``arn_suffix``, ``target_group_arn_suffix``, and the resources ``load_balancer``,
    ``target_group``, ``listener``, ``security_group``, ``requests_policy`` and ``cpu_policy``
    (None without ``cpu_target_percent``).
    """

    def __init__(self, scope: Construct, id: str, *, name: str, vpc_id: str, subnet_ids: Sequence[str], node_security_group_id: str,
                 autoscaling_group_name: str, certificate_arn: str, requests_per_target: float, vpc_cidr: str,
                 cpu_target_percent: float | None = None, port: int = 8080, health_check_path: str = "/health", internet_facing: bool = True,
                 allowed_cidrs: Sequence[str] | None = None, access_log_bucket: str | None = None, deletion_protection: bool = True,
                 authentication: OidcAuthentication | None = None, tags: dict[str, str] | None = None,
                 forward_bearer_tokens: bool = False, response_timeout_seconds: int = 60):
        super().__init__(scope, id)
        if len(name) > 32:
            raise ValueError(f"name must be at most 32 characters (load balancer names), got {len(name)} ({name!r})")
        if len(subnet_ids) < 2:
            raise ValueError("an application load balancer needs subnets in at least two zones")
        if not certificate_arn:
            raise ValueError("certificate_arn is required: the endpoint serves HTTPS only")
        if requests_per_target <= 0 or cpu_target_percent is not None and not 0 < cpu_target_percent <= 100:
            raise ValueError("requests_per_target must be positive and cpu_target_percent (when given) between 0 and 100")
        lo, hi = IDLE_TIMEOUT_RANGE
        if isinstance(response_timeout_seconds, bool) or not isinstance(response_timeout_seconds, int) or not lo <= response_timeout_seconds <= hi:
            raise ValueError(f"response_timeout_seconds must be a whole number of seconds from {lo} to {hi:,} (the ALB's idle timeout), "
                             f"got {response_timeout_seconds!r}")
        if forward_bearer_tokens and authentication is None:
            raise ValueError("forward_bearer_tokens needs authentication: without it the listener forwards every request already")
        tags = dict(tags or {})
        cidrs = list(allowed_cidrs) if allowed_cidrs is not None else (["0.0.0.0/0"] if internet_facing else [vpc_cidr])
        self.security_group = resource(self, "lb-sg", "aws_security_group", name=f"{name}-lb", vpc_id=vpc_id,
                                       description=f"Load balancer of {name}: HTTPS in, model port out to the nodes", tags=tags)
        lb_sg = self.security_group.get_string_attribute("id")
        for i, cidr in enumerate(cidrs):
            resource(self, f"https-in-{i}", "aws_vpc_security_group_ingress_rule", security_group_id=lb_sg, ip_protocol="tcp",
                     from_port=443, to_port=443, cidr_ipv4=cidr, description="HTTPS from clients")
        resource(self, "to-nodes", "aws_vpc_security_group_egress_rule", security_group_id=lb_sg, ip_protocol="tcp", from_port=port,
                 to_port=port, referenced_security_group_id=node_security_group_id, description="to the model servers")
        if authentication is not None:
            for i, cidr in enumerate(authentication.idp_cidrs):
                resource(self, f"to-idp-{i}", "aws_vpc_security_group_egress_rule", security_group_id=lb_sg, ip_protocol="tcp", from_port=443,
                         to_port=443, cidr_ipv4=cidr, description="HTTPS to the OIDC identity provider (token and user info endpoints)")
        resource(self, "nodes-from-lb", "aws_vpc_security_group_ingress_rule", security_group_id=node_security_group_id, ip_protocol="tcp",
                 from_port=port, to_port=port, referenced_security_group_id=lb_sg, description=f"model port from {name} load balancer")
        self.load_balancer = resource(
            self, "lb", "aws_lb", name=name, load_balancer_type="application", internal=not internet_facing,
            security_groups=[lb_sg], subnets=list(subnet_ids), drop_invalid_header_fields=True, idle_timeout=response_timeout_seconds,
            enable_deletion_protection=deletion_protection,
            access_logs={"bucket": access_log_bucket, "enabled": True, "prefix": f"alb/{name}"} if access_log_bucket else None, tags=tags)
        self.target_group = resource(
            self, "targets", "aws_lb_target_group", name=name, port=port, protocol="HTTP", vpc_id=vpc_id, target_type="instance",
            deregistration_delay=str(min(response_timeout_seconds, MAX_DEREGISTRATION_DELAY)),
            health_check={"enabled": True, "path": health_check_path, "protocol": "HTTP", "matcher": "200", "interval": 15,
                          "healthy_threshold": 2, "unhealthy_threshold": 3, "timeout": 5}, tags=tags)
        tg_arn = self.target_group.get_string_attribute("arn")
        self.arn: str = self.load_balancer.get_string_attribute("arn")
        actions: list[dict[str, Any]] = [{"type": "forward", "target_group_arn": tg_arn}]
        if authentication is not None:
            actions = [{"type": "authenticate-oidc", "order": 1, "authenticate_oidc": authentication.action()},
                       {**actions[0], "order": 2}]
        self.listener = resource(self, "https", "aws_lb_listener", load_balancer_arn=self.arn,
                                 port=443, protocol="HTTPS", ssl_policy=TLS13_POLICY, certificate_arn=certificate_arn,
                                 default_action=actions, tags=tags)
        # Machine clients' bearer JWTs go to the model server, which verifies them (the docstring says why).
        self.bearer_rule = None if not forward_bearer_tokens else resource(
            self, "bearer-tokens", "aws_lb_listener_rule", listener_arn=self.listener.get_string_attribute("arn"), priority=1,
            condition=[{"http_header": {"http_header_name": "Authorization", "values": [BEARER_JWT]}}],
            action=[{"type": "forward", "target_group_arn": tg_arn}], tags=tags)
        resource(self, "attachment", "aws_autoscaling_attachment", autoscaling_group_name=autoscaling_group_name, lb_target_group_arn=tg_arn)
        label = f"{self.load_balancer.get_string_attribute('arn_suffix')}/{self.target_group.get_string_attribute('arn_suffix')}"
        self.requests_policy = resource(
            self, "scale-on-requests", "aws_autoscaling_policy", name=f"{name}-requests-per-target", autoscaling_group_name=autoscaling_group_name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={"predefined_metric_specification": {"predefined_metric_type": "ALBRequestCountPerTarget",
                                                                               "resource_label": label},
                                           "target_value": round(requests_per_target * 60, 1)})
        # CPU-only serving groups only: a second policy blocks scale-in until it agrees too (the module's docstring).
        self.cpu_policy = None if cpu_target_percent is None else resource(
            self, "scale-on-cpu", "aws_autoscaling_policy", name=f"{name}-cpu", autoscaling_group_name=autoscaling_group_name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration={"predefined_metric_specification": {"predefined_metric_type": "ASGAverageCPUUtilization"},
                                           "target_value": cpu_target_percent})
        self.dns_name: str = self.load_balancer.get_string_attribute("dns_name")
        self.arn_suffix: str = self.load_balancer.get_string_attribute("arn_suffix")
        self.target_group_arn_suffix: str = self.target_group.get_string_attribute("arn_suffix")
