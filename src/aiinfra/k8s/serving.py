"""A serving workload's in-cluster objects (issue 29; SPEC.md v3 "Platforms"): Deployment, Service, PodDisruptionBudget,
HorizontalPodAutoscaler, and its exposure with the VM platform's Step 4 controls (HTTPS only, TLS 1.2+, the WAF web ACL /
Cloud Armor policy on a public endpoint, OIDC / IAP authentication when the spec asks for it, access logs).

``serving_documents(spec, plan, w, cluster, exposure) -> list[Doc]``, pure Python (no CDK), in this order:
Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler, then on EKS an Ingress for the AWS Load Balancer
Controller, on GKE a Gateway, HTTPRoute, GCPGatewayPolicy, GCPBackendPolicy and HealthCheckPolicy.

``exposure`` carries what the workload's cloud stack creates (``stacks/kubernetes_aws.py`` AwsKubernetesWorkload,
``stacks/kubernetes_gcp.py`` GcpKubernetesWorkload, their outputs) and the documents refer to: literal values, or
Terraform tokens in the objects stack. Its keys (``AWS_KEYS`` / ``GCP_KEYS``; unknown keys are refused):

AWS (``cluster.cloud == "aws"``):
- ``certificate_arn`` (required): the ACM certificate of the HTTPS listener (output ``endpoint_certificate_arn``).
- ``web_acl_arn`` (required when the endpoint is public): the WAF web ACL (output ``web_acl_arn``).
- ``access_log_bucket``: the foundation's log bucket; the ALB writes its access logs under ``alb/<name>``.
- ``vpc_cidr``: an internal endpoint admits this range only (as the VM platform's internal load balancer).
- ``oidc`` (required when the spec asks for API authentication): ``issuer``, ``authorization_endpoint``,
  ``token_endpoint``, ``user_info_endpoint``, ``secret_name`` (a Secret in the namespace with keys ``clientID`` and
  ``clientSecret``: the controller reads the client from it), optional ``scope``.
GKE (``cluster.cloud == "gcp"``):
- ``ssl_policy`` (required): the TLS 1.2+ SSL policy of the Gateway (output ``ssl_policy``).
- ``pre_shared_certs`` (public) or ``certificate_manager_certs`` (internal): the certificates' names (a list, or one
  comma-separated text, as the listener option takes them).
- ``security_policy`` (required when the endpoint is public): the Cloud Armor policy's name (output ``security_policy``).
- ``iap`` (required when the spec asks for API authentication): ``{}`` (IAP with the Google-managed OAuth client, as
  the VM platform's backend) or ``{"client_id": ..., "secret_name": ...}`` (a custom client, its secret in a Secret
  with key ``key``).
- ``domains``: the HTTPRoute's hostnames.
Both:
- ``image``: the container image when the spec has none (the objects stack's ``image`` variable);
- ``data_bucket``: the foundation's data bucket (``AIINFRA_CHECKPOINT_URI`` / ``AIINFRA_DATA_URI``, as on VMs).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from aiinfra.k8s import POOL_LABEL, Doc, labels, namespace
from aiinfra.planner import rules
from aiinfra.planner.security import api_authentication, endpoint_timeout
# REQUESTS_METRIC: the pods metric the derived HPA tracks (the guide's), served to the HPA by the custom metrics adapter the
# add-ons stack installs (k8s/versions.py pins it) from the model server's request rate.
from aiinfra.spec.autoscaling import REQUESTS_METRIC, hpa_spec, is_document

AWS_KEYS = ("certificate_arn", "web_acl_arn", "access_log_bucket", "vpc_cidr", "oidc", "image", "data_bucket")
GCP_KEYS = ("ssl_policy", "pre_shared_certs", "certificate_manager_certs", "security_policy", "iap", "domains", "image", "data_bucket")
OIDC_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint", "secret_name", "scope")
COMPONENT = "serving"
# The guide's CPU target (70% of the pods' CPU request), for CPU-only serving: a GPU replica's CPU says little about its
# load (constructs/aws/inference_endpoint.py's docstring), so GPU serving scales on requests alone, as on VMs.
CPU_TARGET_PERCENT = 70
# What the objects stack leaves to the HPA after the Deployment's creation (kubernetes_manifest computed_fields; Argo CD
# ignoreDifferences): the HPA owns spec.replicas
# (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling).
HPA_OWNED_FIELDS = ("spec.replicas",)
# The node taints of the accelerator pools (constructs/aws/eks_node_pool.py, constructs/gcp/gke_node_pool.py) and the
# extended resource each device plugin advertises.
GPU_RESOURCE = {"cuda": "nvidia.com/gpu", "neuron": "aws.amazon.com/neuron"}
# The share of a node's vCPUs and memory one replica requests: the rest is the kubelet's reserve and the DaemonSets'
# (device plugin, DCGM exporter, CNI, log and metrics agents). One replica a node, as the plan sizes it.
NODE_SHARE = 0.75
# A model server loads its weights before it answers: the startup probe allows what a VM serving node is allowed
# (stacks/nodes.py SERVING_GRACE_SECONDS, 20 minutes) before the kubelet restarts it; liveness and readiness start after.
STARTUP_SECONDS = 1200
PROBE_PERIOD_SECONDS = 10
# ALB listener TLS policy: TLS 1.3 and 1.2 only, the VM endpoint's (constructs/aws/inference_endpoint.py TLS13_POLICY;
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html).
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# GatewayClasses of the GKE Gateway controller
# (https://cloud.google.com/kubernetes-engine/docs/concepts/gateway-api#gatewayclass): the global external Application
# Load Balancer for a public endpoint, the regional internal one (gke-l7-rilb) for exposure: internal.
GATEWAY_CLASS = {"public": "gke-l7-global-external-managed", "internal": "gke-l7-rilb"}
GATEWAY_API = "gateway.networking.k8s.io/v1"
GKE_POLICY_API = "networking.gke.io/v1"
# An ALB name: at most 32 characters (annotation load-balancer-name: "Name longer than 32 characters will be treated as
# an error", kubernetes-sigs/aws-load-balancer-controller docs/guide/ingress/annotations.md).
ALB_NAME_MAX = 32
# Every annotation below is the AWS Load Balancer Controller's, as its guide names them:
# https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/main/docs/guide/ingress/annotations.md
ALB = "alb.ingress.kubernetes.io/"


def serving_documents(spec, plan, w, cluster, exposure: dict[str, Any]) -> list[Doc]:
    """The serving workload ``w``'s documents (module docstring), in namespace ``namespace(spec)``."""
    if w.type != "inference":
        raise ValueError(f"{w.name} is a {w.type} workload: serving_documents takes inference workloads (k8s/jobs.py runs batch work)")
    cloud = cluster.cloud
    known = AWS_KEYS if cloud == "aws" else GCP_KEYS
    unknown = sorted(set(exposure) - set(known))
    if unknown:
        raise ValueError(f"exposure keys {', '.join(unknown)} are not {cloud}'s: it takes {', '.join(known)}")
    sw = next(x for x in spec.workload_inventory if x.name == w.name)
    image = w.image or exposure.get("image")
    if not image:
        raise ValueError(f"{w.name} has no image: set image: in the spec, or pass exposure['image'] (the objects stack's image variable)")
    port = w.port or rules.DEFAULT_MODEL_PORT
    path = w.health_check_path or rules.DEFAULT_HEALTH_CHECK_PATH
    public = (w.exposure or "public") != "internal"
    docs = [deployment(spec, plan, w, sw, image, port, path, cloud, exposure.get("data_bucket")), service(spec, w, port),
            disruption_budget(spec, w), autoscaler(spec, w, sw.autoscaling)]
    if cloud == "aws":
        docs.append(ingress(spec, w, exposure, port, path, public))
    else:
        docs += gateway(spec, w, exposure, port, path, public)
    return docs


def _meta(spec, name: str, w, **extra) -> dict[str, Any]:
    return {"name": name, "namespace": namespace(spec), "labels": labels(spec, COMPONENT, w.name), **extra}


def selector(w) -> dict[str, str]:
    """The pods of ``w`` (the Deployment's selector, immutable once created)."""
    return {"app.kubernetes.io/name": w.name, "app.kubernetes.io/component": COMPONENT}


def _quantity(x: float) -> str:
    """A resource.Quantity of ``x``: whole units, else milli-units (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/)."""
    if float(x).is_integer() or x >= 10:
        return str(round(x))
    return f"{max(1, round(x * 1000))}m"


def deployment(spec, plan, w, sw, image: str, port: int, path: str, cloud: str, data_bucket: str | None) -> Doc:
    pools = [p.name for p in plan.pools_of(w.name)] or list(w.node_pools)
    runtime = w.accelerator_runtime if w.gpu else ""
    resource = GPU_RESOURCE.get(runtime)
    requests: dict[str, Any] = {"cpu": _quantity(max(1.0, w.vcpus_per_node * NODE_SHARE)),
                                "memory": f"{max(1, math.floor(w.memory_gib_per_node * NODE_SHARE))}Gi"}
    # A CPU limit of the whole node (it throttles nothing the node could give): a namespace whose quota counts
    # limits.cpu (the guide's development block) refuses pods without one
    # (https://kubernetes.io/docs/concepts/policy/resource-quotas/#requests-vs-limits).
    limits: dict[str, Any] = {"cpu": _quantity(max(1.0, w.vcpus_per_node)), "memory": requests["memory"]}
    if resource and w.gpus_per_node:
        # Extended resources are requested as limits (requests default to them): every accelerator of the node.
        limits[resource] = w.gpus_per_node
        requests[resource] = w.gpus_per_node
    env = [{"name": "AIINFRA_WORKLOAD", "value": w.name}, {"name": "AIINFRA_PORT", "value": str(port)},
           {"name": "AIINFRA_SCRATCH", "value": "/scratch"}]
    if data_bucket:
        scheme = "s3" if cloud == "aws" else "gs"
        env += [{"name": "AIINFRA_CHECKPOINT_URI", "value": f"{scheme}://{data_bucket}/{w.name}/checkpoints/"},
                {"name": "AIINFRA_DATA_URI", "value": f"{scheme}://{data_bucket}/{w.name}/data/"}]
    env += [{"name": k, "value": v} for k, v in sorted(sw.env.items())]

    def probe(period: int, failures: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}

    container: dict[str, Any] = {
        "name": "model", "image": image, "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}], "env": env,
        "resources": {"requests": requests, "limits": limits},
        # https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/: liveness and readiness
        # wait for the startup probe, which allows the model its load time.
        "startupProbe": probe(PROBE_PERIOD_SECONDS, math.ceil(STARTUP_SECONDS / PROBE_PERIOD_SECONDS)),
        "readinessProbe": probe(5, 3), "livenessProbe": probe(15, 3),
        # No root escalation, no Linux capabilities, the runtime's seccomp profile
        # (https://kubernetes.io/docs/concepts/security/pod-security-standards/, "restricted" but for runAsNonRoot: the
        # image's user is the image's choice, and many model server images run as root: forcing a non-root user would
        # fail them at start. Set it in the image.)
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": False},
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}, {"name": "shm", "mountPath": "/dev/shm"}],
    }
    if sw.command:
        container["args"] = list(sw.command)  # the spec's command replaces the image's CMD, as `docker run IMAGE cmd...` on VMs
    pod: dict[str, Any] = {
        "serviceAccountName": w.name,
        # The pod's cloud identity comes from EKS Pod Identity / GKE Workload Identity, not from a Kubernetes API token.
        "automountServiceAccountToken": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        # The model server's shared memory (docker's --ipc host on VMs) and scratch space on the node's disk.
        "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "shm", "emptyDir": {"medium": "Memory"}}],
        "terminationGracePeriodSeconds": max(30, endpoint_timeout(spec, w)),
    }
    if runtime in ("cuda", "neuron"):
        pod["tolerations"] = [{"key": GPU_RESOURCE[runtime], "operator": "Exists", "effect": "NoSchedule"}]
    if len(pools) == 1:
        pod["nodeSelector"] = {POOL_LABEL: pools[0]}
    elif pools:
        # A mixed workload: its on-demand base pool first (the plan's order), spot above it.
        pod["affinity"] = {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": POOL_LABEL, "operator": "In", "values": pools}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {"matchExpressions": [
                {"key": POOL_LABEL, "operator": "In", "values": pools[:1]}]}}]}}
    zones = len(w.zones)
    # Replicas spread evenly over zones (https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/):
    # a hard constraint, counting zones without nodes yet (minDomains), when the plan spreads them for availability.
    spread: dict[str, Any] = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                              "labelSelector": {"matchLabels": selector(w)}}
    if w.placement == "spread" and zones > 1:
        spread.update(whenUnsatisfiable="DoNotSchedule", minDomains=zones)
    else:
        spread["whenUnsatisfiable"] = "ScheduleAnyway"
    pod["topologySpreadConstraints"] = [spread]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(spec, w.name, w),
            # No spec.replicas: the HPA owns it, and a manifest that sets it takes it back at every apply (server-side
            # apply conflicts with the HPA's field manager): "remove spec.replicas from the manifest"
            # (https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#migrating-deployments-and-statefulsets-to-horizontal-autoscaling).
            # The Deployment starts at one replica and the HPA raises it to its minReplicas at once.
            "spec": {"selector": {"matchLabels": selector(w)},
                     # A replica at a time, the new one ready first: capacity never drops below the plan's during a rollout.
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                     "template": {"metadata": {"labels": {**labels(spec, COMPONENT, w.name), **selector(w)}}, "spec": pod}}}


def service(spec, w, port: int) -> Doc:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(spec, w.name, w),
            "spec": {"type": "ClusterIP", "selector": selector(w),
                     "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}}


def disruption_budget(spec, w) -> Doc:
    """At least the replicas that carry the expected qps at full throughput stay up through voluntary disruptions
    (drains, upgrades, the cluster autoscaler's scale-in), as a share of the replicas so it follows the HPA
    (https://kubernetes.io/docs/tasks/run-application/configure-pdb/: a percentage minAvailable rounds up), and never all
    of them at the HPA's floor, or no node could drain. One replica at the floor: maxUnavailable 1 (a single replica
    cannot be kept through a drain; the budget lets it go rather than block the node)."""
    floor = max(1, w.min_nodes)
    budget: dict[str, Any]
    if floor <= 1 or not w.replica_qps or not w.expected_qps:
        budget = {"maxUnavailable": 1}
    else:
        keep = max(1, math.ceil(w.expected_qps / w.replica_qps))
        share = math.ceil(100 * keep / max(w.nodes, 1))
        share = min(share, 100 * (floor - 1) // floor, *([100 * (w.nodes - 1) // w.nodes] if w.nodes > 1 else []))
        budget = {"minAvailable": f"{max(share, 1)}%"}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(spec, w.name, w),
            "spec": {**budget, "selector": {"matchLabels": selector(w)}}}


def autoscaler(spec, w, given: dict[str, Any] | None) -> Doc:
    """The guide's HPA as written (``autoscaling``: its spec, or the whole document) with the workload's Deployment as
    its target, else one derived from the plan: its min and max replicas and the replica's planned throughput at the
    target utilisation as a pods metric (the HPA walkthrough's custom pods metric:
    https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale-walkthrough/#autoscaling-on-multiple-metrics-and-custom-metrics),
    the same target the VM platform's autoscaler tracks."""
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name}
    if given is not None:
        doc = copy.deepcopy(given) if is_document(given) else {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                                                "spec": copy.deepcopy(given)}
        meta = doc.setdefault("metadata", {})
        meta.setdefault("name", w.name)
        meta["namespace"] = namespace(spec)
        meta["labels"] = {**labels(spec, COMPONENT, w.name), **meta.get("labels", {})}
        body = hpa_spec(doc)
        body.setdefault("scaleTargetRef", target)
        return doc
    per_replica = (w.replica_qps or 100.0) * (w.target_utilization or rules.DEFAULT_TARGET_UTILIZATION)
    metrics: list[dict[str, Any]] = [{"type": "Pods", "pods": {"metric": {"name": REQUESTS_METRIC},
                                                               "target": {"type": "AverageValue", "averageValue": _quantity(per_replica)}}}]
    if not w.gpu:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                   "averageUtilization": CPU_TARGET_PERCENT}}})
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(spec, w.name, w),
            "spec": {"scaleTargetRef": target, "minReplicas": max(1, w.min_nodes), "maxReplicas": max(w.max_nodes, w.min_nodes, 1),
                     "metrics": metrics}}


def load_balancer_name(spec, w) -> str:
    from aiinfra.naming import resource_prefix, short

    return short(f"{resource_prefix(spec.project, spec.environment)}-{w.name}", ALB_NAME_MAX)


def ingress(spec, w, exposure: dict[str, Any], port: int, path: str, public: bool) -> Doc:
    """The ALB of the AWS Load Balancer Controller, as the VM platform's endpoint: HTTPS on 443 only (no plain HTTP
    listener, so no ssl-redirect), the TLS 1.2+ policy, the WAF web ACL on a public endpoint, access logs, invalid
    headers dropped, the response timeout as the idle timeout, OIDC when the spec asks for authentication, and
    targets registered by pod IP (target-type ip: no NodePort on the GPU nodes)."""
    name = load_balancer_name(spec, w)
    timeout = endpoint_timeout(spec, w)
    if not exposure.get("certificate_arn"):
        raise ValueError(f"{w.name}: exposure['certificate_arn'] is required (the endpoint serves HTTPS only)")
    attributes = [f"idle_timeout.timeout_seconds={timeout}", "routing.http.drop_invalid_header_fields.enabled=true",
                  "deletion_protection.enabled=true"]
    if exposure.get("access_log_bucket"):
        attributes += ["access_logs.s3.enabled=true", f"access_logs.s3.bucket={exposure['access_log_bucket']}",
                       f"access_logs.s3.prefix=alb/{name}"]
    notes = {
        f"{ALB}load-balancer-name": name,
        f"{ALB}scheme": "internet-facing" if public else "internal",
        f"{ALB}target-type": "ip",
        f"{ALB}listen-ports": json.dumps([{"HTTPS": 443}]),
        f"{ALB}certificate-arn": exposure["certificate_arn"],
        f"{ALB}ssl-policy": ALB_SSL_POLICY,
        f"{ALB}backend-protocol": "HTTP",
        f"{ALB}healthcheck-path": path,
        f"{ALB}healthcheck-port": "traffic-port",
        f"{ALB}healthcheck-interval-seconds": "15",
        f"{ALB}healthcheck-timeout-seconds": "5",
        f"{ALB}healthy-threshold-count": "2",
        f"{ALB}unhealthy-threshold-count": "3",
        f"{ALB}success-codes": "200",
        f"{ALB}load-balancer-attributes": ",".join(attributes),
        f"{ALB}target-group-attributes": f"deregistration_delay.timeout_seconds={min(timeout, 3600)}",
    }
    if public:
        if not exposure.get("web_acl_arn"):
            raise ValueError(f"{w.name}: a public endpoint keeps its WAF web ACL: exposure['web_acl_arn'] is required")
        notes[f"{ALB}wafv2-acl-arn"] = exposure["web_acl_arn"]
    elif exposure.get("vpc_cidr"):
        notes[f"{ALB}inbound-cidrs"] = exposure["vpc_cidr"]
    if api_authentication(spec):
        oidc = exposure.get("oidc")
        if not isinstance(oidc, dict) or any(not oidc.get(k) for k in OIDC_KEYS[:5]):
            raise ValueError(f"{w.name}: the spec asks for API authentication: exposure['oidc'] needs {', '.join(OIDC_KEYS[:5])}")
        extra = sorted(set(oidc) - set(OIDC_KEYS))
        if extra:
            raise ValueError(f"{w.name}: exposure['oidc'] keys {', '.join(extra)} are unknown; it takes {', '.join(OIDC_KEYS)}")
        notes[f"{ALB}auth-type"] = "oidc"
        notes[f"{ALB}auth-idp-oidc"] = json.dumps({"issuer": oidc["issuer"], "authorizationEndpoint": oidc["authorization_endpoint"],
                                                   "tokenEndpoint": oidc["token_endpoint"], "userInfoEndpoint": oidc["user_info_endpoint"],
                                                   "secretName": oidc["secret_name"]})
        notes[f"{ALB}auth-scope"] = oidc.get("scope") or "openid"
        notes[f"{ALB}auth-on-unauthenticated-request"] = "authenticate"
        notes[f"{ALB}auth-session-timeout"] = "3600"  # the VM endpoint's session (OidcAuthentication.session_timeout_seconds)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": _meta(spec, w.name, w, annotations=notes),
            "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": w.name, "port": {"number": port}}}}]}}]}}


def gateway(spec, w, exposure: dict[str, Any], port: int, path: str, public: bool) -> list[Doc]:
    """The GKE Gateway of the workload (its own load balancer, as on VMs), its route, and the policies that keep the VM
    endpoint's controls (https://cloud.google.com/kubernetes-engine/docs/how-to/configure-gateway-resources):
    GCPGatewayPolicy's sslPolicy (TLS 1.2+), GCPBackendPolicy's securityPolicy (Cloud Armor, public endpoints), iap
    (authentication), timeoutSec and logging, HealthCheckPolicy on the health path."""
    name = w.name
    if not exposure.get("ssl_policy"):
        raise ValueError(f"{w.name}: exposure['ssl_policy'] is required (TLS 1.2+ on the Gateway, as on the VM endpoint)")
    certs_key = "pre_shared_certs" if public else "certificate_manager_certs"
    certs = exposure.get(certs_key)
    if not certs:
        raise ValueError(f"{w.name}: exposure['{certs_key}'] is required (the endpoint serves HTTPS only)")
    option = "networking.gke.io/pre-shared-certs" if public else "networking.gke.io/cert-manager-certs"
    listener = {"name": "https", "protocol": "HTTPS", "port": 443,
                "tls": {"mode": "Terminate", "options": {option: certs if isinstance(certs, str) else ",".join(certs)}},
                "allowedRoutes": {"namespaces": {"from": "Same"}}}
    gw = {"apiVersion": GATEWAY_API, "kind": "Gateway", "metadata": _meta(spec, name, w),
          "spec": {"gatewayClassName": GATEWAY_CLASS["public" if public else "internal"], "listeners": [listener]}}
    route_spec: dict[str, Any] = {"parentRefs": [{"name": name, "sectionName": "https"}],
                                  "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                             "backendRefs": [{"name": w.name, "port": port}]}]}
    if exposure.get("domains"):
        route_spec["hostnames"] = list(exposure["domains"])
    route = {"apiVersion": GATEWAY_API, "kind": "HTTPRoute", "metadata": _meta(spec, name, w), "spec": route_spec}
    gw_policy = {"apiVersion": GKE_POLICY_API, "kind": "GCPGatewayPolicy", "metadata": _meta(spec, name, w),
                 "spec": {"default": {"sslPolicy": exposure["ssl_policy"]},
                          "targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": name}}}
    service_ref = {"group": "", "kind": "Service", "name": w.name}
    timeout = endpoint_timeout(spec, w)
    # The VM backend's response timeout and connection draining (a replica scaled in finishes its requests first), every
    # request logged (sampleRate 1000000 = all: the CRD's LoggingConfig, as the VM backend's log_config sample_rate 1).
    backend: dict[str, Any] = {"timeoutSec": timeout, "connectionDraining": {"drainingTimeoutSec": min(timeout, 3600)},
                               "logging": {"enabled": True, "sampleRate": 1000000}}
    if public:
        if not exposure.get("security_policy"):
            raise ValueError(f"{w.name}: a public endpoint keeps its Cloud Armor policy: exposure['security_policy'] is required")
        backend["securityPolicy"] = exposure["security_policy"]
    if api_authentication(spec):
        iap = exposure.get("iap")
        if not isinstance(iap, dict):
            raise ValueError(f"{w.name}: the spec asks for API authentication: exposure['iap'] is required ({{}} for the Google-managed "
                             "OAuth client, or client_id and secret_name)")
        backend["iap"] = {"enabled": True}
        if iap.get("client_id"):
            backend["iap"].update(clientID=iap["client_id"], oauth2ClientSecret={"name": iap["secret_name"]})
    backend_policy = {"apiVersion": GKE_POLICY_API, "kind": "GCPBackendPolicy", "metadata": _meta(spec, w.name, w),
                      "spec": {"default": backend, "targetRef": service_ref}}
    health = {"apiVersion": GKE_POLICY_API, "kind": "HealthCheckPolicy", "metadata": _meta(spec, w.name, w),
              "spec": {"default": {"checkIntervalSec": 15, "timeoutSec": 5, "healthyThreshold": 2, "unhealthyThreshold": 3,
                                   "logConfig": {"enabled": True},  # health check logs, as the VM health check's log_config
                                   "config": {"type": "HTTP", "httpHealthCheck": {"port": port, "requestPath": path}}},
                       "targetRef": service_ref}}
    return [gw, route, gw_policy, backend_policy, health]
