"""Scheduled runs on a Cloud TPU VM: Cloud Scheduler creates the TPU VM through the Cloud TPU API
when a run starts and deletes it at the run's hard stop; the node deletes itself as soon as its run
is over (``aiinfra.boot``, ``gcp.sh``: ``cloud_scale_to_zero``).

Why not a Terraform resource: a TPU VM is not a Compute Engine instance and cannot join a managed
instance group, and the ``hashicorp/google`` provider these constructs pin (6.x) has no TPU VM
resource: ``google_tpu_v2_vm`` and ``google_tpu_v2_queued_resource`` exist in ``google-beta`` only
(its ``google_tpu_node`` is the retired TPU Node architecture, a TensorFlow version and no VM). The
prebuilt bindings' schema (``tests/gcp_schema.py``) lists ``google_tpu_node`` alone. And a TPU VM
bills from creation to deletion, so a batch workload's node should exist only while it runs: the
same as the managed instance groups' resize to N and to zero, with the TPU API's create and delete
in place of ``resize``.

The Node body is the Cloud TPU API v2 ``Node`` resource
(https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes): ``acceleratorType``
(``v5litepod-8``, ``v5p-8``, ``v6e-8``), ``runtimeVersion`` (the TPU software version:
https://cloud.google.com/tpu/docs/runtimes), ``networkConfig`` (``network``, ``subnetwork``,
``enableExternalIps`` false: "the specified subnetwork or network should have Private Google Access
enabled", which the foundation's subnet has), ``serviceAccount`` (``email``, ``scope``),
``schedulingConfig`` (``spot``), ``labels``, ``tags`` and ``metadata`` (the ``startup-script`` and
the boot files it reads, as on the VM groups). Create: ``POST .../locations/{zone}/nodes?nodeId=``
(https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes/create); delete:
``DELETE .../nodes/{node}`` (https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes/delete).
Cloud Scheduler HTTP targets carry the body (base64) and an OAuth token of the workload's service
account (https://cloud.google.com/scheduler/docs/http-target-auth), as ``RunSchedule`` does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiinfra.cdk import Construct, Fn, Token

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import check_name
from aiinfra.constructs.gcp.run_schedule import check_run_window

TPU_API = "https://tpu.googleapis.com/v2"
CREATE_URI = TPU_API + "/projects/{project}/locations/{zone}/nodes?nodeId={node}"
NODE_URI = TPU_API + "/projects/{project}/locations/{zone}/nodes/{node}"
# The Cloud TPU API takes the cloud-platform scope only; the service account's IAM roles still decide.
# https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes/create ("Authorization scopes")
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# Writable fields of the v2 Node resource this construct sets (the REST reference above).
NODE_FIELDS = ("description", "acceleratorType", "runtimeVersion", "networkConfig", "serviceAccount", "schedulingConfig", "labels",
               "tags", "metadata")
# The accelerator types of single-host slices the catalog lists (v5e: v5litepod-1/4/8, v5p-8, v6e-1/4/8).
ACCELERATOR_TYPE = re.compile(r"^(v5litepod|v5p|v6e)-[0-9]+$")
# Node ids: "[a-z]([-a-z0-9]*[a-z0-9])?", as Compute Engine names.
NODE_ID = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _literal(value: Any) -> Any:
    """``value`` for a Terraform ``jsonencode``: each plain string becomes ``base64decode("...")``
    (cdktf writes strings into an HCL expression without escaping quotes or newlines, so a boot
    script would break it), tokens (Terraform references) stay as they are."""
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_literal(v) for v in value]
    if isinstance(value, str) and not Token.is_unresolved(value):
        if re.fullmatch(r"[A-Za-z0-9 ._:/@=+-]*", value):
            return value
        return Fn.base64decode(base64.b64encode(value.encode()).decode())
    return value


class TpuRunSchedule(Construct):
    """Cloud Scheduler jobs that create a TPU VM when a run starts and delete it at the hard stop.

    Example::

        TpuRunSchedule(stack, "runs", project="acme-ml-prod", region="us-central1", zone="us-central1-a",
                       node_id="acme-prod-pretrain", accelerator_type="v5litepod-8", runtime_version="v2-alpha-tpuv5-lite",
                       network=net.network_id, subnetwork=subnet_id, service_account_email=ident.email, spot=True,
                       metadata=gcp_metadata(cfg), start="0 6 * * 6", stop="0 6 * * 0")

    Args:
        project, region: the jobs' project and region (Cloud Scheduler is regional).
        zone: the TPU VM's zone (one the accelerator type is offered in).
        node_id: the TPU VM's name (the boot's ``groups``: it deletes itself by it).
        accelerator_type, runtime_version: the slice and its TPU software version.
        network, subnetwork: the foundation's VPC and node subnet (``projects/.../...`` ids); no
            external IP, ever (the subnet has Private Google Access and Cloud NAT).
        service_account_email: the node's own service account; the jobs call the TPU API with its
            token, so it needs the TPU runner permissions (``TpuRunnerRole``) and to act as itself.
        spot: Spot TPU VM (``schedulingConfig.spot``); else on-demand.
        boot_metadata: literal metadata (``aiinfra.boot.gcp_metadata``: ``startup-script`` and the
            files it fetches); metadata: further values (may be Terraform references: the bucket,
            the image variable). OS Login on and project SSH keys blocked always win.
        labels, tags: the node's labels and network tags (its firewall rules target the service account).
        start, stop: five-field cron expressions in UTC (the planner's ``schedule`` / ``stop_schedule``).
        start_when: a Terraform boolean expression (e.g. ``var.image != ""``); while false the start
            job is paused, so the schedule exists and creates no TPU VM.
        retries, attempt_deadline: of each call, as ``RunSchedule``.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, region: str, zone: str, node_id: str, accelerator_type: str,
                 runtime_version: str, network: str, subnetwork: str, service_account_email: str, spot: bool, start: str, stop: str,
                 boot_metadata: Mapping[str, str] | None = None, metadata: Mapping[str, str] | None = None,
                 labels: Mapping[str, str] | None = None, tags: Sequence[str] = (), start_when: str | None = None, retries: int = 5,
                 attempt_deadline: str = "180s", description: str | None = None):
        super().__init__(scope, id)
        if not NODE_ID.match(node_id):
            raise ValueError(f"node_id must be a lowercase name of at most 63 letters, digits and hyphens, got {node_id!r}")
        if not ACCELERATOR_TYPE.match(accelerator_type):
            raise ValueError(f"accelerator_type must be a single-host TPU slice such as v5litepod-8, v5p-8 or v6e-8, got {accelerator_type!r}")
        if not zone.startswith(f"{region}-"):
            raise ValueError(f"zone {zone!r} is not in region {region!r}")
        if not service_account_email or service_account_email.endswith("-compute@developer.gserviceaccount.com"):
            raise ValueError("service_account_email must be the workload's own service account, not the default compute service account")
        start, stop = check_run_window(start, stop, start_when)
        self.node_id, self.zone = node_id, zone
        self.node_body: dict[str, Any] = {
            "description": description or f"aiinfra run of {node_id}",
            "acceleratorType": accelerator_type,
            "runtimeVersion": runtime_version,
            "networkConfig": {"network": network, "subnetwork": subnetwork, "enableExternalIps": False, "canIpForward": False},
            "serviceAccount": {"email": service_account_email, "scope": [SCOPE]},
            # google.cloud.tpu.v2.SchedulingConfig: preemptible, reserved, spot ("Defines whether the node is Spot VM"):
            # https://cloud.google.com/php/docs/reference/cloud-tpu/latest/V2.SchedulingConfig
            "schedulingConfig": {"spot": True} if spot else {},
            "labels": dict(labels or {}),
            "tags": list(tags),
            "metadata": {**(boot_metadata or {}), **(metadata or {}), "enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"},
        }
        assert set(self.node_body) <= set(NODE_FIELDS)
        dynamic = any(Token.is_unresolved(v) for v in _leaves(self.node_body))
        if dynamic:
            body = Token.as_string(Fn.base64encode(Fn.jsonencode(_literal(self.node_body))))
        else:
            body = base64.b64encode(json.dumps(self.node_body, separators=(",", ":")).encode()).decode()
        retry = {"retry_count": retries, "min_backoff_duration": "10s", "max_backoff_duration": "300s"}
        token = {"service_account_email": service_account_email, "scope": SCOPE}
        kind = "Spot " if spot else ""
        self.start = resource(
            self, "start", "google_cloud_scheduler_job", project=project, region=region, name=check_name(f"{node_id}-start"),
            description=f"create the {kind}TPU VM {node_id} ({accelerator_type}) for a run" + (f" when {start_when}" if start_when else ""),
            schedule=start, time_zone="Etc/UTC", attempt_deadline=attempt_deadline, retry_config=retry,
            paused=f"${{!({start_when})}}" if start_when else None,
            http_target={"http_method": "POST", "uri": CREATE_URI.format(project=project, zone=zone, node=node_id),
                         "headers": {"Content-Type": "application/json"}, "body": body, "oauth_token": token})
        self.stop = resource(
            self, "stop", "google_cloud_scheduler_job", project=project, region=region, name=check_name(f"{node_id}-stop"),
            description=f"hard stop: delete the TPU VM {node_id}", schedule=stop, time_zone="Etc/UTC", attempt_deadline=attempt_deadline,
            retry_config=retry,
            http_target={"http_method": "DELETE", "uri": NODE_URI.format(project=project, zone=zone, node=node_id), "oauth_token": token})
        self.jobs = [self.start, self.stop]


def _leaves(value: Any):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, str):
        yield value


class TpuRunnerRole(Construct):
    """A project custom role to create, read and delete TPU VMs, granted to the workload's service
    account (the scheduler's jobs create and delete its node with its token; the node deletes
    itself), and ``roles/iam.serviceAccountUser`` on that account for itself (a TPU VM created
    with a service account needs ``iam.serviceAccounts.actAs`` on it).

    The grant is project-wide: the Cloud TPU API documents no IAM condition attributes for its
    nodes (Compute Engine's ``resource.name`` conditions, which narrow ``GroupRunnerRole``, are
    Compute Engine's), so this account may create and delete any TPU VM of the project.

    Permissions: ``tpu.nodes.create`` / ``tpu.nodes.delete`` / ``tpu.nodes.get`` on the parent
    location, ``tpu.operations.get`` for the long-running operation
    (https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes/create,
    https://cloud.google.com/tpu/docs/reference/rest/v2/projects.locations.nodes/delete).
    """

    # Each listed in Cloud TPU's roles and permissions (roles/tpu.admin): https://cloud.google.com/iam/docs/roles-permissions/tpu
    PERMISSIONS = ("tpu.nodes.create", "tpu.nodes.delete", "tpu.nodes.get", "tpu.operations.get")

    def __init__(self, scope: Construct, id: str, *, project: str, role_id: str, member: str, service_account_name: str):
        super().__init__(scope, id)
        if not re.fullmatch(r"[a-zA-Z0-9_.]{3,64}", role_id):
            raise ValueError(f"role_id must be 3-64 letters, digits, '_' or '.', got {role_id!r}")
        self.role = resource(self, "role", "google_project_iam_custom_role", project=project, role_id=role_id,
                             title="aiinfra TPU runner", description="Create and delete the TPU VMs of aiinfra runs",
                             permissions=list(self.PERMISSIONS), stage="GA")
        self.grant = resource(self, "grant", "google_project_iam_member", project=project, role=self.role.get_string_attribute("name"),
                              member=member)
        self.act_as = resource(self, "act-as", "google_service_account_iam_member", service_account_id=service_account_name,
                               role="roles/iam.serviceAccountUser", member=member)
