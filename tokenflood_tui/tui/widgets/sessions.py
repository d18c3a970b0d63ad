"""A session run's live panel (docs/metrics.md#sessions): its sessions by phase, the sessions in
flight over the run, and TTFT and cache hit by turn index.

Three parts, top to bottom:
- the sessions table, one row per phase started: the rate (target, achieved), started of
  planned, in flight, and how the ended ones ended; all columns where they fit, a compact set
  at 80 columns (the panel title then says which phases are open);
- one line: the sessions in flight now over every open phase (a phase's sessions run on after
  its window, beside the next phase) and a sparkline of that count over the run;
- the turns table, turned on its side so an agent's thirty steps fit: one column per bucket
  of turn indexes (live/sessions.py), rows for requests, mean TTFT and e2e, the expected
  history and the cache hit.
"""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label

from ...live.sessions import TurnBucket, open_phases, sessions_in_flight, turn_buckets, turns_phase
from ...metrics.summary import PhaseStats, SessionStats
from ...outputs.formats import number, share
from .bars import LatencySpark

Mode = Literal["wide", "compact"]
IN_FLIGHT_POINTS = 2000      # samples of the in-flight count kept; past it, every other goes
HYSTERESIS = 2               # columns of slack before going back to the wide set
TURN_ROWS = (("requests", "requests"), ("ttft", "TTFT ms"), ("e2e", "e2e ms"),
             ("context", "history tok"), ("cache", "cache hit"))


def phase_state(ph: PhaseStats, newest: bool) -> str:
    """How a phase stands: starting sessions, draining (its window is over, sessions go on),
    or done."""
    if ph.finished:
        return "done"
    return "running" if newest and ph.elapsed_s < ph.length_s else "draining"


class SessionTable(DataTable):
    """One row per phase started, keyed by phase number."""

    def __init__(self, rates: list[float], **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rates = rates
        self.stats: dict[int, PhaseStats] = {}
        self.newest = 0
        self.mode: Mode | None = None

    def columns_for(self, mode: Mode) -> list[tuple[str, str]]:
        if mode == "wide":
            return [("phase", "phase"), ("state", "state"), ("target", "target/s"),
                    ("achieved", "achieved/s"), ("started", "started"),
                    ("in_flight", "in flight"), ("completed", "completed"),
                    ("context_limit", "context limit"), ("error", "error"), ("cut", "cut"),
                    ("subagents", "sub-agents")]
        return [("phase", "phase"), ("target", "target"), ("achieved", "actual"),
                ("started", "started"), ("in_flight", "in flight"), ("completed", "done"),
                ("context_limit", "limit"), ("error", "error"), ("cut", "cut"),
                ("subagents", "sub")]

    def title(self) -> str:
        """What the columns hold (the compact headers are terse; the in-flight line under the
        table says which phases are still open)."""
        if self.mode == "compact":
            return "sessions · done: completed · limit: context limit · sub: sub-agents"
        return "sessions by phase · sessions/s · how the ended ones ended"

    def cells(self, phase: int, mode: Mode) -> dict[str, str]:
        ph = self.stats.get(phase)
        s: SessionStats | None = ph.sessions if ph is not None else None
        keys = [key for key, _ in self.columns_for(mode)]
        if ph is None or s is None:
            return {key: "-" for key in keys} | {"phase": str(phase),
                                                 "target": f"{self.rates[phase - 1]:g}"}
        cells = {"phase": str(phase), "state": phase_state(ph, phase == self.newest),
                 "target": f"{ph.target_rps:g}",
                 "achieved": number(s.achieved_sps, 2 if mode == "wide" else 1),
                 "started": f"{s.started}/{s.planned}",
                 "in_flight": "-" if ph.finished else str(s.in_flight),
                 "completed": str(s.completed), "context_limit": str(s.context_limit),
                 "error": str(s.error), "cut": str(s.cut), "subagents": str(s.subagents)}
        return {key: cells[key] for key in keys}

    def width_for(self, mode: Mode) -> int:
        rows = [self.cells(p, mode) for p in self.stats] or [self.cells(1, mode)]
        return sum(max(len(label), *(len(r[key]) for r in rows)) + 2 * self.cell_padding
                   for key, label in self.columns_for(mode))

    def show(self, phases: list[PhaseStats], available: int) -> None:
        """New figures: a row per session phase started (the newest is the running one)."""
        for ph in phases:
            if ph.sessions is not None:
                self.stats[ph.phase] = ph
        if self.stats:
            self.newest = max(self.stats)
        self.fit(available, force=True)

    def fit(self, available: int, force: bool = False) -> bool:
        """The wide set when it fits; rebuilds the rows (a few phases: cheaper than diffing)."""
        wide = self.width_for("wide")
        slack = 0 if self.mode == "wide" else HYSTERESIS
        mode: Mode = "wide" if wide + slack <= available else "compact"
        if mode == self.mode and not force:
            return False
        changed = mode != self.mode
        self.mode = mode
        if changed:
            self.clear(columns=True)
            for key, label in self.columns_for(mode):
                self.add_column(label, key=key)
        else:
            self.clear()
        for phase in sorted(self.stats):
            self.add_row(*self.cells(phase, mode).values(), key=str(phase))
        if self.newest in self.stats:
            self.move_cursor(row=sorted(self.stats).index(self.newest), animate=False)
        return changed


class TurnTable(DataTable):
    """Turn buckets as columns, the figures as rows; rebuilt when the buckets change."""

    def __init__(self, **kwargs):
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)
        self.buckets: list[TurnBucket] = []

    def show(self, buckets: list[TurnBucket]) -> None:
        labels = [b.label for b in buckets]
        if labels != [b.label for b in self.buckets] or not self.columns:
            self.clear(columns=True)
            self.add_column("turn", key="turn")
            for label in labels:
                self.add_column(label, key=label)
            for key, name in TURN_ROWS:
                self.add_row(name, *(["-"] * len(labels)), key=key)
        self.buckets = buckets
        for b in buckets:
            for key, value in turn_cells(b).items():
                self.update_cell(key, b.label, value, update_width=True)


def turn_cells(b: TurnBucket) -> dict[str, str]:
    """A bucket's column, by row key."""
    return {"requests": str(b.requests), "ttft": number(b.ttft_ms, 0),
            "e2e": number(b.e2e_ms, 0), "context": number(b.context_tokens, 0),
            "cache": share(b.cache_hit)}


class SessionPanel(Vertical):
    """The sessions table, the in-flight line and the turns table (see the module's doc)."""

    DEFAULT_CSS = """
    SessionPanel { height: auto; }
    SessionPanel #session-phases { height: auto; max-height: 6; }
    SessionPanel #in-flight-row { height: 1; }
    SessionPanel #in-flight-label { width: auto; margin-right: 2; }
    SessionPanel #in-flight-spark { width: 1fr; max-width: 60; }
    SessionPanel #turns-label { width: 1fr; height: auto; color: $text-muted; }
    SessionPanel #session-turns { height: auto; }
    """

    def __init__(self, rates: list[float], **kwargs):
        super().__init__(**kwargs)
        self.rates = rates
        self.in_flight: list[float] = []     # the sessions in flight at each snapshot

    def compose(self) -> ComposeResult:
        yield SessionTable(self.rates, id="session-phases")
        with Horizontal(id="in-flight-row"):
            yield Label("no session has started yet", id="in-flight-label", markup=False)
            yield LatencySpark([], summary_function=max, id="in-flight-spark")
        yield Label("turns: none finished yet", id="turns-label", markup=False)
        yield TurnTable(id="session-turns")

    def table_title(self) -> str:
        return self.query_one(SessionTable).title()

    def show(self, phases: list[PhaseStats], available: int, sample: bool = True,
             ended: bool = False) -> None:
        """New figures; `sample`: add the sessions in flight to the sparkline (a snapshot's,
        not a redraw's); `ended`: the run's final figures."""
        self.query_one(SessionTable).show(phases, available)
        flying = sessions_in_flight(phases)
        if sample and any(ph.sessions is not None for ph in phases):
            self.in_flight.append(flying)
            if len(self.in_flight) > IN_FLIGHT_POINTS:
                self.in_flight = self.in_flight[::2]
            self.query_one("#in-flight-spark", LatencySpark).data = list(self.in_flight)
        self.query_one("#in-flight-label", Label).update(self.in_flight_text(phases, flying, ended))
        source = turns_phase(phases)
        if source is None:
            return
        self.query_one(TurnTable).show(turn_buckets(source.turns))
        ramp = source.sessions.ramp_s if source.sessions is not None else 0.0
        self.query_one("#turns-label", Label).update(
            f"turns of phase {source.phase} · means · history: the tokens expected before the "
            "new segment" + (f" · its first {ramp:.3g} s (ramp) kept out" if ramp else ""))

    def in_flight_text(self, phases: list[PhaseStats], flying: int, ended: bool) -> str:
        started = [ph for ph in phases if ph.sessions is not None]
        if not started:
            return "no session has started yet"
        peak = int(max(self.in_flight, default=0))
        if ended:
            return f"sessions in flight over the run (peak {peak})"
        draining = [ph for ph in open_phases(phases)[1:] if ph.sessions and ph.sessions.in_flight]
        older = sum(ph.sessions.in_flight for ph in draining if ph.sessions is not None)
        return (f"{flying} session{'s' * (flying != 1)} in flight"
                + (f" ({older} of phase{'s' * (len(draining) > 1)} "
                   f"{', '.join(str(ph.phase) for ph in reversed(draining))})" if older else "")
                + f" · peak {peak}")
