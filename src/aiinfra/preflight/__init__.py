"""Pre-flight: ask the clouds, with the caller's own credentials, whether the plan's placements
can launch (shapes offered in the chosen zones, quotas that hold the steady and peak nodes,
named reservations that exist and match) before ``terraform apply`` creates anything.

``aiinfra preflight SPEC``. The cloud SDKs (boto3, google-cloud-compute) are imported only here,
in ``aws.py`` / ``gcp.py``, never by validate / plan / catalog. Each check is one row: what was
checked, the current value, the need, a verdict and, for a failure, the fix.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import asdict, dataclass
from typing import Literal

# ok / warn (the steady nodes fit, the peak would not) / fail (the apply would stop on it) /
# error (could not be checked: an API or a region that did not answer).
Verdict = Literal["ok", "warn", "fail", "error"]
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Check:
    """One pre-flight check. ``fail``: the apply would stop on it; ``warn``: the steady nodes fit
    but the peak (autoscaling, a retry) would not; ``error``: it could not be checked (a region's
    API did not answer; the other regions are still checked)."""

    cloud: str
    region: str
    check: str  # what was checked: "p4d.24xlarge offered in use1-az1"
    current: str  # what the account or zone has now
    need: str  # what the plan needs
    verdict: Verdict
    fix: str = ""  # for warn / fail: what to do, pasteable where it can be
    api: str = ""  # the API behind it: "ec2:DescribeInstanceTypeOfferings"

    def to_dict(self) -> dict:
        return asdict(self)


class PreflightError(Exception):
    """Credentials or an API that cannot be used: one line naming the API, the region and what to
    do. The CLI prints it and exits 2."""


class Deadline:
    """The whole run's time bound: every API call gets at most what is left of it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise PreflightError(f"preflight: {what}: gave up after the --timeout of {self.seconds:g} s; "
                                 "rerun with a longer --timeout or check the network to the cloud APIs")


_GEO = (("us-", "northamerica-", "ca-"), ("eu-", "europe-", "me-", "il-"), ("ap-", "asia-", "australia-"),
        ("sa-", "southamerica-"), ("af-", "africa-"))


def _geo(region: str) -> int:
    return next((i for i, prefixes in enumerate(_GEO) if region.startswith(prefixes)), len(_GEO))


def nearest_regions(region: str, candidates: list[str]) -> list[str]:
    """``candidates`` other than ``region``, nearest first: same geography (us / europe / asia ...),
    then the same area within it (us-east-1 -> us-east-2 before us-west-2), then by name."""
    parts = region.split("-")

    def key(r: str) -> tuple:
        p = r.split("-")
        shared = 0
        for a, b in zip(parts, p):
            if a != b:
                break
            shared += 1
        return (_geo(r) != _geo(region), -shared, r)

    return sorted((r for r in candidates if r != region), key=key)


class RegionDown(Exception):
    """A region's API did not answer (after the retries): its checks become one ``error`` row and
    the other regions are still checked."""


class ApiFailed(RegionDown):
    """One API of a region failed after its retries (a 5xx, throttling) or refused these credentials
    (AccessDenied, 403): only the checks that read it become ``error`` rows; the region's other APIs
    are still asked. ``line`` is one line: the status and the API's own error code and message."""

    def __init__(self, api: str, where: str, line: str, fix: str = ""):
        self.api, self.where, self.line, self.fix = api, where, line, fix
        super().__init__(f"{api} failed in {where}: {line}")


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)


def one_line(text: str, limit: int = 200) -> str:
    """An API's error message as one line: markup out (a proxy's HTML error page keeps its words),
    whitespace collapsed, cut at ``limit`` characters."""
    text = " ".join(html.unescape(_TAG.sub(" ", str(text))).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def error_rows(cloud: str, region: str, checks: list[tuple[str, str]], exc: ApiFailed) -> list[Check]:
    """What ``exc``'s API would have answered: one ``error`` row per (check, need) it costs."""
    fix = exc.fix or "rerun when the API answers; the checks that do not need it were made"
    return [Check(cloud, region, check, exc.line, need, "error", fix, api=exc.api) for check, need in checks]


def checks_by_region(cloud: str, needs: list, region_checks) -> list[Check]:
    """``region_checks(r)`` for each region's needs; a region that is down is one ``error`` row."""
    out: list[Check] = []
    for r in needs:
        try:
            out.extend(region_checks(r))
        except RegionDown as exc:
            out.append(Check(cloud, r.region, "region's APIs answer", str(exc), "every check of this region", "error",
                             "rerun when the region answers; the other regions were checked", api=str(exc).split(" ")[0]))
    return out


def quota_verdict(headroom: float, steady: float, peak: float) -> Verdict:
    """fail when the steady need exceeds the headroom (quota minus what is in use), warn when only
    the peak does."""
    if steady > headroom:
        return "fail"
    if peak > headroom:
        return "warn"
    return "ok"


def fmt_num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
