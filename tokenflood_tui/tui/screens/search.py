"""The live view of a capacity search: the bracket narrowing as phases are judged against the SLO.

Three lines say how it stands: the running phase's figures (rate, sent of planned, in flight,
TTFT and e2e p50), the bracket so far against the SLO ("meets up to 6 req/s · fails at 12"), and
the budget as the upper bound it is (a search decides its phases as it goes). When it ends, the
answer sentence of summary.json, the knee and the output tokens/s take the budget's place.
Then three panels, each maximised by its number key (the same key, 0 or Esc bring back the
overview): 1 the steps with their verdicts, 2 latency by rate filling in, 3 the log.

The steps and the bracket are read from the run's SearchPlanner (typed, the same objects the
summary is built from), not parsed back from its log lines.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Footer, Header, Static

from ...outputs.formats import duration, ms
from ...run.coordinator import RunSnapshot
from ...run.search import SearchPlanner
from ...specs import SearchSuite
from ...metrics.summary import SearchResult, SearchStep
from ...live.throttle import FailureThrottle
from ...run.events import SearchVerdict
from ..messages import RunEventMessage, RunFinishedMessage, RunSnapshotMessage
from ..widgets.chart import LatencyChart
from ..widgets.run_log import RunLog
from ..widgets.search_steps import SearchSteps
from .live import LiveRunScreen, live_bindings

LOG_STYLES = {"error": "bold red", "warning": "yellow", "info": ""}
PANEL_IDS = {"steps": "#steps-panel", "chart": "#chart", "log": "#log-panel"}
TABLE_MARGIN = 4             # the panel's padding and room for a vertical scrollbar


def bracket_text(lower: float | None, upper: float | None) -> str:
    """'meets up to 6 req/s · fails at 12 req/s', as far as the search has got."""
    if lower is None and upper is None:
        return "no phase judged yet"
    meets = f"meets up to {lower:g} req/s" if lower is not None else "meets at no rate tried"
    fails = f"fails at {upper:g} req/s" if upper is not None else "no rate tried fails yet"
    return f"{meets} · {fails}"


def answer_lines(result: SearchResult) -> list[str]:
    """The answer sentence, then the knee, output tokens/s and cost where known."""
    extra = []
    if result.knee_rps is not None:
        extra.append(f"knee at {result.knee_rps:g} req/s")
    if result.output_tokens_per_s is not None and result.lower_rps is not None:
        extra.append(f"{result.output_tokens_per_s:,.1f} output tokens/s at "
                     f"{result.lower_rps:g} req/s")
    if result.cost_per_million_tokens_usd is not None:
        extra.append(f"${result.cost_per_million_tokens_usd:,.2f} per million tokens")
    extra.append(f"stopped: {result.stopped_because}")
    return [f"answer: {result.answer}", " · ".join(extra)]


class SearchScreen(LiveRunScreen):
    """Watches one search's RunController; stopping and leaving ask, results are kept."""

    PANELS = tuple(PANEL_IDS)
    BINDINGS = live_bindings("search", [("steps", "Steps"), ("chart", "Chart"), ("log", "Log")])
    # Below 32 rows the header goes and the steps table keeps 4 rows, so the chart stays readable.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    DEFAULT_CSS = """
    SearchScreen.-short Header { display: none; }
    SearchScreen .line { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    SearchScreen #search-bracket { text-style: bold; }
    SearchScreen #search-answer { height: auto; padding: 0 1; color: $success; text-style: bold; }
    SearchScreen #search-answer.-none { color: $warning; }
    SearchScreen #steps-panel { height: auto; border-top: solid $primary; padding: 0 1; }
    SearchScreen #steps { height: auto; max-height: 9; }
    SearchScreen.-short #steps { max-height: 5; }
    SearchScreen #search-middle { height: 1fr; }
    SearchScreen #chart { width: 3fr; border: round $primary; min-height: 8; }
    SearchScreen #log-panel { width: 2fr; border: round $panel; }
    SearchScreen #warnings { height: auto; max-height: 3; color: $warning; }
    SearchScreen.-short #warnings { max-height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    SearchScreen #log { height: 1fr; }

    /* one panel maximised (keys 1-3): the three lines (and the answer) stay */
    SearchScreen.-solo #steps-panel, SearchScreen.-solo #search-middle,
    SearchScreen.-solo Header { display: none; }
    SearchScreen.-solo-steps #steps-panel { display: block; height: 1fr; }
    SearchScreen.-solo-steps #steps { max-height: 100%; }
    SearchScreen.-solo-chart #search-middle, SearchScreen.-solo-log #search-middle {
        display: block; }
    SearchScreen.-solo-chart #log-panel, SearchScreen.-solo-log #chart { display: none; }
    SearchScreen.-solo-log #warnings { max-height: 50%; }
    """

    def __init__(self, controller):
        super().__init__(controller, FailureThrottle())     # errors.log counts them
        suite = controller.suite
        assert isinstance(suite, SearchSuite)
        self.suite: SearchSuite = suite
        self.endpoint = controller.endpoint
        planner = controller.run.planner
        # None only when no plan was built (over a limit), and then the run never starts
        self.planner: SearchPlanner | None = planner if isinstance(planner, SearchPlanner) else None
        self.snapshot: RunSnapshot | None = None
        self.result: SearchResult | None = None
        self.warnings: list[str] = []
        self._stop_logged = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._status(), id="search-status", classes="line", markup=False)
        yield Static(self._bracket(), id="search-bracket", classes="line", markup=False)
        yield Static(self._budget(), id="search-budget", classes="line", markup=False)
        answer = Static("", id="search-answer", markup=False)
        answer.display = False
        yield answer
        with Vertical(id="steps-panel") as steps:
            steps.border_title = "1 steps · req/s · latency in ms · verdict against the SLO"
            yield SearchSteps(id="steps")
        with Horizontal(id="search-middle"):
            yield LatencyChart(self.suite.percentiles, title_prefix="2 ", id="chart")
            with Vertical(id="log-panel") as log_panel:
                log_panel.border_title = "3 log"
                warnings = Static("", id="warnings", markup=False)
                warnings.display = False
                yield warnings
                yield RunLog(id="log")
        yield Footer()

    def on_mount(self) -> None:
        for ev in self.controller.events:
            self.show_event(ev)

    def on_resize(self, event: Resize) -> None:
        self._show_steps()

    # ------------------------------------------------------------------ the three lines

    def steps(self) -> list[SearchStep]:
        """The verdicts so far (appended on the run thread; a copy is read)."""
        if self.result is not None:
            return list(self.result.steps)
        return list(self.planner.steps) if self.planner is not None else []

    def _status(self) -> str:
        return (self._stage_text() + f" — search {self.suite.name!r} on {self.endpoint.model} "
                f"({self.endpoint.provider})")

    def _stage_text(self) -> str:
        snap = self.snapshot
        if self.controller.finished:
            result = self.controller.result
            if result is None:
                return "failed (see the log); q: quit"
            s = result.summary
            ended = f"{s.status} after {len(s.phases)} phases"
            return ended + (f": {s.message}" if s.message and s.status != "completed" else "") \
                + "; r: results, q: quit"
        if snap is None or snap.stage == "preparing":
            if snap is not None and snap.status is not None:
                return "stopping before the load started"
            return "warming up and calibrating…"
        if snap.status is not None:
            verb = "aborting" if snap.status == "aborted" else "stopping"
            return (verb + (f" ({snap.message})" if snap.message else "")
                    + ": waiting for in-flight requests")
        current = snap.phases[-1] if snap.phases and not snap.phases[-1].finished else None
        if current is None:
            return f"phase {snap.phase} judged; choosing the next rate"
        word = "draining" if snap.stage == "draining" else "running"
        return (f"phase {current.phase} {word}: {current.target_rps:g} req/s, {current.sent} of "
                f"{current.planned} sent, {current.in_flight} in flight · TTFT p50 "
                f"{ms(current.ttft_ms.at(50))} · e2e p50 {ms(current.e2e_ms.at(50))}")

    def _bracket(self) -> str:
        if self.result is not None:
            lower, upper = self.result.lower_rps, self.result.upper_rps
        elif self.planner is not None:
            lower, upper = self.planner.lower, self.planner.upper
        else:
            lower = upper = None
        return f"{bracket_text(lower, upper)} — SLO {self.suite.slo.text()}"

    def _load_sent_s(self) -> float:
        snap = self.snapshot
        if snap is None:
            return 0.0
        return sum(ph.length_s if ph.finished else min(ph.elapsed_s, ph.length_s)
                   for ph in snap.phases)

    def _budget(self) -> str:
        """How far the search has got against the budget's upper bounds (it decides its phases
        as it goes); what matters most first, as a narrow terminal cuts the end off."""
        est, s = self.controller.run.estimate, self.suite
        started = len(self.snapshot.phases) if self.snapshot else 0
        cost = f", cost at most ${est.cost_usd:,.4f}" if est.cost_usd is not None else ""
        expected = (f" · about {duration(est.expected_seconds)} of load expected"
                    if est.expected_seconds is not None else "")
        return (f"phase {started} of at most {s.max_phases} · "
                f"{duration(self._load_sent_s())} of at most "
                f"{duration(est.load_seconds)} of load · at most {est.requests:,} "
                f"requests{cost}{expected}")

    def _show_lines(self) -> None:
        self.query_one("#search-status", Static).update(self._status())
        self.query_one("#search-bracket", Static).update(self._bracket())
        self.query_one("#search-budget", Static).update(self._budget())

    def _show_steps(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        running = snap.phase if snap.stage in ("running", "draining") else None
        self.query_one(SearchSteps).show(snap.phases, self.steps(), running,
                                         self.query_one("#steps-panel").size.width - TABLE_MARGIN
                                         or self.size.width - TABLE_MARGIN)

    # ------------------------------------------------------------------ messages from the run

    @on(RunSnapshotMessage)
    def _on_snapshot(self, message: RunSnapshotMessage) -> None:
        snap, previous = message.snapshot, self.snapshot
        self.snapshot = snap
        if snap.status is not None and (previous is None or previous.status is None):
            self._log_stop(snap.status, snap.message)
        self._show_steps()
        self.query_one(LatencyChart).set_phases(snap.phases)
        self._show_lines()

    @on(RunEventMessage)
    def _on_event(self, message: RunEventMessage) -> None:
        self.show_event(message.event)
        if isinstance(message.event, SearchVerdict):    # a verdict: the bracket moved
            self._show_steps()
            self._show_lines()

    def _log(self, level: str, text: str, pin: bool = True) -> None:
        if level == "warning" and pin and text not in self.warnings:
            self.warnings.append(text)
            warnings = self.query_one("#warnings", Static)
            warnings.display = True
            warnings.update("\n".join(f"⚠ {w}" for w in reversed(self.warnings)))
            count = len(self.warnings)
            self.query_one("#log-panel").border_title = (
                f"3 log · ⚠ {count} warning{'s' if count > 1 else ''}")
        prefix = "" if level == "info" else f"{level}: "
        self.query_one("#log", RunLog).add(Text(prefix + text, style=LOG_STYLES.get(level, "")))

    def note_stopping(self) -> None:
        self._log("warning", "stopping: no new requests; waiting for in-flight ones", pin=False)

    def _log_stop(self, status: str, message: str | None) -> None:
        self._stop_logged = True
        self._log("error" if status == "aborted" else "warning",
                  status + (f": {message}" if message else ""), pin=False)

    @on(RunFinishedMessage)
    def _on_finished(self, message: RunFinishedMessage) -> None:
        s = self.run_ended(message, "search", title="Search finished")
        if s is not None:
            self.result = s.search
            if s.search is not None:
                lines = answer_lines(s.search)
                answer = self.query_one("#search-answer", Static)
                answer.update("\n".join(lines))
                answer.set_class(s.search.lower_rps is None, "-none")
                answer.display = True
                self.query_one("#search-budget").display = False   # the answer takes its place
                self._log("info", lines[0])
            self.query_one(LatencyChart).set_phases(s.phases)
        self._show_steps()
        self._show_lines()
        self.refresh_bindings()

    # ------------------------------------------------------------------ actions

    def action_toggle_metric(self) -> None:
        self.query_one(LatencyChart).toggle_metric()

    def palette_commands(self):
        return [("Stop run", "Stop the search and keep the phases so far", self.action_stop_run),
                ("Switch chart TTFT/e2e", "Toggle the chart's metric", self.action_toggle_metric),
                ("Maximise the steps", "Key 1 (again, 0 or Esc: overview)",
                 lambda: self.action_panel("steps")),
                ("Maximise the chart", "Key 2", lambda: self.action_panel("chart")),
                ("Maximise the log", "Key 3", lambda: self.action_panel("log")),
                ("Open results", "Summary of the finished search", self.action_open_results)]
