"""A run suite the form cannot hold (an observation, a search) edited as its YAML text, checked
as you type the way `tokenflood run` reads it (`file:line: key: message`); ctrl+s saves the text
as written, comments and all.

Why a text editor and not the form: the suite editor's form is a load test's (rates, phase
length, arrival); an observation's polls and a search's bracket and SLO would each need a form
of their own, and the file already says everything in the words docs/config.md uses.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static, TextArea

from ...errors import ConfigError
from ...specs import ObservationSuite, RunSuite, SearchSuite, parse_run_suite
from ...specs.loader import salvage_yaml
from ..messages import SpecSaved
from ..widgets.form import Note
from .confirm import ConfirmModal

TEXT_KINDS = ("observation", "search")     # the suite kinds this editor is for
SESSION_KEYS = ("session_types", "sessions_per_second_rates")    # ... and a session suite's keys
CHECK_DEBOUNCE_S = 0.25


def suite_kind(text: str) -> str | None:
    """The `type:` a suite's text names, read leniently (the lines before a syntax error count)."""
    raw, _ = salvage_yaml(text)
    kind = raw.get("type") if isinstance(raw, dict) else None
    return kind if isinstance(kind, str) else None


def holds_sessions(text: str) -> bool:
    """Whether a suite's text sends sessions, read leniently as suite_kind reads it."""
    raw, _ = salvage_yaml(text)
    return isinstance(raw, dict) and any(key in raw for key in SESSION_KEYS)


def edits_as_text(path: Path) -> bool:
    """Whether `path` holds a suite the form cannot edit: an observation, a search, or a
    session suite (the form holds load types and their rates only: it would add a default
    load type beside the sessions, and the file could never be saved)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return suite_kind(text) in TEXT_KINDS or holds_sessions(text)


class SuiteTextEditor(Screen):
    """Edit `path` as text: ctrl+s saves (when it loads), esc leaves (asks if unsaved)."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="text-editor-save"),
        # priority: the text area would take Esc to let go of the focus (Tab indents there)
        Binding("escape", "leave", "Back", id="text-editor-leave", priority=True),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    DEFAULT_CSS = """
    SuiteTextEditor {
        #editor-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
        #editor-body { height: 1fr; }
        #suite-text { width: 1fr; height: 1fr; }
        #editor-panel { width: 52; padding: 0 1; border-left: wide $panel; }
        .panel-title { text-style: bold; color: $accent; margin-top: 1; }
        #check-ok { color: $success; }
        &.-narrow {
            #editor-body { layout: vertical; }
            #editor-panel { width: 1fr; height: auto; max-height: 7; border-left: none;
                            border-top: wide $panel; }
            .panel-title { margin-top: 0; }
        }
    }
    """

    def __init__(self, path: Path, workdir: Path):
        super().__init__()
        self.path = Path(path)
        self.workdir = Path(workdir)
        try:
            self.saved_text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.saved_text = ""
            self.read_error: str | None = f"{self.path}: cannot read: {exc}"
        else:
            self.read_error = None
        # for the title
        self.kind = suite_kind(self.saved_text) or (
            "session" if holds_sessions(self.saved_text) else "run")
        self.suite: RunSuite | None = None       # what the text loads as, while it does
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Note("…", id="editor-title")
        with Horizontal(id="editor-body"):
            yield TextArea.code_editor(self.saved_text, language="yaml", soft_wrap=False,
                                       id="suite-text")
            with VerticalScroll(id="editor-panel"):
                yield Static("Check", classes="panel-title", markup=False)
                yield Note(id="check-errors", classes="error-text")
                yield Note(id="check-ok")
        yield Footer()

    def on_mount(self) -> None:
        self.check()
        self.query_one("#suite-text", TextArea).focus()

    # ------------------------------------------------------------------ checking

    @property
    def text(self) -> str:
        return self.query_one("#suite-text", TextArea).text

    @property
    def has_unsaved_changes(self) -> bool:
        return self.text != self.saved_text

    @on(TextArea.Changed)
    def _changed(self) -> None:
        self._update_title()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(CHECK_DEBOUNCE_S, self.check)

    def check(self) -> None:
        """Load the text as `tokenflood run` would; say what is wrong, line by line, or what
        the suite does."""
        self._timer = None
        errors = self.query_one("#check-errors", Note)
        ok = self.query_one("#check-ok", Note)
        try:
            self.suite = parse_run_suite(self.text, self.path.name)
        except ConfigError as exc:
            self.suite = None
            errors.say(self.read_error or str(exc))
            ok.say("")
        else:
            errors.say("")
            ok.say(f"✓ valid\n{_plan(self.suite)}")
        self._update_title()

    def _update_title(self) -> None:
        try:
            where = str(self.path.resolve().relative_to(self.workdir.resolve()))
        except ValueError:
            where = str(self.path)
        dirty = "   ● unsaved changes" if self.has_unsaved_changes else ""
        self.query_one("#editor-title", Note).say(f"{self.kind} suite (text) — {where}{dirty}")

    # ------------------------------------------------------------------ save and leave

    def action_save(self) -> None:
        self.check()
        if self.suite is None:
            self.notify("Not saved: the suite does not load (see Check).", severity="error")
            return
        text = self.text
        try:
            self.path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.notify(f"Not saved: {exc}", severity="error", markup=False)
            return
        self.saved_text = text
        self._update_title()
        self.app.post_message(SpecSaved(self.path, "run"))
        self.notify(f"Saved {self.path.name}", markup=False)

    def action_leave(self) -> None:
        if not self.has_unsaved_changes:
            self._leave()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self._leave()

        self.app.push_screen(ConfirmModal(
            "Discard unsaved changes?", "The suite has edits that are not saved (ctrl+s "
            "saves).", yes="Discard", no="Keep editing"), answered)

    def _leave(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()     # opened by `tokenflood edit FILE`: the only screen

    def palette_commands(self):
        return [("Save the suite", "Write the text to the file (ctrl+s)", self.action_save),
                ("Leave the editor", "Back to the previous screen (esc)", self.action_leave)]


def _plan(suite: RunSuite) -> str:
    """What the suite does, in a line or two."""
    if isinstance(suite, ObservationSuite):
        return (f"observation: {suite.num_requests} requests within {suite.within_seconds:g} s "
                f"every {suite.polling_interval_minutes:g} min for {suite.duration_hours:g} h "
                f"({suite.polls} polls)")
    sessions = (f"\nsession types: {', '.join(t.name for t in suite.session_types)}"
                if suite.sessions else "")
    if isinstance(suite, SearchSuite):
        return (f"search: SLO {suite.slo.text()}, from {suite.start_rps:g} up to "
                f"{suite.max_rps:g} {suite.unit}, {suite.phase_seconds:g} s phases" + sessions)
    rates = ", ".join(f"{r:g}" for r in suite.rates)
    return (f"load test: rates {rates} {suite.unit}, {suite.test_length_in_seconds:g} s each"
            + sessions)
