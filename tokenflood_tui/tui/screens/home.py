"""Home: the endpoint specs and run suites in the folder (and the samples), recent results; a
results folder whose run did not finish is marked ↻ and `u` goes on with it. Each result shows its
headline figure; space marks results (✓) and `c` compares the marked ones, the first marked as
the baseline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from ...outputs.charts import run_letter
from ...errors import ConfigError
from ...specs.secrets import redact_url
from ...outputs.journal import JOURNAL_FILE
from ...metrics.summary import SUMMARY_FILE
from ...specs import EndpointSpec, LoadTestSuite, ObservationSuite, RunSuite, SearchSuite
from ...workspace import RESUMABLE, ResultsEntry, SpecFile, find_results, find_specs
from ..messages import EndpointChosen, OpenEditor, SpecSaved, StartRun

if TYPE_CHECKING:
    from ...run.resume import ResumePoint


LIST_KINDS = {"endpoints": "endpoint", "suites": "run"}
CHOSEN = "● "        # marks the chosen endpoint and suite in their lists
MARKED = "✓ "        # marks the results to compare


class ResultsList(OptionList):
    """The recent results. Its own keys show in the footer while it has the focus: marking and
    comparing; the screen's e, n and s still work here, but leave the footer (they concern the
    spec lists, and at 80 columns the footer has no room for them and these too)."""

    BINDINGS = [
        Binding("space", "screen.toggle_mark", "Mark", id="results-mark"),
        Binding("c", "screen.compare", "Compare", id="results-compare"),
        Binding("e", "screen.edit", "", show=False),
        Binding("n", "screen.new_endpoint", "", show=False),
        Binding("s", "screen.new_suite", "", show=False),
    ]


class HomeScreen(Screen):
    """Choose one endpoint and one suite (Enter), then r runs them. `workdir` is the folder of
    spec files listed, `results_root` the folder of results."""

    BINDINGS = [
        Binding("enter", "choose", "Choose", id="home-choose"),
        Binding("r", "run", "Run", id="home-run"),
        Binding("u", "resume", "Resume", id="home-resume"),
        Binding("e", "edit", "Edit", id="home-edit"),
        Binding("n", "new_endpoint", "New endpoint", id="home-new-endpoint"),
        Binding("s", "new_suite", "New suite", id="home-new-suite"),
        # shown in the footer by the results list, where they apply (ResultsList)
        Binding("space", "toggle_mark", "Mark a result to compare (in Recent results)",
                id="home-mark", show=False),
        Binding("c", "compare", "Compare the marked results (the first is the baseline)",
                id="home-compare", show=False),
        Binding("f5", "refresh", "Refresh", id="home-refresh", show=False),   # in ? help
        Binding("q", "app.quit", "Quit", id="home-quit"),
    ]
    DEFAULT_CSS = """
    HomeScreen #lists { height: 1fr; }
    HomeScreen .column { width: 2fr; border: round $panel; }
    /* results names are long (time, suite, model) and carry a headline: more room */
    HomeScreen #results-column { width: 3fr; }
    HomeScreen .column:focus-within { border: round $primary; }
    HomeScreen OptionList { height: 1fr; border: none; }
    HomeScreen #selection { height: auto; padding: 0 1; text-style: bold; }
    HomeScreen #detail { height: 8; padding: 0 1; border: round $panel; }
    """

    def __init__(self, workdir: Path, results_root: Path):
        super().__init__()
        self.workdir = workdir
        self.results_root = results_root
        self.specs: list[SpecFile] = []
        self.results: list[ResultsEntry] = []
        self._resume_points = ResumePoints()
        self.chosen_endpoint: SpecFile | None = None
        self.chosen_suite: SpecFile | None = None
        self.marked: list[Path] = []         # results to compare, in the order marked

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="lists"):
            for list_id, title in (("endpoints", "Endpoints"), ("suites", "Run suites"),
                                   ("results", "Recent results")):
                with Vertical(classes="column", id=f"{list_id}-column") as column:
                    column.border_title = title
                    yield ResultsList(id=list_id) if list_id == "results" else \
                        OptionList(id=list_id)
        yield Static("", id="selection", markup=False)
        detail = Static("", id="detail", markup=False)
        detail.border_title = "details"
        yield detail
        yield Footer()

    def on_mount(self) -> None:
        # the folder name only: the full path is in the details pane of each file
        self.sub_title = f"folder {self.workdir.resolve().name or '/'}"
        self.action_refresh()
        self.query_one("#endpoints", OptionList).focus()

    # ------------------------------------------------------------------ lists

    def action_refresh(self) -> None:
        self.specs = find_specs(self.workdir)
        self.results = find_results(self.results_root)
        # keep choices across refreshes, by path
        self.chosen_endpoint = self._same(self.chosen_endpoint)
        self.chosen_suite = self._same(self.chosen_suite)
        if self.chosen_endpoint is None:
            self.chosen_endpoint = next((s for s in self.specs if s.kind == "endpoint" and s.spec
                                         and not s.sample), None)
        if self.chosen_suite is None:
            self.chosen_suite = next((s for s in self.specs if s.kind == "run" and s.spec
                                      and not s.sample), None)
        self._fill_specs()
        self.marked = [p for p in self.marked if any(r.path == p for r in self.results)]
        self._fill_results()
        self._show_selection()

    def _fill_results(self) -> None:
        # Text, not markup: "[completed]" would be taken for a style tag and vanish
        self._fill("results", [Option(Text(self._results_label(r)), id=str(r.path))
                               for r in self.results], "no results yet")

    def _results_label(self, entry: ResultsEntry) -> str:
        mark = MARKED if entry.path in self.marked else "  "
        return mark + entry.label + (f"\n    {entry.headline}" if entry.headline else "")

    def _fill_specs(self) -> None:
        # A file whose kind cannot be told (broken YAML, no telling keys) is in both lists.
        for list_id, kind in LIST_KINDS.items():
            files = [s for s in self.specs if s.kind in (kind, None)]
            self._fill(list_id, [Option(Text(self._label(f)), id=str(f.path)) for f in files],
                       "none here yet")

    def _label(self, spec_file: SpecFile) -> str:
        chosen = self._is_chosen(spec_file)
        mark = "⚠ " if spec_file.error else CHOSEN if chosen else "  "
        return mark + spec_file.label

    def _fill(self, list_id: str, options: list[Option], empty: str) -> None:
        """Refill a list, keeping its cursor where it was (or on the first item), so a list
        shows its cursor as soon as it has the focus."""
        option_list = self.query_one(f"#{list_id}", OptionList)
        keep = option_list.highlighted
        option_list.clear_options()
        option_list.add_options(options or [Option(empty, id="", disabled=True)])
        if options:
            option_list.highlighted = min(keep or 0, len(options) - 1)

    def _shown(self, path: Path) -> str:
        """A path as the user knows it: relative to the folder the home screen shows."""
        try:
            return str(path.resolve().relative_to(self.workdir.resolve()))
        except ValueError:
            return str(path)

    def _is_chosen(self, spec_file: SpecFile) -> bool:
        return any(c is not None and c.path == spec_file.path
                   for c in (self.chosen_endpoint, self.chosen_suite))

    def _same(self, chosen: SpecFile | None) -> SpecFile | None:
        if chosen is None:
            return None
        return next((s for s in self.specs if s.path == chosen.path and s.spec is not None), None)

    def _file(self, path: str) -> SpecFile | None:
        return next((s for s in self.specs if str(s.path) == path), None)

    def _highlighted(self) -> tuple[str, str | None]:
        focused = self.focused
        if isinstance(focused, OptionList) and focused.highlighted is not None:
            option = focused.get_option_at_index(focused.highlighted)
            return focused.id or "", option.id or None
        return (focused.id if focused else "") or "", None

    def _show_selection(self) -> None:
        ep = self.chosen_endpoint.label if self.chosen_endpoint else "(none: Enter on one)"
        su = self.chosen_suite.label if self.chosen_suite else "(none: Enter on one)"
        self.query_one("#selection", Static).update(
            f"{CHOSEN}endpoint: {ep}   suite: {su}   — r: run")
        spec = self.chosen_endpoint.spec if self.chosen_endpoint else None
        self.post_message(EndpointChosen(spec if isinstance(spec, EndpointSpec) else None))

    @on(OptionList.OptionHighlighted)
    def _highlighted_changed(self, event: OptionList.OptionHighlighted) -> None:
        # Refilling the other lists moves their cursors too: describe only the focused one.
        if event.option_list is self.focused:
            self._describe(event.option_list, event.option)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        widget = event.widget
        if isinstance(widget, OptionList) and widget.highlighted is not None:
            self._describe(widget, widget.get_option_at_index(widget.highlighted))

    def _describe(self, option_list: OptionList, option: Option) -> None:
        detail = self.query_one("#detail", Static)
        key = option.id or ""
        if option_list.id == "results":
            entry = next((r for r in self.results if str(r.path) == key), None)
            detail.update(_describe_results(entry, self._shown(entry.path), self._resume_points)
                          + "\n" + self._mark_line(entry.path) if entry else "")
            return
        spec_file = self._file(key)
        if spec_file is None:
            detail.update("")
        elif spec_file.error:
            unknown = ("" if spec_file.kind else "(listed as an endpoint and as a suite: its kind "
                       "cannot be told until it parses)\n")
            shown = self._shown(spec_file.path)
            error = spec_file.error.replace(str(spec_file.path), shown)
            detail.update(f"⚠ {shown}\n{error}\n{unknown}e: edit to fix it")
        else:
            chosen = "● chosen   " if self._is_chosen(spec_file) else ""
            detail.update(f"{self._shown(spec_file.path)}\n{_describe_spec(spec_file)}\n"
                          f"{chosen}Enter: choose   e: edit   Tab: next list")

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_choose()

    @on(SpecSaved)
    def _saved(self, event: SpecSaved) -> None:
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    # ------------------------------------------------------------------ actions

    def action_choose(self) -> None:
        list_id, key = self._highlighted()
        if not key:
            return
        if list_id == "results":
            from .results import ResultsScreen
            self.app.push_screen(ResultsScreen(Path(key)))
            return
        spec_file = self._file(key)
        if spec_file is None:
            return
        if spec_file.error:
            self.notify(f"{spec_file.label} is invalid; press e to fix it", severity="warning",
                        markup=False)
            return
        if spec_file.kind == "endpoint":
            self.chosen_endpoint = spec_file
        else:
            self.chosen_suite = spec_file
        self._fill_specs()         # moves the mark; the list's cursor stays (and redescribes)
        self._show_selection()

    def action_run(self) -> None:
        # chosen only when valid (action_choose), so the specs are what their lists say
        endpoint = self.chosen_endpoint.spec if self.chosen_endpoint else None
        suite = self.chosen_suite.spec if self.chosen_suite else None
        if not isinstance(endpoint, EndpointSpec) or not isinstance(suite, RunSuite):
            self.notify("Choose an endpoint and a run suite first (Enter on each).", severity="warning")
            return
        self.post_message(StartRun(suite, endpoint))

    def action_resume(self) -> None:
        """Go on with the highlighted results folder's run: the budget modal (what remains), then
        the live view. Why a folder cannot be resumed is a notification, from find_resume_point."""
        list_id, key = self._highlighted()
        if list_id != "results" or not key:
            self.notify(f"Highlight a results folder marked {RESUMABLE} (Tab to Recent "
                        "results), then u resumes it.", severity="information", markup=False)
            return
        from ...run.resume import find_resume_point
        try:
            point = find_resume_point(Path(key))
        except ConfigError as exc:
            self.notify(_said_here(exc, Path(key), self._shown(Path(key))),
                        title="Cannot resume", severity="error", markup=False, timeout=10)
            return
        self.post_message(StartRun(point.suite, point.endpoint, point))

    def _mark_line(self, folder: Path) -> str:
        n = len(self.marked)
        if folder not in self.marked:
            return "space: mark to compare" + (" (the first marked is the baseline)" if not n
                                               else f" ({n} marked)")
        i = self.marked.index(folder)
        return (f"{MARKED}marked as {run_letter(i)}" + (" (the baseline)" if i == 0 else "") +
                ("   c: compare the marked" if n >= 2 else "   mark another, then c compares")
                + "   space: unmark")

    def action_toggle_mark(self) -> None:
        """Mark the highlighted results folder to compare (again: unmark it)."""
        list_id, key = self._highlighted()
        if list_id != "results" or not key:
            self.notify("Tab to Recent results: space marks a results folder to compare, c "
                        "compares the marked ones.", severity="information", markup=False)
            return
        folder = Path(key)
        if folder in self.marked:
            self.marked.remove(folder)
        else:
            self.marked.append(folder)
        self._fill_results()        # the cursor stays, and the details are described again
        results = self.query_one("#results", OptionList)
        if results.highlighted is not None:
            self._describe(results, results.get_option_at_index(results.highlighted))

    def action_compare(self) -> None:
        """The compare screen on the marked results, in the order marked (the first is A, the
        baseline); it computes in a thread and writes a compare folder under the results dir."""
        if len(self.marked) < 2:
            have = f" ({len(self.marked)} marked)" if self.marked else ""
            self.notify(f"Mark two results folders with space (in Recent results), then c "
                        f"compares them; the first marked is the baseline{have}.",
                        title="Compare", severity="information", markup=False, timeout=8)
            return
        from .compare import CompareScreen
        self.app.push_screen(CompareScreen(list(self.marked), self.results_root))

    def action_edit(self) -> None:
        list_id, key = self._highlighted()
        spec_file = self._file(key) if key else None
        if spec_file is None:
            self.notify("Highlight an endpoint or suite to edit.", severity="information")
            return
        # a file of unknown kind opens in the editor of the list it was picked from
        self.post_message(OpenEditor(spec_file.path, spec_file.kind or LIST_KINDS.get(list_id)))

    def action_new_endpoint(self) -> None:
        self.post_message(OpenEditor(None, "endpoint"))

    def action_new_suite(self) -> None:
        self.post_message(OpenEditor(None, "run"))

    def palette_commands(self):
        return [("Run chosen endpoint and suite", "Budget check, then the live view", self.action_run),
                ("Resume highlighted results folder", "Go on with a run that did not finish "
                 f"(marked {RESUMABLE})", self.action_resume),
                ("Edit highlighted spec", "Open it in its editor", self.action_edit),
                ("Mark highlighted result to compare", "Or unmark it (space)",
                 self.action_toggle_mark),
                ("Compare marked results", "Side by side with verdicts; the first marked is the "
                 "baseline (c)", self.action_compare),
                ("Refresh", "Rescan the folder and results", self.action_refresh)]


def _said_here(error: ConfigError, folder: Path, shown: str) -> str:
    """find_resume_point's message with the folder as the home screen shows it, so its advice
    (`tokenflood resume DIR --endpoint …`) can be typed as it stands."""
    return str(error).replace(str(folder), shown).replace("resume DIR ", f"resume {shown} ")


class ResumePoints:
    """find_resume_point per folder, read again only when its journal or summary changed: a
    days-long observation's journal takes a noticeable time to read (0.3 s for three days of
    1-minute polls), too long to wait on each ↑/↓ through the list."""

    def __init__(self) -> None:
        self._read: dict[Path, tuple[tuple, ResumePoint | ConfigError]] = {}

    def get(self, folder: Path) -> ResumePoint:
        from ...run.resume import find_resume_point
        key = tuple(_stamp(folder / name) for name in (JOURNAL_FILE, SUMMARY_FILE))
        known = self._read.get(folder)
        if known is None or known[0] != key:
            try:
                known = key, find_resume_point(folder)
            except ConfigError as exc:
                known = key, exc
            self._read[folder] = known
        if isinstance(known[1], ConfigError):
            raise known[1]
        return known[1]


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _describe_results(entry: ResultsEntry, shown: str, points: ResumePoints) -> str:
    """A results folder; for one whose run did not finish, why it can be resumed and from where
    (or why not: the reason find_resume_point gives)."""
    head = f"{entry.run_name} on {entry.model}: {entry.status}\n{shown}\n"
    if not entry.resumable:
        return head + "Enter: open"
    try:
        point = points.get(entry.path)
    except ConfigError as exc:
        return head + f"{RESUMABLE} not finished; cannot be resumed here: " + \
            _said_here(exc, entry.path, shown)
    # the outline's lines less their labels' padding: the folder (above), how it ended, and
    # where it stands and goes on, on one line (the pane is short)
    _, ended, *where = [" ".join(line.split()) for line in
                        point.outline(point.passed_while_down(time.time()))]
    why = ended.removeprefix("it ended ") + (f": {point.ended_message}" if point.ended_message
                                             else "")
    head = f"{point.suite.name} on {point.endpoint.model}: {entry.status}\n{shown}\n"
    return head + f"{RESUMABLE} resumable: {why}\n{'; '.join(where)}\nEnter: open   u: resume " \
        "(budget first)"


def _describe_spec(spec_file: SpecFile) -> str:
    spec = spec_file.spec
    if isinstance(spec, EndpointSpec):    # kind "endpoint"; RunSuite for kind "run"
        return (f"{spec.provider} / {spec.model}  {redact_url(spec.base_url or '')}  "
                f"client {spec.resolved_client}"
                + (f"  key from ${spec.api_key_env_var}" if spec.api_key_env_var else ""))
    assert isinstance(spec, (LoadTestSuite, ObservationSuite, SearchSuite)), spec_file.kind
    types = "; ".join(f"{lt.prompt_length}/{lt.prefix_length}/{lt.output_length} ×{lt.weight:g}"
                      for lt in spec.load_types)
    if isinstance(spec, LoadTestSuite) and spec.sessions:
        rates = ", ".join(f"{r:g}" for r in spec.rates)
        sessions = "; ".join(f"{t.name} {t.turns.expected:g} ×{t.weight:g}"
                             for t in spec.session_types)
        return (f"rates {rates} sessions/s, {spec.test_length_in_seconds:g} s each, "
                f"{spec.arrival}, history {spec.history}\n"
                f"session types (mean turns × weight): {sessions}")
    if isinstance(spec, SearchSuite):
        plan = (f"search: SLO {spec.slo.text()}, from {spec.start_rps:g} up to {spec.max_rps:g} "
                f"req/s, {spec.phase_seconds:g} s phases, at most {spec.max_phases} phases")
    elif isinstance(spec, ObservationSuite):
        plan = (f"observation: {spec.num_requests} requests within {spec.within_seconds:g} s "
                f"every {spec.polling_interval_minutes:g} min for {spec.duration_hours:g} h "
                f"({spec.polls} polls)")
    else:
        rates = ", ".join(f"{r:g}" for r in spec.requests_per_second_rates)
        plan = f"rates {rates} req/s, {spec.test_length_in_seconds:g} s each, {spec.arrival}"
    return f"{plan}\nload types (prompt/prefix/output × weight): {types}"
