"""Home: the endpoint specs and run suites in the folder (and the samples), recent results; a
results folder whose run did not finish is marked ↻ and `u` goes on with it. Each result shows its
headline figure; space marks results (✓) and `c` compares the marked ones, the first marked as
the baseline. `/` narrows every list to what matches the words typed (Esc clears it).

Every item keeps to its rows at any width (cut with …, a result's status kept); below 100
columns the two spec lists stack, so the results get half the width, and below 30 rows the
header goes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from ...outputs.charts import run_letter
from ...errors import ConfigError
from ...specs.secrets import redact_url
from ...outputs.journal import JOURNAL_FILE
from ...metrics.summary import SUMMARY_FILE
from ...specs import EndpointSpec, LoadTestSuite, ObservationSuite, RunSuite, SearchSuite
from ...workspace import RESUMABLE, ResultsEntry, SpecFile, find_results, find_specs
from ..home_state import remember_pair, remembered_pair
from ..messages import EndpointChosen, OpenEditor, SpecSaved, StartRun
from ..widgets.fitted import FittedLines, Line
from ..widgets.home_lists import EndpointsList, ResultsList, SuitesList, matches

if TYPE_CHECKING:
    from ...run.resume import ResumePoint


LIST_KINDS = {"endpoints": "endpoint", "suites": "run"}
CHOSEN = "● "        # marks the chosen endpoint and suite in their lists
MARKED = "✓ "        # marks the results to compare


class HomeScreen(Screen):
    """Choose one endpoint and one suite (Enter), then r runs them. `workdir` is the folder of
    spec files listed, `results_root` the folder of results."""

    BINDINGS = [
        Binding("enter", "choose", "Choose", id="home-choose"),
        Binding("r", "run", "Run", id="home-run"),
        Binding("e", "edit", "Edit", id="home-edit"),
        Binding("slash", "filter", "Filter", key_display="/", id="home-filter"),
        Binding("escape", "clear_filter", "Clear filter", id="home-clear-filter"),
        # shown in the footer by the list each concerns (widgets/home_lists.py)
        Binding("u", "resume", "Resume a results folder marked ↻ (in Recent results)",
                id="home-resume", show=False),
        Binding("n", "new_endpoint", "New endpoint", id="home-new-endpoint", show=False),
        Binding("s", "new_suite", "New suite", id="home-new-suite", show=False),
        Binding("space", "toggle_mark", "Mark a result to compare (in Recent results)",
                id="home-mark", show=False),
        Binding("c", "compare", "Compare the marked results (the first is the baseline)",
                id="home-compare", show=False),
        Binding("f5", "refresh", "Refresh", id="home-refresh", show=False),   # in ? help
        Binding("q", "app.quit", "Quit", id="home-quit"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    DEFAULT_CSS = """
    HomeScreen #lists { height: 1fr; }
    /* at 120 columns a sample's name fits its list (33 columns) and a result's name and
       status theirs (54) */
    HomeScreen #spec-lists { width: 11fr; layout: horizontal; }
    HomeScreen .column { width: 1fr; border: round $panel; }
    HomeScreen #results-column { width: 9fr; }
    /* narrow: the spec lists one above the other, the results as wide as both */
    HomeScreen.-narrow #spec-lists { width: 2fr; layout: vertical; }
    HomeScreen.-narrow #results-column { width: 3fr; }
    HomeScreen.-short Header { display: none; }
    HomeScreen .column:focus-within { border: round $primary; }
    HomeScreen #filter-row { display: none; height: 1; }
    HomeScreen.-filtering #filter-row { display: block; }
    HomeScreen #filter-prompt { width: 3; padding: 0 1; text-style: bold; }
    HomeScreen #filter { width: 1fr; height: 1; border: none; padding: 0; }
    HomeScreen #filter-count { width: auto; padding: 0 1; color: $text-muted; }
    /* one row an item line, cut with … (a name wrapped mid-word reads as two items) */
    HomeScreen OptionList { height: 1fr; border: none; text-wrap: nowrap;
                            text-overflow: ellipsis; }
    /* the column's border and the cursor say which list has the focus: no inner frame
       taking two rows and two columns */
    HomeScreen OptionList:focus { border: none; }
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
        self._unchosen: dict[str, str] = {}      # by kind: why nothing is chosen (an invalid pick)
        self.filter_text = ""                    # what `/` narrows the lists to
        self._filter_from: OptionList | None = None   # the list `/` was pressed in
        self._restored = False                   # the remembered (or first) pair is in place
        self.marked: list[Path] = []         # results to compare, in the order marked

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="lists"):
            with Vertical(id="spec-lists"):
                for list_id, title, widget in (("endpoints", "Endpoints", EndpointsList),
                                               ("suites", "Run suites", SuitesList)):
                    with Vertical(classes="column", id=f"{list_id}-column") as column:
                        column.border_title = title
                        yield widget(id=list_id)
            with Vertical(classes="column", id="results-column") as column:
                column.border_title = "Recent results"
                yield ResultsList(id="results")
        with Horizontal(id="filter-row"):
            yield Static("/", id="filter-prompt", markup=False)
            yield Input(placeholder="words to narrow the lists · Enter: to the list · Esc: clear",
                        id="filter")
            yield Static("", id="filter-count", markup=False)
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
        # keep choices across refreshes, by path; one whose file broke (or went) is let go
        for kind, chosen in (("endpoint", self.chosen_endpoint), ("run", self.chosen_suite)):
            if chosen is not None and self._same(chosen) is None:
                self._unchosen[kind] = f"{chosen.label} is invalid or gone"
        self.chosen_endpoint = self._same(self.chosen_endpoint)
        self.chosen_suite = self._same(self.chosen_suite)
        if not self._restored:
            self._restored = True
            self._restore_pair()
        # nothing chosen (nor a pick refused): the folder's first valid file, as on a first visit
        if self.chosen_endpoint is None and "endpoint" not in self._unchosen:
            self.chosen_endpoint = self._first_valid("endpoint")
        if self.chosen_suite is None and "run" not in self._unchosen:
            self.chosen_suite = self._first_valid("run")
        self._fill_specs()
        self.marked = [p for p in self.marked if any(r.path == p for r in self.results)]
        self._fill_results()
        self._show_selection()

    def _first_valid(self, kind: str) -> SpecFile | None:
        return next((s for s in self.specs if s.kind == kind and s.spec and not s.sample), None)

    def _restore_pair(self) -> None:
        """The pair last chosen in this folder (a remembered pick that is invalid now stays
        unchosen, and says why)."""
        pair = remembered_pair(self.workdir)
        if pair is None:
            return
        for kind, path in (("endpoint", pair.endpoint), ("run", pair.suite)):
            found = next((s for s in self.specs if path and s.path.resolve() == Path(path)
                          and s.kind in (kind, None)), None)
            if found is not None and found.error:
                self._unchosen[kind] = f"{found.label} is invalid"
                found = None
            if kind == "endpoint":
                self.chosen_endpoint = found
            else:
                self.chosen_suite = found

    def _remember(self, picked: SpecFile, kind: str) -> None:
        """The pair as just picked: an invalid pick too, so the next launch says why nothing is
        chosen rather than choose another file."""
        endpoint, suite = self.chosen_endpoint, self.chosen_suite
        if kind == "endpoint":
            endpoint = picked
        else:
            suite = picked
        remember_pair(self.workdir, endpoint.path if endpoint else None,
                      suite.path if suite else None)

    def _fill_results(self) -> None:
        items = [(r, self._results_item(r)) for r in self.results]
        self._fill("results", [Option(item, id=str(r.path)) for r, item in items
                               if matches(str(item), self.filter_text)], "no results yet")

    def _results_item(self, entry: ResultsEntry) -> FittedLines:
        """Two rows at most: the folder's name and status (the name is cut first, never the
        status nor ↻), then its headline. Not markup: "[completed]" is no style tag."""
        mark = MARKED if entry.path in self.marked else "  "
        tails = (entry.label.removeprefix(entry.path.name),) + (
            (f" [{entry.status}] {RESUMABLE}",) if entry.resumable else ())
        lines = [Line(entry.path.name, mark, tails)]
        if entry.headline:
            lines.append(Line(entry.headline, "    "))
        return FittedLines(lines)

    def _fill_specs(self) -> None:
        # A file whose kind cannot be told (broken YAML, no telling keys) is in both lists.
        for list_id, kind in LIST_KINDS.items():
            files = [s for s in self.specs if s.kind in (kind, None)]
            items = [(f, self._spec_item(f)) for f in files]
            self._fill(list_id, [Option(item, id=str(f.path)) for f, item in items
                                 if matches(str(item), self.filter_text)], "none here yet")

    def _spec_item(self, spec_file: SpecFile) -> FittedLines:
        """One row: the mark, then the name, cut in its middle (the end tells the samples
        apart: sample/end…anthropic.yml)."""
        chosen = self._is_chosen(spec_file)
        mark = "⚠ " if spec_file.error else CHOSEN if chosen else "  "
        return FittedLines([Line(spec_file.label, mark, middle=True)])

    def _fill(self, list_id: str, options: list[Option], empty: str) -> None:
        """Refill a list, keeping its cursor where it was (or on the first item), so a list
        shows its cursor as soon as it has the focus."""
        option_list = self.query_one(f"#{list_id}", OptionList)
        keep = option_list.highlighted
        option_list.clear_options()
        if not options and self.filter_text:
            empty = "no match (Esc: clear)"
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
        ep, su = (chosen.label if chosen else f"(none: {self._unchosen.get(kind, 'Enter on one')})"
                  for chosen, kind in ((self.chosen_endpoint, "endpoint"),
                                       (self.chosen_suite, "run")))
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
        # two Tabs read at once can deliver the focus events late: describe the list that has
        # the focus now, not the one that had it a moment ago
        if widget is not self.focused:
            return
        if isinstance(widget, OptionList) and widget.highlighted is not None:
            self._describe(widget, widget.get_option_at_index(widget.highlighted))

    def _describe(self, option_list: OptionList, option: Option) -> None:
        detail = self.query_one("#detail", Static)
        key = option.id or ""
        if option_list.id == "results":
            entry = next((r for r in self.results if str(r.path) == key), None)
            detail.update(_describe_results(entry, self._shown(entry.path), self._resume_points)
                          + ("" if entry.experiment else "\n" + self._mark_line(entry.path))
                          if entry else "")
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

    # ------------------------------------------------------------------ filter

    def action_filter(self) -> None:
        """`/`: the filter line takes the keys; every list narrows as words are typed."""
        focused = self.focused
        if isinstance(focused, OptionList):
            self._filter_from = focused
        self.add_class("-filtering")
        self.query_one("#filter", Input).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._fill_specs()
        self._fill_results()
        shown = {list_id: sum(1 for o in self.query_one(f"#{list_id}", OptionList).options
                              if o.id) for list_id in ("endpoints", "suites", "results")}
        self.query_one("#filter-count", Static).update(
            f"{shown['results']} of {len(self.results)} results · {shown['endpoints']} "
            f"endpoints · {shown['suites']} suites" if self.filter_text else "")

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        """Enter: back to the list, the filter kept (Esc there clears it)."""
        if not self.filter_text:
            self.action_clear_filter()
            return
        self._back_to_list()

    def action_clear_filter(self) -> None:
        """Esc: every item again, the filter line gone."""
        filter_input = self.query_one("#filter", Input)
        self.remove_class("-filtering")
        if filter_input.value:
            filter_input.value = ""       # Changed refills the lists
        self.filter_text = ""
        self._fill_specs()
        self._fill_results()
        self._back_to_list()
        self.refresh_bindings()

    def _back_to_list(self) -> None:
        """The list `/` was pressed in, or the first that has a match when it has none."""
        lists = [self.query_one(f"#{i}", OptionList) for i in ("endpoints", "suites", "results")]
        has_items = [ol for ol in lists if any(o.id for o in ol.options)]
        target = self._filter_from or lists[0]
        if target not in has_items and has_items:
            target = has_items[0]
        target.focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "clear_filter":     # Esc means something only while a filter is on
            return self.has_class("-filtering")
        return True

    def on_key(self, event: events.Key) -> None:
        # Esc in the filter line clears it (the Input would keep the key to itself)
        if event.key == "escape" and isinstance(self.focused, Input) and \
                self.focused.id == "filter":
            event.stop()
            self.action_clear_filter()

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
            entry = next((r for r in self.results if str(r.path) == key), None)
            if entry is not None and entry.experiment:
                self._open_experiment(entry)
                return
            from .results import ResultsScreen
            self.app.push_screen(ResultsScreen(Path(key)))
            return
        spec_file = self._file(key)
        if spec_file is None:
            return
        # a file of unknown kind (it does not parse) is chosen as what its list holds
        kind = spec_file.kind or LIST_KINDS.get(list_id, "run")
        chosen = None if spec_file.error else spec_file
        if kind == "endpoint":
            self.chosen_endpoint = chosen
        else:
            self.chosen_suite = chosen
        if spec_file.error:
            # Nothing chosen rather than the previous pick: r must not run another suite than
            # the one just picked.
            what = "endpoint" if kind == "endpoint" else "suite"
            self._unchosen[kind] = f"{spec_file.label} is invalid"
            self.notify(f"{spec_file.label} is invalid, so no {what} is chosen: "
                        f"{_first_line(spec_file.error, spec_file.path)}. Press e to fix it.",
                        title=f"No {what} chosen", severity="warning", markup=False, timeout=8)
        else:
            self._unchosen.pop(kind, None)
        self._remember(spec_file, kind)
        self._fill_specs()         # moves the mark; the list's cursor stays (and redescribes)
        self._show_selection()

    def _open_experiment(self, entry: ResultsEntry) -> None:
        """An A/B experiment: its comparison (whose r opens a variant's results), or with none
        (a variant has no phase) a chooser of its variants' results."""
        if entry.compared:
            from .compare import CompareScreen
            self.app.push_screen(CompareScreen(saved=entry.path, results_root=self.results_root))
            return
        from .choose import ChooseModal
        from .results import ResultsScreen
        variants = [(f"{f.name}", f) for f in entry.variants if f.is_dir()]
        if not variants:
            self.notify(f"{entry.path.name}: {entry.headline}; no variant's folder is left",
                        severity="warning", markup=False)
            return

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.app.push_screen(ResultsScreen(folder))

        self.app.push_screen(ChooseModal(f"{entry.headline}: open a variant's results",
                                         variants), chosen)

    def action_run(self) -> None:
        # chosen only when valid (action_choose), so the specs are what their lists say
        endpoint = self.chosen_endpoint.spec if self.chosen_endpoint else None
        suite = self.chosen_suite.spec if self.chosen_suite else None
        if not isinstance(endpoint, EndpointSpec) or not isinstance(suite, RunSuite):
            why = "; ".join(self._unchosen.values())
            self.notify("Choose an endpoint and a run suite first (Enter on each)"
                        + (f": {why}." if why else "."), severity="warning", markup=False)
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
        entry = next((r for r in self.results if r.path == folder), None)
        if entry is not None and entry.experiment and folder not in self.marked:
            self.notify("An A/B experiment is compared already: Enter opens its comparison, "
                        "and r there a variant's results.", severity="information",
                        markup=False)
            return
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
                ("Filter the lists", "Type words to narrow every list; Esc clears (/)",
                 self.action_filter),
                ("Refresh", "Rescan the folder and results", self.action_refresh)]


def _first_line(error: str, path: Path) -> str:
    """A loader's message in short: its first line, without the file's path (the toast names
    the file)."""
    line = error.strip().splitlines()[0] if error.strip() else "it does not load"
    return line.replace(f"{path}:", "line ", 1) if line.startswith(f"{path}:") else \
        line.replace(str(path), path.name)


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
    if entry.experiment:
        names = [f"{run_letter(i)} = {f.name}" + (" (baseline)" if i == 0 else "")
                 for i, f in enumerate(entry.variants)]
        return (f"A/B {entry.run_name!r}: {', '.join(names)}\n{shown}\n{entry.headline}\n"
                + ("Enter: the comparison (r there: a variant's results)" if entry.compared
                   else "Enter: a variant's results"))
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
