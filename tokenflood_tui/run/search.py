"""A capacity search: the highest request rate that meets an SLO, found while the run goes.

The planner ramps the rate geometrically from `start_rps` until a phase fails the SLO (or the
server saturates), then bisects between the highest rate that met it and the lowest that
failed, until their relative gap is within `tolerance`, or `max_phases` have run. Each step is
an ordinary phase of the results folder. `answer` turns the phases (and their rows) into the
SearchResult of summary.json.
"""

from __future__ import annotations

import math

import numpy as np

from ..compare import bootstrap
from ..specs import SLO_METRICS, SearchSuite, Slo
from ..metrics.summary import PhaseStats, SearchResult, SearchStep, pkey
from .events import SearchVerdict
from .plan import MissedSlot, Planner
from .schedule import PhasePlan, arrival_offsets, load_type_weights
from .sessions import draw_phase

# A phase whose achieved rate is below this share of its target did not get the load it asked
# for (the server, not the client, when the client was not the bottleneck).
ACHIEVED_MIN = 0.9
METRIC_NAMES = {"ttft_ms": "TTFT", "ttfa_ms": "TTFA", "tpot_ms": "TPOT", "e2e_ms": "e2e"}


def ramp_rates(suite: SearchSuite) -> list[float]:
    """The rates the search ramps through before any phase fails: start_rps, × growth (rounded
    as the planner rounds), up to max_rps. Phases after them bisect below a failed one, so below
    max_rps (the budget's bound)."""
    rates = [suite.start_rps]
    while rates[-1] < suite.max_rps:
        rates.append(_round(min(rates[-1] * suite.growth, suite.max_rps)))
    return rates


def verdict(stats: PhaseStats, slo: Slo) -> tuple[bool, str]:
    """Whether a phase met the SLO, and the figures that say so (or what broke)."""
    broke, held = [], []
    for metric, p, bound in slo.percentile_bounds():
        value = stats.metric(metric).at(p)
        name = f"{METRIC_NAMES[metric]} {pkey(p)}"
        if value is None:
            broke.append(f"{name}: no successful request")
        elif value > bound:
            broke.append(f"{name} {value:.0f} ms > {bound:g}")
        else:
            held.append(f"{name} {value:.0f} ms ≤ {bound:g}")
    if slo.by_goodput:
        good = stats.goodput
        if good is None or good < slo.goodput_min:
            broke.append(f"goodput {0 if good is None else good:.0%} < {slo.goodput_min:.0%}")
        else:
            held.append(f"goodput {good:.0%} ≥ {slo.goodput_min:.0%}")
    rate = stats.error_rate
    if rate is not None and rate > 1 - slo.goodput_min:
        broke.append(f"{rate:.0%} of requests failed")
    if stats.saturated:
        broke.append(f"the server saturated ({stats.saturation or 'queueing'})")
    elif stats.achieved_ratio is not None and not stats.client_bound:
        if stats.achieved_ratio < ACHIEVED_MIN:
            unit = "req/s" if stats.sessions is None else "sessions/s"
            broke.append(f"achieved {stats.achieved_rps:.1f} of the {stats.target_rps:.1f} "
                         f"{unit} scheduled")
    return (not broke, "; ".join(broke) if broke else ", ".join(held))


class SearchPlanner(Planner):
    """Phases decided as the search goes: ramp, then bisect (see the module's docstring)."""

    judges_each_phase = True

    kind = "search"

    def __init__(self, suite: SearchSuite):
        super().__init__([])
        self.suite = suite
        self.weights = load_type_weights(suite) if suite.load_types else np.ones(0)
        self.steps: list[SearchStep] = []
        self.lower: float | None = None          # highest rate that met the SLO
        self.upper: float | None = None          # lowest rate that failed
        self.stopped_because: str | None = None
        self._rate: float | None = suite.start_rps
        self._seq = 0

    @property
    def remaining(self) -> list[PhasePlan]:
        return []                               # not known in advance: the budget bounds it

    def next(self, now_utc: float) -> tuple[list[MissedSlot], PhasePlan | None]:
        if self._rate is None:
            return [], None
        plan = self._plan(len(self.plans) + 1, self._rate)
        self.plans.append(plan)
        self._next = len(self.plans)
        self._rate = None                       # decided again when this phase is done
        return [], plan

    def phase_done(self, plan: PhasePlan, stats: PhaseStats) -> SearchVerdict:
        meets, why = verdict(stats, self.suite.slo)
        self.steps.append(SearchStep(phase=plan.phase, target_rps=plan.target_rps, meets=meets,
                                     why=why, achieved_rps=stats.achieved_rps))
        rate = plan.target_rps
        if meets:
            self.lower = max(self.lower or 0.0, rate)
        else:
            self.upper = rate if self.upper is None else min(self.upper, rate)
        self._rate = self._decide()
        return SearchVerdict(plan.phase, rate, meets, why, self._rate,
                             None if self._rate is not None else self.stopped_because)

    def _decide(self) -> float | None:
        s = self.suite
        if len(self.plans) >= s.max_phases:
            self.stopped_because = f"max_phases ({s.max_phases}) reached"
            return None
        if self.lower is None:                  # the start rate already failed
            self.stopped_because = f"the SLO fails at start_rps ({s.start_rps:g} req/s)"
            return None
        if self.upper is None:                  # still ramping
            if self.lower >= s.max_rps:
                self.stopped_because = f"the SLO holds up to max_rps ({s.max_rps:g} req/s)"
                return None
            return _round(min(self.lower * s.growth, s.max_rps))
        if (self.upper - self.lower) / self.lower <= s.tolerance:
            self.stopped_because = (f"the interval is within the tolerance "
                                    f"({s.tolerance:.0%})")
            return None
        middle = _round((self.lower + self.upper) / 2)
        if not self.lower < middle < self.upper:
            self.stopped_because = "the interval cannot be split further"
            return None
        return middle

    def _plan(self, phase: int, rate: float) -> PhasePlan:
        s = self.suite
        rng = np.random.default_rng([s.seed, phase])
        offsets = arrival_offsets(rate, s.phase_seconds, s.arrival, rng)
        if s.sessions:           # the searched rate is of sessions
            sessions = draw_phase(s, phase, offsets, self._seq)
            kinds = np.array([x.type_index for x in sessions.scripts], dtype=np.int64)
            plan = PhasePlan(phase, rate, s.phase_seconds, offsets, kinds, first_seq=self._seq,
                             sessions=sessions)
        else:
            kinds = rng.choice(len(self.weights), size=len(offsets), p=self.weights)
            plan = PhasePlan(phase, rate, s.phase_seconds, offsets, kinds, first_seq=self._seq)
        self._seq += len(offsets)
        return plan


def _round(rate: float) -> float:
    """Three significant figures: rates a person can read and type again."""
    if rate <= 0:
        return rate
    digits = 2 - int(math.floor(math.log10(rate)))
    return round(rate, max(0, digits))


def answer(suite: SearchSuite, phases: list[PhaseStats], steps: list[SearchStep],
           stopped_because: str | None, rows: list[dict[str, str]],
           price_per_token: tuple[float, float] | None = None,
           cost_basis: str | None = None) -> SearchResult:
    """The search's answer from its phases, with the confidence of each side from the rows."""
    met = [st for st in steps if st.meets]
    failed = [st for st in steps if not st.meets]
    lower = max((st.target_rps for st in met), default=None)
    upper = min((st.target_rps for st in failed if lower is None or st.target_rps > lower),
                default=None)
    by_rate = {ph.target_rps: ph for ph in phases}
    rng = np.random.default_rng(suite.seed)
    low_conf = _confidence(suite.slo, rows, lower, rng) if lower is not None else None
    up_conf = _confidence(suite.slo, rows, upper, rng) if upper is not None else None
    if up_conf is not None:
        up_conf = 1.0 - up_conf
    slo = suite.slo.text()
    unit = suite.unit
    sent = {st.target_rps: st.achieved_rps for st in steps}
    if lower is None:
        text = (f"does not meet the SLO ({slo}) even at start_rps {suite.start_rps:g} {unit}: "
                "lower start_rps, or the server needs more capacity")
    elif upper is None:
        text = (f"meets the SLO ({slo}) up to {_rate(lower, sent, unit)}, the highest rate "
                "tried")
    else:
        text = (f"meets the SLO ({slo}) up to {_rate(lower, sent, unit)} (fails at "
                f"{_rate(upper, sent, unit)})")
    text += f", with {suite.arrival} arrivals"
    if low_conf is not None or up_conf is not None:
        parts = [f"{c:.0%} at {r:g}" for c, r in ((low_conf, lower), (up_conf, upper))
                 if c is not None and r is not None]
        text += "; confidence from the phase samples: " + ", ".join(parts)
    at = by_rate.get(lower) if lower is not None else None
    out_tps = at.output_tokens_per_s if at is not None else None
    cost = None
    if at is not None and out_tps and suite.cost_per_hour_usd is not None:
        cost = suite.cost_per_hour_usd / (out_tps * 3600.0) * 1e6
        cost_basis = f"${suite.cost_per_hour_usd:g} per hour over the output tokens at {lower:g} req/s"
    elif at is not None and price_per_token is not None and (at.input_tokens or at.output_tokens):
        tokens = at.input_tokens + at.output_tokens
        spent = at.input_tokens * price_per_token[0] + at.output_tokens * price_per_token[1]
        cost = spent / tokens * 1e6
        cost_basis = (cost_basis or "the price map") + ", input and output tokens together"
    else:
        cost_basis = None
    return SearchResult(slo=slo, lower_rps=lower, upper_rps=upper, lower_confidence=low_conf,
                        upper_confidence=up_conf, answer=text,
                        stopped_because=stopped_because or "stopped", knee_rps=knee(phases),
                        output_tokens_per_s=out_tps, cost_per_million_tokens_usd=cost,
                        cost_basis=cost_basis, steps=steps, arrival=suite.arrival)


# Where a phase sent more than this far from its rate (a client that fell behind), the answer
# says what it sent: the verdict is about the load the server got.
SENT_OFF = 0.02


def _rate(rate: float, sent: dict[float, float | None], unit: str) -> str:
    """'9 req/s', or '9 req/s (sent 8.6)' when the phase sent measurably less or more."""
    achieved = sent.get(rate)
    if achieved is None or abs(achieved / rate - 1) <= SENT_OFF:
        return f"{rate:g} {unit}"
    return f"{rate:g} {unit} (sent {achieved:.3g})"


def _confidence(slo: Slo, rows: list[dict[str, str]], rate: float,
                rng: np.random.Generator, resamples: int = 4000) -> float | None:
    """The share of bootstrap resamples of the phase at `rate` that meet every bound."""
    mine = [r for r in rows if r.get("target_rps") and float(r["target_rps"]) == rate
            and r.get("superseded") != "true"]
    if not mine:
        return None
    ok = [r for r in mine if r["status"] == "ok"]
    meets = np.ones(resamples, dtype=bool)
    for metric, p, bound in slo.percentile_bounds():
        values = np.sort(np.array([float(r[metric]) for r in ok if r.get(metric)]))
        if not len(values):
            return 0.0
        meets &= bootstrap.resampled_percentiles(values, p, rng, resamples) <= bound
    if slo.by_goodput:
        good = sum(1 for r in ok if all(
            (b := slo.request_bound(m)) is None or (r.get(m) and float(r[m]) <= b)
            for m in SLO_METRICS))
        share = rng.binomial(len(mine), good / len(mine), resamples) / len(mine)
        meets &= share >= slo.goodput_min
    return float(meets.mean())


def knee(phases: list[PhaseStats], metric: str = "ttft_ms", p: float = 50.0) -> float | None:
    """The rate where latency bends upwards most (the point furthest below the chord from the
    lowest to the highest rate, both scaled to 0..1), or None with fewer than three rates or
    no bend."""
    points = sorted((ph.target_rps, v) for ph in phases if (v := ph.metric(metric).at(p)) is not None)
    if len(points) < 3:
        return None
    xs = np.array([x for x, _ in points])
    ys = np.array([y for _, y in points])
    if xs[-1] == xs[0] or ys.max() == ys.min():
        return None
    xn = (xs - xs[0]) / (xs[-1] - xs[0])
    yn = (ys - ys.min()) / (ys.max() - ys.min())
    gap = xn - yn                                 # below the chord of a convex rise
    i = int(np.argmax(gap))
    return float(xs[i]) if gap[i] > 0.1 else None
