"""Runs side by side (`tokenflood compare`, or `c` on the home screen's marked results).

The head names the runs (A is the baseline), how many cells got each verdict and where the files
are; the warnings follow, one line each. Number keys as in the results view: 1 the table of one
metric (the group and percentile, each run's value, the difference to A in ms and %, its 95%
interval and the verdict, coloured), 2 the overlay chart of that metric, 3 the runs and warnings
in full with how the verdicts are reached (and, where runs read their server's metrics, the
server's figures per rate side by side); `t` switches the metric of table and chart. Below 32
rows the overview leaves the chart out (2 shows it). The same key, 0 or Esc bring back the
overview; Esc then goes back.

From the home screen the comparison is computed in a thread (reading the rows and resampling
takes a moment on big runs) and kept in memory: `w` writes it to a compare folder under the
results dir (opening a comparison writes nothing). `tokenflood compare` opens the one it has just
written, an A/B experiment's folder opens the one the experiment wrote. `r` opens the results of
one of the compared runs (an experiment's variants).
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerState

from ...outputs.charts import run_letter
from ...compare import bootstrap, output
from ...compare import folder as compare_folder
from ...compare.compare import DEFAULT_SEED, Comparison, compare
from ...errors import TokenfloodError
from ..widgets.compare_table import CompareChart, CompareTable, next_metric
from .panels import Command, Panel, PanelScreen, back_bindings, panel_bindings

WARNINGS_IN_OVERVIEW = 3     # more than this: the first ones, and "3 shows all N"
FILES = "md, json, txt, html"


class CompareScreen(PanelScreen):
    """`CompareScreen(folders, results_root)` compares results folders (the first is the
    baseline), written when asked (w); `CompareScreen(saved=folder)` shows a written one."""

    PANELS = (Panel("table", "Table", "table", "#compare-table"),
              Panel("chart", "Chart", "overlay chart", "#compare-chart"),
              Panel("runs", "Runs and warnings", "runs and warnings in full", "#compare-runs"))
    BINDINGS = [Binding("t", "next_metric", "Metric", id="compare-metric"),
                Binding("r", "open_run", "Run results", id="compare-run-results"),
                Binding("w", "write", "Write files", id="compare-write"),
                *panel_bindings("compare", PANELS), *back_bindings("compare")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    DEFAULT_CSS = """
    CompareScreen #compare-head { height: auto; padding: 0 1; }
    CompareScreen #compare-warnings { height: auto; padding: 0 1; text-wrap: nowrap;
                                      text-overflow: ellipsis; }
    CompareScreen #compare-body { height: 1fr; }
    CompareScreen #compare-table-title { height: 1; padding: 0 1; text-style: bold;
                                         color: $accent; }
    CompareScreen #compare-table { height: auto; max-height: 50%; }
    CompareScreen #compare-chart { height: 1fr; min-height: 12; border: round $primary; }
    CompareScreen #compare-runs { display: none; padding: 0 1; }
    CompareScreen.-short #compare-chart { display: none; }
    CompareScreen.-no-comparison #compare-body { display: none; }   /* computing, or it failed */
    CompareScreen.-short #compare-table { height: 1fr; max-height: 100%; }

    CompareScreen.-solo #compare-head, CompareScreen.-solo #compare-warnings { display: none; }
    CompareScreen.-solo-table #compare-chart { display: none; }
    CompareScreen.-solo-table #compare-table { height: 1fr; max-height: 100%; }
    CompareScreen.-solo-chart #compare-table-title,
    CompareScreen.-solo-chart #compare-table { display: none; }
    CompareScreen.-solo-chart #compare-chart { display: block; height: 1fr; }
    CompareScreen.-solo-runs #compare-body { display: none; }
    CompareScreen.-solo-runs #compare-runs { display: block; height: 1fr; }
    """

    def __init__(self, folders: list[Path] | None = None, results_root: Path | None = None,
                 *, saved: Path | None = None, seed: int = DEFAULT_SEED):
        super().__init__()
        self.folders = [Path(f) for f in folders or []]
        self.results_root = Path(results_root) if results_root is not None else None
        self.seed = seed
        self.comparison: Comparison | None = None
        self.metric: str | None = None
        self.error: str | None = None
        self.write_error: str | None = None
        # the compare folder once written (the app saves screenshots there)
        self.folder: Path | None = Path(saved) if saved is not None else None
        if saved is not None:
            try:
                self.comparison = Comparison.load(saved)
            except (TokenfloodError, ValueError) as exc:
                self.error = f"{saved}: not a comparison tokenflood can read: {exc}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._head(), id="compare-head", markup=False)
        yield Static("", id="compare-warnings", classes="warning-text", markup=False)
        with Vertical(id="compare-body"):
            yield Static(self.panel_title("table", "table"), id="compare-table-title",
                         markup=False)
            yield CompareTable(id="compare-table")
            yield CompareChart(title_prefix=self.panel_title("chart"), id="compare-chart")
        with VerticalScroll(id="compare-runs"):
            yield Static("", id="compare-runs-text", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "compare"
        self.set_class(self.comparison is None, "-no-comparison")
        if self.comparison is not None:
            self._show()
        elif self.error is not None:
            self._show_error()
        else:
            self._compare()

    # ------------------------------------------------------------------ computing

    @work(thread=True, group="compare", exclusive=True, exit_on_error=False)
    def _compare(self) -> Comparison:
        """Off the UI thread: the rows of every folder, the bootstrap."""
        return compare(self.folders, seed=self.seed)

    @work(thread=True, group="write", exclusive=True, exit_on_error=False)
    def _write(self, comparison: Comparison) -> tuple[Path | None, str | None]:
        root = self.results_root if self.results_root is not None else Path("results")
        try:
            return compare_folder.write(comparison, compare_folder.default_folder(root)), None
        except TokenfloodError as exc:       # not written (disk full, read-only): still shown
            return None, str(exc)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "write" and event.state == WorkerState.SUCCESS:
            written = event.worker.result
            assert written is not None          # _write returns a pair
            self.folder, self.write_error = written
            if self.write_error:
                self.notify(self.write_error, title="Comparison not written", severity="error",
                            markup=False, timeout=10)
            else:
                self.notify(f"Written to {self.folder}/ ({FILES})", title="Comparison",
                            markup=False)
            self._show_where()
            return
        if event.worker.group != "compare":
            return
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            self.comparison = event.worker.result
            self._show()
        elif event.state == WorkerState.ERROR:
            exc = event.worker.error
            self.error = str(exc) if isinstance(exc, TokenfloodError) else \
                f"{type(exc).__name__}: {exc}"
            self._show_error()

    # ------------------------------------------------------------------ showing

    def _show(self) -> None:
        c = self.comparison
        assert c is not None
        if self.metric not in c.metrics:
            self.metric = c.metrics[0] if c.metrics else None
        self.remove_class("-no-comparison")
        self.refresh_bindings()
        self.query_one("#compare-head", Static).update(self._head())
        self.query_one("#compare-warnings", Static).update(self._warnings_overview())
        self.query_one("#compare-runs-text", Static).update(self._runs_in_full())
        self._show_metric()

    def _show_where(self) -> None:
        self.refresh_bindings()
        self.query_one("#compare-head", Static).update(self._head())
        if self.comparison is not None:
            self.query_one("#compare-runs-text", Static).update(self._runs_in_full())

    def _show_metric(self) -> None:
        c, metric = self.comparison, self.metric
        if c is None or metric is None:
            self.query_one("#compare-table-title", Static).update(
                self.panel_title("table", "no metric to compare: no run has an ok request in "
                                          "a common group"))
            return
        table = self.query_one(CompareTable)
        table.show(c, metric)
        self.query_one("#compare-table-title", Static).update(self.panel_title("table",
                                                                               table.title()))
        self.query_one(CompareChart).show(c, metric)

    def _show_error(self) -> None:
        head = self.query_one("#compare-head", Static)
        head.add_class("error-text")
        head.update(f"Cannot compare: {self.error}\nEsc: back")
        self.query_one("#compare-table-title", Static).update("")
        self.notify(self.error or "", title="Cannot compare", severity="error", markup=False,
                    timeout=10)

    def _head(self) -> str:
        c = self.comparison
        if c is None:
            names = [f"{run_letter(i)} = {f.name}" + (" (baseline)" if i == 0 else "")
                     for i, f in enumerate(self.folders)]
            return "\n".join(names + ["comparing: reading the rows, resampling…"])
        lines = [f"{run_letter(i)} = {r.name}" + (" (baseline)" if i == 0 else "")
                 for i, r in enumerate(c.runs)]
        lines += [output.verdict_line(c, i) for i in range(1, len(c.runs))]
        lines += [output.verdict_line(c, i, by_turn=True) for i in range(1, len(c.runs))
                  if c.turn_cells]
        lines.append(self._where())
        return "\n".join(lines)

    def _where(self) -> str:
        if self.folder is not None:
            return f"written to {self.folder}/ ({FILES})"
        if self.write_error:
            return f"not written: {self.write_error}"
        return f"not written; w writes it ({FILES})"

    def _warnings_overview(self) -> str:
        warnings = self.comparison.warnings if self.comparison else []
        if not warnings:
            return ""
        # one line each here (cut with …): 3 shows them whole
        head = (f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''} "
                f"({self.panel_key('runs')}: in full):")
        if len(warnings) <= WARNINGS_IN_OVERVIEW:
            return "\n".join([head] + [f"⚠ {w}" for w in warnings])
        shown = warnings[:WARNINGS_IN_OVERVIEW - 1]
        return "\n".join([head] + [f"⚠ {w}" for w in shown] +
                         [f"⚠ and {len(warnings) - len(shown)} more"])

    def _runs_in_full(self) -> str:
        """Panel 3: each run in full, the verdicts, how they are reached, every warning."""
        c = self.comparison
        assert c is not None
        lines = [self.panel_title("runs", "runs")]
        for i, r in enumerate(c.runs):
            lines.append(f"  {run_letter(i)}{' (baseline)' if i == 0 else ''}  {r.folder}")
            lines.append(f"     '{r.run_name}' on {r.model} ({r.provider}"
                         + (f", {r.base_url}" if r.base_url else "") + f") · started "
                         f"{r.started_at} · {r.status} · prompts {r.prompts}")
        lines += ["", "verdicts over every metric, rate or hour and percentile:"]
        lines += [f"  {output.verdict_line(c, i)}" for i in range(1, len(c.runs))]
        lines += ["", f"Differences are to {run_letter(0)}, with a {c.level:.0%} bootstrap "
                  f"interval ({c.resamples} resamples of the ok requests, seed {c.seed}); "
                  "faster or slower needs the interval to exclude 0, and at least "
                  f"{bootstrap.MIN_SAMPLES} requests with {bootstrap.MIN_TAIL:g} beyond the "
                  f"percentile (p99: {output.min_samples(99)}) in both runs, else too few "
                  "samples."]
        lines += ["", "warnings:" if c.warnings else "no warnings"]
        lines += [f"  ⚠ {w}" for w in c.warnings]
        server = output.fitted_server_table(c, max(40, self.size.width - 6))
        if server is not None:
            lines += ["", output.SERVER_HEADING + ":", *(f"  {line}" for line in server.lines),
                      output.SERVER_NOTE]
        lines += ["", self._where()]
        return "\n".join(lines)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # nothing to switch or maximise before the comparison is there (or when it failed)
        if action in ("next_metric", "panel", "overview", "open_run", "write") \
                and self.comparison is None:
            return False
        if action == "write" and self.folder is not None:
            return False            # on disk already (opened from it, or written here)
        return super().check_action(action, parameters)

    def _panels_changed(self) -> None:
        super()._panels_changed()
        # the keys (↑ ↓ pgup pgdn) scroll what is in view: the runs panel, else the table
        self.query_one("#compare-runs" if self.solo_panel == "runs" else "#compare-table").focus()

    # ------------------------------------------------------------------ actions

    def action_next_metric(self) -> None:
        if self.comparison is None or self.metric is None:
            return
        self.metric = next_metric(self.comparison, self.metric)
        self._show_metric()

    def action_write(self) -> None:
        """Write compare.md, .json, .txt and .html to compare_<time>/ under the results dir."""
        if self.comparison is not None and self.folder is None:
            self._write(self.comparison)

    def run_folders(self) -> list[tuple[str, Path]]:
        """Each compared run that can be found: (its line in a chooser, its results folder). A
        comparison read from disk names its runs' folders as given when it was made (relative to
        where that was); an A/B experiment's variants are found in the experiment's folder."""
        c = self.comparison
        if c is None:
            return []
        found = []
        for i, run in enumerate(c.runs):
            candidates = ([self.folders[i]] if i < len(self.folders) else []) + [Path(run.folder)]
            if self.folder is not None:
                candidates.append(self.folder / run.name)
            folder = next((f for f in candidates if f.is_dir()), None)
            if folder is not None:
                found.append((f"{run_letter(i)} {run.name}" + (" (baseline)" if i == 0 else "")
                              + f" · {run.run_name} on {run.model} · {run.status}", folder))
        return found

    def action_open_run(self) -> None:
        """A chooser of the compared runs; the one picked opens in the results view."""
        runs = self.run_folders()
        if not runs:
            self.notify("None of the compared runs' folders is where the comparison says.",
                        severity="warning", markup=False)
            return
        from .choose import ChooseModal
        from .results import ResultsScreen

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.app.push_screen(ResultsScreen(folder))

        self.app.push_screen(ChooseModal("Open the results of", runs), chosen)

    def action_leave(self) -> None:
        # here, not at the top: messages imports the run package, which `tokenflood results`
        # and `tokenflood compare` otherwise never load (about 0.35 s)
        from ..messages import LeaveScreen
        self.post_message(LeaveScreen(self))

    def palette_commands(self) -> list[Command]:
        return [("Next metric", "Table and chart: TTFT → e2e → TPOT → ITL", self.action_next_metric),
                ("Open a compared run's results", "Each run's (or variant's) results view (r)",
                 self.action_open_run),
                ("Write the comparison", f"To compare_<time>/ under the results dir: {FILES} "
                 "(w)", self.action_write),
                *self.panel_commands()]
