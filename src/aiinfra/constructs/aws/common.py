"""Account, partition and region lookups shared by the AWS constructs (one set per stack)."""

from __future__ import annotations

from aiinfra.cdk import Construct, TerraformStack

from aiinfra.constructs._tf import data


class AwsContext:
    """``arn:<partition>:...`` pieces for the stack that contains ``scope``, made once per stack."""

    def __init__(self, scope: Construct):
        stack = TerraformStack.of(scope)
        found = getattr(stack, "_aiinfra_aws_context", None)
        if found is None:
            ident = data(stack, "aws-caller-identity", "aws_caller_identity")
            part = data(stack, "aws-partition", "aws_partition")
            region = data(stack, "aws-region", "aws_region")
            found = (ident.get_string_attribute("account_id"), part.get_string_attribute("partition"), region.get_string_attribute("name"))
            stack._aiinfra_aws_context = found  # type: ignore[attr-defined]
        self.account_id, self.partition, self.region = found

    def arn(self, service: str, resource: str, region: bool = False, account: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account_id if account else ''}:{resource}"

    @property
    def account_root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:root"
