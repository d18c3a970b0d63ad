"""plotext charts of latency percentiles against request rate, shared by the TUI and results folder.

Each chart gets its own plotext figure, so the run thread (results folder) and the UI thread
(live view) can draw at the same time.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable

from .summary import PhaseStats, pkey

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
    """A private plotext figure (plotext's module-level figure is shared state across threads)."""
    from plotext._figure import _figure_class

    fig = _figure_class()
    fig.subplots(len(metrics), 1)
    fig.plotsize(width, height)
    rates = sorted({ph.target_rps for ph in phases})
    for row, metric in enumerate(metrics, start=1):
        plt = fig.subplot(row, 1)
        # "clear": no canvas colours, so the chart sits on the terminal's (or theme's) background;
        # lines use the 8 basic colours every terminal and theme has.
        plt.theme("clear")
        plt.title(TITLES.get(metric, metric) + " by request rate")
        plt.xlabel("target req/s")
        any_points = False
        for i, p in enumerate(percentiles):
            xs, ys = _series(phases, metric, p)
            if xs:
                color = LINE_COLOURS[i % len(LINE_COLOURS)]
                marker = POINT_MARKERS[i % len(POINT_MARKERS)]
                plt.plot(xs, ys, label=f"{pkey(p)} {marker}", marker="braille", color=color)
                plt.scatter(xs, ys, marker=marker, color=color)
                any_points = True
        if not any_points:
            plt.text("no finished requests yet", 0.5, 0.5)
        if rates:
            plt.xticks(rates, [f"{r:g}" for r in rates])
    return fig


def render(phases: list[PhaseStats], percentiles: list[float], metrics: list[str] | None = None,
           width: int = 100, height: int = 30, colour: bool = True) -> str:
    """The chart as a string (ANSI colours when `colour`)."""
    out = _figure(phases, percentiles, metrics or list(TITLES), width, height).build()
    return out if colour else _ANSI.sub("", out)


def save(phases: list[PhaseStats], percentiles: list[float], folder: Path, title: str = "") -> None:
    """latency_quantiles.txt (plain text) and .html (a self-contained coloured page) in `folder`."""
    from rich.console import Console
    from rich.text import Text

    coloured = render(phases, percentiles, width=100, height=40, colour=True)
    (folder / "latency_quantiles.txt").write_text(_ANSI.sub("", coloured) + "\n", encoding="utf-8")
    console = Console(record=True, width=102, file=io.StringIO(), color_system="truecolor")
    if title:
        console.print(title, style="bold")
    console.print(Text.from_ansi(coloured))
    html = console.export_html(inline_styles=True)
    (folder / "latency_quantiles.html").write_text(html, encoding="utf-8")
