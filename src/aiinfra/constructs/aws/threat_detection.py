"""Threat detection and vulnerability scanning for one AWS account and region: GuardDuty (with S3
data events, EBS malware protection and EC2 runtime monitoring), Amazon Inspector scanning of EC2
(and ECR images), and their findings routed through EventBridge to the alerts SNS topic."""

from __future__ import annotations

import json
import re
from typing import Any

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import resource
from aiinfra.constructs.aws.common import AwsContext

# Feature and additional-configuration names of UpdateDetector / aws_guardduty_detector_feature:
# https://docs.aws.amazon.com/guardduty/latest/APIReference/API_DetectorFeatureConfiguration.html
# https://docs.aws.amazon.com/guardduty/latest/APIReference/API_DetectorAdditionalConfiguration.html
S3_DATA_EVENTS = "S3_DATA_EVENTS"
EBS_MALWARE_PROTECTION = "EBS_MALWARE_PROTECTION"
RUNTIME_MONITORING = "RUNTIME_MONITORING"
EC2_AGENT_MANAGEMENT = "EC2_AGENT_MANAGEMENT"
FEATURES = (S3_DATA_EVENTS, EBS_MALWARE_PROTECTION, RUNTIME_MONITORING)

# GuardDuty severities are numbers: Low 1.0-3.9, Medium 4.0-6.9, High 7.0-8.9, Critical 9.0-10.0
# (https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings-severity.html).
SEVERITY_HIGH = 7.0
SEVERITY_RANGE = (1.0, 10.0)
# Inspector severities are labels (INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL, UNTRIAGED) and a
# finding's status is ACTIVE, SUPPRESSED or CLOSED:
# https://docs.aws.amazon.com/inspector/v2/APIReference/API_Finding.html
INSPECTOR_SEVERITIES = ("HIGH", "CRITICAL")
# Resource types of Enable / aws_inspector2_enabler:
# https://docs.aws.amazon.com/inspector/v2/APIReference/API_Enable.html
INSPECTOR_EC2, INSPECTOR_ECR = "EC2", "ECR"

# EventBridge rule names: 1-64 of [.-_A-Za-z0-9] (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html).
_RULE_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,50}$")  # 50 + "-guardduty" (10) stays within 64

FINDINGS_CONSOLE = {"guardduty": "https://console.aws.amazon.com/guardduty/home#/findings",
                    "inspector": "https://console.aws.amazon.com/inspector/v2/home#/findings"}


def guardduty_event_pattern(min_severity: float) -> dict[str, Any]:
    """GuardDuty findings at or above ``min_severity``. The event's ``detail`` is the finding
    (``detail.severity`` a number); numeric matching is EventBridge's ``{"numeric": [">=", n]}``.
    https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings_eventbridge.html
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-numeric-matching"""
    return {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"], "detail": {"severity": [{"numeric": [">=", min_severity]}]}}


def inspector_event_pattern() -> dict[str, Any]:
    """Active Inspector findings rated HIGH or CRITICAL (``detail-type`` "Inspector2 Finding",
    ``detail`` the finding: https://docs.aws.amazon.com/inspector/latest/user/eventbridge-integration.html)."""
    return {"source": ["aws.inspector2"], "detail-type": ["Inspector2 Finding"],
            "detail": {"severity": list(INSPECTOR_SEVERITIES), "status": ["ACTIVE"]}}


# One readable line per finding in the e-mail instead of the raw event JSON. A template that is a
# JSON string is quoted; <name> is a value of input_paths.
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
_GUARDDUTY_MESSAGE = {
    "input_paths": {"severity": "$.detail.severity", "type": "$.detail.type", "title": "$.detail.title", "account": "$.account",
                    "region": "$.region", "id": "$.detail.id"},
    "input_template": '"GuardDuty finding, severity <severity>: <type> in account <account> (<region>). <title> Finding id <id>: '
                      f'{FINDINGS_CONSOLE["guardduty"]}"',
}
_INSPECTOR_MESSAGE = {
    "input_paths": {"severity": "$.detail.severity", "type": "$.detail.type", "title": "$.detail.title", "account": "$.account",
                    "region": "$.region", "arn": "$.detail.findingArn"},
    "input_template": '"Inspector finding, <severity>: <title> (<type>) in account <account> (<region>). Finding <arn>: '
                      f'{FINDINGS_CONSOLE["inspector"]}"',
}


class ThreatDetection(Construct):
    """GuardDuty and Amazon Inspector for the account and region of the stack, with their
    findings e-mailed through the alerts topic. One per account and region (the foundation
    stack's): GuardDuty allows a single detector per account and region.

    Example::

        ThreatDetection(stack, "threats", name="acme-ml-prod", topic_arn=alerts.topic_arn, ecr=True)

    What it creates:

    * ``aws_guardduty_detector`` (enabled, updated findings published every 15 minutes), or, with
      ``detector_id``, nothing: the features are set on that existing detector. A new detector
      also gets the optional features this construct does not name (EKS audit logs, RDS login
      events, Lambda network logs): CreateDetector enables every optional feature except runtime
      monitoring when the call names none (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_CreateDetector.html);
      they bill only for EKS / RDS / Lambda activity, which these stacks do not have.
    * ``aws_guardduty_detector_feature`` for S3 data events, EBS malware protection and runtime
      monitoring with GuardDuty-managed EC2 agents (``EC2_AGENT_MANAGEMENT``).
    * ``aws_inspector2_enabler`` for EC2 scanning, and ECR image scanning with ``ecr=True``.
    * two EventBridge rules on the default bus with the SNS topic as target: GuardDuty findings
      at or above ``min_severity``, Inspector findings HIGH / CRITICAL and ACTIVE.

    Runtime monitoring's agent (what the nodes need; GuardDuty installs and updates it through
    Systems Manager, https://docs.aws.amazon.com/guardduty/latest/ug/how-runtime-monitoring-works-ec2.html):

    * the instances must be SSM managed: SSM Agent running and an instance role that lets it
      reach Systems Manager (``AmazonSSMManagedInstanceCore`` or equivalent), with a route to the
      SSM endpoints (NAT or ``ssm`` / ``ssmmessages`` / ``ec2messages`` interface endpoints)
      (https://docs.aws.amazon.com/guardduty/latest/ug/prereq-runtime-monitoring-ec2-support.html);
    * a supported OS and kernel: AL2 / AL2023, Ubuntu 20.04 / 22.04 / 24.04, Debian 11 / 12,
      RHEL 9.4, kernels built with ``CONFIG_DEBUG_INFO_BTF=y`` (same page);
    * the agent sends its events to a ``guardduty-data`` VPC endpoint that GuardDuty creates
      itself with automated agent configuration, resolving its private DNS name
      ``guardduty-data.<region>.amazonaws.com``
      (https://docs.aws.amazon.com/guardduty/latest/ug/runtime-monitoring-agent-connectivity.html):
      the VPC needs ``enable_dns_support`` and ``enable_dns_hostnames`` for that private name
      (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpcEndpoint.html, PrivateDnsEnabled);
    * ``GuardDutyManaged=false`` as an instance tag excludes an instance (``true`` includes it
      when agent management is limited to tagged instances).

    Cost (list prices vary by region; the pricing pages are the truth):

    * GuardDuty (https://aws.amazon.com/guardduty/pricing/) bills per data analysed: CloudTrail
      management events per million events, VPC flow and DNS logs per GB, S3 data events per
      million events, EBS malware protection per GB scanned (only when a finding triggers a scan),
      runtime monitoring per vCPU-month of monitored instances (GuardDuty then stops billing
      those instances' flow logs). A 30-day free trial per feature applies.
    * Inspector (https://aws.amazon.com/inspector/pricing/) bills per instance-month (the average
      number of EC2 instances scanned in the month, pro-rated by hours) and per ECR image
      (the first scan on push, then each rescan). A 15-day free trial applies.
    * Per month for N instances of V vCPUs running H hours:
      ``N*V*(H/730)*rm_vcpu_month + N*(H/730)*inspector_instance_month + flow_gb*flow_per_gb +
      cloudtrail_mevents*ct_per_mevent + s3_mevents*s3_per_mevent + images*ecr_per_image``
      (``estimate_monthly_usd`` computes it; every unit price is an argument).

    Args:
        name: prefix of the EventBridge rules.
        topic_arn: the SNS topic findings go to (the foundation's alerts topic). Its policy must
            let ``events.amazonaws.com`` publish and, when KMS-encrypted, its key must let
            EventBridge use it (``kms:GenerateDataKey*``, ``kms:Decrypt``).
        min_severity: lowest GuardDuty severity e-mailed, 1.0 to 10.0; default 7.0 (High and
            Critical).
        ecr: the workloads' images are in ECR: Inspector scans them too. Default off.
        guardduty, inspector: deploy GuardDuty (intrusion detection) / Inspector (vulnerability
            scanning); default both.
        detector_id: an existing detector of the account and region to adopt: features are set on
            it, the detector itself (its frequency and tags) is left as it is.
        s3_data_events, ebs_malware_protection, runtime_monitoring: the features, each on unless
            turned off (an explicit ``False`` writes the feature as DISABLED).
        tags: tags of the detector and the rules.

    Attributes:
        detector_id: the detector's id (the adopted one, or the new detector's).
        detector: the ``aws_guardduty_detector`` (None when adopting).
        features: feature name -> its ``aws_guardduty_detector_feature``.
        inspector: the ``aws_inspector2_enabler``; ``inspector_resource_types`` what it scans.
        guardduty_rule, inspector_rule: the EventBridge rules; ``guardduty_pattern`` and
            ``inspector_pattern`` their event patterns as dicts.
        notes: one line each for what needs organization-level rights or a manual step.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, topic_arn: str, min_severity: float = SEVERITY_HIGH, ecr: bool = False,
                 detector_id: str | None = None, s3_data_events: bool = True, ebs_malware_protection: bool = True,
                 runtime_monitoring: bool = True, guardduty: bool = True, inspector: bool = True, tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        problems = []
        if not guardduty and not inspector:
            problems.append("guardduty and inspector are both off: there is nothing to deploy")
        if not _RULE_NAME.match(name or ""):
            problems.append(f"name must be 1 to 50 letters, digits, '.', '-' or '_', got {name!r}")
        if not topic_arn:
            problems.append("topic_arn must name the SNS topic findings go to, got an empty value")
        if isinstance(min_severity, bool) or not isinstance(min_severity, (int, float)) \
                or not SEVERITY_RANGE[0] <= min_severity <= SEVERITY_RANGE[1]:
            problems.append(f"min_severity must be between {SEVERITY_RANGE[0]:g} and {SEVERITY_RANGE[1]:g}, got {min_severity!r}")
        if detector_id is not None and not re.fullmatch(r"[0-9a-z]{1,300}", detector_id):
            problems.append(f"detector_id must be a GuardDuty detector id (lowercase letters and digits), got {detector_id!r}")
        if problems:
            raise ValueError("; ".join(problems))
        tags = dict(tags or {})
        ctx = AwsContext(self)
        self.notes: list[str] = []

        self.detector = None
        self.detector_id = None  # type: ignore[assignment]
        self.features = {}
        self.guardduty_rule = self.inspector_rule = self.inspector = None
        self.inspector_resource_types: list[str] = []
        self.guardduty_pattern = guardduty_event_pattern(float(min_severity))
        self.inspector_pattern = inspector_event_pattern()
        if not guardduty:
            pass
        elif detector_id is None:
            self.detector = resource(self, "detector", "aws_guardduty_detector", enable=True, finding_publishing_frequency="FIFTEEN_MINUTES",
                                     tags=tags)
            self.detector_id: str = self.detector.get_string_attribute("id")
            address = f"aws_guardduty_detector.{self.detector.friendly_unique_id}"
            self.notes.append("GuardDuty allows one detector per account and region: if apply fails because the account already has one, "
                              "pass its id as detector_id (`aws guardduty list-detectors`), or bring it under this stack with "
                              f"`terraform import {address} <detector-id>` in the stack's directory.")
        else:
            self.detector_id = detector_id
            self.notes.append(f"GuardDuty detector {detector_id} is adopted: this stack sets its features only; its finding frequency and tags "
                              "stay as they are, and destroying the stack leaves the detector running.")

        wanted = {S3_DATA_EVENTS: s3_data_events, EBS_MALWARE_PROTECTION: ebs_malware_protection, RUNTIME_MONITORING: runtime_monitoring}
        for feature, on in (wanted.items() if guardduty else ()):
            status = "ENABLED" if on else "DISABLED"
            extra = [{"name": EC2_AGENT_MANAGEMENT, "status": status}] if feature == RUNTIME_MONITORING else None
            self.features[feature] = resource(self, f"feature-{feature.lower().replace('_', '-')}", "aws_guardduty_detector_feature",
                                              detector_id=self.detector_id, name=feature, status=status, additional_configuration=extra)

        if inspector:
            self.inspector_resource_types = [INSPECTOR_EC2, *([INSPECTOR_ECR] if ecr else [])]
            self.inspector = resource(self, "inspector", "aws_inspector2_enabler", account_ids=[ctx.account_id],
                                      resource_types=self.inspector_resource_types)
        if guardduty:
            self.guardduty_rule = self._route("guardduty", f"{name}-guardduty", self.guardduty_pattern, _GUARDDUTY_MESSAGE, topic_arn, tags,
                                              f"GuardDuty findings of severity {min_severity:g} or more to the alerts topic")
        if inspector:
            self.inspector_rule = self._route("inspector", f"{name}-inspector", self.inspector_pattern, _INSPECTOR_MESSAGE, topic_arn, tags,
                                              "Active HIGH and CRITICAL Amazon Inspector findings to the alerts topic")

        # What the stack cannot do from a member account: https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_organizations.html
        # and https://docs.aws.amazon.com/inspector/latest/user/designating-admin.html
        self.notes += [
            "Organization: a delegated administrator for GuardDuty and for Inspector is designated from the organization's management account "
            "(aws_guardduty_organization_admin_account, aws_inspector2_delegated_admin_account); this stack does not have those rights.",
            "Organization: adding member accounts and org-wide auto-enable (aws_guardduty_organization_configuration with "
            "auto_enable_organization_members = \"ALL\" and its features, aws_inspector2_organization_configuration) run in the delegated "
            "administrator account, not here.",
            "Runtime monitoring: instances need SSM Agent with an instance role allowing Systems Manager (AmazonSSMManagedInstanceCore), "
            "a route to the SSM endpoints, a supported OS/kernel (BTF), and VPC DNS support + DNS hostnames for the guardduty-data "
            "endpoint GuardDuty creates; tag an instance GuardDutyManaged=false to exclude it.",
            # https://docs.aws.amazon.com/inspector/latest/user/scanning-resources.html
            "Inspector scans EC2 through SSM Agent or from EBS snapshots (agentless); the account's EC2 scan mode is left at its default.",
        ]

    def _route(self, id: str, rule_name: str, pattern: dict[str, Any], message: dict[str, Any], topic_arn: str, tags: dict[str, str],
               description: str):
        rule = resource(self, f"{id}-rule", "aws_cloudwatch_event_rule", name=rule_name, description=description,
                        event_pattern=json.dumps(pattern, separators=(",", ":")), state="ENABLED", tags=tags)
        # No role_arn: SNS targets are authorized by the topic's resource policy
        # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
        resource(self, f"{id}-target", "aws_cloudwatch_event_target", rule=rule.get_string_attribute("name"), target_id="alerts-topic",
                 arn=topic_arn, input_transformer=message)
        return rule


def estimate_monthly_usd(*, instances: int, vcpus_per_instance: int, hours: float = 730.0, runtime_vcpu_month_usd: float,
                         inspector_instance_month_usd: float, flow_dns_gb: float = 0.0, flow_dns_per_gb_usd: float = 0.0,
                         cloudtrail_million_events: float = 0.0, cloudtrail_per_million_usd: float = 0.0,
                         s3_million_events: float = 0.0, s3_per_million_usd: float = 0.0, ecr_images: int = 0,
                         ecr_per_image_usd: float = 0.0) -> float:
    """The month's GuardDuty + Inspector bill for ``instances`` nodes running ``hours`` (730 = the
    whole month), from unit prices read off https://aws.amazon.com/guardduty/pricing/ and
    https://aws.amazon.com/inspector/pricing/ for the region (first pricing tier; free trials
    ignored). EBS malware scans are left out: they run only when a finding triggers one."""
    if instances < 0 or vcpus_per_instance < 1 or not 0 <= hours <= 744:
        raise ValueError(f"instances must be >= 0, vcpus_per_instance >= 1 and hours 0 to 744, got {instances}, {vcpus_per_instance}, {hours}")
    share = hours / 730.0
    return (instances * vcpus_per_instance * share * runtime_vcpu_month_usd + instances * share * inspector_instance_month_usd
            + flow_dns_gb * flow_dns_per_gb_usd + cloudtrail_million_events * cloudtrail_per_million_usd
            + s3_million_events * s3_per_million_usd + ecr_images * ecr_per_image_usd)
