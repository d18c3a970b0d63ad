"""The run suite (`run.yml`): the requests' shapes, the SLO, and the three kinds of run — load
test, observation and capacity search — each with the limits checked before anything is planned
(docs/config.md)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..metrics.thresholds import Threshold, parse_threshold, session_metric_error
from .loader import KeyedError, StrictModel
from .sessions import SessionType

MAX_SEED = 2**32 - 1                 # numpy and the simulator take seeds in [0, 2**32)
MAX_REQUESTS_PER_RUN = 10_000_000    # the plan holds every arrival in memory (16 bytes each)


class LoadType(StrictModel):
    """One kind of request, sampled by weight."""

    prompt_length: int = Field(gt=0)
    prefix_length: int = Field(0, ge=0)
    output_length: int = Field(gt=0)
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    # a reasoning model's thinking budget, on top of output_length (docs/config.md)
    reasoning_budget_tokens: int | None = Field(None, gt=0)

    @property
    def max_output(self) -> int:
        """The most a request of this type may generate: its answer and its reasoning budget."""
        return self.output_length + (self.reasoning_budget_tokens or 0)

    @model_validator(mode="after")
    def _prefix_inside_prompt(self) -> LoadType:
        if self.prefix_length >= self.prompt_length:
            raise ValueError(f"prefix_length ({self.prefix_length}) must be smaller than "
                             f"prompt_length ({self.prompt_length})")
        return self


SLO_METRICS = ("ttft_ms", "ttfa_ms", "tpot_ms", "e2e_ms")


class Slo(StrictModel):
    """Service-level objectives. Each bound is a number (per request: a request meeting every
    one counts towards goodput, and a phase meets the SLO when its goodput reaches
    `goodput_min`) or a mapping from percentiles to bounds (`{p99: 500}`: the phase's p99 must be
    at most 500 ms; for goodput, each request is held to the tightest of them)."""

    ttft_ms: float | dict[str, float] | None = None
    ttfa_ms: float | dict[str, float] | None = None     # a reasoning model's first answer token
    tpot_ms: float | dict[str, float] | None = None
    e2e_ms: float | dict[str, float] | None = None
    goodput_min: float = Field(0.95, gt=0, le=1, allow_inf_nan=False)

    @field_validator("ttft_ms", "ttfa_ms", "tpot_ms", "e2e_ms")
    @classmethod
    def _bounds(cls, bound: float | dict[str, float] | None) -> float | dict[str, float] | None:
        values = bound.values() if isinstance(bound, dict) else [] if bound is None else [bound]
        for value in values:
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"{value} ms: a bound must be a number > 0")
        if isinstance(bound, dict):
            if not bound:
                raise ValueError("give at least one percentile, e.g. {p99: 500}")
            for key in bound:
                p = _percentile_key(key)
                if p is None:
                    raise ValueError(f"{key!r} is not a percentile: use p50, p90, p99, p99.9 …")
        return bound

    def request_bound(self, metric: str) -> float | None:
        """The per-request bound of `metric` that goodput uses."""
        bound = getattr(self, metric)
        return min(bound.values()) if isinstance(bound, dict) else bound

    def percentile_bounds(self) -> list[tuple[str, float, float]]:
        """(metric, percentile, bound) of every bound given as a percentile."""
        return [(metric, p, value) for metric in SLO_METRICS
                if isinstance(bound := getattr(self, metric), dict)
                for key, value in bound.items() if (p := _percentile_key(key)) is not None]

    @property
    def by_goodput(self) -> bool:
        """True when any bound is per request (a number): the phase is judged by goodput."""
        return any(isinstance(getattr(self, m), (int, float)) for m in SLO_METRICS)

    def text(self) -> str:
        """'TTFT p99 ≤ 500 ms, e2e ≤ 2000 ms per request for 95% of requests'"""
        parts = []
        for metric in SLO_METRICS:
            bound = getattr(self, metric)
            name = metric.removesuffix("_ms").upper().replace("E2E", "e2e")
            if isinstance(bound, dict):
                parts += [f"{name} {key} ≤ {value:g} ms" for key, value in bound.items()]
            elif bound is not None:
                parts.append(f"{name} ≤ {bound:g} ms")
        text = ", ".join(parts)
        if self.by_goodput:
            text += f" (per request, for {self.goodput_min:.0%} of requests)"
        return text


def _percentile_key(key: str) -> float | None:
    """'p99' → 99.0; None unless it is p<number> strictly between 0 and 100."""
    if not isinstance(key, str) or not key.startswith("p"):
        return None
    try:
        p = float(key[1:])
    except ValueError:
        return None
    return p if 0 < p < 100 else None


class _Suite(StrictModel):
    """What both kinds of run suite (`run.yml`) have: the requests' shapes and how to send them."""

    name: str
    load_types: list[LoadType] = Field(default_factory=list)   # or session_types (load tests)
    percentiles: list[float] = Field(default_factory=lambda: [50.0, 90.0, 99.0], min_length=1)
    seed: int = 0                    # 0 <= seed <= MAX_SEED
    max_concurrency: int | None = Field(None, gt=0)
    warmup_requests: int = Field(2, ge=0)
    request_timeout_seconds: float = Field(120.0, gt=0, allow_inf_nan=False)
    slo: Slo | None = None
    # False: every run draws fresh prompt text (same lengths), so no rerun hits a server's
    # prefix cache with the previous run's prompts; True: replay the seed's exact prompts.
    reuse_prompts: bool = False
    # pass/fail conditions per phase or poll (thresholds.py); a failed one makes the run exit 4
    thresholds: list[str] = Field(default_factory=list)

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, seed: int) -> int:
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed is {seed}: a seed is a whole number between 0 and {MAX_SEED}")
        return seed

    @field_validator("percentiles")
    @classmethod
    def _percentiles_in_range(cls, percentiles: list[float]) -> list[float]:
        for p in percentiles:
            if not 0 < p < 100:
                raise ValueError(f"percentile {p} is outside (0, 100)")
        return sorted(set(percentiles))

    @field_validator("name")
    @classmethod
    def _name_not_empty(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("name must not be empty")
        return name

    @model_validator(mode="after")
    def _plan_fits_in_memory(self) -> _Suite:
        # Checked before anything is planned: the schedule holds every arrival in memory.
        expected = self.expected_requests
        if expected > MAX_REQUESTS_PER_RUN:
            raise KeyedError(self._count_keys[:1], (
                f"{' × '.join(self._count_keys)} would schedule about {expected:,.0f} requests; "
                f"tokenflood plans at most {MAX_REQUESTS_PER_RUN:,} per run: lower them, "
                "or split the run"))
        return self

    _count_keys: ClassVar[tuple[str, ...]] = ()

    # -- thresholds (docs/config.md#thresholds) -----------------------------------------------

    @field_validator("thresholds")
    @classmethod
    def _thresholds_parse(cls, thresholds: list[str]) -> list[str]:
        for i, text in enumerate(thresholds):
            try:
                parse_threshold(text)
            except ValueError as exc:
                raise KeyedError(("thresholds", i), str(exc)) from None
        return thresholds

    @model_validator(mode="after")
    def _thresholds_measured(self) -> _Suite:
        for i, t in enumerate(self.threshold_checks):
            if t.metric == "goodput" and self.slo is None:
                raise KeyedError(("thresholds", i), (
                    f"{t.text!r}: goodput is the share of requests within the slo, and this "
                    "suite has no slo: add one (e.g. slo: {ttft_ms: 500}) or drop the threshold"))
            if t.sessions and not self.sends_sessions:
                raise KeyedError(("thresholds", i), session_metric_error(t))
        return self

    @property
    def sends_sessions(self) -> bool:
        """Whether the suite sends sessions (session_types) rather than single requests."""
        return bool(getattr(self, "session_types", None))

    @property
    def threshold_checks(self) -> list[Threshold]:
        """The thresholds, parsed (each phase's accumulator checks them)."""
        return [parse_threshold(text) for text in self.thresholds]

    @property
    def expected_requests(self) -> float:
        raise NotImplementedError

    @property
    def peak_rps(self) -> float:
        """The highest rate the run sends at (it sizes the worker processes)."""
        raise NotImplementedError


class _Workload(_Suite):
    """What a load test and a search send: single requests (`load_types`) or sessions
    (`session_types`, docs/config.md#sessions)."""

    session_types: list[SessionType] = Field(default_factory=list)
    # live: the history holds the server's real replies (what clients do); echo: synthetic replies
    # of the same token counts (the same prompts whatever the server answered)
    history: Literal["live", "echo"] = "live"
    on_error: Literal["end_session", "skip"] = "end_session"
    max_session_seconds: float = Field(600.0, gt=0, allow_inf_nan=False)
    # kept out of a phase's latency statistics while its sessions ramp up; None: one mean session
    ramp_seconds: float | None = Field(None, ge=0, allow_inf_nan=False)

    _rate_key: ClassVar[str] = ""

    @property
    def sessions(self) -> bool:
        """Whether the suite sends sessions rather than single requests."""
        return bool(self.session_types)

    @property
    def unit(self) -> str:
        """What a rate counts: 'req/s' or 'sessions/s'."""
        return "sessions/s" if self.sessions else "req/s"

    def session_type(self, name: str) -> SessionType | None:
        return next((t for t in self.session_types if t.name == name), None)

    @model_validator(mode="after")
    def _one_workload(self) -> _Workload:
        if self.load_types and self.session_types:
            raise KeyedError(("session_types",), "give load_types (single requests) or "
                                                 "session_types (multi-turn sessions), not both")
        if not self.load_types and not self.session_types:
            raise KeyedError(("load_types",), "give load_types (single requests) or "
                                              "session_types (multi-turn sessions)")
        names = [t.name for t in self.session_types]
        for i, t in enumerate(self.session_types):
            if names.index(t.name) != i:
                raise KeyedError(("session_types", i, "name"),
                                 f"session type {t.name!r} is named twice: names must differ")
            first = t.first_request_most
            if t.context_limit_tokens is not None and t.context_limit_tokens <= first:
                raise KeyedError(("session_types", i, "context_limit_tokens"), (
                    f"context_limit_tokens ({t.context_limit_tokens}) is below what the first "
                    f"turn can send (system prompt {t.system_prompt_tokens} + context up to "
                    f"{t.context_tokens.high:g} + user message up to {t.user_tokens.high:g} "
                    "tokens): raise it"))
            if t.subagents is not None:
                if t.subagents.type not in names:
                    raise KeyedError(("session_types", i, "subagents", "type"), (
                        f"subagents of unknown type {t.subagents.type!r}: name one of "
                        f"{', '.join(names)}"))
        for i, t in enumerate(self.session_types):
            chain = [t.name]
            child = t.subagents.type if t.subagents else None
            while child is not None:
                if child in chain:
                    raise KeyedError(("session_types", i, "subagents", "type"), (
                        "sub-agents recurse (" + " → ".join(chain + [child]) + "): a sub-agent "
                        "type must not start sub-agents of a type above it"))
                chain.append(child)
                parent = self.session_type(child)
                child = parent.subagents.type if parent and parent.subagents else None
        return self

    def requests_per_session(self, name: str, above: tuple[str, ...] = ()) -> float:
        """The mean requests of one session of a type, its sub-agents' included (an unknown or
        recursing sub-agent type counts nothing: validation refuses it with its own message)."""
        t = self.session_type(name)
        if t is None or name in above:
            return 0.0
        turns = t.turns.expected
        if t.subagents is None:
            return turns
        fan_outs = max(0.0, (turns - 1) // t.subagents.every)
        return turns + fan_outs * t.subagents.count * self.requests_per_session(
            t.subagents.type, (*above, name))

    @property
    def requests_per_session_mean(self) -> float:
        total = sum(t.weight for t in self.session_types)
        return sum(t.weight / total * self.requests_per_session(t.name) for t in self.session_types)

    def least_session_seconds(self, name: str) -> float:
        """The shortest a session of the type can last without any server time: its think and
        tool times at their least."""
        t = self.session_type(name)
        if t is None:
            return 0.0
        waits = t.think_seconds.low * (1 - t.tool_share) + t.tool_seconds.low * t.tool_share
        return waits * max(0.0, t.turns.low - 1)


class LoadTestSuite(_Workload):
    """A load test: one phase per rate, each `test_length_in_seconds` long."""

    type: Literal["load_test"] = "load_test"
    requests_per_second_rates: list[float] = Field(default_factory=list)
    sessions_per_second_rates: list[float] = Field(default_factory=list)
    test_length_in_seconds: float = Field(gt=0, allow_inf_nan=False)
    arrival: Literal["poisson", "constant"] = "poisson"
    error_limit: float = Field(0.3, gt=0, le=1, allow_inf_nan=False)

    @property
    def _count_keys(self) -> tuple[str, ...]:   # type: ignore[override]
        return (self.rate_key, "test_length_in_seconds")

    @property
    def rate_key(self) -> str:
        return "sessions_per_second_rates" if self.sessions else "requests_per_second_rates"

    @property
    def rates(self) -> list[float]:
        """The phases' rates: requests or sessions per second."""
        return self.sessions_per_second_rates if self.sessions else self.requests_per_second_rates

    @field_validator("requests_per_second_rates", "sessions_per_second_rates")
    @classmethod
    def _positive_rates(cls, rates: list[float], info: ValidationInfo) -> list[float]:
        unit = "sessions/s" if info.field_name == "sessions_per_second_rates" else "req/s"
        for i, rate in enumerate(rates):
            if not rate > 0 or not math.isfinite(rate):
                raise ValueError(f"rate {i + 1} is {rate}: every rate must be a number > 0 ({unit})")
        return rates

    @model_validator(mode="after")
    def _rates_for_the_workload(self) -> LoadTestSuite:
        other = "requests_per_second_rates" if self.sessions else "sessions_per_second_rates"
        if getattr(self, other):
            raise KeyedError((other,), (
                f"{other} goes with {'load_types' if self.sessions else 'session_types'}; this "
                f"suite has {'session_types' if self.sessions else 'load_types'}: use "
                f"{self.rate_key}"))
        if not self.rates:
            raise KeyedError((self.rate_key,), f"missing required key {self.rate_key!r}")
        what = "start no session" if self.sessions else "send no request"
        for i, rate in enumerate(self.rates):
            if rate * self.test_length_in_seconds < 1:
                raise KeyedError((self.rate_key, i), (
                    f"phase {i + 1} ({rate} {self.unit} for {self.test_length_in_seconds} s) "
                    f"would {what}: raise the rate or test_length_in_seconds"))
        return self

    @property
    def expected_requests(self) -> float:
        """The mean request count of the run: exact for constant arrivals, poisson's mean."""
        per_start = self.requests_per_session_mean if self.sessions else 1.0
        return sum(rate * self.test_length_in_seconds * per_start for rate in self.rates)

    @property
    def load_seconds(self) -> float:
        return self.test_length_in_seconds * len(self.rates)

    @property
    def peak_rps(self) -> float:
        """The highest request rate: for sessions, starts per second × requests per session."""
        return max(self.rates) * (self.requests_per_session_mean if self.sessions else 1.0)


class ObservationSuite(_Suite):
    """An observation: light polls on the wall clock for hours or days.

    Poll k starts at `start + k × interval`; `start` is the next whole multiple of the interval
    in UTC unless `align` is false. A poll sends `num_requests` spread evenly over
    `within_seconds`.
    """

    type: Literal["observation"]
    duration_hours: float = Field(gt=0, allow_inf_nan=False)
    polling_interval_minutes: float = Field(gt=0, allow_inf_nan=False)
    num_requests: int = Field(gt=0)
    within_seconds: float = Field(gt=0, allow_inf_nan=False)
    align: bool = True
    # An observation watches through outages: a poll that fails is recorded and the next one
    # goes ahead, unless error_limit is set (then it applies as in a load test).
    error_limit: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)

    _count_keys = ("duration_hours", "polling_interval_minutes", "num_requests")

    @model_validator(mode="before")
    @classmethod
    def _one_load_type(cls, data: Any) -> Any:
        # The original tokenflood's observation files give a single `load_type`.
        if isinstance(data, dict) and "load_type" in data:
            if "load_types" in data:
                raise ValueError("give either load_type or load_types, not both")
            data = {**data, "load_types": [data["load_type"]]}
            del data["load_type"]
        return data

    @model_validator(mode="after")
    def _has_load_types(self) -> ObservationSuite:
        if not self.load_types:
            raise KeyedError(("load_types",), "an observation needs load_types (at least one)")
        return self

    @model_validator(mode="after")
    def _polls_fit(self) -> ObservationSuite:
        if self.within_seconds > self.interval_s:
            raise KeyedError(("within_seconds",), (
                f"within_seconds ({self.within_seconds:g}) is longer than the polling interval "
                f"({self.interval_s:g} s): a poll must fit before the next one starts"))
        if self.polls < 1:
            raise KeyedError(("duration_hours",), (
                f"duration_hours ({self.duration_hours:g}) is shorter than one polling interval "
                f"({self.polling_interval_minutes:g} min): no poll would run"))
        return self

    @property
    def interval_s(self) -> float:
        return self.polling_interval_minutes * 60.0

    @property
    def polls(self) -> int:
        """Polls in the whole duration (slots 0 .. polls-1)."""
        return int(self.duration_hours * 3600.0 / self.interval_s + 1e-9)

    @property
    def expected_requests(self) -> float:
        return float(self.polls * self.num_requests)

    @property
    def peak_rps(self) -> float:
        return self.num_requests / self.within_seconds


class SearchSuite(_Workload):
    """A capacity search: the highest rate that meets `slo`. Ramps from `start_rps` by
    `growth` per phase until the SLO breaks or the server saturates, then bisects until the
    interval is narrower than `tolerance` (relative), within `max_rps` and `max_phases`."""

    type: Literal["search"]
    slo: Slo                               # required here
    start_rps: float = Field(gt=0, allow_inf_nan=False)
    max_rps: float = Field(gt=0, allow_inf_nan=False)
    phase_seconds: float = Field(gt=0, allow_inf_nan=False)
    tolerance: float = Field(0.1, gt=0, lt=1, allow_inf_nan=False)
    max_phases: int = Field(12, ge=2, le=100)
    growth: float = Field(2.0, gt=1, le=10, allow_inf_nan=False)
    arrival: Literal["poisson", "constant"] = "poisson"
    error_limit: float = Field(0.3, gt=0, le=1, allow_inf_nan=False)
    # what the server costs to run (a GPU machine), for the cost per million tokens at the answer
    cost_per_hour_usd: float | None = Field(None, gt=0, allow_inf_nan=False)

    _count_keys = ("max_rps", "phase_seconds", "max_phases")

    @model_validator(mode="after")
    def _search_range(self) -> SearchSuite:
        if self.max_rps < self.start_rps:
            raise KeyedError(("max_rps",), (
                f"max_rps ({self.max_rps:g}) is below start_rps ({self.start_rps:g}): the search "
                "goes up from start_rps to at most max_rps"))
        if self.start_rps * self.phase_seconds < 1:
            raise KeyedError(("start_rps",), (
                f"{self.start_rps:g} req/s for {self.phase_seconds:g} s would send no request: "
                "raise start_rps or phase_seconds"))
        if not any(getattr(self.slo, metric) for metric in SLO_METRICS):
            raise KeyedError(("slo",), "give at least one of ttft_ms, tpot_ms, e2e_ms (or a "
                                       "reasoning model's ttfa_ms): the search finds the highest "
                                       "rate that meets them")
        return self

    @model_validator(mode="after")
    def _slo_percentiles_measured(self) -> SearchSuite:
        # every percentile the SLO names is one the phases report
        wanted = {p for _, p, _ in self.slo.percentile_bounds()}
        if not wanted <= set(self.percentiles):
            self.percentiles = sorted(set(self.percentiles) | wanted)
        return self

    @property
    def test_length_in_seconds(self) -> float:
        """A phase's length (the name load tests use)."""
        return self.phase_seconds

    @property
    def expected_requests(self) -> float:
        """The most the search can send: every phase at max_rps."""
        return self.max_rps * self.phase_seconds * self.max_phases

    @property
    def peak_rps(self) -> float:
        return self.max_rps


RunSuite = LoadTestSuite | ObservationSuite | SearchSuite   # what a run.yml holds, by its `type`
SUITE_KINDS: dict[str, type[LoadTestSuite] | type[ObservationSuite] | type[SearchSuite]] = {
    "load_test": LoadTestSuite, "observation": ObservationSuite, "search": SearchSuite}
