"""The cloud side of a serving workload on the Kubernetes platform (issue 29): what its workload stack
(``stacks/kubernetes_aws.py`` AwsKubernetesWorkload, ``stacks/kubernetes_gcp.py`` GcpKubernetesWorkload) creates so the
in-cluster exposure keeps the VM platform's Step 4 controls, and the ``exposure`` mapping ``k8s/serving.py``'s
``serving_documents`` reads (its docstring lists the keys). The load balancer itself is the cluster's to make (the AWS
Load Balancer Controller from the Ingress, the GKE Gateway controller from the Gateway); what it must name exists
before it: the certificate, the WAF web ACL / Cloud Armor policy, the TLS policy, who may pass IAP.

The same constructs as the VM endpoint (``stacks/aws.py`` endpoint_certificate / endpoint_web_acl, ``stacks/gcp.py``
endpoint_armor). The values are Terraform tokens of the workload stack (the objects stack reads them across stacks)
or names known at synth.
"""

from __future__ import annotations

from typing import Any

from aiinfra.cdk import TerraformOutput, TerraformStack, TerraformVariable, stack_id
from aiinfra.constructs._tf import resource
from aiinfra.k8s import namespace
from aiinfra.naming import short
from aiinfra.planner.model import WorkloadPlan
from aiinfra.planner.security import api_authentication
from aiinfra.spec.models import Spec

def workload_image(stack: TerraformStack, w: WorkloadPlan, notes: list[str]) -> dict[str, Any]:
    """``{"image": ...}``: a required Terraform variable ``image`` of the workload's stack when the spec names no image (a
    pod must name one: the VM platform's group can rest at zero without it, a Deployment or a run's pods cannot start
    without it); {} when it does (k8s/serving.py and k8s/jobs.py read the spec's)."""
    if w.image:
        return {}
    from aiinfra.stacks.nodes import IMAGE_VARIABLE

    what = "Deployment runs" if w.type == "inference" else "runs run"
    var = TerraformVariable(stack, IMAGE_VARIABLE, type="string", nullable=False,
                            description=f"Container image {w.name}'s {what} (e.g. nvcr.io/nvidia/pytorch:24.08-py3); or set image: in the spec")
    notes.append(f"{stack_id(stack)}: no image for {w.name}: pass -var 'image=<registry>/<image>:<tag>' (or set image: on the "
                 f"workload); its {'Deployment' if w.type == 'inference' else 'runs'} name it")
    return {"image": var.string_value}


# Lets a principal through IAP (https://cloud.google.com/iap/docs/managing-access#roles), as on the VM endpoint.
IAP_ACCESSOR_ROLE = "roles/iap.httpsResourceAccessor"


def aws_serving_exposure(stack: TerraformStack, spec: Spec, w: WorkloadPlan, foundation, notes: list[str]) -> dict[str, Any]:
    """AWS: the HTTPS certificate (the spec's, one requested for clouds.aws.domains, or a variable), the WAF web ACL of a
    public endpoint (attached by the controller: Ingress annotation wafv2-acl-arn), access logs to the foundation's log
    bucket, the VPC range an internal endpoint admits, and the OIDC identity provider when the spec asks for API
    authentication (the controller reads the client from a Secret: ALB auth-idp-oidc's secretName)."""
    from aiinfra.stacks.aws import endpoint_certificate, endpoint_web_acl

    name = f"{foundation.name}-{w.name}"
    exposure: dict[str, Any] = {"certificate_arn": endpoint_certificate(stack, spec, w, notes),
                                "access_log_bucket": foundation.storage.log_bucket_name, "vpc_cidr": foundation.network.cidr,
                                "data_bucket": foundation.storage.bucket_name, **workload_image(stack, w, notes)}
    TerraformOutput(stack, "endpoint_certificate_arn", value=exposure["certificate_arn"])
    if (w.exposure or "public") != "internal":
        acl = endpoint_web_acl(stack, spec, w, name, foundation.key.arn)
        exposure["web_acl_arn"] = acl.arn
        TerraformOutput(stack, "web_acl_arn", value=acl.arn)
    if api_authentication(spec):
        secret = short(f"{w.name}-oidc", 253)
        oidc = spec.clouds.aws.oidc
        if oidc is not None:
            settings = {k: getattr(oidc, k) for k in ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint", "scope")}
        else:
            settings = {k: TerraformVariable(stack, f"oidc_{k}", type="string", nullable=False,
                                             description=f"OIDC {k.replace('_', ' ')} of the identity provider {w.name}'s endpoint "
                                                         "authenticates callers with; or set clouds.aws.oidc in the spec").string_value
                        for k in ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint")}
        exposure["oidc"] = {**settings, "secret_name": secret}
        notes.append(f"{stack_id(stack)}: {w.name}'s ALB authenticates callers with OIDC: create Secret {namespace(spec)}/{secret} with "
                     "keys clientID and clientSecret (kubectl create secret generic ... --from-literal) before its Ingress, and register "
                     "https://<endpoint DNS name>/oauth2/idpresponse as a redirect URL at the identity provider")
    return exposure


def gcp_serving_exposure(stack: TerraformStack, spec: Spec, w: WorkloadPlan, foundation, notes: list[str]) -> dict[str, Any]:
    """GCP: the Gateway's TLS 1.2+ SSL policy (RESTRICTED, as the VM endpoint's), a Google-managed certificate for a
    public endpoint (or the spec's ssl_certificates), the Cloud Armor policy of a public endpoint, and IAP with the
    Google-managed OAuth client when the spec asks for API authentication, its callers granted IAP access in the
    project, on the endpoint's hostnames when the spec names them."""
    from aiinfra.stacks.gcp import endpoint_armor

    gcp = spec.clouds.gcp
    name = short(f"{foundation.name}-{w.name}", 44)
    public = (w.exposure or "public") != "internal"
    exposure: dict[str, Any] = {"data_bucket": foundation.storage.bucket_name, **workload_image(stack, w, notes)}
    if gcp.domains:
        exposure["domains"] = list(gcp.domains)
    # SSL policies (https://cloud.google.com/load-balancing/docs/ssl-policies-concepts): global for the global external
    # Gateway, regional for the regional internal one.
    if public:
        policy = resource(stack, "ssl-policy", "google_compute_ssl_policy", project=gcp.project, name=f"{name}-tls",
                          profile="RESTRICTED", min_tls_version="TLS_1_2")
    else:
        policy = resource(stack, "ssl-policy", "google_compute_region_ssl_policy", project=gcp.project, region=w.region,
                          name=f"{name}-tls", profile="RESTRICTED", min_tls_version="TLS_1_2")
    # Names known at synth (the YAML for Argo CD / Flux carries them as they are); the objects stack applies after this one.
    exposure["ssl_policy"] = f"{name}-tls"
    TerraformOutput(stack, "ssl_policy", value=policy.get_string_attribute("name"))
    if public:
        if gcp.ssl_certificates:
            exposure["pre_shared_certs"] = [c.rsplit("/", 1)[-1] for c in gcp.ssl_certificates]
        else:
            domains: Any = list(gcp.domains) or TerraformVariable(
                stack, "endpoint_domains", type="list(string)", nullable=False,
                description=f"DNS names of {w.name}'s HTTPS endpoint (a Google-managed certificate covers them); or set clouds.gcp.domains").list_value
            if not gcp.domains:
                notes.append(f"{stack_id(stack)}: pass the endpoint's DNS names with -var 'endpoint_domains=[\"...\"]' (or set clouds.gcp.domains)")
            cert = resource(stack, "certificate", "google_compute_managed_ssl_certificate", project=gcp.project, name=f"{name}-cert",
                            managed={"domains": domains})
            exposure["pre_shared_certs"] = [f"{name}-cert"]
            TerraformOutput(stack, "ssl_certificate", value=cert.get_string_attribute("name"))
        armor = endpoint_armor(stack, spec, w, name)
        exposure["security_policy"] = armor.name
        TerraformOutput(stack, "security_policy", value=armor.name)
    else:
        # One text, comma-separated, as the Gateway listener's option takes it (a list's length is unknown at synth).
        certs = TerraformVariable(stack, "certificate_manager_certs", type="string", nullable=False,
                                  description=f"Certificate Manager certificates (names, comma-separated, in {w.region}) of {w.name}'s "
                                              "internal HTTPS endpoint, for its regional internal Gateway")
        exposure["certificate_manager_certs"] = certs.string_value
        notes.append(f"{stack_id(stack)}: pass the internal endpoint's Certificate Manager certificates with "
                     "-var 'certificate_manager_certs=name1,name2' (regional certificates in the workload's region)")
    if api_authentication(spec):
        exposure["iap"] = {}
        members = list(gcp.iap_members)
        # The Gateway's backend service is named by the GKE controller, so the grant is on the project's IAP web resources
        # (google_iap_web_iam_member: https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/iap_web_iam),
        # narrowed to the endpoint's hostnames by an IAM condition on request.host
        # (https://cloud.google.com/iam/docs/conditions-attribute-reference#request-host) when the spec names them.
        condition = None
        if gcp.domains:
            hosts = " || ".join(f'request.host == "{d}"' for d in gcp.domains)
            condition = {"title": short(f"{w.name}-hosts", 100), "expression": hosts}
        for i, member in enumerate(members):
            resource(stack, f"iap-access-{i}", "google_iap_web_iam_member", project=gcp.project, role=IAP_ACCESSOR_ROLE,
                     member=member, condition=condition)
        if not members:
            notes.append(f"{stack_id(stack)}: api_authentication asks for authenticated endpoints and clouds.gcp.iap_members is not set: "
                         f"IAP admits nobody to {w.name} until {IAP_ACCESSOR_ROLE} is granted")
        elif not gcp.domains:
            notes.append(f"{stack_id(stack)}: {IAP_ACCESSOR_ROLE} for clouds.gcp.iap_members is granted on every IAP-protected endpoint of "
                         f"project {gcp.project} (set clouds.gcp.domains to narrow it to {w.name}'s hostnames)")
    return exposure
