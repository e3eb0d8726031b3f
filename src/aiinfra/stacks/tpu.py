"""A GCP batch workload on a Cloud TPU VM (``accelerator_runtime == "tpu"``): its identity and
firewall as any GCP workload, and instead of managed instance groups a TPU VM that exists only
while a run does (``constructs.gcp.tpu_vm``): Cloud Scheduler creates it at the run's start and
deletes it at the hard stop; the node's boot runs the container, keeps the run record, sends the
job metrics and deletes the node when the run is over (docs/boot.md). The planner refuses TPU
serving and multi-node TPU runs (``planner/checks.py``: ``check_accelerator_platform``)."""

from __future__ import annotations

import re

from aiinfra.cdk import App, TerraformOutput, stack_id

from aiinfra.boot import gcp_metadata
from aiinfra.boot.images import tpu_runtime_version
from aiinfra.boot.workload import signing_key_ids, spec_workload
from aiinfra.constructs.gcp import NodeFirewall, PolicyTarget, WorkloadIdentity
from aiinfra.constructs.gcp.alerts import Alerts
from aiinfra.constructs.gcp.threat_detection import NODE_METADATA as SCAN_METADATA
from aiinfra.constructs.gcp.tpu_vm import CREATE_URI, TpuRunnerRole, TpuRunSchedule
from aiinfra.naming import COST_SCOPE_KEY, ENV_SHORT, cost_labels, short
from aiinfra.observability.workload import boot_monitoring, charted_metrics
from aiinfra.planner.model import WorkloadPlan
from aiinfra.planner.security import vulnerability_scanning
from aiinfra.spec.models import Spec
from aiinfra.stacks.nodes import BUCKET_KEY, HAS_IMAGE, IMAGE_KEY, boot_config, image_input

WORKLOAD_LABEL = "aiinfra-workload"


class GcpTpuWorkload:
    """One TPU workload's stack: identity, firewall, TPU runner role, run schedule (or the request
    that starts a run by hand), alert policies on the job metrics."""

    def __init__(self, app: App, spec: Spec, w: WorkloadPlan, foundation, make_stack, alert_rules_for) -> None:
        if w.type == "inference" or w.nodes != 1:
            raise ValueError(f"{w.name}: a TPU VM workload is one node of a training / data_processing run "
                             f"(got {w.type}, {w.nodes} nodes); the planner refuses the rest")
        self.stack = make_stack(app, spec, w.region, w.name)
        gcp = spec.clouds.gcp
        name = short(f"{foundation.name}-{w.name}", 44)
        net, key, storage = foundation.network, foundation.key, foundation.storage
        self.notes: list[str] = []
        self.group_name = name
        self.identity = WorkloadIdentity(self.stack, "identity", project=gcp.project, account_id=short(f"{spec.project}-{w.name}", 30),
                                         bucket_names=[storage.bucket_name], object_prefix=w.name, kms_key_ids=[key.id],
                                         signing_key_ids=signing_key_ids(spec_workload(spec, w).image_signing_key),
                                         display_name=f"{spec.project} {spec.environment} {w.name}")
        # Out HTTPS (registry, Cloud Storage, the TPU API) on the node's service account, nothing in.
        self.firewall = NodeFirewall(self.stack, "firewall", project=gcp.project, network=net.network_id, name=short(f"{name}-fw", 40),
                                     service_account_email=self.identity.email, collective=False, peer_ranges=[net.cidr])
        self.runner = TpuRunnerRole(
            self.stack, "tpu-runner", project=gcp.project, member=self.identity.member,
            service_account_name=self.identity.account.get_string_attribute("name"),
            role_id=re.sub(r"[^A-Za-z0-9_.]", "_", f"aiinfra.{spec.project}.{ENV_SHORT[spec.environment]}.{w.name}.tpuRunner")[:64])
        image_var = image_input(self.stack, w, self.notes)
        metadata = {BUCKET_KEY: storage.bucket_name, **(SCAN_METADATA if vulnerability_scanning(spec) else {})}
        if image_var is not None:
            metadata[IMAGE_KEY] = image_var
        monitoring = boot_monitoring(spec, w, name)
        boot = gcp_metadata(boot_config(spec, w, "gcp", (name,), project=gcp.project, log_group=name, **monitoring))
        zone = w.zones[0]
        spot = w.capacity != "on_demand" and w.on_demand_base_nodes == 0
        runtime = tpu_runtime_version(w)
        labels = {WORKLOAD_LABEL: w.name, "workload-type": w.type.replace("_", "-"), **cost_labels(spec.project, spec.environment)}
        subnetwork = net.subnetwork.get_string_attribute("id")
        self.runs = None
        if w.schedule and w.stop_schedule:
            # No image, no spend: the start job is paused until an image is given.
            self.runs = TpuRunSchedule(
                self.stack, "runs", project=gcp.project, region=w.region, zone=zone, node_id=name, accelerator_type=w.instance_type,
                runtime_version=runtime, network=net.network_id, subnetwork=subnetwork, service_account_email=self.identity.email,
                spot=spot, start=w.schedule, stop=w.stop_schedule, boot_metadata=boot, metadata=metadata, labels=labels,
                tags=[net.node_tag], start_when=HAS_IMAGE if image_var is not None else None,
                description=f"{spec.project} {spec.environment} {w.name}: one run")
        else:
            uri = CREATE_URI.format(project=gcp.project, zone=zone, node=name)
            self.notes.append(f"{stack_id(self.stack)}: {w.name} runs on demand only (no schedule): start a run by creating its TPU VM "
                              f"({w.instance_type}, {runtime}) with POST {uri} and the node body of the stack's tpu_node_body output; "
                              "its node deletes itself when the run ends")
            TerraformOutput(self.stack, "tpu_node_body", value=_node_body(self, w, runtime, net.network_id, subnetwork, spot, boot, metadata,
                                                                         labels, net.node_tag))
        self.notes.append(f"{stack_id(self.stack)}: {w.name} runs on a {'Spot ' if spot else ''}TPU VM ({w.instance_type}, software "
                          f"version {runtime}) created for each run: no capacity alert watches it (a TPU VM is no instance group's "
                          "member); a create the zone cannot serve shows as the start job's failed attempts in Cloud Scheduler's logs")
        # A TPU VM is no Compute Engine instance (gce_instance) and no group's member: what the
        # dashboard and policies read from those (node count, node cost, host metrics) is not there;
        # the job metrics the node writes are.
        self.charted = tuple(m for m in charted_metrics(spec, w) if _tpu_watchable(m))
        self.target = PolicyTarget(workload=w.name, labels={COST_SCOPE_KEY: foundation.name}, groups=(), job=name,
                                   job_types=foundation.descriptors.types, node_hour_usd=w.hourly_usd / max(w.nodes, 1), serving=False)
        rules, skipped = alert_rules_for(spec.alerting_rules, w, bool(monitoring["collect"]))
        skipped += [f"{r.name} ({r.metric}): a TPU VM is no Compute Engine instance or group member" for r in rules
                    if not _tpu_watchable(r.metric)]
        rules = [r for r in rules if _tpu_watchable(r.metric)]
        for text in skipped:
            self.notes.append(f"{stack_id(self.stack)}: no policy for {text}")
        self.alerts = Alerts(self.stack, "alerts", project=gcp.project, name=name, rules=rules, target=self.target,
                             notification_channels=foundation.alerts.channel_ids)
        TerraformOutput(self.stack, "tpu_node_id", value=name)


def _node_body(workload: GcpTpuWorkload, w: WorkloadPlan, runtime: str, network: str, subnetwork: str, spot: bool, boot, metadata, labels,
               tag: str):
    """The create request's body for a run started by hand (the same Node as the schedule sends)."""
    from aiinfra.cdk import Fn
    from aiinfra.constructs.gcp.tpu_vm import SCOPE, _literal

    node = {"acceleratorType": w.instance_type, "runtimeVersion": runtime,
            "networkConfig": {"network": network, "subnetwork": subnetwork, "enableExternalIps": False, "canIpForward": False},
            "serviceAccount": {"email": workload.identity.email, "scope": [SCOPE]}, "schedulingConfig": {"spot": True} if spot else {},
            "labels": labels, "tags": [tag],
            "metadata": {**boot, **metadata, "enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"}}
    return Fn.jsonencode(_literal(node))


def _tpu_watchable(metric: str) -> bool:
    """Whether ``metric``'s series can be read for a TPU VM: not one of a group or a gce_instance."""
    from aiinfra.constructs.gcp.metrics import RECIPES

    recipe = RECIPES.get(metric)
    series = recipe.series if recipe is not None else None
    return not metric.startswith("gpu_") and (series is None or series.target not in ("group", "node"))
