"""Run the rules over synthesized stacks, honour written suppressions, and report one line per
violation (rule id, resource path, fix)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiinfra.policy.model import Resource, Result, Rule, StackView
from aiinfra.policy.rules import RULES, RULES_BY_ID


@dataclass(frozen=True)
class Suppression:
    """Rule ``rule`` does not apply to the one resource at construct path ``path``, because ``reason``."""

    rule: str
    path: str
    reason: str
    source: str = "construct"  # or "spec"

    def __str__(self) -> str:
        return f"{self.rule} {self.path}: suppressed ({self.source}): {self.reason}"


@dataclass(frozen=True)
class Violation:
    rule: Rule
    resource: Resource
    detail: str

    def __str__(self) -> str:
        return f"{self.rule.id} {self.resource.path}: {self.detail}; fix: {self.rule.fix}"


@dataclass
class Report:
    """What the pack found in one or more stacks."""

    violations: list[Violation] = field(default_factory=list)
    suppressed: list[tuple[Violation | None, Suppression]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # suppressions that name no rule or no resource
    unused: list[Suppression] = field(default_factory=list)  # suppressions of a resource that complies anyway
    passed: int = 0
    checked_resources: int = 0

    def extend(self, other: "Report") -> None:
        self.violations += other.violations
        self.suppressed += other.suppressed
        self.problems += other.problems
        self.unused += other.unused
        self.passed += other.passed
        self.checked_resources += other.checked_resources

    @property
    def ok(self) -> bool:
        return not self.violations and not self.problems

    def lines(self) -> list[str]:
        return self.problems + [str(v) for v in self.violations]

    def notes(self) -> list[str]:
        """What the reviewer should see on a passing synth: every waiver, and waivers nothing needed."""
        return [str(s) for _, s in self.suppressed] + [f"{s.rule} {s.path}: exception not needed, the resource complies ({s.source})"
                                                        for s in self.unused]


def _matches(resource: Resource, path: str) -> bool:
    return resource.path == path or resource.path.startswith(path + "/")


def check_stack(name: str, doc: dict[str, Any], suppressions: Sequence[Suppression] = (), rules: Iterable[Rule] = RULES,
                requires: frozenset[str] | None = None) -> Report:
    """Judge every resource of one synthesized stack (``cdk.tf.json`` content). ``requires``:
    what the spec asks of the stack (default: what the stack itself records, ``require``)."""
    stack = StackView.from_json(name, doc, requires)
    report = Report(checked_resources=len(stack.resources))
    mine = [s for s in suppressions if s.path == name or s.path.startswith(name + "/")]
    for s in mine:
        rule = RULES_BY_ID.get(s.rule)
        if rule is None:
            report.problems.append(f"{s.rule} {s.path}: suppression names no known rule ({s.source})")
            continue
        targets = [r for r in stack.resources if _matches(r, s.path) and r.type in rule.types]
        if not targets:
            report.problems.append(f"{s.rule} {s.path}: suppression names no resource that {s.rule} judges ({s.source})")
        elif len(targets) > 1:
            report.problems.append(f"{s.rule} {s.path}: suppression covers {len(targets)} resources; name one of "
                                   f"{', '.join(sorted(t.path for t in targets))} ({s.source})")
        if not s.reason.strip():
            report.problems.append(f"{s.rule} {s.path}: a suppression needs a written reason ({s.source})")
    for resource in stack.resources:
        for rule in rules:
            result, detail = rule.evaluate(resource, stack)
            if result is Result.COMPLIANT:
                report.passed += 1
            elif result is Result.NON_COMPLIANT:
                violation = Violation(rule, resource, detail)
                waiver = next((s for s in mine if s.rule == rule.id and _matches(resource, s.path)), None)
                if waiver is not None:
                    report.suppressed.append((violation, waiver))
                else:
                    report.violations.append(violation)
    used = {id(s) for _, s in report.suppressed}
    report.unused = [s for s in mine if id(s) not in used and s.rule in RULES_BY_ID]
    return report
