"""What the endpoint and run-suite editors share: reading the file, validating as you type,
saving, and asking before unsaved changes are thrown away.

A subclass composes the form, turns it into the dict the YAML would hold (`form_data`), and says
which widget an error belongs to (`widgets_for_error`); the pydantic model does all the judging.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Iterable

from pydantic import BaseModel, ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Select, Static

from ...errors import ConfigError
from ...specs import to_yaml
from ...specs.loader import salvage_yaml
from ..messages import SpecSaved
from .confirm import ConfirmModal
from .save_as import SaveAsModal
from ..widgets.form import Note
from ..widgets.form_values import model_errors
from ..widgets.kv_editor import KeyValueEditor
from ..widgets.load_types import LoadTypesTable

ErrorList = list[tuple[tuple, str]]


class SpecEditorScreen(Screen):
    """Base of the spec editors. `path` None means a new file (a name is asked for on save);
    `workdir` is the folder paths are shown relative to and a new file is saved in."""

    KIND: ClassVar[str] = ""                    # "endpoint" | "run", as in SpecSaved
    WHAT: ClassVar[str] = ""                    # "endpoint spec" | "run suite"
    MODEL: ClassVar[type[BaseModel]]
    DEFAULT_FILE_NAME: ClassVar[str] = ""
    ALIASES: ClassVar[set[str]] = set()         # other names the model accepts for a key
    # Side panel when there is room, below the form on narrow terminals (80×24 over SSH).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    AUTO_FOCUS = "#f-name"

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="editor-save"),
        Binding("escape", "leave", "Back", id="editor-leave"),
    ]

    DEFAULT_CSS = """
    SpecEditorScreen {
        #editor-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
        #editor-body { height: 1fr; }
        #editor-form { width: 1fr; padding: 1 1 0 1; }
        #editor-panel { width: 52; padding: 0 1; border-left: wide $panel; }
        .panel-title { text-style: bold; color: $accent; margin-top: 1; }
        #check-ok { color: $success; }
        Select.-invalid > SelectCurrent { background-tint: $error 35%; }
        &.-narrow {
            #editor-body { layout: vertical; }
            #editor-panel { width: 1fr; height: auto; max-height: 8; border-left: none;
                            border-top: wide $panel; }
            .panel-title { margin-top: 0; }
            #editor-form { padding: 0 1; }
            #check-title { display: none; }
            FieldRow { margin-bottom: 0; }
        }
    }
    """

    def __init__(self, path: Path | None, workdir: Path):
        super().__init__()
        self.path = Path(path) if path is not None else None
        self.workdir = Path(workdir)
        self.raw, self.file_problem = self._read_raw()
        self.spec: Any = None           # the model built from the form, while it is valid
        self.errors: ErrorList = []
        self._baseline: tuple | None = None
        self._ready = False

    # ------------------------------------------------------------------ subclass hooks

    def compose_form(self) -> ComposeResult:
        raise NotImplementedError

    def compose_panel(self) -> ComposeResult:
        """Extra panel sections under the check (probe result, budget preview)."""
        yield from ()

    def form_data(self) -> dict[str, Any]:
        """The dict the YAML would hold, built from what is typed."""
        raise NotImplementedError

    def form_problems(self) -> ErrorList:
        """Problems the model cannot see because the form loses them (e.g. duplicate keys)."""
        return []

    def widgets_for_error(self, loc: tuple, message: str) -> Iterable[Widget]:
        """The fields an error is about (marked `-invalid`)."""
        return []

    def after_check(self) -> None:
        """Called after every validation; `self.spec` is the valid model or None."""

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(name, help, callback) for the app's command palette."""
        return [
            (f"Save {self.WHAT}", "Write the file (ctrl+s)", self.action_save),
            ("Leave the editor", "Back to the previous screen (esc)", self.action_leave),
        ]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Note("…", id="editor-title")
        with Horizontal(id="editor-body"):
            # Not a tab stop itself: focusing a field scrolls it into view.
            with VerticalScroll(id="editor-form", can_focus=False):
                yield from self.compose_form()
            with VerticalScroll(id="editor-panel"):
                yield Static("Check", id="check-title", classes="panel-title")
                yield Note(id="check-errors", classes="error-text")
                yield Note(id="check-ok")
                if self.file_problem and self.path is not None:
                    # The loader names the file by its full path; the title already says which.
                    source = re.escape(str(self.path))
                    text = re.sub(rf"^{source}:(\d+):", r"line \1:", self.file_problem, flags=re.M)
                    text = re.sub(rf"^{source}: ", "", text, flags=re.M)
                    yield Static("The file as opened", id="file-problem-title",
                                 classes="panel-title")
                    yield Note(text, id="file-problem", classes="warning-text")
                yield from self.compose_panel()
        yield Footer()

    def on_mount(self) -> None:
        self._ready = True
        self.refresh_check()
        self._baseline = self.form_state()
        self._update_title()

    # ------------------------------------------------------------------ reading the file

    def _read_raw(self) -> tuple[dict[str, Any], str | None]:
        """The file's keys as written (to fill the form even when invalid) and what is wrong."""
        if self.path is None or not self.path.exists():
            return {}, None
        problem = None
        try:
            self.load(self.path)
        except ConfigError as exc:
            problem = str(exc)
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        raw, kept = salvage_yaml(text)
        if kept is not None:
            # Past a syntax error, an alias or too deep nesting: the form holds the lines
            # before it, and saving writes the form over the whole file.
            held = "line 1 says" if kept == 1 else f"lines 1-{kept} say"
            problem = (problem or "") + (
                f"\nThe form holds what {held}; saving writes the form over the whole file."
                if kept else "\nThe form starts empty; saving writes it over the whole file.")
        if not isinstance(raw, dict):
            # Not YAML, or not a mapping: the message says so; start from an empty form.
            return {}, problem
        known = set(self.MODEL.model_fields) | self.ALIASES
        dropped = [str(k) for k in raw if k not in known]
        if problem and dropped:
            problem += "\nNot kept when you save (the form has no field for them): " + ", ".join(
                dropped)
        return raw, problem

    @staticmethod
    def load(path: Path) -> Any:
        """Load and validate the file the way `tokenflood run` does (raises ConfigError)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ validation as you type

    @on(Input.Changed)
    @on(Select.Changed)
    @on(KeyValueEditor.RowsChanged)
    @on(LoadTypesTable.RowsChanged)
    def _form_changed(self) -> None:
        if self._ready:
            self.refresh_check()
            self._update_title()

    def validate_form(self) -> tuple[Any, ErrorList]:
        """(model, []) when the form is valid, else (None, errors)."""
        errors = self.form_problems()
        try:
            spec = self.MODEL.model_validate(self.form_data())
        except ValidationError as exc:
            return None, errors + model_errors(exc, self.MODEL)
        return (None, errors) if errors else (spec, [])

    def refresh_check(self) -> None:
        self.spec, self.errors = self.validate_form()
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        for loc, message in self.errors:
            for widget in self.widgets_for_error(loc, message):
                widget.add_class("-invalid")
        self.query_one("#check-errors", Note).say("\n".join(m for _, m in self.errors))
        self.after_check()

    def form_state(self) -> tuple:
        """Everything typed, in order: differs from the saved state exactly when work could be lost."""
        form = self.query_one("#editor-form")
        return tuple((w.id, type(w).__name__, w.value) for w in form.query("Input, Select")
                     if isinstance(w, (Input, Select)))

    @property
    def has_unsaved_changes(self) -> bool:
        return self._baseline is not None and self.form_state() != self._baseline

    def _update_title(self) -> None:
        if self.path is None:
            where = "new file, not saved yet"
        else:
            where = self._display_path(self.path)
            if not self.path.exists():
                where += " (new file)"
        dirty = "   ● unsaved changes" if self.has_unsaved_changes else ""
        self.query_one("#editor-title", Note).say(f"{self.WHAT} — {where}{dirty}")

    def _display_path(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.workdir.resolve()))
        except ValueError:
            return str(path)

    # ------------------------------------------------------------------ save

    def action_save(self) -> None:
        self._save_flow()

    @work(exclusive=True, group="save")
    async def _save_flow(self) -> None:
        self.refresh_check()
        if self.spec is None:
            count = len(self.errors)
            self.notify(f"Not saved: the form has {count} error{'s' * (count != 1)} "
                        "(listed under Check).", severity="error")
            return
        spec = self.spec
        path = self.path if self.path is not None else await self._ask_path()
        if path is None:
            return
        try:
            path.write_text(to_yaml(spec), encoding="utf-8")
        except OSError as exc:
            self.notify(f"Not saved: {exc}", severity="error", markup=False)
            return
        self.path = path
        self._baseline = self.form_state()
        self._forget_file_problem()
        self._update_title()
        self.app.post_message(SpecSaved(path, self.KIND))
        self.notify(f"Saved {self._display_path(path)}", markup=False)

    async def _ask_path(self) -> Path | None:
        folder = self.workdir
        default = self._free_name(folder)
        while True:
            path = await self.app.push_screen_wait(SaveAsModal(self.WHAT, folder, default))
            if path is None:
                return None
            if not path.exists():
                return path
            if await self.app.push_screen_wait(ConfirmModal(
                    f"{path.name} already exists. Overwrite it?", str(path), yes="Overwrite",
                    no="Choose another name")):
                return path
            default = path.name

    def _free_name(self, folder: Path) -> str:
        """endpoint.yml, or endpoint-2.yml, ... when that exists: the default never overwrites."""
        stem, suffix = self.DEFAULT_FILE_NAME.rsplit(".", 1)
        name, n = self.DEFAULT_FILE_NAME, 1
        while (folder / name).exists():
            n += 1
            name = f"{stem}-{n}.{suffix}"
        return name

    def _forget_file_problem(self) -> None:
        # Saved from a valid form: what was wrong with the old file no longer applies.
        self.file_problem = None
        for widget in self.query("#file-problem, #file-problem-title"):
            widget.remove()

    # ------------------------------------------------------------------ leave

    def action_leave(self) -> None:
        if not self.has_unsaved_changes:
            self._leave()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self._leave()

        self.app.push_screen(ConfirmModal(
            "Discard unsaved changes?", f"The {self.WHAT} has edits that are not saved (ctrl+s "
            "saves).", yes="Discard", no="Keep editing"), answered)

    def _leave(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            # Opened by `tokenflood edit FILE`: the editor is the only screen.
            self.app.exit()
