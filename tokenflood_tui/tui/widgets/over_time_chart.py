"""An observation's percentiles per poll against the time of day (UTC), over every poll so far.

The chart is a fixed-size render: it is drawn again only when a poll has finished (or the panel's
size changed), at most twice a second, and draws at most two points per column. With more polls
than that, each point is the slowest poll of its stretch (by the highest percentile shown), so a
spike is never averaged away.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ... import charts
from ...results import utc_iso
from ...summary import PhaseStats, PollStats

METRIC_NAMES = {"ttft_ms": "TTFT", "e2e_ms": "e2e"}


def sample(polls: list[PhaseStats], metric: str, percentile: float,
           limit: int) -> list[PhaseStats]:
    """At most `limit` polls, in order: the slowest of each equal stretch."""
    if len(polls) <= limit:
        return polls
    size = math.ceil(len(polls) / limit)

    def slowest(ph: PhaseStats) -> float:
        value = ph.metric(metric).at(percentile)
        return -1.0 if value is None else value

    return [max(polls[i:i + size], key=slowest) for i in range(0, len(polls), size)]


class OverTimeChart(Static):
    DEFAULT_CSS = "OverTimeChart { height: 1fr; min-height: 8; }"
    metric: reactive[str] = reactive("ttft_ms")
    REDRAW_INTERVAL_S = 0.5

    def __init__(self, percentiles: list[float], interval_s: float, title_prefix: str = "",
                 **kwargs):
        super().__init__("", **kwargs)
        self.percentiles = percentiles
        self.interval_s = interval_s
        self.title_prefix = title_prefix
        self._polls: list[PhaseStats] = []     # finished polls (the snapshot's own list)
        self._anchor_utc: float | None = None
        self._dirty = True
        self._drawn_size = (0, 0)
        self.draws = 0                         # for tests and the benchmark

    def on_mount(self) -> None:
        self.border_title = self._title()
        self.set_interval(self.REDRAW_INTERVAL_S, self.redraw_if_needed)
        self.call_after_refresh(self.redraw_if_needed)

    def set_polls(self, polls: list[PhaseStats], anchor_utc: float | None) -> None:
        """Every finished poll so far (PhaseStats, or PollStats from a summary); drawn at the
        next tick. Called when a poll finished, not for every snapshot."""
        self._polls = polls
        self._anchor_utc = anchor_utc
        self._dirty = True

    def toggle_metric(self) -> None:
        self.metric = "e2e_ms" if self.metric == "ttft_ms" else "ttft_ms"

    def watch_metric(self) -> None:
        self.border_title = self._title()
        self._dirty = True
        self.redraw_if_needed()

    def redraw_if_needed(self) -> None:
        size = (self.content_size.width, self.content_size.height)
        if not self._dirty and size == self._drawn_size:
            return
        if size[0] < 20 or size[1] < 6 or not self.display:
            return
        self._dirty = False
        self._drawn_size = size
        self.draws += 1
        ran = [p for p in self._polls if not getattr(p, "missed", None)]
        if not ran:
            self.update(Text("no poll has finished yet", style="dim"))
            return
        shown = sample(ran, self.metric, self.percentiles[-1], limit=2 * size[0])
        text = charts.render_over_time([self._poll(p) for p in shown], self.percentiles,
                                       [self.metric], width=size[0], height=size[1], colour=True)
        self.update(Text.from_ansi(text))

    def _poll(self, ph: PhaseStats) -> PollStats:
        if isinstance(ph, PollStats):
            return ph
        # The chart reads a poll's number, slot, latencies and missed mark only.
        slot = (self._anchor_utc or 0.0) + (ph.phase - 1) * self.interval_s
        return PollStats.model_construct(phase=ph.phase, ttft_ms=ph.ttft_ms, e2e_ms=ph.e2e_ms,
                                         slot_utc=utc_iso(slot, "seconds"), missed=None)

    def _title(self) -> str:
        other = "e2e" if self.metric == "ttft_ms" else "TTFT"
        return f"{self.title_prefix}{METRIC_NAMES[self.metric]} per poll, all polls · t: {other}"
