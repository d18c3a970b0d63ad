"""plotext charts of latency percentiles against request rate, shared by the TUI and results folder.

plotext draws on one global figure, so every use goes through `_LOCK`.
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from typing import Iterable

from .stats import PhaseStats, pkey

_LOCK = threading.Lock()
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
TITLES = {"ttft_ms": "TTFT (ms)", "e2e_ms": "end-to-end latency (ms)"}


def _series(phases: Iterable[PhaseStats], metric: str, percentile: float) -> tuple[list, list]:
    xs, ys = [], []
    for ph in phases:
        value = ph.metrics[metric].get(pkey(percentile))
        if value is not None:
            xs.append(ph.target_rps)
            ys.append(value)
    return xs, ys


def _draw(plt, phases: list[PhaseStats], percentiles: list[float], metrics: list[str],
          width: int, height: int, colour: bool) -> None:
    plt.clear_figure()
    plt.subplots(len(metrics), 1)
    plt.plotsize(width, height)
    for row, metric in enumerate(metrics, start=1):
        plt.subplot(row, 1)
        if not colour:
            plt.theme("clear")
        plt.title(TITLES.get(metric, metric) + " by request rate")
        plt.xlabel("target req/s")
        any_points = False
        for p in percentiles:
            xs, ys = _series(phases, metric, p)
            if xs:
                plt.plot(xs, ys, label=pkey(p), marker="braille")
                plt.scatter(xs, ys, marker="dot")
                any_points = True
        if not any_points:
            plt.text("no finished requests yet", 0.5, 0.5)
        rates = [ph.target_rps for ph in phases]
        if rates:
            plt.xticks(rates, [f"{r:g}" for r in rates])


def render(phases: list[PhaseStats], percentiles: list[float], metrics: list[str] | None = None,
           width: int = 100, height: int = 30, colour: bool = True) -> str:
    """The chart as a string (ANSI colours when `colour`)."""
    import plotext as plt

    with _LOCK:
        _draw(plt, phases, percentiles, metrics or list(TITLES), width, height, colour)
        out = plt.build()
        plt.clear_figure()
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
