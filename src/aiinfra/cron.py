"""Five-field cron expressions (UTC): parse, list the times they fire, and say them in words.

One reader serves the planner (runs a month, and so hours and cost), the stacks (the AWS
scheduled actions' ``recurrence`` and the Cloud Scheduler jobs' ``schedule`` take the same
expression) and the cost-fidelity simulation that reads the synthesized Terraform back. Fields
are standard cron (Vixie): minute, hour, day of month, month, day of week (0 or 7 = Sunday);
``*``, lists, ranges and steps. As in cron, when both day fields are restricted a day matches
when either does.

Fires are counted a day at a time, never a minute at a time: a year of a daily schedule is 365
day checks, so planning 1,000 workloads stays fast.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass

DAY_NAMES = ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")
# The reference period: a non-leap year is 8,760 h, 12 billing months of 730 h (rules.HOURS_PER_MONTH).
REFERENCE_START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
REFERENCE_END = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _field(text: str, lo: int, hi: int, what: str) -> tuple[int, ...]:
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_s = part.split("/", 1)
            if not step_s.isdigit() or int(step_s) <= 0:
                raise ValueError(f"{what}: step {step_s!r} must be a positive whole number")
            step = int(step_s)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a_s, b_s = part.split("-", 1)
            if not (a_s.isdigit() and b_s.isdigit()):
                raise ValueError(f"{what}: cannot read range {part!r}")
            a, b = int(a_s), int(b_s)
        elif part.isdigit():
            a = b = int(part)
            if step != 1:
                b = hi
        else:
            raise ValueError(f"{what}: cannot read {part!r} (numbers, '*', ranges and steps only)")
        if not (lo <= a <= hi and lo <= b <= hi and a <= b):
            raise ValueError(f"{what}: {part!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return tuple(sorted(out))


@dataclass(frozen=True)
class Cron:
    """A parsed expression. ``Cron.parse("0 1 * * 6")`` fires at 01:00 UTC on Saturdays."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        """The parsed expression (one object per text: what is counted on it is counted once)."""
        return _parse(str(text))

    @classmethod
    def _parse(cls, text: str) -> Cron:
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(f"a cron expression has five fields (minute hour day-of-month month day-of-week), got {text!r}")
        minute, hour, dom, month, dow = fields
        weekdays = tuple(sorted({d % 7 for d in _field(dow, 0, 7, "day of week")}))
        return cls(" ".join(fields), _field(minute, 0, 59, "minute"), _field(hour, 0, 23, "hour"), _field(dom, 1, 31, "day of month"),
                   _field(month, 1, 12, "month"), weekdays, dom == "*", dow == "*")

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        dom_ok = day.day in self.days
        dow_ok = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow_ok
        if self.any_weekday:
            return dom_ok
        return dom_ok or dow_ok

    def fires(self, start: dt.datetime = REFERENCE_START, end: dt.datetime = REFERENCE_END) -> Iterator[dt.datetime]:
        """Every time in [start, end) the expression fires, in order (UTC)."""
        day = start.date()
        while day < end.date() or (day == end.date() and end.time() > dt.time(0)):
            if self.day_matches(day):
                for h in self.hours:
                    for m in self.minutes:
                        t = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=dt.timezone.utc)
                        if start <= t < end:
                            yield t
            day += dt.timedelta(days=1)

    def runs_per_month(self) -> float:
        """Fires in the reference year, divided by 12."""
        return self._runs_per_month

    @functools.cached_property
    def _runs_per_month(self) -> float:
        return sum(1 for _ in self.fires()) / 12

    def shortest_gap_hours(self) -> float | None:
        """The shortest time between two fires in the reference year (and across its end), or
        None when it fires at most once a year."""
        return self._shortest_gap_hours

    @functools.cached_property
    def _shortest_gap_hours(self) -> float | None:
        times = list(self.fires(REFERENCE_START, REFERENCE_END + dt.timedelta(days=366)))
        if len(times) < 2:
            return None
        return min((b - a).total_seconds() for a, b in zip(times, times[1:])) / 3600

    def describe(self) -> str:
        """The expression in words where it is a common shape ("Saturdays 01:00 UTC"), else quoted."""
        clock = f"{self.hours[0]:02d}:{self.minutes[0]:02d} UTC" if len(self.hours) == 1 and len(self.minutes) == 1 else None
        all_months = len(self.months) == 12
        if clock and all_months:
            if self.any_day and self.any_weekday:
                return f"daily {clock}"
            if self.any_day and self.weekdays == (1, 2, 3, 4, 5):
                return f"weekdays {clock}"
            if self.any_day and len(self.weekdays) == 1:
                return f"{DAY_NAMES[self.weekdays[0]]} {clock}"
            if self.any_weekday and len(self.days) == 1:
                return f"day {self.days[0]} of each month {clock}"
        return f"cron '{self.text}' (UTC)"


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Cron:
    return Cron._parse(text)


AWS_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def aws_cron(expr: str) -> str:
    """A five-field cron expression (UTC) as AWS's six-field ``cron(minutes hours day-of-month month day-of-week year)``,
    which EventBridge rules, EventBridge Scheduler and DataSync read
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html#eb-cron-expressions,
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based): each field as the values this
    module read from it (lists; ``*`` for a whole range), the days of the week by name (AWS counts them 1-7 from Sunday,
    cron 0-7: names avoid the shift), and one of the two day fields ``?``, as AWS requires. ValueError for a malformed
    expression, and for one restricting both day fields: cron then fires when either matches, which AWS cannot say."""
    c = Cron.parse(expr)
    if not c.any_day and not c.any_weekday:
        raise ValueError(f"{expr!r} restricts both the day of the month and the day of the week, which AWS's cron cannot "
                         "express; restrict one of them")

    def listed(values: tuple[int, ...], full: int) -> str:
        return "*" if len(values) == full else ",".join(str(v) for v in values)

    if c.any_weekday:
        return f"cron({listed(c.minutes, 60)} {listed(c.hours, 24)} {listed(c.days, 31)} {listed(c.months, 12)} ? *)"
    return f"cron({listed(c.minutes, 60)} {listed(c.hours, 24)} ? {listed(c.months, 12)} {','.join(AWS_DAYS[d] for d in c.weekdays)} *)"


def hours_text(hours: float) -> str:
    """12 -> '12 h', 6.25 -> '6 h 15 min', 0.5 -> '30 min'."""
    minutes = round(hours * 60)
    h, m = divmod(minutes, 60)
    if not m:
        return f"{h} h"
    return f"{h} h {m} min" if h else f"{m} min"
