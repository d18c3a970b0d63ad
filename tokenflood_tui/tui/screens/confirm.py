"""A yes/no question as a modal: y says yes, n or Esc says no, Enter presses the focused button.

Enter is deliberately not bound to "yes": a user who Tabs to the "no" button and presses Enter
must get "no". The safe answer has the focus when the dialog opens, so Enter alone never
discards work or stops a run; saying yes takes `y` or Tab to the yes button.
"""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

# Shown under the buttons of every dialog: how to move between them and press one.
BUTTON_HINT = "Tab or ←/→: next button   Enter: press the highlighted one"


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True (yes) or False (no). `focus` is the button Enter presses at first."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n", "answer(False)", "No", id="confirm-no"),
        Binding("escape", "answer(False)", "No", show=False),
        Binding("left", "app.focus_previous", "Previous button", show=False),
        Binding("right", "app.focus_next", "Next button", show=False),
        Binding("question_mark", "app.help", "Keys", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmModal #confirm-hint { margin-top: 1; }
    """

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", no: str = "No",
                 focus: Literal["yes", "no"] = "no"):
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes_label = yes
        self.no_label = no
        self.initial_focus = focus

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal-box"):
            yield Static(self.question, id="confirm-question", markup=False)
            if self.detail:
                yield Static(self.detail, id="confirm-detail", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(f"{self.yes_label} (y)", id="yes", variant="primary")
                yield Button(f"{self.no_label} (n)", id="no")
            yield Static(BUTTON_HINT, id="confirm-hint", classes="muted", markup=False)

    def on_mount(self) -> None:
        self.query_one(f"#{self.initial_focus}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
