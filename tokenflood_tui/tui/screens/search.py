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

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Footer, Header, Static

from ...live.throttle import FailureThrottle
from ...metrics.summary import RunSummary, SearchResult, SearchStep
from ...outputs.formats import duration, ms
from ...run.coordinator import RunSnapshot
from ...run.events import RunEvent, SearchVerdict
from ...run.search import SearchPlanner
from ...specs import SearchSuite
from ..widgets.chart import LatencyChart
from ..widgets.search_steps import SearchSteps
from .live import LiveRunScreen, live_bindings
from .panels import Panel

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

    KIND = "search"
    STOP_COMMAND = ("Stop run", "Stop the search and keep the phases so far")
    PANELS = (Panel("steps", "Steps", "steps", "#steps-panel"),
              Panel("chart", "Chart", "chart", "#chart"),
              Panel("log", "Log", "log", "#log-panel"))
    BINDINGS = live_bindings("search", PANELS)
    # Below 32 rows (-short) the steps table keeps 4 rows, so the chart stays readable.
    DEFAULT_CSS = """
    SearchScreen #search-bracket { text-style: bold; }
    SearchScreen #search-answer { height: auto; padding: 0 1; color: $success; text-style: bold; }
    SearchScreen #search-answer.-none { color: $warning; }
    SearchScreen #steps-panel { height: auto; border-top: solid $primary; padding: 0 1; }
    SearchScreen #steps { height: auto; max-height: 9; }
    SearchScreen.-short #steps { max-height: 5; }
    SearchScreen #search-middle { height: 1fr; }
    SearchScreen #chart { width: 3fr; border: round $primary; min-height: 8; }
    SearchScreen #log-panel { width: 2fr; }

    /* one panel maximised (keys 1-3): the three lines (and the answer) stay */
    SearchScreen.-solo #steps-panel, SearchScreen.-solo #search-middle { display: none; }
    SearchScreen.-solo-steps #steps-panel { display: block; height: 1fr; }
    SearchScreen.-solo-steps #steps { max-height: 100%; }
    SearchScreen.-solo-chart #search-middle, SearchScreen.-solo-log #search-middle {
        display: block; }
    SearchScreen.-solo-log #chart { display: none; }
    """

    def __init__(self, controller):
        super().__init__(controller, FailureThrottle())     # errors.log counts them
        suite = controller.suite
        assert isinstance(suite, SearchSuite)
        self.suite: SearchSuite = suite
        planner = controller.run.planner
        # None only when no plan was built (over a limit), and then the run never starts
        self.planner: SearchPlanner | None = planner if isinstance(planner, SearchPlanner) else None
        self.result: SearchResult | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.status_text(), id="search-status", classes="status-line", markup=False)
        yield Static(self._bracket(), id="search-bracket", classes="status-line", markup=False)
        yield Static(self._budget(), id="search-budget", classes="status-line", markup=False)
        answer = Static("", id="search-answer", markup=False)
        answer.display = False
        yield answer
        with Vertical(id="steps-panel") as steps:
            steps.border_title = self.panel_title(
                "steps", "steps · req/s · latency in ms · verdict against the SLO")
            yield SearchSteps(id="steps")
        with Horizontal(id="search-middle"):
            yield LatencyChart(self.suite.percentiles, title_prefix=self.panel_title("chart"),
                               id="chart")
            yield self.log_panel()
        yield Footer()

    def on_resize(self, event: Resize) -> None:
        self._show_steps()

    # ------------------------------------------------------------------ the three lines

    def steps(self) -> list[SearchStep]:
        """The verdicts so far (appended on the run thread; a copy is read)."""
        if self.result is not None:
            return list(self.result.steps)
        return list(self.planner.steps) if self.planner is not None else []

    def ended_text(self, summary: RunSummary) -> str:
        return (f"{summary.status} after {len(summary.phases)} phases"
                + (f": {summary.message}" if summary.message and summary.status != "completed"
                   else ""))

    def running_text(self, snap: RunSnapshot) -> str:
        current = snap.phases[-1] if snap.phases and not snap.phases[-1].finished else None
        if current is None:
            return f"phase {snap.phase} judged; choosing the next rate"
        word = "draining" if snap.stage == "draining" else "running"
        return (f"phase {current.phase} {word}: {current.target_rps:g} req/s, {current.sent} of "
                f"{current.planned} sent, {current.in_flight} in flight · TTFT p50 "
                f"{ms(current.ttft_ms.at(50))} · "
                + (f"TTFA p50 {ms(current.ttfa_ms.at(50))} · " if current.reasoning else "")
                + f"e2e p50 {ms(current.e2e_ms.at(50))}")

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
        self.query_one("#search-status", Static).update(self.status_text())
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

    # ------------------------------------------------------------------ what the run sends

    def show_snapshot(self, snap: RunSnapshot) -> None:
        self._show_steps()
        self.query_one(LatencyChart).set_phases(snap.phases)
        self._show_lines()

    def show_event(self, ev: RunEvent) -> None:
        super().show_event(ev)
        if isinstance(ev, SearchVerdict):    # a verdict: the bracket moved
            self._show_steps()
            self._show_lines()

    def show_ended(self, summary: RunSummary | None) -> None:
        if summary is not None:
            self.result = summary.search
            if summary.search is not None:
                lines = answer_lines(summary.search)
                answer = self.query_one("#search-answer", Static)
                answer.update("\n".join(lines))
                answer.set_class(summary.search.lower_rps is None, "-none")
                answer.display = True
                self.query_one("#search-budget").display = False   # the answer takes its place
                self.write_log("info", lines[0])
            self.query_one(LatencyChart).set_phases(summary.phases)
        self._show_steps()
        self._show_lines()
