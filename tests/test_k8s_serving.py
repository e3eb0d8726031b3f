"""Serving on the Kubernetes platform (issue 29): the workload key ``autoscaling`` (the guide's HPA, verbatim), the
plan's replica bounds from it, and k8s/serving.py's documents (Deployment, Service, PDB, HPA, the ALB Ingress / GKE
Gateway with the VM platform's WAF / Cloud Armor / authentication), every one checked against the schemas of the
cluster's Kubernetes version and the pinned CRDs (tests/k8s_schema.py)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import yaml

from aiinfra.k8s import POOL_LABEL
from aiinfra.k8s.serving import (ALB, ALB_SSL_POLICY, GATEWAY_CLASS, REQUESTS_METRIC, STARTUP_SECONDS, serving_documents)
from aiinfra.planner import make_plan
from aiinfra.spec import load_spec_text
from tests.conftest import make_spec
from tests.k8s_schema import check_all
from tests.test_bad_input import run_bad

# The guide's HPA, as its Step 2 prints it ("Design for Scalability"), character for character.
GUIDE_HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ai-inference-hpa
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: ai-inference
  minReplicas: 2
  maxReplicas: 20
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 70
  - type: Pods
    pods:
      metric:
        name: requests_per_second
      target:
        type: AverageValue
        averageValue: "100"
"""
GUIDE_SPEC = yaml.safe_load(GUIDE_HPA)["spec"]
GUIDE_SPEC_FORM = {k: v for k, v in GUIDE_SPEC.items() if k != "scaleTargetRef"}  # the spec form leaves scaleTargetRef out

AWS_K8S = "  aws: {region: us-east-1, platform: kubernetes}"
GCP_K8S = "  gcp: {region: us-central1, project: acme-ml-prod, platform: kubernetes}"
AUTH = 'security_controls:\n  access_management:\n    - api_authentication: "OAuth2 + JWT tokens"\n'
AWS_EXPOSURE = {"certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c", "access_log_bucket": "acme-logs",
                "web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acme/0f1e", "vpc_cidr": "10.0.0.0/16"}
GCP_EXPOSURE = {"ssl_policy": "acme-ml-prod-ai-inference-tls", "pre_shared_certs": ["acme-ml-prod-ai-inference-cert"],
                "certificate_manager_certs": ["acme-ml-prod-ai-inference-cert"], "security_policy": "acme-ml-prod-ai-inference-armor",
                "domains": ["api.acme-ml.example.com"]}
OIDC = {"issuer": "https://idp.example.com", "authorization_endpoint": "https://idp.example.com/authorize",
        "token_endpoint": "https://idp.example.com/token", "user_info_endpoint": "https://idp.example.com/userinfo",
        "secret_name": "ai-inference-oidc"}


def workload(autoscaling: str = "", qps: str = "1000", extra: str = "", name: str = "ai-inference") -> str:
    text = f"""
- name: {name}
  type: inference
  model_size: "100MB"
  expected_qps: "{qps}"
  availability_requirement: "99.9%"
  image: "nvcr.io/nvidia/tritonserver:24.08-py3"
  port: 8000
  health_check_path: "/v2/health/ready"
{extra}"""
    if autoscaling:
        text += "  autoscaling:\n" + "".join(f"    {line}\n" for line in autoscaling.splitlines())
    return text


def planned(text: str, clouds: str = AWS_K8S, extra: str = ""):
    loaded = load_spec_text(make_spec(text, clouds=clouds, extra=extra))
    plan = make_plan(loaded)
    w = next(x for x in plan.workloads if x.type == "inference")
    cluster = next(c for c in plan.clusters if c.cloud == w.cloud and c.region == w.region)
    return loaded.spec, plan, w, cluster


def documents(text: str, clouds: str = AWS_K8S, extra: str = "", exposure: dict | None = None):
    spec, plan, w, cluster = planned(text, clouds, extra)
    exposure = dict(exposure if exposure is not None else (AWS_EXPOSURE if cluster.cloud == "aws" else GCP_EXPOSURE))
    docs = serving_documents(spec, plan, w, cluster, exposure)
    assert check_all(docs, cluster.version) == []  # every document against the cluster version's / pinned CRDs' schemas
    return {d["kind"]: d for d in docs}, w, plan


# ---- the guide's HPA, verbatim ---------------------------------------------------------------------------

def test_the_guides_whole_hpa_document_round_trips_unchanged():
    docs, w, _ = documents(workload(GUIDE_HPA))
    hpa = docs["HorizontalPodAutoscaler"]
    given = yaml.safe_load(GUIDE_HPA)
    # Every key the guide wrote, as written; only the namespace and the labels are added to its metadata.
    assert hpa["spec"] == given["spec"]
    assert (hpa["apiVersion"], hpa["kind"], hpa["metadata"]["name"]) == ("autoscaling/v2", "HorizontalPodAutoscaler", "ai-inference-hpa")
    assert {k: v for k, v in hpa["metadata"].items() if k not in ("namespace", "labels")} == given["metadata"]
    assert hpa["metadata"]["namespace"] == "production"
    assert hpa["spec"]["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"] == w.name


def test_the_guides_hpa_spec_form_round_trips_with_the_workloads_deployment_filled_in():
    text = yaml.safe_dump(GUIDE_SPEC_FORM, sort_keys=False)
    spec, *_ = planned(workload(text))
    assert spec.workload_inventory[0].autoscaling == GUIDE_SPEC_FORM  # stored as written
    docs, w, _ = documents(workload(text))
    hpa = docs["HorizontalPodAutoscaler"]
    assert {k: v for k, v in hpa["spec"].items() if k != "scaleTargetRef"} == GUIDE_SPEC_FORM
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name}
    assert hpa["metadata"]["name"] == w.name
    # The spec is never changed by the documents built from it.
    assert spec.workload_inventory[0].autoscaling == GUIDE_SPEC_FORM


def test_the_derived_hpa_follows_the_plan():
    docs, w, _ = documents(workload())
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (w.min_nodes, w.max_nodes)
    [pods] = [m for m in hpa["metrics"] if m["type"] == "Pods"]
    assert pods["pods"]["metric"]["name"] == REQUESTS_METRIC == "requests_per_second"
    assert pods["pods"]["target"] == {"type": "AverageValue", "averageValue": str(round(w.replica_qps * w.target_utilization))}
    assert w.gpu and not [m for m in hpa["metrics"] if m["type"] == "Resource"]  # GPU serving scales on requests alone


# ---- the plan honours the HPA's bounds --------------------------------------------------------------------

def bounded(qps: str, lo: int, hi: int):
    spec, plan, w, _ = planned(workload(f"minReplicas: {lo}\nmaxReplicas: {hi}", qps=qps))
    return plan, w


def test_plan_replicas_within_the_hpa_bounds():
    free = planned(workload())[2]
    plan, w = bounded("1000", 2, 20)
    assert (w.min_nodes, w.max_nodes, w.nodes) == (2, 20, free.nodes)
    assert "autoscaling bounds the replicas to its minReplicas 2 and maxReplicas 20" in w.reasons["nodes"]
    assert not [f for f in plan.findings if f.path.endswith(".autoscaling")]
    plan, w = bounded("1000", 5, 20)  # the HPA's floor above the need: 5 run, 5 are costed
    assert (w.nodes, w.min_nodes) == (5, 5) and "raised to minReplicas" in w.reasons["nodes"]
    assert w.monthly_usd == pytest.approx(free.monthly_usd * 5 / free.nodes, rel=1e-3)


def test_a_need_over_max_replicas_is_capped_and_warned():
    plan, w = bounded("100000", 2, 5)
    assert (w.nodes, w.max_nodes) == (5, 5) and "capped at maxReplicas" in w.reasons["nodes"]
    [warning] = [f for f in plan.findings if f.path == "workload_inventory[0].autoscaling"]
    assert warning.severity == "warning" and "maxReplicas is 5" in warning.message and "raise maxReplicas" in warning.message


def test_the_guides_requests_target_decides_the_replicas_costed():
    free = planned(workload())[2]
    spec, plan, w, _ = planned(workload(GUIDE_HPA))  # 1000 qps over the guide's 100 requests a second a replica
    assert (w.nodes, w.min_nodes, w.max_nodes) == (10, 2, 20) and "1000 / 100 = 10: 10 costed" in w.reasons["nodes"]
    assert w.monthly_usd == pytest.approx(free.monthly_usd * 10 / free.nodes, rel=1e-3)
    [note] = [f for f in plan.findings if f.path == "workload_inventory[0].autoscaling"]
    assert note.severity == "info" and f"where {free.nodes} carry it" in note.message
    # a target above what a replica serves: fewer replicas than the plan needs, and a warning naming the target that would do
    spec, plan, w, _ = planned(workload(GUIDE_HPA.replace('averageValue: "100"', 'averageValue: "5k"'), qps="10000"))
    [warning] = [f for f in plan.findings if f.path == "workload_inventory[0].autoscaling"]
    assert w.nodes == 2 and warning.severity == "warning" and "lower the target" in warning.message


def test_min_replicas_below_the_zones_is_warned():
    plan, w = bounded("10", 1, 20)
    [warning] = [f for f in plan.findings if f.path == "workload_inventory[0].autoscaling"]
    assert "minReplicas 1" in warning.message and f"{len(w.zones)} zones" in warning.message
    assert w.min_nodes == 1 and w.nodes >= len(w.zones)


# ---- Deployment, Service, PDB ---------------------------------------------------------------------------

def test_deployment_runs_the_plan_on_its_pool():
    docs, w, plan = documents(workload(extra='  command: ["tritonserver", "--model-repository=/models"]\n  env: {LOG_LEVEL: info}\n'))
    dep = docs["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    [c] = pod["containers"]
    # the HPA owns the replica count (a manifest that sets it would fight the HPA at every apply)
    assert "replicas" not in dep["spec"] and docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == w.min_nodes
    assert c["resources"]["limits"]["cpu"] == str(round(w.vcpus_per_node))  # a quota that counts limits.cpu admits it
    assert pod["serviceAccountName"] == w.name and pod["automountServiceAccountToken"] is False
    assert c["image"] == w.image and c["args"] == ["tritonserver", "--model-repository=/models"] and "command" not in c
    assert {"name": "LOG_LEVEL", "value": "info"} in c["env"] and {"name": "AIINFRA_PORT", "value": "8000"} in c["env"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == w.gpus_per_node
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {POOL_LABEL: plan.pool_of(w.name).name}
    [spread] = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone" and spread["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["minDomains"] == len(w.zones) == 2
    sc = c["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["allowPrivilegeEscalation"] is False
    svc = docs["Service"]["spec"]
    assert svc["type"] == "ClusterIP" and svc["ports"][0]["port"] == 8000 and svc["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_probes_on_the_port_and_health_path_with_a_startup_allowance():
    docs, *_ = documents(workload())
    [c] = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= STARTUP_SECONDS  # minutes to load the model
    assert c["livenessProbe"]["periodSeconds"] * c["livenessProbe"]["failureThreshold"] < STARTUP_SECONDS


def test_pdb_keeps_the_replicas_that_carry_the_qps():
    docs, w, _ = documents(workload(qps="100000"))
    pdb = docs["PodDisruptionBudget"]["spec"]
    keep = math.ceil(w.expected_qps / w.replica_qps)
    share = int(pdb["minAvailable"].rstrip("%"))
    assert math.ceil(w.nodes * share / 100) >= keep and share < 100  # the peak is carried, and a node can still drain
    docs, w, _ = documents(workload(autoscaling="minReplicas: 1\nmaxReplicas: 4", qps="10"))
    assert docs["PodDisruptionBudget"]["spec"] == {"maxUnavailable": 1, "selector": docs["PodDisruptionBudget"]["spec"]["selector"]}


# ---- exposure keeps the Step 4 controls -----------------------------------------------------------------

def test_alb_ingress_keeps_certificate_tls_waf_and_logs():
    docs, w, _ = documents(workload())
    ing = docs["Ingress"]
    notes = ing["metadata"]["annotations"]
    assert ing["spec"]["ingressClassName"] == "alb"
    assert notes[f"{ALB}scheme"] == "internet-facing" and notes[f"{ALB}target-type"] == "ip"
    assert json.loads(notes[f"{ALB}listen-ports"]) == [{"HTTPS": 443}]
    assert notes[f"{ALB}certificate-arn"] == AWS_EXPOSURE["certificate_arn"] and notes[f"{ALB}ssl-policy"] == ALB_SSL_POLICY
    assert notes[f"{ALB}wafv2-acl-arn"] == AWS_EXPOSURE["web_acl_arn"]
    assert notes[f"{ALB}healthcheck-path"] == "/v2/health/ready"
    attributes = notes[f"{ALB}load-balancer-attributes"].split(",")
    assert "access_logs.s3.enabled=true" in attributes and "access_logs.s3.bucket=acme-logs" in attributes
    assert "routing.http.drop_invalid_header_fields.enabled=true" in attributes
    assert f"{ALB}auth-type" not in notes
    with pytest.raises(ValueError, match="web_acl_arn"):
        documents(workload(), exposure={k: v for k, v in AWS_EXPOSURE.items() if k != "web_acl_arn"})


def test_alb_internal_endpoint_and_oidc_authentication():
    docs, *_ = documents(workload(extra='  exposure: internal\n'), extra=AUTH, exposure={**AWS_EXPOSURE, "oidc": OIDC})
    notes = docs["Ingress"]["metadata"]["annotations"]
    assert notes[f"{ALB}scheme"] == "internal" and notes[f"{ALB}inbound-cidrs"] == "10.0.0.0/16"
    assert f"{ALB}wafv2-acl-arn" not in notes  # the VM platform's WAF guards public endpoints only
    assert notes[f"{ALB}auth-type"] == "oidc" and notes[f"{ALB}auth-on-unauthenticated-request"] == "authenticate"
    assert json.loads(notes[f"{ALB}auth-idp-oidc"])["secretName"] == "ai-inference-oidc"
    with pytest.raises(ValueError, match="API authentication"):  # never an open endpoint the spec says is authenticated
        documents(workload(), extra=AUTH)


def test_gke_gateway_keeps_armor_iap_tls_and_health_checks():
    docs, w, _ = documents(workload(), clouds=GCP_K8S, extra=AUTH, exposure={**GCP_EXPOSURE, "iap": {}})
    assert docs["Gateway"]["spec"]["gatewayClassName"] == GATEWAY_CLASS["public"] == "gke-l7-global-external-managed"
    [listener] = docs["Gateway"]["spec"]["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    assert docs["GCPGatewayPolicy"]["spec"]["default"]["sslPolicy"] == GCP_EXPOSURE["ssl_policy"]
    backend = docs["GCPBackendPolicy"]["spec"]
    assert backend["targetRef"] == {"group": "", "kind": "Service", "name": w.name}
    assert backend["default"]["securityPolicy"] == GCP_EXPOSURE["security_policy"]
    assert backend["default"]["iap"] == {"enabled": True}  # the Google-managed OAuth client, as the VM backend's
    assert backend["default"]["timeoutSec"] == backend["default"]["connectionDraining"]["drainingTimeoutSec"] == 60
    health = docs["HealthCheckPolicy"]["spec"]["default"]["config"]["httpHealthCheck"]
    assert health == {"port": 8000, "requestPath": "/v2/health/ready"}
    assert docs["HTTPRoute"]["spec"]["hostnames"] == GCP_EXPOSURE["domains"]
    custom = {**GCP_EXPOSURE, "iap": {"client_id": "123.apps.googleusercontent.com", "secret_name": "ai-inference-iap"}}
    docs, *_ = documents(workload(), clouds=GCP_K8S, extra=AUTH, exposure=custom)
    assert docs["GCPBackendPolicy"]["spec"]["default"]["iap"] == {
        "enabled": True, "clientID": "123.apps.googleusercontent.com", "oauth2ClientSecret": {"name": "ai-inference-iap"}}
    with pytest.raises(ValueError, match="security_policy"):
        documents(workload(), clouds=GCP_K8S, exposure={k: v for k, v in GCP_EXPOSURE.items() if k != "security_policy"})


def test_gke_internal_gateway_is_regional_without_armor():
    docs, *_ = documents(workload(extra="  exposure: internal\n"), clouds=GCP_K8S)
    assert docs["Gateway"]["spec"]["gatewayClassName"] == "gke-l7-rilb"
    assert "securityPolicy" not in docs["GCPBackendPolicy"]["spec"]["default"]
    options = docs["Gateway"]["spec"]["listeners"][0]["tls"]["options"]
    assert options == {"networking.gke.io/cert-manager-certs": "acme-ml-prod-ai-inference-cert"}


def test_the_schema_check_is_not_blind():
    spec, plan, w, cluster = planned(workload())
    docs = serving_documents(spec, plan, w, cluster, dict(AWS_EXPOSURE))
    broken = copy.deepcopy(docs)
    broken[0]["spec"]["template"]["spec"]["containers"][0]["startupprobe"] = {}
    broken[3]["spec"]["maxReplicas"] = "twenty"
    assert len(check_all(broken, cluster.version)) >= 2


# ---- bad autoscaling input ------------------------------------------------------------------------------

def test_bad_autoscaling_every_problem_one_line_each(tmp_path):
    bad = (GUIDE_HPA.replace("minReplicas: 2", "minReplicas: 30").replace("type: Pods", "type: Pod")
           .replace("name: cpu", "name: gpu").replace("    name: ai-inference\n", "    name: other\n")
           .replace("  name: ai-inference-hpa\n", "  name: ai-inference-hpa\n  namespace: default\n"))
    batch = """
- name: train
  type: training
  gpu_requirements: "8x A100"
  autoscaling: {maxReplicas: 2}
"""
    lines = run_bad(tmp_path, make_spec(workload(bad) + batch, clouds=AWS_K8S))
    at = "workload_inventory[0].autoscaling"
    expected = {f"{at}.spec.minReplicas": "more than maxReplicas 20", f"{at}.spec.metrics[1].type": "'Pod'",
                f"{at}.spec.metrics[0].resource.name": "cpu or memory", f"{at}.spec.scaleTargetRef.name": "ai-inference",
                f"{at}.metadata.namespace": "'production'", "workload_inventory[1].autoscaling": "inference workloads only"}
    for path, needle in expected.items():
        hits = [line for line in lines if line.startswith(f"{path}: ")]
        assert len(hits) == 1 and needle in hits[0], (path, lines)
    assert len([line for line in lines if "autoscaling" in line.split(": ")[0]]) == len(expected)


@pytest.mark.parametrize("value,path,needle", [
    ("{minReplicas: 2}", ".maxReplicas", "required"),
    ("{maxReplicas: 0}", ".maxReplicas", "at least 1"),
    ("{maxReplicas: 3, minReplicas: 0}", ".minReplicas", "HPAScaleToZero"),
    ("{maxReplicas: 3, metrics: [{type: Pods, pods: {metric: {name: rps}, target: {type: Utilization, averageUtilization: 5}}}]}",
     ".metrics[0].pods.target.type", "AverageValue"),
    ("{maxReplicas: 3, metrics: [{type: External, external: {metric: {name: q}, target: {type: Value, value: lots}}}]}",
     ".metrics[0].external.target.value", "not a Kubernetes quantity"),
    ("{maxReplicas: 3, behavior: {scaleDown: {stabilizationWindowSeconds: 7200}}}", ".behavior.scaleDown.stabilizationWindowSeconds", "3600"),
    ("{apiVersion: autoscaling/v1, kind: HorizontalPodAutoscaler, spec: {maxReplicas: 3}}", ".apiVersion", "autoscaling/v2"),
    ("{maxReplicas: 3, maxReplica: 4}", ".maxReplica", "did you mean 'maxReplicas'"),
    ("{maxReplicas: 3, metrics: [{type: Pods, pods: {metric: {name: requests_per_second}, target: {type: AverageValue, averageValue: '0'}}}]}",
     ".metrics[0].pods.target.averageValue", "above 0"),
    ("[2, 20]", "", "valid dictionary"),
])
def test_bad_autoscaling_values(tmp_path, value, path, needle):
    lines = run_bad(tmp_path, make_spec(workload() + f"  autoscaling: {value}\n", clouds=AWS_K8S))
    hits = [line for line in lines if line.startswith(f"workload_inventory[0].autoscaling{path}: ")]
    assert len(hits) == 1 and needle in hits[0], lines
