"""What every live run view does the same way: the log with its pinned warnings, the status line
while the run prepares, stops or has ended, stopping, leaving, the results, the keys.

A view of a new run kind declares its panels (panels.py), composes them around `log_panel()`,
and writes only what is its own: `running_text` (how the run stands while it sends, first on
its status line), `ended_text` (how it ended), `show_snapshot` and `show_ended`.

Stopping asks first; in-flight requests get a few seconds and everything measured so far is
written to the results folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Sequence

from textual import on, work
from textual.binding import Binding, BindingType

from ...live.throttle import FailureThrottle
from ...metrics.thresholds import EXIT_THRESHOLD_FAILED, failed
from ...outputs.report import threshold_verdict
from ...run.events import RunEvent, describe
from ..messages import (LeaveScreen, RunEventMessage, RunExitCode, RunFinishedMessage,
                        RunSnapshotMessage)
from ..widgets.chart import LatencyChart
from ..widgets.log_panel import LogPanel
from .confirm import ConfirmModal
from .panels import Command, Panel, PanelScreen, back_bindings, panel_bindings

if TYPE_CHECKING:
    from ...metrics.summary import RunSummary
    from ...run.coordinator import RunSnapshot

    from ..run_controller import RunController

FAILED = "failed (see the log); q: quit"
WAITING = ": waiting for in-flight requests"


def live_bindings(prefix: str, panels: Sequence[Panel], chart: bool = True,
                  results: bool = True) -> list[BindingType]:
    """The panels' number keys (0 the overview), t to switch the chart's metric, s or ctrl+c to
    stop, r for the results, Esc (overview, then back), q."""
    keys = panel_bindings(prefix, panels)
    if chart:
        keys.append(Binding("t", "toggle_metric", "TTFT/e2e", id=f"{prefix}-toggle-chart"))
    keys += [Binding("s", "stop_run", "Stop run", id=f"{prefix}-stop"),
             Binding("ctrl+c", "stop_run", "Stop run", show=False, priority=True)]
    if results:
        keys.append(Binding("r", "open_results", "Results", id=f"{prefix}-results"))
    return keys + back_bindings(prefix)


class LiveRunScreen(PanelScreen):
    """Watches one RunController (an ExperimentController has what stopping and leaving need)."""

    KIND: ClassVar[str] = "run"             # what the view watches, as its lines name it
    STOP_COMMAND: ClassVar[tuple[str, str]] = ("Stop run",
                                               "Stop sending and keep the partial results")
    BEFORE_LOAD: ClassVar[str] = "the load started"     # "stopping before …" while preparing
    STOPPING: ClassVar[str] = "stopping"                # the note when the user stops the run
    # Below 32 rows the header goes (the status line names the run) and the log shrinks.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    # The rules every live view shares. Default CSS, not CSS_PATH: app CSS would outrank every
    # view's own rules, and a screen's CSS_PATH stays loaded for every screen after it.
    DEFAULT_CSS = resources.files(__package__).joinpath("live.tcss").read_text(encoding="utf-8")

    def __init__(self, controller: RunController, throttle: FailureThrottle):
        super().__init__()
        self.controller = controller
        self.throttle = throttle        # where this view counts the failures it does not show
        self.snapshot: RunSnapshot | None = None
        self._stop_logged = False
        self.stop_asked = False      # the user confirmed a stop: the next one is at once
        controller.target = self

    def log_panel(self, max_lines: int = 2000, pinned: int | None = None) -> LogPanel:
        """The log panel (its panel id is `log`), to compose."""
        return LogPanel(self.panel_title("log", "log"), max_lines=max_lines, pinned=pinned,
                        id="log-panel")

    def on_mount(self) -> None:
        # the events before this view was there; no more than its log keeps
        for ev in self.controller.events[-self.query_one(LogPanel).max_lines:]:
            self.show_event(ev)

    # ------------------------------------------------------------------ the status line

    def status_text(self) -> str:
        """How the run stands first, then what runs where: a narrow terminal cuts the end off."""
        endpoint = self.controller.endpoint
        return (self.stage_text() + f" — {self.KIND} {self.controller.suite.name!r} on "
                f"{endpoint.model} ({endpoint.provider})")

    def stage_text(self) -> str:
        snap = self.snapshot
        if self.controller.finished:
            result = self.controller.result
            if result is None:
                return FAILED
            return (self.ended_text(result.summary) + _thresholds_failed(result.summary)
                    + "; r: results, q: quit")
        if snap is None or snap.stage == "preparing":
            if snap is not None and snap.status is not None:
                return f"stopping before {self.BEFORE_LOAD}"
            return "warming up and calibrating…"
        return self.stopping_text(snap) or self.running_text(snap)

    def stopping_text(self, snap: RunSnapshot) -> str | None:
        """'stopping (why): waiting for in-flight requests' once the run is stopping, or None."""
        if snap.status is None:
            return None
        verb = "aborting" if snap.status == "aborted" else "stopping"
        return (verb + self.stopped_where() + (f" ({snap.message})" if snap.message else "")
                + WAITING)

    def running_text(self, snap: RunSnapshot) -> str:
        """How the run stands while it sends (a view of its own says it)."""
        return snap.stage

    def ended_text(self, summary: RunSummary) -> str:
        """How the run ended, before the keys' hint."""
        return summary.status + (f": {summary.message}" if summary.message else "")

    def stopped_where(self) -> str:
        """' at 13 s of 24 s' where a view can say how far the load got when it stopped."""
        return ""

    # ------------------------------------------------------------------ the log

    def write_log(self, level: str, text: str, pin: bool = True) -> None:
        self.query_one(LogPanel).add(level, text, pin)

    def show_event(self, ev: RunEvent) -> None:
        """A run event in the log, in the words of run/events.py, failures throttled as
        everywhere (live/throttle.py); the run's warnings are pinned."""
        shown = self.throttle.admit(ev)
        if shown is not None:
            self.write_log(*describe(shown))

    def log_stop(self, status: str, message: str | None) -> None:
        """How the run stopped, in the log once (the status line may cut it short)."""
        if self._stop_logged:
            return
        self._stop_logged = True
        self.write_log("error" if status == "aborted" else "warning",
                       status + self.stopped_where() + (f": {message}" if message else ""),
                       pin=False)

    def note_stopping(self) -> None:
        """Called once the user confirmed a stop."""
        self.stop_asked = True
        self.write_log("warning", f"{self.STOPPING}: no new requests; waiting for in-flight ones "
                                  "(s again: at once)", pin=False)

    # ------------------------------------------------------------------ messages from the run

    @on(RunEventMessage)
    def _on_run_event(self, message: RunEventMessage) -> None:
        self.show_event(message.event)

    @on(RunSnapshotMessage)
    def _on_run_snapshot(self, message: RunSnapshotMessage) -> None:
        snap = self.snapshot = message.snapshot
        if snap.status is not None:
            self.log_stop(snap.status, snap.message)
        self.show_snapshot(snap)

    @on(RunFinishedMessage)
    def _on_run_finished(self, message: RunFinishedMessage) -> None:
        summary = None if message.result is None else message.result.summary
        if summary is not None and not message.error and summary.status != "completed":
            self.log_stop(summary.status, summary.message)
        self.run_ended(message.exit_code, message.error,
                       None if summary is None else summary.status,
                       None if message.result is None else message.result.folder)
        self.show_ended(None if message.error else summary)
        self.refresh_bindings()

    def show_snapshot(self, snap: RunSnapshot) -> None:
        """How the run stands now (a few times a second)."""

    def show_ended(self, summary: RunSummary | None) -> None:
        """The run has ended: its summary, or None when it failed."""

    def run_ended(self, exit_code: int, error: str | None, status: str | None,
                  folder: Path | None) -> None:
        """What every live view does when its run has ended: the exit code; an error logged and
        shown, or how it ended and where the results are."""
        self.post_message(RunExitCode(exit_code))    # what quitting returns from now on
        kind = self.KIND.capitalize()
        if error:
            self.write_log("error", error)
            self.notify(error, title=f"{kind} failed", severity="error", markup=False, timeout=10)
        elif status is not None:
            failed = exit_code == EXIT_THRESHOLD_FAILED
            if failed:     # completed, yet the run fails (exit 4): said wherever the end is
                status += ", but thresholds failed (exit code 4)"
            self.write_log("warning" if failed else "info",
                           f"{self.KIND} {status}; results in {folder}", pin=False)
            self.notify(f"{status}: results in {folder}", title=f"{kind} finished", markup=False,
                        severity="warning" if failed else "information")

    # ------------------------------------------------------------------ keys and palette

    def palette_commands(self) -> list[Command]:
        """What the keys do: stop, the chart's metric, each panel, the results."""
        actions = {b.action for b in Binding.make_bindings(self.BINDINGS)}
        commands: list[Command] = [(*self.STOP_COMMAND, self.action_stop_run)]
        if "toggle_metric" in actions:
            commands.append(("Switch chart TTFT/e2e", "Toggle the chart's metric",
                             self.action_toggle_metric))
        commands += self.panel_commands()
        if "open_results" in actions:
            commands.append(("Open results", f"Summary of the finished {self.KIND}",
                             self.action_open_results))
        return commands

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "stop_run" and self.controller.finished:
            return False            # nothing to stop any more: not in the footer either
        return super().check_action(action, parameters)

    def action_toggle_metric(self) -> None:
        self.query_one(LatencyChart).toggle_metric()

    @work(group="run-stop", exclusive=True)
    async def action_stop_run(self) -> None:
        if not self.controller.running:
            return
        if self.stop_asked:      # already stopping: a second stop cuts the grace short
            self.write_log("warning", "stopping at once: requests in flight are recorded as "
                                      "cancelled", pin=False)
            self.controller.stop(now=True)
            return
        if await self.app.push_screen_wait(ConfirmModal(
                "Stop the run?", "In-flight requests get a few seconds; everything measured so far "
                "is written to the results folder.", yes="Stop run", no="Keep running")):
            self.note_stopping()
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
        self.post_message(LeaveScreen(self))

    def action_open_results(self) -> None:
        result = self.controller.result
        if result is None:
            self.notify("Results open when the run has finished.", severity="information")
            return
        from .results import ResultsScreen
        self.app.push_screen(ResultsScreen(result.folder))


def _thresholds_failed(summary: RunSummary) -> str:
    """' — ✗ thresholds: 1 of 4 failed: … (exit code 4)' when any failed, else ''."""
    verdict = threshold_verdict(summary) if failed(summary.thresholds) else None
    return f" — ✗ {verdict}" if verdict else ""
