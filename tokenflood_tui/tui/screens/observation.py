"""The live view of an observation: polls on the wall clock for hours or days.

How it stands (the poll under way, or a countdown to the next), the clock in UTC and local time
and the time left; then five panels, each maximised by its number key (the same key, 0 or Esc
bring back the overview): 1 the last poll's figures and failures by kind, 2 a timeline of the
recent polls (sparklines, missed polls marked), 3 the latest polls as a table, 4 the chart of
every poll against the time of day, 5 the log.

Built to stay open for days: every widget keeps a fixed number of polls or lines, and the work
that depends on the history (the timeline, the table, the chart) is done when a poll finishes or
is missed, not for every snapshot.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from ...live.limits import headroom_text
from ...live.poll_feed import PollEvent, PollFeed, hms_utc
from ...live.throttle import FailureThrottle
from ...metrics.summary import RunSummary
from ...outputs.formats import clock, percentiles
from ...run.coordinator import RunSnapshot
from ...run.events import RunEvent, subject
from ...specs import ObservationSuite
from ..widgets.log_panel import LogPanel
from ..widgets.over_time_chart import OverTimeChart
from ..widgets.polls import PollTable, PollTimeline
from .live import LiveRunScreen, live_bindings
from .panels import Panel

LOG_LINES = 500             # the log keeps this many lines (errors.log keeps them all)
PINNED_WARNINGS = 3         # the newest warnings stay above the log; the title counts them all


class ObservationScreen(LiveRunScreen):
    """Watches one observation's RunController; stopping and leaving ask, results are kept."""

    KIND = "observation"
    STOP_COMMAND = ("Stop run", "Stop polling and keep the results so far")
    BEFORE_LOAD = "the first poll"
    PANELS = (Panel("last", "Last poll", "last poll", "#last-panel"),
              Panel("timeline", "Timeline", "timeline", "#timeline-panel"),
              Panel("polls", "Polls", "polls table", "#polls-panel"),
              Panel("chart", "Chart", "chart", "#chart"),
              Panel("log", "Log", "log", "#log-panel"))
    BINDINGS = live_bindings("obs", PANELS)
    # Below 32 rows (-short) the log shrinks; below 32 rows or 110 columns the chart leaves the
    # overview for its key (4): a chart of six rows, or beside the table at 80 columns, would be
    # unreadable.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    DEFAULT_CSS = """
    ObservationScreen #obs-status { text-style: bold; }
    ObservationScreen #last-panel { height: auto; border-top: solid $primary; padding: 0 1; }
    ObservationScreen #last { height: auto; max-height: 2; text-wrap: nowrap;
                              text-overflow: ellipsis; }
    ObservationScreen #last-failures { height: 1; color: $error; text-wrap: nowrap;
                                       text-overflow: ellipsis; }
    ObservationScreen #last-failures.-none { color: $text-muted; }
    ObservationScreen #timeline-panel { height: auto; border: round $primary; padding: 0 1; }
    ObservationScreen #obs-bottom { height: 1fr; }
    ObservationScreen #polls-panel { width: 1fr; border: round $primary; padding: 0 1; }
    ObservationScreen.-wide #polls-panel { width: 76; }
    ObservationScreen #chart { width: 1fr; border: round $primary; }
    ObservationScreen.-short #chart, ObservationScreen.-narrow #chart { display: none; }
    ObservationScreen #log-panel { height: 8; }
    ObservationScreen.-short #log-panel { height: 4; }

    /* one panel maximised (keys 1-5): the status and clock lines stay */
    ObservationScreen.-solo #last-panel, ObservationScreen.-solo #timeline-panel,
    ObservationScreen.-solo #obs-bottom { display: none; }
    ObservationScreen.-solo-last #last-panel { display: block; height: 1fr; }
    ObservationScreen.-solo-last #last { max-height: 100%; text-wrap: wrap; }
    ObservationScreen.-solo-last #last-failures { height: auto; text-wrap: wrap; }
    ObservationScreen.-solo-timeline #timeline-panel { display: block; height: 1fr; }
    ObservationScreen.-solo-polls #obs-bottom, ObservationScreen.-solo-chart #obs-bottom {
        display: block; }
    ObservationScreen.-solo-polls #polls-panel { width: 1fr; height: 1fr; }
    ObservationScreen.-solo-polls #chart { display: none; }
    ObservationScreen.-solo-chart #polls-panel { display: none; }
    ObservationScreen.-solo-chart #chart { display: block; height: 1fr; }
    """

    def __init__(self, controller):
        super().__init__(controller, FailureThrottle(
            polls_counted=f"on the last-poll panel (key {self.panel_key('last')})"))
        suite = controller.suite
        assert isinstance(suite, ObservationSuite)
        self.suite: ObservationSuite = suite
        self.feed = PollFeed(suite.interval_s)
        self.last_poll: PollEvent | None = None       # the newest poll that ran
        self.polls_done = 0
        self.polls_missed = 0
        self._poll: int | None = None                # the poll the last events were about

    def compose(self) -> ComposeResult:
        pct = self.suite.percentiles
        yield Header()
        yield Static(self.status_text(), id="obs-status", classes="status-line", markup=False)
        yield Static(self._clock(), id="obs-clock", classes="status-line", markup=False)
        with Vertical(id="last-panel") as last:
            last.border_title = self.panel_title("last", "last poll")
            yield Static("no poll has finished yet", id="last", markup=False)
            yield Static("", id="last-failures", classes="-none", markup=False)
        with Vertical(id="timeline-panel") as timeline:
            timeline.border_title = self.panel_title("timeline", "timeline, one cell per poll")
            yield PollTimeline(pct, id="timeline")
        with Horizontal(id="obs-bottom"):
            with Vertical(id="polls-panel") as polls:
                polls.border_title = self.panel_title("polls", "latest polls (ms)")
                yield PollTable(pct, days=self.suite.duration_hours > 24, id="polls")
            yield OverTimeChart(pct, self.suite.interval_s, title_prefix=self.panel_title("chart"),
                                id="chart")
        yield self.log_panel(max_lines=LOG_LINES, pinned=PINNED_WARNINGS)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)      # the countdown and the clock move every second

    def _tick(self) -> None:
        self.query_one("#obs-status", Static).update(self.status_text())
        self.query_one("#obs-clock", Static).update(self._clock())

    # ------------------------------------------------------------------ status and clock

    def _counts(self) -> str:
        missed = f", {self.polls_missed} missed" if self.polls_missed else ""
        return f"{self.polls_done} done{missed}"

    def _total(self) -> int:
        return self.feed.total or self.suite.polls

    def ended_text(self, summary: RunSummary) -> str:
        return (f"{summary.status}: {self._counts()} of {self._total()} polls"
                + (f" ({summary.message})" if summary.message and summary.status != "completed"
                   else ""))

    def running_text(self, snap: RunSnapshot) -> str:
        total = self._total()
        if snap.stage == "waiting" and snap.next_slot_utc is not None:
            poll = self._poll_at(snap.next_slot_utc)
            return (f"poll {poll}/{total} in {clock(snap.next_slot_utc - time.time())} (at "
                    f"{hms_utc(snap.next_slot_utc)} UTC) · {self._counts()}")
        current = snap.phases[-1] if snap.phases and not snap.phases[-1].finished else None
        if current is not None:
            word = "draining" if snap.stage == "draining" else "running"
            room = headroom_text(current)
            return (f"poll {current.phase}/{total} {word}: {current.sent} of {current.planned} "
                    f"sent, {current.in_flight} in flight · {self._counts()}"
                    + (f" · {room}" if room else ""))
        return f"{snap.stage} · {self._counts()}"

    def _poll_at(self, slot_utc: float) -> int:
        anchor = self.feed.anchor_utc
        if anchor is None:
            return (self.snapshot.phase if self.snapshot else 0) + 1
        return round((slot_utc - anchor) / self.suite.interval_s) + 1

    def _clock(self, now: float | None = None) -> str:
        """'12:10:28 UTC, 14:10:28 CEST · 2d 23:49:32 left · ends Fri 12:00 UTC, 14:00 CEST': the
        slots are in UTC, the user's day in local time."""
        now = time.time() if now is None else now
        text = _at(now, "%H:%M:%S")
        ends = self.snapshot.ends_utc if self.snapshot else None
        if ends is None:
            return text
        if self.controller.finished:
            return text + " · ended"
        fmt = "%H:%M:%S" if ends - now < 86400 else "%a %H:%M"
        return text + f" · {clock(ends - now)} left · ends {_at(ends, fmt)}"

    # ------------------------------------------------------------------ snapshots

    def show_snapshot(self, snap: RunSnapshot) -> None:
        events = self.feed.update(snap)            # only what is new since the last snapshot
        if events:
            self._add_polls(events, snap)
        current = snap.phases[-1] if snap.phases and not snap.phases[-1].finished else None
        self.query_one(PollTable).set_running(
            current.phase if current else None,
            self.feed.slot_utc(current.phase) if current else None, current)
        self._tick()

    def _add_polls(self, events: list[PollEvent], snap: RunSnapshot) -> None:
        for e in events:
            if e.missed is not None:
                self.polls_missed += 1
            else:
                self.polls_done += 1
                self.last_poll = e
        self.query_one(PollTimeline).add(events)
        self.query_one(PollTable).add(events)
        self._show_last(events[-1])
        done = len(snap.phases) - (1 if snap.phases and not snap.phases[-1].finished else 0)
        self.query_one(OverTimeChart).set_polls(snap.phases[:done], self.feed.anchor_utc)

    def _show_last(self, newest: PollEvent) -> None:
        """The newest poll that ran: counts, latencies, failures by kind (and a missed poll
        after it, on the failures line)."""
        e = self.last_poll
        last = self.query_one("#last", Static)
        failures = self.query_one("#last-failures", Static)
        then = f" · then poll {newest.poll} missed: {newest.missed}" if newest.missed else ""
        if e is None or e.stats is None:
            last.update("no poll has run yet")
            failures.update(then.removeprefix(" · "))
            return
        ph = e.stats
        slot = f" {hms_utc(e.slot_utc)} UTC" if e.slot_utc is not None else ""
        late = ph.dispatch_delay_ms.at(99) if 99 in self.suite.percentiles else None
        late_text = f" · sent ≤ {late:.0f} ms late (p99)" if late is not None else ""
        stopped = " (stopped)" if e.stopped else ""
        last.update(
            f"poll {e.poll}/{self.feed.total}{slot}{stopped}: {ph.sent} sent, {ph.ok} ok, "
            f"{ph.failed} failed{late_text}\n"
            f"TTFT {percentiles(ph.ttft_ms, self.suite.percentiles)} · "
            + (f"TTFA {percentiles(ph.ttfa_ms, self.suite.percentiles)} · " if ph.reasoning
               else "")
            + f"e2e {percentiles(ph.e2e_ms, self.suite.percentiles)}")
        done = ph.ok + ph.failed
        failures.set_class(not ph.failed, "-none")
        failures.update((f"✗ {ph.failed} of {done} failed: {e.failures}" if ph.failed
                         else "✓ no failures in this poll") + then)

    # ------------------------------------------------------------------ log

    def show_event(self, ev: RunEvent) -> None:
        about = subject(ev)
        if about is not None and about[1] != self._poll:   # a new poll: pin its own warnings
            self._poll = about[1]
            self.query_one(LogPanel).forget_seen()
        super().show_event(ev)

    def show_ended(self, summary: RunSummary | None) -> None:
        if summary is not None and summary.polls:
            self.query_one(OverTimeChart).set_polls(list(summary.polls), self.feed.anchor_utc)
        self._tick()


def _at(t: float, fmt: str) -> str:
    """A time in UTC and in local time ('12:00:00 UTC, 14:00:00 CEST'; once where they agree;
    the local weekday only where it differs)."""
    utc, local = datetime.fromtimestamp(t, UTC), datetime.fromtimestamp(t).astimezone()
    if local.utcoffset() == utc.utcoffset():
        return f"{utc.strftime(fmt)} UTC (= local)"
    local_fmt = fmt.replace("%a ", "") if local.weekday() == utc.weekday() else fmt
    return f"{utc.strftime(fmt)} UTC, {local.strftime(local_fmt)} {local.strftime('%Z')}"

