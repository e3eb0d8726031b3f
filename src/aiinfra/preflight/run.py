"""Run the pre-flight checks of a plan, cloud by cloud and region by region, and render them.

The cloud modules are imported here, lazily: ``aiinfra validate`` / ``plan`` never load an SDK.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiinfra.preflight import Check, Deadline, PreflightError
from aiinfra.preflight.needs import RegionNeeds, region_needs

_INSTALL = "install the cloud SDKs: pip install 'cdktf-aiinfra[preflight]' (make setup does)"


def _module(cloud: str):
    try:
        if cloud == "aws":
            from aiinfra.preflight import aws as mod
        else:
            from aiinfra.preflight import gcp as mod
    except ImportError as exc:
        raise PreflightError(f"preflight: {cloud}: {exc.name or exc} is not installed: {_INSTALL}") from None
    return mod


def run(spec, plan, catalog, timeout_s: float, progress: Callable[[str], None] = lambda _m: None) -> list[Check]:
    """Every check of the plan's (cloud, region) placements, within ``timeout_s`` seconds in all."""
    deadline = Deadline(timeout_s)
    out: list[Check] = []
    for r in region_needs(plan):
        progress(f"{r.cloud} {r.region}: {', '.join(r.shapes())}")
        out.extend(_region(spec, r, deadline, catalog))
    return out


def _region(spec, r: RegionNeeds, deadline: Deadline, catalog) -> list[Check]:
    mod = _module(r.cloud)
    if r.cloud == "aws":
        return mod.checks([r], deadline, catalog)
    project = spec.clouds.gcp.project if spec.clouds.gcp else ""
    return mod.checks([r], deadline, catalog, project)


def exit_code(checks: list[Check]) -> int:
    """1 when a check fails (the apply would stop on it); 2 when one could not be made; else 0."""
    verdicts = {c.verdict for c in checks}
    return 1 if "fail" in verdicts else 2 if "error" in verdicts else 0


def summary(checks: list[Check]) -> dict[str, int]:
    return {v: sum(1 for c in checks if c.verdict == v) for v in ("ok", "warn", "fail", "error")}


def render_json(checks: list[Check]) -> str:
    return json.dumps({"schema_version": 1, "summary": summary(checks), "exit_code": exit_code(checks),
                       "checks": [c.to_dict() for c in checks]}, indent=2) + "\n"


_MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}


def render_text(checks: list[Check]) -> str:
    """A table a reviewer can paste: one row per check, the fix under every warn / fail / error."""
    rows = [("CLOUD", "REGION", "CHECK", "CURRENT", "NEED", "VERDICT")]
    rows += [(c.cloud, c.region, c.check, c.current, c.need, _MARK[c.verdict]) for c in checks]
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i and checks[i - 1].fix and checks[i - 1].verdict != "ok":
            lines.append(f"    fix: {checks[i - 1].fix}")
    s = summary(checks)
    lines.append("")
    lines.append(f"{len(checks)} checks: {s['ok']} ok, {s['warn']} warn, {s['fail']} fail, {s['error']} error")
    return "\n".join(lines) + "\n"
