"""Arrival times per phase, computed up front from the rate and a seed (docs/architecture.md#scheduling)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..specs import LoadTestSuite, RunSuite, SearchSuite
from .sessions import SessionPhase, draw_phase


@dataclass(frozen=True, slots=True)
class PhasePlan:
    """Everything one phase (or poll) will send: offsets from its start and a load type each."""

    phase: int                 # 1-based: the phase, or the poll
    target_rps: float
    length_s: float
    offsets_s: np.ndarray      # float64, ascending, all < length_s
    load_types: np.ndarray     # int, index into the suite's load_types
    slot_utc: float | None = None   # a poll's wall-clock start; None: when the previous drained
    first_seq: int = 0         # the run-wide sequence number of its first arrival
    # a session phase: its offsets are session starts (target_rps: sessions/s), each scripted
    sessions: SessionPhase | None = None

    @property
    def requests(self) -> int:
        """Its requests: for a session phase, what its scripts send at most."""
        if self.sessions is not None:
            return sum(script.requests() for script in self.sessions.scripts)
        return len(self.offsets_s)

    @property
    def seqs(self) -> np.ndarray:
        return np.arange(self.first_seq, self.first_seq + self.requests)


def phase_arrivals(rate: float, length_s: float) -> int:
    """Arrivals of a phase, whichever the process: rate × length (rounded up), so every phase
    sends the rate it is judged at."""
    return int(np.ceil(rate * length_s - 1e-9))


def arrival_offsets(rate: float, length_s: float, arrival: str, rng: np.random.Generator) -> np.ndarray:
    """Send times (seconds from the phase start) for one phase, rate × length of them.

    constant: every 1/rate s starting at 0. poisson: the arrival times of a Poisson process given
    its count — that many uniform times over the phase, sorted (exponential gaps, random order),
    so a phase never sends another rate than its own by the luck of the draw (a poisson phase of
    9 req/s could draw 7.0 req/s, and was then judged as 9).
    """
    n = phase_arrivals(rate, length_s)
    if arrival == "constant":
        return np.arange(n, dtype=np.float64) / rate
    return np.sort(rng.uniform(0.0, length_s, n))


def load_type_weights(suite: RunSuite) -> np.ndarray:
    weights = np.array([lt.weight for lt in suite.load_types], dtype=np.float64)
    return weights / weights.sum()


def plan_phases(suite: LoadTestSuite) -> list[PhasePlan]:
    """The full, seeded schedule of a load test: the same suite and seed always give the same plan."""
    plans: list[PhasePlan] = []
    seq = 0
    for i, rate in enumerate(suite.rates):
        plans.append(plan_phase(suite, i + 1, rate, suite.test_length_in_seconds, seq))
        seq += len(plans[-1].offsets_s)
    return plans


def plan_phase(suite: LoadTestSuite | SearchSuite, phase: int, rate: float, length_s: float,
               first_seq: int) -> PhasePlan:
    """One phase at `rate` (requests or sessions per second), seeded by (seed, phase index)."""
    rng = np.random.default_rng([suite.seed, phase - 1])
    offsets = arrival_offsets(rate, length_s, suite.arrival, rng)
    if suite.sessions:
        sessions = draw_phase(suite, phase, offsets, first_seq)
        kinds = np.array([s.type_index for s in sessions.scripts], dtype=np.int64)
        return PhasePlan(phase, rate, length_s, offsets, kinds, first_seq=first_seq,
                         sessions=sessions)
    kinds = rng.choice(len(suite.load_types), size=len(offsets), p=load_type_weights(suite))
    return PhasePlan(phase, rate, length_s, offsets, kinds, first_seq=first_seq)
