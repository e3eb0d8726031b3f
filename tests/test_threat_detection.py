"""Threat detection on both clouds (issue 15): what the AWS and GCP ``ThreatDetection`` constructs
synthesize, their event patterns and filters checked against sample findings shaped as the docs
show them, and the AWS construct applied against the patched moto server.

What moto (5.2.5) serves and what it does not: GuardDuty CreateDetector / GetDetector /
UpdateDetector / DeleteDetector (tests/tf_harness.py makes UpdateDetector merge features by name,
as GuardDuty does), Inspector2 Enable / BatchGetAccountStatus / Disable, EventBridge rules, targets
, SNS and KMS: the whole AWS construct applies, re-plans empty and destroys.
moto does not run GuardDuty or Inspector themselves (no findings are ever produced) and does not
deliver to the e-mail subscriptions, so the routing is checked as far as EventBridge matching the
docs' sample events against the rules read back from the server (moto's own pattern matcher:
it has no TestEventPattern API). The GCP construct has no local
API: its JSON is checked against the google provider schema (tests/gcp_schema.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


from aiinfra.cdk import TerraformStack  # noqa: E402
from aiinfra.cdk import Testing as CdkTesting  # noqa: E402

from aiinfra.constructs._tf import AWS, GOOGLE, provider  # noqa: E402
from aiinfra.constructs.aws.alerts import Alerts  # noqa: E402
from aiinfra.constructs.aws.encryption_key import EncryptionKey  # noqa: E402
from aiinfra.constructs.aws.threat_detection import ThreatDetection as AwsThreatDetection  # noqa: E402
from aiinfra.constructs.aws.threat_detection import estimate_monthly_usd  # noqa: E402
from aiinfra.constructs.gcp.threat_detection import PUBLISH_METRIC  # noqa: E402
from aiinfra.constructs.gcp.threat_detection import ThreatDetection as GcpThreatDetection  # noqa: E402
from tests.gcp_schema import check_stack  # noqa: E402
from tests.tf_harness import SKIP_NO_TERRAFORM, apply_plan_destroy, init, moto_server, run_terraform  # noqa: E402,F401

TOPIC = "arn:aws:sns:us-east-1:123456789012:acme-alerts"
PROJECT = "acme-ml-prod"


def synth_aws(build) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "aws", AWS, region="us-east-1")
    build(stack)
    return json.loads(CdkTesting.synth(stack))


def synth_gcp(build) -> dict:
    app = CdkTesting.app()
    stack = TerraformStack(app, "test")
    provider(stack, "google", GOOGLE, project=PROJECT, region="us-central1")
    build(stack)
    doc = json.loads(CdkTesting.synth(stack))
    assert check_stack(doc) == []  # every argument exists in the google provider schema
    return doc


def each(doc: dict, rtype: str) -> list[dict]:
    return list(doc["resource"].get(rtype, {}).values())


def only(doc: dict, rtype: str) -> dict:
    (value,) = each(doc, rtype)
    return value


# ---- EventBridge pattern semantics -----------------------------------------------------------
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html: every field of the
# pattern must match; a list matches when the event's value (or any element of an array value)
# equals one of its strings / numbers or satisfies one of its content filters.

def _value_matches(value: Any, allowed: list) -> bool:
    values = value if isinstance(value, list) else [value]
    for v in values:
        for a in allowed:
            if isinstance(a, dict):
                (op, args), = a.items()
                assert op == "numeric", f"unexpected filter {op}"  # the only content filter these patterns use
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    pairs = list(zip(args[::2], args[1::2]))
                    ops = {">=": v.__ge__, ">": v.__gt__, "<=": v.__le__, "<": v.__lt__, "=": v.__eq__}
                    if all(ops[o](n) for o, n in pairs):
                        return True
            elif v == a and type(v) is type(a):
                return True
    return False


def matches(pattern: dict, event: dict) -> bool:
    for key, want in pattern.items():
        if key not in event:
            return False
        if isinstance(want, dict):
            if not isinstance(event[key], dict) or not matches(want, event[key]):
                return False
        elif not _value_matches(event[key], want):
            return False
    return True


def guardduty_event(severity: float, finding_type: str = "Backdoor:EC2/C&CActivity.B!DNS") -> dict:
    """A GuardDuty finding event as https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_findings_eventbridge.html
    shows it: the finding (https://docs.aws.amazon.com/guardduty/latest/APIReference/API_Finding.html) is ``detail``."""
    return {"version": "0", "id": "cd2d702e-ab31-411b-9344-793ce56b1bc7", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": "111122223333", "time": "1970-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"schemaVersion": "2.0", "accountId": "111122223333", "region": "us-east-1", "partition": "aws",
                       "id": "16afba5c5c43e07c9e3e5e2e544e95df", "type": finding_type, "severity": severity,
                       "title": "EC2 instance i-99999999 is querying a domain name associated with a known Command & Control server.",
                       "createdAt": "2024-05-02T21:41:18.123Z", "updatedAt": "2024-05-02T21:41:18.123Z",
                       "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-99999999"}},
                       "service": {"serviceName": "guardduty", "count": 1, "archived": False}}}


def inspector_event(severity: str, status: str = "ACTIVE") -> dict:
    """An EC2 package-vulnerability finding event as https://docs.aws.amazon.com/inspector/latest/user/eventbridge-integration.html
    shows it (``detail`` is the finding: https://docs.aws.amazon.com/inspector/v2/APIReference/API_Finding.html)."""
    return {"version": "0", "id": "66a7a3b9-a2b1-4c6b-b1a5-5c3bd5b0ac58", "detail-type": "Inspector2 Finding", "source": "aws.inspector2",
            "account": "123456789012", "time": "2023-01-19T22:46:15Z", "region": "us-east-1", "resources": ["i-0c2a343f1948d5205"],
            "detail": {"awsAccountId": "123456789012", "description": "Python Packaging Authority (PyPA) setuptools before 65.5.1 allows ReDoS.",
                       "findingArn": "arn:aws:inspector2:us-east-1:123456789012:finding/0dff23b9a1f6c4a5e7c94ff2bd0f1b34",
                       "firstObservedAt": "Thu Jan 19 22:46:15.305 UTC 2023", "lastObservedAt": "Thu Jan 19 22:46:15.305 UTC 2023",
                       "inspectorScore": 7.5, "severity": severity, "status": status, "title": "CVE-2022-40897 - setuptools",
                       "type": "PACKAGE_VULNERABILITY",
                       "resources": [{"id": "i-0c2a343f1948d5205", "type": "AWS_EC2_INSTANCE", "region": "us-east-1", "partition": "aws"}]}}


def json_path(event: dict, path: str) -> Any:
    node: Any = event
    for part in path.removeprefix("$.").split("."):
        node = node[part]
    return node


# ---- AWS construct ---------------------------------------------------------------------------

def aws_threats(**kw) -> tuple[dict, AwsThreatDetection]:
    made = {}

    def build(stack):
        made["t"] = AwsThreatDetection(stack, "threats", name="acme-ml-prod", topic_arn=TOPIC, **kw)
    return synth_aws(build), made["t"]


def test_detector_publishes_every_fifteen_minutes_with_the_three_features():
    doc, _ = aws_threats()
    detector = only(doc, "aws_guardduty_detector")
    assert detector["enable"] is True and detector["finding_publishing_frequency"] == "FIFTEEN_MINUTES"
    assert "datasources" not in detector  # the deprecated block: features replace it
    features = {f["name"]: f for f in each(doc, "aws_guardduty_detector_feature")}
    assert set(features) == {"S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RUNTIME_MONITORING"}
    assert {f["status"] for f in features.values()} == {"ENABLED"}
    assert features["RUNTIME_MONITORING"]["additional_configuration"] == [{"name": "EC2_AGENT_MANAGEMENT", "status": "ENABLED"}]
    assert all(f["detector_id"].startswith("${aws_guardduty_detector.") for f in features.values())
    assert "additional_configuration" not in features["S3_DATA_EVENTS"]
    off = {f["name"]: f["status"] for f in each(aws_threats(runtime_monitoring=False)[0], "aws_guardduty_detector_feature")}
    assert off == {"S3_DATA_EVENTS": "ENABLED", "EBS_MALWARE_PROTECTION": "ENABLED", "RUNTIME_MONITORING": "DISABLED"}


def test_existing_detector_is_adopted_not_created_and_the_notes_say_how_to_import():
    doc, threats = aws_threats(detector_id="12abc34d567e8fa901bc2d34e56789f0")
    assert "aws_guardduty_detector" not in doc["resource"]
    assert {f["detector_id"] for f in each(doc, "aws_guardduty_detector_feature")} == {"12abc34d567e8fa901bc2d34e56789f0"}
    assert threats.detector is None and threats.detector_id == "12abc34d567e8fa901bc2d34e56789f0"
    assert any("12abc34d567e8fa901bc2d34e56789f0 is adopted" in n for n in threats.notes)
    created_doc, created = aws_threats()
    (address,) = [f"aws_guardduty_detector.{n}" for n in created_doc["resource"]["aws_guardduty_detector"]]
    assert any(f"terraform import {address} <detector-id>" in n for n in created.notes)
    for topic in ("delegated administrator", "auto-enable", "SSM Agent"):
        assert any(topic in n for n in created.notes), topic


def test_inspector_scans_ec2_and_ecr_only_when_images_are_in_ecr():
    doc, _ = aws_threats()
    enabler = only(doc, "aws_inspector2_enabler")
    assert enabler["resource_types"] == ["EC2"]
    assert enabler["account_ids"] == ["${data.aws_caller_identity.aws-caller-identity.account_id}"]
    assert only(aws_threats(ecr=True)[0], "aws_inspector2_enabler")["resource_types"] == ["EC2", "ECR"]


def test_guardduty_rule_matches_high_and_critical_findings_and_not_medium():
    doc, threats = aws_threats()
    rules = {r["name"]: r for r in each(doc, "aws_cloudwatch_event_rule")}
    pattern = json.loads(rules["acme-ml-prod-guardduty"]["event_pattern"])
    assert pattern == threats.guardduty_pattern == {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
                                                    "detail": {"severity": [{"numeric": [">=", 7.0]}]}}
    assert [s for s in (2.0, 5.0, 6.9, 7.0, 8.0, 8.9, 9.0, 10.0) if matches(pattern, guardduty_event(s))] == [7.0, 8.0, 8.9, 9.0, 10.0]
    assert not matches(pattern, {**guardduty_event(8.0), "source": "aws.inspector2"})
    medium = json.loads(each(aws_threats(min_severity=4)[0], "aws_cloudwatch_event_rule")[0]["event_pattern"])
    assert matches(medium, guardduty_event(5.0)) and not matches(medium, guardduty_event(3.9))


def test_inspector_rule_matches_active_high_and_critical_findings_only():
    doc, _ = aws_threats()
    rules = {r["name"]: r for r in each(doc, "aws_cloudwatch_event_rule")}
    pattern = json.loads(rules["acme-ml-prod-inspector"]["event_pattern"])
    assert pattern["detail-type"] == ["Inspector2 Finding"] and pattern["source"] == ["aws.inspector2"]
    got = [(s, st) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNTRIAGED") for st in ("ACTIVE", "SUPPRESSED", "CLOSED")
           if matches(pattern, inspector_event(s, st))]
    assert got == [("CRITICAL", "ACTIVE"), ("HIGH", "ACTIVE")]


def test_findings_go_to_the_topic_as_one_readable_line_from_fields_the_events_have():
    doc, _ = aws_threats()
    targets = each(doc, "aws_cloudwatch_event_target")
    assert len(targets) == 2 and {t["arn"] for t in targets} == {TOPIC}
    assert all("role_arn" not in t for t in targets)  # SNS targets are authorized by the topic policy
    samples = {"guardduty": guardduty_event(8.0), "inspector": inspector_event("HIGH")}
    for t in targets:
        kind = "guardduty" if "guardduty" in t["rule"] else "inspector"
        transformer = t["input_transformer"]
        values = {name: json_path(samples[kind], path) for name, path in transformer["input_paths"].items()}  # every path exists
        template = transformer["input_template"]
        assert template.startswith('"') and template.endswith('"')  # a JSON string, as EventBridge requires for text
        message = template
        for name, value in values.items():
            assert f"<{name}>" in template
            message = message.replace(f"<{name}>", str(value))
        text = json.loads(message)
        assert "<" not in text and ("8.0" in text or "CVE-2022-40897" in text)


def test_bad_props_are_reported_together():
    with pytest.raises(ValueError) as err:
        aws_threats(min_severity=11, detector_id="not a detector")
    assert "min_severity must be between 1 and 10" in str(err.value) and "detector_id must be" in str(err.value)
    with pytest.raises(ValueError, match="name must be 1 to 50 letters"):
        synth_aws(lambda s: AwsThreatDetection(s, "t", name="acme ml", topic_arn=TOPIC))


def test_monthly_estimate_scales_with_instances_vcpus_and_hours():
    args = dict(runtime_vcpu_month_usd=1.5, inspector_instance_month_usd=1.25)
    assert estimate_monthly_usd(instances=4, vcpus_per_instance=96, **args) == pytest.approx(4 * 96 * 1.5 + 4 * 1.25)
    assert estimate_monthly_usd(instances=4, vcpus_per_instance=96, hours=365, **args) == pytest.approx((4 * 96 * 1.5 + 4 * 1.25) / 2)
    assert estimate_monthly_usd(instances=0, vcpus_per_instance=8, flow_dns_gb=10, flow_dns_per_gb_usd=1.0, ecr_images=20,
                                ecr_per_image_usd=0.09, **args) == pytest.approx(10 + 1.8)
    with pytest.raises(ValueError):
        estimate_monthly_usd(instances=1, vcpus_per_instance=0, **args)


def test_alerts_topic_lets_eventbridge_publish_for_this_account_only():
    def build(stack):
        key = EncryptionKey(stack, "key", alias="acme", allow_autoscaling=False, service_principals=["sns.amazonaws.com", "events.amazonaws.com"])
        Alerts(stack, "alerts", name="acme", kms_key_arn=key.arn, rules=[])
    doc = synth_aws(build)
    statements = {s["Sid"]: s for s in json.loads(only(doc, "aws_sns_topic_policy")["policy"])["Statement"]}
    publish = statements["ServicesPublish"]
    assert "events.amazonaws.com" in publish["Principal"]["Service"] and publish["Action"] == "SNS:Publish"
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": "${data.aws_caller_identity.aws-caller-identity.account_id}"}}


# ---- AWS against terraform and moto ------------------------------------------------------------

def write_stack(tmp_path: Path, **kw) -> Path:
    def build(stack):
        key = EncryptionKey(stack, "key", alias="acme-threats", allow_autoscaling=False, deletion_window_days=7,
                            service_principals=["sns.amazonaws.com", "events.amazonaws.com"])
        alerts = Alerts(stack, "alerts", name="acme-threats", kms_key_arn=key.arn, rules=[])
        AwsThreatDetection(stack, "threats", name="acme-threats", topic_arn=alerts.topic_arn, **kw)
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(synth_aws(build)))
    return stack_dir


@SKIP_NO_TERRAFORM
def test_aws_threat_detection_validates_applies_plans_empty_and_destroys(tmp_path, moto_server):
    """Validate with the real provider, then apply against moto, check what the (local) cloud holds,
    re-plan empty and destroy. A second stack adopts an existing detector."""
    env = moto_server.env()
    stack = write_stack(tmp_path, ecr=True)
    init(stack, backend=False)
    assert '"valid": true' in run_terraform(["validate", "-json"], stack).stdout

    def check(outputs: dict) -> None:
        gd = moto_server.client("guardduty")
        (detector_id,) = gd.list_detectors()["DetectorIds"]
        detector = gd.get_detector(DetectorId=detector_id)
        assert detector["Status"] == "ENABLED" and detector["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"
        features = {f["Name"]: f for f in detector["Features"]}
        assert {n: f["Status"] for n, f in features.items()} == {"S3_DATA_EVENTS": "ENABLED", "EBS_MALWARE_PROTECTION": "ENABLED",
                                                                  "RUNTIME_MONITORING": "ENABLED"}
        assert features["RUNTIME_MONITORING"]["AdditionalConfiguration"][0]["Name"] == "EC2_AGENT_MANAGEMENT"
        (account,) = moto_server.client("inspector2").batch_get_account_status(accountIds=["123456789012"])["accounts"]
        assert account["resourceState"]["ec2"]["status"] == "ENABLED" and account["resourceState"]["ecr"]["status"] == "ENABLED"
        events = moto_server.client("events")
        topic_arn = next(t["TopicArn"] for t in moto_server.client("sns").list_topics()["Topics"] if t["TopicArn"].endswith("acme-threats-alerts"))
        rules = {r["Name"]: r for r in events.list_rules(NamePrefix="acme-threats")["Rules"]}
        assert set(rules) == {"acme-threats-guardduty", "acme-threats-inspector"}
        for name in rules:
            (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
            assert target["Arn"] == topic_arn and "InputTransformer" in target
        # The patterns as the server stored them, matched by moto's EventBridge matcher (a second
        # implementation of the semantics besides matches() above; moto 5.2.5 has no TestEventPattern)
        from moto.events.models import EventPattern
        gd_pattern, in_pattern = rules["acme-threats-guardduty"]["EventPattern"], rules["acme-threats-inspector"]["EventPattern"]
        for event, pattern, want in [(guardduty_event(8.0), gd_pattern, True), (guardduty_event(5.0), gd_pattern, False),
                                     (inspector_event("CRITICAL"), in_pattern, True), (inspector_event("MEDIUM"), in_pattern, False),
                                     (inspector_event("HIGH", "CLOSED"), in_pattern, False)]:
            assert EventPattern.load(pattern).matches_event(event) is want, (event["detail"], pattern)

    apply_plan_destroy(stack, env, after_apply=check, timeout=300)
    assert moto_server.client("guardduty").list_detectors()["DetectorIds"] == []

    existing = moto_server.client("guardduty").create_detector(Enable=True)["DetectorId"]
    try:
        adopted = write_stack(tmp_path / "adopt", detector_id=existing, ebs_malware_protection=False)

        def check_adopted(outputs: dict) -> None:
            detector = moto_server.client("guardduty").get_detector(DetectorId=existing)
            assert {f["Name"]: f["Status"] for f in detector["Features"]} == {
                "S3_DATA_EVENTS": "ENABLED", "EBS_MALWARE_PROTECTION": "DISABLED", "RUNTIME_MONITORING": "ENABLED"}
        apply_plan_destroy(adopted, env, after_apply=check_adopted, timeout=300)
        assert moto_server.client("guardduty").list_detectors()["DetectorIds"] == [existing]  # the stack never owned it
    finally:
        moto_server.client("guardduty").delete_detector(DetectorId=existing)


# ---- GCP construct ---------------------------------------------------------------------------

CHANNEL = "projects/acme-ml-prod/notificationChannels/123"


def gcp_threats(**kw) -> tuple[dict, GcpThreatDetection]:
    made = {}

    def build(stack):
        made["t"] = GcpThreatDetection(stack, "threats", project=PROJECT, name="acme-ml-prod", notification_channels=[CHANNEL], **kw)
    return synth_gcp(build), made["t"]


def test_scc_streams_active_high_and_critical_findings_to_a_topic_it_may_publish_to():
    doc, threats = gcp_threats()
    config = only(doc, "google_scc_v2_project_notification_config")
    assert config["location"] == "global" and config["project"] == PROJECT
    assert config["streaming_config"]["filter"] == 'state = "ACTIVE" AND (severity = "HIGH" OR severity = "CRITICAL")' == threats.filter
    topic_key, topic = next(iter(doc["resource"]["google_pubsub_topic"].items()))
    assert topic["name"] == "acme-ml-prod-scc-findings" and config["pubsub_topic"] == f"${{google_pubsub_topic.{topic_key}.id}}"
    grant = only(doc, "google_pubsub_topic_iam_member")
    (config_key,) = doc["resource"]["google_scc_v2_project_notification_config"]
    assert grant["role"] == "roles/pubsub.publisher" and grant["topic"] == f"${{google_pubsub_topic.{topic_key}.name}}"
    assert grant["member"] == f"serviceAccount:${{google_scc_v2_project_notification_config.{config_key}.service_account}}"
    critical_only = gcp_threats(severities=["CRITICAL"])[1]
    assert critical_only.filter == 'state = "ACTIVE" AND (severity = "CRITICAL")'


def test_alert_policy_fires_on_any_message_published_to_the_findings_topic():
    doc, _ = gcp_threats()
    policy = only(doc, "google_monitoring_alert_policy")
    (condition,) = policy["conditions"]
    threshold = condition["condition_threshold"]
    assert PUBLISH_METRIC == "pubsub.googleapis.com/topic/send_message_operation_count"
    assert threshold["filter"] == (f'metric.type = "{PUBLISH_METRIC}" AND resource.type = "pubsub_topic" AND '
                                   'resource.label.topic_id = "acme-ml-prod-scc-findings"')
    assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_GT", 0)
    assert policy["notification_channels"] == [CHANNEL] and policy["severity"] == "CRITICAL"
    assert "https://console.cloud.google.com/security/command-center/findings?project=acme-ml-prod" in policy["documentation"]["content"]


def test_topic_is_encrypted_with_the_given_key_which_the_pubsub_agent_may_use():
    key = "projects/acme-ml-prod/locations/us-central1/keyRings/r/cryptoKeys/k"
    doc, _ = gcp_threats(kms_key_name=key)
    topic = only(doc, "google_pubsub_topic")
    grant = only(doc, "google_kms_crypto_key_iam_member")
    assert topic["kms_key_name"] == key and grant["crypto_key_id"] == key
    assert grant["member"] == "serviceAccount:service-${data.google_project.gcp-project-acme-ml-prod.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert any(d.startswith("google_kms_crypto_key_iam_member.") for d in topic["depends_on"])
    plain_doc, plain = gcp_threats()
    assert "kms_key_name" not in only(plain_doc, "google_pubsub_topic") and any("Google-managed" in n for n in plain.notes)


def test_services_node_metadata_and_notes():
    _, threats = gcp_threats()
    assert threats.services == ["securitycenter.googleapis.com", "osconfig.googleapis.com", "pubsub.googleapis.com"]
    assert gcp_threats(image_scanning=True)[1].services[-1] == "containerscanning.googleapis.com"
    assert threats.node_metadata == {"enable-osconfig": "TRUE"}
    assert any("activated" in n and "Standard or Premium" in n for n in threats.notes)
    assert any("notificationConfigEditor" in n for n in threats.notes)


def test_gcp_bad_props_are_reported_together():
    with pytest.raises(ValueError) as err:
        synth_gcp(lambda s: GcpThreatDetection(s, "t", project=PROJECT, name="Acme", notification_channels=[], severities=["SEVERE"]))
    text = str(err.value)
    assert "lowercase letters" in text and "severities must be" in text


def test_gcp_findings_without_channels_still_alert_in_cloud_monitoring_and_say_so():
    made = {}

    def build(s):
        made["t"] = GcpThreatDetection(s, "t", project=PROJECT, name="acme-ml-prod", notification_channels=[])

    doc = synth_gcp(build)
    (policy,) = doc["resource"]["google_monitoring_alert_policy"].values()
    assert policy["notification_channels"] == []
    assert any("notifies nobody" in n and "alert_emails" in n for n in made["t"].notes)
