"""The latency-percentiles-by-rate chart (plotext), redrawn at most twice a second."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ...outputs import charts

METRIC_NAMES = {"ttft_ms": "TTFT", "ttfa_ms": "TTFA", "e2e_ms": "e2e"}


class LatencyChart(Static):
    """Plots the suite's percentiles of one metric against the target rate of each phase."""

    DEFAULT_CSS = """
    LatencyChart { height: 1fr; min-height: 10; }
    """
    metric: reactive[str] = reactive("ttft_ms")
    REDRAW_INTERVAL_S = 0.5

    def __init__(self, percentiles: list[float], title_prefix: str = "", **kwargs):
        super().__init__("", **kwargs)
        self.percentiles = percentiles
        self.title_prefix = title_prefix      # e.g. "3 " where a number key maximises the chart
        self._phases: list = []
        self._dirty = True
        self._drawn_size = (0, 0)

    def on_mount(self) -> None:
        self.border_title = self._title()
        self.set_interval(self.REDRAW_INTERVAL_S, self.redraw_if_needed)
        self.call_after_refresh(self.redraw_if_needed)

    def set_phases(self, phases: list) -> None:
        """New data (PhaseStats or summary.json phase dicts); drawn at the next tick."""
        self._phases = list(phases)
        self._dirty = True
        title = self._title()                 # `t` goes to TTFA too once a model reasoned
        if self.border_title != title:
            self.border_title = title

    def toggle_metric(self) -> None:
        self.metric = self._next_metric()

    def _next_metric(self) -> str:
        """TTFT → e2e → TTFT; TTFT → TTFA → e2e → TTFT once a model reasoned."""
        metrics = charts.charted(p for p in self._phases if hasattr(p, "reasoning"))
        at = metrics.index(self.metric) if self.metric in metrics else -1
        return metrics[(at + 1) % len(metrics)]

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
        self.update(Text.from_ansi(self._chart_text(*size)))

    def _chart_text(self, width: int, height: int) -> str:
        """The chart at this size, with ANSI colours (a subclass draws another chart)."""
        return charts.render(self._phases, self.percentiles, [self.metric], width=width,
                             height=height, colour=True)

    def _title(self) -> str:
        other = METRIC_NAMES[self._next_metric()]
        return f"{self.title_prefix}{METRIC_NAMES[self.metric]} percentiles by rate · t: {other}"
