"""The server panel of the live run view: the server's queue, batch, KV cache, preemptions and
tokens/s, and the client's TTFT, one row each on one time axis (a column per scrape, about a
second), the phases marked on the axis above them (live/server.py keeps the series).

Each row is drawn from 0 up to its highest value shown (KV usage up to 100%), as the latency
sparklines are (bars.py): a queue of 1 beside one of 14 is a low bar, not a full one. A signal
the engine does not publish says "n/a" and draws nothing. Without metrics the panel is one
sentence saying why (wrapped to its width). Drawn at most twice a second, off the timing path.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...live.server import SIGNALS, ServerSeries, phase_axis, spread
from .bars import BARS, level

LABEL = 10          # 'tok/s out '
VALUE = 8           # '  100 ms'
HEAD = LABEL + VALUE + 1
MAX_ROWS = 4        # rows of a signal's bars when the panel is maximised


class ServerPanel(Static):
    COMPONENT_CLASSES = {"server-panel--bar", "server-panel--muted"}
    DEFAULT_CSS = """
    ServerPanel { height: auto; }
    ServerPanel > .server-panel--bar { color: $accent; }
    ServerPanel > .server-panel--muted { color: $text-muted; }
    """
    REDRAW_INTERVAL_S = 0.5

    def __init__(self, series: ServerSeries, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.series = series
        self._dirty = True
        self._drawn_size = (0, 0)
        self.draws = 0                   # for tests: how many times it drew,
        self.drawn = 0                   # and the scrapes of its latest drawing

    def on_mount(self) -> None:
        self.set_interval(self.REDRAW_INTERVAL_S, self.redraw_if_needed)
        self.call_after_refresh(self.redraw_if_needed)

    def changed(self) -> None:
        """The series has a new scrape: drawn at the next tick."""
        self._dirty = True

    def redraw_if_needed(self) -> None:
        size = (self.content_size.width, self.content_size.height)
        if (not self._dirty and size == self._drawn_size) or not self.display:
            return
        self._dirty = False
        self._drawn_size = size
        self.draws += 1
        self.drawn = len(self.series.points)
        self.update(self.text(size[0], size[1]))

    def text(self, width: int, height: int) -> Text:
        """The panel at this size: one line when there is nothing to draw, else the axis and a
        row per signal (more rows each when maximised)."""
        series = self.series
        muted = self.get_component_rich_style("server-panel--muted", partial=True)
        if series.off is not None:          # wrapped: what to set must not be cut off
            return Text(series.off, style=muted)
        if not series.points:
            return Text(series.waiting, style=muted)
        bar = self.get_component_rich_style("server-panel--bar", partial=True)
        span = max(1, width - HEAD)
        rows = max(1, min(MAX_ROWS, (height - 1) // len(SIGNALS)))
        gap = rows >= 3                  # maximised: a blank line keeps the signals apart
        rows -= gap
        out = Text(no_wrap=True, overflow="crop")
        out.append(f"{'phase':<{LABEL}}{'':>{VALUE}} ", muted)
        out.append(phase_axis(series.phases(), span), muted)
        for signal in SIGNALS:
            published = series.published(signal)
            out.append("\n\n" if gap else "\n")
            values = spread(series.values(signal), span) if published else []
            shown = [v for v in values if v is not None]
            top = signal.top or max(shown, default=0.0)
            for row in reversed(range(rows)):       # the top row first
                head = (f"{signal.label:<{LABEL}}{series.latest(signal):>{VALUE}} "
                        if row == 0 else " " * HEAD)      # on the bars' baseline
                out.append(head, None if published else muted)
                out.append(_bars(values, top, row, rows), bar)
                if row:
                    out.append("\n")
        return out


def _bars(values: list[float | None], top: float, row: int, rows: int) -> str:
    """Row `row` (0 at the bottom) of bars `rows` high, from 0 to `top`: a 0 or a missing
    scrape draws nothing, any other value at least the lowest bar."""
    steps = len(BARS) * rows
    floor = row * len(BARS)
    out = []
    for v in values:
        if not v or top <= 0:
            out.append(" ")
            continue
        lv = level(v, top, steps)
        out.append(" " if lv < floor else BARS[min(lv - floor, len(BARS) - 1)])
    return "".join(out)

