"""The budget confirmation before every run: Enter or y starts, Esc or n cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...budget import BudgetEstimate
from ...specs import EndpointSpec, RunSuite


class BudgetModal(ModalScreen[bool]):
    """Shows the estimate and limits; a run over a limit cannot be confirmed."""

    BINDINGS = [
        Binding("y", "confirm", "Start run", id="budget-confirm"),
        Binding("enter", "confirm", "Start run", show=False, priority=True),
        Binding("n", "cancel", "Cancel", id="budget-cancel"),
        Binding("escape", "cancel", "Cancel", show=False),
    ]
    DEFAULT_CSS = """
    BudgetModal #budget-lines { margin: 1 0; }
    BudgetModal #budget-over { margin-bottom: 1; }
    """

    def __init__(self, estimate: BudgetEstimate, suite: RunSuite, endpoint: EndpointSpec):
        super().__init__()
        self.estimate = estimate
        self.suite = suite
        self.endpoint = endpoint

    @property
    def allowed(self) -> bool:
        return not self.estimate.over_limits

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="budget-box"):
            yield Static(f"Run {self.suite.name!r} against {self.endpoint.model} "
                         f"({self.endpoint.provider})?", classes="section-title", markup=False)
            yield Static("\n".join(self.estimate.lines()), id="budget-lines", markup=False)
            if not self.allowed:
                yield Static("Cannot start: " + "\n".join(self.estimate.over_limits),
                             id="budget-over", classes="error-text", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Start run (y)", id="start", variant="primary", disabled=not self.allowed)
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#start" if self.allowed else "#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        if not self.allowed:
            self.notify("Over a limit: " + "; ".join(self.estimate.over_limits), severity="error",
                        markup=False)
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
