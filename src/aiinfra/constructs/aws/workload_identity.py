"""IAM role and instance profile for one workload: its own bucket prefix and key, SSM instead of SSH."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext
from aiinfra.policy.aspect import suppress

_KMS_ARN = re.compile(r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}):(key|alias)/([A-Za-z0-9/_-]+)$")
# What a node may do to its own group: set MinSize to 0 and leave MaxSize alone. The Service
# Authorization Reference for Amazon EC2 Auto Scaling lists autoscaling:MinSize and
# autoscaling:MaxSize ("the minimum / maximum scaling size in the request", Numeric) among the
# condition keys of UpdateAutoScalingGroup, and no key on the desired capacity; SetDesiredCapacity
# takes only resource-tag keys, so it is not granted at all (the boot never calls it).
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html
# A key missing from the request fails NumericEquals, so a call without --min-size 0 is denied;
# "Null": true means the key must be absent, so any --max-size is denied
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
RESIZE_CONDITION = {"NumericEquals": {"autoscaling:MinSize": "0"}, "Null": {"autoscaling:MaxSize": "true"}}
EC2_TRUST = policy_json([{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}])


class WorkloadIdentity(Construct):
    """The identity a workload's nodes run as.

    Its inline policy names only the workload's own resources: objects under
    ``<bucket>/<prefix>/`` in each bucket given, and the KMS keys given (no ``*`` resource).
    Session Manager replaces SSH (the AWS-managed ``AmazonSSMManagedInstanceCore`` policy).

    Example::

        ident = WorkloadIdentity(stack, "identity", name="acme-ml-prod-train", bucket_arns=[bucket.arn],
                                 object_prefix="train", kms_key_arns=[key.arn])

    Args:
        name: role and instance profile name (64 characters at most).
        bucket_arns: buckets the workload reads and writes, limited to ``object_prefix``.
        object_prefix: the key prefix in each bucket; default: the workload's own name.
        read_only_bucket_arns: buckets it may only read (whole bucket).
        kms_key_arns: keys it may use to encrypt and decrypt.
        ssm: attach Session Manager access; default on.
        cloudwatch_agent: allow the CloudWatch agent to publish GPU metrics (AWS's managed
            ``CloudWatchAgentServerPolicy``) and to write the workload's own log group,
            ``/aiinfra/<name>`` (``log_group_name``; created by the stack); default on.
        autoscaling_group_names: groups the nodes may scale to zero (their own: a finished run
            does). The only write allowed is ``autoscaling:UpdateAutoScalingGroup`` on those groups
            with ``MinSize`` 0 in the request and no ``MaxSize`` (``RESIZE_CONDITION``), i.e. what the
            boot runs: ``aws autoscaling update-auto-scaling-group --auto-scaling-group-name G
            --min-size 0 --desired-capacity 0``. A node cannot raise its group's maximum; EC2 Auto
            Scaling has no condition key on the desired capacity, which stays bounded by the
            maximum Terraform set. Left out, none.
        cluster_discovery: let the nodes list their group's instances and private addresses
            (multi-node rendezvous: ``autoscaling:DescribeAutoScalingGroups``,
            ``ec2:DescribeInstances``). Those read-only calls have no resource-level permissions,
            so they are a separate policy on ``*`` with a written waiver; default on.
        container_registry: pull images from the account's ECR repositories; default on.
        signing_key_arns: asymmetric KMS keys (key or alias ARNs) cosign reads the public key of to
            verify the image's signature at boot (``kms:GetPublicKey`` and ``kms:DescribeKey``,
            the two calls cosign's AWS KMS client makes:
            https://github.com/sigstore/sigstore/blob/bd0ad71258e946a1f5728c2248e06d1524a403e7/pkg/signature/kms/aws/client.go).
            A key ARN is the statement's resource; an alias ARN cannot be one
            (https://docs.aws.amazon.com/kms/latest/developerguide/cmks-in-iam-policies.html), so it
            becomes the account and region's keys limited with ``kms:RequestAlias`` to that alias
            (https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html).
            Left out, no signing key is readable.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, bucket_arns: Sequence[str] = (), object_prefix: str | None = None,
                 read_only_bucket_arns: Sequence[str] = (), kms_key_arns: Sequence[str] = (), ssm: bool = True,
                 cloudwatch_agent: bool = True, autoscaling_group_names: Sequence[str] = (), cluster_discovery: bool = True,
                 container_registry: bool = True, signing_key_arns: Sequence[str] = (), tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        if len(name) > 64:
            raise ValueError(f"name must be at most 64 characters, got {len(name)} ({name!r})")
        ctx = AwsContext(self)
        prefix = (object_prefix or name).strip("/")
        statements = own_resource_statements(
            ctx, bucket_arns=bucket_arns, prefix=prefix, read_only_bucket_arns=read_only_bucket_arns, kms_key_arns=kms_key_arns,
            signing_key_arns=signing_key_arns, log_group_name=f"/aiinfra/{name}" if cloudwatch_agent else None,
            autoscaling_group_names=autoscaling_group_names,
            repository_arns=[ctx.arn("ecr", "repository/*", region=True)] if container_registry else ())
        unscoped = []
        if cluster_discovery:
            unscoped += ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"]
        if container_registry:
            unscoped.append("ecr:GetAuthorizationToken")
        self.role = resource(self, "role", "aws_iam_role", name=name, assume_role_policy=EC2_TRUST,
                             description=f"Nodes of workload {name}", max_session_duration=3600, tags=tags)
        role_name = self.role.get_string_attribute("name")
        if statements:
            self.policy = resource(self, "policy", "aws_iam_role_policy", name=f"{name}-own-resources", role=role_name,
                                   policy=policy_json(statements))
        unscoped_reads(self, role_name, name, unscoped)
        if ssm:
            resource(self, "ssm", "aws_iam_role_policy_attachment", role=role_name,
                     policy_arn=f"arn:{ctx.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")
        if cloudwatch_agent:
            # PutMetricData has no resource-level permissions, so it comes from AWS's managed
            # agent policy rather than a "*" in this role's own policy.
            resource(self, "cloudwatch-agent", "aws_iam_role_policy_attachment", role=role_name,
                     policy_arn=f"arn:{ctx.partition}:iam::aws:policy/CloudWatchAgentServerPolicy")
        self.instance_profile = resource(self, "profile", "aws_iam_instance_profile", name=name, role=role_name, tags=tags)
        self.role_arn: str = self.role.get_string_attribute("arn")
        self.role_name: str = role_name
        self.instance_profile_arn: str = self.instance_profile.get_string_attribute("arn")
        self.instance_profile_name: str = self.instance_profile.get_string_attribute("name")
        self.log_group_name: str = f"/aiinfra/{name}"  # the one log group the nodes may write (cloudwatch_agent)


def own_resource_statements(ctx: AwsContext, *, bucket_arns: Sequence[str] = (), prefix: str = "", read_only_bucket_arns: Sequence[str] = (),
                            kms_key_arns: Sequence[str] = (), signing_key_arns: Sequence[str] = (), log_group_name: str | None = None,
                            autoscaling_group_names: Sequence[str] = (), repository_arns: Sequence[str] = ()) -> list[dict]:
    """The least-privilege statements a workload's identity gets, whoever assumes it (a VM's instance
    profile, ``WorkloadIdentity``; a pod's service account, ``PodIdentity``): objects under
    ``<bucket>/<prefix>/``, its KMS keys, its signing keys' public halves, its own log group, scaling
    its own groups to zero, pulling from its image repositories. Each names its resources (no ``*``)."""
    bad_keys = [a for a in signing_key_arns if not isinstance(a, str) or not _KMS_ARN.match(a)]
    if bad_keys:
        raise ValueError(f"signing_key_arns must be KMS key or alias ARNs (arn:aws:kms:<region>:<account>:key/<id> or "
                         f":alias/<name>), got {bad_keys!r}")
    prefix = prefix.strip("/")
    statements: list[dict] = []
    if bucket_arns:
        statements.append({"Sid": "ListOwnPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": list(bucket_arns),
                           "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}}})
        statements.append({"Sid": "ReadWriteOwnObjects", "Effect": "Allow",
                           "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                           "Resource": [f"{arn}/{prefix}/*" for arn in bucket_arns]})
    if read_only_bucket_arns:
        statements.append({"Sid": "ReadShared", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                           "Resource": [x for arn in read_only_bucket_arns for x in (arn, f"{arn}/*")]})
    if kms_key_arns:
        statements.append({"Sid": "UseOwnKeys", "Effect": "Allow",
                           "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                           "Resource": list(kms_key_arns)})
    key_arns = [a for a in signing_key_arns if _KMS_ARN.match(a).group(2) == "key"]
    if key_arns:
        statements.append({"Sid": "ReadSigningPublicKeys", "Effect": "Allow", "Action": ["kms:GetPublicKey", "kms:DescribeKey"],
                           "Resource": key_arns})
    for i, alias in enumerate(a for a in signing_key_arns if _KMS_ARN.match(a).group(2) == "alias"):
        base, _, alias_name = _KMS_ARN.match(alias).groups()
        statements.append({"Sid": f"ReadSigningPublicKeyByAlias{i}", "Effect": "Allow",
                           "Action": ["kms:GetPublicKey", "kms:DescribeKey"], "Resource": f"{base}:key/*",
                           "Condition": {"StringEquals": {"kms:RequestAlias": f"alias/{alias_name}"}}})
    if log_group_name:
        # The workload's own log group (/aiinfra/<name>, its stack creates it) and its streams: what docker's
        # awslogs driver and the CloudWatch agent call. CreateLogStream / DescribeLogStreams act on a log-group,
        # PutLogEvents on a log-stream (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
        own_logs = ctx.arn("logs", f"log-group:{log_group_name}", region=True)
        statements.append({"Sid": "WriteOwnLogs", "Effect": "Allow",
                           "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                           "Resource": [own_logs, f"{own_logs}:log-stream:*"]})
    if autoscaling_group_names:
        statements.append({"Sid": "ScaleOwnGroupsToZero", "Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup",
                           "Resource": [ctx.arn("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{g}", region=True)
                                        for g in autoscaling_group_names],
                           "Condition": RESIZE_CONDITION})
    if repository_arns:
        statements.append({"Sid": "PullOwnAccountImages", "Effect": "Allow",
                           "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                           "Resource": repository_arns[0] if len(repository_arns) == 1 else list(repository_arns)})
    return statements


def unscoped_reads(scope: Construct, role_name: str, name: str, actions: Sequence[str]):
    """The read-only calls that support no resource-level permissions, as their own policy on ``*``
    with the written waiver (AIINFRA-AWS-009); None when there are none."""
    if not actions:
        return None
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html and
    # list_amazonec2autoscaling.html / list_amazonelasticcontainerregistry.html: these actions support no resource types.
    found = resource(scope, "unscoped-reads", "aws_iam_role_policy", name=f"{name}-describe", role=role_name,
                     policy=policy_json([{"Sid": "ReadOnlyCallsWithoutResourceTypes", "Effect": "Allow", "Action": list(actions),
                                          "Resource": "*"}]))
    suppress(found, "AIINFRA-AWS-009", "read-only Describe* and ecr:GetAuthorizationToken support no resource-level permissions "
             "(Service Authorization Reference); the nodes need them for rendezvous and image pulls")
    return found
