"""The live run view: per-phase table and failures, latency sparklines, the rate chart, the log,
the server's own metrics beside the client's TTFT.

Five panels; the number keys 1-5 maximise one (as AIPerf's dashboard does), the same key, 0 or
Esc bring back the overview, so at 80x24 each panel can still be read whole. Below 32 rows the
overview leaves the server panel out (the chart keeps its rows; key 5 shows it, and the status
line keeps the server's latest figures). Rendering stays off the timing path: snapshots arrive
coalesced a few times a second and the chart and the server panel redraw on a timer.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Footer, Header, Label, ProgressBar, Static

from ...live.limits import headroom_text, throttled_text
from ...live.server import ServerFeed, ServerSeries, server_line
from ...live.throttle import FailureThrottle
from ...metrics.summary import PhaseStats, RunSummary
from ...run.coordinator import RunSnapshot
from ..widgets.chart import LatencyChart
from ..widgets.phase_table import PhaseTable
from ..widgets.server_panel import ServerPanel
from ..widgets.sparks import SparkPanel
from .live import LiveRunScreen, live_bindings
from .panels import Panel

TABLE_MARGIN = 4    # the phases panel's padding and room for a vertical scrollbar


class RunScreen(LiveRunScreen):
    """Watches one RunController; leaving or quitting mid-run asks, then stops and keeps results."""

    PANELS: ClassVar[tuple[Panel, ...]] = (
        Panel("phases", "Phases", "phases table", "#phases-panel"),
        Panel("latency", "Latency sparklines", "latency sparklines", "#sparks"),
        Panel("chart", "Chart", "chart", "#chart"),
        Panel("log", "Log", "log", "#log-panel"),
        Panel("server", "Server metrics", "server metrics", "#server-panel"))
    BINDINGS = live_bindings("run", PANELS)
    # Below 32 rows (-short) the log shrinks, so the chart keeps enough rows to read.
    DEFAULT_CSS = """
    RunScreen #phases-panel { height: auto; border-top: solid $primary; padding: 0 1; }
    RunScreen #phases { height: auto; max-height: 8; }
    RunScreen.-short #phases { max-height: 4; }
    RunScreen #failures { height: auto; max-height: 3; color: $error; }
    RunScreen.-short #failures { max-height: 1; }
    RunScreen #failures.-none { display: none; color: $text-muted; }
    RunScreen #run-middle { height: 1fr; }
    RunScreen #sparks { width: 2fr; border: round $primary; padding: 0 1;
                        scrollbar-size-vertical: 1; }
    RunScreen #chart { width: 3fr; border: round $primary; min-height: 8; }
    RunScreen #log-panel { height: 10; }
    RunScreen.-short #log-panel { height: 5; }
    RunScreen #server-panel { border: round $primary; padding: 0 1; }
    RunScreen.-short #server-panel { display: none; }

    /* one panel maximised (keys 1-4): the status and progress lines stay */
    RunScreen.-solo #phases-panel, RunScreen.-solo #run-middle { display: none; }
    RunScreen.-solo-phases #phases-panel { display: block; height: 1fr; }
    RunScreen.-solo-phases #phases { max-height: 70%; }
    RunScreen.-solo-phases #failures { max-height: 100%; margin-top: 1; }
    RunScreen.-solo-phases #failures.-none { display: block; }
    RunScreen.-solo-latency #run-middle, RunScreen.-solo-chart #run-middle { display: block; }
    RunScreen.-solo-latency #chart, RunScreen.-solo-chart #sparks { display: none; }
    RunScreen.-solo #server-panel { display: none; }
    RunScreen.-solo.-solo-server #server-panel { display: block; height: 1fr; }
    """

    def __init__(self, controller):
        super().__init__(controller, FailureThrottle(
            f"under the phases table (key {self.panel_key('phases')})"))
        self.suite = controller.suite
        self.total_s = self.suite.test_length_in_seconds * len(self.suite.rates)
        self.server = ServerFeed()       # the server's verdict for the running phase
        self.server_series = ServerSeries.for_endpoint(controller.endpoint)   # its panel

    def compose(self) -> ComposeResult:
        rates = self.suite.rates
        yield Header()
        yield Static(self.status_text(), id="run-status", classes="status-line", markup=False)
        with Horizontal(id="run-progress-row", classes="progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="run-progress")
            yield Label("", id="run-eta", classes="progress-note", markup=False)
        with Vertical(id="phases-panel"):
            yield PhaseTable(rates, self.suite.percentiles, checks=bool(self.suite.thresholds),
                             unit=self.suite.unit, id="phases")
            yield Static("no failures so far", id="failures", classes="-none", markup=False)
        yield from self.compose_below_phases()
        with Horizontal(id="run-middle"):
            sparks = SparkPanel(rates, id="sparks")
            sparks.border_title = self.panel_title("latency", "latency now (median of the last 32)")
            yield sparks
            yield LatencyChart(self.suite.percentiles, title_prefix=self.panel_title("chart"),
                               id="chart")
        yield self.server_panel()
        yield self.log_panel()
        yield Footer()

    def server_panel(self) -> ServerPanel:
        panel = ServerPanel(self.server_series, id="server-panel")
        panel.border_title = self.panel_title(
            "server", "server · queue, batch, KV cache, tokens/s beside the client's TTFT")
        return panel

    def compose_below_phases(self) -> ComposeResult:
        """Panels of a view of its own between the phases and the latency row."""
        yield from ()

    def on_mount(self) -> None:
        self._fit_table()

    def on_resize(self, event: Resize) -> None:
        self._fit_table()

    def _fit_table(self) -> None:
        table = self.query_one(PhaseTable)
        table.fit(self.size.width - TABLE_MARGIN)
        self.query_one("#phases-panel").border_title = self.panel_title("phases", table.title())

    # ------------------------------------------------------------------ status and progress

    def running_text(self, snap: RunSnapshot) -> str:
        text = f"phase {snap.phase}/{snap.total_phases} {snap.stage}" + self.sending_text(snap)
        current = snap.phases[-1] if snap.phases else None
        if current is not None and current.client_bound:
            text += f"  ⚠ CLIENT-BOUND: {current.client_bound_reason()}"
        if current is not None and (room := headroom_text(current)) is not None:
            text += f"  {room}"
        if snap.stage not in ("running", "draining"):
            return text
        said = self.server.said
        if said is not None and said.phase == snap.phase:
            text += f"  server {said.kind}: {said.why}"
        elif (server := server_line(snap.server)) is not None:
            text += f"  {server}"
        return text

    def sending_text(self, snap: RunSnapshot) -> str:
        """What a view of its own says after the phase on the status line."""
        return ""

    def ended_text(self, summary: RunSummary) -> str:
        if summary.status == "completed":
            return "completed"
        return (summary.status + self.stopped_where()
                + (f": {summary.message}" if summary.message else ""))

    def stopped_where(self) -> str:
        return f" at {self._stopped_at()}"

    def _load_sent_s(self) -> float:
        """Seconds of the planned load sent: frozen where the run was stopped, never 'all'."""
        snap = self.snapshot
        if snap is None:
            return 0.0
        if snap.status is not None:
            return snap.stopped_at_s or 0.0
        # a drained phase has sent all of its load, though its last arrival may come before its end
        return sum(ph.length_s if ph.finished else min(ph.elapsed_s, ph.length_s)
                   for ph in snap.phases)

    def _stopped_at(self) -> str:
        return f"{self._load_sent_s():.0f} s of {self.total_s:g} s"

    def _eta_text(self) -> str:
        snap = self.snapshot
        if snap is None:
            return ""
        if self.controller.finished and self.controller.result is not None:
            status = self.controller.result.summary.status
            if status == "completed":
                return f"{self.total_s:g} s of load sent in {snap.elapsed_s:.0f} s"
            return f"{'stopped' if status == 'interrupted' else status} at {self._stopped_at()}"
        if snap.status is not None:
            return f"stopped at {self._stopped_at()}"
        return (f"{snap.elapsed_s:.0f} s elapsed, {snap.remaining_s:.0f} s of load left"
                + self.in_flight_text(snap))

    def in_flight_text(self, snap: RunSnapshot) -> str:
        """', 3 in flight': what the running phase has under way."""
        current = snap.phases[-1] if snap.phases else None
        return f", {current.in_flight} in flight" if current and not current.finished else ""

    def _show_progress(self) -> None:
        self.query_one("#run-progress", ProgressBar).update(total=self.total_s,
                                                            progress=self._load_sent_s())
        self.query_one("#run-eta", Label).update(self._eta_text())
        self.query_one("#run-status", Static).update(self.status_text())

    # ------------------------------------------------------------------ what the run sends

    def show_snapshot(self, snap: RunSnapshot) -> None:
        self.server.update(snap)
        if self.server_series.update(snap):
            self.query_one(ServerPanel).changed()
        running = snap.phase if snap.stage in ("running", "draining") else None
        table = self.query_one(PhaseTable)
        table.show(snap.phases, running, self.size.width - TABLE_MARGIN)
        self.query_one("#phases-panel").border_title = self.panel_title("phases", table.title())
        self.query_one(SparkPanel).show(snap.phases, snap.stage, snap.status)
        self._show_failures(snap.phases)
        self.query_one(LatencyChart).set_phases(snap.phases)
        self._show_progress()

    def _show_failures(self, phases: list[PhaseStats]) -> None:
        """Failures by kind and HTTP status, the running (newest) phase first."""
        lines = []
        for ph in reversed(phases):
            if not ph.failed:
                continue
            done = ph.ok + ph.failed
            kinds = ", ".join(f"{e.label} ×{e.count}" for e in ph.errors)
            throttled = throttled_text(ph)
            lines.append(f"✗ phase {ph.phase}: {ph.failed} of {done} failed "
                         f"({ph.failed / done:.0%})" + (f": {kinds}" if kinds else "")
                         + (f" ({throttled})" if throttled else ""))
        failures = self.query_one("#failures", Static)
        failures.set_class(not lines, "-none")
        failures.update("\n".join(lines) or "no failures so far")

    def show_ended(self, summary: RunSummary | None) -> None:
        if summary is not None:
            self.query_one(LatencyChart).set_phases(summary.phases)
        self._show_progress()
