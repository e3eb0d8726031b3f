"""The policy pack as a cdktf / cdktn Aspect: add it to a stack and every synth of that stack
judges every resource; a violation fails the synth with one line per finding (cdk-nag's shape).

    from aiinfra.policy import apply_policy, suppress

    apply_policy(stack)          # = Aspects.of(stack).add(PolicyAspect()), on the app's own CDK
    suppress(bucket, "AIINFRA-AWS-001", "access-log bucket: S3 log delivery supports SSE-S3 only")

``Aspects.of(stack).add(PolicyAspect())`` with your CDK's ``Aspects`` works too, when aiinfra is
bound to that CDK (``aiinfra.cdk``); ``apply_policy`` refuses a stack of the other one.

``aiinfra synth`` and ``cdktf synth`` add it to every stack they build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aiinfra.cdk import Aspects, Construct, IAspect, IConstruct, IValidation, TerraformStack, cdk_of, check_scope, stack_id
from aiinfra.cdk import NAME as CDK_NAME

from aiinfra.policy.model import REQUIREMENTS
from aiinfra.policy.pack import Report, Suppression, check_stack


def suppress(construct: Construct, rule: str, reason: str) -> None:
    """Exempt the one resource at (or under) ``construct`` from ``rule``, for ``reason``."""
    if not reason or not reason.strip():
        raise ValueError(f"suppressing {rule} needs a written reason")
    stack = TerraformStack.of(construct)
    found = getattr(stack, "_aiinfra_suppressions", None)
    if found is None:
        found = []
        stack._aiinfra_suppressions = found  # type: ignore[attr-defined]
    found.append(Suppression(rule, construct.node.path, reason.strip(), "construct"))


def require(construct: Construct, *names: str) -> None:
    """Record in ``construct``'s stack what its spec asks of it (``REQUIREMENTS``: e.g.
    ``"api_authentication"``); the rules judging each ask then apply to the stack's resources.
    Written into the synthesized stack (``//.aiinfra.requires``), so ``check_output`` and a
    review of the ``cdk.tf.json`` see it too."""
    unknown = [n for n in names if n not in REQUIREMENTS]
    if unknown:
        raise ValueError(f"unknown requirement {unknown[0]!r}; known: {', '.join(sorted(REQUIREMENTS))}")
    stack = TerraformStack.of(construct)
    found = set(getattr(stack, "_aiinfra_requires", ())) | set(names)
    stack._aiinfra_requires = found  # type: ignore[attr-defined]
    stack.add_override("//.aiinfra", {"requires": sorted(found)})


def construct_suppressions(stack: TerraformStack) -> list[Suppression]:
    return list(getattr(stack, "_aiinfra_suppressions", []))


@jsii.implements(IValidation)
class _StackValidation:
    def __init__(self, aspect: "PolicyAspect", stack: TerraformStack):
        self.aspect, self.stack = aspect, stack

    def validate(self) -> list[str]:
        doc: Any = self.stack.to_terraform()
        report = check_stack(stack_id(self.stack), doc, [*self.aspect.suppressions, *construct_suppressions(self.stack)])
        self.aspect.report.extend(report)
        return report.lines() if self.aspect.fail else []


@jsii.implements(IAspect)
class PolicyAspect:
    """Judges every resource of the stacks it visits against the policy pack.

    Args:
        suppressions: exemptions from outside the constructs (the spec's ``security_exceptions``).
        fail: judge each stack as cdktf validates it and add every violation as a validation
            error, so ``app.synth()`` fails (default). With ``fail=False`` the aspect only notes
            the stacks it visits; ``check_output(outdir)`` then judges the written
            ``cdk.tf.json`` files (``aiinfra synth`` does this: the same verdicts without
            handing every stack through jsii twice, and one line per finding).
    """

    def __init__(self, suppressions: Sequence[Suppression] = (), fail: bool = True):
        self.suppressions = list(suppressions)
        self.fail = fail
        self.report = Report()
        self._stacks: dict[str, TerraformStack] = {}

    def visit(self, node: IConstruct) -> None:
        # Called for every construct of the stack: an isinstance test in Python, not a jsii
        # round trip (``TerraformStack.is_stack``) per construct. Stacks reach Python as instances
        # of the bound CDK's TerraformStack (or a subclass), wherever they were created.
        if not isinstance(node, TerraformStack):
            if cdk_of(node) not in (None, CDK_NAME):
                check_scope(node)  # a construct of the other CDK: this aspect would judge nothing there
            return
        self.watch(node)

    def watch(self, stack: TerraformStack) -> None:
        """Judge ``stack`` as a visit would, without visiting each of its constructs: with
        ``fail=False`` (``aiinfra synth``) that is all the aspect does, so ``build_app`` calls this
        directly instead of adding the aspect (thousands of jsii callbacks fewer for 100 workloads)."""
        name = stack_id(stack)
        if name in self._stacks:
            return
        self._stacks[name] = stack
        if self.fail:
            stack.node.add_validation(_StackValidation(self, stack))

    def check_output(self, outdir: str | Path) -> Report:
        """Judge the synthesized stacks (``<outdir>/stacks/<name>/cdk.tf.json``) of every stack visited."""
        for name, stack in self._stacks.items():
            doc = json.loads((Path(outdir) / "stacks" / name / "cdk.tf.json").read_text())
            self.report.extend(check_stack(name, doc, [*self.suppressions, *construct_suppressions(stack)]))
        return self.report


def apply_policy(scope: Construct, aspect: "PolicyAspect | None" = None) -> "PolicyAspect":
    """Add ``aspect`` (default: a new ``PolicyAspect()``) to the stack ``scope``, or to every stack
    under it (an app: call it once its stacks exist), through the bound CDK's ``Aspects``, after
    checking that ``scope`` is of that CDK: an Aspect of one CDK on the other's stacks would
    silently never run. Per stack, because both CDKs invoke aspects from each stack down: one
    added to the app itself is never invoked."""
    check_scope(scope)
    stacks = [scope] if TerraformStack.is_stack(scope) else [c for c in scope.node.find_all() if TerraformStack.is_stack(c)]
    if not stacks:
        raise ValueError(f"apply_policy: no stack under {scope.node.path or 'the app'} yet; call it after the stacks are built")
    aspect = aspect if aspect is not None else PolicyAspect()
    for stack in stacks:
        Aspects.of(stack).add(aspect)
    return aspect
