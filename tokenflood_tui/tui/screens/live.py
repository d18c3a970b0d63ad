"""What every live run view does the same way: stop, leave, and open the results.

Stopping asks first; in-flight requests get a few seconds and everything measured so far is
written to the results folder. (RunScreen has the same three actions of its own; it can take
these as they are by deriving from LiveRunScreen.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from .confirm import ConfirmModal
from .panels import PanelScreen

if TYPE_CHECKING:
    from textual import getters

    from ..app import TokenfloodApp
    from ..run_controller import RunController


class LiveRunScreen(PanelScreen):
    """Watches one RunController; `note_stopping` lets the screen say so in its log."""

    if TYPE_CHECKING:   # for the type checker only: self.app is the TokenfloodApp
        app = getters.app(TokenfloodApp)

    def __init__(self, controller: RunController):
        super().__init__()
        self.controller = controller
        controller.target = self

    def note_stopping(self) -> None:
        """Called once the user confirmed a stop."""

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
