"""`thresholds:` of a run suite (like k6's): conditions on each phase's (or poll's) figures.

A threshold is a string `METRIC.STAT OP NUMBER` for a distribution (`ttft_ms.p99 < 500`, any
percentile or `mean`) or `RATE OP NUMBER` for a share (`error_rate < 0.01`, `goodput > 0.9`,
`achieved_ratio > 0.99`). A session suite adds its sessions' distributions
(`session_duration_s.p90 < 120`, `session_slowdown.p50 < 2`), the share of its sessions that
completed (`sessions_completed > 0.99`) and the cache hit against the expected history
(`cache_hit > 0.9`); TTFT, e2e and the cache hit may be narrowed to turns by index:
`ttft_ms.turn1.p90`, `ttft_ms.turn2+.p90` (turn 2 and later), `e2e_ms.turn3-5.p50`,
`cache_hit.turn2+ > 0.9`. Parsed when the suite loads (a bad one is a located config error; a
session metric in a suite without sessions too), checked when a phase finishes
(stats.PhaseAccumulator, from the phase's own samples, so any percentile works, not only the
suite's), gathered per threshold for the summary; a failed one makes the run exit 4
(docs/config.md#thresholds).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from .summary import PhaseCheck, PhaseStats, ThresholdPhase, ThresholdResult, pkey

LATENCIES = ("ttft_ms", "e2e_ms", "tpot_ms", "itl_ms", "scheduled_latency_ms",
             # a reasoning model's (docs/metrics.md#reasoning): the same as TTFT, 0, TPOT and
             # ITL for a request that did not reason
             "ttfa_ms", "reasoning_ms", "answer_tpot_ms", "answer_itl_ms")
SESSION_DISTRIBUTIONS = ("session_duration_s", "session_slowdown")
DISTRIBUTIONS = LATENCIES + SESSION_DISTRIBUTIONS          # take a statistic: .p99, .mean
RATES = ("error_rate", "goodput", "achieved_ratio", "sessions_completed", "cache_hit")
SHARES = ("error_rate", "goodput", "sessions_completed", "cache_hit")   # between 0 and 1
# what only a suite with session_types measures; and what may be narrowed to turns by index
SESSION_METRICS = ("session_duration_s", "session_slowdown", "sessions_completed", "cache_hit")
BY_TURN = ("ttft_ms", "e2e_ms", "cache_hit")
# the server's own figures of a phase (docs/metrics.md#server): `server.waiting.max < 5`
SERVER = "server"
SERVER_FIGURES = ("waiting.mean", "waiting.max", "running.mean", "running.max", "kv_usage.mean",
                  "kv_usage.max", "prefix_hit_ratio", "preemptions", "preemptions_per_s",
                  "prompt_tokens_per_s", "generation_tokens_per_s")
SERVER_HISTOGRAMS = ("ttft_ms", "itl_ms", "queue_ms")      # with .mean or a suite percentile
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
EXIT_THRESHOLD_FAILED = 4

_FORM = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<stat>[^\s<>=!]+))?\s*"
                   r"(?P<op>[<>=!]+)\s*(?P<bound>\S+)\s*$")
_PERCENTILE = re.compile(r"^p\(?(?P<p>\d+(?:\.\d+)?)\)?$")     # p99, p99.9, k6's p(99)
_TURNS = re.compile(r"^turns?(?P<first>\d+)(?:(?P<on>\+)|-(?P<last>\d+))?$")  # turn1, turn2+, turn2-4
METRIC_NAMES = (f"{', '.join(DISTRIBUTIONS)} (with .mean or a percentile: .p50, .p99.9), "
                f"{', '.join(RATES)}, or server.FIGURE (server.waiting.max, server.kv_usage.mean, "
                "server.ttft_ms.p99, ...)")
ALLOWED = (f"write METRIC OP NUMBER such as 'ttft_ms.p99 < 500' or 'error_rate < 0.01'; METRIC "
           f"is {METRIC_NAMES}; OP is <, <=, > or >=")


@dataclass(frozen=True, slots=True)
class Turns:
    """Turns by index, 1-based: `first` to `last` (None: every later one)."""

    first: int
    last: int | None

    @property
    def text(self) -> str:
        """'turn1', 'turn2+', 'turn2-4': as thresholds write it."""
        if self.last == self.first:
            return f"turn{self.first}"
        return f"turn{self.first}+" if self.last is None else f"turn{self.first}-{self.last}"

    @property
    def label(self) -> str:
        """'turn 1', 'turns 2+', 'turns 2-4': as reasons say it."""
        if self.last == self.first:
            return f"turn {self.first}"
        return f"turns {self.first}+" if self.last is None else f"turns {self.first}-{self.last}"

    def holds(self, turn: int) -> bool:
        return self.first <= turn and (self.last is None or turn <= self.last)


class PhaseSamples(Protocol):
    """A finished phase's own samples, for what its PhaseStats does not hold at any percentile
    (stats.PhaseAccumulator gives them)."""

    def samples(self, metric: str, turns: Turns | None) -> np.ndarray:
        """The values of a distribution metric: the ok requests' latencies (of those turns), or
        the ended sessions' durations or slowdowns."""
        ...

    def cache_hit(self, turns: Turns | None) -> float | None:
        """Cached tokens over the expected history, over the requests (of those turns) that
        report cached tokens; None when none does."""
        ...


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed condition; `text` is its normal form ('ttft_ms.p99 < 500',
    'ttft_ms.turn2+.p90 < 500')."""

    metric: str                  # one of DISTRIBUTIONS or RATES, or SERVER
    stat: str | None             # 'mean' or 'p99' for a distribution; None for a rate; a server
                                 # figure ('waiting.max', 'ttft_ms.p99')
    op: str
    bound: float
    turns: Turns | None = None   # only requests of these turns (BY_TURN metrics)

    @property
    def text(self) -> str:
        name = ".".join(part for part in (self.metric, self.turns and self.turns.text,
                                          self.stat) if part)
        return f"{name} {self.op} {self.bound:g}"

    @property
    def sessions(self) -> bool:
        """Whether only a session suite can measure it."""
        return self.metric in SESSION_METRICS or self.turns is not None

    @property
    def percentile(self) -> float | None:
        if self.metric == SERVER:
            return None
        return float(self.stat[1:]) if self.stat and self.stat != "mean" else None

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.bound)

    def check(self, ph: PhaseStats, source: PhaseSamples) -> PhaseCheck:
        """This threshold against a finished phase; `source` has the phase's own samples. No
        value (no ok request, nothing sent, no session ended) fails, and `reason` says why."""
        value, reason = self._value(ph, source)
        if value is None:
            return PhaseCheck(threshold=self.text, value=None, passed=False, reason=reason)
        return PhaseCheck(threshold=self.text, value=value, passed=self.holds(value))

    def _value(self, ph: PhaseStats, source: PhaseSamples) -> tuple[float | None, str | None]:
        if self.metric == "error_rate":
            return ph.error_rate, "no request finished"
        if self.metric == "goodput":
            return ph.goodput, "no request finished"
        if self.metric == "achieved_ratio":
            return ph.achieved_ratio, "nothing was sent"
        if self.metric == SERVER:
            assert self.stat is not None
            if ph.server is None:
                return None, "the server's metrics were not read"
            return ph.server.get(self.stat), f"the server's metrics have no {self.stat}"
        if self.metric == "sessions_completed":
            s = ph.sessions
            return ((s.completed / s.ended if s is not None and s.ended else None),
                    "no session ended")
        of = f" of {self.turns.label}" if self.turns else ""
        if self.metric == "cache_hit":
            return (source.cache_hit(self.turns),
                    f"no ok request{of} reported cached tokens against an expected history")
        values = source.samples(self.metric, self.turns)
        if values.size == 0:
            if self.metric == "session_duration_s":
                return None, "no session ended"
            if self.metric == "session_slowdown":
                return None, "no session completed (a slowdown is a completed session's)"
            ok = sum(t.ok for t in ph.turns if self.turns.holds(t.turn)) if self.turns else ph.ok
            why = (f"no request{of} succeeded" if not ok else
                   f"none of the {ok} ok requests{of} has a {self.metric} value"
                   + (" (TPOT needs two or more output tokens)" if self.metric == "tpot_ms"
                      else " (TPOT needs two or more answer tokens)"
                      if self.metric == "answer_tpot_ms" else ""))
            return None, why
        percentile = self.percentile
        if percentile is None:                # stat 'mean'
            return float(values.mean()), None
        return float(np.percentile(values, percentile)), None


def parse_threshold(text: str) -> Threshold:
    """A threshold string as a Threshold; ValueError says what is wrong and what is allowed."""
    match = _FORM.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a threshold: {ALLOWED}")
    name, stat, op, bound_text = match.group("name", "stat", "op", "bound")
    if op not in OPERATORS:
        raise ValueError(f"{text!r}: operator {op!r} is not allowed; use <, <=, > or >=")
    if name == SERVER:
        return Threshold(SERVER, _server_figure(text, stat), op, _bound(text, bound_text))
    if name not in DISTRIBUTIONS + RATES:
        close = difflib.get_close_matches(name, DISTRIBUTIONS + RATES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{text!r}: unknown metric {name!r}{hint}; use {METRIC_NAMES}")
    turns = None
    if stat is not None and stat.startswith("turn"):
        selector, _, rest = stat.partition(".")
        turns = _turns(text, name, selector)
        stat = rest or None
    try:
        bound = float(bound_text)
    except ValueError:
        raise ValueError(f"{text!r}: {bound_text!r} is not a number; the bound is a plain "
                         "number (milliseconds for a latency, seconds for a session's "
                         "duration, a share for a rate)") from None
    if not math.isfinite(bound):
        raise ValueError(f"{text!r}: the bound must be a finite number")
    if name in RATES:
        if stat is not None:
            written = f"{name}.{turns.text}" if turns else name
            raise ValueError(f"{text!r}: {name} is one number per phase and takes no statistic "
                             f"(write '{written} {op} {bound_text}')")
        if name in SHARES and not 0 <= bound <= 1:
            raise ValueError(f"{text!r}: {name} is a share between 0 and 1 (0.01 is 1%)")
        return Threshold(name, None, op, bound, turns)
    if stat is None:
        written = f"{name}.{turns.text}" if turns else name
        raise ValueError(f"{text!r}: {name} needs a statistic: {written}.p99, {written}.p50 or "
                         f"{written}.mean")
    if stat != "mean":
        pm = _PERCENTILE.match(stat)
        if pm is None and ".turn" in stat:
            raise ValueError(f"{text!r}: the turns go before the statistic: "
                             f"{name}.{stat.partition('.')[2]}.{stat.partition('.')[0]}")
        if pm is None:
            raise ValueError(f"{text!r}: {stat!r} is not a statistic; use mean or a percentile "
                             "such as p50, p90, p99.9")
        p = float(pm.group("p"))
        if not 0 < p < 100:
            raise ValueError(f"{text!r}: percentile {p:g} is outside (0, 100)")
        stat = pkey(p)
    return Threshold(name, stat, op, bound, turns)


def _server_figure(text: str, stat: str | None) -> str:
    """The server figure a `server.…` threshold names, in its normal form."""
    head, _, tail = (stat or "").partition(".")
    if head in SERVER_HISTOGRAMS:
        if tail == "mean":
            return stat or ""
        pm = _PERCENTILE.match(tail)
        if pm is not None and 0 < float(pm.group("p")) < 100:
            return f"{head}.{pkey(float(pm.group('p')))}"
    elif stat in SERVER_FIGURES:
        return stat
    raise ValueError(f"{text!r}: {'server.' + stat if stat else 'server'} is not a server figure; "
                     f"use server. and one of {', '.join(SERVER_FIGURES)}, or "
                     f"{', '.join(SERVER_HISTOGRAMS)} with .mean or a percentile of the suite "
                     "(server.ttft_ms.p99)")


def _bound(text: str, bound_text: str) -> float:
    try:
        bound = float(bound_text)
    except ValueError:
        raise ValueError(f"{text!r}: {bound_text!r} is not a number") from None
    if not math.isfinite(bound):
        raise ValueError(f"{text!r}: the bound must be a finite number")
    return bound


def _turns(text: str, name: str, selector: str) -> Turns:
    """'turn1', 'turn2+', 'turn2-4' (also 'turns2+') as Turns; ValueError otherwise."""
    if name not in BY_TURN:
        raise ValueError(f"{text!r}: {name} is not measured by turn; a turn selection "
                         f"({selector}) goes with {', '.join(BY_TURN)}")
    tm = _TURNS.match(selector)
    if tm is None:
        raise ValueError(f"{text!r}: {selector!r} is not a selection of turns; write turn1 (the "
                         "first), turn2+ (the second and later) or turn2-4 (the second to the "
                         "fourth)")
    first = int(tm.group("first"))
    last = None if tm.group("on") else int(tm.group("last") or first)
    if first < 1 or (last is not None and last < first):
        raise ValueError(f"{text!r}: {selector!r} selects no turn; turns count from 1 "
                         "(turn2-4: the second to the fourth)")
    return Turns(first, last)


def session_metric_error(threshold: Threshold) -> str:
    """Why a session metric cannot be a threshold of a suite without sessions."""
    what = (f"{threshold.turns.text} selects turns of sessions" if threshold.turns
            and threshold.metric not in SESSION_METRICS else f"{threshold.metric} is measured "
            "on sessions")
    return (f"{threshold.text!r}: {what}, and this suite sends single requests: give "
            "session_types (with sessions_per_second_rates), or drop the threshold")


def threshold_results(thresholds: list[Threshold],
                      phases: Sequence[PhaseStats]) -> list[ThresholdResult]:
    """Each threshold over the phases (or polls) that were checked against it, in order: passed
    when every one of them passed it (and at least one was checked). A phase without a check (a
    missed poll, nothing measured) is left out."""
    out = []
    for threshold in thresholds:
        rows = [ThresholdPhase(phase=ph.phase, value=c.value, passed=c.passed, reason=c.reason)
                for ph in phases for c in ph.thresholds if c.threshold == threshold.text]
        out.append(ThresholdResult(threshold=threshold.text,
                                   passed=bool(rows) and all(r.passed for r in rows), phases=rows))
    return out


def failed(results: list[ThresholdResult]) -> list[ThresholdResult]:
    return [r for r in results if not r.passed]


def failed_line(word: str, phase: int, check: PhaseCheck) -> str:
    """'phase 3: threshold ttft_ms.p99 < 500 failed: 3512.0'"""
    got = value_text(check.value) if check.value is not None else f"no value ({check.reason})"
    return f"{word} {phase}: threshold {check.threshold} failed: {got}"


def value_text(value: float) -> str:
    """A threshold's figure as the user wrote its bound: 3,512.4, 0.0123."""
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4g}"
