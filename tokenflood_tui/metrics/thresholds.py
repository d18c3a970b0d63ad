"""`thresholds:` of a run suite (like k6's): conditions on each phase's (or poll's) figures.

A threshold is a string `METRIC.STAT OP NUMBER` for a latency (`ttft_ms.p99 < 500`, any
percentile or `mean`) or `RATE OP NUMBER` for a share (`error_rate < 0.01`, `goodput > 0.9`,
`achieved_ratio > 0.99`). Parsed when the suite loads (a bad one is a located config error),
checked when a phase finishes (stats.PhaseAccumulator, from the phase's own samples, so any
percentile works, not only the suite's), gathered per threshold for the summary; a failed one
makes the run exit 4 (docs/config.md#thresholds).
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .summary import PhaseCheck, PhaseStats, ThresholdPhase, ThresholdResult, pkey

LATENCIES = ("ttft_ms", "e2e_ms", "tpot_ms", "itl_ms", "scheduled_latency_ms",
             # a reasoning model's (docs/metrics.md#reasoning): the same as TTFT, 0, TPOT and
             # ITL for a request that did not reason
             "ttfa_ms", "reasoning_ms", "answer_tpot_ms", "answer_itl_ms")
RATES = ("error_rate", "goodput", "achieved_ratio")
SHARES = ("error_rate", "goodput")          # between 0 and 1
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
EXIT_THRESHOLD_FAILED = 4

_FORM = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\.(?P<stat>[^\s<>=!]+))?\s*"
                   r"(?P<op>[<>=!]+)\s*(?P<bound>\S+)\s*$")
_PERCENTILE = re.compile(r"^p\(?(?P<p>\d+(?:\.\d+)?)\)?$")     # p99, p99.9, k6's p(99)
METRIC_NAMES = (f"{', '.join(LATENCIES)} (with .mean or a percentile: .p50, .p99.9), or "
                f"{', '.join(RATES)}")
ALLOWED = (f"write METRIC OP NUMBER such as 'ttft_ms.p99 < 500' or 'error_rate < 0.01'; METRIC "
           f"is {METRIC_NAMES}; OP is <, <=, > or >=")


@dataclass(frozen=True, slots=True)
class Threshold:
    """One parsed condition; `text` is its normal form ('ttft_ms.p99 < 500')."""

    metric: str                  # one of LATENCIES or RATES
    stat: str | None             # 'mean' or 'p99' for a latency; None for a rate
    op: str
    bound: float

    @property
    def text(self) -> str:
        name = f"{self.metric}.{self.stat}" if self.stat else self.metric
        return f"{name} {self.op} {self.bound:g}"

    @property
    def percentile(self) -> float | None:
        return float(self.stat[1:]) if self.stat and self.stat != "mean" else None

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.bound)

    def check(self, ph: PhaseStats, samples: Callable[[str], np.ndarray]) -> PhaseCheck:
        """This threshold against a finished phase; `samples(metric)` gives the phase's values
        of a latency metric (its ok requests'). No value (no ok request, nothing sent) fails,
        and `reason` says why."""
        value, reason = self._value(ph, samples)
        if value is None:
            return PhaseCheck(threshold=self.text, value=None, passed=False, reason=reason)
        return PhaseCheck(threshold=self.text, value=value, passed=self.holds(value))

    def _value(self, ph: PhaseStats,
               samples: Callable[[str], np.ndarray]) -> tuple[float | None, str | None]:
        if self.metric == "error_rate":
            return ph.error_rate, "no request finished"
        if self.metric == "goodput":
            return ph.goodput, "no request finished"
        if self.metric == "achieved_ratio":
            return ph.achieved_ratio, "nothing was sent"
        values = samples(self.metric)
        if values.size == 0:
            why = ("no request succeeded" if not ph.ok else
                   f"none of the {ph.ok} ok requests has a {self.metric} value"
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
    if name not in LATENCIES + RATES:
        close = difflib.get_close_matches(name, LATENCIES + RATES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{text!r}: unknown metric {name!r}{hint}; use {METRIC_NAMES}")
    try:
        bound = float(bound_text)
    except ValueError:
        raise ValueError(f"{text!r}: {bound_text!r} is not a number; the bound is a plain "
                         "number (milliseconds for a latency, a share for a rate)") from None
    if not math.isfinite(bound):
        raise ValueError(f"{text!r}: the bound must be a finite number")
    if name in RATES:
        if stat is not None:
            raise ValueError(f"{text!r}: {name} is one number per phase and takes no statistic "
                             f"(write '{name} {op} {bound_text}')")
        if name in SHARES and not 0 <= bound <= 1:
            raise ValueError(f"{text!r}: {name} is a share between 0 and 1 (0.01 is 1%)")
        return Threshold(name, None, op, bound)
    if stat is None:
        raise ValueError(f"{text!r}: {name} needs a statistic: {name}.p99, {name}.p50 or "
                         f"{name}.mean")
    if stat != "mean":
        pm = _PERCENTILE.match(stat)
        if pm is None:
            raise ValueError(f"{text!r}: {stat!r} is not a statistic; use mean or a percentile "
                             "such as p50, p90, p99.9")
        p = float(pm.group("p"))
        if not 0 < p < 100:
            raise ValueError(f"{text!r}: percentile {p:g} is outside (0, 100)")
        stat = pkey(p)
    return Threshold(name, stat, op, bound)


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
