"""The live run view: per-phase table and failures, latency sparklines, the rate chart, the log.

Four panels; the number keys 1-4 maximise one (as AIPerf's dashboard does), the same key, 0 or
Esc bring back the overview, so at 80x24 each panel can still be read whole. Rendering stays off
the timing path: snapshots arrive coalesced a few times a second and the chart redraws on a timer.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Footer, Header, Label, ProgressBar, Static

from ...run.coordinator import RunSnapshot
from ...metrics.summary import PhaseStats
from ...live.throttle import FailureThrottle
from ..messages import RunEventMessage, RunFinishedMessage, RunSnapshotMessage
from ..widgets.chart import LatencyChart
from .live import LiveRunScreen, live_bindings
from ..widgets.phase_table import PhaseTable
from ..widgets.run_log import RunLog
from ..widgets.sparks import SparkPanel

LOG_STYLES = {"error": "bold red", "warning": "yellow", "info": ""}
PANEL_IDS = {"phases": "#phases-panel", "latency": "#sparks", "chart": "#chart", "log": "#log-panel"}
TABLE_MARGIN = 4    # the phases panel's padding and room for a vertical scrollbar


class RunScreen(LiveRunScreen):
    PANELS = tuple(PANEL_IDS)
    """Watches one RunController; leaving or quitting mid-run asks, then stops and keeps results."""

    BINDINGS = live_bindings("run", [("phases", "Phases"), ("latency", "Latency sparklines"),
                                     ("chart", "Chart"), ("log", "Log")])
    # Below 32 rows the header goes (the status line names the run) and the log shrinks, so the
    # chart keeps enough rows to read.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    DEFAULT_CSS = """
    RunScreen.-short Header { display: none; }
    RunScreen #run-status { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    RunScreen #run-progress-row { height: 1; padding: 0 1; }
    RunScreen #run-progress-row ProgressBar { width: 1fr; }
    RunScreen #run-progress Bar { width: 1fr; }
    RunScreen #run-progress-row #run-eta { width: auto; margin-left: 2; }
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
    RunScreen #log-panel { height: 10; border: round $panel; }
    RunScreen.-short #log-panel { height: 5; }
    RunScreen #warnings { height: auto; max-height: 3; color: $warning; }
    RunScreen.-short #warnings { max-height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    RunScreen #log { height: 1fr; }

    /* one panel maximised (keys 1-4): the status and progress lines stay */
    RunScreen.-solo #phases-panel, RunScreen.-solo #run-middle, RunScreen.-solo #log-panel,
    RunScreen.-solo Header { display: none; }
    RunScreen.-solo-phases #phases-panel { display: block; height: 1fr; }
    RunScreen.-solo-phases #phases { max-height: 70%; }
    RunScreen.-solo-phases #failures { max-height: 100%; margin-top: 1; }
    RunScreen.-solo-phases #failures.-none { display: block; }
    RunScreen.-solo-latency #run-middle, RunScreen.-solo-chart #run-middle { display: block; }
    RunScreen.-solo-latency #chart, RunScreen.-solo-chart #sparks { display: none; }
    RunScreen.-solo-log #log-panel { display: block; height: 1fr; }
    RunScreen.-solo-log #warnings { max-height: 50%; }
    """

    def __init__(self, controller):
        super().__init__(controller, FailureThrottle("under the phases table (key 1)"))
        self.suite = controller.suite
        self.endpoint = controller.endpoint
        self.snapshot: RunSnapshot | None = None
        self.warnings: list[str] = []
        self._stop_logged = False
        self.total_s = self.suite.test_length_in_seconds * len(self.suite.requests_per_second_rates)

    def compose(self) -> ComposeResult:
        rates = self.suite.requests_per_second_rates
        yield Header()
        yield Static(self._title(), id="run-status", markup=False)
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="run-progress")
            yield Label("", id="run-eta", markup=False)
        with Vertical(id="phases-panel"):
            yield PhaseTable(rates, self.suite.percentiles, checks=bool(self.suite.thresholds),
                             id="phases")
            yield Static("no failures so far", id="failures", classes="-none", markup=False)
        with Horizontal(id="run-middle"):
            sparks = SparkPanel(rates, id="sparks")
            sparks.border_title = "2 latency now (median of the last 32)"
            yield sparks
            yield LatencyChart(self.suite.percentiles, title_prefix="3 ", id="chart")
        with Vertical(id="log-panel") as log_panel:
            log_panel.border_title = "4 log"
            warnings = Static("", id="warnings", markup=False)
            warnings.display = False
            yield warnings
            yield RunLog(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self._fit_table()
        for ev in self.controller.events:
            self.show_event(ev)

    def on_resize(self, event: Resize) -> None:
        self._fit_table()

    def _fit_table(self) -> None:
        table = self.query_one(PhaseTable)
        table.fit(self.size.width - TABLE_MARGIN)
        self.query_one("#phases-panel").border_title = "1 " + table.title()

    # ------------------------------------------------------------------ status and progress

    def _title(self) -> str:
        # how the run stands first: on a narrow terminal the end of the line is cut off
        return (self._stage_text() + f" — run {self.suite.name!r} on {self.endpoint.model} "
                f"({self.endpoint.provider})")

    def _stage_text(self) -> str:
        snap = self.snapshot
        if self.controller.finished:
            result = self.controller.result
            if result is None:
                return "failed (see the log); q: quit"
            s = result.summary
            if s.status == "completed":
                return "completed; r: results, q: quit"
            return (f"{s.status} at {self._stopped_at()}" + (f": {s.message}" if s.message else "")
                    + "; r: results, q: quit")
        if snap is None or snap.stage == "preparing":
            if snap is not None and snap.status is not None:
                return "stopping before the load started"
            return "warming up and calibrating…"
        if snap.status is not None:
            verb = "aborting" if snap.status == "aborted" else "stopping"
            return (f"{verb} at {self._stopped_at()}" + (f" ({snap.message})" if snap.message else "")
                    + ": waiting for in-flight requests")
        text = f"phase {snap.phase}/{snap.total_phases} {snap.stage}"
        current = snap.phases[-1] if snap.phases else None
        if current is not None and current.client_bound:
            text += f"  ⚠ CLIENT-BOUND: {current.client_bound_reason()}"
        return text

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
        current = snap.phases[-1] if snap.phases else None
        flying = f", {current.in_flight} in flight" if current and not current.finished else ""
        return f"{snap.elapsed_s:.0f} s elapsed, {snap.remaining_s:.0f} s of load left{flying}"

    def _show_progress(self) -> None:
        self.query_one("#run-progress", ProgressBar).update(total=self.total_s,
                                                            progress=self._load_sent_s())
        self.query_one("#run-eta", Label).update(self._eta_text())
        self.query_one("#run-status", Static).update(self._title())

    # ------------------------------------------------------------------ messages from the run

    @on(RunSnapshotMessage)
    def _on_snapshot(self, message: RunSnapshotMessage) -> None:
        snap, previous = message.snapshot, self.snapshot
        self.snapshot = snap
        if snap.status is not None and (previous is None or previous.status is None):
            self._log_stop(snap.status, snap.message)   # the status line may cut it short
        running = snap.phase if snap.stage in ("running", "draining") else None
        self.query_one(PhaseTable).show(snap.phases, running, self.size.width - TABLE_MARGIN)
        self.query_one("#phases-panel").border_title = "1 " + self.query_one(PhaseTable).title()
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
            lines.append(f"✗ phase {ph.phase}: {ph.failed} of {done} failed "
                         f"({ph.failed / done:.0%})" + (f": {kinds}" if kinds else ""))
        failures = self.query_one("#failures", Static)
        failures.set_class(not lines, "-none")
        failures.update("\n".join(lines) or "no failures so far")

    @on(RunEventMessage)
    def _on_event(self, message: RunEventMessage) -> None:
        self.show_event(message.event)

    def _log(self, level: str, text: str, pin: bool = True) -> None:
        """A log line; the run's warnings (pin) are also kept above the log, as they matter after
        the lines scroll away. This screen's own notes (stopping, how it ended) are not pinned."""
        if level == "warning" and pin and text not in self.warnings:
            self.warnings.append(text)
            warnings = self.query_one("#warnings", Static)
            warnings.display = True
            warnings.update("\n".join(f"⚠ {w}" for w in reversed(self.warnings)))
            count = len(self.warnings)
            self.query_one("#log-panel").border_title = (
                f"4 log · ⚠ {count} warning{'s' if count > 1 else ''}")
        prefix = "" if level == "info" else f"{level}: "
        self.query_one("#log", RunLog).add(Text(prefix + text, style=LOG_STYLES.get(level, "")))

    def _log_stop(self, status: str, message: str | None) -> None:
        self._stop_logged = True
        self._log("error" if status == "aborted" else "warning",
                  f"{status} at {self._stopped_at()}" + (f": {message}" if message else ""),
                  pin=False)

    @on(RunFinishedMessage)
    def _on_finished(self, message: RunFinishedMessage) -> None:
        s = self.run_ended(message, "run")
        if s is not None:
            self.query_one(LatencyChart).set_phases(s.phases)
        self._show_progress()
        self.refresh_bindings()

    # ------------------------------------------------------------------ panels

    # ------------------------------------------------------------------ actions

    def action_toggle_metric(self) -> None:
        self.query_one(LatencyChart).toggle_metric()

    def note_stopping(self) -> None:
        self._log("warning", "stopping: no new requests; waiting for in-flight ones", pin=False)

    def palette_commands(self):
        return [("Stop run", "Stop sending and keep the partial results", self.action_stop_run),
                ("Switch chart TTFT/e2e", "Toggle the latency chart's metric", self.action_toggle_metric),
                ("Maximise the phases table", "Key 1 (again, 0 or Esc: overview)",
                 lambda: self.action_panel("phases")),
                ("Maximise the latency sparklines", "Key 2", lambda: self.action_panel("latency")),
                ("Maximise the chart", "Key 3", lambda: self.action_panel("chart")),
                ("Maximise the log", "Key 4", lambda: self.action_panel("log")),
                ("Open results", "Summary of the finished run", self.action_open_results)]
