"""outputs/formats.py: the exact strings each front end writes, '-' for what is missing."""

from __future__ import annotations

import pytest

from tokenflood_tui.metrics.summary import Distribution
from tokenflood_tui.outputs import formats


def test_ms_whole_or_with_decimals_with_or_without_the_unit():
    assert formats.ms(53.149) == "53 ms"                      # the search's status line
    assert formats.ms(53.14, 1) == "53.1 ms"                  # headless, the A/B view
    assert formats.ms(53.16, 1) == "53.2 ms"
    assert formats.ms(53.6, unit=False) == "54"               # the polls table: ms in its header
    assert formats.ms(1234.56, 1, unit=False) == "1234.6"     # never grouped: a cell joined by '/'
    assert formats.ms(None) == formats.ms(None, 1, unit=False) == "-"


@pytest.mark.parametrize("value,text", [(8.44, "8.4"), (99.94, "99.9"), (99.96, "100.0"),
                                        (100.0, "100"), (153.4, "153"), (-12.54, "-12.5"),
                                        (-100.4, "-100"), (None, "-")])
def test_ms_compact_keeps_one_decimal_below_100(value, text):
    assert formats.ms_compact(value) == text


@pytest.mark.parametrize("value,text", [(9.94, "9.9"), (9.96, "10.0"), (10.0, "10"), (53.6, "54"),
                                        (0.04, "0.0")])
def test_ms_compact_of_the_home_screen_keeps_one_decimal_below_10(value, text):
    assert formats.ms_compact(value, 10) == text


def test_number_groups_thousands_unless_asked_not_to():
    assert formats.number(1234.5678, 2) == "1,234.57"
    assert formats.number(1234.5678, 0) == "1,235"
    assert formats.number(1234.5678, 0, grouped=False) == "1235"
    assert formats.number(0.0, 1) == "0.0"
    assert formats.number(None, 2) == "-"


def test_share_is_a_whole_percentage():
    assert formats.share(0.37) == "37%"
    assert formats.share(0.005) == "0%" and formats.share(1.0) == "100%"
    assert formats.share(None) == "-"


def dist(**values) -> Distribution:
    return Distribution(mean=None, **values)


def test_percentiles_as_each_view_writes_them():
    d = dist(p50=53.149, p90=60.2, p99=71.04)
    at = [50, 90, 99]
    assert formats.percentiles(d, at) == "p50/p90/p99 53/60/71 ms"             # TUI last poll
    assert formats.percentiles(d, at, 1) == "p50/p90/p99 53.1/60.2/71.0 ms"    # headless poll line
    assert formats.percentiles(d, at, keys=False, unit=False) == "53/60/71"    # a results cell
    assert formats.percentiles(dist(**{"p50": 1.0, "p99.9": 2.0}), [50, 99.9]) == "p50/p99.9 1/2 ms"


def test_a_percentile_without_a_sample_is_a_dash_and_none_at_all_collapses_unless_asked():
    some = dist(p50=53.0, p90=None)
    assert formats.percentiles(some, [50, 90]) == "p50/p90 53/- ms"
    none = dist(p50=None, p90=None)
    assert formats.percentiles(none, [50, 90]) == "-"
    assert formats.percentiles(none, [50, 90], keys=False, unit=False) == "-"
    # headless keeps the shape of its poll lines, so every line reads the same way
    assert formats.percentiles(none, [50, 90], 1, collapse=False) == "p50/p90 -/- ms"


@pytest.mark.parametrize("seconds,text", [(0, "0:00"), (-3, "0:00"), (59.4, "0:59"), (59.5, "1:00"),
                                          (272.4, "4:32"), (3872, "1:04:32"),
                                          (2 * 86400 + 23 * 3600 + 49 * 60 + 32, "2d 23:49:32"),
                                          (86400, "1d 00:00:00")])
def test_clock(seconds, text):
    assert formats.clock(seconds) == text


@pytest.mark.parametrize("seconds,text", [(6, "6 s"), (2.5, "2.5 s"), (900, "15 min"),
                                          (90, "1.5 min"), (3 * 3600, "3 h"),
                                          (5400, "1 h 30 min"), (2 * 86400 + 6 * 3600, "2 d 6 h"),
                                          (86400 + 60, "1 d 1 min")])
def test_span(seconds, text):
    assert formats.span(seconds) == text


@pytest.mark.parametrize("seconds,text", [(45, "45 s"), (44.6, "45 s"), (185, "3 min 05 s"),
                                          (7800, "2 h 10 min"), (47 * 3600 + 59 * 60, "47 h 59 min"),
                                          (74 * 3600, "3 d 02 h")])
def test_duration(seconds, text):
    assert formats.duration(seconds) == text
