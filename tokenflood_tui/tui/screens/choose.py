"""One of a few choices as a modal: ↑/↓ and Enter (or the choice's number) pick it, Esc picks none.
The A/B views use it to open a variant's results."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

MAX_NUMBERED = 9


class ChooseModal(ModalScreen[Path | None]):
    """Dismisses with the value of the chosen line, or None (Esc)."""

    BINDINGS = [
        Binding("escape", "choose_none", "Cancel", id="choose-cancel"),
        *[Binding(str(n), f"choose_number({n})", "Choose", show=False)
          for n in range(1, MAX_NUMBERED + 1)],
        Binding("question_mark", "app.help", "Keys", show=False),
    ]
    DEFAULT_CSS = """
    ChooseModal #choose-box { width: 80; }
    ChooseModal #choose-title { text-style: bold; margin-bottom: 1; }
    ChooseModal OptionList { height: auto; max-height: 12; text-wrap: nowrap;
                             text-overflow: ellipsis; }
    ChooseModal #choose-hint { margin-top: 1; }
    """

    def __init__(self, title: str, choices: list[tuple[str, Path]]):
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="choose-box", classes="modal-box"):
            yield Static(self.title_text, id="choose-title", markup=False)
            yield OptionList(*[Option(Text(f"{i} {label}" if i <= MAX_NUMBERED else label),
                                      id=str(i))
                               for i, (label, _) in enumerate(self.choices, start=1)],
                             id="choose-list")
            yield Static("↑/↓ and Enter or the number: open   Esc: cancel", id="choose-hint",
                         classes="muted", markup=False)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose_number(int(event.option.id or 0))

    def action_choose_number(self, n: int) -> None:
        if 1 <= n <= len(self.choices):
            self.dismiss(self.choices[n - 1][1])

    def action_choose_none(self) -> None:
        self.dismiss(None)
