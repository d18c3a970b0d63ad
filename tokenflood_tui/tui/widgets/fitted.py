"""An option list's item whose lines each keep to one row at any width: a line too wide is cut
with … in its text, never in its mark (● ✓) or its tail (a result's status, ↻). `str()` is the
whole text, as the item's prompt would be."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from textual.content import Content
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual

ELLIPSIS = "…"
KEEP_END = 0.6       # a name cut in the middle keeps this share of its end (…_anthropic.yml)


def _take(text: str, width: int, from_end: bool = False) -> str:
    """The first (or last) characters of `text` that fit in `width` cells."""
    chars = reversed(text) if from_end else iter(text)
    out: list[str] = []
    used = 0
    for char in chars:
        used += cell_len(char)
        if used > width:
            break
        out.append(char)
    return "".join(reversed(out) if from_end else out)


def cut(text: str, width: int, middle: bool = False) -> str:
    """`text` in at most `width` cells: cut at its end, or in its middle (file names: the end
    tells them apart), with …"""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    if not middle:
        return _take(text, room) + ELLIPSIS
    end = int(room * KEEP_END)
    return _take(text, room - end) + ELLIPSIS + _take(text, end, from_end=True)


@dataclass(frozen=True, slots=True)
class Line:
    text: str                        # what is cut when the row is too narrow
    mark: str = ""                   # kept before it
    tails: tuple[str, ...] = ()      # kept after it: the fullest that leaves the text room
    middle: bool = False             # cut in the middle rather than at the end

    @property
    def whole(self) -> str:
        return self.mark + self.text + (self.tails[0] if self.tails else "")

    def fit(self, width: int, min_text: int) -> str:
        if cell_len(self.whole) <= width:
            return self.whole
        tail = next((t for t in self.tails
                     if width - cell_len(self.mark + t) >= min_text), self.tails[-1]) \
            if self.tails else ""
        room = width - cell_len(self.mark + tail)
        if room <= 0:
            return cut(self.mark + tail, width)
        return self.mark + cut(self.text, room, self.middle) + tail


class FittedLines(Visual):
    """Rows that never wrap: each `Line` fitted to the width it is drawn at."""

    MIN_TEXT = 20        # cells of a line's text a longer tail must leave (a date and a time)

    def __init__(self, lines: list[Line]):
        self.lines = lines

    def __str__(self) -> str:
        return "\n".join(line.whole for line in self.lines)

    def fit(self, width: int) -> list[str]:
        return [line.fit(width, self.MIN_TEXT) for line in self.lines]

    def render_strips(self, width: int, height: int | None, style: Style,
                      options: RenderOptions) -> list[Strip]:
        return Content("\n".join(self.fit(width))).render_strips(width, height, style, options)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max((cell_len(line.whole) for line in self.lines), default=0)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.lines)
