"""The ``hashicorp/google`` provider for a stack of these constructs."""

from __future__ import annotations

import builtins

import jsii

from typing import Any

from aiinfra.cdk import Construct, TerraformProvider, check_scope
from aiinfra.constructs._tf import GOOGLE, _apply, _meta


class GoogleProvider(TerraformProvider):
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
        check_scope(scope)
        self._alias = alias
        super().__init__(scope, id, terraform_resource_type=GOOGLE.name, terraform_generator_metadata=_meta(GOOGLE.name),
                         terraform_provider_source=GOOGLE.source)
        _apply(self, {"project": project, "region": region, "default_labels": dict(default_labels) if default_labels else None,
                      **arguments})

    # cdktf's TerraformProvider keeps no alias (its getter returns undefined and its setter drops the
    # value: the prebuilt bindings override both), so the alias is this class's: the provider block
    # carries it and ``fqn`` (what a resource's ``provider`` names) is ``<type>.<alias>``.
    @builtins.property
    @jsii.member(jsii_name="alias")
    def alias(self) -> str | None:
        return getattr(self, "_alias", None)

    @alias.setter
    def alias(self, value: str | None) -> None:
        self._alias = value
