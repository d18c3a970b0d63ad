"""plotext charts of latency percentiles against request rate (load tests) and against time of
day (observations), shared by the TUI and the results folder.

Each chart gets its own plotext figure, so the run thread (results folder) and the UI thread
(live view) can draw at the same time.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from typing import Iterable

from .summary import PhaseStats, PollStats, pkey

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


def _draw(lines: dict[str, list[tuple[str, tuple[list, list]]]], title: str, xlabel: str,
          xticks: tuple[list, list[str]] | None, width: int, height: int):
    """A private plotext figure (plotext's module-level figure is shared state across threads):
    one subplot per metric, one line per percentile."""
    from plotext._figure import _figure_class

    fig = _figure_class()
    fig.subplots(len(lines), 1)
    fig.plotsize(width, height)
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


def over_time_figure(polls: list[PollStats], percentiles: list[float], metrics: list[str],
                     width: int, height: int):
    """Percentiles per poll against the time of day (UTC): hours since the first poll's slot,
    labelled with the clock time; missed polls leave gaps."""
    slots = [datetime.fromisoformat(p.slot_utc.replace("Z", "+00:00")) for p in polls]
    start = slots[0] if slots else None
    hours = [(t - start).total_seconds() / 3600.0 for t in slots] if start else []

    def series(metric: str, percentile: float) -> tuple[list, list]:
        xs, ys = [], []
        for x, poll in zip(hours, polls, strict=True):
            value = poll.metric(metric).at(percentile)
            if value is not None and not poll.missed:
                xs.append(x)
                ys.append(value)
        return xs, ys

    lines = {m: [(pkey(p), series(m, p)) for p in percentiles] for m in metrics}
    ticks = None
    if hours:
        step = max(1, len(hours) // 6)
        picked = list(range(0, len(hours), step))
        ticks = ([hours[i] for i in picked],
                 [slots[i].strftime("%H:%M:%S" if hours[-1] < 1 else "%H:%M" if hours[-1] < 24
                                    else "%d %H:%M") for i in picked])
    return _draw(lines, " per poll", "slot (UTC)", ticks, width, height)


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
