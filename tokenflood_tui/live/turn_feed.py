"""What a live view shows of an A/B experiment's turns: the turn sending now, with its phase's
figures as they stand, and each finished turn's figures, in the order the turns ran.

Read on the experiment's own loop (its thread), from its conductor, the variants' coordinators
and the snapshot of the variant whose turn it is; the rows are frozen, so they cross to another
thread as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..metrics.summary import PhaseStats
from ..run.coordinator import RunSnapshot
from ..run.events import TurnStarted, describe
from ..run.experiment import Experiment, Turn


@dataclass(frozen=True, slots=True)
class TurnRow:
    """One turn: who sent at which rate in which round, and how its phase went (so far)."""

    number: int                 # 1-based, in the order the turns run
    total: int                  # turns in the experiment
    variant: str
    round: int
    rounds: int
    target_rps: float
    phase: int                  # the phase's number in the variant's own results folder
    length_s: float
    started: bool = False       # its phase has begun sending
    finished: bool = False      # its phase has drained (or was cut short by a stop)
    planned: int = 0
    sent: int = 0
    ok: int = 0
    failed: int = 0
    in_flight: int = 0
    elapsed_s: float = 0.0
    ttft_ms: float | None = None    # at the feed's percentile (p50 unless the suite has none)
    e2e_ms: float | None = None

    @property
    def stopped(self) -> bool:
        """Ended before sending all it planned (the experiment was stopped or aborted)."""
        return self.finished and self.sent < self.planned

    @property
    def who(self) -> str:
        """'turn 3/8: b, round 2/2 at 5 req/s', as the log and the headless lines say it."""
        return describe(TurnStarted(self.number, self.total, self.variant, self.round,
                                    self.rounds, self.target_rps))[1]


class TurnFeed:
    """Turns as rows; `finished()` only does work when a turn has ended since the last call."""

    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        percentiles = experiment.suite.percentiles
        self.percentile = 50.0 if 50.0 in percentiles else percentiles[0]
        self._finished: list[TurnRow] = []

    def _row(self, n: int, turn: Turn, stats: PhaseStats | None) -> TurnRow:
        ex = self.experiment
        row = TurnRow(number=n + 1, total=len(ex.turns), variant=ex.variants[turn.variant].name,
                      round=turn.round, rounds=ex.rounds,
                      target_rps=ex.suite.rates[turn.rate_index],
                      phase=turn.phase, length_s=ex.suite.test_length_in_seconds)
        if stats is None:
            return row
        return replace(row, started=True, finished=stats.finished, planned=stats.planned,
                       sent=stats.sent, ok=stats.ok, failed=stats.failed,
                       in_flight=stats.in_flight, elapsed_s=stats.elapsed_s,
                       ttft_ms=stats.ttft_ms.at(self.percentile),
                       e2e_ms=stats.e2e_ms.at(self.percentile))

    def finished(self) -> list[TurnRow]:
        """Every turn that has ended, in order (the conductor moves on when a phase is done)."""
        ex = self.experiment
        for n in range(len(self._finished), min(ex.conductor.index, len(ex.turns))):
            turn = ex.turns[n]
            phases = {ph.phase: ph for ph in ex.runs[turn.variant].coordinator.phases()}
            self._finished.append(self._row(n, turn, phases.get(turn.phase)))
        return list(self._finished)

    def current(self, snap: RunSnapshot | None = None) -> TurnRow | None:
        """The turn under way (None once every turn has run), with its phase's figures when
        `snap` is the snapshot of its variant sending that phase."""
        ex = self.experiment
        turn = ex.conductor.current
        if turn is None or ex.conductor.stopped:
            return None
        stats = None
        if snap is not None and snap.phases and snap.phases[-1].phase == turn.phase \
                and snap.stage in ("running", "draining"):
            stats = snap.phases[-1]
        return self._row(ex.conductor.index, turn, stats)
