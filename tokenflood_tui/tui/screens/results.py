"""A results folder: summary tables, failures, warnings, the chart.

`ResultsScreen(folder)` is the view for the folder's kind. A load test's: number keys as in the
live view, 1 the phases (with failures and warnings), 2 every metric, 3 the chart by rate; below
150 columns the overview leaves the chart out, so the tables get the whole width. A session
run's has its sessions as key 2 (sessions by phase, their durations, in flight over time, every
turn index), then every metric (3) and the chart (4). An
observation's: 1 the polls (newest first, missed ones marked, with failures and warnings), 2 the
hours of day, 3 latency per poll against the time of day; below 32 rows the overview leaves the
chart out. In both the same key, 0 or Esc bring back the overview.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.widgets import DataTable, Footer, Header, Static

from ...metrics.thresholds import failed as failed_any
from ...outputs import report
from ...outputs.formats import number, percentiles, span
from ...errors import ConfigError
from ...metrics.summary import (METRICS, REASONING_METRICS, SUMMARY_FILE, PollStats, RunSummary, pkey,
                               reasoned)
from ...outputs.journal import RunStarted, read_journal
from ...run.partial import load_summary
from ..widgets.chart import LatencyChart
from ..widgets.over_time_chart import OverTimeChart
from ..widgets.phase_table import PhaseTable
from ..widgets.session_results import (NARROW, fill_durations, fill_ends, fill_rates, fill_turns,
                                       in_flight_lines, turns_title)
from .panels import Command, Panel, PanelScreen, back_bindings, panel_bindings

TABLE_MARGIN = 2   # the scrollbar of the tables


class ResultsScreen(PanelScreen):
    """What the two kinds share: the folder, its summary (or why it cannot be read), Esc back.
    Constructing one gives the subclass for the folder's kind."""

    def __new__(cls, folder: Path):
        if cls is ResultsScreen:
            kind = _kind(Path(folder))
            cls = (ObservationResultsScreen if kind == "observation"
                   else SessionResultsScreen if kind == "sessions" else LoadTestResultsScreen)
        return super().__new__(cls)

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = Path(folder)
        self.summary: RunSummary | None = None
        self.error: str | None = None
        try:
            # a killed run's: built from its rows and journal, marked partial
            self.summary = load_summary(self.folder)
        except ConfigError as exc:
            self.error = str(exc)

    def _error(self) -> ComposeResult:
        yield Header()
        yield Static(self.error or "", classes="error-text", markup=False)
        yield Footer()

    def action_panel(self, name: str) -> None:
        if self.summary is not None:
            super().action_panel(name)

    def action_toggle_metric(self) -> None:
        if self.summary is not None:
            self.query_one(LatencyChart).toggle_metric()

    def palette_commands(self) -> list[Command]:
        return [("Switch chart TTFT/e2e", "Toggle the chart's metric", self.action_toggle_metric),
                *self.panel_commands()]

    def action_leave(self) -> None:
        # here, not at the top: messages imports the run package, which `tokenflood results`
        # and `tokenflood compare` otherwise never load (about 0.35 s)
        from ..messages import LeaveScreen
        self.post_message(LeaveScreen(self))


def _kind(folder: Path) -> str:
    """summary.json's `type`, read without validating (a broken file gets the load-test view,
    which says what is wrong with it), or "sessions" for a load test whose phases started
    sessions; a killed run's, from its journal (its partial summary has no sessions)."""
    try:
        data = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        started = next((e for e in read_journal(folder) if isinstance(e, RunStarted)), None)
        return started.kind if started is not None else "load_test"
    except (OSError, ValueError):
        return "load_test"
    if not isinstance(data, dict):
        return "load_test"
    kind = data.get("type", "load_test")
    phases = data.get("phases")
    # (summaries of the first session runs have no `workload`: their phases say it)
    if kind == "load_test" and (data.get("workload") == "sessions" or isinstance(phases, list)
                                and any(isinstance(ph, dict) and ph.get("sessions")
                                        for ph in phases)):
        return "sessions"
    return kind


class LoadTestResultsScreen(ResultsScreen):
    PANELS: ClassVar[tuple[Panel, ...]] = (
        Panel("summary", "Phases", "phases, failures and warnings", "#results-tables"),
        Panel("metrics", "All metrics", "table of every metric", "#results-tables"),
        Panel("chart", "Chart", "chart", "#chart"))
    BINDINGS = [*panel_bindings("results", PANELS),
                Binding("t", "toggle_metric", "TTFT/e2e", id="results-toggle-chart"),
                *back_bindings("results")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    DEFAULT_CSS = """
    LoadTestResultsScreen #results-head { height: auto; padding: 0 1; }
    LoadTestResultsScreen #results-body { height: 1fr; }
    LoadTestResultsScreen #results-tables { width: 3fr; }
    LoadTestResultsScreen #results-tables > * { margin-bottom: 1; }
    LoadTestResultsScreen #results-tables DataTable { height: auto; max-height: 14; }
    LoadTestResultsScreen #results-tables .section { height: 1; margin-bottom: 0;
                                                     text-style: bold; color: $accent;
                                                     padding: 0 1; }
    LoadTestResultsScreen #chart { width: 2fr; border: round $primary; }
    LoadTestResultsScreen.-narrow #chart { display: none; }
    LoadTestResultsScreen #results-warnings { height: auto; padding: 0 1; }

    LoadTestResultsScreen.-solo #results-tables > *,
    LoadTestResultsScreen.-solo #results-head { display: none; }
    LoadTestResultsScreen.-solo-summary #results-tables > .summary { display: block; }
    LoadTestResultsScreen.-solo-metrics #results-tables > .metrics { display: block; }
    LoadTestResultsScreen.-solo-metrics #results-metrics { max-height: 100%; }
    LoadTestResultsScreen.-solo-chart #results-tables { display: none; }
    LoadTestResultsScreen.-solo-chart #chart { display: block; width: 1fr; }
    LoadTestResultsScreen.-solo-summary #chart,
    LoadTestResultsScreen.-solo-metrics #chart { display: none; }
    """

    def compose(self) -> ComposeResult:
        s = self.summary
        if s is None:
            yield from self._error()
            return
        yield Header()
        b = s.budget
        cost = "unknown" if b.estimated_cost_usd is None else f"${b.estimated_cost_usd:.4f}"
        head = [f"{s.run_name} on {s.model} ({s.provider}, client {s.client}) — "
                f"{s.status}" + (f": {s.message}" if s.message else ""),
                f"{s.started_at} → {s.finished_at}   input {b.actual_input_tokens:,} tokens, "
                f"output {b.actual_output_tokens:,} tokens, estimated cost {cost}",
                f"folder: {self.folder}"]
        if s.saturated_at_rps is not None:    # a row at 80x24: only when there is one to say
            head.insert(2, f"⚠ {report.saturation_line(s)}")
        if s.server is not None and s.server.queue_from_phase is not None:
            head.insert(2, f"server queue: {report.server_queue_line(s)}")
        if s.search is not None:    # a capacity search: its answer first of all
            head.insert(1, f"answer: {s.search.answer}")
        if s.cluster is not None:
            head.append(report.cluster_line(s.cluster))
        yield Static("\n".join(head), id="results-head", markup=False)
        with Horizontal(id="results-body"):
            with VerticalScroll(id="results-tables"):
                yield Static(self.panel_title("summary", "phases"), id="results-phases-title",
                             classes="section summary")
                yield PhaseTable([ph.target_rps for ph in s.phases], s.percentiles, final=True,
                                 checks=bool(s.thresholds), unit=s.rate_unit, id="results-phases",
                                 classes="summary")
                yield from _thresholds(s, "summary")
                failed = any(ph.errors for ph in s.phases)
                yield Static("failures by kind and HTTP status" if failed else "no failures",
                             classes="section summary")
                if failed:
                    yield DataTable(id="results-errors", cursor_type="row", zebra_stripes=True,
                                    classes="summary")
                limits = report.limits_table(s.phases)
                if limits is not None:      # a hosted provider's limits and refusals
                    said = report.limits_line(s)
                    yield Static("rate limits" + (f": {said}" if said else ""),
                                 classes="section summary")
                    yield DataTable(id="results-limits", cursor_type="row", zebra_stripes=True,
                                    classes="summary")
                # a failed threshold is a warning too: the run exits 4
                warnings = s.warnings + ([f"✗ {report.threshold_verdict(s)}"]
                                         if failed_any(s.thresholds) else [])
                yield Static("warnings:\n" + "\n".join(f"  ⚠ {w}" for w in warnings) if warnings
                             else "no warnings", id="results-warnings",
                             classes="summary " + ("warning-text" if warnings else "muted"),
                             markup=False)
                if report.server_table(s.phases, s.percentiles) is not None:
                    engine = s.server.engine if s.server and s.server.engine else "the server"
                    yield Static(f"{engine}'s own figures by phase · - : not published",
                                 classes="section summary", markup=False)
                    yield DataTable(id="results-server", cursor_type="row", zebra_stripes=True,
                                    classes="summary")
                yield from self.compose_sections(s)
                yield Static(self.panel_title("metrics", "every metric (ms)"), classes="section metrics")
                yield DataTable(id="results-metrics", cursor_type="row", zebra_stripes=True,
                                classes="metrics")
            yield LatencyChart(s.percentiles, title_prefix=self.panel_title("chart"), id="chart")
        yield Footer()

    def compose_sections(self, s: RunSummary) -> ComposeResult:
        """Sections of a view of its own between the phases' and every metric's."""
        yield from ()

    def on_mount(self) -> None:
        s = self.summary
        if s is None:
            return
        _fill_thresholds(self, s)
        phases = self.query_one("#results-phases", PhaseTable)
        phases.show(s.phases, None, self._table_width())
        self.query_one("#results-phases-title", Static).update(
            self.panel_title("summary", phases.title()))
        if any(ph.errors for ph in s.phases):
            errors = self.query_one("#results-errors", DataTable)
            errors.add_columns("phase", "failed as", "HTTP", "requests", "share")
            for ph in s.phases:
                for e in ph.errors:
                    errors.add_row(str(ph.phase), e.status, str(e.http_status or "-"),
                                   str(e.count), f"{e.count / (ph.ok + ph.failed):.1%}")
        server = report.server_table(s.phases, s.percentiles)
        if server is not None:
            table = self.query_one("#results-server", DataTable)
            table.add_columns(*server.head)
            table.add_rows(server.rows)
        limits = report.limits_table(s.phases)
        if limits is not None:
            table = self.query_one("#results-limits", DataTable)
            table.add_columns(*limits.head)
            for row in limits.rows:
                table.add_row(*row)
        pct = [pkey(p) for p in s.percentiles]
        metrics = self.query_one("#results-metrics", DataTable)
        metrics.add_columns("phase", "metric", "mean", *pct)
        shown = (*METRICS, *REASONING_METRICS) if reasoned(s.phases) else METRICS
        for ph in s.phases:
            for m in shown:
                dist = ph.metric(m)
                metrics.add_row(str(ph.phase), m, number(dist.mean, 2), *[number(dist[p], 2) for p in pct])
        self.query_one(LatencyChart).set_phases(s.phases)

    def on_resize(self, event: Resize) -> None:
        if self.summary is not None:
            self.call_after_refresh(self._refit)

    def _table_width(self) -> int:
        """Columns the phases table has: all of them, or the tables' share beside the chart."""
        width = self.size.width
        if self.has_class("-wide") and self.solo_panel is None:
            width = width * 3 // 5
        return width - TABLE_MARGIN

    def _refit(self) -> None:
        table = self.query_one("#results-phases", PhaseTable)
        if table.fit(self._table_width()):
            self.query_one("#results-phases-title", Static).update(
                self.panel_title("summary", table.title()))

    # ------------------------------------------------------------------ panels

    def _panels_changed(self) -> None:
        super()._panels_changed()
        self._refit()


class SessionResultsScreen(LoadTestResultsScreen):
    """A session run's: the load test's view with its sessions as key 2."""

    PANELS = (Panel("summary", "Phases", "phases, failures and warnings", "#results-tables"),
              Panel("sessions", "Sessions", "sessions and turns", "#results-tables"),
              Panel("metrics", "All metrics", "table of every metric", "#results-tables"),
              Panel("chart", "Chart", "chart", "#chart"))
    BINDINGS = [*panel_bindings("results", PANELS),
                Binding("t", "toggle_metric", "TTFT/e2e", id="results-toggle-chart"),
                *back_bindings("results")]
    DEFAULT_CSS = """
    SessionResultsScreen.-solo-sessions #results-tables > .sessions { display: block; }
    SessionResultsScreen.-solo-sessions #results-turns { max-height: 100%; }
    SessionResultsScreen.-solo-sessions #chart { display: none; }
    SessionResultsScreen #results-in-flight { height: auto; padding: 0 1; }
    """

    def __init__(self, folder: Path):
        super().__init__(folder)
        self._narrow: bool | None = None      # the turns table's headers are terse

    def compose_sections(self, s: RunSummary) -> ComposeResult:
        pct = "/".join(pkey(p) for p in s.percentiles)
        yield Static(self.panel_title("sessions", "sessions by phase · how they ended"),
                     classes="section sessions")
        yield DataTable(id="results-session-ends", cursor_type="row", zebra_stripes=True,
                        classes="sessions")
        yield Static("sessions/s: offered, achieved (started), completed · ramp (kept out)",
                     classes="section sessions")
        yield DataTable(id="results-session-rates", cursor_type="row", zebra_stripes=True,
                        classes="sessions")
        yield Static(f"session duration s, slowdown {pct}", classes="section sessions")
        yield DataTable(id="results-session-durations", cursor_type="row", zebra_stripes=True,
                        classes="sessions")
        yield Static("sessions in flight from each phase's start until drained",
                     classes="section sessions")
        yield Static("\n".join(in_flight_lines(s.phases)), id="results-in-flight",
                     classes="sessions", markup=False)
        yield Static("", id="results-turns-title", classes="section sessions", markup=False)
        yield DataTable(id="results-turns", cursor_type="row", zebra_stripes=True,
                        classes="sessions")

    def on_mount(self) -> None:
        # (LoadTestResultsScreen's on_mount runs too: Textual calls each class's handler)
        s = self.summary
        if s is None:
            return
        fill_ends(self.query_one("#results-session-ends", DataTable), s.phases)
        fill_rates(self.query_one("#results-session-rates", DataTable), s.phases)
        fill_durations(self.query_one("#results-session-durations", DataTable), s.phases,
                       s.percentiles)
        self._fill_turns()

    def on_resize(self, event: Resize) -> None:
        if self.summary is not None and (self.size.width < NARROW) != self._narrow:
            self._fill_turns()

    def _fill_turns(self) -> None:
        assert self.summary is not None
        self._narrow = self.size.width < NARROW
        pcts = self.summary.percentiles
        self.query_one("#results-turns-title", Static).update(turns_title(pcts, self._narrow))
        fill_turns(self.query_one("#results-turns", DataTable), self.summary.phases, pcts,
                   self._narrow)


class ObservationResultsScreen(ResultsScreen):
    """An observation's polls, hours of day, failures, warnings and the chart over time."""

    PANELS = (Panel("polls", "Polls", "polls, failures and warnings", "#obs-tables"),
              Panel("hours", "Hours of day", "hours of day", "#obs-tables"),
              Panel("chart", "Chart", "chart", "#obs-chart"))
    BINDINGS = [*panel_bindings("results", PANELS),
                Binding("t", "toggle_metric", "TTFT/e2e", id="results-toggle-chart"),
                *back_bindings("results")]
    # Below 32 rows the tables get the whole screen in the overview (key 3 shows the chart).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    DEFAULT_CSS = """
    ObservationResultsScreen #results-head { height: auto; padding: 0 1; }
    ObservationResultsScreen #obs-body { height: 1fr; }
    ObservationResultsScreen #obs-chart { height: 2fr; min-height: 12; border: round $primary; }
    ObservationResultsScreen.-short #obs-chart { display: none; }
    ObservationResultsScreen #obs-tables { height: 3fr; }
    ObservationResultsScreen #obs-tables > * { margin-bottom: 1; }
    ObservationResultsScreen #obs-tables DataTable { height: auto; max-height: 12; }
    ObservationResultsScreen #obs-tables .section { height: 1; margin-bottom: 0;
                                                    text-style: bold; color: $accent;
                                                    padding: 0 1; }
    ObservationResultsScreen #obs-tables .note { height: auto; padding: 0 1; }

    ObservationResultsScreen.-solo #obs-tables > *,
    ObservationResultsScreen.-solo #results-head { display: none; }
    ObservationResultsScreen.-solo-polls #obs-tables > .polls { display: block; }
    ObservationResultsScreen.-solo-polls #obs-polls { max-height: 60%; }   /* notes below */
    ObservationResultsScreen.-solo-hours #obs-tables > .hours { display: block; }
    ObservationResultsScreen.-solo-hours #obs-hours { max-height: 100%; }
    ObservationResultsScreen.-solo-chart #obs-tables { display: none; }
    ObservationResultsScreen.-solo-chart #obs-chart { display: block; height: 1fr; }
    ObservationResultsScreen.-solo-polls #obs-chart,
    ObservationResultsScreen.-solo-hours #obs-chart { display: none; }
    """

    def compose(self) -> ComposeResult:
        s = self.summary
        if s is None:
            yield from self._error()
            return
        yield Header()
        yield Static("\n".join(_observation_head(s, self.folder)), id="results-head",
                     markup=False)
        polls = s.polls
        pct = "/".join(pkey(p) for p in s.percentiles)
        with Vertical(id="obs-body"):
            yield OverTimeChart(s.percentiles, title_prefix=self.panel_title("chart"),
                                id="obs-chart")
            with VerticalScroll(id="obs-tables"):
                latencies = "TTFT, TTFA and e2e" if reasoned(polls) else "TTFT and e2e"
                yield Static(self.panel_title("polls", f"polls, newest first · {latencies} {pct} "
                                              "ms · out tok/s")
                             + (f" · {_day_span(polls)}" if polls else ""),
                             classes="section polls")
                yield DataTable(id="obs-polls", cursor_type="row", zebra_stripes=True,
                                classes="polls")
                missed = report.missed_lines(polls)
                if missed:
                    yield Static("missed:\n" + "\n".join(f"  ✗ {line}" for line in missed),
                                 id="obs-missed", classes="note polls warning-text", markup=False)
                if s.resumed:
                    yield Static("resumed:\n" + "\n".join(
                        f"  ↻ {line}" for line in report.resume_lines(s.resumed, True)),
                        id="obs-resumed", classes="note polls muted", markup=False)
                failed = any(p.errors for p in polls)
                yield Static("failures over all polls, by kind and HTTP status" if failed
                             else "no failures", classes="section polls")
                if failed:
                    yield DataTable(id="obs-failures", cursor_type="row", zebra_stripes=True,
                                    classes="polls")
                yield from _thresholds(s, "polls")
                warnings = s.warnings
                yield Static("warnings:\n" + "\n".join(f"  ⚠ {w}" for w in warnings) if warnings
                             else "no warnings", id="obs-warnings",
                             classes="note polls " + ("warning-text" if warnings else "muted"),
                             markup=False)
                yield Static(self.panel_title("hours", f"hours of day (UTC) · TTFT and e2e {pct} "
                                              "ms of the ok requests"),
                             classes="section hours")
                yield DataTable(id="obs-hours", cursor_type="row", zebra_stripes=True,
                                classes="hours")
        yield Footer()

    def on_mount(self) -> None:
        s = self.summary
        if s is None:
            return
        _fill_thresholds(self, s)
        pcts = s.percentiles
        polls = self.query_one("#obs-polls", DataTable)
        reasoning = reasoned(s.polls)        # TTFA beside TTFT once a model reasoned
        polls.add_columns("poll", "slot (UTC)", "ok/sent", "TTFT", *(["TTFA"] if reasoning else []),
                          "e2e", "tok/s")
        one_day = len({p.slot_utc[:10] for p in s.polls}) <= 1
        for poll in reversed(s.polls):
            polls.add_row(str(poll.phase), _slot(poll.slot_utc, one_day), _poll_outcome(poll),
                          percentiles(poll.ttft_ms, pcts, keys=False, unit=False),
                          *([percentiles(poll.ttfa_ms, pcts, keys=False, unit=False)]
                            if reasoning else []),
                          percentiles(poll.e2e_ms, pcts, keys=False, unit=False),
                          number(poll.output_tokens_per_s, 1), key=str(poll.phase))
        if any(p.errors for p in s.polls):
            errors = self.query_one("#obs-failures", DataTable)
            errors.add_columns("failed as", "HTTP", "requests", "share", "polls", "last (UTC)")
            for f in report.poll_failure_kinds(s.polls):
                errors.add_row(f.status, str(f.http_status or "-"), str(f.requests),
                               f"{f.share:.1%}", str(f.polls), report.slot_text(f.last_slot_utc))
        hours = self.query_one("#obs-hours", DataTable)
        hours.add_columns("hour (UTC)", "requests", "ok", "TTFT", "e2e")
        for h in s.hours:
            hours.add_row(f"{h.hour_utc:02d}:00", str(h.requests), str(h.ok),
                          percentiles(h.ttft_ms, pcts, keys=False, unit=False),
                          percentiles(h.e2e_ms, pcts, keys=False, unit=False))
        self.query_one(OverTimeChart).set_polls(s.polls)


def _thresholds(s: RunSummary, panel: str) -> ComposeResult:
    """The thresholds' section (a title saying how they went, and a table); none without."""
    verdict = report.threshold_verdict(s)
    if verdict is None:
        return
    failed = any(not r.passed for r in s.thresholds)
    yield Static(("✗ " if failed else "✓ ") + verdict, id="results-thresholds-title",
                 classes=f"section {panel}", markup=False)
    yield DataTable(id="results-thresholds", cursor_type="row", zebra_stripes=True,
                    classes=panel)


def _fill_thresholds(screen: ResultsScreen, s: RunSummary) -> None:
    """Each threshold: passed or not, in how many phases (polls), the failed ones with values."""
    if not s.thresholds:
        return
    word = "poll" if s.type == "observation" else "phase"
    table = screen.query_one("#results-thresholds", DataTable)
    table.add_columns("threshold", "result", f"{word}s passed", f"failed {word}s (value)")
    for result, cells in zip(s.thresholds, report.threshold_cells(s.thresholds, word), strict=True):
        table.add_row(result.threshold, Text("✓ pass") if result.passed
                      else Text("✗ FAIL", style="bold"), *cells)


def _observation_head(s: RunSummary, folder: Path) -> list[str]:
    """What ran, how far it got, when, and where the folder is: five lines at 80 columns."""
    b = s.budget
    cost = "unknown" if b.estimated_cost_usd is None else f"${b.estimated_cost_usd:.4f}"
    head = [f"{s.run_name} on {s.model} ({s.provider}, client {s.client}) — observation "
            f"{s.status}" + (f": {s.message}" if s.message else "")]
    obs = s.observation
    if obs is not None:
        head.append(f"{obs.polls} polls, every {span(obs.interval_s)} over "
                    f"{span(obs.duration_hours * 3600)}, {obs.num_requests} "
                    f"requests within {obs.within_seconds:g} s each"
                    + (", slots aligned to the interval" if obs.align else ""))
    polls = s.polls
    n_missed = sum(1 for p in polls if p.missed)
    head.append(f"{len(polls) - n_missed} ran, {n_missed} missed · "
                f"{sum(p.ok for p in polls)} of {sum(p.sent for p in polls)} requests ok · "
                f"tokens {b.actual_input_tokens:,} in, {b.actual_output_tokens:,} out · "
                f"cost {cost}")
    if polls:
        first, last = report.slot_text(polls[0].slot_utc), report.slot_text(polls[-1].slot_utc)
        head.append(f"{first} → {last[11:] if last[:10] == first[:10] else last} UTC")
    head.append(f"folder: {folder}")
    return head


def _slot(slot_utc: str, one_day: bool) -> str:
    """A poll's slot: the clock time, with the date when the run spans days."""
    t = datetime.fromisoformat(slot_utc.replace("Z", "+00:00"))
    return t.strftime("%H:%M:%S") if one_day else t.strftime("%m-%d %H:%M:%S")


def _day_span(polls: list[PollStats]) -> str:
    first, last = polls[0].slot_utc[:10], polls[-1].slot_utc[:10]
    return first if first == last else f"{first} to {last}"


def _poll_outcome(poll: PollStats) -> Text:
    """'3/3'; a poll with failures or a missed one stands out."""
    if poll.missed:
        return Text("✗ missed", style="bold")
    text = f"{poll.ok}/{poll.sent}"
    return Text(f"{text} ✗", style="bold") if poll.failed else Text(text)
