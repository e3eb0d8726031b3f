"""When batch work runs: the start schedule (cron, UTC), its hard stop, and restarts.

Training and data processing run to completion on a schedule; the stacks scale their groups
up at ``start`` and down at ``stop`` (``start`` shifted by ``max_runtime``) on the cloud's side,
so nodes never run longer than a run's hard stop even when the node's own script hangs. The
plan's hours and cost come from the same schedule: runs a month (counted over a reference
year) x the expected runtime; the cloud keeps nodes for at most runs x ``max_runtime``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from aiinfra.cron import Cron, hours_text
from aiinfra.planner import rules
from aiinfra.spec.models import Spec, Workload


@dataclass(frozen=True)
class StartSchedule:
    """When runs start (None: on demand only) and why."""

    cron: str | None
    runs_per_month: float
    reason: str


def _start_clock(spec: Spec, region: str) -> tuple[int, int, str]:
    """(hour, minute) UTC at which derived schedules start, and why."""
    sched = spec.cost_optimization.scheduling if spec.cost_optimization else None
    policy = sched.training_jobs if sched else None
    if policy in ("off_peak_hours", "business_hours"):
        local = rules.OFF_PEAK_START_LOCAL_HOUR if policy == "off_peak_hours" else rules.BUSINESS_HOURS_START_LOCAL_HOUR
        offset = rules.REGION_UTC_OFFSET_HOURS.get(region)
        if offset is None:
            return local, 0, f"cost_optimization.scheduling.training_jobs is {policy}; {region} has no known time zone, so {local:02d}:00 UTC"
        minutes = round((local - offset) * 60) % (24 * 60)
        sign = "+" if offset >= 0 else "-"
        zone = f"UTC{sign}{abs(offset):g}"
        return minutes // 60, minutes % 60, (f"cost_optimization.scheduling.training_jobs is {policy}: {local:02d}:00 in {region} "
                                             f"({zone}, standard time)")
    return rules.DEFAULT_START_HOUR_UTC, 0, "no cost_optimization.scheduling.training_jobs: runs start at midnight UTC"


_EVERY = re.compile(r"^every[ _]?(\d+)[ _]?(hours?|h|days?|d)$")
_PER = re.compile(r"^(\d+)x?[ _]?(?:per|a|/)[ _]?(day|week|month)$")


def _from_frequency(text: str, hour: int, minute: int, business: bool) -> str | None | bool:
    """A cron for a training_frequency; None for on-demand frequencies; False when there is no
    sensible one (the spec must then say ``schedule:``)."""
    key = text.strip().lower().replace("-", "_")
    if len(text.split()) == 5:
        return Cron.parse(text).text
    at = f"{minute} {hour}"
    fixed = {
        "hourly": f"{minute} * * * *", "daily": f"{at} * * *", "nightly": f"{at} * * *", "weekdays": f"{at} * * 1-5",
        "weekly": f"{at} * * {1 if business else 6}", "biweekly": f"{at} 1,15 * *", "fortnightly": f"{at} 1,15 * *",
        "monthly": f"{at} 1 * *", "quarterly": f"{at} 1 1,4,7,10 *", "yearly": f"{at} 1 1 *", "annually": f"{at} 1 1 *",
    }
    if key in fixed:
        return fixed[key]
    if key in ("continuous", "on_demand", "ad_hoc"):
        return None
    m = _EVERY.match(key)
    if m:
        n, unit = int(m[1]), m[2][0]
        if unit == "h" and 24 % n == 0:
            return f"{minute} */{n} * * *" if n > 1 else f"{minute} * * * *"
        if unit == "d" and n <= 28:
            return f"{at} */{n} * *" if n > 1 else f"{at} * * *"
        return False
    m = _PER.match(key)
    if m:
        n, per = int(m[1]), m[2]
        if per == "day" and 24 % n == 0:
            return f"{minute} {','.join(str((hour + i * 24 // n) % 24) for i in sorted(range(n), key=lambda i: (hour + i * 24 // n) % 24))} * * *"
        if per == "week" and n <= 7:
            days = sorted({(6 + round(i * 7 / n)) % 7 for i in range(n)})
            return f"{at} * * {','.join(map(str, days))}" if len(days) == n else False
        if per == "month" and n <= 28:
            days = sorted({1 + i * 28 // n for i in range(n)})
            return f"{at} {','.join(map(str, days))} * *"
    return False


def start_schedule(spec: Spec, w: Workload, region: str) -> StartSchedule | str:
    """The workload's start schedule, or the error text when none can be derived."""
    if w.schedule:
        cron = Cron.parse(w.schedule)
        return StartSchedule(cron.text, cron.runs_per_month(), "schedule set on the workload")
    hour, minute, clock_why = _start_clock(spec, region)
    sched = spec.cost_optimization.scheduling if spec.cost_optimization else None
    business = bool(sched and sched.training_jobs == "business_hours")
    if w.training_frequency is None:
        text = "daily" if w.type == "data_processing" else "monthly"
        why = f"no training_frequency: {text} (the default for {w.type.replace('_', ' ')})"
    else:
        text = w.training_frequency.text
        why = f"training_frequency {text}"
    cron = _from_frequency(text, hour, minute, business)
    if cron is False:
        return f"cannot derive a start schedule from training_frequency {text!r}; set schedule: (cron, UTC), e.g. schedule: \"0 1 * * 6\""
    if cron is None:
        return StartSchedule(None, 0.0, f"{why}: runs start on demand only (no schedule; scale the group up to start one)")
    derived_from_clock = len(text.split()) != 5 and not text.lower().startswith("hourly")
    return StartSchedule(cron, Cron.parse(cron).runs_per_month(), f"{why}" + (f"; {clock_why}" if derived_from_clock else ""))


def shift(cron_text: str, hours: float) -> str | None:
    """The cron expression that fires ``hours`` after each fire of ``cron_text``, or None when cron
    cannot say it (a shift that moves some start times to another day while the days are restricted,
    or past day 28 of a month)."""
    cron = Cron.parse(cron_text)
    total = round(hours * 60)
    shifted = {(h * 60 + m + total) for h in cron.hours for m in cron.minutes}
    carries = {t // (24 * 60) for t in shifted}
    minutes = sorted({t % 60 for t in shifted})
    hours_ = sorted({(t // 60) % 24 for t in shifted})
    # Every (hour, minute) pair must still be a fire: cron fields are a cross product.
    if len(minutes) * len(hours_) != len(shifted) or {(t % (24 * 60)) for t in shifted} != {h * 60 + m for h in hours_ for m in minutes}:
        return None
    fields = cron_text.split()
    dom, month, dow = fields[2], fields[3], fields[4]
    all_months = len(cron.months) == 12
    if len(carries) > 1:
        # Start times that land on different days: only an every-day schedule stays the same.
        if not (cron.any_day and cron.any_weekday and all_months):
            return None
        carry = 0
    else:
        carry = carries.pop()
    if carry:
        if not cron.any_day and not cron.any_weekday:
            return None
        if not cron.any_weekday:  # weekdays restricted: move them
            if not all_months:
                return None
            dow = ",".join(str((d + carry) % 7) for d in sorted(cron.weekdays))
        elif not cron.any_day:  # days of the month restricted: move them, inside the month
            if max(cron.days) + carry > 28:
                return None
            dom = ",".join(str(d + carry) for d in cron.days)
        elif not all_months:
            return None
    out = f"{','.join(map(str, minutes))} {','.join(map(str, hours_))} {dom} {month} {dow}"
    return Cron.parse(out).text


@dataclass(frozen=True)
class RunLimits:
    max_runtime_hours: float
    retries: int
    stop_cron: str | None
    reason: str


def run_limits(spec: Spec, w: Workload, start: StartSchedule, runtime_hours: float, spot: bool) -> RunLimits | str:
    """The hard stop and restarts of one run, or the error text."""
    perf = spec.performance_requirements
    limit = perf.training.max_training_time if w.type == "training" and perf and perf.training else None
    gap = Cron.parse(start.cron).shortest_gap_hours() if start.cron else None
    if w.max_runtime is not None:
        max_h, why = w.max_runtime / 3600, "max_runtime set on the workload"
        if gap is not None and max_h >= gap:
            return (f"max_runtime {hours_text(max_h)} is not shorter than the {hours_text(gap)} between two starts of {start.cron!r}: "
                    "one run's hard stop would stop the next run")
    else:
        if limit:
            max_h, why = limit / 3600, "performance_requirements.training.max_training_time"
        else:
            max_h, why = max(runtime_hours * rules.DEFAULT_MAX_RUNTIME_FACTOR, rules.MIN_MAX_RUNTIME_HOURS), \
                f"{rules.DEFAULT_MAX_RUNTIME_FACTOR:g}x the expected runtime"
        if gap is not None and max_h > gap - rules.STOP_BEFORE_NEXT_START_HOURS:
            max_h = gap - rules.STOP_BEFORE_NEXT_START_HOURS
            why += f", cut to end {hours_text(rules.STOP_BEFORE_NEXT_START_HOURS)} before the next start"
    max_h = math.ceil(max_h * 60) / 60
    if runtime_hours > max_h + 1e-9:
        return (f"a run takes {hours_text(runtime_hours)} but its hard stop is {hours_text(max_h)} ({why}): every run would be stopped "
                "before it ends; raise max_runtime or shorten the run")
    if w.retries is not None:
        retries, rwhy = w.retries, "retries set on the workload"
    elif any(r.parsed_condition()[0] == "training_job_status" and "restart" in (r.action or "") for r in spec.alerting_rules):
        retries, rwhy = rules.DEFAULT_RETRIES, "the Training Job Failure rule says restart_with_checkpoint"
    elif spot:
        retries, rwhy = rules.DEFAULT_RETRIES, "spot nodes can be reclaimed mid-run"
    else:
        retries, rwhy = 0, "no restart rule"
    stop = None
    if start.cron:
        stop = shift(start.cron, max_h)
        if stop is None:
            return (f"the hard stop {hours_text(max_h)} after each start of {start.cron!r} cannot be written as a cron expression; "
                    "use a schedule with one start time a day")
    return RunLimits(max_h, retries, stop, f"hard stop {hours_text(max_h)} ({why}); {retries} retries ({rwhy})")


def describe(start_cron: str | None, runtime_hours: float, max_runtime_hours: float, retries: int) -> str:
    """"Saturdays 06:00 UTC, 12 h, hard stop 24 h, 3 retries"."""
    when = Cron.parse(start_cron).describe() if start_cron else "on demand"
    return f"{when}, {hours_text(runtime_hours)}, hard stop {hours_text(max_runtime_hours)}, {retries} retr{'y' if retries == 1 else 'ies'}"
