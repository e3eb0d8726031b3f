"""The cron reader shared by the planner, the stacks and the cost-fidelity simulation."""

import datetime as dt

import pytest

from aiinfra.cron import Cron, hours_text
from aiinfra.planner.schedule import shift


def test_fires_match_cron_semantics_including_either_day_field():
    utc = dt.timezone.utc
    fires = list(Cron.parse("0 1 13 * 5").fires(dt.datetime(2025, 6, 1, tzinfo=utc), dt.datetime(2025, 7, 1, tzinfo=utc)))
    # the 13th or any Friday (cron's "either" rule when both day fields are set)
    assert [t.day for t in fires] == [6, 13, 20, 27]
    assert Cron.parse("*/30 0-1 * * *").runs_per_month() == pytest.approx(4 * 365 / 12)
    assert Cron.parse("0 0 * * 7").weekdays == (0,)  # 7 is Sunday too


@pytest.mark.parametrize("text,words", [("0 1 * * 6", "Saturdays 01:00 UTC"), ("5 6 * * *", "daily 06:05 UTC"),
                                        ("0 9 * * 1-5", "weekdays 09:00 UTC"), ("0 7 1 * *", "day 1 of each month 07:00 UTC"),
                                        ("0 */6 * * *", "cron '0 */6 * * *' (UTC)")])
def test_describe(text, words):
    assert Cron.parse(text).describe() == words


@pytest.mark.parametrize("bad,message", [("0 1 * *", "five fields"), ("0 24 * * *", "outside 0-23"), ("x 1 * * *", "cannot read"),
                                         ("0 1 * * */0", "positive"), ("0 1 5-2 * *", "outside")])
def test_bad_expressions_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        Cron.parse(bad)


@pytest.mark.parametrize("start,hours,stop", [
    ("0 6 * * 6", 24, "0 6 * * 0"), ("0 22 * * 6", 4, "0 2 * * 0"), ("0 7 1 * *", 24, "0 7 2 * *"), ("15 6 * * *", 6.25, "30 12 * * *"),
    ("0 6 * * 1-5", 20, "0 2 * * 2,3,4,5,6"), ("0 22 31 * *", 4, None), ("0 22 * 1 *", 4, None), ("0 23 1 * 6", 2, None),
])
def test_hard_stop_is_the_start_shifted_or_none_when_cron_cannot_say_it(start, hours, stop):
    assert shift(start, hours) == stop
    if stop:  # every stop falls exactly `hours` after a start
        starts = list(Cron.parse(start).fires())
        stops = set(Cron.parse(stop).fires(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2026, 1, 3, tzinfo=dt.timezone.utc)))
        assert all(t + dt.timedelta(hours=hours) in stops for t in starts)


def test_hours_text():
    assert (hours_text(12), hours_text(6.25), hours_text(0.5)) == ("12 h", "6 h 15 min", "30 min")


@pytest.mark.parametrize("expr", ["0 */6 * * *", "30 2 * * 1-5", "0 3 1 * *", "15 4 * * 0,6", "0 3 * * */2", "0 3 * * 7",
                                  "5 9-17/2 * 1,7 *", "0 0 1-7 */3 *", "45 23 * * 5-7"])
def test_aws_cron_fires_when_the_five_field_cron_does(expr):
    """aiinfra.cron.aws_cron read back into five fields ('?' is any, names are days 0-6 from Sunday) fires at the same
    times in the reference year as the expression it was made from."""
    from aiinfra.cron import AWS_DAYS, Cron, aws_cron

    out = aws_cron(expr)
    assert out.startswith("cron(") and out.endswith(" *)")
    minute, hour, dom, month, dow = out[len("cron("):-len(" *)")].split()
    assert "?" in (dom, dow) and (dom, dow) != ("?", "?")
    dow = "*" if dow == "?" else ",".join(str(AWS_DAYS.index(d)) for d in dow.split(","))
    back = Cron.parse(" ".join((minute, hour, "*" if dom == "?" else dom, month, dow)))
    assert list(back.fires()) == list(Cron.parse(expr).fires())
