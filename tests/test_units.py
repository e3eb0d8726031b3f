import pytest

from aiinfra.spec import units


@pytest.mark.parametrize("text,expected", [
    ("500GB", 500 * 10**9), ("2TB", 2 * 10**12), ("100MB", 100 * 10**6), ("200Gi", 200 * 2**30),
    ("1.5 TiB", int(1.5 * 2**40)), ("5TB", 5 * 10**12), ("10 GiB", 10 * 2**30),
])
def test_size_reads_guide_formats(text, expected):
    assert units.parse_size_bytes(text) == expected


@pytest.mark.parametrize("bad", [500, "500", "500 parsecs", "-5GB", "0GB", "GB", True, None, [1]])
def test_size_rejects_bare_numbers_bad_units_and_non_positive(bad):
    with pytest.raises(ValueError):
        units.parse_size_bytes(bad)


def test_size_error_names_value_and_suggests_unit():
    with pytest.raises(ValueError, match=r"'500' has no unit.*'500GB'"):
        units.parse_size_bytes("500")


@pytest.mark.parametrize("text,params", [
    ("2B parameters", 2 * 10**9), ("300M parameters", 300 * 10**6), ("13B", 13 * 10**9), ("7 billion parameters", 7 * 10**9),
    ("10B parameters", 10**10),
])
def test_param_counts(text, params):
    assert units.parse_model_size(text).parameters == params


def test_model_size_in_bytes_estimates_fp32_parameters():
    m = units.parse_model_size("100MB")
    assert m.bytes == 100 * 10**6 and m.parameters is None
    assert m.estimated_parameters == 25 * 10**6


@pytest.mark.parametrize("bad", ["big", "0B parameters", "-2B parameters", "2X parameters"])
def test_model_size_rejects(bad):
    with pytest.raises(ValueError):
        units.parse_model_size(bad)


@pytest.mark.parametrize("text,count,model,mem", [
    ("8x A100", 8, "A100", None), ("8x A100-80GB", 8, "A100", 80), ("1x T4", 1, "T4", None), ("16x H100", 16, "H100", None),
    ("A10G", 1, "A10G", None), ("2 x NVIDIA Tesla T4", 2, "T4", None), ("8xH100 80GB", 8, "H100", 80), ("4x L40S", 4, "L40S", None),
])
def test_gpu_asks(text, count, model, mem):
    ask = units.parse_gpu_ask(text)
    assert (ask.count, ask.model, ask.memory_gib) == (count, model, mem)


@pytest.mark.parametrize("bad", ["0x A100", "-8x A100", "8x", "eight A100s", ""])
def test_gpu_ask_rejects(bad):
    with pytest.raises(ValueError):
        units.parse_gpu_ask(bad)


@pytest.mark.parametrize("text,seconds", [("12 hours", 43200), ("5m", 300), ("24 hours", 86400), ("90 minutes", 5400), ("2d", 172800), ("30s", 30)])
def test_durations(text, seconds):
    assert units.parse_duration_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["12", 12, "12 fortnights", "0 hours"])
def test_duration_rejects(bad):
    with pytest.raises(ValueError):
        units.parse_duration_seconds(bad)


def test_latency_and_rates():
    assert units.parse_latency_ms("100ms") == 100
    assert units.parse_latency_ms("0.5s") == 500
    assert units.parse_rate_qps("1000") == 1000
    assert units.parse_rate_qps(1000) == 1000
    assert units.parse_rate_qps("10000 qps") == 10000
    assert units.parse_rate_qps("5k rps") == 5000
    with pytest.raises(ValueError):
        units.parse_latency_ms("100")
    with pytest.raises(ValueError):
        units.parse_rate_qps("0")


def test_percentages():
    assert units.parse_percent("99.9%") == 99.9
    assert units.parse_percent_range("70-85%") == (70, 85)
    assert units.parse_percent_range("80%") == (80, 80)
    for bad in ("99.9", "101%", "0%", "85-70%"):
        with pytest.raises(ValueError):
            units.parse_percent_range(bad) if "-" in bad else units.parse_percent(bad)


@pytest.mark.parametrize("text,runs", [
    ("daily", 30.44), ("weekly", 4.345), ("monthly", 1.0), ("hourly", 730.0),
    # Cron expressions are counted over the reference year (2025: 365 days, 52 Mondays, 12 firsts of the month).
    ("0 */6 * * *", 4 * 365 / 12), ("0 2 * * 1", 52 / 12), ("30 1 1 * *", 1.0), ("every 6 hours", 121.76),
])
def test_frequencies(text, runs):
    assert units.parse_frequency_per_month(text) == pytest.approx(runs, rel=1e-3)


@pytest.mark.parametrize("bad", ["sometimes", "0 */0 * * *", "61 * * * *", "* * *"])
def test_frequency_rejects(bad):
    with pytest.raises(ValueError):
        units.parse_frequency_per_month(bad)


def test_days_growth_cpu_nodes():
    assert units.parse_days("90_days_inactive") == 90
    assert units.parse_growth_factor("3x") == 3
    assert units.parse_cpu_cores("500") == 500
    assert units.parse_cpu_cores("250m") == 0.25
    assert units.parse_node_range("auto-scale 5-20 nodes") == (5, 20)
    assert units.parse_node_range(8) == (8, 8)
    for fn, bad in ((units.parse_days, "soon"), (units.parse_growth_factor, "0.5x"), (units.parse_node_range, "20-5")):
        with pytest.raises(ValueError):
            fn(bad)
