"""The ``hashicorp/aws`` provider for a stack of these constructs."""

from __future__ import annotations

from typing import Any

from aiinfra.cdk import Construct
from aiinfra.constructs._tf import AWS, ProviderBlock


class AwsProvider(ProviderBlock):
    """The aws provider block, called as the prebuilt bindings' ``AwsProvider`` is
    (``cdktf_cdktf_provider_aws.provider.AwsProvider`` on cdktf, ``cdktn_provider_aws`` on cdktn):
    same class name, same snake_case Terraform arguments, without their ~10 s import.

        AwsProvider(stack, "aws", region="us-west-2", default_tags={"team": "ml"})
        west = AwsProvider(stack, "west", region="us-west-1", alias="west")

    Requires ``hashicorp/aws ~> 5.100``, the version the constructs' arguments are validated
    against (``terraform validate`` in CI). The prebuilt class works beside these constructs too
    (their resources name the provider ``aws``); a prebuilt binding of the other CDK does not.

    Args:
        region: the provider's region (else the environment's, as Terraform does).
        alias: for a second provider configuration; pass the object as a construct's
            ``provider`` where one takes it.
        default_tags: tags on every resource of the provider (the one ``default_tags`` block).
        **arguments: any other argument of the provider block (``profile``, ``assume_role``
            as a list of dicts, ``endpoints``, ...), as Terraform spells it.
    """

    def __init__(self, scope: Construct, id: str = "aws", *, region: str | None = None, alias: str | None = None,
                 default_tags: dict[str, str] | None = None, **arguments: Any):
        tags = [{"tags": dict(default_tags)}] if default_tags else None
        super().__init__(scope, id, AWS, alias, {"region": region, "default_tags": tags, **arguments})
