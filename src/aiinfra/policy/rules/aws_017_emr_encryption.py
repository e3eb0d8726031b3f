import json

from aiinfra.policy.model import Resource, Rule, StackView, bad, blocks, ok

# EventBridge Scheduler's universal target for EMR's RunJobFlow (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html).
RUN_JOB_FLOW = ":aws-sdk:emr:runJobFlow"


def _security_configuration(text) -> str | None:
    """What is wrong with an EMR security configuration's JSON, None when it encrypts at rest with a customer key
    (https://docs.aws.amazon.com/emr/latest/ManagementGuide/emr-create-security-configuration.html)."""
    try:
        enc = json.loads(text).get("EncryptionConfiguration") or {}
    except (TypeError, ValueError, AttributeError):
        return "its configuration is not JSON this rule can read"
    if enc.get("EnableAtRestEncryption") is not True:
        return "at-rest encryption is off (EnableAtRestEncryption)"
    at_rest = enc.get("AtRestEncryptionConfiguration") or {}
    s3 = at_rest.get("S3EncryptionConfiguration") or {}
    if s3.get("EncryptionMode") not in ("SSE-KMS", "CSE-KMS") or not s3.get("AwsKmsKey"):
        return "EMRFS objects are not encrypted with a customer key (S3EncryptionConfiguration SSE-KMS / CSE-KMS with AwsKmsKey)"
    disk = at_rest.get("LocalDiskEncryptionConfiguration") or {}
    if disk.get("EncryptionKeyProviderType") != "AwsKms" or not disk.get("AwsKmsKey"):
        return "local disks are not encrypted with a customer key (LocalDiskEncryptionConfiguration AwsKms with AwsKmsKey)"
    if disk.get("EnableEbsEncryption") is not True:
        return "EBS volumes are not encrypted (LocalDiskEncryptionConfiguration.EnableEbsEncryption)"
    return None


def _run_job_flow(request: dict) -> str | None:
    """What is wrong with a scheduled RunJobFlow request (https://docs.aws.amazon.com/emr/latest/APIReference/API_RunJobFlow.html)."""
    if not request.get("SecurityConfiguration"):
        return "the cluster it starts names no security configuration (no encryption at rest)"
    instances = request.get("Instances") or {}
    if not (instances.get("Ec2SubnetId") or instances.get("Ec2SubnetIds")):
        return "the cluster it starts names no subnet (EC2-Classic / the default VPC's public subnets)"
    if not instances.get("ServiceAccessSecurityGroup"):
        return "the cluster it starts has no service-access security group: EMR requires one only in private subnets, so its subnets are public"
    if request.get("LogUri") and not request.get("LogEncryptionKmsKeyId"):
        return "its logs are not encrypted with a customer key (LogEncryptionKmsKeyId)"
    return None


def check(r: Resource, stack: StackView):
    if r.type == "aws_emr_security_configuration":
        problem = _security_configuration(r.body.get("configuration"))
        return bad(problem) if problem else ok()
    if r.type == "aws_emr_cluster":
        if not r.body.get("security_configuration"):
            return bad("names no security configuration (no encryption at rest)")
        attributes = (blocks(r.body.get("ec2_attributes")) or [{}])[0]
        if not attributes.get("service_access_security_group"):
            return bad("has no service-access security group: it runs in a public subnet")
        return ok()
    # aws_scheduler_schedule: only the ones starting EMR clusters
    target = (blocks(r.body.get("target")) or [{}])[0]
    if not str(target.get("arn", "")).endswith(RUN_JOB_FLOW):
        return ok()
    try:
        request = json.loads(target.get("input") or "")
    except ValueError:
        return bad("its RunJobFlow input is not JSON this rule can read")
    problem = _run_job_flow(request if isinstance(request, dict) else {})
    return bad(problem) if problem else ok()


RULE = Rule(
    id="AIINFRA-AWS-017",
    description="EMR clusters encrypt at rest with a customer key and run in private subnets",
    explanation="A Spark cluster's disks, shuffle files, EMRFS writes and logs hold the datasets it processes; a cluster in a "
                "public subnet gets public IPs on every node. A security configuration with SSE-KMS and local-disk / EBS "
                "encryption under your key, and the private subnets' service-access security group, keep both closed.",
    fix="use EmrSparkRuns (security configuration with S3 SSE-KMS and LocalDiskEncryptionConfiguration AwsKms + EnableEbsEncryption, "
        "private subnets with EMR's service-access security group, LogEncryptionKmsKeyId)",
    types=("aws_emr_security_configuration", "aws_emr_cluster", "aws_scheduler_schedule"),
    check=check,
)
