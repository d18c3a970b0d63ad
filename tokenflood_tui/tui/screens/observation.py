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
from collections import deque
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Static

from ...live.poll_feed import PollEvent, PollFeed, hms_utc
from ...outputs.formats import clock, percentiles
from ...run.coordinator import RunSnapshot
from ...specs import ObservationSuite
from ...live.throttle import FailureThrottle
from ...run.events import RunEvent, subject
from ..messages import RunEventMessage, RunFinishedMessage, RunSnapshotMessage
from ..widgets.over_time_chart import OverTimeChart
from ..widgets.polls import PollTable, PollTimeline
from ..widgets.run_log import RunLog
from .live import LiveRunScreen, live_bindings

LOG_STYLES = {"error": "bold red", "warning": "yellow", "info": ""}
LOG_LINES = 500             # the log keeps this many lines (errors.log keeps them all)
PINNED_WARNINGS = 3         # the newest warnings stay above the log; the title counts them all
PANEL_IDS = {"last": "#last-panel", "timeline": "#timeline-panel", "polls": "#polls-panel",
             "chart": "#chart", "log": "#log-panel"}


class ObservationScreen(LiveRunScreen):
    """Watches one observation's RunController; stopping and leaving ask, results are kept."""

    PANELS = tuple(PANEL_IDS)
    BINDINGS = live_bindings("obs", [("last", "Last poll"), ("timeline", "Timeline"),
                                     ("polls", "Polls"), ("chart", "Chart"), ("log", "Log")])
    # Below 32 rows the header goes and the log shrinks; below 32 rows or 110 columns the chart
    # leaves the overview for its key (4): a chart of six rows, or beside the table at 80
    # columns, would be unreadable.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    DEFAULT_CSS = """
    ObservationScreen.-short Header { display: none; }
    ObservationScreen #obs-status, ObservationScreen #obs-clock {
        height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
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
    ObservationScreen #log-panel { height: 8; border: round $panel; }
    ObservationScreen.-short #log-panel { height: 4; }
    ObservationScreen #warnings { height: auto; max-height: 3; color: $warning; }
    ObservationScreen.-short #warnings { max-height: 1; text-wrap: nowrap;
                                         text-overflow: ellipsis; }
    ObservationScreen #log { height: 1fr; }

    /* one panel maximised (keys 1-5): the status and clock lines stay */
    ObservationScreen.-solo #last-panel, ObservationScreen.-solo #timeline-panel,
    ObservationScreen.-solo #obs-bottom, ObservationScreen.-solo #log-panel,
    ObservationScreen.-solo Header { display: none; }
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
    ObservationScreen.-solo-log #log-panel { display: block; height: 1fr; }
    ObservationScreen.-solo-log #warnings { max-height: 50%; }
    """

    def __init__(self, controller):
        super().__init__(controller, FailureThrottle(polls_counted="on the last-poll panel (key 1)"))
        suite = controller.suite
        assert isinstance(suite, ObservationSuite)
        self.suite: ObservationSuite = suite
        self.endpoint = controller.endpoint
        self.feed = PollFeed(suite.interval_s)
        self.snapshot: RunSnapshot | None = None
        self.last_poll: PollEvent | None = None       # the newest poll that ran
        self.polls_done = 0
        self.polls_missed = 0
        self.warnings: deque[str] = deque(maxlen=PINNED_WARNINGS)
        self.warning_count = 0
        self._poll: int | None = None                # the poll the last events were about
        self._warnings_seen: set[str] = set()        # of that poll only (bounded)
        self._stop_logged = False

    def compose(self) -> ComposeResult:
        pct = self.suite.percentiles
        yield Header()
        yield Static(self._status(), id="obs-status", markup=False)
        yield Static(self._clock(), id="obs-clock", markup=False)
        with Vertical(id="last-panel") as last:
            last.border_title = "1 last poll"
            yield Static("no poll has finished yet", id="last", markup=False)
            yield Static("", id="last-failures", classes="-none", markup=False)
        with Vertical(id="timeline-panel") as timeline:
            timeline.border_title = "2 timeline, one cell per poll"
            yield PollTimeline(pct, id="timeline")
        with Horizontal(id="obs-bottom"):
            with Vertical(id="polls-panel") as polls:
                polls.border_title = "3 latest polls (ms)"
                yield PollTable(pct, days=self.suite.duration_hours > 24, id="polls")
            yield OverTimeChart(pct, self.suite.interval_s, title_prefix="4 ", id="chart")
        with Vertical(id="log-panel") as log_panel:
            log_panel.border_title = "5 log"
            warnings = Static("", id="warnings", markup=False)
            warnings.display = False
            yield warnings
            yield RunLog(max_lines=LOG_LINES, id="log")
        yield Footer()

    def on_mount(self) -> None:
        for ev in list(self.controller.events)[-LOG_LINES:]:
            self.show_event(ev)
        self.set_interval(1.0, self._tick)      # the countdown and the clock move every second

    def _tick(self) -> None:
        self.query_one("#obs-status", Static).update(self._status())
        self.query_one("#obs-clock", Static).update(self._clock())

    def _panels_changed(self) -> None:
        super()._panels_changed()
        chart = self.query_one(OverTimeChart)
        self.call_after_refresh(chart.redraw_if_needed)

    # ------------------------------------------------------------------ status and clock

    def _status(self) -> str:
        return (self._stage_text() + f" — observation {self.suite.name!r} on "
                f"{self.endpoint.model} ({self.endpoint.provider})")

    def _counts(self) -> str:
        missed = f", {self.polls_missed} missed" if self.polls_missed else ""
        return f"{self.polls_done} done{missed}"

    def _stage_text(self) -> str:
        snap = self.snapshot
        total = self.feed.total or self.suite.polls
        if self.controller.finished:
            result = self.controller.result
            if result is None:
                return "failed (see the log); q: quit"
            s = result.summary
            ended = f"{s.status}: {self._counts()} of {total} polls"
            return ended + (f" ({s.message})" if s.message and s.status != "completed" else "") \
                + "; r: results, q: quit"
        if snap is None or snap.stage == "preparing":
            if snap is not None and snap.status is not None:
                return "stopping before the first poll"
            return "warming up and calibrating…"
        if snap.status is not None:
            verb = "aborting" if snap.status == "aborted" else "stopping"
            return (f"{verb}" + (f" ({snap.message})" if snap.message else "")
                    + ": waiting for in-flight requests")
        if snap.stage == "waiting" and snap.next_slot_utc is not None:
            poll = self._poll_at(snap.next_slot_utc)
            return (f"poll {poll}/{total} in {clock(snap.next_slot_utc - time.time())} (at "
                    f"{hms_utc(snap.next_slot_utc)} UTC) · {self._counts()}")
        current = snap.phases[-1] if snap.phases and not snap.phases[-1].finished else None
        if current is not None:
            word = "draining" if snap.stage == "draining" else "running"
            return (f"poll {current.phase}/{total} {word}: {current.sent} of {current.planned} "
                    f"sent, {current.in_flight} in flight · {self._counts()}")
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

    @on(RunSnapshotMessage)
    def _on_snapshot(self, message: RunSnapshotMessage) -> None:
        snap, previous = message.snapshot, self.snapshot
        self.snapshot = snap
        if snap.status is not None and (previous is None or previous.status is None):
            self._log_stop(snap.status, snap.message)
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
            f"e2e {percentiles(ph.e2e_ms, self.suite.percentiles)}")
        done = ph.ok + ph.failed
        failures.set_class(not ph.failed, "-none")
        failures.update((f"✗ {ph.failed} of {done} failed: {e.failures}" if ph.failed
                         else "✓ no failures in this poll") + then)

    # ------------------------------------------------------------------ log

    @on(RunEventMessage)
    def _on_event(self, message: RunEventMessage) -> None:
        self.show_event(message.event)

    def show_event(self, ev: RunEvent) -> None:
        about = subject(ev)
        if about is not None and about[1] != self._poll:   # a new poll: forget the last one's
            self._poll, self._warnings_seen = about[1], set()
        super().show_event(ev)

    def _log(self, level: str, text: str, pin: bool = True) -> None:
        """A log line; the newest warnings stay above the log (a poll's failures are
        throttled before: live/throttle.py)."""
        if level == "warning" and pin and text not in self._warnings_seen:
            self._warnings_seen.add(text)
            self.warnings.append(text)
            self.warning_count += 1
            warnings = self.query_one("#warnings", Static)
            warnings.display = True
            warnings.update("\n".join(f"⚠ {w}" for w in reversed(self.warnings)))
            count = self.warning_count
            self.query_one("#log-panel").border_title = (
                f"5 log · ⚠ {count} warning{'s' if count > 1 else ''}")
        prefix = "" if level == "info" else f"{level}: "
        self.query_one("#log", RunLog).add(Text(prefix + text, style=LOG_STYLES.get(level, "")))

    def note_stopping(self) -> None:
        self._log("warning", "stopping: no new requests; waiting for in-flight ones", pin=False)

    def _log_stop(self, status: str, message: str | None) -> None:
        self._stop_logged = True
        self._log("error" if status == "aborted" else "warning",
                  f"{status}" + (f": {message}" if message else ""), pin=False)

    @on(RunFinishedMessage)
    def _on_finished(self, message: RunFinishedMessage) -> None:
        s = self.run_ended(message, "observation")
        if s is not None:
            if s.polls:
                self.query_one(OverTimeChart).set_polls(list(s.polls), self.feed.anchor_utc)
        self._tick()
        self.refresh_bindings()

    # ------------------------------------------------------------------ actions

    def action_toggle_metric(self) -> None:
        self.query_one(OverTimeChart).toggle_metric()

    def palette_commands(self):
        return [("Stop run", "Stop polling and keep the results so far", self.action_stop_run),
                ("Switch chart TTFT/e2e", "Toggle the chart's metric", self.action_toggle_metric),
                ("Maximise the last poll", "Key 1 (again, 0 or Esc: overview)",
                 lambda: self.action_panel("last")),
                ("Maximise the timeline", "Key 2", lambda: self.action_panel("timeline")),
                ("Maximise the polls table", "Key 3", lambda: self.action_panel("polls")),
                ("Maximise the chart", "Key 4", lambda: self.action_panel("chart")),
                ("Maximise the log", "Key 5", lambda: self.action_panel("log")),
                ("Open results", "Summary of the finished run", self.action_open_results)]


def _at(t: float, fmt: str) -> str:
    """A time in UTC and in local time ('12:00:00 UTC, 14:00:00 CEST'; once where they agree;
    the local weekday only where it differs)."""
    utc, local = datetime.fromtimestamp(t, UTC), datetime.fromtimestamp(t).astimezone()
    if local.utcoffset() == utc.utcoffset():
        return f"{utc.strftime(fmt)} UTC (= local)"
    local_fmt = fmt.replace("%a ", "") if local.weekday() == utc.weekday() else fmt
    return f"{utc.strftime(fmt)} UTC, {local.strftime(local_fmt)} {local.strftime('%Z')}"

