"""A session phase's figures beyond its requests': its sessions, and its requests by turn index
(docs/metrics.md#sessions). Fed by the phase's accumulator (run/stats.py)."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..metrics.records import RequestRecord, SessionRecord
from ..metrics.summary import SessionStats, TurnStats
from ..metrics.thresholds import Turns

TIMELINE_POINTS = 60       # sessions in flight over time: at most this many samples a phase


@dataclass(slots=True)
class _Turn:
    requests: int = 0
    ok: int = 0
    ttft: array = field(default_factory=lambda: array("d"))
    e2e: array = field(default_factory=lambda: array("d"))
    context: array = field(default_factory=lambda: array("d"))
    cached: array = field(default_factory=lambda: array("d"))
    cached_context: array = field(default_factory=lambda: array("d"))   # where cached is known


@dataclass(slots=True)
class SessionTally:
    """What a session phase's accumulator keeps about its sessions and turns."""

    starts: np.ndarray                     # the sessions' scheduled starts (monotonic)
    ramp_end: float                        # requests sent before this are the ramp's
    ends: Counter = field(default_factory=Counter)   # end -> sessions (top-level)
    subagents: int = 0
    ramp_requests: int = 0
    durations: array = field(default_factory=lambda: array("d"))
    slowdowns: array = field(default_factory=lambda: array("d"))
    turns_done: array = field(default_factory=lambda: array("d"))
    spans: list[tuple[float, float]] = field(default_factory=list)   # (start, end) of each
    by_turn: dict[int, _Turn] = field(default_factory=dict)

    def in_ramp(self, rec: RequestRecord) -> bool:
        if rec.t_sched < self.ramp_end:
            self.ramp_requests += 1
            return True
        return False

    def add_request(self, rec: RequestRecord) -> None:
        """A request outside the ramp, by its turn index."""
        turn = self.by_turn.get(rec.turn)
        if turn is None:
            turn = self.by_turn[rec.turn] = _Turn()
        turn.requests += 1
        if not rec.ok:
            return
        turn.ok += 1
        if rec.ttft_ms is not None:
            turn.ttft.append(rec.ttft_ms)
        if rec.e2e_ms is not None:
            turn.e2e.append(rec.e2e_ms)
        if rec.context_tokens_target is not None:
            turn.context.append(rec.context_tokens_target)
            if rec.cached_tokens is not None:
                turn.cached.append(rec.cached_tokens)
                turn.cached_context.append(rec.context_tokens_target)

    def add_session(self, s: SessionRecord) -> None:
        if s.parent:
            self.subagents += 1
            return
        self.ends[s.end] += 1
        self.durations.append(s.duration_s)
        self.turns_done.append(s.turns_done)
        slowdown = s.slowdown
        if slowdown is not None:
            self.slowdowns.append(slowdown)
        self.spans.append((s.t_start, s.t_end))

    def samples(self, metric: str, turns: Turns | None) -> np.ndarray:
        """What a threshold checks: TTFT or e2e of the ok requests of `turns` (every turn when
        None), or the ended sessions' durations (top-level) and the completed ones' slowdowns."""
        if metric == "session_duration_s":
            return np.frombuffer(self.durations, dtype=np.float64)
        if metric == "session_slowdown":
            return np.frombuffer(self.slowdowns, dtype=np.float64)
        picked = [getattr(t, metric.removesuffix("_ms")) for k, t in sorted(self.by_turn.items())
                  if turns is None or turns.holds(k)]
        if not picked:
            return np.empty(0)
        return np.concatenate([np.frombuffer(a, dtype=np.float64) for a in picked])

    def cache_hit(self, turns: Turns | None) -> float | None:
        """Cached tokens over the expected history, over the ok requests of `turns` that
        report cached tokens."""
        cached = expected = 0.0
        for k, t in self.by_turn.items():
            if turns is None or turns.holds(k):
                cached += sum(t.cached)
                expected += sum(t.cached_context)
        return cached / expected if expected else None

    def started(self, now: float) -> int:
        return int(np.searchsorted(self.starts, now, side="right"))

    def stats(self, t_start: float, length_s: float, now: float, t_done: float | None,
              percentiles: list[float], distribution) -> tuple[SessionStats, list[TurnStats]]:
        ended_top = sum(self.ends.values())
        # every session that started ends with a record, so once drained they are the count
        started = ended_top if t_done is not None else max(self.started(now), ended_top)
        sessions = SessionStats(
            planned=len(self.starts), started=started,
            completed=self.ends["completed"], context_limit=self.ends["context_limit"],
            error=self.ends["error"], cut=self.ends["cut"], subagents=self.subagents,
            achieved_sps=started / min(length_s, max((t_done or now) - t_start, 1e-9))
            if length_s else None,
            completed_sps=self.ends["completed"] / max((t_done or now) - t_start, 1e-9),
            ramp_s=max(0.0, self.ramp_end - t_start), ramp_requests=self.ramp_requests,
            turns_mean=_mean(self.turns_done),
            duration_s=distribution(np.frombuffer(self.durations, dtype=np.float64), percentiles),
            slowdown=distribution(np.frombuffer(self.slowdowns, dtype=np.float64), percentiles),
            in_flight_over_time=self._timeline(t_start, t_done) if t_done is not None else [],
            in_flight=max(0, started - ended_top))
        turns = [TurnStats(
            turn=k, requests=t.requests, ok=t.ok,
            ttft_ms=distribution(np.frombuffer(t.ttft, dtype=np.float64), percentiles),
            e2e_ms=distribution(np.frombuffer(t.e2e, dtype=np.float64), percentiles),
            context_tokens_mean=_mean(t.context), cached_tokens_mean=_mean(t.cached),
            cache_hit=(sum(t.cached) / sum(t.cached_context) if sum(t.cached_context) else None))
            for k, t in sorted(self.by_turn.items())]
        return sessions, turns

    def _timeline(self, t_start: float, t_done: float) -> list[tuple[float, int]]:
        """Sessions in flight at evenly spaced moments of the phase, from start to drained."""
        if not self.spans or t_done <= t_start:
            return []
        starts = np.sort(np.array([a for a, _ in self.spans]))
        ends = np.sort(np.array([b for _, b in self.spans]))
        at = np.linspace(t_start, t_done, TIMELINE_POINTS)
        flying = np.searchsorted(starts, at, side="right") - np.searchsorted(ends, at, side="right")
        return [(round(float(t - t_start), 2), int(n)) for t, n in zip(at, flying, strict=True)]


def _mean(values: array) -> float | None:
    return float(np.frombuffer(values, dtype=np.float64).mean()) if len(values) else None


def mean_session_waits(scripts_waits: list[float]) -> float:
    """How long a mean session lasts at least: its think and tool times."""
    return float(np.mean(scripts_waits)) if scripts_waits else 0.0


