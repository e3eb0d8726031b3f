"""AWS stacks from a plan: one foundation per region (network, key, storage, alerts topic,
budget) and one stack per workload (identity, node group, endpoint, alarms), joined by
cdktf cross-stack references so a pull request's plan touches only what changed."""

from __future__ import annotations

import base64
import dataclasses
import re

from aiinfra.cdk import App, TerraformOutput, TerraformStack, TerraformVariable, stack_id

from aiinfra.boot import aws_user_data_gzip
from aiinfra.boot.workload import CACHE_ENDPOINT_KEY, CACHE_NAME_KEY, CACHE_TTL_KEY, CACHE_USER_KEY, signing_key_arns, spec_workload
from aiinfra.constructs.aws.provider import AwsProvider
from aiinfra.constructs.aws import (AlarmTarget, AlertRule, Alerts, Budget, Certificate, ClusterNetwork, Dashboard, DashboardRow, EncryptionKey,
                                    GpuInstanceGroup, InferenceEndpoint, LogGroup, NodeSecurityGroup, OidcAuthentication, RunSchedule, SpotPool,
                                    ThreatDetection, TieredStorage, WebAcl, WorkloadIdentity)
from aiinfra.constructs.aws.inference_endpoint import CPU_TARGET_PERCENT
from aiinfra.constructs.aws.log_group import RETENTION_DAYS, retention_at_least
from aiinfra.layout import aws_foundation_zones, aws_public_zones
from aiinfra.observability.workload import CAPACITY_WAIT_SECONDS, boot_monitoring, budget_thresholds, charted_metrics, row_title, workload_rules
from aiinfra.planner import rules as planner_rules
from aiinfra.planner.model import CloudStoragePlan, Plan, WorkloadPlan
from aiinfra.policy.aspect import suppress
from aiinfra.planner.security import (api_authentication, bearer_tokens, client_qps, compliance_retention_days, endpoint_timeout,
                                      peak_qps, threat_detection, vulnerability_scanning)
from aiinfra.spec.models import AlertRule as SpecAlertRule
from aiinfra.spec.models import Spec
from aiinfra.naming import COST_SCOPE_KEY, cost_labels, resource_prefix, short, stack_name
from aiinfra.stacks.state import aws_backend, state_dir_of
from aiinfra.stacks.nodes import (BUCKET_KEY, HAS_IMAGE, IMAGE_KEY, SERVING_GRACE_SECONDS, boot_config, image_input, serving_targets,
                                  log_retention_days, with_image)



# Which AMI a group follows, by (Neuron, accelerators) (aiinfra.boot.IMAGES), for the pin's note.
AMI_NAMES = {(True, True): "the Deep Learning Base Neuron AMI", (False, True): "the Deep Learning AMI",
             (False, False): "the Amazon Linux 2023"}
# An image in the account's ECR (Inspector then scans the repositories too).
ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


def _backend(stack: TerraformStack, spec: Spec, name: str, state_dir: str) -> None:
    aws_backend(stack, spec.state.aws if spec.state else None, spec.clouds.aws.region, name, state_dir)


def _tags(spec: Spec, part: str) -> dict[str, str]:
    return {**cost_labels(spec.project, spec.environment), "aiinfra-part": part, "managed-by": "aiinfra"}


def _stack(app: App, spec: Spec, region: str, part: str) -> TerraformStack:
    name = stack_name(spec.project, spec.environment, "aws", part)
    stack = TerraformStack(app, name)
    stack._aiinfra_id = name  # stack_id() without asking jsii
    AwsProvider(stack, "aws", region=region, default_tags=_tags(spec, part))
    _backend(stack, spec, name, state_dir_of(app))
    return stack


class AwsFoundation:
    """The shared resources of one region: key, network, tiered storage, alerts topic, budget."""

    def __init__(self, app: App, spec: Spec, plan: Plan, region: str, workloads: list[WorkloadPlan], storage: CloudStoragePlan | None,
                 primary: bool, min_zones: int = 1):
        part = "foundation" if primary else f"foundation-{region}"
        self.stack = _stack(app, spec, region, part)
        self.notes: list[str] = []
        self.name = resource_prefix(spec.project, spec.environment)
        self.zones = zones = aws_foundation_zones(workloads)
        if len(zones) < min_zones:  # an EKS control plane wants subnets in two zones (stacks/kubernetes_aws.py)
            from aiinfra.stacks.kubernetes_aws import more_zones

            self.zones = zones = more_zones(region, zones, min_zones)
        has_endpoint = any(w.type == "inference" for w in workloads)
        multi_node = any(w.multi_node for w in workloads)
        public_zones = aws_public_zones(workloads)
        self.key = EncryptionKey(self.stack, "key", alias=f"{self.name}-{region}-data", description=f"{spec.project} {spec.environment} data in {region}",
                                 autoscaling_role_suffix=short(f"{self.name}-{region}", 35),
                                 custom_key_store_id=spec.clouds.aws.custom_key_store_id)
        self.network = ClusterNetwork(self.stack, "network", name=f"{self.name}-{region}", zone_ids=zones, log_kms_key_arn=self.key.arn,
                                      public_zone_ids=public_zones,
                                      nat_gateways="per_zone" if spec.environment == "production" and has_endpoint else "single",
                                      placement_group=multi_node,
                                      # Each workload's nodes get a security group of their own (segmentation), in its stack.
                                      node_security_group=False,
                                      # EMR's v2 service policy launches only in tagged subnets: tagged once here for every EMR workload.
                                      emr_managed_subnets=any(p.region == region and p.settings.get("engine") == "emr"
                                                              for p in plan.pipeline_parts("aws", "spark")))
        tiers = {t.tier: t for t in storage.tiers} if storage else {}
        warm = (tiers["warm"].transition_after_days if "warm" in tiers else 0) or 30  # 0: live tiering from day 0
        cold = tiers["cold"].transition_after_days if "cold" in tiers else 90
        self.storage = TieredStorage(self.stack, "storage", name=short(f"{self.name}-{region}", 30), kms_key_arn=self.key.arn,
                                     warm_after_days=warm, cold_after_days=cold,
                                     archive_after_days=storage.archive_after_days if storage else 365,
                                     abort_incomplete_uploads_days=storage.abort_incomplete_uploads_days if storage else 7,
                                     load_balancer_logs=has_endpoint, compliance_retention_days=compliance_retention_days(spec),
                                     **lifecycle(plan, "aws"))
        self.alerts = Alerts(self.stack, "alerts", name=f"{self.name}-{region}", kms_key_arn=self.key.arn, rules=[],
                             email_endpoints=spec.clouds.aws.alert_emails)
        self.threats = None
        if threat_detection(spec) or vulnerability_scanning(spec):
            # GuardDuty (intrusion_detection) and Inspector (vulnerability_scanning), findings to the alerts topic.
            self.threats = ThreatDetection(self.stack, "threat-detection", name=short(f"{self.name}-{region}", 38),
                                           topic_arn=self.alerts.topic_arn, guardduty=threat_detection(spec),
                                           inspector=vulnerability_scanning(spec), ecr=any(ECR_IMAGE.match(w.image or "") for w in workloads))
            self.notes += [f"{stack_id(self.stack)}: {n}" for n in self.threats.notes]
        monthly = sum(w.monthly_usd for w in workloads) + (storage.monthly_usd if storage else 0.0)
        if primary and monthly > 0:
            Budget(self.stack, "budget", name=f"{self.name}-aws-monthly", monthly_limit_usd=round(plan.totals.by_cloud_monthly_usd.get("aws", monthly), 2),
                   topic_arn=self.alerts.topic_arn, cost_filter_tags={COST_SCOPE_KEY: self.name},
                   thresholds_usd=budget_thresholds(spec.alerting_rules))
            self.notes.append(f"{stack_id(self.stack)}: the budget counts resources tagged {COST_SCOPE_KEY}={self.name}: activate "
                              f"{COST_SCOPE_KEY} as a cost allocation tag (Billing console > Cost allocation tags, payer account) or it "
                              "counts nothing")
        TerraformOutput(self.stack, "data_bucket", value=self.storage.bucket_name)
        TerraformOutput(self.stack, "vpc_id", value=self.network.vpc_id)


def lifecycle(plan: Plan, cloud: str) -> dict:
    """The cloud's lifecycle from the plan, the same in every region's data bucket: noncurrent expiry and archive prefixes."""
    s = next((s for s in plan.storage if s.cloud == cloud), None)
    return {"noncurrent_expiration_days": s.noncurrent_expiration_days, "archive_prefixes": tuple(s.archive_prefixes)} if s else {}


def alert_rules_for(rules: list[SpecAlertRule], w: WorkloadPlan) -> list[AlertRule]:
    """The workload's alarms (``observability.workload.workload_rules``) in CloudWatch units."""
    out = []
    for r in workload_rules(rules, w):
        threshold = r.threshold / 1000 if r.metric.endswith("_latency") else r.threshold  # TargetResponseTime is in seconds
        out.append(AlertRule(r.name, r.metric, r.operator, threshold, r.duration_seconds, r.severity))
    return out


def _subnets_for(foundation: AwsFoundation, subnet_ids: list[str], zones: list[str], at_least: int) -> list[str]:
    """The subnets (one a zone, in ``foundation.zones`` order) of ``zones``, padded with other zones' to ``at_least``."""
    chosen = [subnet_ids[foundation.zones.index(z)] for z in zones if z in foundation.zones and foundation.zones.index(z) < len(subnet_ids)]
    for sid in subnet_ids:
        if len(chosen) >= at_least:
            break
        if sid not in chosen:
            chosen.append(sid)
    return chosen


class AwsWorkload:
    """One workload's stack: identity, node group (with spot pool and its boot), run schedule or
    endpoint, alarms."""

    def __init__(self, app: App, spec: Spec, w: WorkloadPlan, foundation: AwsFoundation, cache=None):
        """``cache``: (constructs.aws.ServingCache, its PipelinePartPlan) when the data pipeline gives this serving workload a
        cache (stacks/pipeline_aws.py, built first): the nodes may reach it and are tagged with its endpoint and key TTL."""
        self.stack = _stack(app, spec, w.region, w.name)
        self.notes: list[str] = []
        name = f"{foundation.name}-{w.name}"
        self.group_name = name
        net, key, storage = foundation.network, foundation.key, foundation.storage
        serving = w.type == "inference"
        self.identity = WorkloadIdentity(self.stack, "identity", name=short(name, 64), bucket_arns=[storage.arn], object_prefix=w.name,
                                         kms_key_arns=[key.arn], autoscaling_group_names=[] if serving else [name],
                                         cluster_discovery=not serving, signing_key_arns=signing_key_arns(spec_workload(spec, w).image_signing_key))
        # The nodes' container output and boot log, kept after scale-in deletes their volumes (the role writes here only).
        self.logs = LogGroup(self.stack, "logs", name=self.identity.log_group_name, kms_key_arn=key.arn,
                             retention_days=retention_at_least(min(log_retention_days(spec), RETENTION_DAYS[-1])))
        subnet_ids = _subnets_for(foundation, net.private_subnet_ids, w.zones, 1)
        # The workload's own network scope: in from its own nodes (any run over several nodes, Spark included) and its load balancer only.
        self.node_security_group = NodeSecurityGroup(self.stack, "node-sg", name=f"{name}-nodes", vpc_id=net.vpc_id, collective=w.collective,
                                                     description=f"Nodes of {w.name}: in from {'each other and ' if w.collective else ''}"
                                                                 f"{'its load balancer' if serving else 'nothing else'}; out HTTPS")
        spot = None
        if w.capacity != "on_demand":
            # No capacity rebalance when the nodes form one run: a rebalance recommendation terminates a healthy
            # rank mid-run (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-capacity-rebalancing.html).
            spot = SpotPool(on_demand_base=w.on_demand_base_nodes, on_demand_percent_above_base=w.on_demand_percent_above_base,
                            alternative_instance_types=w.spot_alternatives, capacity_rebalance=not w.collective)
        image_var = image_input(self.stack, w, self.notes)
        instance_tags = {BUCKET_KEY: storage.bucket_name}
        if image_var is not None:
            instance_tags[IMAGE_KEY] = image_var
        if serving and cache is not None:
            # The data pipeline's cache: in on 6379 from these nodes only, elasticache:Connect for their role, and its endpoint
            # and key TTL for the boot (AIINFRA_CACHE_ENDPOINT, AIINFRA_CACHE_TTL_SECONDS: Valkey keeps no server-side TTL).
            store, part = cache
            store.allow_client(self.stack, "cache-client", security_group_id=self.node_security_group.id, role_name=self.identity.role.get_string_attribute("name"))
            instance_tags.update({CACHE_ENDPOINT_KEY: store.endpoint, CACHE_USER_KEY: store.user_id, CACHE_NAME_KEY: store.name})
            if part.settings.get("ttl_seconds"):
                instance_tags[CACHE_TTL_KEY] = str(int(part.settings["ttl_seconds"]))
        # A serving group is judged by the load balancer's health checks (a node that stops answering
        # is replaced). Without an image it rests at zero nodes (with_image), so there is no node to judge:
        # ELB needs no condition on the image (checkov CKV2_AWS_15 reads the literal).
        health = "ELB" if serving else "EC2"
        self.group = GpuInstanceGroup(
            self.stack, "nodes", name=name, instance_type=w.instance_type, subnet_ids=subnet_ids,
            security_group_ids=[self.node_security_group.id], instance_profile_arn=self.identity.instance_profile_arn, kms_key_arn=key.arn,
            min_size=w.min_nodes if serving else 0, max_size=w.max_nodes, desired_capacity=w.nodes if serving else 0,
            image_id=spec.clouds.aws.ami_id, gpu=bool(w.gpu), health_check_type=health,
            health_check_grace_seconds=SERVING_GRACE_SECONDS if serving else 600, efa_interfaces=w.efa_interfaces_per_node,
            data_volume_gib=w.data_volume_gib_per_node, data_volume_type=w.data_volume_type or "gp3",
            placement_group_name=net.placement_group_name if w.placement == "cluster" else None, spot=spot,
            user_data_base64=base64.b64encode(aws_user_data_gzip(boot_config(spec, w, "aws", (name,), log_group=self.logs.name,
                                                                                         **boot_monitoring(spec, w, name)))).decode(),
            instance_tags=instance_tags,
            service_linked_role_arn=key.autoscaling_role_arn, capacity_reservation_id=w.reservation,
            capacity_block=w.capacity_block, collective=w.collective,
            # IMDSv2 hop limit: batch containers run on the host network and reach IMDS at 1; the serving
            # container is bridged, one hop further, and needs 2
            # (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-v2-how-it-works.html).
            metadata_hop_limit=2 if serving else 1,
            # Neuron nodes boot the Base Neuron DLAMI (no NVIDIA driver, CUDA or container toolkit).
            accelerator_runtime="neuron" if w.accelerator_runtime == "neuron" else "cuda",
            tags={"workload": w.name, "workload-type": w.type, **cost_labels(spec.project, spec.environment)})
        if self.group.image_pin is not None:
            self.notes.append(f"{stack_id(self.stack)}: {w.name}'s nodes keep the AMI its first apply resolved from "
                              f"{AMI_NAMES[w.accelerator_runtime == 'neuron', bool(w.gpu)]} latest SSM parameter; "
                              "roll to the current one between runs with terraform apply -replace="
                              f"terraform_data.{self.group.image_pin.friendly_unique_id} in its stack folder (docs/security.md), "
                              "or pin one with clouds.aws.ami_id")
        if serving and image_var is not None:
            # No image, no spend: the serving group rests at zero until an image is given; then its minimum
            # (raising MinSize above the group's size raises DesiredCapacity with it:
            # https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html).
            self.group.autoscaling_group.add_override("min_size", with_image(w.min_nodes))
            self.group.autoscaling_group.add_override("desired_capacity", with_image(w.nodes))
        self.endpoint = None
        if not serving and w.schedule and w.stop_schedule:
            # No image, no spend: the schedule exists, and its start sets zero nodes until an image is given.
            self.runs = RunSchedule(self.stack, "runs", group_name=self.group.name, nodes=w.nodes, max_nodes=w.max_nodes,
                                    start=w.schedule, stop=w.stop_schedule, name=short(name, 200),
                                    start_when=HAS_IMAGE if image_var is not None else None)
        elif not serving:
            self.notes.append(f"{stack_id(self.stack)}: {w.name} runs on demand only (no schedule): set the group's desired capacity to "
                              f"{w.nodes} to start a run; its nodes scale it back to zero when the run ends")
        if serving:
            public = w.exposure != "internal"
            subnets = _subnets_for(foundation, net.public_subnet_ids if public else net.private_subnet_ids, w.zones, 2)
            # GPU serving scales on requests per target alone (a busy-polling engine's CPU blocks scale-in);
            # CPU-only serving keeps the guide's CPU policy beside it. The workload's HPA (autoscaling), when given, sets both.
            requests, cpu, hpa_notes = serving_targets(
                spec, w, (w.replica_qps or 100.0) * (w.target_utilization or planner_rules.DEFAULT_TARGET_UTILIZATION),
                None if w.gpu else CPU_TARGET_PERCENT, stack_id(self.stack))
            self.notes += hpa_notes
            self.endpoint = InferenceEndpoint(
                self.stack, "endpoint", name=short(name, 32), vpc_id=net.vpc_id, subnet_ids=subnets,
                node_security_group_id=self.node_security_group.id, autoscaling_group_name=self.group.name,
                certificate_arn=self._certificate(spec, w), requests_per_target=requests, cpu_target_percent=cpu,
                vpc_cidr=net.cidr, port=w.port or planner_rules.DEFAULT_MODEL_PORT,
                health_check_path=w.health_check_path or planner_rules.DEFAULT_HEALTH_CHECK_PATH, internet_facing=public,
                access_log_bucket=storage.log_bucket_name, authentication=self._authentication(spec, w),
                forward_bearer_tokens=api_authentication(spec) and bearer_tokens(spec), response_timeout_seconds=endpoint_timeout(spec, w))
            if self.endpoint.bearer_rule is not None:
                suppress(self.endpoint.bearer_rule, "AIINFRA-AWS-012",
                         "api_authentication names bearer tokens, which ALB authenticate-oidc never reads and aws provider 5.100 cannot "
                         "verify (no jwt-validation action): the model server verifies each token (the plan's api_authentication reason)")
            if public:
                # Per-client rate (a share of the peak), body size and managed rules in front of the GPUs (docs/security.md).
                self.web_acl = endpoint_web_acl(self.stack, spec, w, name, key.arn, resource_arn=self.endpoint.arn)
            TerraformOutput(self.stack, "endpoint_dns_name", value=self.endpoint.dns_name)
        self.target = target = AlarmTarget(group_name=self.group.name, serving=serving, node_hour_usd=w.hourly_usd / max(w.nodes, 1),
                             load_balancer=self.endpoint.arn_suffix if self.endpoint else None,
                             target_group=self.endpoint.target_group_arn_suffix if self.endpoint else None)
        self.alerts = Alerts(self.stack, "alerts", name=name, kms_key_arn=key.arn, rules=alert_rules_for(spec.alerting_rules, w), target=target,
                             topic_arn=foundation.alerts.topic_arn)
        # A group that never gets its nodes (quota 0, no spot, a full placement group) raises nothing else: no node boots to say so.
        self.alerts.capacity(group_name=self.group.name, wait_seconds=CAPACITY_WAIT_SECONDS)
        if not spec.clouds.aws.alert_emails:
            self.notes.append(f"{stack_id(self.stack)}: {len(self.alerts.alarm_names)} alarms notify nobody (the alerts topic has no "
                              "subscription: alarms show in CloudWatch only); set clouds.aws.alert_emails to subscribe e-mail addresses")
        TerraformOutput(self.stack, "autoscaling_group_name", value=self.group.name)

    def _authentication(self, spec: Spec, w: WorkloadPlan) -> OidcAuthentication | None:
        """ALB OIDC authentication when the spec asks for API authentication: the identity provider of
        clouds.aws.oidc, else Terraform variables (never an open endpoint the spec says is authenticated).
        The client secret is always a sensitive variable (a secret is never in the spec)."""
        if not api_authentication(spec):
            return None
        oidc = spec.clouds.aws.oidc
        secret = TerraformVariable(self.stack, "oidc_client_secret", type="string", sensitive=True, nullable=False,
                                   description=f"Client secret of {w.name}'s endpoint at the OIDC identity provider (ALB authenticate-oidc)")
        if oidc is not None:
            settings = oidc.model_dump()
            self.notes.append(f"{stack_id(self.stack)}: {w.name}'s endpoint authenticates callers with {oidc.issuer}: pass the client secret "
                              "with -var 'oidc_client_secret=...' (or TF_VAR_oidc_client_secret) and register "
                              "https://<endpoint DNS name>/oauth2/idpresponse as a redirect URL at the identity provider")
        else:
            settings = {"scope": "openid"}
            for field in ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint", "client_id"):
                settings[field] = TerraformVariable(self.stack, f"oidc_{field}", type="string", nullable=False,
                                                    description=f"OIDC {field.replace('_', ' ')} of the identity provider {w.name}'s endpoint "
                                                                "authenticates callers with; or set clouds.aws.oidc in the spec").string_value
            self.notes.append(f"{stack_id(self.stack)}: api_authentication asks for authenticated endpoints and clouds.aws.oidc is not set: pass "
                              "the identity provider with -var 'oidc_issuer=...' -var 'oidc_authorization_endpoint=...' -var "
                              "'oidc_token_endpoint=...' -var 'oidc_user_info_endpoint=...' -var 'oidc_client_id=...' and "
                              "-var 'oidc_client_secret=...'")
        return OidcAuthentication(client_secret=secret.string_value, **settings)

    def _certificate(self, spec: Spec, w: WorkloadPlan) -> str:
        return endpoint_certificate(self.stack, spec, w, self.notes)


def endpoint_certificate(stack: TerraformStack, spec: Spec, w: WorkloadPlan, notes: list[str]) -> str:
    """The HTTPS listener's certificate: the spec's ARN, one requested for clouds.aws.domains, or a variable (the VM
    endpoint's listener and the Kubernetes platform's ALB Ingress, stacks/kubernetes_aws.py)."""
    aws = spec.clouds.aws
    if aws.certificate_arn:
        return aws.certificate_arn
    if aws.domains:
        cert = Certificate(stack, "certificate", domains=aws.domains, hosted_zone_id=aws.hosted_zone_id)
        if not aws.hosted_zone_id:
            notes.append(f"{stack_id(stack)}: ACM validates {', '.join(aws.domains)} through DNS: add the records of output "
                         "certificate_validation_records while apply waits (or set clouds.aws.hosted_zone_id)")
        return cert.arn
    var = TerraformVariable(stack, "certificate_arn", type="string", nullable=False,
                            description=f"ARN of the ACM certificate for {w.name}'s HTTPS endpoint (the listener serves HTTPS only); "
                                        "or set clouds.aws.certificate_arn or clouds.aws.domains in the spec")
    notes.append(f"{stack_id(stack)}: pass the endpoint's certificate with -var 'certificate_arn=arn:aws:acm:...' "
                 "(or set clouds.aws.certificate_arn, or clouds.aws.domains to have one requested)")
    return var.string_value


def endpoint_web_acl(stack: TerraformStack, spec: Spec, w: WorkloadPlan, name: str, kms_key_arn: str, resource_arn: str | None = None) -> WebAcl:
    """A public endpoint's WAF web ACL: the per-client rate (a share of the peak), body size and managed rules in front
    of the GPUs (docs/security.md); associated with ``resource_arn`` (the VM endpoint's load balancer), or left for the
    AWS Load Balancer Controller to attach (the Kubernetes platform's Ingress annotation wafv2-acl-arn)."""
    return WebAcl(stack, "waf", name=short(name, 100), peak_requests_per_second=peak_qps(w), kms_key_arn=kms_key_arn,
                  client_requests_per_second=client_qps(spec, w)[0],
                  window_seconds=planner_rules.RATE_WINDOW_SECONDS, max_body_bytes=planner_rules.MAX_REQUEST_BODY_BYTES,
                  resource_arn=resource_arn)


def add_aws_stacks(app: App, spec: Spec, plan: Plan) -> tuple[list[str], list[str]]:
    """Add the AWS stacks for the plan's AWS workloads to ``app``; returns (stack names, notes)."""
    mine = [w for w in plan.workloads if w.cloud == "aws"]
    if not mine:
        return [], []
    primary_region = spec.clouds.aws.region
    storage = next((s for s in plan.storage if s.cloud == "aws"), None)
    names: list[str] = []
    notes: list[str] = []
    regions = sorted({w.region for w in mine}, key=lambda r: (r != primary_region, r))
    rows: list[DashboardRow] = []
    kubernetes = plan.platform("aws") == "kubernetes"
    for region in regions:
        in_region = [w for w in mine if w.region == region]
        foundation = AwsFoundation(app, spec, plan, region, in_region, storage if region == primary_region else None, region == primary_region,
                                   min_zones=2 if kubernetes else 1)
        names.append(stack_id(foundation.stack))
        notes += foundation.notes
        caches: dict = {}
        if region == primary_region:
            # Ingestion, caches and the CDN (data_pipeline, network.inference_network.cdn), before the serving stacks that
            # reach their cache (stacks/pipeline_aws.py: the pipeline stack reads only the foundation).
            from aiinfra.stacks.pipeline_aws import add_aws_pipeline

            more, said = add_aws_pipeline(app, spec, plan, foundation, None, caches)
            names += more
            notes += said
        if kubernetes:  # a cluster stack and the workloads' identities (stacks/kubernetes.py), no instance groups
            from aiinfra.stacks.kubernetes_aws import add_aws_kubernetes

            more, said = add_aws_kubernetes(app, spec, plan, region, in_region, foundation, _stack)
            names += more
            notes += said
            continue
        for w in in_region:
            part = plan.spark_part(w.name)
            if part is not None:  # Spark on EMR, a cluster a run (stacks/spark_aws.py): no instance group, no dashboard row
                from aiinfra.stacks.spark_aws import AwsSparkWorkload

                spark = AwsSparkWorkload(app, spec, plan, w, part, foundation, _stack)
                names.append(stack_id(spark.stack))
                notes += spark.notes
                continue
            workload = AwsWorkload(app, spec, w, foundation, caches.get(w.name))
            names.append(stack_id(workload.stack))
            notes += workload.notes
            # The group's name is known before apply: only the load balancer's ids cross stacks.
            target = dataclasses.replace(workload.target, group_name=workload.group_name)
            rows.append(DashboardRow(row_title(w), w.region, target, charted_metrics(spec, w), planned_nodes=w.nodes,
                                     planned_hourly_usd=w.hourly_usd, alarm_names=tuple(workload.alerts.alarm_names)))
    if not rows:  # every workload on kubernetes: their dashboards come with the in-cluster objects (issue 29)
        return names, notes
    # One dashboard for the environment, in its own stack: it reads the serving stacks' load balancer ids.
    stack = _stack(app, spec, primary_region, "dashboard")
    Dashboard(stack, "dashboard", name=resource_prefix(spec.project, spec.environment), rows=rows,
              monthly_budget_usd=plan.totals.by_cloud_monthly_usd.get("aws", 0.0))
    names.append(stack_id(stack))
    return names, notes
