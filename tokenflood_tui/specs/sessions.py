"""Session types (`session_types:` in a run suite): multi-turn chats and agents described by token
lengths and times, each of which may be a number or a distribution (docs/config.md#sessions)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (BeforeValidator, Field, PlainSerializer, ValidationInfo, field_validator,
                      model_validator)

from .loader import StrictModel

# A lognormal's tail is unbounded: every distribution states the most it may draw, which is also
# what the budget's upper bound counts.
DIST_KINDS = ("constant", "uniform", "lognormal")


class Distribution(StrictModel):
    """`{dist: constant, value}`, `{dist: uniform, min, max}` or `{dist: lognormal, mean, median,
    max}` (lognormal from its mean and median; draws are clipped to [min, max])."""

    dist: Literal["constant", "uniform", "lognormal"]
    value: float | None = Field(default=None, allow_inf_nan=False)
    mean: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    median: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    min: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _parameters(self) -> Distribution:
        given = {k for k in ("value", "mean", "median", "min", "max") if getattr(self, k) is not None}
        if self.dist == "constant":
            if given != {"value"}:
                raise ValueError("a constant takes `value` only, e.g. {dist: constant, value: 5}")
        elif self.dist == "uniform":
            if given != {"min", "max"}:
                raise ValueError("a uniform takes `min` and `max`, e.g. {dist: uniform, min: 50, "
                                 "max: 300}")
            assert self.min is not None and self.max is not None
            if self.min > self.max:
                raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        else:
            if not {"mean", "median", "max"} <= given or given - {"mean", "median", "min", "max"}:
                raise ValueError("a lognormal takes `mean`, `median` and `max` (its tail is "
                                 "unbounded), and optionally `min`, e.g. {dist: lognormal, "
                                 "mean: 2000, median: 800, max: 20000}")
            assert self.mean is not None and self.median is not None and self.max is not None
            if self.median > self.mean:
                raise ValueError(f"median ({self.median:g}) is above mean ({self.mean:g}): no "
                                 "lognormal fits (its mean is at least its median); swap them, or "
                                 "use a uniform")
            if self.max < self.mean:
                raise ValueError(f"max ({self.max:g}) is below mean ({self.mean:g}): raise max")
            if self.min is not None and self.min > self.median:
                raise ValueError(f"min ({self.min:g}) is above median ({self.median:g})")
        return self

    @property
    def low(self) -> float:
        if self.dist == "constant":
            return float(self.value or 0.0)
        return float(self.min or 0.0)

    @property
    def high(self) -> float:
        return float((self.value if self.dist == "constant" else self.max) or 0.0)

    @property
    def expected(self) -> float:
        """The mean of what is drawn (for lognormal the stated mean, before clipping)."""
        if self.dist == "constant":
            return float(self.value or 0.0)
        if self.dist == "uniform":
            return (self.low + self.high) / 2
        return float(self.mean or 0.0)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.dist == "constant":
            return np.full(size, self.high)
        if self.dist == "uniform":
            return rng.uniform(self.low, self.high, size)
        assert self.mean is not None and self.median is not None
        sigma = math.sqrt(2.0 * math.log(self.mean / self.median))
        return np.clip(rng.lognormal(math.log(self.median), sigma, size), self.low, self.high)


def _number_as_constant(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    return value


def _constant_as_number(amount: Distribution) -> Any:
    if amount.dist == "constant":
        return amount.value
    return amount.model_dump(exclude_none=True)


# Any number of a session type: a plain number (a constant), or a distribution.
Amount = Annotated[Distribution, BeforeValidator(_number_as_constant),
                   PlainSerializer(_constant_as_number)]


def constant(value: float) -> Distribution:
    return Distribution(dist="constant", value=value)


def draw_counts(amount: Distribution, rng: np.random.Generator, size: int,
                least: int = 0) -> np.ndarray:
    """Whole numbers (token counts, turns), rounded, at least `least`."""
    return np.maximum(np.rint(amount.draw(rng, size)).astype(np.int64), least)


class Subagents(StrictModel):
    """Every `every` steps the session starts `count` child sessions of `type` (each with a fresh
    context), waits for all of them and appends their results before its next step."""

    every: int = Field(gt=0)
    count: int = Field(gt=0, le=64)
    type: str
    result_tokens: Amount = constant(200)    # what each child's result adds to the parent's context


# The least a session type's amounts may be (anything else: 0).
LEAST = {"turns": 1, "user_tokens": 1, "output_tokens": 1, "tool_call_tokens": 1,
         "tool_result_tokens": 1}


class SessionType(StrictModel):
    """One kind of session, sampled by weight: a chat (user turns) or an agent (steps, a share
    of them tool round trips, optionally fanning out to sub-agents)."""

    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    system_prompt_tokens: int = Field(0, ge=0)   # shared by every session of the type
    context_tokens: Amount = constant(0)                 # per session, after the system prompt
    turns: Amount                                # turns (chat) or steps (agent), at least 1
    user_tokens: Amount = constant(100)                  # a user turn's new message
    output_tokens: Amount = constant(100)                # a reply's max_tokens
    think_seconds: Amount = constant(0)                  # before each later user turn
    tool_share: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    tool_call_tokens: Amount = constant(50)              # a tool step's reply: the call's arguments
    tool_result_tokens: Amount = constant(500)           # what the tool returns, appended
    tool_seconds: Amount = constant(0)                   # the tool's latency before the next step
    subagents: Subagents | None = None
    context_limit_tokens: int | None = Field(None, gt=0)
    on_context_limit: Literal["end", "compact"] = "end"
    compact_to_tokens: int | None = Field(None, gt=0)
    reasoning_budget_tokens: int | None = Field(None, gt=0)   # on top of each reply's tokens

    @field_validator("context_tokens", "turns", "user_tokens", "output_tokens", "think_seconds",
                     "tool_call_tokens", "tool_result_tokens", "tool_seconds")
    @classmethod
    def _at_least(cls, amount: Distribution, info: ValidationInfo) -> Distribution:
        floor = LEAST.get(info.field_name or "", 0)
        if amount.dist == "constant" and amount.high < floor:
            raise ValueError(f"{amount.high:g} is too small: it must be at least {floor}")
        if amount.high < floor:
            raise ValueError(f"every value drawn would be below {floor}: raise its max")
        return amount

    @model_validator(mode="after")
    def _compaction(self) -> SessionType:
        if self.on_context_limit == "compact":
            if self.context_limit_tokens is None:
                raise ValueError("on_context_limit: compact needs context_limit_tokens")
            if self.compact_to_tokens is not None and \
                    self.compact_to_tokens >= self.context_limit_tokens:
                raise ValueError(f"compact_to_tokens ({self.compact_to_tokens}) must be below "
                                 f"context_limit_tokens ({self.context_limit_tokens})")
        return self

    @property
    def first_request_most(self) -> float:
        """The largest first request: system prompt, starting context and a user message."""
        return self.system_prompt_tokens + self.context_tokens.high + self.user_tokens.high

    @property
    def compact_target(self) -> int:
        """What a compacted context shrinks to (default: half the limit)."""
        assert self.context_limit_tokens is not None
        return self.compact_to_tokens or self.context_limit_tokens // 2
