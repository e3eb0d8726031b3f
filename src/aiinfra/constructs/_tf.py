"""Terraform resources through the CDK's generic classes (cdktf or cdktn, ``aiinfra.cdk``), with
typed props on our side.

Why not the prebuilt provider bindings: importing ``cdktf-cdktf-provider-aws`` costs about
10 s and 1 GB in node per process, and google as much again, before one resource exists;
cdktf's generic ``TerraformResource`` costs nothing extra (bench/synth_bench.py has the
figures). The constructs keep typed, documented props; the resource arguments they emit are
checked in tests against ``terraform validate`` with the real aws provider and against the
prebuilt bindings' schema, so a misspelt argument fails CI.
"""

from __future__ import annotations

import builtins
import functools
import json
from dataclasses import dataclass
from typing import Any

import jsii
from aiinfra.cdk import (Construct, TerraformDataSource, TerraformProvider, TerraformProviderGeneratorMetadata, TerraformResource,
                        check_object, check_scope)


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    source: str
    version: str


# Versions the bindings this project pins were generated for: cdktf-cdktf-provider-aws 20.1.0
# targets hashicorp/aws 5.100.0; cdktf-cdktf-provider-google 16.x targets hashicorp/google 6.x.
AWS = ProviderInfo("aws", "hashicorp/aws", "~> 5.100")
GOOGLE = ProviderInfo("google", "hashicorp/google", "~> 6.0")
# The in-cluster stacks' providers (constructs/k8s): cdktf-cdktf-provider-kubernetes 12.1.1 is generated from
# hashicorp/kubernetes 2.38.0 and cdktf-cdktf-provider-helm 12.1.2 from hashicorp/helm 3.1.1 (their package
# READMEs: "CDKTF prebuilt bindings for hashicorp/<name> provider version ..."); helm 3.x takes its
# `kubernetes` settings as an attribute, no longer a block (helm 2.x would refuse the JSON we write).
KUBERNETES = ProviderInfo("kubernetes", "hashicorp/kubernetes", "~> 2.38")
HELM = ProviderInfo("helm", "hashicorp/helm", "~> 3.1")
_PROVIDERS = {"aws": AWS, "google": GOOGLE, "kubernetes": KUBERNETES, "helm": HELM}


@functools.lru_cache(maxsize=None)
def _meta(provider: str) -> TerraformProviderGeneratorMetadata:
    info = _PROVIDERS[provider]
    return TerraformProviderGeneratorMetadata(provider_name=info.name, provider_version_constraint=info.version)


def clean(value: Any) -> Any:
    """Drop None values (Terraform's "unset") from nested dicts and lists."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value if v is not None]
    return value


def _apply(r: TerraformResource | TerraformDataSource | TerraformProvider, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        if value is not None:
            r.add_override(key, clean(value))


# Terraform meta-arguments: cdktf writes them from the resource's own settings, not from its attributes.
_META_ARGUMENTS = ("lifecycle", "provider", "count", "for_each", "provisioner", "connection")


class GenericResource(TerraformResource):
    """A ``TerraformResource`` whose arguments are a Python dict, handed to cdktf in one call at
    synth (``synthesizeAttributes``) instead of one ``add_override`` round trip through jsii per
    argument: building a stack costs half as much. ``add_override`` still works on top (escape
    hatches and tests use it)."""

    def __init__(self, scope: Construct, id: str, type: str, attrs: dict[str, Any], depends_on: list[Any] | None = None):
        _check(scope, attrs.get("provider"), depends_on)
        # terraform_data belongs to Terraform's built-in provider: no provider block, no metadata.
        prefix = type.split("_", 1)[0]
        super().__init__(scope, id, terraform_resource_type=type, terraform_generator_metadata=_meta(prefix) if prefix in _PROVIDERS else None,
                         depends_on=depends_on)
        meta = {k: attrs.pop(k) for k in _META_ARGUMENTS if attrs.get(k) is not None}
        self.attributes: dict[str, Any] = clean({k: v for k, v in attrs.items() if v is not None})
        _apply(self, meta)

    @jsii.member(jsii_name="synthesizeAttributes")
    def _synthesize_attributes(self) -> dict[str, Any]:
        return self.attributes


def _check(scope: Any, provider: Any = None, depends_on: list[Any] | None = None) -> None:
    """A scope, provider or dependency of the other CDK: one clear error now, not a jsii crash at synth."""
    check_scope(scope)
    if provider is not None:
        check_object(provider, "provider")
    for dep in depends_on or ():
        check_object(dep, "depends_on entry")


def resource(scope: Construct, id: str, type: str, /, *, depends_on: list[Any] | None = None, **attrs: Any) -> TerraformResource:
    """One resource of ``type`` with the given arguments (None = leave unset)."""
    return GenericResource(scope, id, type, attrs, depends_on)


def pinned(scope: Construct, id: str, value: Any, *, replace_on: Any = None) -> TerraformResource:
    """``value`` (e.g. an image a data source resolves at plan time) stored once in state: a
    ``terraform_data`` whose ``input`` changes are ignored, so its ``output`` keeps the value of the
    apply that created it until the resource is replaced (``terraform apply -replace=terraform_data.<id>``).
    ``replace_on``: a value whose change replaces it too (``triggers_replace``), so it takes ``value``
    afresh, e.g. the Kubernetes version an add-on version was resolved for.
    ``terraform_data`` is Terraform's built-in resource (1.4+, no provider):
    https://developer.hashicorp.com/terraform/language/resources/terraform-data"""
    return resource(scope, id, "terraform_data", input=value, triggers_replace=replace_on, lifecycle={"ignore_changes": ["input"]})


def data(scope: Construct, id: str, type: str, /, **attrs: Any) -> TerraformDataSource:
    _check(scope, attrs.get("provider"))
    d = TerraformDataSource(scope, id, terraform_resource_type=type, terraform_generator_metadata=_meta(type.split("_", 1)[0]))
    _apply(d, attrs)
    return d


class ProviderBlock(TerraformProvider):
    """A provider block of ``info`` with the arguments ``attrs``, keeping its ``alias``: the base of the provider
    classes (``AwsProvider``, ``GoogleProvider``, ``KubernetesProvider``, ``HelmProvider``).

    cdktf's TerraformProvider keeps no alias (its getter returns undefined and its setter drops the value: the
    prebuilt bindings override both), so the alias is this class's: the provider block carries it and ``fqn``
    (what a resource's ``provider`` names) is ``<type>.<alias>``."""

    def __init__(self, scope: Construct, id: str, info: ProviderInfo, alias: str | None, attrs: dict[str, Any]):
        check_scope(scope)
        self._alias = alias
        super().__init__(scope, id, terraform_resource_type=info.name, terraform_generator_metadata=_meta(info.name),
                         terraform_provider_source=info.source)
        _apply(self, attrs)

    @builtins.property
    @jsii.member(jsii_name="alias")
    def alias(self) -> str | None:
        return getattr(self, "_alias", None)

    @alias.setter
    def alias(self, value: str | None) -> None:
        self._alias = value


def provider(scope: Construct, id: str, info: ProviderInfo, **attrs: Any) -> TerraformProvider:
    _check(scope)
    p = TerraformProvider(scope, id, terraform_resource_type=info.name, terraform_generator_metadata=_meta(info.name),
                          terraform_provider_source=info.source)
    _apply(p, attrs)
    return p


def terraform_literal(text: str) -> str:
    """``text`` as a literal inside Terraform JSON: ``${`` and ``%{`` start Terraform's own
    interpolation and directives in every string, so a shell script's ``${VAR}`` is written
    ``$${VAR}`` (https://developer.hashicorp.com/terraform/language/expressions/strings#escape-sequences)."""
    return text.replace("${", "$${").replace("%{", "%%{")


def policy_json(statements: list[dict[str, Any]]) -> str:
    """An IAM policy document as JSON text; cdktf tokens inside resolve to Terraform references."""
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))
