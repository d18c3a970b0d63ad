"""The live run view: per-phase table, latency sparklines, the rate chart, a log, progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, RichLog, Sparkline, Static

from ...engine import RunSnapshot
from ...summary import PhaseStats, pkey
from ..messages import RunFinishedMessage, RunLogMessage, RunSnapshotMessage
from ..widgets.chart import LatencyChart
from .confirm import ConfirmModal

if TYPE_CHECKING:
    from textual import getters

    from ..app import TokenfloodApp

SPARK_POINTS = 120   # samples kept per phase (4 a second: the last 30 s)
LOG_STYLES = {"error": "bold red", "warning": "yellow", "info": ""}


class PhaseSpark(Vertical):
    """One phase's latency over time (median of the most recent requests), TTFT and e2e."""

    DEFAULT_CSS = """
    PhaseSpark { height: 2; }
    PhaseSpark Horizontal { height: 1; }
    PhaseSpark Label { width: 24; }
    PhaseSpark Sparkline { width: 1fr; }
    """

    def __init__(self, phase: int, rate: float):
        super().__init__(id=f"spark-{phase}")
        self.phase = phase
        self.rate = rate
        self.series: dict[str, list[float]] = {"ttft": [], "e2e": []}

    def compose(self) -> ComposeResult:
        for name in self.series:
            with Horizontal():
                yield Label(self._label(name, None), id=f"label-{name}")
                yield Sparkline([], summary_function=max, id=f"line-{name}")

    def _label(self, name: str, value: float | None) -> str:
        head = f"{self.phase}: {self.rate:g}/s" if name == "ttft" else ""
        now = "" if value is None else f"{value:6.0f} ms"
        return f"{head:<10}{name:>4} {now}"

    def add(self, ttft: float | None, e2e: float | None) -> None:
        for name, value in (("ttft", ttft), ("e2e", e2e)):
            if value is None:
                continue
            values = self.series[name] = (self.series[name] + [value])[-SPARK_POINTS:]
            self.query_one(f"#line-{name}", Sparkline).data = list(values)
            self.query_one(f"#label-{name}", Label).update(self._label(name, value))


class RunScreen(Screen):
    """Watches one RunController; leaving or quitting mid-run asks, then stops and keeps results."""

    if TYPE_CHECKING:   # for the type checker only: self.app is the TokenfloodApp
        app = getters.app(TokenfloodApp)

    BINDINGS = [
        Binding("t", "toggle_metric", "TTFT/e2e chart", id="run-toggle-chart"),
        Binding("s", "stop_run", "Stop run", id="run-stop"),
        Binding("ctrl+c", "stop_run", "Stop run", show=False, priority=True),
        Binding("r", "open_results", "Results", id="run-results"),
        Binding("escape", "leave", "Back", id="run-back"),
        Binding("q", "app.quit", "Quit", id="run-quit"),
    ]
    DEFAULT_CSS = """
    RunScreen #run-status { height: 1; padding: 0 1; }
    RunScreen #run-progress-row { height: 1; padding: 0 1; }
    RunScreen #run-progress-row ProgressBar { width: 1fr; }
    RunScreen #run-progress-row #run-eta { width: auto; margin-left: 2; }
    RunScreen #phases { height: auto; max-height: 12; }
    RunScreen #run-middle { height: 1fr; }
    RunScreen #sparks { width: 2fr; border: round $primary; padding: 0 1; }
    RunScreen PhaseSpark { margin-bottom: 1; }
    RunScreen #chart { width: 3fr; border: round $primary; }
    RunScreen #log { height: 8; border: round $panel; }
    RunScreen #client-bound { height: auto; padding: 0 1; }
    """

    def __init__(self, controller):
        super().__init__()
        self.controller = controller
        controller.target = self
        self.suite = controller.suite
        self.endpoint = controller.endpoint
        self.snapshot: RunSnapshot | None = None
        self._rows: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._title(), id="run-status", markup=False)
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="run-progress")
            yield Label("", id="run-eta")
        yield DataTable(id="phases", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="run-middle"):
            with VerticalScroll(id="sparks") as sparks:
                sparks.border_title = "latency now (median of the last 32)"
                for i, rate in enumerate(self.suite.requests_per_second_rates, start=1):
                    yield PhaseSpark(i, rate)
            yield LatencyChart(self.suite.percentiles, id="chart")
        log = RichLog(id="log", markup=False, wrap=True, max_lines=2000)
        log.border_title = "log"
        yield log
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#phases", DataTable)
        pct = "/".join(pkey(p) for p in self.suite.percentiles)
        for key, label in (("phase", "phase"), ("target", "target/s"), ("achieved", "achieved/s"),
                           ("sent", "sent"), ("in_flight", "in flight"), ("done", "done"),
                           ("failed", "failed"), ("ttft", f"TTFT {pct} ms"),
                           ("e2e", f"e2e {pct} ms"), ("tps", "out tok/s"), ("cache", "cache hit")):
            table.add_column(label, key=key)
        for i, rate in enumerate(self.suite.requests_per_second_rates, start=1):
            table.add_row(str(i), f"{rate:g}", *["-"] * (len(table.columns) - 2), key=str(i))
        for level, text in self.controller.log_lines:
            self._log(level, text)

    def _title(self) -> str:
        return (f"run {self.suite.name!r} on {self.endpoint.model} ({self.endpoint.provider}) — "
                + self._stage_text())

    def _stage_text(self) -> str:
        if self.controller.finished:
            status = self.controller.result.summary.status if self.controller.result else "failed"
            return f"{status}; r: results, q: quit"
        snap = self.snapshot
        if snap is None or snap.stage == "preparing":
            return "warming up and calibrating…"
        text = f"phase {snap.phase}/{snap.total_phases} {snap.stage}"
        current = snap.phases[-1] if snap.phases else None
        if current is not None and current.client_bound:
            text += f"  ⚠ CLIENT-BOUND: {current.client_bound_reason()}"
        return text

    # ------------------------------------------------------------------ messages from the run

    @on(RunSnapshotMessage)
    def _on_snapshot(self, message: RunSnapshotMessage) -> None:
        snap = message.snapshot
        self.snapshot = snap
        table = self.query_one("#phases", DataTable)
        for ph in snap.phases:
            self._update_row(table, ph)
            if not ph.finished:
                self.query_one(f"#spark-{ph.phase}", PhaseSpark).add(ph.recent_ttft_ms,
                                                                     ph.recent_e2e_ms)
        self.query_one(LatencyChart).set_phases(snap.phases)
        total = sum(self.suite.test_length_in_seconds for _ in self.suite.requests_per_second_rates)
        done_s = max(0.0, total - snap.remaining_s)
        self.query_one("#run-progress", ProgressBar).update(total=total, progress=done_s)
        self.query_one("#run-eta", Label).update(
            f"{snap.elapsed_s:4.0f} s elapsed, {snap.remaining_s:4.0f} s of load left")
        self.query_one("#run-status", Static).update(self._title())

    def _update_row(self, table: DataTable, ph: PhaseStats) -> None:
        key = str(ph.phase)
        values = {
            "achieved": _f(ph.achieved_rps, 2), "sent": f"{ph.sent}/{ph.planned}",
            "in_flight": str(ph.in_flight), "done": str(ph.ok + ph.failed), "failed": str(ph.failed),
            "tps": _f(ph.output_tokens_per_s, 1),
            "cache": "-" if ph.cache_hit_rate is None else f"{ph.cache_hit_rate:.0%}",
        }
        for metric in ("ttft", "e2e"):
            dist = ph.metric(f"{metric}_ms")
            values[metric] = " / ".join(_f(dist[pkey(p)], 0) for p in self.suite.percentiles)
        for column, value in values.items():
            table.update_cell(key, column, value, update_width=True)

    @on(RunLogMessage)
    def _on_log(self, message: RunLogMessage) -> None:
        self._log(message.level, message.text)

    def _log(self, level: str, text: str) -> None:
        from rich.text import Text
        prefix = "" if level == "info" else f"{level}: "
        self.query_one("#log", RichLog).write(Text(prefix + text, style=LOG_STYLES.get(level, "")))

    @on(RunFinishedMessage)
    def _on_finished(self, message: RunFinishedMessage) -> None:
        self.app.exit_code = message.exit_code
        self.query_one("#run-status", Static).update(self._title())
        if message.error:
            self._log("error", message.error)
            self.notify(message.error, title="Run failed", severity="error", markup=False, timeout=10)
        elif message.result is not None:
            s = message.result.summary
            self._log("info", f"run {s.status}; results in {message.result.folder}")
            self.notify(f"{s.status}: results in {message.result.folder}", title="Run finished",
                        markup=False)
            self.query_one(LatencyChart).set_phases(s.phases)
        self.refresh_bindings()

    # ------------------------------------------------------------------ actions

    def action_toggle_metric(self) -> None:
        self.query_one(LatencyChart).toggle_metric()

    @work(group="run-stop", exclusive=True)
    async def action_stop_run(self) -> None:
        if not self.controller.running:
            return
        if await self.app.push_screen_wait(ConfirmModal(
                "Stop the run?", "In-flight requests get a few seconds; everything measured so far "
                "is written to the results folder.", yes="Stop run", no="Keep running")):
            self._log("warning", "stopping: no new requests; waiting for in-flight ones")
            self.controller.stop()

    @work(group="run-leave", exclusive=True)
    async def action_leave(self) -> None:
        if self.controller.running:
            if not await self.app.push_screen_wait(ConfirmModal(
                    "Leave and stop the run?", "The partial results are kept.", yes="Stop and leave",
                    no="Stay")):
                return
            self.controller.stop()
            await self.controller.wait_finished_async()
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit(self.app.exit_code, return_code=self.app.exit_code)

    def action_open_results(self) -> None:
        result = self.controller.result
        if result is None:
            self.notify("Results open when the run has finished.", severity="information")
            return
        from .results import ResultsScreen
        self.app.push_screen(ResultsScreen(result.folder))

    def palette_commands(self):
        return [("Stop run", "Stop sending and keep the partial results", self.action_stop_run),
                ("Switch chart TTFT/e2e", "Toggle the latency chart's metric", self.action_toggle_metric),
                ("Open results", "Summary of the finished run", self.action_open_results)]


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
