"""Regional internal HTTPS load balancer in front of an inference group: reachable from the VPC
only (``exposure: internal``), TLS 1.2+ with a RESTRICTED policy and a Google-managed certificate
(Certificate Manager, DNS authorization), and the same regional autoscaler as the public endpoint
(load-balancing utilization against ``max_rate_per_instance``; CPU only when ``cpu_target`` is
given: ``inference_endpoint``'s docstring says why).

https://cloud.google.com/load-balancing/docs/l7-internal/setting-up-l7-internal (proxy-only
subnet, INTERNAL_MANAGED backend service, regional URL map / target HTTPS proxy / forwarding rule);
https://cloud.google.com/certificate-manager/docs/deploy-google-managed-dns-auth (regional
Google-managed certificates for internal Application Load Balancers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiinfra.cdk import Construct, Fn, TerraformOutput

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.inference_endpoint import (HEALTH_CHECK_RANGES, MAX_DRAINING_SECONDS, IapAccess, autoscaler, check_response_timeout,
                                                       check_serving, grant_iap)


class InternalEndpoint(Construct):
    """An HTTPS endpoint for a ``GpuInstanceGroup`` that only the VPC can reach.

    Example::

        InternalEndpoint(stack, "endpoint", project="acme-ml-prod", name="acme-prod-reco", region="us-central1",
                         network=net.network_id, subnetwork=net.subnetwork_self_link, proxy_only_cidr=net.proxy_only_cidr,
                         network_tags=[net.node_tag], instance_groups=group.instance_groups, autoscale_group=group.id,
                         min_replicas=2, max_replicas=4, requests_per_replica=260, domains=["reco.internal.acme.example"])

    Args:
        project, region, name: where and the prefix of every resource name.
        network, subnetwork: the VPC and the subnet the endpoint's address is taken from.
        proxy_only_cidr: the region's proxy-only subnet (``ClusterNetwork(proxy_only_cidr=...)``);
            the load balancer's proxies reach the nodes from it.
        network_tags: the nodes' tag; only the proxies and Google's health checkers may reach ``port``.
        instance_groups, autoscale_group, min_replicas, max_replicas, requests_per_replica,
        cpu_target, lb_utilization_target, cooldown_seconds: as ``InferenceEndpoint`` (no CPU
        signal unless ``cpu_target`` is given: CPU-only serving groups).
        domains: names for a Google-managed certificate, proven through DNS authorization: add
            the records of output ``dns_authorization_records`` to the domains' DNS (a list or a
            Terraform list expression); or ``ssl_certificates``: regional certificate ids.
        port, health_check_path: the model server's; defaults 8080 and ``/health``.
        depends_on: what the forwarding rule waits for (the proxy-only subnet).
        iap: ``IapAccess``: Identity-Aware Proxy on the regional backend service, as on
            ``InferenceEndpoint`` (IAP protects internal Application Load Balancers' backend
            services too, https://cloud.google.com/iap/docs/enabling-compute-howto); left out, any
            client in the VPC may call.
        response_timeout_seconds: the backend service's ``timeout_sec`` and connection draining,
            as ``InferenceEndpoint``'s; default 30.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, region: str, network: str, subnetwork: str, proxy_only_cidr: str,
                 network_tags: Sequence[str], instance_groups: Sequence[str], autoscale_group: str, min_replicas: int, max_replicas: int,
                 requests_per_replica: float, domains: Sequence[str] | str = (), ssl_certificates: Sequence[str] = (),
                 cpu_target: float | None = None, lb_utilization_target: float = 0.8, port: int = 8080, health_check_path: str = "/health",
                 cooldown_seconds: int = 300, depends_on: Sequence[Any] = (), iap: IapAccess | None = None,
                 response_timeout_seconds: int = 30):
        super().__init__(scope, id)
        check_serving(name, instance_groups, domains, ssl_certificates, network_tags, min_replicas, max_replicas, requests_per_replica,
                      cpu_target, lb_utilization_target)
        check_response_timeout(response_timeout_seconds)
        self.health_check = resource(self, "health", "google_compute_region_health_check", project=project, region=region,
                                     name=f"{name}-health", check_interval_sec=10, timeout_sec=5, healthy_threshold=2, unhealthy_threshold=3,
                                     http_health_check={"port": port, "request_path": health_check_path}, log_config={"enable": True})
        resource(self, "allow-lb", "google_compute_firewall", project=project, name=f"{name}-allow-lb", network=network, direction="INGRESS",
                 priority=1000, source_ranges=[proxy_only_cidr, *HEALTH_CHECK_RANGES], target_tags=list(network_tags),
                 allow=[{"protocol": "tcp", "ports": [str(port)]}], log_config={"metadata": "INCLUDE_ALL_METADATA"},
                 description=f"the internal load balancer's proxies and health checks to the model server port {port}")
        self.backend = resource(
            self, "backend", "google_compute_region_backend_service", project=project, region=region, name=f"{name}-backend",
            protocol="HTTP", port_name="http", load_balancing_scheme="INTERNAL_MANAGED", timeout_sec=response_timeout_seconds,
            connection_draining_timeout_sec=min(response_timeout_seconds, MAX_DRAINING_SECONDS),
            health_checks=[self.health_check.get_string_attribute("id")],
            backend=[{"group": g, "balancing_mode": "RATE", "max_rate_per_instance": round(requests_per_replica, 2), "capacity_scaler": 1}
                     for g in instance_groups],
            log_config={"enable": True, "sample_rate": 1}, iap={"enabled": True} if iap else None)
        self.iap_access = (grant_iap(self, iap, project=project, backend_name=self.backend.get_string_attribute("name"), region=region)
                           if iap else None)
        url_map = resource(self, "url-map", "google_compute_region_url_map", project=project, region=region, name=f"{name}-urls",
                           default_service=self.backend.get_string_attribute("id"))
        self.ssl_policy = resource(self, "ssl-policy", "google_compute_region_ssl_policy", project=project, region=region, name=f"{name}-tls",
                                   profile="RESTRICTED", min_tls_version="TLS_1_2")
        managed = []
        if domains:
            each = Fn.toset(domains) if isinstance(domains, str) else Fn.toset(list(domains))
            auth = resource(self, "dns-authorization", "google_certificate_manager_dns_authorization", project=project, location=region,
                            for_each=each, name=f"{name[:20]}-" + '${substr(replace(each.value, ".", "-"), 0, 40)}', domain="${each.value}",
                            type="PER_PROJECT_RECORD", description=f"proves {name}'s domains to Certificate Manager")
            address = f"{auth.terraform_resource_type}.{auth.friendly_unique_id}"
            cert = resource(self, "certificate", "google_certificate_manager_certificate", project=project, location=region,
                            name=f"{name}-cert", scope="DEFAULT",
                            managed={"domains": domains if isinstance(domains, str) else list(domains),
                                     "dns_authorizations": f"${{[for a in {address} : a.id]}}"},
                            lifecycle={"create_before_destroy": True})
            managed.append(cert.get_string_attribute("id"))
            TerraformOutput(self, "dns-authorization-records", static_id=False, value=f"${{{{for k, a in {address} : k => a.dns_resource_record}}}}",
                            description=f"DNS records that let Certificate Manager issue {name}'s certificate")
        proxy = resource(self, "https-proxy", "google_compute_region_target_https_proxy", project=project, region=region, name=f"{name}-https",
                         url_map=url_map.get_string_attribute("id"), ssl_certificates=list(ssl_certificates) or None,
                         certificate_manager_certificates=managed or None, ssl_policy=self.ssl_policy.get_string_attribute("id"))
        self.address = resource(self, "address", "google_compute_address", project=project, region=region, name=f"{name}-ip",
                                address_type="INTERNAL", subnetwork=subnetwork, purpose="SHARED_LOADBALANCER_VIP")
        self.ip_address: str = self.address.get_string_attribute("address")
        self.forwarding_rule = resource(
            self, "https", "google_compute_forwarding_rule", project=project, region=region, name=f"{name}-https",
            target=proxy.get_string_attribute("id"), ip_address=self.address.get_string_attribute("id"), port_range="443", ip_protocol="TCP",
            load_balancing_scheme="INTERNAL_MANAGED", network=network, subnetwork=subnetwork, network_tier="PREMIUM",
            depends_on=list(depends_on) or None)
        self.autoscaler = autoscaler(self, project=project, name=name, region=region, target=autoscale_group, min_replicas=min_replicas,
                                     max_replicas=max_replicas, cpu_target=cpu_target, lb_utilization_target=lb_utilization_target,
                                     cooldown_seconds=cooldown_seconds)
