"""An observation's latency percentiles per poll against the time of day (charts.render_over_time),
drawn at the widget's size; `t` switches TTFT and e2e as in the by-rate chart."""

from __future__ import annotations

from ... import charts
from .chart import METRIC_NAMES, LatencyChart


class OverTimeChart(LatencyChart):
    """The by-rate chart's redraw and metric switch, over an observation's polls (PollStats:
    missed ones leave gaps)."""

    DEFAULT_CSS = """
    OverTimeChart { height: 1fr; min-height: 10; }
    """

    def set_polls(self, polls: list) -> None:
        self.set_phases(polls)

    def _chart_text(self, width: int, height: int) -> str:
        return charts.render_over_time(self._phases, self.percentiles, [self.metric], width=width,
                                       height=height, colour=True)

    def _title(self) -> str:
        other = "e2e" if self.metric == "ttft_ms" else "TTFT"
        return f"{self.title_prefix}{METRIC_NAMES[self.metric]} percentiles per poll · t: {other}"
