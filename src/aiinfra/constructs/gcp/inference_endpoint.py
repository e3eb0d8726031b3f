"""Global external HTTPS load balancer in front of an inference group (TLS 1.2+, RESTRICTED
SSL policy, health checks, request logs) and a regional autoscaler on a serving signal, with min
replicas from availability; optionally Identity-Aware Proxy on the backend service (``IapAccess``).

The serving signal is the load balancer's: the backend balances in ``RATE`` mode with
``max_rate_per_instance`` = the replica's sustainable requests a second, and the autoscaler's
``load_balancing_utilization`` target is the plan's target utilisation, so it keeps each replica
at target x throughput requests a second, as the AWS endpoint's requests-per-target policy does.
"autoscaling adds or removes VM instances in the group when the load balancer indicates that the
group has reached a configurable fraction of its fullness, where fullness is defined by the target
capacity of the selected balancing mode"; with RATE the target is "a target number of requests per
second on a per-instance basis" (regional MIGs have no per-group rate):
https://cloud.google.com/compute/docs/autoscaler/scaling-load-balancing.

CPU is opt-in (``cpu_target``), for CPU-only serving groups: a GPU node's CPU says little about its
load (a busy-polling engine reads high while idle; a saturated GPU beside a quiet CPU reads low),
and "the autoscaler scales based on the signal that provides the largest number of virtual machine
(VM) instances" (https://cloud.google.com/compute/docs/autoscaler/multiple-signals), so a CPU
signal reading high would hold every idle GPU node. No GPU-utilization ``metric`` either: the Ops
Agent's ``agent.googleapis.com/gpu/utilization`` is NVML's share of time a kernel ran
(https://docs.nvidia.com/deploy/nvml-api/structnvmlUtilization__t.html), near 100% with one
request in flight of a continuous-batching engine, so not proportional to load; and nodes that boot
Container-Optimized OS run no Ops Agent (``aiinfra.observability.agents.ops_agent_supported``),
where the metric does not exist at all.

Upgrading a deployed autoscaler: the google provider's ``autoscaling_policy.cpu_utilization`` is
Optional and Computed, so removing it from the configuration leaves the CPU target the autoscaler
already has (no diff). Replace the autoscaler once to drop it:
``terraform apply -replace=google_compute_region_autoscaler.<id>`` in the workload's stack folder
(the group keeps its size meanwhile)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import check_name

# Google front ends and health checkers reach backends from these ranges
# (cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges).
HEALTH_CHECK_RANGES = ("130.211.0.0/22", "35.191.0.0/16")


# IAM principals IAP can grant (https://cloud.google.com/iam/docs/principal-identifiers): Google accounts, groups, service
# accounts, a Workspace / Cloud Identity domain, and Workforce Identity Federation principals (principal://, principalSet://).
_MEMBER = re.compile(r"^(user|group|serviceAccount|domain):[^\s:]+$|^(principal|principalSet)://\S+$")
# Lets a principal through IAP to the backend (https://cloud.google.com/iap/docs/managing-access#roles).
IAP_ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor"
# The API a project needs before IAP can be turned on (https://cloud.google.com/iap/docs/enabling-compute-howto).
IAP_SERVICE = "iap.googleapis.com"
# A backend service's timeout: for an Application Load Balancer's HTTP backends, how long the load balancer waits for the
# whole response (streamed or not); default 30 s, 1 to 2,147,483,647 accepted, above 86,400 s (a day) not recommended:
# Google's front ends restart for maintenance (https://cloud.google.com/load-balancing/docs/https#timeout-bes). Connection
# draining, 0-3,600 s, holds a VM the autoscaler deletes until its requests finish
# (https://cloud.google.com/load-balancing/docs/enabling-connection-draining).
MAX_RESPONSE_TIMEOUT = 86_400
MAX_DRAINING_SECONDS = 3600
# The guide's HPA CPU target, for CPU-only serving groups (``InferenceEndpoint(cpu_target=...)``);
# GPU serving scales on load-balancing utilization only (the module's docstring says why).
CPU_TARGET = 0.7


@dataclass(frozen=True)
class IapAccess:
    """Identity-Aware Proxy on an endpoint's backend service, and who may call through it.

    Why IAP: Google's front end checks every request before it is forwarded, so a caller without
    a Google-signed credential for an allowed principal never reaches the GPU nodes (the model
    server sees only requests IAP let in, with the caller in the signed ``x-goog-iap-jwt-assertion``
    header, https://cloud.google.com/iap/docs/signed-headers-howto). Callers authenticate in
    ``Authorization: Bearer`` (or ``Proxy-Authorization``) with a Google-issued OIDC ID token or a
    service account signed JWT (https://cloud.google.com/iap/docs/authentication-howto); people in
    a browser sign in with Google, or with an external IdP through Workforce Identity Federation
    (https://cloud.google.com/iap/docs/use-workforce-identity-federation; browser only: IAP takes no
    programmatic Workforce Identity Federation credentials).

    The backend service gets ``iap { enabled = true }`` with no OAuth client: IAP then uses a
    Google-managed OAuth client, which admits users of the project's own organization only and
    needs no consent screen (brand); service accounts still call it programmatically with a
    service account JWT (https://cloud.google.com/iap/docs/custom-oauth-configuration). Callers
    outside the organization, or a project outside one, need a custom OAuth client and consent
    screen: set ``iap.oauth2_client_id`` / ``oauth2_client_secret`` on the backend service with an
    override (the secret then sits in the Terraform state). One-time project setup: the
    ``iap.googleapis.com`` API (``IAP_SERVICE``) enabled.

    Args:
        members: who may call (``roles/iap.httpsResourceAccessor`` on the backend service, an
            authoritative binding): IAM principals such as ``user:ana@acme.example``,
            ``group:ml-callers@acme.example``, ``serviceAccount:app@acme-ml-prod.iam.gserviceaccount.com``,
            ``principalSet://iam.googleapis.com/locations/global/workforcePools/...``; or a Terraform
            list expression (a variable). At least one.
    """

    members: Sequence[str] | str

    def __post_init__(self):
        if isinstance(self.members, str):
            if not (self.members.startswith("${") and self.members.endswith("}")):
                raise ValueError(f"members must be a list of IAM principals or a Terraform list expression, got {self.members!r}")
            return
        object.__setattr__(self, "members", tuple(self.members))
        if not self.members:
            raise ValueError("IapAccess.members must name at least one principal: IAP with nobody allowed serves no one")
        bad = [m for m in self.members if not isinstance(m, str) or not _MEMBER.match(m)]
        if bad:
            raise ValueError(f"IapAccess.members must be IAM principals (user:, group:, serviceAccount:, domain:, principal://, "
                             f"principalSet://), got {bad!r}")


def grant_iap(scope: Construct, iap: IapAccess, *, project: str, backend_name: str, region: str | None = None):
    """The IAP accessor binding on a global (``region`` None) or regional backend service."""
    members = iap.members if isinstance(iap.members, str) else list(iap.members)
    if region is None:
        return resource(scope, "iap-access", "google_iap_web_backend_service_iam_binding", project=project,
                        web_backend_service=backend_name, role=IAP_ACCESSOR_ROLE, members=members)
    return resource(scope, "iap-access", "google_iap_web_region_backend_service_iam_binding", project=project, region=region,
                    web_region_backend_service=backend_name, role=IAP_ACCESSOR_ROLE, members=members)


class HealthCheck(Construct):
    """An HTTP health check on the model server: the load balancer's, and the group's
    auto-healing (``GpuInstanceGroup(auto_healing_health_check=hc.id)``) before the endpoint exists.

    Args:
        project, name: where and what.
        port: default 8080; path: default ``/health``.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, port: int = 8080, path: str = "/health"):
        super().__init__(scope, id)
        check_name(name)
        if not 1 <= port <= 65535 or not path.startswith("/"):
            raise ValueError(f"port must be 1-65535 and path must start with '/', got {port} and {path!r}")
        self.port, self.path = port, path
        self.check = resource(self, "check", "google_compute_health_check", project=project, name=name, check_interval_sec=10,
                              timeout_sec=5, healthy_threshold=2, unhealthy_threshold=3,
                              http_health_check={"port": port, "request_path": path}, log_config={"enable": True})
        self.id: str = self.check.get_string_attribute("id")


class InferenceEndpoint(Construct):
    """An HTTPS endpoint for a ``GpuInstanceGroup`` serving predictions.

    Example::

        InferenceEndpoint(stack, "endpoint", project="acme-ml-prod", name="acme-prod-reco", region="us-central1",
                          network=net.network_id, network_tags=[net.node_tag], instance_groups=group.instance_groups,
                          autoscale_group=group.id, min_replicas=4, max_replicas=8, requests_per_replica=260,
                          domains=["reco.acme.example"])

    Args:
        project, region: where the autoscaler lives (the load balancer is global).
        name: prefix of every resource name.
        network, network_tags: the nodes' network and tag; the endpoint admits Google's
            front ends and health checkers to ``port`` on the tagged nodes, nothing else.
        instance_groups: the groups behind the backend service (``GpuInstanceGroup.instance_groups``).
        autoscale_group: the managed instance group the autoscaler sizes (``GpuInstanceGroup.id``).
        min_replicas, max_replicas: autoscaler bounds; min from the availability target.
        requests_per_replica: each replica's sustainable requests per second (from the plan);
            the load balancer's ``max_rate_per_instance`` (balancing mode RATE) and the base of
            its utilization signal.
        domains: names for a Google-managed certificate; or ``ssl_certificates``: existing
            certificate ids. One of the two is required (HTTPS only, no plain HTTP).
        lb_utilization_target: the fraction of ``requests_per_replica`` the autoscaler keeps
            each replica at (the plan's target utilisation); default 0.8. The serving signal,
            the only one by default.
        cpu_target: a CPU utilization signal beside it, for CPU-only serving groups
            (``CPU_TARGET``, 0.7, is the guide's HPA). Left out, none: a GPU group scales on
            load-balancing utilization alone (the module's docstring cites why). It used to
            default to 0.7: pass it to keep a CPU signal on a group whose CPU follows its load.
        health_check: a ``HealthCheck`` on the model server; left out, one on ``port`` /
            ``health_check_path`` (defaults 8080 and ``/health``).
        security_policy: a Cloud Armor policy id for the backend (``SecurityPolicy.id``); left out,
            none (policy rule AIINFRA-GCP-012 then fails the stack).
        iap: ``IapAccess``: Identity-Aware Proxy on the backend service, callers authenticated by
            Google before any request reaches the nodes; left out, no caller authentication at the
            load balancer.
        cooldown_seconds: how long a new GPU replica takes to serve; default 300.
        response_timeout_seconds: the backend service's ``timeout_sec``, how long the load balancer
            waits for a whole response, streamed or not (1 to 86,400); and its connection draining
            (at most 3,600 s), so a replica the autoscaler deletes finishes its responses first.
            Default 30 (Google's): a longer generation is cut off with a 5xx.
        static_backend: ``(path, backend_bucket_id)``: the URL map sends requests matching ``path`` (e.g.
            ``/static/*``) to that backend bucket (``StaticContentCdn.backend_bucket_id``: Cloud CDN) and the rest to
            the model; left out, every request goes to the model.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, region: str, network: str, network_tags: Sequence[str],
                 instance_groups: Sequence[str], autoscale_group: str, min_replicas: int, max_replicas: int, requests_per_replica: float,
                 domains: Sequence[str] = (), ssl_certificates: Sequence[str] = (), cpu_target: float | None = None,
                 lb_utilization_target: float = 0.8, port: int = 8080, health_check_path: str = "/health",
                 health_check: HealthCheck | None = None, security_policy: str | None = None, cooldown_seconds: int = 300,
                 iap: IapAccess | None = None, response_timeout_seconds: int = 30, static_backend: tuple[str, str] | None = None):
        super().__init__(scope, id)
        check_serving(name, instance_groups, domains, ssl_certificates, network_tags, min_replicas, max_replicas, requests_per_replica,
                      cpu_target, lb_utilization_target)
        check_response_timeout(response_timeout_seconds)
        if health_check is None:
            health_check = HealthCheck(self, "health", project=project, name=f"{name}-health", port=port, path=health_check_path)
        port = health_check.port
        self.health_check = health_check
        self.health_check_id: str = health_check.id
        resource(self, "allow-lb", "google_compute_firewall", project=project, name=f"{name}-allow-lb", network=network, direction="INGRESS",
                 priority=1000, source_ranges=list(HEALTH_CHECK_RANGES), target_tags=list(network_tags),
                 allow=[{"protocol": "tcp", "ports": [str(port)]}], log_config={"metadata": "INCLUDE_ALL_METADATA"},
                 description=f"Google front ends and health checks to the model server port {port}")
        self.backend = resource(
            self, "backend", "google_compute_backend_service", project=project, name=f"{name}-backend", protocol="HTTP", port_name="http",
            load_balancing_scheme="EXTERNAL_MANAGED", timeout_sec=response_timeout_seconds,
            connection_draining_timeout_sec=min(response_timeout_seconds, MAX_DRAINING_SECONDS), health_checks=[self.health_check_id],
            backend=[{"group": g, "balancing_mode": "RATE", "max_rate_per_instance": round(requests_per_replica, 2), "capacity_scaler": 1}
                     for g in instance_groups],
            log_config={"enable": True, "sample_rate": 1}, security_policy=security_policy,
            # No OAuth client: IAP's Google-managed one (oauth2_client_id / _secret are optional in google provider 6.x).
            iap={"enabled": True} if iap else None)
        self.iap_access = grant_iap(self, iap, project=project, backend_name=self.backend.get_string_attribute("name")) if iap else None
        routes = static_routes(static_backend, self.backend.get_string_attribute("id"))
        url_map = resource(self, "url-map", "google_compute_url_map", project=project, name=f"{name}-urls",
                           default_service=self.backend.get_string_attribute("id"), **routes)
        self.ssl_policy = resource(self, "ssl-policy", "google_compute_ssl_policy", project=project, name=f"{name}-tls",
                                   profile="RESTRICTED", min_tls_version="TLS_1_2")
        certs = list(ssl_certificates)
        if domains:
            cert = resource(self, "certificate", "google_compute_managed_ssl_certificate", project=project, name=f"{name}-cert",
                            managed={"domains": list(domains)}, lifecycle={"create_before_destroy": True})
            certs.append(cert.get_string_attribute("id"))
        proxy = resource(self, "https-proxy", "google_compute_target_https_proxy", project=project, name=f"{name}-https",
                         url_map=url_map.get_string_attribute("id"), ssl_certificates=certs,
                         ssl_policy=self.ssl_policy.get_string_attribute("id"))
        self.address = resource(self, "address", "google_compute_global_address", project=project, name=f"{name}-ip", ip_version="IPV4",
                                address_type="EXTERNAL")
        self.ip_address: str = self.address.get_string_attribute("address")
        self.forwarding_rule = resource(self, "https", "google_compute_global_forwarding_rule", project=project, name=f"{name}-https",
                                        target=proxy.get_string_attribute("id"), ip_address=self.address.get_string_attribute("id"),
                                        port_range="443", ip_protocol="TCP", load_balancing_scheme="EXTERNAL_MANAGED")
        self.autoscaler = autoscaler(self, project=project, name=name, region=region, target=autoscale_group, min_replicas=min_replicas,
                                     max_replicas=max_replicas, cpu_target=cpu_target, lb_utilization_target=lb_utilization_target,
                                     cooldown_seconds=cooldown_seconds)


def static_routes(static_backend: tuple[str, str] | None, default_service: str) -> dict:
    """The URL map's host rule and path matcher sending ``static_backend[0]`` to the backend bucket ``static_backend[1]``
    (https://cloud.google.com/load-balancing/docs/url-map-concepts: a path rule's path starts with ``/`` and may end
    with ``/*``); nothing without one."""
    if static_backend is None:
        return {}
    path, backend = static_backend
    if not path.startswith("/") or "*" in path[:-1] or (path.endswith("*") and not path.endswith("/*")):
        raise ValueError(f"static_backend's path must start with '/' and may end with '/*' only, got {path!r}")
    return {"host_rule": [{"hosts": ["*"], "path_matcher": "static"}],
            "path_matcher": [{"name": "static", "default_service": default_service, "path_rule": [{"paths": [path], "service": backend}]}]}


def check_serving(name: str, instance_groups: Sequence[str], domains: Sequence[str] | str, ssl_certificates: Sequence[str],
                  network_tags: Sequence[str], min_replicas: int, max_replicas: int, requests_per_replica: float, cpu_target: float | None,
                  lb_utilization_target: float) -> None:
    """The props a public and an internal endpoint share, checked the same way."""
    check_name(name, "name", 50)
    if not instance_groups:
        raise ValueError("instance_groups must name at least one group")
    if not domains and not ssl_certificates:
        raise ValueError("domains or ssl_certificates is required: the endpoint serves HTTPS only")
    if not network_tags:
        raise ValueError("network_tags must name the nodes' tag (the health-check firewall rule targets it)")
    if not 1 <= min_replicas <= max_replicas:
        raise ValueError(f"replicas must satisfy 1 <= min_replicas <= max_replicas, got {min_replicas} and {max_replicas}")
    if requests_per_replica <= 0 or cpu_target is not None and not 0 < cpu_target <= 1 or not 0 < lb_utilization_target <= 1:
        raise ValueError("requests_per_replica must be positive; cpu_target (when given) and lb_utilization_target between 0 and 1")


def check_response_timeout(seconds: int) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_RESPONSE_TIMEOUT:
        raise ValueError(f"response_timeout_seconds must be a whole number of seconds from 1 to {MAX_RESPONSE_TIMEOUT:,} (a day; Google "
                         f"recommends no longer backend service timeout), got {seconds!r}")


def autoscaler(scope: Construct, *, project: str, name: str, region: str, target: str, min_replicas: int, max_replicas: int,
               lb_utilization_target: float, cooldown_seconds: int, cpu_target: float | None = None):
    """The regional autoscaler of a serving group (public and internal endpoints alike):
    load-balancing utilization (and CPU utilization only when ``cpu_target`` is given: CPU-only
    groups), min replicas from availability, one replica removed at a time."""
    policy = {"min_replicas": min_replicas, "max_replicas": max_replicas, "cooldown_period": cooldown_seconds, "mode": "ON"}
    if cpu_target is not None:
        policy["cpu_utilization"] = {"target": cpu_target}
    policy["load_balancing_utilization"] = {"target": lb_utilization_target}
    policy["scale_in_control"] = {"max_scaled_in_replicas": {"fixed": 1}, "time_window_sec": 600}
    return resource(scope, "autoscaler", "google_compute_region_autoscaler", project=project, name=f"{name}-autoscaler", region=region,
                    target=target, autoscaling_policy=policy)
