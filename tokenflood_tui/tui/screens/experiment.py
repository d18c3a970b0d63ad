"""The live view of an A/B experiment: which variant sends now, in which round and at what rate
(turn n of N), that phase's figures as they stand, a row per finished turn, the log; at the end
the verdicts and where the folder is.

Three panels, each maximised by its number key (the same key, 0 or Esc bring back the
overview): 1 the turn sending now (at the end: the verdicts), 2 the turns so far, 3 the log.
Rendering stays off the timing path: the experiment runs on its own thread and loop, requests
are sent from worker processes, and snapshots arrive coalesced a few times a second.
"""

from __future__ import annotations

import time

from pathlib import Path
from textual import on
from textual.binding import Binding
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Label, ProgressBar, Static

from ...compare.output import verdict_line
from ...live.throttle import FailureThrottle
from ...live.turn_feed import TurnRow
from ...metrics.summary import pkey
from ...outputs.charts import run_letter
from ...outputs.formats import ms
from ..experiment_controller import (ExperimentController, ExperimentFinishedMessage,
                                     ExperimentSnapshotMessage)
from ..widgets.turns import TurnTable, verdict_text
from .live import FAILED, WAITING, LiveRunScreen, live_bindings
from .panels import Panel

ENDED = {0: "completed", 1: "aborted", 3: "stopped at a token limit", 130: "interrupted"}


class ExperimentScreen(LiveRunScreen):
    """Watches one ExperimentController; stopping, leaving and quitting mid-run ask first."""

    KIND = "experiment"
    STOP_COMMAND = ("Stop the experiment", "Stop every variant and keep what was measured")
    STOPPING = "stopping every variant"
    PANELS = (Panel("now", "Now", "turn sending now", "#now-panel"),
              Panel("turns", "Turns", "turns table", "#turns-panel"),
              Panel("log", "Log", "log", "#log-panel"))
    BINDINGS = live_bindings("ab", PANELS, chart=False) + [
        Binding("c", "open_comparison", "Comparison", id="ab-comparison")]
    # Below 32 rows (-short) the log shrinks, and more once the verdicts are in.
    DEFAULT_CSS = """
    ExperimentScreen #ab-status { text-style: bold; }
    ExperimentScreen #ab-about { color: $text-muted; }
    ExperimentScreen #now-panel { height: auto; max-height: 50%; border-top: solid $primary;
                                  padding: 0 1; }
    ExperimentScreen #now { height: auto; }
    ExperimentScreen #verdicts { height: auto; }
    ExperimentScreen #verdicts.-none { display: none; }
    ExperimentScreen #turns-panel { height: 1fr; border: round $primary; padding: 0 1; }
    ExperimentScreen #turns { height: 1fr; }
    ExperimentScreen #log-panel { height: 10; }
    ExperimentScreen.-short #log-panel { height: 6; }
    ExperimentScreen.-short.-ended #log-panel { height: 4; }

    /* one panel maximised (keys 1-3): the status lines stay */
    ExperimentScreen.-solo #now-panel, ExperimentScreen.-solo #turns-panel { display: none; }
    ExperimentScreen.-solo-now #now-panel { display: block; height: 1fr; max-height: 100%; }
    ExperimentScreen.-solo-turns #turns-panel { display: block; }
    """

    def __init__(self, controller: ExperimentController):
        # LiveRunScreen's stop and leave need only what both controllers have
        super().__init__(controller,  # type: ignore[arg-type]
                         FailureThrottle(f"in the turns table (key {self.panel_key('turns')})"))
        self.controller: ExperimentController = controller  # type: ignore[assignment]
        self.suite = controller.suite
        self.current: TurnRow | None = None
        self.finished_turns: list[TurnRow] = []
        self.percentile = controller.feed.percentile
        self.variant_phases = controller.rounds * len(self.suite.rates)   # of requests or sessions
        self._stopping = False
        # set when the finished message is handled (not when the thread ends), so the status
        # line and the verdicts change together
        self.ended = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.status_text(), id="ab-status", classes="status-line", markup=False)
        yield Static(self._about(), id="ab-about", classes="status-line", markup=False)
        with Horizontal(id="ab-progress-row", classes="progress-row"):
            yield ProgressBar(total=self.controller.turns, show_eta=False, id="ab-progress")
            yield Label(self._count(), id="ab-count", classes="progress-note", markup=False)
        with VerticalScroll(id="now-panel") as now:
            now.border_title = self.panel_title("now", "now sending")
            yield Static("", id="now", markup=False)
            yield Static("", id="verdicts", classes="-none", markup=False)
        with Vertical(id="turns-panel") as turns:
            turns.border_title = self.panel_title("turns", "turns so far")
            yield TurnTable(self.percentile, id="turns")
        yield self.log_panel(pinned=0)      # the log only (each variant's summary has its warnings)
        yield Footer()

    def on_mount(self) -> None:
        self._show()
        self.set_interval(1.0, self._tick)     # the elapsed time moves between snapshots

    def _tick(self) -> None:
        if not self.ended:
            self.query_one("#ab-about", Static).update(self._about())

    # ------------------------------------------------------------------ what it says

    def _names(self) -> list[str]:
        return [v.name for v in self.controller.variants]

    def _about(self) -> str:
        """The second status line: A/B 'suite': a (baseline) vs b · 2 rounds · 12 s elapsed,
        20 s of load left."""
        names = self._names()
        rounds = self.controller.rounds
        text = (f"A/B {self.suite.name!r}: {names[0]} (baseline) vs {', '.join(names[1:])} · "
                f"{rounds} round{'s' if rounds > 1 else ''}")
        started = self.controller.started_at
        if started is None or self.ended:
            return text
        left = self._load_left_s()
        return text + f" · {time.monotonic() - started:.0f} s elapsed, {left:.0f} s of load left"

    def _load_left_s(self) -> float:
        length = self.suite.test_length_in_seconds
        left = (self.controller.turns - len(self.finished_turns)) * length
        if self.current is not None and self.current.started:
            left -= min(self.current.elapsed_s, length)
        return max(0.0, left)

    def _count(self) -> str:
        return f"{len(self.finished_turns)} of {self.controller.turns} turns done"

    def status_text(self) -> str:
        """How the experiment stands, who sends first: a narrow terminal cuts the line's end."""
        c = self.controller
        if self.ended:
            result = c.result
            if result is None:
                return FAILED
            done = len(self.finished_turns)
            ended = ENDED.get(result.exit_code, "ended")
            turns = (f"all {done} turns" if done == c.turns else f"{done} of {c.turns} turns")
            cut = (" (the last cut short)" if self.finished_turns and self.finished_turns[-1].stopped
                   else "")
            return f"{ended}: {turns} ran{cut}; q: quit; results in {result.folder}"
        snap, turn = self.snapshot, self.current
        stopping = self.stopping_text(snap) if snap is not None else None
        if stopping or self._stopping:
            return stopping or "stopping" + WAITING
        if turn is None:
            return "finishing: writing the results and comparing the variants…"
        if not turn.started:
            if not self.finished_turns:
                return (f"warming up and calibrating {len(c.variants)} variants… then "
                        f"{turn.who}")
            return f"{turn.who} · starting"
        word = "draining" if turn.elapsed_s >= turn.length_s else "running"
        return (f"{turn.who} · {word} {min(turn.elapsed_s, turn.length_s):.0f}/"
                f"{turn.length_s:g} s")

    def _now_text(self) -> str:
        """The phase sending now, as the load-test view's current row says it."""
        turn = self.current
        if self.ended:
            result = self.controller.result
            if result is None:
                return self.controller.error or "the experiment failed"
            if result.comparison is None:
                return f"no comparison: a variant has no phase\nresults: {result.folder}"
            return f"results: {result.folder} (compare.md: every metric)"
        if turn is None or not turn.started:
            return "no phase is sending"
        p = pkey(self.percentile)
        return (f"sent {turn.sent}/{turn.planned} · in flight {turn.in_flight} · done "
                f"{turn.ok + turn.failed} · failed {turn.failed}\n"
                f"TTFT {p} {ms(turn.ttft_ms, 1)} · e2e {p} {ms(turn.e2e_ms, 1)} · "
                f"{turn.variant}'s phase {turn.phase}/{self.variant_phases}")

    def _show(self) -> None:
        self.query_one("#ab-status", Static).update(self.status_text())
        self.query_one("#ab-about", Static).update(self._about())
        self.query_one("#ab-progress", ProgressBar).update(progress=len(self.finished_turns))
        self.query_one("#ab-count", Label).update(self._count())
        now = self.query_one("#now", Static)
        text = self._now_text()
        now.display = bool(text)
        now.update(text)
        self.query_one(TurnTable).show(self.finished_turns)

    # ------------------------------------------------------------------ messages

    @on(ExperimentSnapshotMessage)
    def _on_snapshot(self, message: ExperimentSnapshotMessage) -> None:
        if message.snapshot is not None:
            self.snapshot = message.snapshot
        self.current = message.current
        self.finished_turns = message.finished
        self._show()

    def note_stopping(self) -> None:
        self._stopping = True
        super().note_stopping()
        self._show()

    @on(ExperimentFinishedMessage)
    def _on_finished(self, message: ExperimentFinishedMessage) -> None:
        self.ended = True
        self.add_class("-ended")
        self.current = None
        self.finished_turns = message.finished
        result = message.result
        self.run_ended(message.exit_code, message.error,
                       None if result is None else ENDED.get(result.exit_code, "ended"),
                       None if result is None else result.folder)
        if not message.error and result is not None and result.comparison is not None:
            c = result.comparison
            for i in range(1, len(c.runs)):
                self.write_log("info", f"{verdict_line(c, i)} ({run_letter(i)} = "
                                       f"{c.runs[i].name}, {run_letter(0)} = {c.runs[0].name})")
            verdicts = self.query_one("#verdicts", Static)
            verdicts.update(verdict_text(c, [r.name for r in c.runs]))
            verdicts.remove_class("-none")
        compared = result is not None and result.comparison is not None
        self.query_one("#now-panel").border_title = self.panel_title(
            "now", "verdicts" if compared else "how it ended")
        self._show()
        self.refresh_bindings()

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # at the end: c the comparison (when there is one), r a variant's results
        result = self.controller.result if self.ended else None
        if action == "open_comparison":
            return result is not None and result.comparison is not None
        if action == "open_results":
            return result is not None and bool(result.variants)
        return super().check_action(action, parameters)

    def action_open_comparison(self) -> None:
        result = self.controller.result
        if result is None or result.comparison is None:
            return
        from .compare import CompareScreen
        self.app.push_screen(CompareScreen(saved=result.folder))

    def action_open_results(self) -> None:
        """A chooser of the variants; the one picked opens in the results view."""
        result = self.controller.result
        if result is None:
            return
        from .choose import ChooseModal
        from .results import ResultsScreen
        names = [v.name for v in self.controller.variants]
        choices = [(f"{run_letter(i)} {names[i] if i < len(names) else r.folder.name}"
                    + (" (baseline)" if i == 0 else "") + f" · {r.summary.status}", r.folder)
                   for i, r in enumerate(result.variants)]

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.app.push_screen(ResultsScreen(folder))

        self.app.push_screen(ChooseModal("Open the results of", choices), chosen)

