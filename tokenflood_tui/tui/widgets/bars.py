"""Bars of latency from 0: the sparklines' and the poll timeline's one scale.

Latency is drawn from 0 up to the highest value shown, so 51 ms beside 53 ms are two nearly full
bars, not the lowest and the highest bar (scaling from the lowest to the highest value made a
2 ms wobble look like a cliff, and a constant series jump between levels).
"""

from __future__ import annotations

from typing import Callable, Sequence

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import Sparkline

BARS = "▁▂▃▄▅▆▇█"


def level(value: float, top: float, levels: int = len(BARS)) -> int:
    """0 .. levels-1: the bar whose height (level+1 of `levels`) is nearest `value`'s share of
    `top`, so 100 of 200 ms is a half-height bar; a value near 0 is the lowest bar."""
    if top <= 0:
        return levels - 1 if value > 0 else 0
    return max(1, min(levels, round(value / top * levels))) - 1


def columns(data: Sequence[float], width: int,
            summary: Callable[[Sequence[float]], float] = max) -> list[float]:
    """One value per column: with more points than columns each column is the `summary` of its
    share (the highest, so a spike is never averaged away), with fewer each point is stretched
    over its share of the width."""
    n = len(data)
    out = []
    for col in range(width):
        start = col * n // width
        out.append(summary(data[start:max(start + 1, (col + 1) * n // width)]))
    return out


class LatencySpark(Sparkline):
    """Textual's Sparkline (its colours, data and summary function), drawn from 0 to the highest
    value instead of from the lowest to the highest."""

    def render(self) -> Text:
        data = list(self.data or [])
        width, height = self.size.width, max(1, self.size.height)
        if not data or width <= 0:
            return Text("")
        _, base = self.background_colors
        low = (base + (self.min_color or self.get_component_styles("sparkline--min-color").color)
               ).rich_color
        high = (base + (self.max_color or self.get_component_styles("sparkline--max-color").color)
                ).rich_color
        values = columns(data, width, self.summary_function)
        top = max(values)
        steps = len(BARS) * height
        levels = [level(v, top, steps) for v in values]
        styles = [_style(low, high, v / top if top > 0 else 1.0) for v in values]
        out = Text(no_wrap=True, overflow="crop")
        for row in reversed(range(height)):       # the top row first
            floor = row * len(BARS)
            for lv, style in zip(levels, styles, strict=True):
                if lv < floor:
                    out.append(" ")
                else:
                    out.append(BARS[min(lv - floor, len(BARS) - 1)], style)
            if row:
                out.append("\n")
        return out


def _style(low: Color, high: Color, ratio: float) -> Style:
    """The colour `ratio` of the way from `low` to `high` (as Textual's Sparkline blends them);
    `high` itself where either is a terminal colour, which has no RGB value to blend."""
    if low.triplet is None or high.triplet is None:
        return Style(color=high)
    ratio = max(0.0, min(1.0, ratio))
    return Style(color=Color.from_rgb(*(a + (b - a) * ratio
                                        for a, b in zip(low.triplet, high.triplet, strict=True))))
