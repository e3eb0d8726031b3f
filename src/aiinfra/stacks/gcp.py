"""GCP stacks from a plan: one foundation per region (key, network with GPU NIC networks,
tiered storage, notification channels) and one stack per workload (identity, node groups with
Spot and on-demand, compact placement, endpoint, alert policies), joined by cdktf
cross-stack references so a pull request's plan touches only what changed."""

from __future__ import annotations

import math

from aiinfra.cdk import App, TerraformOutput, TerraformStack, TerraformVariable, stack_id

from aiinfra.boot import gcp_metadata
from aiinfra.boot.workload import signing_key_ids, spec_workload
from aiinfra.boot.images import node_image
from aiinfra.constructs.gcp.provider import GoogleProvider
from aiinfra.constructs.gcp import (AlertRule, Alerts, BillingBudget, ClusterNetwork, Dashboard, DashboardRow, EncryptionKey, GpuInstanceGroup,
                                    GpuNicNetworks, GroupRunnerRole, HealthCheck, InferenceEndpoint, InternalEndpoint, JobMetric, MetricDescriptors,
                                    NodeFirewall, PolicyTarget, ProjectServices, RunSchedule, SpotPool, ThreatDetection, TieredStorage, WorkloadIdentity)
from aiinfra.constructs.gcp.gpu_instance_group import DATA_DISK_TYPES, LOCAL_SSD_GIB
from aiinfra.constructs.gcp.metrics import JOB_PREFIX, NOT_ON_GCP, RECIPES
from aiinfra.constructs.gcp.project_services import DEFAULT_SERVICES, services_for, stack_resource_types
from aiinfra.constructs.gcp.inference_endpoint import CPU_TARGET, IapAccess
from aiinfra.constructs.gcp.security_policy import SecurityPolicy
from aiinfra.constructs.gcp.threat_detection import NODE_METADATA as SCAN_METADATA
from aiinfra.constructs.gcp.threat_detection import SERVICES as THREAT_SERVICES
from aiinfra.observability.agents import JOB_METRICS, ops_agent_supported
from aiinfra.observability.workload import CAPACITY_WAIT_SECONDS, boot_monitoring, charted_metrics, row_title, workload_rules
from aiinfra.planner import rules as planner_rules
from aiinfra.planner.model import CloudStoragePlan, Plan, WorkloadPlan
from aiinfra.planner.security import (api_authentication, client_qps, compliance_based, endpoint_timeout, key_protection, peak_qps, segmentation, threat_detection,
                                      vulnerability_scanning)
from aiinfra.policy.aspect import suppress
from aiinfra.spec.models import AlertRule as SpecAlertRule
from aiinfra.spec.models import Spec
from aiinfra.naming import COST_SCOPE_KEY, ENV_SHORT, cost_labels, resource_prefix, short, stack_name
from aiinfra.stacks.state import gcp_backend, state_dir_of
from aiinfra.stacks.nodes import (BUCKET_KEY, HAS_IMAGE, IMAGE_KEY, IMAGE_VARIABLE_REF, SERVING_GRACE_SECONDS, boot_config, image_input,
                                  serving_targets, with_image)

WORKLOAD_LABEL = "aiinfra-workload"
# The proxy-only subnet of internal endpoints: apart from the nodes' 10.50.0.0/20 and the GPU NICs' 10.60.0.0/16.
PROXY_ONLY_CIDR = "10.129.0.0/23"
COMPUTE_SCOPE = "https://www.googleapis.com/auth/compute"


def _backend(stack: TerraformStack, spec: Spec, name: str, state_dir: str) -> None:
    gcp_backend(stack, spec.state.gcp if spec.state else None, name, state_dir)


def _labels(spec: Spec, part: str) -> dict[str, str]:
    return {**cost_labels(spec.project, spec.environment), "aiinfra-part": part[:63], "managed-by": "aiinfra"}


def _stack(app: App, spec: Spec, region: str, part: str, quota_project: bool = False) -> TerraformStack:
    name = stack_name(spec.project, spec.environment, "gcp", part)
    stack = TerraformStack(app, name)
    stack._aiinfra_id = name  # stack_id() without asking jsii
    # The Budget API called with user credentials needs a quota project (the billing budget's page).
    # https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/billing_budget
    quota = {"user_project_override": True, "billing_project": spec.clouds.gcp.project} if quota_project else {}
    GoogleProvider(stack, "google", project=spec.clouds.gcp.project, region=region, default_labels=_labels(spec, part), **quota)
    _backend(stack, spec, name, state_dir_of(app))
    return stack


def gpu_nic_networks(workloads: list[WorkloadPlan]) -> GpuNicNetworks | None:
    """The GPU NIC networks the region's multi-node GPUDirect workloads need (one flavour per region)."""
    needs = [(w.interconnect, w.gpu_nics_per_node) for w in workloads if w.multi_node and w.gpu_nics_per_node]
    if not needs:
        return None
    kinds = {k for k, _ in needs}
    if len(kinds) > 1:
        raise ValueError(f"workloads in one region need different GPU NIC networks ({', '.join(sorted(kinds))})")
    return GpuNicNetworks(needs[0][0], max(n for _, n in needs))


def _usage_log_note(stack: str, asked: bool) -> str:
    from aiinfra.constructs.gcp.tiered_storage import ANALYTICS_WRITER, DRS_CONSTRAINT

    if asked:
        return (f"{stack}: clouds.gcp.storage_usage_logs grants {ANALYTICS_WRITER} roles/storage.objectCreator on the logs bucket; "
                f"where the organization policy {DRS_CONSTRAINT} (domain-restricted sharing) is enforced the apply stops there: "
                "allow that principal for this project first, or drop storage_usage_logs")
    return (f"{stack}: no Cloud Storage usage logs (their writer, {ANALYTICS_WRITER}, is refused wherever the organization policy "
            f"{DRS_CONSTRAINT} is enforced); Data Access audit logs for storage.googleapis.com record reads instead "
            "(clouds.gcp.storage_usage_logs: true turns usage logs on where that policy allows it)")


class GcpFoundation:
    """The shared resources of one region: key, network, tiered storage, notification channels."""

    def __init__(self, app: App, spec: Spec, plan: Plan, region: str, workloads: list[WorkloadPlan], storage: CloudStoragePlan | None,
                 primary: bool, descriptors: MetricDescriptors | None = None):
        part = "foundation" if primary else f"foundation-{region}"
        gcp = spec.clouds.gcp
        monthly = round(plan.totals.by_cloud_monthly_usd.get("gcp", 0.0), 2)
        budget = primary and gcp.billing_account is not None and monthly > 0
        self.stack = _stack(app, spec, region, part, quota_project=budget)
        self.notes: list[str] = []
        self.project = gcp.project
        self.region = region
        self.name = resource_prefix(spec.project, spec.environment)
        # A new project has the Compute Engine, Cloud KMS and Monitoring APIs off.
        security = (THREAT_SERVICES if threat_detection(spec) else ()) + (("osconfig.googleapis.com",) if vulnerability_scanning(spec) else ())
        # TPU VMs are created through the Cloud TPU API (stacks/tpu.py).
        security += ("tpu.googleapis.com",) if any(w.accelerator_runtime == "tpu" for w in workloads) else ()
        self.services = ProjectServices(self.stack, "services", project=gcp.project,
                                        services=tuple(dict.fromkeys(DEFAULT_SERVICES + (("billingbudgets.googleapis.com",) if budget else ())
                                                                     + security + (("iap.googleapis.com",) if api_authentication(spec) else ()))))
        self.runner = GroupRunnerRole(self.stack, "group-runner", project=gcp.project,
                                      role_id=f"aiinfra.{spec.project}.{ENV_SHORT[spec.environment]}.{region}.groupRunner".replace("-", "_"))
        self.key = EncryptionKey(self.stack, "key", project=gcp.project, location=region, name=short(f"{self.name}-{region}-data", 63),
                                 protection_level=key_protection(spec, "gcp"))
        nics = gpu_nic_networks(workloads)
        roce_zone = next((w.zones[0] for w in workloads if w.interconnect == "rdma" and w.multi_node), None)
        internal = any(w.type == "inference" and w.exposure == "internal" for w in workloads)
        self.network = ClusterNetwork(self.stack, "network", project=gcp.project, name=short(f"{self.name}-{region}", 40), region=region,
                                      gpu_nics=nics, roce_zone=roce_zone, proxy_only_cidr=PROXY_ONLY_CIDR if internal else None,
                                      # Each workload's firewall rules are scoped to its service account (segmentation), in its stack.
                                      internal_traffic=False)
        tiers = {t.tier: t for t in storage.tiers} if storage else {}
        warm = (tiers["warm"].transition_after_days if "warm" in tiers else 0) or 30  # 0: live tiering from day 0
        cold = tiers["cold"].transition_after_days if "cold" in tiers else 90
        self.storage = TieredStorage(
            self.stack, "storage", project=gcp.project, name=short(f"{gcp.project}-{spec.project}-{ENV_SHORT[spec.environment]}-{region}", 58),
            location=region, kms_key_id=self.key.id, warm_after_days=warm, cold_after_days=max(cold, warm + 30),
            archive_after_days=max(storage.archive_after_days if storage else 365, max(cold, warm + 30) + 90),
            noncurrent_expiration_days=next((s.noncurrent_expiration_days for s in plan.storage if s.cloud == "gcp"), 30),
            abort_incomplete_uploads_days=storage.abort_incomplete_uploads_days if storage else 7, depends_on=self.key.grants,
            # compliance_based: per-object retention (a bucket-wide policy would refuse the rewrites of run records and
            # checkpoints inside the period; model artifacts are locked one by one: docs/security.md).
            object_retention=compliance_based(spec), usage_logs=gcp.storage_usage_logs)
        self.notes.append(_usage_log_note(stack_id(self.stack), gcp.storage_usage_logs))
        if compliance_based(spec):
            self.notes.append(f"{stack_id(self.stack)}: data_retention compliance_based: the data bucket has per-object retention; lock "
                              "each model artifact with gcloud storage objects update gs://BUCKET/OBJECT --retain-until=DATE "
                              "--retention-mode=locked (a bucket-wide policy would block the rewrites of run records and checkpoints); "
                              "on a bucket created before, enabling it replaces the bucket: plan with care")
        self.alerts = Alerts(self.stack, "alerts", project=gcp.project, name=self.name, rules=[], email_addresses=gcp.alert_emails)
        self.threats = None
        if threat_detection(spec) and primary:
            # Security Command Center findings (a project-wide feed: one, in the primary region's stack) to the alert channels.
            self.threats = ThreatDetection(self.stack, "threat-detection", project=gcp.project, name=short(self.name, 40),
                                           notification_channels=self.alerts.channel_ids, kms_key_name=self.key.id)
            self.notes += [f"{stack_id(self.stack)}: {n}" for n in self.threats.notes]
        # The job wrapper's metric types exist before any policy names them (one set a project).
        self.descriptors = descriptors or MetricDescriptors(
            self.stack, "job-metrics", project=gcp.project,
            metrics=[JobMetric(m.gcp_type.removeprefix(JOB_PREFIX), m.value_type, m.gcp_unit, m.description) for m in JOB_METRICS])
        if budget:
            BillingBudget(self.stack, "budget", billing_account=gcp.billing_account, project=gcp.project, name=f"{self.name} gcp monthly",
                          monthly_limit_usd=monthly, label=(COST_SCOPE_KEY, self.name), notification_channels=self.alerts.channel_ids[:5])
            self.notes.append(f"{stack_id(self.stack)}: the billing budget needs roles/billing.costsManager on billing account "
                              f"{gcp.billing_account} for whoever applies it")
        elif primary and monthly > 0:
            self.notes.append(f"{stack_id(self.stack)}: no GCP budget watches the plan's ${monthly:,.0f}/month: set clouds.gcp.billing_account")
        TerraformOutput(self.stack, "data_bucket", value=self.storage.bucket_name)
        TerraformOutput(self.stack, "network_self_link", value=self.network.network_self_link)
        self.services.wait_for_services(self.stack)


def unavailable(metric: str, agent: bool) -> str | None:
    """Why ``metric`` cannot be watched on a GCP workload (None: it can). ``agent``: the boot
    image runs the Ops Agent (Container-Optimized OS does not)."""
    if metric in NOT_ON_GCP:
        return NOT_ON_GCP[metric]
    recipe = RECIPES[metric]
    node = recipe.series is not None and recipe.series.target == "node" and not recipe.series.type.startswith("compute.googleapis.com/")
    if not agent and node:
        return "the boot image (Container-Optimized OS) runs no Ops Agent"
    return None


def alert_rules_for(rules: list[SpecAlertRule], w: WorkloadPlan, agent: bool = True) -> tuple[list[AlertRule], list[str]]:
    """The workload's policies (``observability.workload.workload_rules``), and what cannot be watched on GCP."""
    out, skipped = [], []
    for r in workload_rules(rules, w):
        why = unavailable(r.metric, agent) or (None if RECIPES[r.metric].validate else
                                                "Cloud Monitoring refuses a policy on a metric the container has not written yet: "
                                                "add it once the first run has written it (the dashboard charts it)")
        if why:
            skipped.append(f"{r.name} ({r.metric}): {why}")
            continue
        op, threshold = r.operator, r.threshold
        if r.metric == "training_job_status" and op == ">=":
            op, threshold = ">", threshold - 1  # a count of failed runs: ">= 1" is "> 0" (the API compares strictly)
        out.append(AlertRule(r.name, r.metric, op, threshold, r.duration_seconds, r.severity))
    return out, skipped


def _on_demand_nodes(w: WorkloadPlan) -> int:
    above = max(w.nodes - w.on_demand_base_nodes, 0)
    return min(w.nodes, w.on_demand_base_nodes + math.ceil(above * w.on_demand_percent_above_base / 100))


class GcpWorkload:
    """One workload's stack: identity, node groups (Spot and on-demand) with their boot, placement,
    run schedule or endpoint, alert policies."""

    def __init__(self, app: App, spec: Spec, w: WorkloadPlan, foundation: GcpFoundation, plan: Plan | None = None, pipeline=None):
        """``plan`` and ``pipeline`` (stacks/pipeline_gcp.GcpDataPipeline, built before the serving stacks) give a serving
        workload its cache (the connect role and the endpoint in its nodes' metadata) and its Cloud CDN path."""
        self.stack = _stack(app, spec, w.region, w.name)
        gcp = spec.clouds.gcp
        name = short(f"{foundation.name}-{w.name}", 44)
        net, key, storage = foundation.network, foundation.key, foundation.storage
        serving = w.type == "inference"
        self.notes: list[str] = []
        self.identity = WorkloadIdentity(self.stack, "identity", project=gcp.project, account_id=short(f"{spec.project}-{w.name}", 30),
                                         bucket_names=[storage.bucket_name], object_prefix=w.name, kms_key_ids=[key.id],
                                         signing_key_ids=signing_key_ids(spec_workload(spec, w).image_signing_key),
                                         display_name=f"{spec.project} {spec.environment} {w.name}")
        # The workload's own network scope: rules on its service account (in from its own nodes for any run over several
        # nodes, Spark included; out HTTPS and to its peers), and a network tag of its own for the load balancer's rule.
        nic_networks = [n.get_string_attribute("id") for n in net.gpu_nic_networks] if w.multi_node and w.gpu_nics_per_node and \
            w.interconnect in ("tcpx", "tcpxo") else []
        self.firewall = NodeFirewall(self.stack, "firewall", project=gcp.project, network=net.network_id, name=short(f"{name}-fw", 40),
                                     service_account_email=self.identity.email, collective=w.collective, peer_ranges=[net.cidr],
                                     gpu_nic_networks=nic_networks)
        node_tag = short(f"{name}-node", 63)
        placement = None
        if w.multi_node and w.placement == "cluster" and w.nodes >= 2:
            # One policy for the Spot group and its on-demand fallback (one zone), without an exact vm_count:
            # VMs join it as either group creates them (CompactPlacement, exact).
            placement = net.compact_placement(self.stack, "placement", name=f"{name}-compact", vm_count=max(w.nodes, w.max_nodes),
                                              machine_type=w.instance_type)
        gpu_nics = net.gpu_nic_subnetwork_self_links[: w.gpu_nics_per_node] if w.multi_node and w.gpu_nics_per_node else []
        spot = None
        if w.capacity != "on_demand":
            # Alternatives must share the NIC layout: a GPUDirect group takes none.
            spot = SpotPool(on_demand_base=_on_demand_nodes(w), on_demand_fallback=w.spot_fallback == "on_demand",
                            alternative_machine_types=[] if gpu_nics else w.spot_alternatives)
        port = w.port or planner_rules.DEFAULT_MODEL_PORT
        health_path = w.health_check_path or planner_rules.DEFAULT_HEALTH_CHECK_PATH
        health = None
        if serving:
            health = HealthCheck(self.stack, "health", project=gcp.project, name=f"{name}-health", port=port,
                                 path=health_path)
        image_var = image_input(self.stack, w, self.notes)
        boot_image = node_image(w, gcp.image)
        agent = ops_agent_supported(boot_image)
        if not agent:
            self.notes.append(f"{stack_id(self.stack)}: {w.name}'s boot image runs no Ops Agent (Container-Optimized OS): no GPU or host "
                              "metrics from its nodes; its runs, node count and cost are watched")
        self.charted = tuple(m for m in charted_metrics(spec, w) if not unavailable(m, agent))
        metadata = {BUCKET_KEY: storage.bucket_name, **(SCAN_METADATA if vulnerability_scanning(spec) else {})}
        if image_var is not None:
            metadata[IMAGE_KEY] = image_var
        if serving and pipeline is not None:
            # The data pipeline's cache (data_pipeline.serving): the boot hands its endpoint and key TTL to the container.
            metadata.update(pipeline.client_metadata(self.stack, w.name, self.identity.member))
        if not agent:
            # Container-Optimized OS ships the journal (the boot's steps) and the containers' output to Cloud
            # Logging itself, and node-problem-detector's health metrics to Cloud Monitoring, when asked to:
            # https://cloud.google.com/container-optimized-os/docs/how-to/logging
            # https://cloud.google.com/container-optimized-os/docs/how-to/monitoring
            metadata.update({"google-logging-enabled": "true", "google-monitoring-enabled": "true"})
        # The groups' names are known before the groups exist (the boot and the schedule name them).
        group_names = GpuInstanceGroup.names_for(name, spot)
        n1_gpus = w.instance_type.startswith("n1-") and w.gpus_per_node
        self.group = GpuInstanceGroup(
            self.stack, "nodes", project=gcp.project, name=name, region=w.region, zones=w.zones, machine_type=w.instance_type,
            subnetwork=net.subnetwork_self_link, service_account_email=self.identity.email, kms_key_id=key.id,
            # Batch groups are empty between runs: the run schedule resizes them.
            target_size=w.nodes if serving else 0,
            image=boot_image, gpu=bool(w.gpu), accelerator_type=w.accelerator_type if n1_gpus else None,
            accelerator_count=w.gpus_per_node if n1_gpus else 0, gpu_nic_subnetworks=gpu_nics,
            gpu_nic_type=net.gpu_nics.nic_type if gpu_nics and net.gpu_nics else "GVNIC",
            local_ssd_count=w.local_nvme_gib_per_node // LOCAL_SSD_GIB, data_disk_gib=w.data_volume_gib_per_node,
            data_disk_type=w.data_volume_type if w.data_volume_type in DATA_DISK_TYPES else "pd-ssd",
            placement_policy=placement.self_link if placement else None, spot=spot, reservation=w.reservation, network_tags=[net.node_tag, node_tag],
            named_ports={"http": port} if serving else None,
            auto_healing_health_check=health.id if health else None,
            # With the image a deploy-time input, auto-healing is on only once there is a server to check.
            auto_healing_when=f'{IMAGE_VARIABLE_REF} != ""' if serving and image_var is not None else None,
            auto_healing_delay_seconds=SERVING_GRACE_SECONDS,
            boot_metadata=gcp_metadata(boot_config(spec, w, "gcp", tuple(group_names.values()), project=gcp.project, log_group=name,
                                                   **boot_monitoring(spec, w, name))), metadata=metadata,
            extra_scopes=[] if serving else [COMPUTE_SCOPE],
            manage_size=False,
            # On the template and on each disk: provider default labels do not reach the disks.
            labels={WORKLOAD_LABEL: w.name, "workload-type": w.type.replace("_", "-"), **cost_labels(spec.project, spec.environment)})
        if self.group.image_pin is not None:
            self.notes.append(f"{stack_id(self.stack)}: {w.name}'s nodes keep the image its first apply resolved from the family "
                              f"{boot_image.rsplit('/', 1)[-1]}; roll to the family's current image between runs with terraform apply "
                              f"-replace=terraform_data.{self.group.image_pin.friendly_unique_id} in its stack folder (docs/security.md), "
                              "or name one image (not a family) in clouds.gcp.image")
        if not serving:
            foundation.runner.grant(self.stack, "group-runner", member=self.identity.member, region=w.region,
                                    groups=list(group_names.values()), instance_prefix=name)
            if w.schedule and w.stop_schedule:
                sizes = {"spot": w.nodes - (spot.on_demand_base if spot else 0), "on-demand": spot.on_demand_base if spot else w.nodes}
                # No image, no spend: the schedule exists, and its start jobs resize to zero until an image is given.
                self.runs = RunSchedule(self.stack, "runs", project=gcp.project, region=w.region, name=short(name, 50),
                                        groups=[(g, sizes[kind]) for kind, g in group_names.items()], start=w.schedule,
                                        stop=w.stop_schedule, service_account_email=self.identity.email,
                                        start_when=HAS_IMAGE if image_var is not None else None)
            else:
                self.notes.append(f"{stack_id(self.stack)}: {w.name} runs on demand only (no schedule): resize its group to {w.nodes} to start "
                                  "a run; its nodes resize it back to zero when the run ends")
        self.endpoint = None
        if serving:
            domains = list(gcp.domains)
            if not domains and not gcp.ssl_certificates:
                # The endpoint's name is not in the spec: Terraform asks for it (HTTPS only, never plain HTTP).
                var = TerraformVariable(self.stack, "endpoint_domains", type="list(string)", nullable=False,
                                        description=f"DNS names of {w.name}'s HTTPS endpoint (a Google-managed certificate covers them); "
                                                    "or set clouds.gcp.domains in the spec")
                domains = var.list_value
                self.notes.append(f"{stack_id(self.stack)}: pass the endpoint's DNS names with -var 'endpoint_domains=[\"...\"]' "
                                  "(or set clouds.gcp.domains in the spec)")
            iap = None
            if api_authentication(spec):
                # Identity-Aware Proxy verifies each caller's Google-signed token before a request reaches the nodes.
                members: list[str] | str = list(gcp.iap_members)
                if not members:
                    var = TerraformVariable(self.stack, "iap_members", type="list(string)", nullable=False,
                                            description=f"Who may call {w.name}'s endpoint through Identity-Aware Proxy (IAM members, e.g. "
                                                        "serviceAccount:caller@PROJECT.iam.gserviceaccount.com); or set clouds.gcp.iap_members")
                    members = f"${{var.{var.friendly_unique_id}}}"  # the whole list, as Terraform reads it
                    self.notes.append(f"{stack_id(self.stack)}: api_authentication asks for authenticated endpoints and clouds.gcp.iap_members "
                                      "is not set: pass the callers with -var 'iap_members=[\"serviceAccount:...\"]'")
                iap = IapAccess(members=members)
            # GPU serving scales on the load balancer's utilization of max_rate_per_instance alone (a busy-polling
            # engine's CPU blocks scale-in); CPU-only serving keeps the guide's CPU signal. The workload's HPA
            # (autoscaling), when given, sets both: its requests_per_second target is that share of the replica's rate.
            rate = w.replica_qps or 100.0
            util = w.target_utilization or planner_rules.DEFAULT_TARGET_UTILIZATION
            requests, cpu, hpa_notes = serving_targets(spec, w, rate * util, None if w.gpu else CPU_TARGET, stack_id(self.stack), cpu_scale=0.01)
            self.notes += hpa_notes
            if requests > rate:
                self.notes.append(f"{stack_id(self.stack)}: workload_inventory.{w.name}.autoscaling asks {requests:g} requests a second per "
                                  f"replica, over the {rate:g} a replica sustains (the load balancer's max rate): the autoscaler keeps each "
                                  "replica at that rate")
            serving_args = dict(project=gcp.project, name=name, region=w.region, network=net.network_id, network_tags=[node_tag], iap=iap,
                                instance_groups=self.group.instance_groups, autoscale_group=self.group.id, min_replicas=max(1, w.min_nodes),
                                max_replicas=max(w.max_nodes, w.min_nodes, 1), requests_per_replica=rate,
                                lb_utilization_target=round(min(1.0, requests / rate), 4), domains=domains,
                                ssl_certificates=gcp.ssl_certificates, cpu_target=cpu, response_timeout_seconds=endpoint_timeout(spec, w))
            if w.exposure == "internal":
                self.endpoint = InternalEndpoint(self.stack, "endpoint", subnetwork=net.subnetwork_self_link, proxy_only_cidr=PROXY_ONLY_CIDR,
                                                 port=port, health_check_path=health_path, **serving_args)
                if segmentation(spec):
                    suppress(self.endpoint.node.find_child("allow-lb"), "AIINFRA-GCP-014",
                             f"the region's proxy-only subnet {PROXY_ONLY_CIDR} (foundation stack) holds only the Envoy proxies of the "
                             "internal load balancers, never VMs (cloud.google.com/load-balancing/docs/proxy-only-subnets); the rule admits "
                             f"them to {w.name}'s model port on its own network tag")
                if gcp.domains or not gcp.ssl_certificates:
                    self.notes.append(f"{stack_id(self.stack)}: Certificate Manager issues the internal endpoint's certificate once the "
                                      "records of output dns_authorization_records are in the domains' DNS")
            else:
                # Per-client throttle (a share of the peak), body size limit and prompt-safe WAF rules in front of the GPUs (docs/security.md).
                self.armor = endpoint_armor(self.stack, spec, w, name)
                cdn = next((p for p in plan.pipeline_parts("gcp", "cdn") if p.target == w.name), None) if plan is not None else None
                if cdn is not None:  # network.inference_network.cdn: Cloud CDN serves the static path from a bucket of its own
                    from aiinfra.stacks.pipeline_gcp import cdn_for

                    serving_args["static_backend"] = (cdn.settings["static_path"], cdn_for(self.stack, spec, plan, cdn, foundation, self.notes))
                self.endpoint = InferenceEndpoint(self.stack, "endpoint", health_check=health, security_policy=self.armor.id, **serving_args)
            TerraformOutput(self.stack, "endpoint_ip_address", value=self.endpoint.ip_address)
            if image_var is not None:
                self._serve_only_with_image(w, spot)
        target = PolicyTarget(workload=w.name, labels={COST_SCOPE_KEY: foundation.name}, groups=tuple(group_names.values()), job=name,
                              job_types=foundation.descriptors.types, node_hour_usd=w.hourly_usd / max(w.nodes, 1), serving=serving,
                              forwarding_rule=f"{name}-https" if serving else None, internal=serving and w.exposure == "internal")
        self.target = target
        rules, skipped = alert_rules_for(spec.alerting_rules, w, agent)
        for text in skipped:
            self.notes.append(f"{stack_id(self.stack)}: no policy for {text}")
        self.alerts = Alerts(self.stack, "alerts", project=gcp.project, name=name, rules=rules, target=target,
                             notification_channels=foundation.alerts.channel_ids)
        # A group that never gets its VMs (quota 0, no Spot, a full placement policy) raises nothing else: no node boots to say so.
        self.alerts.capacity(base_instance_names=list(group_names.values()), wait_seconds=CAPACITY_WAIT_SECONDS)
        if serving and w.exposure != "internal" and api_authentication(spec):
            # Identity-Aware Proxy answers an unauthenticated checker before any backend: an uptime check would see IAP, not the model.
            self.notes.append(f"{stack_id(self.stack)}: no uptime check on {w.name}'s endpoint: Identity-Aware Proxy answers unauthenticated "
                              "checkers itself; the backends' health and error-rate policies watch it")
        elif serving and w.exposure != "internal":
            # The DNS name when the spec has one (the certificate is checked), else the address.
            self.alerts.uptime(host=gcp.domains[0] if gcp.domains else self.endpoint.ip_address, validate_ssl=bool(gcp.domains),
                               path=health_path)
        if not foundation.alerts.channel_ids:
            self.notes.append(f"{stack_id(self.stack)}: {len(self.alerts.policies)} alert policies notify nobody (incidents show in Cloud "
                              "Monitoring only); set clouds.gcp.alert_emails to add e-mail channels")
        TerraformOutput(self.stack, "instance_group_manager", value=self.group.name)

    def _serve_only_with_image(self, w: WorkloadPlan, spot: SpotPool | None) -> None:
        """No image, no spend: a serving group's VMs start only once an image is given. The groups
        are created at zero and the autoscaler is off until then (``autoscalingPolicy.mode`` OFF
        "disables the autoscaler but maintains its configuration":
        https://cloud.google.com/compute/docs/reference/rest/v1/regionAutoscalers); with the image
        it is ON and scales the main group to its minimum. A group the autoscaler does not size
        (the on-demand base beside a Spot group) is sized by Terraform."""
        sizes = {"spot": w.nodes - spot.on_demand_base, "on-demand": spot.on_demand_base} if spot else {"on-demand": w.nodes}
        for kind, manager in self.group.managers.items():
            manager.add_override("target_size", with_image(sizes[kind]))
            if manager is not self.group.manager and sizes[kind]:
                manager.add_override("lifecycle.ignore_changes", [])
        self.endpoint.autoscaler.add_override("autoscaling_policy.mode", f'${{{HAS_IMAGE} ? "ON" : "OFF"}}')


def endpoint_armor(stack: TerraformStack, spec: Spec, w: WorkloadPlan, name: str) -> SecurityPolicy:
    """A public endpoint's Cloud Armor policy ``<name>-armor``: per-client throttle (a share of the peak), body size limit and
    prompt-safe WAF rules in front of the GPUs (docs/security.md); the VM endpoint's backend service and the Kubernetes
    platform's GCPBackendPolicy (stacks/kubernetes_gcp.py) use it."""
    return SecurityPolicy(stack, "armor", project=spec.clouds.gcp.project, name=f"{name}-armor", peak_requests_per_second=peak_qps(w),
                          client_requests_per_second=client_qps(spec, w)[0],
                          interval_sec=planner_rules.RATE_WINDOW_SECONDS, max_body_bytes=planner_rules.MAX_REQUEST_BODY_BYTES)


def add_gcp_stacks(app: App, spec: Spec, plan: Plan) -> tuple[list[str], list[str]]:
    """Add the GCP stacks for the plan's GCP workloads to ``app``; returns (stack names, notes)."""
    mine = [w for w in plan.workloads if w.cloud == "gcp"]
    notes: list[str] = []
    if not mine:
        return [], notes
    primary_region = spec.clouds.gcp.region
    storage = next((s for s in plan.storage if s.cloud == "gcp"), None)
    names = []
    rows: list[DashboardRow] = []
    descriptors = None
    primary_services = None
    for region in sorted({w.region for w in mine}, key=lambda r: (r != primary_region, r)):
        in_region = [w for w in mine if w.region == region]
        foundation = GcpFoundation(app, spec, plan, region, in_region, storage if region == primary_region else None, region == primary_region,
                                   descriptors)
        descriptors = foundation.descriptors
        primary_services = primary_services or foundation.services  # the first: the primary region's when it has workloads
        names.append(stack_id(foundation.stack))
        notes += foundation.notes
        pipeline = None
        if region == primary_region:
            # Ingestion and caches (data_pipeline), before the serving stacks that read their cache's endpoint.
            from aiinfra.stacks.pipeline_gcp import GcpDataPipeline

            pipeline = GcpDataPipeline(app, spec, plan, foundation)
            names += pipeline.names
            notes += pipeline.notes
        if plan.platform("gcp") == "kubernetes":  # a cluster stack and the workloads' identities (stacks/kubernetes.py)
            from aiinfra.stacks.kubernetes_gcp import add_gcp_kubernetes

            more, said = add_gcp_kubernetes(app, spec, plan, region, in_region, foundation, _stack)
            names += more
            notes += said
            in_region = []
        for w in in_region:
            if w.accelerator_runtime == "tpu":
                from aiinfra.stacks.tpu import GcpTpuWorkload  # a TPU VM per run, no instance group

                workload = GcpTpuWorkload(app, spec, w, foundation, _stack, alert_rules_for)
            elif plan.spark_part(w.name) is not None:  # Spark on Dataproc, a cluster a run (stacks/spark_gcp.py)
                from aiinfra.stacks.spark_gcp import GcpSparkWorkload

                workload = GcpSparkWorkload(app, spec, plan, w, plan.spark_part(w.name), foundation, _stack)
            else:
                workload = GcpWorkload(app, spec, w, foundation, plan, pipeline)
            names.append(stack_id(workload.stack))
            notes += workload.notes
            if getattr(workload, "target", None) is not None:  # a Dataproc run has its own alert, no node group to chart
                rows.append(DashboardRow(row_title(w), workload.target, workload.charted, planned_nodes=w.nodes, planned_hourly_usd=w.hourly_usd))
            # Every API the workload's resources call is on before it applies (it applies after its foundation).
            foundation.services.add(services_for(stack_resource_types(workload.stack)))
        foundation.services.add(services_for(stack_resource_types(foundation.stack)))
    if not rows:  # every workload on kubernetes: their dashboards come with the in-cluster objects (issue 29)
        return names, notes
    # One dashboard for the environment, in its own stack (it reads the job metrics' descriptors).
    stack = _stack(app, spec, primary_region, "dashboard")
    Dashboard(stack, "dashboard", project=spec.clouds.gcp.project, name=f"{resource_prefix(spec.project, spec.environment)} (aiinfra)", rows=rows)
    primary_services.add(services_for(stack_resource_types(stack)))
    names.append(stack_id(stack))
    return names, notes
