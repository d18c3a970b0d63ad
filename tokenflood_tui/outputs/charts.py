"""plotext charts of latency percentiles against request rate (load tests) and against time of
day (observations), shared by the TUI and the results folder.

Each chart gets its own plotext figure, so the run thread (results folder) and the UI thread
(live view) can draw at the same time.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterable

from ..metrics.summary import PhaseStats, PollStats, pkey

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
LINE_COLOURS = ["cyan", "yellow", "magenta", "green", "red", "blue"]
POINT_MARKERS = ["•", "x", "+", "*", "o", "#"]   # tell percentiles apart without colour
TITLES = {"ttft_ms": "TTFT (ms)", "e2e_ms": "end-to-end latency (ms)"}


def _series(phases: Iterable[PhaseStats], metric: str, percentile: float) -> tuple[list, list]:
    """(rates, values) of one percentile."""
    xs, ys = [], []
    for ph in phases:
        value = ph.metric(metric).at(percentile)
        if value is not None:
            xs.append(ph.target_rps)
            ys.append(value)
    return xs, ys


def _figure(phases: list[PhaseStats], percentiles: list[float], metrics: list[str], width: int,
            height: int):
    """Percentiles against the phases' target rates."""
    rates = sorted({ph.target_rps for ph in phases})
    lines = {m: [(pkey(p), _series(phases, m, p)) for p in percentiles] for m in metrics}
    return _draw(lines, " by request rate", "target req/s",
                 (rates, [f"{r:g}" for r in rates]) if rates else None, width, height)


def _new_figure(rows: int, width: int, height: int):
    """A private plotext figure of `rows` subplots at exactly width x height: plotext would
    shrink it to the terminal's size (80 columns without one, so a chart saved by a run under
    nohup, or drawn in the TUI's tests, came out narrower than asked)."""
    from plotext._figure import _figure_class

    fig = _figure_class()
    fig._limit_size(False, False)
    fig.subplots(rows, 1)
    fig.plotsize(width, height)
    return fig


def _draw(lines: dict[str, list[tuple[str, tuple[list, list]]]], title: str, xlabel: str,
          xticks: tuple[list, list[str]] | None, width: int, height: int):
    """A private plotext figure (plotext's module-level figure is shared state across threads):
    one subplot per metric, one line per percentile."""
    fig = _new_figure(len(lines), width, height)
    for row, (metric, series) in enumerate(lines.items(), start=1):
        plt = fig.subplot(row, 1)
        # "clear": no canvas colours, so the chart sits on the terminal's (or theme's) background;
        # lines use the 8 basic colours every terminal and theme has.
        plt.theme("clear")
        plt.title(TITLES.get(metric, metric) + title)
        plt.xlabel(xlabel)
        any_points = False
        for i, (label, (xs, ys)) in enumerate(series):
            if xs:
                color = LINE_COLOURS[i % len(LINE_COLOURS)]
                marker = POINT_MARKERS[i % len(POINT_MARKERS)]
                plt.plot(xs, ys, label=f"{label} {marker}", marker="braille", color=color)
                plt.scatter(xs, ys, marker=marker, color=color)
                any_points = True
        if not any_points:
            plt.text("no finished requests yet", 0.5, 0.5)
        if xticks is not None:
            plt.xticks(*xticks)
    return fig


# Tick spacings of the time axis: each divides a day, so ticks fall on round clock times (UTC)
# and midnight is always one of them.
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                43200, 86400)
TICK_GAP = 3            # columns between two tick labels at least
MARKER_EVERY_COLS = 4   # a poll's point marker at most every this many columns (long runs)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def time_ticks(start: datetime, end: datetime, width: int) -> tuple[list[datetime], list[str]]:
    """Round UTC clock times between `start` and `end`, as many as fit in `width` columns, and
    their labels: the clock time, with the date where a day begins (and on the first tick) when
    the run spans more than one day, so a three-day run reads "Dec 01 18:00, 00:00 ... Dec 02"."""
    span = (end - start).total_seconds()
    multi_day = start.date() != end.date()
    seconds = not multi_day and span < 600
    label_width = 6 if multi_day else 8 if seconds else 5     # "Dec 02", "10:15:30", "10:15"
    fit = max(2, width // (label_width + TICK_GAP))
    step = next((s for s in TICK_STEPS_S if span / s + 1 <= fit),
                86400 * (int(span / 86400 / fit) + 1))          # weeks: whole days
    first = -(-start.timestamp() // step) * step          # the first multiple of step at or after start
    ticks = []
    t = first
    while t <= end.timestamp() + 1e-6:
        ticks.append(datetime.fromtimestamp(t, UTC))
        t += step
    if not ticks:                                         # one poll, or a span shorter than a step
        ticks = [start]
    elif multi_day and span and (ticks[0] - start).total_seconds() / span * width >= 12 + TICK_GAP:
        ticks.insert(0, start)       # room before the first round time: say when the run began
    labels = []
    for i, tick in enumerate(ticks):
        midnight = tick.hour == tick.minute == tick.second == 0
        if not multi_day:
            labels.append(tick.strftime("%H:%M:%S" if seconds else "%H:%M"))
        elif i == 0 and not midnight:
            labels.append(tick.strftime("%b %d %H:%M"))
        elif midnight or step >= 86400:
            labels.append(tick.strftime("%b %d"))
        else:
            labels.append(tick.strftime("%H:%M"))
    return ticks, labels


def _segments(xs: list[float], values: list[float | None]) -> list[tuple[list, list]]:
    """Runs of consecutive polls with a value: a missed poll (or one where nothing succeeded)
    breaks the line, so a gap in the data is a gap in the chart."""
    runs: list[tuple[list, list]] = []
    current: tuple[list, list] | None = None
    for x, v in zip(xs, values, strict=True):
        if v is None:
            current = None
            continue
        if current is None:
            current = ([], [])
            runs.append(current)
        current[0].append(x)
        current[1].append(v)
    return runs


def over_time_figure(polls: list[PollStats], percentiles: list[float], metrics: list[str],
                     width: int, height: int):
    """Percentiles per poll against the time of day (UTC): x is hours since the first poll's
    slot, labelled with round clock times; missed polls leave gaps in the lines."""
    slots = [_utc(p.slot_utc) for p in polls]
    hours = [(t - slots[0]).total_seconds() / 3600.0 for t in slots] if slots else []
    fig = _new_figure(len(metrics), width, height)
    plot_width = width - 8                                # less the y axis labels
    marker_every = max(1, -(-len(polls) * MARKER_EVERY_COLS // max(plot_width, 1)))
    for row, metric in enumerate(metrics, start=1):
        plt = fig.subplot(row, 1)
        plt.theme("clear")                                # see _draw
        plt.title(TITLES.get(metric, metric) + " per poll")
        any_points = False
        for i, p in enumerate(percentiles):
            values = [None if poll.missed else poll.metric(metric).at(p) for poll in polls]
            color = LINE_COLOURS[i % len(LINE_COLOURS)]
            marker = POINT_MARKERS[i % len(POINT_MARKERS)]
            for k, (xs, ys) in enumerate(_segments(hours, values)):
                plt.plot(xs, ys, label=f"{pkey(p)} {marker}" if k == 0 else None,
                         marker="braille", color=color)
                any_points = True
            # markers tell the percentiles apart without colour; on a long run only every few
            # polls get one, or they would cover the lines
            picked = [(x, v) for j, (x, v) in enumerate(zip(hours, values, strict=True))
                      if v is not None and j % marker_every == 0]
            if picked:
                plt.scatter([x for x, _ in picked], [v for _, v in picked], marker=marker,
                            color=color)
        if not any_points:
            plt.text("no finished requests yet", 0.5, 0.5)
        if slots:
            ticks, labels = time_ticks(slots[0], slots[-1], plot_width - 12)
            plt.xticks([(t - slots[0]).total_seconds() / 3600.0 for t in ticks], labels)
            if hours[-1] > 0:
                plt.xlim(0, hours[-1])
            day = "" if slots[0].date() != slots[-1].date() else f", {slots[0]:%Y-%m-%d}"
            plt.xlabel(f"poll slot (UTC{day})")
    return fig


def render(phases: list[PhaseStats], percentiles: list[float], metrics: list[str] | None = None,
           width: int = 100, height: int = 30, colour: bool = True) -> str:
    """The chart as a string (ANSI colours when `colour`)."""
    out = _figure(phases, percentiles, metrics or list(TITLES), width, height).build()
    return out if colour else _ANSI.sub("", out)


def save(phases: list[PhaseStats], percentiles: list[float], folder: Path, title: str = "") -> None:
    """latency_quantiles.txt (plain text) and .html (a self-contained coloured page) in `folder`."""
    _write_pair(render(phases, percentiles, width=100, height=40, colour=True), folder,
                "latency_quantiles", title)

def render_over_time(polls: list[PollStats], percentiles: list[float],
                     metrics: list[str] | None = None, width: int = 100, height: int = 30,
                     colour: bool = True) -> str:
    out = over_time_figure(polls, percentiles, metrics or list(TITLES), width, height).build()
    return out if colour else _ANSI.sub("", out)


def save_over_time(polls: list[PollStats], percentiles: list[float], folder: Path,
                   title: str = "") -> None:
    """latency_over_time.txt and .html: TTFT and e2e percentiles per poll against time of day."""
    _write_pair(render_over_time(polls, percentiles, width=100, height=40), folder,
                "latency_over_time", title)


def _write_pair(coloured: str, folder: Path, stem: str, title: str) -> None:
    from rich.console import Console
    from rich.text import Text

    (folder / f"{stem}.txt").write_text(_ANSI.sub("", coloured) + "\n", encoding="utf-8")
    console = Console(record=True, width=102, file=io.StringIO(), color_system="truecolor")
    if title:
        console.print(title, style="bold")
    console.print(Text.from_ansi(coloured))
    (folder / f"{stem}.html").write_text(console.export_html(inline_styles=True), encoding="utf-8")


def render_compare(comparison, metrics: list[str] | None = None, width: int = 100,
                   height: int = 30, colour: bool = True) -> str:
    """Each run's percentiles by rate (or hour of day) over one another: a colour per run
    (A, B, ...), a point marker per percentile. `comparison` is a compare.Comparison."""
    metrics = [m for m in (metrics or ["ttft_ms", "e2e_ms"]) if m in comparison.metrics]
    hours = bool(comparison.cells) and comparison.cells[0].group_kind == "hour"
    fig = _new_figure(max(1, len(metrics)), width, height)
    xs_all = sorted({c.group_value for c in comparison.cells})
    for row, metric in enumerate(metrics, start=1):
        plt = fig.subplot(row, 1)
        plt.theme("clear")
        plt.title(TITLES.get(metric, metric) + (" by hour of day" if hours else " by request rate"))
        plt.xlabel("hour of day (UTC)" if hours else "target req/s")
        for r, _run in enumerate(comparison.runs):
            color = LINE_COLOURS[r % len(LINE_COLOURS)]
            for i, p in enumerate(comparison.percentiles):
                points = sorted((c.group_value, c.runs[r].value_ms) for c in comparison.cells
                                if c.metric == metric and c.percentile == p
                                and c.runs[r].value_ms is not None)
                if not points:
                    continue
                marker = POINT_MARKERS[i % len(POINT_MARKERS)]
                xs, ys = [x for x, _ in points], [y for _, y in points]
                plt.plot(xs, ys, label=f"{run_letter(r)} {pkey(p)} {marker}", marker="braille",
                         color=color)
                plt.scatter(xs, ys, marker=marker, color=color)
        if xs_all:
            plt.xticks(xs_all, [f"{int(x):02d}" if hours else f"{x:g}" for x in xs_all])
    out = fig.build()
    return out if colour else _ANSI.sub("", out)


def save_compare(comparison, folder: Path) -> None:
    """compare.txt and compare.html: the overlay chart of TTFT and e2e percentiles."""
    key = "  ".join(f"{run_letter(i)} = {r.name}" for i, r in enumerate(comparison.runs))
    _write_pair(render_compare(comparison, width=100, height=40), folder, "compare", key)


def run_letter(i: int) -> str:
    """A, B, ... Z, AA, AB: how tables and charts name the compared runs."""
    return chr(ord("A") + i) if i < 26 else run_letter(i // 26 - 1) + chr(ord("A") + i % 26)
