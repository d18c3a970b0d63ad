"""Ask for the file a new spec is saved to. Dismisses with the path, or None when cancelled."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class SaveAsModal(ModalScreen[Path | None]):
    """A file name, relative to `folder` unless absolute; `.yml` is added when it has no suffix.

    It does not ask about overwriting: the caller confirms that, so the question comes with the
    caller's wording and the caller can ask again.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    SaveAsModal #save-as-name { margin-top: 1; }
    """

    def __init__(self, what: str, folder: Path, default_name: str):
        super().__init__()
        self.what = what
        self.folder = folder
        self.default_name = default_name

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(f"Save the {self.what} as", classes="section-title", markup=False)
            yield Static(f"in {self.folder.resolve()}", classes="muted", markup=False)
            yield Input(self.default_name, id="save-as-name")
            yield Static("", id="save-as-error", classes="error-text", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Save (enter)", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._try_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self._try_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _try_save(self) -> None:
        name = self.query_one("#save-as-name", Input).value.strip()
        problem = None
        path = None
        if not name:
            problem = "Type a file name, e.g. " + self.default_name
        else:
            path = Path(name).expanduser()
            if not path.is_absolute():
                path = self.folder / path
            if not path.suffix:
                path = path.with_suffix(".yml")
            if path.is_dir():
                problem = f"{path} is a folder; type a file name"
            elif not path.parent.is_dir():
                problem = f"There is no folder {path.parent}"
        if problem:
            self.query_one("#save-as-error", Static).update(problem)
            return
        self.dismiss(path)
