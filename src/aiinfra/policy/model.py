"""The policy pack's vocabulary (the cdk-nag shape): a rule has an id, a one-line description,
an explanation and a fix, and judges one resource as compliant, non-compliant or not applicable."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Result(Enum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non-compliant"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Resource:
    """One resource (or data source) of a synthesized stack, as Terraform will read it."""

    type: str
    name: str  # the Terraform resource name (cdktf's unique id)
    path: str  # the construct path, e.g. ``acme-ml-production-aws-foundation/storage/data``
    body: dict[str, Any]

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"

    def get(self, *keys: str | int, default: Any = None) -> Any:
        """A nested argument; a single block written as a one-item list is read through."""
        value: Any = self.body
        for key in keys:
            if isinstance(value, list) and isinstance(key, str):
                value = value[0] if len(value) == 1 else None
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                value = value[key]
            else:
                return default
        return default if value is None else value


def blocks(value: Any) -> list[dict[str, Any]]:
    """A block argument as a list of dicts (Terraform JSON allows one object or a list)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


# What a spec may ask of its stacks (``aiinfra.security.requirements``), each judged by a rule.
REQUIREMENTS = {
    "api_authentication": "serving endpoints authenticate their callers (security_controls.access_management.api_authentication)",
    "hsm_keys": "encryption keys are held in hardware security modules (security_controls.data_protection.key_management)",
    "segmentation": "each workload's nodes have a network scope of their own (security_controls.network_security.network_segmentation)",
}

REF = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.")


@dataclass
class StackView:
    """Everything a rule may look at: the stack's resources and its backend."""

    name: str
    resources: list[Resource]
    backend: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the stack's spec asks of it beyond the fixed rules (``REQUIREMENTS``): written by
    # ``aiinfra.policy.require`` into the stack's ``//.aiinfra.requires``; rules judging an ask
    # are not applicable to a stack without it.
    requires: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, name: str, doc: dict[str, Any], requires: "frozenset[str] | None" = None) -> "StackView":
        found = []
        for rtype, items in (doc.get("resource") or {}).items():
            for rname, body in items.items():
                path = ((body.get("//") or {}).get("metadata") or {}).get("path") or f"{name}/{rname}"
                found.append(Resource(rtype, rname, path, {k: v for k, v in body.items() if k != "//"}))
        backend = (doc.get("terraform") or {}).get("backend") or {}
        for kind, config in backend.items():
            # The state backend, judged like a resource (type ``terraform_backend``).
            found.append(Resource("terraform_backend", kind, f"{name}/backend", dict(config or {})))
        if requires is None:
            requires = frozenset(((doc.get("//") or {}).get("aiinfra") or {}).get("requires") or ())
        return cls(name, found, backend, frozenset(requires))

    def of_type(self, *types: str) -> Iterator[Resource]:
        return (r for r in self.resources if r.type in types)

    def referencing(self, target: Resource, *types: str, argument: str) -> list[Resource]:
        """Resources of ``types`` whose ``argument`` refers to ``target`` (``${type.name.…}``)."""
        out = []
        for r in self.of_type(*types):
            value = r.body.get(argument)
            if isinstance(value, str) and any(m.groups() == (target.type, target.name) for m in REF.finditer(value)):
                out.append(r)
        return out


Check = Callable[[Resource, StackView], "tuple[Result, str]"]


@dataclass(frozen=True)
class Rule:
    """One policy rule.

    ``check(resource, stack)`` returns (result, detail); ``detail`` says what is wrong for a
    non-compliant resource. ``types`` lists the Terraform types it judges (others are not
    applicable). The stack's state backend is judged as a resource of type ``terraform_backend``
    named after the backend (``s3``, ``gcs``, ``local``).
    """

    id: str
    description: str
    explanation: str
    fix: str
    types: tuple[str, ...]
    check: Check

    def evaluate(self, resource: Resource, stack: StackView) -> tuple[Result, str]:
        if resource.type not in self.types:
            return Result.NOT_APPLICABLE, ""
        return self.check(resource, stack)


def ok() -> tuple[Result, str]:
    return Result.COMPLIANT, ""


def bad(detail: str) -> tuple[Result, str]:
    return Result.NON_COMPLIANT, detail


def na() -> tuple[Result, str]:
    return Result.NOT_APPLICABLE, ""


def policy_statements(text: Any) -> list[dict[str, Any]]:
    """The statements of an IAM policy document given as JSON text (unparseable: none)."""
    if not isinstance(text, str):
        return []
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    statements = doc.get("Statement", []) if isinstance(doc, dict) else []
    return [s for s in ([statements] if isinstance(statements, dict) else statements) if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
