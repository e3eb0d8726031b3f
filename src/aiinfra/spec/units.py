"""Parsers for the planning guide's value formats: sizes, parameter counts, GPU asks,
durations, latencies, rates, percentages, frequencies and growth factors.

Every parser takes what YAML gives (str, int or float), returns a plain number in the unit
its name says, and raises ``ValueError`` with a message that names the value received and
the forms accepted. Bare numbers are rejected wherever the unit would be a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUM = r"(?P<num>\d+(?:\.\d+)?|\.\d+)"

# Decimal units (GB) as storage vendors and the guide write them; binary (GiB, Gi) as
# Kubernetes quotas do. Both are accepted; nothing is silently reinterpreted.
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
    "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50,
    "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
}
_SIZE_RE = re.compile(rf"^{_NUM}\s*(?P<unit>[a-zA-Z]+)$")
GIB = 2**30


def _text(value: object, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected {what}, got {type(value).__name__} {value!r}")
    return str(value).strip()


def _positive(x: float, raw: object, what: str) -> float:
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{what} must be greater than zero, got {raw!r}")
    return x


def parse_size_bytes(value: object) -> int:
    """'500GB', '2TB', '100MB', '200Gi', '1.5 TiB' -> bytes. A bare number is an error."""
    text = _text(value, "a size such as '500GB'")
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise ValueError(f"size {value!r} has no unit; write it with one, e.g. '{text}GB' or '{text}GiB'")
    m = _SIZE_RE.match(text)
    if not m or m["unit"].lower() not in _SIZE_UNITS:
        raise ValueError(f"cannot read size {value!r}; expected a number and a unit (MB, GB, TB, MiB, GiB, TiB, Gi), e.g. '500GB'")
    n = _positive(float(m["num"]), value, "size")
    return int(n * _SIZE_UNITS[m["unit"].lower()])


_PARAM_SCALE = {"": 1, "k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "billion": 1e9, "t": 1e12, "trillion": 1e12}
_PARAM_RE = re.compile(rf"^{_NUM}\s*(?P<scale>k|m|b|t|thousand|million|billion|trillion)?\s*(?:params?|parameters?)?$", re.I)


def parse_param_count(value: object) -> int:
    """'2B parameters', '300M parameters', '13B', '7 billion parameters' -> count."""
    text = _text(value, "a parameter count such as '2B parameters'")
    m = _PARAM_RE.match(text)
    if not m or (not m["scale"] and not re.search(r"param", text, re.I)):
        raise ValueError(f"cannot read parameter count {value!r}; expected e.g. '2B parameters', '300M parameters'")
    n = _positive(float(m["num"]), value, "parameter count")
    return int(n * _PARAM_SCALE[(m["scale"] or "").lower()])


@dataclass(frozen=True)
class ModelSize:
    """A model's size as the guide writes it: a parameter count or bytes on disk."""

    parameters: int | None = None
    bytes: int | None = None

    @property
    def estimated_parameters(self) -> int:
        # A checkpoint on disk stores fp32 weights unless told otherwise: 4 bytes a parameter.
        return self.parameters if self.parameters is not None else max(1, (self.bytes or 0) // 4)

    def __str__(self) -> str:
        if self.parameters is not None:
            return format_params(self.parameters)
        return format_bytes(self.bytes or 0)


_BYTE_UNITS = {"kb", "mb", "gb", "tb", "pb", "kib", "mib", "gib", "tib", "pib", "ki", "mi", "gi", "ti", "pi"}


def parse_model_size(value: object) -> ModelSize:
    """'2B parameters', '13B', '300M' (parameter counts, as ML papers write them) or '100MB', '4GiB' (bytes)."""
    text = _text(value, "a model size such as '2B parameters' or '100MB'")
    unit = re.sub(r"^[\d.\s]+", "", text).lower()
    try:
        if unit in _BYTE_UNITS:
            return ModelSize(bytes=parse_size_bytes(text))
        return ModelSize(parameters=parse_param_count(text))
    except ValueError as exc:
        if "greater than zero" in str(exc):
            raise
        raise ValueError(f"cannot read model size {value!r}; expected a parameter count ('2B parameters', '300M parameters') or a size ('100MB', '4GB')") from None


@dataclass(frozen=True)
class GpuAsk:
    """A GPU request as the guide writes it: '8x A100', '8x A100-80GB', '1x T4'."""

    count: int
    model: str
    memory_gib: int | None = None

    def __str__(self) -> str:
        mem = f"-{self.memory_gib}GB" if self.memory_gib else ""
        return f"{self.count}x {self.model}{mem}"


# "<count>x <model>[ <memory>GB]": the model is one word ("A100", "Inferentia2"), or a word and a
# generation word ("TPU v5e", "TPU-v5p": v<digit>...), and may carry a memory size with a dash or space
# ("A100-80GB", "A100 80GB"); a trailing number is a memory only with a unit or after a dash/space
# ("A100 80"), so "TPU v5e" stays the model. Free words ("eight A100s") are not a model.
_GPU_ASK_RE = re.compile(r"^(?:(?P<count>-?\d+)\s*[x×*]\s*)?(?:nvidia[\s-]+)?(?:tesla[\s-]+)?"
                         r"(?P<model>[A-Za-z][A-Za-z0-9]*(?:[\s_-]+v\d[A-Za-z0-9]*)?)"
                         r"(?:[\s-]+(?P<mem>\d+)\s*(?:gb|gib|g)?)?$", re.I)


def parse_gpu_ask(value: object) -> GpuAsk:
    """'8x A100', '8x A100-80GB', '16x H100', 'A10G' (one GPU) -> GpuAsk. The model is not checked here."""
    text = _text(value, "a GPU ask such as '8x A100'")
    m = _GPU_ASK_RE.match(text)
    if not m:
        raise ValueError(f"cannot read GPU ask {value!r}; expected '<count>x <GPU>[-<memory>GB]', e.g. '8x A100' or '8x A100-80GB'")
    count = int(m["count"]) if m["count"] is not None else 1
    if count <= 0:
        raise ValueError(f"GPU count must be greater than zero, got {value!r}")
    mem = int(m["mem"]) if m["mem"] else None
    if mem is not None and mem <= 0:
        raise ValueError(f"GPU memory must be greater than zero, got {value!r}")
    return GpuAsk(count=count, model=re.sub(r"[\s_]+", " ", m["model"]).upper(), memory_gib=mem)


def format_params(n: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:g}{suffix} parameters"
    return f"{n:g} parameters"


def format_bytes(n: float) -> str:
    for scale, suffix in ((1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if n >= scale:
            return f"{n / scale:.4g}{suffix}"
    return f"{n:g}B"


_DURATION_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_DURATION_RE = re.compile(rf"^{_NUM}\s*(?P<unit>[a-zA-Z]+)$")


def parse_duration_seconds(value: object) -> float:
    """'12 hours', '5m', '24 hours', '90 minutes', '2d' -> seconds. A bare number is an error."""
    text = _text(value, "a duration such as '12 hours'")
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise ValueError(f"duration {value!r} has no unit; write e.g. '{text} hours' or '{text}m'")
    m = _DURATION_RE.match(text)
    if not m or m["unit"].lower() not in _DURATION_UNITS:
        raise ValueError(f"cannot read duration {value!r}; expected a number and a unit (s, m, h, d, seconds, minutes, hours, days), e.g. '12 hours'")
    return _positive(float(m["num"]), value, "duration") * _DURATION_UNITS[m["unit"].lower()]


_LATENCY_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0, "sec": 1000.0, "seconds": 1000.0}
_LATENCY_RE = re.compile(rf"^{_NUM}\s*(?P<unit>us|µs|ms|s|sec|seconds)$", re.I)


def parse_latency_ms(value: object) -> float:
    """'100ms', '0.5s' -> milliseconds. A bare number is an error."""
    text = _text(value, "a latency such as '100ms'")
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise ValueError(f"latency {value!r} has no unit; write e.g. '{text}ms'")
    m = _LATENCY_RE.match(text)
    if not m:
        raise ValueError(f"cannot read latency {value!r}; expected e.g. '100ms' or '0.5s'")
    return _positive(float(m["num"]), value, "latency") * _LATENCY_UNITS[m["unit"].lower()]


_RATE_RE = re.compile(rf"^{_NUM}\s*(?P<k>k)?\s*(?P<unit>qps|rps|requests?/s(?:ec)?|req/s|predictions?/s)?$", re.I)


def parse_rate_qps(value: object) -> float:
    """'1000', 1000, '10000 qps', '5k qps', '200 rps' -> queries per second."""
    text = _text(value, "a request rate such as '1000 qps'")
    m = _RATE_RE.match(text)
    if not m:
        raise ValueError(f"cannot read request rate {value!r}; expected e.g. '1000', '10000 qps' or '5k rps'")
    n = float(m["num"]) * (1000 if m["k"] else 1)
    return _positive(n, value, "request rate")


_PCT_RE = re.compile(rf"^{_NUM}\s*%$")


def parse_percent(value: object) -> float:
    """'99.9%' -> 99.9. A bare number is read as percent only when written with '%'."""
    text = _text(value, "a percentage such as '99.9%'")
    m = _PCT_RE.match(text)
    if not m:
        raise ValueError(f"cannot read percentage {value!r}; write it with '%', e.g. '99.9%'")
    n = float(m["num"])
    if not 0 < n <= 100:
        raise ValueError(f"percentage must be above 0% and at most 100%, got {value!r}")
    return n


def parse_percent_range(value: object) -> tuple[float, float]:
    """'70-85%' -> (70, 85); '80%' -> (80, 80)."""
    text = _text(value, "a percentage or range such as '70-85%'")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%?\s*(?:-|to|–)\s*(\d+(?:\.\d+)?)\s*%", text)
    if m:
        lo, hi = float(m[1]), float(m[2])
        if not 0 < lo <= hi <= 100:
            raise ValueError(f"percentage range must satisfy 0 < low <= high <= 100, got {value!r}")
        return lo, hi
    p = parse_percent(text)
    return p, p


_FREQ_PER_MONTH = {
    "hourly": 730.0, "daily": 30.44, "nightly": 30.44, "weekdays": 21.74, "weekly": 4.345,
    "biweekly": 2.17, "fortnightly": 2.17, "monthly": 1.0, "quarterly": 1 / 3, "yearly": 1 / 12, "annually": 1 / 12,
    "continuous": 0.0, "on_demand": 0.0, "ad_hoc": 0.0,
}
FREQUENCIES = sorted(_FREQ_PER_MONTH)


def cron_runs_per_month(expr: str) -> float:
    """Average runs a month of a five-field cron expression (UTC), counted over a year."""
    from aiinfra.cron import Cron

    try:
        return Cron.parse(expr).runs_per_month()
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None


@dataclass(frozen=True)
class Frequency:
    """How often a workload runs, as written (``weekly``, a cron expression) and in runs a month."""

    per_month: float
    text: str

    def __str__(self) -> str:
        return self.text


def parse_frequency(value: object) -> Frequency:
    """Like ``parse_frequency_per_month``, keeping the text (the planner derives a start schedule from it)."""
    return Frequency(parse_frequency_per_month(value), str(value).strip())


def parse_cron(value: object) -> str:
    """A five-field cron expression (UTC), normalised to single spaces."""
    from aiinfra.cron import Cron

    text = _text(value, "a cron expression such as '0 1 * * 6'")
    try:
        return Cron.parse(text).text
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {text!r}: {exc}") from None


def parse_frequency_per_month(value: object) -> float:
    """'daily', 'weekly', 'monthly', 'hourly', 'every 6 hours', or a cron expression -> runs a month."""
    text = _text(value, "a frequency such as 'weekly' or a cron expression")
    key = text.lower().replace("-", "_").replace(" ", "_")
    if key in _FREQ_PER_MONTH:
        return _FREQ_PER_MONTH[key]
    m = re.fullmatch(r"every_(\d+(?:\.\d+)?)_?(hours?|h|days?|d|weeks?|w|minutes?|m)", key)
    if m:
        return 30.44 * 86400 / parse_duration_seconds(f"{m[1]} {m[2]}")
    m = re.fullmatch(r"(\d+)x?_?(?:per|a|/)_?(day|week|month)", key)
    if m:
        return int(m[1]) * {"day": 30.44, "week": 4.345, "month": 1.0}[m[2]]
    if len(text.split()) == 5:
        return cron_runs_per_month(text)
    raise ValueError(f"cannot read frequency {value!r}; expected one of {', '.join(FREQUENCIES)}, 'every N hours', or a cron expression such as '0 */6 * * *'")


def parse_growth_factor(value: object) -> float:
    """'3x', '2.5x', '200%' (of today) -> multiplier."""
    text = _text(value, "a growth factor such as '3x'")
    m = re.fullmatch(rf"{_NUM}\s*[x×]", text, re.I)
    if m:
        n = float(m["num"])
    elif _PCT_RE.match(text):
        n = float(text.rstrip("% ")) / 100
    else:
        raise ValueError(f"cannot read growth factor {value!r}; expected e.g. '3x' or '150%'")
    if n < 1:
        raise ValueError(f"growth factor must be at least 1x, got {value!r}")
    return n


def parse_days(value: object) -> int:
    """'90_days_inactive', '90 days', '30d' -> 90."""
    text = _text(value, "a number of days such as '90_days_inactive'")
    m = re.match(r"^(\d+)[\s_]*(?:d|days?)(?:[\s_].*)?$", text, re.I)
    if not m:
        raise ValueError(f"cannot read days from {value!r}; expected e.g. '90_days_inactive' or '30 days'")
    n = int(m[1])
    if n <= 0:
        raise ValueError(f"days must be greater than zero, got {value!r}")
    return n


def parse_cpu_cores(value: object) -> float:
    """Kubernetes CPU quantity: '500', '250m' -> cores."""
    text = _text(value, "a CPU quantity such as '500' or '250m'")
    m = re.fullmatch(rf"{_NUM}\s*(?P<milli>m)?", text)
    if not m:
        raise ValueError(f"cannot read CPU quantity {value!r}; expected cores ('500') or millicores ('250m')")
    return _positive(float(m["num"]) / (1000 if m["milli"] else 1), value, "CPU quantity")


def parse_count(value: object) -> int:
    """A whole positive count: 5, '20'."""
    text = _text(value, "a whole number")
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"expected a whole number, got {value!r}")
    n = int(text)
    if n <= 0:
        raise ValueError(f"count must be greater than zero, got {value!r}")
    return n


def parse_node_range(value: object) -> tuple[int, int]:
    """'auto-scale 5-20 nodes', '5-20', '8 nodes', 8 -> (min, max)."""
    text = _text(value, "a node count or range such as 'auto-scale 5-20 nodes'")
    m = re.search(r"(\d+)\s*(?:-|to|–)\s*(\d+)", text)
    if m:
        lo, hi = int(m[1]), int(m[2])
    else:
        m = re.fullmatch(r"(?:fixed\s+)?(\d+)(?:\s*nodes?)?", text, re.I)
        if not m:
            raise ValueError(f"cannot read cluster size {value!r}; expected e.g. 'auto-scale 5-20 nodes' or '8 nodes'")
        lo = hi = int(m[1])
    if lo <= 0 or hi < lo:
        raise ValueError(f"cluster size must satisfy 0 < min <= max, got {value!r}")
    return lo, hi
