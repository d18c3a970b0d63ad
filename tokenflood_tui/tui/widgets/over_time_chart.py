"""An observation's latency percentiles per poll against the time of day (charts.render_over_time),
drawn at the widget's size; `t` switches TTFT and e2e (and TTFA, once a model reasoned) as in the
by-rate chart. A poll the provider throttled is a ▲ on the 0 line, with its key.

It is drawn again only when a poll has finished (or the panel's size changed), at most twice a
second, with at most two points per column: with more polls than that, each point is the slowest
poll of its stretch (by the highest percentile shown), so a spike is never averaged away and a
three-day run costs no more to draw than a short one.
"""

from __future__ import annotations

import math

from ...outputs import charts
from ...outputs.folder import utc_iso
from ...metrics.summary import PhaseStats, PollStats, RateLimitStats
from .chart import METRIC_NAMES, LatencyChart


def sample(polls: list[PhaseStats], metric: str, percentile: float,
           limit: int) -> list[PhaseStats]:
    """At most `limit` polls, in order: the slowest of each equal stretch, marked throttled
    when any poll of its stretch was (a refusal is never sampled away either)."""
    if len(polls) <= limit:
        return polls
    size = math.ceil(len(polls) / limit)

    def slowest(ph: PhaseStats) -> float:
        value = ph.metric(metric).at(percentile)
        return -1.0 if value is None else value

    shown = []
    for i in range(0, len(polls), size):
        stretch = polls[i:i + size]
        pick = max(stretch, key=slowest)
        refused = sum(ph.rate_limits.throttled for ph in stretch if ph.rate_limits is not None)
        if refused and not charts.throttled(pick):
            pick = pick.model_copy(update={"rate_limits": RateLimitStats(throttled=refused)})
        shown.append(pick)
    return shown


class OverTimeChart(LatencyChart):
    """The by-rate chart's redraw and metric switch, over an observation's polls: PollStats from a
    summary (missed ones leave gaps), or a live run's PhaseStats placed on their slots from the
    run's anchor and interval."""

    DEFAULT_CSS = """
    OverTimeChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, percentiles: list[float], interval_s: float = 0.0, title_prefix: str = "",
                 **kwargs):
        super().__init__(percentiles, title_prefix=title_prefix, **kwargs)
        self.interval_s = interval_s
        self._anchor_utc: float | None = None
        self.draws = 0                         # for tests and the benchmark

    def set_polls(self, polls: list, anchor_utc: float | None = None) -> None:
        """Every poll so far; drawn at the next tick. Called when a poll finished, not for every
        snapshot."""
        self._anchor_utc = anchor_utc
        self.set_phases(polls)

    def _chart_text(self, width: int, height: int) -> str:
        self.draws += 1
        if all(getattr(p, "missed", None) for p in self._phases):
            return "no poll has finished yet"
        # a missed poll stays in (a gap in the lines); a stretch shows one only if all were missed
        shown = sample(self._phases, self.metric, self.percentiles[-1], limit=2 * width)
        return charts.render_over_time([self._poll(p) for p in shown], self.percentiles,
                                       [self.metric], width=width, height=height, colour=True)

    def _poll(self, ph: PhaseStats) -> PollStats:
        if isinstance(ph, PollStats):
            return ph
        # The chart reads a poll's number, slot, latencies, throttles and missed mark only.
        slot = (self._anchor_utc or 0.0) + (ph.phase - 1) * self.interval_s
        return PollStats.model_construct(phase=ph.phase, ttft_ms=ph.ttft_ms, e2e_ms=ph.e2e_ms,
                                         ttfa_ms=ph.ttfa_ms, reasoning=ph.reasoning,
                                         rate_limits=ph.rate_limits,
                                         slot_utc=utc_iso(slot, "seconds"), missed=None)

    def _title(self) -> str:
        other = METRIC_NAMES[self._next_metric()]
        return f"{self.title_prefix}{METRIC_NAMES[self.metric]} percentiles per poll · t: {other}"
