"""One self-contained HTML page: sections of facts, lines, tables and charts, with uPlot, its
stylesheet and the page's own script inlined, so the file opens from a disk or an artifact store
with no request leaving the machine.

A chart is data here (`Chart`, `Series`), handed to the page as JSON; `assets/report.js` draws it.
Everything written into the page is escaped; the JSON cannot close its script element.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from html import escape
from importlib import resources

from ..outputs.report import Table

ASSETS = ("uPlot.min.css", "report.css", "uPlot.iife.min.js", "report.js")
LIBRARY = "uPlot 1.6.32 (MIT, Leon Sorokin)"


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: a value (or None, a gap) per x value. `style` picks its colour, dash
    and marker together (the same index gives the same look in every chart of a page)."""

    label: str
    values: list[float | None]
    style: int
    line: bool = True           # False: markers only


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    xs: list[float]             # ascending; seconds since the epoch when `time`
    series: list[Series]
    time: bool = False          # x is a UTC wall-clock time
    x_ticks: list[str] | None = None    # a label for each x value (turn 1, 13:00, ...)
    digits: int = 1             # of the values shown on hover

    def spec(self) -> dict:
        return {"title": self.title,
                "x": {"label": self.x_label, "values": self.xs, "time": self.time,
                      **({"ticks": self.x_ticks} if self.x_ticks is not None else {})},
                "y": {"label": self.y_label, "digits": self.digits},
                "series": [{"label": s.label, "values": [_finite(v) for v in s.values],
                            "style": s.style, "line": s.line} for s in self.series]}


@dataclass
class Page:
    """A page built top to bottom: `h2` starts a section; the rest add to it."""

    title: str
    parts: list[str] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    _grid_open: bool = False

    def h1(self, text: str, status: str | None = None) -> None:
        badge = (f' <span class="status-{escape(status)}">{escape(status)}</span>'
                 if status else "")
        self._add(f"<h1>{escape(text)}{badge}</h1>")

    def h2(self, text: str) -> None:
        self._add(f'<h2 id="{_anchor(text)}">{escape(text)}</h2>')

    def h3(self, text: str) -> None:
        self._add(f"<h3>{escape(text)}</h3>")

    def facts(self, pairs: list[tuple[str, str]]) -> None:
        self._add('<dl class="facts">' + "".join(
            f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in pairs) + "</dl>")

    def lines(self, lines: list[str], kind: str = "lines") -> None:
        if lines:
            self._add(f'<ul class="lines {kind}">'
                      + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>")

    def links(self, links: list[tuple[str, str]]) -> None:
        """Links to other pages by relative path (a variant's report.html), followed only when
        clicked."""
        self._add('<ul class="lines">' + "".join(
            f'<li><a href="{escape(href, quote=True)}">{escape(text)}</a></li>'
            for text, href in links) + "</ul>")

    def note(self, text: str) -> None:
        self._add(f'<p class="note">{escape(text)}</p>')

    def table(self, table: Table, bad: tuple[str, ...] = ("FAIL", "SATURATED", "BOUND"),
              folded: str | None = None) -> None:
        """A table, figures right-aligned, its text columns left; a cell in `bad` stands out.
        `folded`: a long table behind this label, opened with a click (open when printed)."""
        text = table.text_columns

        def cls(i: int, cell: str = "") -> str:
            names = (["text"] if i in text else []) + (["bad"] if cell in bad else [])
            return f' class="{" ".join(names)}"' if names else ""
        head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(table.head))
        rows = "".join("<tr>" + "".join(f"<td{cls(i, c)}>{escape(c)}</td>"
                                        for i, c in enumerate(row)) + "</tr>"
                       for row in table.rows)
        html = (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table></div>")
        if folded:
            html = f"<details><summary>{escape(folded)}</summary>{html}</details>"
        self._add(html)

    def chart(self, chart: Chart) -> None:
        """A chart in the section's grid of charts (side by side where the page is wide)."""
        if not self._grid_open:
            self.parts.append('<div class="charts">')
            self._grid_open = True
        self.parts.append(f'<figure class="chart" data-chart="{len(self.charts)}">'
                          f"<figcaption>{escape(chart.title)}</figcaption>"
                          '<div class="plot"></div></figure>')
        self.charts.append(chart)

    def _add(self, html: str) -> None:
        self._close_grid()
        self.parts.append(html)

    def _close_grid(self) -> None:
        if self._grid_open:
            self.parts.append("</div>")
            self._grid_open = False

    def html(self, footer: str) -> str:
        self._close_grid()
        css, base_css, lib, script = (_asset(name) for name in ASSETS)
        specs = json.dumps([c.spec() for c in self.charts], separators=(",", ":"),
                           allow_nan=False)
        # no `</script>` (nor `<!--`) can end the data early
        specs = specs.replace("<", "\\u003c")
        return "\n".join([
            "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # nothing may be fetched: the page is its own file (no CDN, no fonts, no images)
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">",
            f"<title>{escape(self.title)}</title>",
            f"<style>{css}\n{base_css}</style>", "</head>", "<body>", *self.parts,
            f"<footer>{escape(footer)}; charts drawn with {LIBRARY}, inlined.</footer>",
            f'<script type="application/json" id="tokenflood-charts">{specs}</script>',
            f"<script>{lib}</script>", f"<script>{script}</script>", "</body>", "</html>", ""])


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _asset(name: str) -> str:
    return (resources.files(__package__) / "assets" / name).read_text(encoding="utf-8")


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
