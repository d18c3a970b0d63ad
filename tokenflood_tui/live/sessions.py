"""What a live view shows of a session run (docs/metrics.md#sessions): the phases whose sessions
are still going, how many sessions are in flight, and the turns grouped into a few buckets by
turn index, so an agent of thirty steps still fits a small table.

A session phase stays open after its window while its sessions run on (the next phase starts on
time beside it), so "the running phase" is not the only one with sessions in flight.

A bucket of several turn indexes cannot carry percentiles: they are not made from the turns'
own percentiles. It carries means instead, each turn's mean weighted by its ok requests (exact
when every ok request has the figure, as streamed replies do); a bucket of one turn has that
turn's figures as the summary has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..metrics.summary import PhaseStats, TurnStats

# (first, last) turn index of each bucket; None: every turn from `first` on
TURN_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (1, 1), (2, 2), (3, 3), (4, 4), (5, 8), (9, 16), (17, None))


@dataclass(frozen=True, slots=True)
class TurnBucket:
    """Requests of the turn indexes first..last (outside the phase's ramp)."""

    first: int
    last: int | None
    requests: int
    ok: int
    ttft_ms: float | None           # the mean over the ok requests
    e2e_ms: float | None
    context_tokens: float | None    # the history before the new segment (expected), mean
    cache_hit: float | None         # cached tokens over that expected history

    @property
    def label(self) -> str:
        """'1', '5-8', '17+'"""
        if self.last == self.first:
            return str(self.first)
        return f"{self.first}+" if self.last is None else f"{self.first}-{self.last}"


def turn_buckets(turns: list[TurnStats]) -> list[TurnBucket]:
    """The buckets that have requests, in turn order."""
    out = []
    for first, last in TURN_BUCKETS:
        inside = [t for t in turns if t.turn >= first and (last is None or t.turn <= last)]
        if not inside:
            continue
        if len(inside) == 1 and last == first:
            t = inside[0]
            out.append(TurnBucket(first, last, t.requests, t.ok, t.ttft_ms.mean, t.e2e_ms.mean,
                                  t.context_tokens_mean, t.cache_hit))
            continue
        out.append(TurnBucket(
            first, last, sum(t.requests for t in inside), sum(t.ok for t in inside),
            _weighted_mean(inside, lambda t: t.ttft_ms.mean),
            _weighted_mean(inside, lambda t: t.e2e_ms.mean),
            _weighted_mean(inside, lambda t: t.context_tokens_mean), _cache_hit(inside)))
    return out


def _cache_hit(turns: list[TurnStats]) -> float | None:
    """Cached tokens over the expected history, of the turns that report both."""
    cached = history = 0.0
    for t in turns:
        if t.cached_tokens_mean is not None and t.context_tokens_mean is not None:
            cached += t.ok * t.cached_tokens_mean
            history += t.ok * t.context_tokens_mean
    return cached / history if history else None


def _weighted_mean(turns: list[TurnStats],
                   value: Callable[[TurnStats], float | None]) -> float | None:
    known = [(t.ok, v) for t in turns if (v := value(t)) is not None and t.ok]
    weight = sum(n for n, _ in known)
    return sum(n * v for n, v in known) / weight if weight else None


def open_phases(phases: list[PhaseStats]) -> list[PhaseStats]:
    """The session phases not yet drained, the newest first: the one starting sessions now,
    then the ones whose sessions go on."""
    return [ph for ph in reversed(phases) if ph.sessions is not None and not ph.finished]


def sessions_in_flight(phases: list[PhaseStats]) -> int:
    """Sessions started and not ended, over every open phase."""
    return sum(ph.sessions.in_flight for ph in open_phases(phases) if ph.sessions is not None)


def turns_phase(phases: list[PhaseStats]) -> PhaseStats | None:
    """The newest phase with turns to show: a phase's first turns are its ramp's, kept out of
    its statistics, so until it has some the phase before it (still draining) speaks."""
    return next((ph for ph in reversed(phases) if ph.turns), None)
