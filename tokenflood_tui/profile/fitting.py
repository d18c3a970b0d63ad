"""A suite fitted to counted traffic, and how close it comes.

Single requests become weighted `load_types`: the requests are cut into buckets by the
percentile rank of their prompt length, at the midpoints between QUANTILES, and again by their
output's; a bucket stands for the data's length at its percentile, so the suite's own percentile
q is the data's. Each load type is a cell of the two (a prompt bucket's length and prefix — the
mean shared prefix of its requests — with an output bucket's length), weighing the share of
the requests in it. Conversations become one session
type whose amounts (turns, user tokens, output tokens, per-session context) are distributions
fitted one by one: a constant, or the lognormal or uniform whose percentiles come closest.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..run.prompts import SessionTemplate
from ..specs import LoadType
from ..specs.sessions import Distribution, SessionType, draw_counts
from .count import Profile

QUANTILES = (10, 25, 50, 75, 90, 99)     # the percentiles a suite reproduces and reports
DRAWS = 10_000                           # draws of the fitted suite, to say how close it is
SEED = 0
PLACEHOLDER_OUTPUT = 100                 # output tokens when the data has none (text prompts)


@dataclass(frozen=True, slots=True)
class FitRow:
    """One quantity: the data's percentiles and the fitted suite's draws' (QUANTILES order)."""

    name: str
    data: list[float]
    suite: list[float]
    data_mean: float
    suite_mean: float
    digits: int = 0          # decimals to show (turns: 1)

    @property
    def worst(self) -> float:
        """The largest gap, in tokens (or turns)."""
        return max((abs(d - s) for d, s in zip(self.data, self.suite, strict=True)), default=0.0)


@dataclass(frozen=True, slots=True)
class LoadFit:
    load_types: list[LoadType]
    rows: list[FitRow]


@dataclass(frozen=True, slots=True)
class SessionFit:
    session_type: SessionType
    rows: list[FitRow]


def fit_row(name: str, data, suite, digits: int = 0) -> FitRow:
    return FitRow(name, percentiles(data), percentiles(suite), float(np.mean(data)),
                  float(np.mean(suite)), digits)


def percentiles(values: list[int] | np.ndarray, at: tuple[int, ...] = QUANTILES) -> list[float]:
    return [float(v) for v in np.percentile(np.asarray(values, dtype=np.float64), at)]


def fit_load_types(profile: Profile) -> LoadFit:
    """Load types on a grid of prompt and output buckets (see the module's docstring): cell
    (i, j) has the data's prompt length at QUANTILES[i] and output at QUANTILES[j], and weighs
    prompt bucket i's share times the share of that bucket's requests in output bucket j, so
    both marginals are the data's at QUANTILES and the joint keeps how they go together."""
    requests = profile.requests
    prompts = np.array([r.prompt for r in requests], dtype=np.float64)
    prompt_bucket, prompt_reps = _buckets(prompts)
    with_output = np.array([r.output is not None for r in requests])
    outputs = np.array([r.output or 0 for r in requests], dtype=np.float64)
    output_bucket = np.full(len(requests), -1)
    output_reps = np.array([])
    if with_output.any():
        output_bucket[with_output], output_reps = _buckets(outputs[with_output])
    room = max((t.first for t in profile.templates.values()), default=0) + 1
    by_shape: dict[tuple[int, int, int], float] = {}
    for i, rep in enumerate(prompt_reps):
        members = np.flatnonzero(prompt_bucket == i)
        if not len(members):            # fewer requests than buckets: the nearest stands in
            members = np.array([int(np.argmin(np.abs(prompts - rep)))])
        prompt = max(room, int(round(rep)))
        # the mean: the suite's requests then share as many tokens in all as the data's, which
        # is what a prefix cache saves the server (the median of a bucket half shared, half
        # not, would be all or nothing)
        prefix = int(round(float(np.mean([requests[m].prefix for m in members]))))
        prefix = max(0, min(prefix, prompt - room))
        share = (EDGES[i + 1] - EDGES[i]) / 100
        known = output_bucket[members][output_bucket[members] >= 0]
        if not len(known):
            cells = {PLACEHOLDER_OUTPUT if not len(output_reps) else
                     int(round(float(np.median(outputs[with_output])))): 1.0}
        else:
            counts = np.bincount(known, minlength=len(output_reps))
            cells = {max(1, int(round(float(output_reps[j])))): c / len(known)
                     for j, c in enumerate(counts) if c}
        for output, part in cells.items():
            key = (prompt, prefix, output)
            by_shape[key] = by_shape.get(key, 0.0) + share * part
    types = [LoadType.model_validate({"prompt_length": p, "prefix_length": x, "output_length": o,
                                      "weight": round(w, 4)})
             for (p, x, o), w in sorted(by_shape.items())]
    return LoadFit(types, _load_rows(profile, types))


# bucket edges in percentile rank: the midpoints between QUANTILES
EDGES = [0.0] + [(a + b) / 2 for a, b in itertools.pairwise(QUANTILES)] + [100.0]


def _buckets(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's bucket by its percentile rank (cut at EDGES), and each bucket's
    representative: the data's value at its percentile of QUANTILES."""
    n = len(values)
    ranks = np.empty(n)
    ranks[np.argsort(values, kind="stable")] = 100.0 * (np.arange(n) + 0.5) / n
    return np.searchsorted(EDGES[1:-1], ranks, side="right"), np.percentile(values, QUANTILES)


def _load_rows(profile: Profile, types: list[LoadType]) -> list[FitRow]:
    weights = np.array([t.weight for t in types])
    kinds = np.random.default_rng(SEED).choice(len(types), size=DRAWS, p=weights / weights.sum())
    drawn = {name: np.array([getattr(t, key) for t in types])[kinds]
             for name, key in (("prompt", "prompt_length"), ("prefix", "prefix_length"),
                               ("output", "output_length"))}
    rows = [fit_row("prompt tokens", [r.prompt for r in profile.requests], drawn["prompt"]),
            fit_row("shared prefix", [r.prefix for r in profile.requests], drawn["prefix"])]
    if profile.outputs:
        rows.append(fit_row("output tokens", profile.outputs, drawn["output"]))
    return rows


def fit_amount(values: list[int], least: int = 0) -> Distribution:
    """The distribution of the three kinds whose draws' percentiles come closest to `values`'
    (a constant when they are all equal), with the data's least and most as its bounds."""
    data = np.asarray(values, dtype=np.float64)
    low, high = float(data.min()), float(data.max())
    if low == high:
        return Distribution(dist="constant", value=int(low))
    # whole amounts are drawn rounded: a uniform half a unit wider each side gives the least and
    # the most as many draws as the values between them
    candidates = [Distribution(dist="uniform", min=int(low), max=int(high)),
                  Distribution(dist="uniform", min=max(0.0, low - 0.5), max=high + 0.5)]
    positive = np.maximum(data, 0.5)
    logs = np.log(positive)
    median = math.exp(float(logs.mean()))
    mean = median * math.exp(float(logs.var()) / 2)
    for m, d in ((mean, median), (float(data.mean()), float(np.median(data)))):
        m, d = round(m, 1), round(d, 1)
        if 0 < d <= m <= high and d >= low:
            candidates.append(Distribution(dist="lognormal", mean=m, median=d, min=int(low),
                                           max=int(high)))
    target = percentiles(data)
    return min(candidates, key=lambda c: _gap(c, target, least))


def _gap(amount: Distribution, target: list[float], least: int) -> float:
    drawn = percentiles(draw_counts(amount, np.random.default_rng(SEED), DRAWS, least))
    return sum(abs(a - b) for a, b in zip(drawn, target, strict=True))


def fit_session_type(profile: Profile, name: str) -> SessionFit:
    sessions = profile.sessions
    shared = int(np.median([s.shared_system for s in sessions]))
    turns = fit_amount([len(s.users) for s in sessions], least=1)
    users = fit_amount([u for s in sessions for u in s.users], least=1)
    outputs = [o for s in sessions for o in s.outputs if o is not None]
    output = fit_amount(outputs, least=1) if outputs else Distribution(
        dist="constant", value=PLACEHOLDER_OUTPUT)
    context = fit_amount([max(0, s.system - shared) for s in sessions])
    fitted = SessionType.model_validate({
        "name": name, "system_prompt_tokens": shared, "context_tokens": context, "turns": turns,
        "user_tokens": users, "output_tokens": output})
    return SessionFit(fitted, _session_rows(profile, fitted))


def _session_rows(profile: Profile, fitted: SessionType) -> list[FitRow]:
    """Turns, user and output tokens, and each request's prompt: the data's and those of
    DRAWS sessions drawn from the fitted type (their prompts as the template would grow them)."""
    rng = np.random.default_rng(SEED)
    sessions = profile.sessions
    turns = draw_counts(fitted.turns, rng, DRAWS, 1)
    total = int(turns.sum())
    users = draw_counts(fitted.user_tokens, rng, total, 1)
    outputs = draw_counts(fitted.output_tokens, rng, total, 1)
    context = draw_counts(fitted.context_tokens, rng, DRAWS)
    template = profile.templates.get(fitted.system_prompt_tokens > 0 or any(
        s.system for s in sessions)) or SessionTemplate(0, 0, 0)
    prompts = []
    at = 0
    for i, n in enumerate(turns):
        history = fitted.system_prompt_tokens + int(context[i]) + template.first
        for k in range(n):
            history += int(users[at + k]) + (template.turn + int(outputs[at + k - 1]) if k else 0)
            prompts.append(history)
        at += n
    rows = [fit_row("turns", [len(s.users) for s in sessions], turns, digits=1),
            fit_row("user tokens", [u for s in sessions for u in s.users], users)]
    data_outputs = [o for s in sessions for o in s.outputs if o is not None]
    if data_outputs:
        rows.append(fit_row("output tokens", data_outputs, outputs))
    rows.append(fit_row("prompt tokens", [r.prompt for r in profile.requests], prompts))
    return rows
