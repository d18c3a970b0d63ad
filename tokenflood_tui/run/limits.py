"""The plan against a hosted provider's rate limits, read by the warm-up: before any load is
sent, say which phase (or poll) must exceed which limit (docs/metrics.md#rate-limits).

A phase's demand is its busiest minute: the most requests scheduled within any 60 s of it, and
their tokens as OpenAI, Azure and Bedrock count them when a request starts, prompt plus
`max_tokens` (Anthropic's input and output families: the prompt, and max_tokens). A phase
shorter than a minute sends all of it within one. A limit the provider gave only what remains of
(Azure) is judged by what remained at the warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics.ratelimits import (INPUT_TOKENS, OUTPUT_TOKENS, REQUESTS, TOKENS, Limit,
                                  RateLimits)
from ..outputs.formats import headroom
from ..specs import RunSuite
from .events import RunWarning, Unit
from .schedule import PhasePlan

WINDOW_S = 60.0


def busiest_minute(plan: PhasePlan, prompt: np.ndarray, output: np.ndarray) -> dict[str, int]:
    """The most requests, tokens, prompt and max_tokens the phase schedules within any 60 s."""
    offsets = plan.offsets_s
    if offsets.size == 0:
        return {REQUESTS: 0, TOKENS: 0, INPUT_TOKENS: 0, OUTPUT_TOKENS: 0}
    # (a hair under 60 s: the arrival a float's rounding puts at 59.999… s is the next minute's)
    ends = np.searchsorted(offsets, offsets + WINDOW_S - 1e-6, side="left")
    cum_in = np.concatenate(([0], np.cumsum(prompt[plan.load_types])))
    cum_out = np.concatenate(([0], np.cumsum(output[plan.load_types])))
    starts = np.arange(offsets.size)
    demand = {REQUESTS: ends - starts, INPUT_TOKENS: cum_in[ends] - cum_in[starts],
              OUTPUT_TOKENS: cum_out[ends] - cum_out[starts]}
    demand[TOKENS] = demand[INPUT_TOKENS] + demand[OUTPUT_TOKENS]
    return {kind: int(values.max()) for kind, values in demand.items()}


@dataclass(frozen=True, slots=True)
class MinuteDemand:
    """The busiest minute of phases (or polls) `first` to `last`: the most requests, and their
    prompt + max_tokens, any of them sends within 60 s (of several polls: the most of any)."""

    first: int
    last: int
    requests: int
    tokens: int


def plan_demand(plans: list[PhasePlan], suite: RunSuite, unit: Unit) -> list[MinuteDemand]:
    """Each phase's busiest minute; an observation's polls are alike, so one line for them all
    (the most any poll sends). Session phases have none: their turns wait on replies."""
    found = [(plan.phase, minute) for plan, minute in _minutes(plans, suite)]
    if not found:
        return []
    if unit == "poll":
        most = max(found, key=lambda pm: (pm[1][REQUESTS], pm[1][TOKENS]))[1]
        return [MinuteDemand(found[0][0], found[-1][0], most[REQUESTS], most[TOKENS])]
    return [MinuteDemand(phase, phase, m[REQUESTS], m[TOKENS]) for phase, m in found]


def _minutes(plans: list[PhasePlan], suite: RunSuite) -> list[tuple[PhasePlan, dict[str, int]]]:
    prompt = np.array([lt.prompt_length for lt in suite.load_types], dtype=np.int64)
    output = np.array([lt.max_output for lt in suite.load_types], dtype=np.int64)
    # (a session's turns wait on replies: no fixed schedule)
    return [(plan, busiest_minute(plan, prompt, output)) for plan in plans
            if plan.sessions is None]


def plan_warnings(plans: list[PhasePlan], suite: RunSuite, limits: RateLimits,
                  unit: Unit, when: str = "at the warm-up") -> list[RunWarning]:
    """A warning for each phase whose busiest minute is above a limit, naming both. `when` the
    limits were read, for a limit known only by what remained of it."""
    sized = {lim.kind: lim for lim in limits.limits if _size(lim) is not None}
    if not sized:
        return []
    warnings = []
    for plan, demand in _minutes(plans, suite):
        over = [(kind, demand[kind], lim) for kind, lim in sized.items()
                if demand[kind] > (_size(lim) or 0)]
        if not over:
            continue
        said = "; ".join(
            f"{need:,} {kind.replace('_', ' ')} in its busiest minute, above the limit of "
            f"{_size(lim):,}" + ("" if lim.limit is not None else f" (what remained {when})")
            for kind, need, lim in over)
        warnings.append(RunWarning(
            f"{unit} {plan.phase} must exceed the provider's rate limit: it sends {said}; expect "
            "its excess refused (rate_limited, kept out of the latency figures)", unit, plan.phase))
    if unit == "poll" and len(warnings) > 1:
        # an observation's polls are alike: the first said, the others counted, not hundreds
        first = warnings[0]
        return [RunWarning(first.text.replace(f"poll {first.number} must",
                                              f"poll {first.number} (and {len(warnings) - 1} "
                                              "more polls) must", 1), unit, first.number)]
    return warnings


def limits_line(limits: RateLimits, head: str = "rate limits at the warm-up") -> str:
    """'rate limits at the warm-up: requests 10/12 (83%) resets in 59 s, tokens …' for the
    warm-up's note (and the endpoint test's)."""
    parts = [headroom(lim.kind, lim.remaining, lim.limit, lim.reset_s)
             for lim in limits.limits if lim.remaining is not None]
    return f"{head}: " + ", ".join(parts)


def _size(lim: Limit) -> int | None:
    return lim.limit if lim.limit is not None else lim.remaining
