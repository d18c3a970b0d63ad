"""Did the server saturate during a phase? The verdict every load test's summary gives.

Past its capacity a server queues: on an open-loop schedule each request waits longer than the
one before, so latency grows through the phase instead of scattering around one level. The
detector compares the median TTFT of the last third of a phase's ok requests, by scheduled time,
with that of the first third (thirds by count, not by time: a Poisson schedule that bunches its
arrivals early leaves too few in the last third of the time for a verdict, while TTFT climbed
20× in such a phase). A healthy phase's thirds have the same median whatever its jitter
(uniform ±30% jitter cannot even make two single requests differ by 2×); a queue that grows
linearly from empty makes the last third's median about five times the first's. With
`max_concurrency` the queue is the client's instead (arrivals wait for a slot): then the achieved
rate falls short of the scheduled one. What the client's own delays could explain is not put on
the server: TTFT runs from the send, so a worker that sends late does not touch it, but one busy
at a full core may read responses late, so latency growth is not judged then; and a rate
shortfall is not judged in any client-bound phase (a late worker falls short by itself).
In a session phase only the sessions' first turns are judged: they arrive on the open-loop
schedule, while a later turn waits for its reply and carries a growing history (its TTFT grows
with the turn on a healthy server, and a queue paces its session instead of piling up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .summary import CLIENT_BOUND_CPU, PhaseStats

GROWTH_RATIO = 2.0        # the last third's median at least this many times the first third's...
GROWTH_MIN_MS = 50.0      # ...and at least this much higher (a fast server's 5 → 12 ms is noise)
MIN_PER_THIRD = 5         # ok requests in each third for a latency verdict (15 in all)
SHORTFALL = 0.9           # achieved below this share of the scheduled rate


@dataclass(frozen=True, slots=True)
class Growth:
    """Median latency of the ok requests scheduled in a phase's first and last third."""

    metric: str             # 'TTFT', or 'e2e' when no request had a first token
    first_ms: float
    last_ms: float

    @property
    def ratio(self) -> float:
        return self.last_ms / self.first_ms if self.first_ms > 0 else float("inf")

    @property
    def queueing(self) -> bool:
        return (self.last_ms >= GROWTH_RATIO * self.first_ms
                and self.last_ms - self.first_ms >= GROWTH_MIN_MS)


def latency_growth(t_sched: np.ndarray, ttft_ms: np.ndarray, e2e_ms: np.ndarray) -> Growth | None:
    """The growth of TTFT (e2e when there is none) through a phase: the median of its last third
    of ok requests by scheduled time against its first third's; None with fewer than
    MIN_PER_THIRD requests a third."""
    metric, latency = "TTFT", ttft_ms
    if np.isnan(latency).all():
        metric, latency = "e2e", e2e_ms
    ok = ~np.isnan(latency)
    latency = latency[ok][np.argsort(t_sched[ok], kind="stable")]
    third = latency.size // 3
    if third < MIN_PER_THIRD:
        return None
    return Growth(metric, float(np.median(latency[:third])), float(np.median(latency[-third:])))


def verdict(ph: PhaseStats, growth: Growth | None) -> tuple[bool, str | None]:
    """(saturated, why with figures) for a finished phase."""
    reasons = []
    if growth is not None and growth.queueing and not client_busy(ph):
        reasons.append(f"{growth.metric} p50 grew from {duration_text(growth.first_ms)} to "
                       f"{duration_text(growth.last_ms)} within the phase")
    ratio = ph.achieved_ratio
    # A stopped phase sent fewer than planned and spreads them over its grace: not a shortfall.
    if ratio is not None and ratio < SHORTFALL and ph.sent == ph.planned and not ph.client_bound:
        waited = ph.dispatch_delay_ms.mean       # with max_concurrency: the waits for a slot
        reasons.append(f"achieved {ph.achieved_rps:.1f} of {ph.target_rps:g} {ph.unit}" + (
            f" (requests waited {duration_text(waited)} on average to be sent)"
            if waited is not None else ""))
    return bool(reasons), "; ".join(reasons) or None


def client_busy(ph: PhaseStats) -> bool:
    """The busiest worker used a full core: it may have read responses late."""
    return ph.client_cpu is not None and ph.client_cpu >= CLIENT_BOUND_CPU


def judged(ph: PhaseStats) -> bool:
    """The phase had what a latency verdict needs: enough requests, a client with time to read."""
    return ph.latency_growth is not None and not client_busy(ph)


def phase_warning(ph: PhaseStats) -> str | None:
    if not ph.saturated:
        return None
    return f"phase {ph.phase} ({ph.target_rps:g} {ph.unit}): the server saturated: {ph.saturation}"


@dataclass(frozen=True, slots=True)
class SaturationPoint:
    """The lowest rate whose phase saturated, and the highest phase below it judged healthy."""

    saturated: PhaseStats
    held: PhaseStats | None
    ran_below: bool = False          # lower rates ran (when none held: none had a verdict)

    def warning(self) -> str:
        s, h = self.saturated, self.held
        return (f"the server saturated at about {s.target_rps:g} {s.unit} (phase {s.phase})"
                + (f"; the highest rate it held was {h.target_rps:g} {h.unit} (phase {h.phase})"
                   if h is not None else
                   f"; {UNJUDGED_BELOW}" if self.ran_below else
                   "; no lower rate was tried that it held"))


UNJUDGED_BELOW = ("the lower rates tried had too few requests for a verdict "
                  f"({3 * MIN_PER_THIRD} ok ones a phase) or a busy client")


def ran_below(phases: list[PhaseStats], rate: float) -> bool:
    """A phase at a lower rate than `rate` ran and did not saturate; when none of them held the
    rate, none had what a verdict needs."""
    return any(ph.target_rps < rate and not ph.saturated for ph in phases)


def saturation_point(phases: list[PhaseStats]) -> SaturationPoint | None:
    """Where a load test's phases say the server saturated; None when none saturated."""
    saturated = [ph for ph in phases if ph.saturated]
    if not saturated:
        return None
    lowest = min(saturated, key=lambda ph: ph.target_rps)
    # held: judged and found healthy (a phase with too few requests to judge held nothing)
    healthy = [ph for ph in phases if not ph.saturated and judged(ph)
               and ph.target_rps < lowest.target_rps]
    held = max(healthy, key=lambda ph: ph.target_rps, default=None)
    return SaturationPoint(lowest, held, ran_below(phases, lowest.target_rps))


def duration_text(ms: float) -> str:
    """51 ms, 950 ms, 3.5 s, 12 s."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s" if ms < 10_000 else f"{ms / 1000:.0f} s"
