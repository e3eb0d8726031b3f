"""KMS key with rotation, an alias, and a key policy for the account and named principals only;
optionally in an AWS CloudHSM custom key store."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aiinfra.cdk import Construct

from aiinfra.constructs._tf import policy_json, resource
from aiinfra.constructs.aws.common import AwsContext

KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


class EncryptionKey(Construct):
    """A customer-managed KMS key for a workload's data, volumes, topics and logs.

    Example::

        key = EncryptionKey(stack, "data-key", alias="acme-ml-prod-data")
        bucket_kms_key_arn = key.arn

    Args:
        alias: the alias name without ``alias/``.
        description: shown in the console; defaults to the alias.
        user_role_arns: roles that may encrypt and decrypt with the key. Left out, only
            the account (through IAM policies that name this key) may use it.
        service_principals: AWS services that may use the key on the account's behalf
            (for example ``sns.amazonaws.com``). Left out: CloudWatch (alarms to encrypted
            topics), SNS, Budgets and EventBridge (security findings routed to an encrypted topic),
            and CloudWatch Logs of this region for the account's own log groups (its documented
            ``kms:EncryptionContext:aws:logs:arn`` condition).
        allow_autoscaling: create an EC2 Auto Scaling service-linked role of the key's own
            (``AWSServiceRoleForAutoScaling_<suffix>``) and grant it the use of the key, which it
            needs to launch instances whose volumes it encrypts; groups name it with
            ``service_linked_role_arn=key.autoscaling_role_arn``. Default on. A role of its own,
            not the account's default one: a fresh account has no ``AWSServiceRoleForAutoScaling``
            until its first group exists, and a key policy naming a missing principal is refused.
        autoscaling_role_suffix: the role's suffix; default the alias (35 characters at most).
        deletion_window_days: 7 to 30; default 30, the longest.
        rotation_period_days: 90 to 2560; default 365 (AWS's yearly rotation, always on).
        custom_key_store_id: create the key in this AWS CloudHSM key store (``cks-...``): its
            material lives in the account's own CloudHSM cluster (single-tenant HSMs). AWS KMS keys
            are already held in FIPS 140-3 validated HSMs; a custom key store is for rules that ask
            for HSMs you control. Such keys cannot rotate automatically (rotate them by hand:
            a new key and an alias update), so rotation is off for them.
            https://docs.aws.amazon.com/kms/latest/developerguide/keystore-cloudhsm.html
            https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html

    Attributes:
        protection: ``"HSM"`` (AWS KMS's own HSMs) or ``"CLOUDHSM"`` (the custom key store).
    """

    def __init__(self, scope: Construct, id: str, *, alias: str, description: str | None = None,
                 user_role_arns: Sequence[str] = (), service_principals: Sequence[str] | None = None,
                 allow_autoscaling: bool = True, autoscaling_role_suffix: str | None = None, deletion_window_days: int = 30, rotation_period_days: int = 365,
                 custom_key_store_id: str | None = None, tags: dict[str, str] | None = None):
        super().__init__(scope, id)
        if not 7 <= deletion_window_days <= 30:
            raise ValueError(f"deletion_window_days must be between 7 and 30, got {deletion_window_days}")
        if not 90 <= rotation_period_days <= 2560:
            raise ValueError(f"rotation_period_days must be between 90 and 2560, got {rotation_period_days}")
        if custom_key_store_id is not None and not re.fullmatch(r"cks-[0-9a-z]{17}", custom_key_store_id):
            raise ValueError(f"custom_key_store_id must look like cks-1234567890abcdef0, got {custom_key_store_id!r}")
        ctx = AwsContext(self)
        services = list(service_principals) if service_principals is not None else [
            "cloudwatch.amazonaws.com", "sns.amazonaws.com", "budgets.amazonaws.com", "events.amazonaws.com",
            # Managed Prometheus's alert manager publishing to the key's SNS topic needs kms:GenerateDataKey* and kms:Decrypt
            # (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-AMPpermission.html).
            "aps.amazonaws.com"]
        statements = [{
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": ctx.account_root},
            "Action": "kms:*",
            "Resource": "*",
        }]
        if user_role_arns:
            statements.append({"Sid": "WorkloadRolesUseKey", "Effect": "Allow", "Principal": {"AWS": list(user_role_arns)},
                               "Action": KEY_USE, "Resource": "*"})
        if services:
            statements.append({"Sid": "ServicesUseKeyForThisAccount", "Effect": "Allow", "Principal": {"Service": services},
                               "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:DescribeKey"], "Resource": "*",
                               "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}})
        if service_principals is None:
            # CloudWatch Logs (log groups encrypted with this key: flow logs, the nodes' logs) as its
            # guide writes the statement: the regional principal, limited through the encryption
            # context CloudWatch Logs sets (the log group's ARN) to this account's log groups.
            # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
            statements.append({"Sid": "CloudWatchLogsUseKeyForThisAccountsLogGroups", "Effect": "Allow",
                               "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
                               "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                               "Resource": "*",
                               "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": ctx.arn("logs", "log-group:*", region=True)}}})
        self.autoscaling_role_arn: str | None = None
        if allow_autoscaling:
            suffix = autoscaling_role_suffix or alias
            # No "_": the provider reads the suffix back by splitting the role name at it.
            if not re.fullmatch(r"[A-Za-z0-9+=,.@-]{1,35}", suffix):
                raise ValueError(f"autoscaling_role_suffix must be 1-35 letters, digits or +=,.@- (role names are 64 characters), got {suffix!r}")
            # https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html (custom suffix)
            # https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
            self.autoscaling_role = resource(self, "autoscaling-role", "aws_iam_service_linked_role", aws_service_name="autoscaling.amazonaws.com",
                                             custom_suffix=suffix, description=f"EC2 Auto Scaling for groups encrypting with {alias}")
            asg_role = self.autoscaling_role.get_string_attribute("arn")
            self.autoscaling_role_arn = asg_role
            statements.append({"Sid": "AutoScalingEncryptsVolumes", "Effect": "Allow", "Principal": {"AWS": asg_role},
                               "Action": KEY_USE, "Resource": "*"})
            statements.append({"Sid": "AutoScalingGrantsToEc2", "Effect": "Allow", "Principal": {"AWS": asg_role},
                               "Action": "kms:CreateGrant", "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
        rotates = custom_key_store_id is None
        self.protection = "HSM" if rotates else "CLOUDHSM"
        self.key = resource(self, "key", "aws_kms_key", description=description or alias, enable_key_rotation=rotates,
                            # 365 is AWS's own default: set only when it differs, so the key reads back unchanged.
                            rotation_period_in_days=rotation_period_days if rotates and rotation_period_days != 365 else None,
                            custom_key_store_id=custom_key_store_id,
                            deletion_window_in_days=deletion_window_days,
                            key_usage="ENCRYPT_DECRYPT", customer_master_key_spec="SYMMETRIC_DEFAULT",
                            policy=policy_json(statements), tags=tags)
        self.alias = resource(self, "alias", "aws_kms_alias", name=f"alias/{alias}", target_key_id=self.key.get_string_attribute("key_id"))
        self.arn: str = self.key.get_string_attribute("arn")
        self.key_id: str = self.key.get_string_attribute("key_id")
