"""A suite fitted to counted traffic, and how close it comes.

Single requests become weighted `load_types`: type i stands for the data's prompt length at
percentile q_i of QUANTILES, and weighs the share of requests nearest that percentile (from the
midpoint to the one before to the midpoint to the one after), so the suite's own percentile q_i
is the data's; its prefix is the median shared prefix of those requests and its output their
mean (the suite then sends the data's output tokens in all). Conversations become one session
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
from .count import Profile, Templates

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


def percentiles(values: list[int] | np.ndarray, at: tuple[int, ...] = QUANTILES) -> list[float]:
    return [float(v) for v in np.percentile(np.asarray(values, dtype=np.float64), at)]


def fit_load_types(profile: Profile) -> LoadFit:
    requests = sorted(profile.requests, key=lambda r: r.prompt)
    n = len(requests)
    prompts = np.array([r.prompt for r in requests], dtype=np.float64)
    reps = np.percentile(prompts, QUANTILES)
    edges = [0.0] + [(a + b) / 2 for a, b in itertools.pairwise(QUANTILES)] + [100.0]
    ranks = 100.0 * (np.arange(n) + 0.5) / n        # each request's percentile rank
    room = _template_first(profile.templates) + 1    # what calibration leaves for a unique part
    by_shape: dict[tuple[int, int, int], float] = {}
    for i, rep in enumerate(reps):
        members = [requests[j] for j in range(n) if edges[i] <= ranks[j] < edges[i + 1]] or \
            [requests[int(np.argmin(np.abs(prompts - rep)))]]
        prompt = max(room, int(round(rep)))
        prefix = int(np.median([m.prefix for m in members]))
        prefix = max(0, min(prefix, prompt - room))
        outputs = [m.output for m in members if m.output is not None]
        output = max(1, round(float(np.mean(outputs)))) if outputs else PLACEHOLDER_OUTPUT
        key = (prompt, prefix, output)
        by_shape[key] = by_shape.get(key, 0.0) + (edges[i + 1] - edges[i]) / 100
    types = [LoadType.model_validate({"prompt_length": p, "prefix_length": x, "output_length": o,
                                      "weight": round(w, 4)}) for (p, x, o), w in by_shape.items()]
    return LoadFit(types, _load_rows(profile, types))


def _template_first(templates: Templates) -> int:
    return templates[False].first if False in templates else 0


def _load_rows(profile: Profile, types: list[LoadType]) -> list[FitRow]:
    weights = np.array([t.weight for t in types])
    kinds = np.random.default_rng(SEED).choice(len(types), size=DRAWS, p=weights / weights.sum())
    drawn = {name: np.array([getattr(t, key) for t in types])[kinds]
             for name, key in (("prompt", "prompt_length"), ("prefix", "prefix_length"),
                               ("output", "output_length"))}
    rows = [FitRow("prompt tokens", percentiles([r.prompt for r in profile.requests]),
                   percentiles(drawn["prompt"])),
            FitRow("shared prefix", percentiles([r.prefix for r in profile.requests]),
                   percentiles(drawn["prefix"]))]
    if profile.outputs:
        rows.append(FitRow("output tokens", percentiles(profile.outputs),
                           percentiles(drawn["output"])))
    return rows


def fit_amount(values: list[int], least: int = 0) -> Distribution:
    """The distribution of the three kinds whose draws' percentiles come closest to `values`'
    (a constant when they are all equal), with the data's least and most as its bounds."""
    data = np.asarray(values, dtype=np.float64)
    low, high = float(data.min()), float(data.max())
    if low == high:
        return Distribution(dist="constant", value=int(low))
    candidates = [Distribution(dist="uniform", min=int(low), max=int(high))]
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
    rows = [FitRow("turns", percentiles([len(s.users) for s in sessions]), percentiles(turns)),
            FitRow("user tokens", percentiles([u for s in sessions for u in s.users]),
                   percentiles(users))]
    data_outputs = [o for s in sessions for o in s.outputs if o is not None]
    if data_outputs:
        rows.append(FitRow("output tokens", percentiles(data_outputs), percentiles(outputs)))
    rows.append(FitRow("prompt tokens", percentiles([r.prompt for r in profile.requests]),
                       percentiles(prompts)))
    return rows
