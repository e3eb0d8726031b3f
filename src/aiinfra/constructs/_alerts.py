"""What the AWS and GCP alert constructs share: checking a rule against a cloud's metric and
operator tables, and one resource id per rule name."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping


def check_rule(metric: str, operator: str, duration_seconds: int, metrics: Mapping, operators: Mapping) -> None:
    """ValueError naming what is wrong with one alert rule."""
    if metric not in metrics:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(sorted(metrics))}")
    if operator not in operators:
        raise ValueError(f"unknown operator {operator!r}; known: {', '.join(operators)}")
    if duration_seconds < 60:
        raise ValueError(f"duration_seconds must be at least 60, got {duration_seconds}")


def rule_slugs(names: Iterable[str], fallback: str) -> list[str]:
    """A lowercase id per rule name (``GPU Memory Exhaustion`` -> ``gpu-memory-exhaustion``);
    two names with the same id are an error."""
    slugs: list[str] = []
    for name in names:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or fallback
        if slug in slugs:
            raise ValueError(f"two alert rules share the name {name!r}")
        slugs.append(slug)
    return slugs
