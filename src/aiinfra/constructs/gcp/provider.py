"""The ``hashicorp/google`` provider for a stack of these constructs."""

from __future__ import annotations

from typing import Any

from aiinfra.cdk import Construct
from aiinfra.constructs._tf import GOOGLE, ProviderBlock


class GoogleProvider(ProviderBlock):
    """The google provider block, called as the prebuilt bindings' ``GoogleProvider`` is
    (``cdktf_cdktf_provider_google.provider.GoogleProvider`` on cdktf): same class name, same
    snake_case Terraform arguments, without their import cost.

        GoogleProvider(stack, "google", project="my-project", region="us-central1",
                       default_labels={"team": "ml"})

    Requires ``hashicorp/google ~> 6.0``, the major version the constructs' arguments are
    checked against (the provider schema, ``tests/gcp_schema.py``).

    Args:
        project, region: the provider's default project and region.
        alias: for a second provider configuration.
        default_labels: labels on every resource of the provider that takes labels.
        **arguments: any other argument of the provider block (``user_project_override``,
            ``billing_project``, ...), as Terraform spells it.
    """

    def __init__(self, scope: Construct, id: str = "google", *, project: str | None = None, region: str | None = None,
                 alias: str | None = None, default_labels: dict[str, str] | None = None, **arguments: Any):
        super().__init__(scope, id, GOOGLE, alias, {"project": project, "region": region,
                                                    "default_labels": dict(default_labels) if default_labels else None, **arguments})
