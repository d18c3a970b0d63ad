"""The charts' scales and keys (outputs/charts.py), as the results folder, the TUI's chart panels
and the compare screen draw them: latency from 0 (a 2 ms wobble at 200 ms is not a cliff), the
key under the chart (never over the plotted lines), and compared runs told apart without
colour (NO_COLOR, a monochrome terminal, a printout)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tokenflood_tui.metrics.summary import PhaseStats
from tokenflood_tui.outputs import charts

from support.comparisons import A_TTFT, B_SLOWER_MS, two_runs
from support.observations import START, poll

# the noise of the issue: TTFT 205.64-209.25 ms over four rates
NOISE = [(2.0, 205.64), (4.0, 209.25), (6.0, 207.10), (8.0, 206.30)]


def phases() -> list[PhaseStats]:
    return [poll(k, START, ttft).model_copy(update={"target_rps": rate})
            for k, (rate, ttft) in enumerate(NOISE, start=1)]


def polls() -> list:
    return [poll(k, START + timedelta(minutes=15 * k), ttft)
            for k, (_, ttft) in enumerate(NOISE, start=1)]


CHARTS = {
    "by rate": lambda width, height: charts.render(phases(), [50], ["ttft_ms"], width=width,
                                                   height=height, colour=False),
    "over time": lambda width, height: charts.render_over_time(polls(), [50], ["ttft_ms"],
                                                               width=width, height=height,
                                                               colour=False),
    "compare": lambda width, height: charts.render_compare(two_runs(), ["ttft_ms"], width=width,
                                                           height=height, colour=False),
}


def frame(lines: list[str]) -> tuple[int, int, int]:
    """The plot's top and bottom frame rows, and the column of its left frame."""
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return top, bottom, lines[top].index("┌")


def y_labels(chart: str) -> list[float]:
    """The y axis' tick labels, top to bottom."""
    lines = chart.splitlines()
    top, bottom, left = frame(lines)
    return [float(line[:left]) for line in lines[top + 1:bottom] if line[left] == "┤"]


def plot_rows(chart: str) -> list[str]:
    """The rows inside the plot's frame (what is plotted), without the frame."""
    lines = chart.splitlines()
    top, bottom, left = frame(lines)
    return [line[left + 1:].rstrip().removesuffix("│") for line in lines[top + 1:bottom]]


@pytest.mark.parametrize("kind", CHARTS)
@pytest.mark.parametrize("size", [(76, 16), (100, 30)])
def test_latency_is_drawn_from_zero(kind, size):
    chart = CHARTS[kind](*size)
    labels = y_labels(chart)
    highest = max(ttft for _, ttft in NOISE) if kind != "compare" else \
        max(A_TTFT.values()) + B_SLOWER_MS
    assert labels[-1] == 0 and labels[0] >= highest, labels
    assert labels == sorted(labels, reverse=True) and len(labels) >= 3
    # round ticks, evenly spaced (plotext would label 205.64, 206.54, ... 209.25)
    steps = {round(a - b, 6) for a, b in zip(labels, labels[1:], strict=False)}
    assert len(steps) == 1 and all(label == int(label) for label in labels), labels
    if kind != "compare":
        # 205.64-209.25 ms: one flat line near the top, not a zigzag over the whole height
        inked = [i for i, row in enumerate(plot_rows(chart)) if row.strip()]
        assert inked and max(inked) - min(inked) <= 1, chart


@pytest.mark.parametrize("kind", CHARTS)
def test_the_key_is_under_the_chart_and_off_the_lines(kind):
    chart = CHARTS[kind](80, 24)
    lines = chart.splitlines()
    _, bottom, _ = frame(lines)
    key = [i for i, line in enumerate(lines) if "p50" in line]
    assert key and all(i > bottom + 1 for i in key), chart     # below the x axis' labels
    assert not any("p50" in row for row in plot_rows(chart))
    assert len(lines) == 24 and max(len(line) for line in lines) <= 80


def test_the_key_says_what_marks_each_percentile():
    chart = charts.render(phases(), [50, 90, 99], ["ttft_ms"], width=80, height=20, colour=False)
    assert chart.splitlines()[-1].strip() == "p50 •  p90 x  p99 +"
    coloured = charts.render(phases(), [50, 90, 99], ["ttft_ms"], width=80, height=20)
    # in the line's colour: cyan, the terminal's yellow, magenta (plotext has no "yellow")
    key = coloured.splitlines()[-1]
    assert "\x1b[38;5;6mp50 •" in key and "\x1b[38;5;3mp90 x" in key and "\x1b[38;5;5mp99 +" in key


def test_compared_runs_are_told_apart_without_colour():
    """A (40-60 ms) is drawn below the middle of the plot and B (140-160 ms) above it: each run's
    marks are characters of its own, and the key says which."""
    chart = charts.render_compare(two_runs(), ["ttft_ms"], width=80, height=24, colour=False)
    rows = plot_rows(chart)
    middle = len(rows) // 2
    upper = {ch for row in rows[:middle] for ch in row if ch.strip()}
    lower = {ch for row in rows[middle:] for ch in row if ch.strip()}
    assert "B" in upper and "A" in lower
    assert upper and lower and not upper & lower, (upper, lower)
    key = chart.splitlines()[-1]
    assert "A ⠒⠒" in key and "B ••" in key and "p50  p90  p99" in key
    # the same in the results folder's compare.txt, with both metrics
    both = charts.render_compare(two_runs(), width=100, height=40, colour=False)
    assert both.count("┌") == 2 and both.splitlines()[-1].strip() == key.strip()
