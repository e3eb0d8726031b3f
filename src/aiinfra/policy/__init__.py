"""The security policy pack: rules every synthesized stack must pass (``AIINFRA-<CLOUD>-NNN``),
a cdktf / cdktn Aspect that applies them at synth, and written, per-resource suppressions."""

from aiinfra.policy.model import REQUIREMENTS, Resource, Result, Rule, StackView
from aiinfra.policy.pack import Report, Suppression, Violation, check_stack
from aiinfra.policy.rules import RULES, RULES_BY_ID


def __getattr__(name: str):
    # The Aspect needs cdktf or cdktn (jsii); load it only when asked for.
    if name in ("PolicyAspect", "apply_policy", "require", "suppress"):
        from aiinfra.policy import aspect

        return getattr(aspect, name)
    raise AttributeError(name)


__all__ = ["PolicyAspect", "apply_policy", "REQUIREMENTS", "RULES", "RULES_BY_ID", "Report", "Resource", "Result", "Rule", "StackView", "Suppression", "Violation",
           "check_stack", "require", "suppress"]
