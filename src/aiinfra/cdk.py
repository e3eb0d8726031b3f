"""The one place aiinfra reaches the CDK: CDK for Terraform (``cdktf``) or CDK Terrain
(``cdktn``), its maintained fork.

HashiCorp archived cdktf on 2025-12-10; CDK Terrain keeps the same class names, the same
``cdktf.json`` / ``cdktf.out`` layout and the same synthesized JSON, under the Python module
``cdktn``. The two are separate jsii assemblies: a cdktf resource inside a cdktn stack crashes at
synth, and an Aspect of one never runs on the other's stacks. So every module of this package
takes its CDK classes from here (``tests/test_cdk_seam.py`` greps that none imports either
directly), and this module binds to one of them, once per process, when first imported:

1. ``AIINFRA_CDK=cdktf`` or ``AIINFRA_CDK=cdktn``;
2. else the one the process already imported (a user's app that did ``import cdktn`` before
   ``import aiinfra.constructs`` gets cdktn constructs), cdktf first if it imported both;
3. else the one installed, cdktf first (``pip install 'cdktf-aiinfra[synth]'`` brings cdktf,
   ``'cdktf-aiinfra[synth-cdktn]'`` brings cdktn).

Constructs check the scope they are given (``check_scope``): a scope of the other CDK is refused
with one ``MixedCdkError`` naming both, instead of a crash inside jsii at synth.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiinfra.cdk_choice import CHOICES, CdkChoiceError, choose
from aiinfra.jsii_direct import kernel_started_directly


class MixedCdkError(TypeError):
    """An object of the other CDK reached constructs bound to this one."""


NAME, REASON = choose()
"""The bound CDK's module name (``"cdktf"`` or ``"cdktn"``) and why it was chosen."""
OTHER = CHOICES[1 - CHOICES.index(NAME)]

if TYPE_CHECKING:  # one set of names for type checkers; the classes are cdktn's when bound to it
    from cdktf import (App, Aspects, Fn, GcsBackend, IAspect, LocalBackend, S3Backend, TerraformDataSource,
                       TerraformOutput, TerraformProvider, TerraformProviderGeneratorMetadata, TerraformRemoteState,
                       TerraformResource, TerraformStack, TerraformVariable, Testing, Token)
else:
    # The first import of the CDK starts jsii's kernel: without jsii's relay process between it and us (aiinfra.jsii_direct).
    # A CDK the process imported already has its kernel running: nothing to set up for it.
    with kernel_started_directly() if NAME not in sys.modules else contextlib.nullcontext():
        _cdk = importlib.import_module(NAME)
    App = _cdk.App
    Aspects = _cdk.Aspects
    Fn = _cdk.Fn
    GcsBackend = _cdk.GcsBackend
    IAspect = _cdk.IAspect
    LocalBackend = _cdk.LocalBackend
    S3Backend = _cdk.S3Backend
    TerraformDataSource = _cdk.TerraformDataSource
    TerraformOutput = _cdk.TerraformOutput
    TerraformProvider = _cdk.TerraformProvider
    TerraformProviderGeneratorMetadata = _cdk.TerraformProviderGeneratorMetadata
    TerraformRemoteState = _cdk.TerraformRemoteState
    TerraformResource = _cdk.TerraformResource
    TerraformStack = _cdk.TerraformStack
    TerraformVariable = _cdk.TerraformVariable
    Testing = _cdk.Testing
    Token = _cdk.Token


class Op:
    """The bound CDK's ``Op`` (Terraform's operators), safe for a literal ``""``, ``0`` or ``False``
    on the right.

    cdktf 0.21 resolves an operator's right operand only when it is truthy in JavaScript
    (``const right = this.right ? this.resolveArg(context, this.right) : undefined`` in
    ``OperatorExpression.resolve``, lib/tfExpression.js), so ``Op.eq(var.image, "")`` synthesizes
    as ``(var.image == undefined)``, which ``terraform validate`` refuses ("Invalid reference"),
    and ``Op.sub(x, 0)`` as ``-x``. cdktn 0.24 tests ``this.right !== undefined``. Here a falsy
    literal on the right moves to the left, which both CDKs always resolve, with the operator
    mirrored (``a < 0`` is ``0 > a``), so both write the same, valid expression. Division or
    remainder by a literal 0 is refused."""

    _MIRROR = {"eq": "eq", "neq": "neq", "lt": "gt", "gt": "lt", "lte": "gte", "gte": "lte", "and_": "and_", "or_": "or_",
               "add": "add", "mul": "mul"}

    @staticmethod
    def _falsy_literal(value: Any) -> bool:
        return isinstance(value, (str, int, float, bool)) and not value

    @classmethod
    def _binary(cls, name: str, left: Any, right: Any) -> Any:
        if not cls._falsy_literal(right) or cls._falsy_literal(left):
            return getattr(_cdk.Op, name)(left, right)
        if name == "sub":  # x - 0 is x + 0, with the literal on the left
            return _cdk.Op.add(right, left)
        if name not in cls._MIRROR:
            raise ValueError(f"Op.{name} with a literal {right!r} on the right: division or remainder by zero")
        return getattr(_cdk.Op, cls._MIRROR[name])(right, left)

    @staticmethod
    def not_(expression: Any) -> Any:
        return _cdk.Op.not_(expression)

    @staticmethod
    def negate(expression: Any) -> Any:
        return _cdk.Op.negate(expression)


for _name in ("eq", "neq", "lt", "gt", "lte", "gte", "and_", "or_", "add", "sub", "mul", "div", "mod"):
    setattr(Op, _name, staticmethod(lambda left, right, _n=_name: Op._binary(_n, left, right)))

# `constructs` is one library both CDKs build on (cdktn 0.24 takes 10.6-10.7, cdktf 0.21 10.8).
from constructs import Construct as BaseConstruct  # noqa: E402
from constructs import IConstruct, IValidation  # noqa: E402

__all__ = ["CHOICES", "NAME", "OTHER", "REASON", "App", "Aspects", "BaseConstruct", "CdkChoiceError", "Construct", "Fn", "GcsBackend",
           "IAspect", "IConstruct", "IValidation", "LocalBackend", "MixedCdkError", "Op", "S3Backend",
           "TerraformDataSource", "TerraformOutput", "TerraformProvider", "TerraformProviderGeneratorMetadata", "TerraformRemoteState",
           "TARGET_VERSIONS", "TerraformResource", "TerraformStack", "TerraformVariable", "Testing", "Token", "check_scope", "cdk_of",
           "s3_backend", "stack_id"]

_MARK = "_aiinfra_cdk"


def cdk_of(obj: Any) -> str | None:
    """``"cdktf"`` / ``"cdktn"`` when ``obj`` is an instance of (a subclass of) one CDK's classes,
    prebuilt provider bindings included (their classes derive from their CDK's); else None."""
    for cls in type(obj).__mro__:
        root = cls.__module__.partition(".")[0]
        if root in CHOICES:
            return root
    return None


class Construct(BaseConstruct):
    """``constructs.Construct`` (aiinfra's constructs derive from it) that knows it belongs to the bound
    CDK when its scope is known to: ``check_scope`` on it (every resource created under it asks) then
    needs no walk up through jsii, two round trips a construct (bench/synth_bench.py's 100-workload
    case). Any ``constructs.Construct`` is still a scope everywhere."""

    def __init__(self, scope: BaseConstruct, id: str) -> None:
        super().__init__(scope, id)
        if getattr(scope, _MARK, False) or cdk_of(scope) == NAME:
            try:
                setattr(self, _MARK, True)
            except AttributeError:  # a class with __slots__: check_scope walks, as for any construct
                pass


def _mixed(what: str, found: str) -> MixedCdkError:
    return MixedCdkError(
        f"{what} belongs to {found}, but aiinfra is bound to {NAME} ({REASON}): {found} and {NAME} objects never mix in "
        f"one app; build the whole app on one of them, e.g. set AIINFRA_CDK={found} before aiinfra is imported")


def check_scope(scope: Any) -> None:
    """Refuse ``scope`` when it (or the nearest CDK construct above it) is of the other CDK.

    Walks up from ``scope`` to the first construct of a CDK class (a stack or app, usually one
    step) and remembers the answer on every construct it passed, so a construct's resources pay
    one attribute lookup each."""
    passed = []
    node: Any = scope
    while node is not None:
        if getattr(node, _MARK, False):
            break
        found = cdk_of(node)
        if found is not None:
            if found != NAME:
                raise _mixed(f"scope {type(scope).__name__!r}", found)
            break
        if not isinstance(node, BaseConstruct):
            raise TypeError(f"scope must be a construct (a {NAME} App, TerraformStack or a construct in one), "
                            f"not {type(node).__name__}")
        passed.append(node)
        node = node.node.scope
    for seen in passed:
        try:
            setattr(seen, _MARK, True)
        except AttributeError:  # a class with __slots__: checked again next time
            pass


def stack_id(stack: Any) -> str:
    """``stack.node.id``, asked of jsii once a stack (two round trips each time otherwise: the stacks
    name their stack in every note they write)."""
    found = getattr(stack, "_aiinfra_id", None)
    if found is None:
        found = stack.node.id
        try:
            stack._aiinfra_id = found
        except AttributeError:  # a class with __slots__: asked again next time
            pass
    return found


def check_object(obj: Any, what: str) -> None:
    """Refuse a CDK object of the other CDK passed as an argument (a provider, a dependency)."""
    found = cdk_of(obj)
    if found is not None and found != NAME:
        raise _mixed(what, found)


# The Terraform-compatible runtimes the stacks are written for, as cdktn's ``targetVersions``
# context (cdktf.json's field of that name, or App context) declares them: cdktn validates each
# version-gated feature against it at synth, and S3-native state locking (``use_lockfile``) needs
# Terraform / OpenTofu 1.10 (cdktn's S3Backend: ValidateFeatureTargetSupport ">=1.10.0"; its
# default target, ">=1.5.7", fails that check). cdktf ignores the key. CI runs Terraform 1.11.4.
TARGET_VERSIONS = {"terraform": ">=1.10.0", "opentofu": ">=1.10.0"}


def s3_backend(scope: Any, *, use_lockfile: bool = True, read_state: Callable[[Any, str, str], Any] | None = None, **config: Any) -> Any:
    """An ``S3Backend`` with S3-native state locking (Terraform 1.10+; ``use_lockfile``,
    https://developer.hashicorp.com/terraform/language/backend/s3#state-locking). cdktn types
    ``use_lockfile`` (its ``S3BackendConfig`` has it); cdktf 0.21 predates it, so there the
    backend's synthesized attributes are overridden to carry it. Both write
    ``terraform.backend.s3.use_lockfile`` and the same ``cdk.tf.json`` (``add_override`` would
    also record itself in ``//.metadata.overrides``, which the cdktn stack does not have). On
    cdktn the app must target Terraform >= 1.10 (``App(context={"targetVersions":
    TARGET_VERSIONS})`` or cdktf.json's ``targetVersions``), else cdktn's own validation fails
    the synth, as it should.

    ``read_state(scope, name, from_stack)``: the remote-state data source another stack reads
    this one's outputs through (default: the CDK's own ``terraform_remote_state``)."""
    if NAME == "cdktn":
        if read_state is None:
            return S3Backend(scope, use_lockfile=use_lockfile, **config)
        return _ReadingS3Backend(scope, read_state, use_lockfile=use_lockfile, **config)
    return _LockingS3Backend(scope, use_lockfile, read_state, **config)


class _ReadingS3Backend(S3Backend):  # type: ignore[misc, valid-type]
    def __init__(self, scope: Any, read_state: Callable[[Any, str, str], Any], **config: Any) -> None:
        super().__init__(scope, **config)
        self._read_state = read_state

    def get_remote_state_data_source(self, scope: Any, name: str, from_stack: str) -> Any:
        return self._read_state(scope, name, from_stack)


if NAME == "cdktf":
    class _LockingS3Backend(S3Backend):  # type: ignore[misc, valid-type]
        """cdktf 0.21's S3Backend with ``use_lockfile`` where cdktn's typed argument ends up: the
        attributes the backend synthesizes (JSON and HCL) and the config of the
        ``terraform_remote_state`` another stack reads this one's outputs through (cdktn's
        S3Backend passes all its props there; reads take no lock, so the key changes nothing but
        keeps the two CDKs' stacks the same file)."""

        def __init__(self, scope: Any, use_lockfile: bool, read_state: Callable[[Any, str, str], Any] | None = None,
                     **config: Any) -> None:
            super().__init__(scope, **config)
            self._config = config
            self._use_lockfile = use_lockfile
            self._read_state = read_state

        def _synthesize_attributes(self) -> Mapping[str, Any]:
            return {**super()._synthesize_attributes(), "use_lockfile": self._use_lockfile}

        def _synthesize_hcl_attributes(self) -> Mapping[str, Any]:
            return {**super()._synthesize_hcl_attributes(), "use_lockfile": self._use_lockfile}

        def get_remote_state_data_source(self, scope: Any, name: str, _from_stack: str) -> Any:
            if self._read_state is not None:
                return self._read_state(scope, name, _from_stack)
            # as cdktf's own: its props, the reading stack's workspace
            return _LockingRemoteStateS3(scope, name, self._use_lockfile,
                                         **{**self._config, "workspace": "${terraform.workspace}"})

    class _LockingRemoteStateS3(_cdk.DataTerraformRemoteStateS3):  # type: ignore[misc, name-defined]
        def __init__(self, scope: Any, name: str, use_lockfile: bool, **config: Any) -> None:
            super().__init__(scope, name, **config)
            self._use_lockfile = use_lockfile

        def _with_lock(self, doc: Any) -> Any:
            for block in doc["data"]["terraform_remote_state"].values():
                block["config"]["use_lockfile"] = self._use_lockfile
            return doc

        def to_terraform(self) -> Any:
            return self._with_lock(super().to_terraform())

        def to_hcl_terraform(self) -> Any:
            return self._with_lock(super().to_hcl_terraform())
