"""What every live run view does the same way: stop, leave, and open the results.

Stopping asks first; in-flight requests get a few seconds and everything measured so far is
written to the results folder. `live_bindings` gives every live view the same keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding

from ...live.throttle import FailureThrottle
from ...run.events import RunEvent, describe
from ..messages import LeaveScreen, RunExitCode
from .confirm import ConfirmModal
from .panels import PanelScreen

if TYPE_CHECKING:
    from ...metrics.summary import RunSummary
    from ..messages import RunFinishedMessage

    from ..run_controller import RunController


def live_bindings(prefix: str, panels: list[tuple[str, str]], chart: bool = True,
                  results: bool = True) -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    """Number keys for the view's panels (`panels`: id and label; 0 the overview), t to switch
    the chart's metric, s or ctrl+c to stop, r for the results, Esc (overview, then back), q."""
    first, *rest = panels
    keys: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
        Binding("1", f"panel('{first[0]}')", "Panels", key_display=f"1-{len(panels)}",
                id=f"{prefix}-panels")]
    keys += [Binding(str(i), f"panel('{panel}')", label, show=False)
             for i, (panel, label) in enumerate(rest, start=2)]
    keys.append(Binding("0", "overview", "Overview", show=False))
    if chart:
        keys.append(Binding("t", "toggle_metric", "TTFT/e2e", id=f"{prefix}-toggle-chart"))
    keys += [Binding("s", "stop_run", "Stop run", id=f"{prefix}-stop"),
             Binding("ctrl+c", "stop_run", "Stop run", show=False, priority=True)]
    if results:
        keys.append(Binding("r", "open_results", "Results", id=f"{prefix}-results"))
    keys += [Binding("escape", "overview", "Overview", id=f"{prefix}-overview"),
             Binding("escape", "leave", "Back", id=f"{prefix}-back"),
             Binding("q", "app.quit", "Quit", id=f"{prefix}-quit")]
    return keys


class LiveRunScreen(PanelScreen):
    """Watches one RunController; `note_stopping` lets the screen say so in its log."""

    def __init__(self, controller: RunController, throttle: FailureThrottle):
        super().__init__()
        self.controller = controller
        self.throttle = throttle        # where this view counts the failures it does not show
        controller.target = self

    def note_stopping(self) -> None:
        """Called once the user confirmed a stop."""

    def show_event(self, ev: RunEvent) -> None:
        """A run event in the log, in the words of run/events.py, failures throttled as
        everywhere (live/throttle.py); the run's warnings are pinned."""
        shown = self.throttle.admit(ev)
        if shown is not None:
            self._log(*describe(shown))

    # A live view that logs implements these two: its log, and how it says the run stopped.
    def _log(self, level: str, text: str, pin: bool = True) -> None:
        raise NotImplementedError

    def _log_stop(self, status: str, message: str | None) -> None:
        raise NotImplementedError

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "stop_run" and self.controller.finished:
            return False            # nothing to stop any more: not in the footer either
        return super().check_action(action, parameters)

    def report_exit_code(self, exit_code: int) -> None:
        """The run ended with `exit_code`: what quitting returns from now on (the app keeps it)."""
        self.post_message(RunExitCode(exit_code))

    def run_ended(self, message: RunFinishedMessage, kind: str,
                  title: str = "Run finished") -> RunSummary | None:
        """What every live view does when its run has ended: the exit code; an error logged and
        shown; or a stop not logged yet, and where the results are. The summary, or None."""
        self.report_exit_code(message.exit_code)
        if message.error:
            self._log("error", message.error)
            self.notify(message.error, title="Run failed", severity="error", markup=False,
                        timeout=10)
            return None
        if message.result is None:
            return None
        s = message.result.summary
        if s.status != "completed" and not getattr(self, "_stop_logged", False):
            self._log_stop(s.status, s.message)
        self._log("info", f"{kind} {s.status}; results in {message.result.folder}")
        self.notify(f"{s.status}: results in {message.result.folder}", title=title, markup=False)
        return s

    @work(group="run-stop", exclusive=True)
    async def action_stop_run(self) -> None:
        if not self.controller.running:
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
