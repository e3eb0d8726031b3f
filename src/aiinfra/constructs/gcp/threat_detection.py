"""Threat and vulnerability findings for one GCP project: Security Command Center findings
streamed to a Pub/Sub topic and alerted on through Cloud Monitoring, and the node metadata that
turns on VM Manager's OS vulnerability reports."""

from __future__ import annotations

from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.gcp.common import GcpContext, check_name

# Findings worth a page: active and rated HIGH or CRITICAL. The notification filter takes the
# findings.list filter syntax (https://cloud.google.com/security-command-center/docs/how-to-api-filter-notifications);
# severities are CRITICAL, HIGH, MEDIUM, LOW (Finding.Severity in
# https://github.com/googleapis/googleapis/blob/master/google/cloud/securitycenter/v2/finding.proto).
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
DEFAULT_SEVERITIES = ("HIGH", "CRITICAL")

# Publish operations on a topic, a DELTA INT64 metric of monitored resource pubsub_topic
# (label topic_id): https://cloud.google.com/monitoring/api/metrics_gcp#gcp-pubsub
PUBLISH_METRIC = "pubsub.googleapis.com/topic/send_message_operation_count"

# VM Manager (OS inventory, vulnerability reports, patch) runs in the OS Config agent once the
# instance (or project) metadata says enable-osconfig=TRUE: https://cloud.google.com/compute/vm-manager/docs/setup
NODE_METADATA = {"enable-osconfig": "TRUE"}

# The APIs this needs on the project: Security Command Center (notification configs), OS Config
# (VM Manager), Pub/Sub (the findings topic). Artifact Registry image scanning is the Container
# Scanning API (it turns on Container Analysis itself):
# https://cloud.google.com/artifact-analysis/docs/enable-automatic-scanning
SERVICES = ("securitycenter.googleapis.com", "osconfig.googleapis.com", "pubsub.googleapis.com")
IMAGE_SCANNING_SERVICE = "containerscanning.googleapis.com"

PUBLISHER = "roles/pubsub.publisher"
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def findings_filter(severities: Sequence[str] = DEFAULT_SEVERITIES) -> str:
    """The notification config's filter: active findings of ``severities``."""
    any_of = " OR ".join(f'severity = "{s}"' for s in severities)
    return f'state = "ACTIVE" AND ({any_of})'


class ThreatDetection(Construct):
    """Security Command Center findings of the project e-mailed through the alert channels, and
    what the nodes need for OS vulnerability reports.

    Example::

        threats = ThreatDetection(stack, "threats", project="acme-ml-prod", name="acme-ml-prod",
                                  notification_channels=alerts.channel_ids, kms_key_name=key.id)
        ProjectServices(stack, "services", project="acme-ml-prod", services=[*DEFAULT_SERVICES, *threats.services])
        # instance templates: metadata={**boot_metadata, **threats.node_metadata}

    What it creates: a Pub/Sub topic; a ``google_scc_v2_project_notification_config`` (the v2 API;
    location ``global``, the only one the resource takes) streaming active findings of
    ``severities`` to it; ``roles/pubsub.publisher`` on the topic for the config's own service
    account (the ``service_account`` it reports: ``service-<project-number>@gcp-sa-scc-notification``
    for a project-level activation, ``service-org-<org-id>@...`` for an organization-level one,
    https://cloud.google.com/iam/docs/service-agents); with ``kms_key_name``, encrypt/decrypt on
    the key for the Pub/Sub service agent (https://cloud.google.com/pubsub/docs/encryption); and a
    Cloud Monitoring alert policy raised when anything is published to the topic, notifying
    ``notification_channels``, its documentation pointing at the project's findings page.

    VM Manager vulnerability reports: the OS Config agent reports each VM's packages and their
    CVEs once ``node_metadata`` (``enable-osconfig=TRUE``) is on the instance and
    ``osconfig.googleapis.com`` is enabled; nodes without external IPs reach the API through
    Private Google Access or Cloud NAT. Container-Optimized OS ships the OS Config agent but
    supports only part of its features (no package management:
    https://cloud.google.com/container-optimized-os/docs/how-to/osconfig). The docs found here do
    not say whether the Deep Learning VM images ship the agent: check a node with
    ``systemctl status google-osconfig-agent`` (``notes`` says so).

    Cost: VM Manager bills $0.003 per hour for each VM with an active OS Config agent, the first
    100 VMs of a billing account free (https://cloud.google.com/compute/vm-manager/pricing): N
    nodes running H hours a month cost ``0.003 * max(0, N*H - 100*hours_in_month)`` USD (the free
    allowance is per billing account, shared with other projects). Image scanning
    (``image_scanning=True``) bills $0.26 per image digest scanned on push
    (https://cloud.google.com/artifact-analysis/pricing). SCC Standard is free; Premium is billed
    by usage or subscription (https://cloud.google.com/security-command-center/pricing).

    Args:
        project: the GCP project id.
        name: topic, notification config and policy name prefix.
        notification_channels: channel ids the alert policy notifies (``Alerts.channel_ids``; empty:
            incidents show in Cloud Monitoring only, and ``notes`` says so);
            at least one.
        severities: finding severities alerted on; default HIGH and CRITICAL.
        kms_key_name: a Cloud KMS key id for the topic (CMEK); left out, Pub/Sub encrypts with a
            Google-managed key, which the plan should say.
        image_scanning: Artifact Registry images are scanned too (adds the Container Scanning API
            to ``services``). Default off.
        labels: labels of the topic and the policy.

    Attributes:
        services: API names the foundation enables before this (``ProjectServices``).
        node_metadata: instance metadata for the node templates.
        topic, notification_config, policy: the resources; ``topic_id`` the topic's id.
        filter: the notification config's filter.
        notes: one line each for what needs rights the stack does not have.
    """

    def __init__(self, scope: Construct, id: str, *, project: str, name: str, notification_channels: Sequence[str],
                 severities: Sequence[str] = DEFAULT_SEVERITIES, kms_key_name: str | None = None, image_scanning: bool = False,
                 labels: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        try:
            check_name(f"{name}-scc-findings", "name (with -scc-findings)")
        except ValueError as exc:
            problems.append(str(exc))
        unknown = [s for s in severities if s not in SEVERITIES]
        if not severities or unknown:
            problems.append(f"severities must be a non-empty subset of {', '.join(SEVERITIES)}, got {list(severities)!r}")
        if problems:
            raise ValueError("; ".join(problems))
        labels = {**(labels or {}), "managed-by": "aiinfra"}
        self.project = project
        self.services: list[str] = [*SERVICES, *([IMAGE_SCANNING_SERVICE] if image_scanning else [])]
        self.node_metadata: dict[str, str] = dict(NODE_METADATA)
        self.filter = findings_filter(list(dict.fromkeys(severities)))

        grants = []
        if kms_key_name:
            ctx = GcpContext(self, project)
            grants.append(resource(self, "pubsub-key-grant", "google_kms_crypto_key_iam_member", crypto_key_id=kms_key_name,
                                   role=ENCRYPTER_DECRYPTER, member=f"serviceAccount:service-{ctx.number}@gcp-sa-pubsub.iam.gserviceaccount.com"))
        topic_name = f"{name}-scc-findings"
        self.topic = resource(self, "topic", "google_pubsub_topic", project=project, name=topic_name, kms_key_name=kms_key_name, labels=labels,
                              depends_on=grants or None)
        self.topic_id: str = self.topic.get_string_attribute("id")
        self.notification_config = resource(
            self, "notification", "google_scc_v2_project_notification_config", project=project, location="global",
            config_id=f"{name}-findings", description=f"Active {'/'.join(severities)} findings of {project} to {topic_name}",
            pubsub_topic=self.topic_id, streaming_config={"filter": self.filter})
        resource(self, "publisher", "google_pubsub_topic_iam_member", project=project, topic=self.topic.get_string_attribute("name"),
                 role=PUBLISHER, member=f"serviceAccount:{self.notification_config.get_string_attribute('service_account')}")

        findings_page = f"https://console.cloud.google.com/security/command-center/findings?project={project}"
        condition = {"display_name": "SCC finding published", "condition_threshold": {
            "filter": f'metric.type = "{PUBLISH_METRIC}" AND resource.type = "pubsub_topic" AND resource.label.topic_id = "{topic_name}"',
            "comparison": "COMPARISON_GT", "threshold_value": 0, "duration": "0s", "trigger": {"count": 1},
            "aggregations": [{"alignment_period": "60s", "per_series_aligner": "ALIGN_SUM"}],
            "evaluation_missing_data": "EVALUATION_MISSING_DATA_INACTIVE"}}
        self.policy = resource(
            self, "policy", "google_monitoring_alert_policy", project=project, display_name=f"{name}: Security Command Center finding",
            combiner="OR", severity="CRITICAL" if "CRITICAL" in severities else "ERROR", enabled=True, conditions=[condition],
            notification_channels=list(notification_channels), alert_strategy={"auto_close": "1800s"},
            documentation={"mime_type": "text/markdown", "content": (
                f"Security Command Center published an active {' or '.join(severities)} finding for project `{project}` "
                f"(filter `{self.filter}`). Open the findings: {findings_page} . The finding itself is the message on "
                f"Pub/Sub topic `{topic_name}`; this alert closes after 30 minutes without new findings.")},
            user_labels=labels)

        # https://cloud.google.com/security-command-center/docs/activate-scc-overview and
        # https://cloud.google.com/security-command-center/docs/how-to-api-manage-notifications
        self.notes: list[str] = [
            "Security Command Center must be activated (Standard or Premium tier) for the organization or for this project; activation is "
            "done in the console by someone with roles/securitycenter.admin (the google provider has no resource for it); this stack does not.",
            "The identity applying this stack needs roles/securitycenter.notificationConfigEditor on the project (or organization) to create "
            "the notification config.",
            "A project-level activation leaves out some detectors and integrations; an organization-level activation and org-wide "
            "notification configs (google_scc_v2_organization_notification_config) need organization rights this stack does not have.",
            "Check once that the OS Config agent runs on the node image (`systemctl status google-osconfig-agent`): Google's public images "
            "include it, the docs found do not say so for the Deep Learning VM images.",
        ]
        if not kms_key_name:
            self.notes.append("The findings topic uses Google-managed encryption (no kms_key_name given).")
        if not notification_channels:
            self.notes.append("The findings alert policy notifies nobody (no notification channels): incidents show in Cloud Monitoring "
                              "only; set clouds.gcp.alert_emails to add e-mail channels.")
