"""Planners: what a run sends and when. One coordinator sends (through its workers), times and
records; a planner decides the phases — fixed rate phases for a load test, polls on wall-clock
slots for an observation here; a search's steps (run/search.py) and an A/B variant's turns
(run/experiment.py) elsewhere, on the same base.

A planner hands the coordinator one `PhasePlan` at a time (`next`), with the slots it had to skip
since the last one. A phase with `slot_utc` starts on that wall-clock instant; one without starts
as soon as the previous one has drained.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..specs import LoadTestSuite, ObservationSuite
from ..metrics.summary import PhaseStats
from .events import RunEvent
from .schedule import PhasePlan, load_type_weights, plan_phases


@dataclass(frozen=True, slots=True)
class MissedSlot:
    """A poll whose wall-clock slot passed before it could start."""

    phase: int
    slot_utc: float
    reason: str


class Planner(ABC):
    """The phases of a run, in order, from `start` (1-based; later on a resume)."""

    kind: ClassVar[str]
    takes_turns: ClassVar[bool] = False     # see wait_turn
    # each phase is judged before the next is planned (a search, an experiment's turns), so a
    # session phase drains before the next starts instead of overlapping it
    judges_each_phase: ClassVar[bool] = False

    def __init__(self, plans: list[PhasePlan], start: int = 1):
        self.plans = plans            # every phase of the run, as planned
        self._next = start - 1

    @property
    def remaining(self) -> list[PhasePlan]:
        """The phases still to run: what the budget counts."""
        return self.plans[self._next:]

    @abstractmethod
    def next(self, now_utc: float) -> tuple[list[MissedSlot], PhasePlan | None]:
        """Slots skipped since the last phase, and the next phase (None: the run is over)."""

    def ends_utc(self, now_utc: float) -> float | None:
        """When the last phase is due to end, on the wall clock, if the plan says."""
        return None

    def ready(self, now_utc: float, lead_s: float) -> None:
        """The run has warmed up and calibrated and is about to send its first phase, which can
        start `lead_s` from now at the earliest."""
        return None

    async def wait_turn(self, plan: PhasePlan) -> None:
        """Returns when `plan` may start; a planner that shares the endpoint's time with other
        runs (an A/B experiment's variants) waits here for its turn."""
        return None

    def phase_done(self, plan: PhasePlan, stats: PhaseStats) -> RunEvent | None:
        """`plan` has finished and drained with `stats`; what the planner made of it, for the
        front end (a search's verdict and next step), or None."""
        return None


class NoPlan(Planner):
    """A run refused before it was planned (over a budget limit): nothing to send."""

    kind = "load_test"

    def __init__(self) -> None:
        super().__init__([])

    def next(self, now_utc: float) -> tuple[list[MissedSlot], PhasePlan | None]:
        return [], None


class LoadTestPlanner(Planner):
    """One phase per rate, each as soon as the previous one has drained."""

    kind = "load_test"

    def __init__(self, suite: LoadTestSuite, start: int = 1):
        super().__init__(plan_phases(suite), start)

    def next(self, now_utc: float) -> tuple[list[MissedSlot], PhasePlan | None]:
        if self._next >= len(self.plans):
            return [], None
        self._next += 1
        return [], self.plans[self._next - 1]


LATE_START_MIN_S = 1.0


class ObservationPlanner(Planner):
    """Poll k at `anchor + (k-1) × interval` on the wall clock: `num_requests` requests spread
    evenly over `within_seconds`. A late poll never shifts later ones: it starts at once, its
    requests keep their deadlines (their dispatch delay says how late they went out). A poll that
    cannot start within `late_start_s` of its slot is missed: started later, its overdue requests
    would leave together, a burst that is not the load the poll stands for."""

    kind = "observation"

    def __init__(self, suite: ObservationSuite, anchor_utc: float, start: int = 1):
        self.suite = suite
        self.anchor_utc = anchor_utc
        super().__init__(plan_polls(suite, anchor_utc), start)
        # one request spacing, and at least a second (a short window of many requests)
        self.late_start_s = max(LATE_START_MIN_S, suite.within_seconds / suite.num_requests)
        self._fresh = start == 1
        self._started = False          # a poll has been handed out by this process

    def ready(self, now_utc: float, lead_s: float) -> None:
        """A fresh run whose warm-up or budget prompt outlasted the first slot starts on the
        first slot it can still meet on time: the next aligned one, or at once with `align:
        false` (the same number of polls). Its first poll is neither missed nor started late for
        the time tokenflood took to start. A resumed run keeps its slots."""
        if not self._fresh or self._next != 0:
            return
        due = first_slot(self.suite, now_utc, lead_s)
        if due > self.anchor_utc:
            self.anchor_utc = due
            self.plans = plan_polls(self.suite, self.anchor_utc)

    def next(self, now_utc: float) -> tuple[list[MissedSlot], PhasePlan | None]:
        missed: list[MissedSlot] = []
        while self._next < len(self.plans):
            plan = self.plans[self._next]
            self._next += 1
            assert plan.slot_utc is not None
            if now_utc <= plan.slot_utc + self.late_start_s:
                self._started = True
                return missed, plan
            why = ("tokenflood was starting again (the resumed run's warm-up and calibration)"
                   if not self._fresh and not self._started else
                   "the previous poll still finishing, or the machine busy or asleep")
            missed.append(MissedSlot(plan.phase, plan.slot_utc,
                                     f"its slot passed (by more than {self.late_start_s:g} s) "
                                     f"before tokenflood was ready ({why})"))
        return missed, None

    def skip_until(self, now_utc: float, reason: str) -> list[MissedSlot]:
        """On a resume: every poll whose window is already over is missed, for `reason`."""
        missed: list[MissedSlot] = []
        while self._next < len(self.plans):
            plan = self.plans[self._next]
            assert plan.slot_utc is not None
            if now_utc <= plan.slot_utc + plan.length_s:
                break
            missed.append(MissedSlot(plan.phase, plan.slot_utc, reason))
            self._next += 1
        return missed

    def ends_utc(self, now_utc: float) -> float | None:
        return self.anchor_utc + len(self.plans) * self.suite.interval_s


def first_slot(suite: ObservationSuite, now_utc: float, lead_s: float) -> float:
    """The first poll's wall-clock start: the next whole multiple of the interval in UTC (a
    15-minute interval polls at :00, :15, :30, :45), or `now + lead` with `align: false`."""
    if not suite.align:
        return now_utc + lead_s
    interval = suite.interval_s
    return math.ceil((now_utc + lead_s) / interval) * interval


def plan_polls(suite: ObservationSuite, anchor_utc: float) -> list[PhasePlan]:
    """Every poll of an observation: its slot, and its requests spread evenly over the window."""
    weights = load_type_weights(suite)
    n = suite.num_requests
    offsets = np.arange(n, dtype=np.float64) * (suite.within_seconds / n)
    plans = []
    for k in range(1, suite.polls + 1):
        rng = np.random.default_rng([suite.seed, k])
        kinds = rng.choice(len(weights), size=n, p=weights)
        plans.append(PhasePlan(k, n / suite.within_seconds, suite.within_seconds, offsets, kinds,
                               slot_utc=anchor_utc + (k - 1) * suite.interval_s,
                               first_seq=(k - 1) * n))
    return plans
