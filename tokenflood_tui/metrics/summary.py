"""summary.json as one typed model: written from it, read back into it, used by every reader.

The live view's snapshots carry the same `PhaseStats` the summary saves, so what a person watches
during a run, what is saved, and what the results view, charts and compare read are one shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError
from .server import ServerInfo, ServerPhaseStats

SUMMARY_FILE = "summary.json"
METRICS = ("ttft_ms", "e2e_ms", "scheduled_latency_ms", "tpot_ms", "itl_ms", "dispatch_delay_ms")
# a reasoning model's (docs/metrics.md#reasoning): shown where a phase saw reasoning
REASONING_METRICS = ("ttfa_ms", "reasoning_ms", "answer_tpot_ms", "answer_itl_ms")
# from the server's own timing of each request, where its responses carry it (llama.cpp, TGI)
SERVER_TIMING_METRICS = ("queued_ms",)
RunStatus = Literal["completed", "interrupted", "aborted"]
RunKind = Literal["load_test", "observation", "search"]
# what a load test's phases send, and so what their rates count (docs/results.md#workload)
Workload = Literal["requests", "sessions"]
RATE_UNITS: dict[str, str] = {"requests": "req/s", "sessions": "sessions/s"}
# The client is the bottleneck when its workers pick requests up this late (waits for a
# max_concurrency slot are the user's choice and do not count), or a worker uses this much of a core.
CLIENT_BOUND_LAUNCH_P99_MS = 10.0
CLIENT_BOUND_CPU = 0.9


def pkey(p: float) -> str:
    """'p50', 'p99', 'p99.9' — the summary.json key of a percentile."""
    return f"p{p:g}"


class Distribution(BaseModel):
    """Mean and one key per suite percentile (`p50`, `p99.9`, ...); None when there is no sample."""

    model_config = ConfigDict(extra="allow")

    mean: float | None = None

    @model_validator(mode="after")
    def _percentile_keys(self) -> Distribution:
        for key, value in (self.__pydantic_extra__ or {}).items():
            if not key.startswith("p") or not (value is None or isinstance(value, (int, float))):
                raise ValueError(f"{key}: expected a percentile key (p50, p99, ...) with a number")
        return self

    def __getitem__(self, key: str) -> float | None:
        """dist['p50'], dist['mean']"""
        if key == "mean":
            return self.mean
        return (self.__pydantic_extra__ or {}).get(key)

    def at(self, percentile: float) -> float | None:
        return self[pkey(percentile)]


class ErrorCount(BaseModel):
    """How many requests of a phase failed one way: status, and the HTTP code where there is one."""

    status: str
    http_status: int | None = None
    count: int

    @property
    def label(self) -> str:
        return f"{self.status} {self.http_status}" if self.http_status else self.status


# ---------------------------------------------------------------------------------------------
# thresholds (docs/config.md#thresholds): one check per phase, gathered per threshold


class PhaseCheck(BaseModel):
    """One threshold against one finished phase (or poll)."""

    threshold: str                             # its normal form: 'ttft_ms.p99 < 500'
    value: float | None                        # the phase's figure; None: it had none
    passed: bool                               # False also when there is no value
    reason: str | None = None                  # why there is no value


class ThresholdPhase(BaseModel):
    """A phase's line of a threshold's result in summary.json."""

    phase: int
    value: float | None
    passed: bool
    reason: str | None = None


class ThresholdResult(BaseModel):
    """A threshold over the run: passed when every checked phase (or poll) passed it."""

    threshold: str
    passed: bool
    phases: list[ThresholdPhase] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------


class WorkerLoad(BaseModel):
    """One worker's part of a phase, when several send: is it the one that falls behind?"""

    worker: str                                # as in requests.csv
    sent: int                                  # its rows
    launch_delay_p99_ms: float | None = None   # how late its requests left (p99)
    cpu: float | None = None                   # its share of one core over the phase
    bound: bool = False                        # late or busy enough to distort latencies

    def reason(self) -> str:
        parts = []
        if self.launch_delay_p99_ms is not None and \
                self.launch_delay_p99_ms > CLIENT_BOUND_LAUNCH_P99_MS:
            parts.append(f"requests left up to {self.launch_delay_p99_ms:.0f} ms late (p99)")
        if self.cpu is not None and self.cpu >= CLIENT_BOUND_CPU:
            parts.append(f"CPU {self.cpu:.0%} of a core")
        return ", ".join(parts)


class TurnStats(BaseModel):
    """A session phase's requests of one turn index (turn 1 is cold but for the system prompt;
    later turns re-send the history, which a prefix cache should hold)."""

    turn: int                                  # 1-based, within the session
    requests: int
    ok: int
    ttft_ms: Distribution
    e2e_ms: Distribution
    context_tokens_mean: float | None          # the history before the new segment (expected)
    cached_tokens_mean: float | None
    # the server's cached tokens over that expected history, over the ok requests that report
    # cached tokens: 1.0 when the cache held the whole history
    cache_hit: float | None


class SessionStats(BaseModel):
    """A session phase's sessions (docs/metrics.md#sessions)."""

    planned: int                               # sessions in the seeded schedule
    started: int
    completed: int = 0                         # how the ones that ended, ended
    context_limit: int = 0
    error: int = 0
    cut: int = 0
    subagents: int = 0                         # sub-agent sessions that ended
    achieved_sps: float | None = None          # sessions started per second of the phase
    completed_sps: float | None = None         # sessions completed per second, start to drained
    ramp_s: float = 0.0                        # kept out of the phase's latency statistics
    ramp_requests: int = 0                     # requests sent during the ramp
    turns_mean: float | None = None            # requests per session (ended ones)
    duration_s: Distribution
    slowdown: Distribution
    # (seconds since the phase began, sessions in flight), at most 60 points
    in_flight_over_time: list[tuple[float, int]] = Field(default_factory=list)
    in_flight: int = Field(0, exclude=True)    # live only

    @property
    def ended(self) -> int:
        return self.completed + self.context_limit + self.error + self.cut


class LimitSeen(BaseModel):
    """The lowest a provider's limit of one kind (requests, tokens, input_tokens,
    output_tokens) came in a phase, by its responses' headers."""

    kind: str
    limit: int | None = None                   # its size per minute, where announced
    lowest_remaining: int
    lowest_share: float | None = None          # lowest_remaining / limit
    reset_s: float | None = None               # when it reset, said by the lowest response


class RateLimitStats(BaseModel):
    """A phase's rate limits (docs/metrics.md#rate-limits): the limits its responses announced,
    at their lowest, and the requests the provider refused for them (status rate_limited, kept
    out of the latency statistics)."""

    limits: list[LimitSeen] = Field(default_factory=list)
    throttled: int = 0
    throttled_by_kind: dict[str, int] = Field(default_factory=dict)
    throttled_share: float | None = None       # of the phase's finished requests
    offered_rps: float | None = None           # requests sent per second
    admitted_rps: float | None = None          # ... of which the provider did not refuse
    retry_after_s: float | None = None         # the longest retry-after a refusal asked for

    @property
    def lowest(self) -> LimitSeen | None:
        """The limit that came closest to running out (by share, else by count)."""
        if not self.limits:
            return None
        return min(self.limits, key=lambda lim: (2.0 if lim.lowest_share is None
                                                 else lim.lowest_share, lim.lowest_remaining))


class PhaseStats(BaseModel):
    """A phase as it stands (live) or ended (saved): counts, rates, tokens and latencies."""

    phase: int
    target_rps: float
    planned: int                               # arrivals in the seeded schedule
    sent: int                                  # handed to the client (= its rows once drained)
    ok: int
    failed: int                                # every row that is not ok, cancelled included
    cancelled: int = 0
    achieved_rps: float | None
    output_tokens_per_s: float | None
    goodput: float | None
    input_tokens: int = 0                      # sums of the server's usage, every row
    output_tokens: int = 0
    prompt_tokens_mean: float | None
    prompt_tokens_target_mean: float | None
    prefix_tokens_target_mean: float | None = None
    output_tokens_mean: float | None
    output_tokens_target_mean: float | None
    cached_tokens_mean: float | None
    cache_hit_rate: float | None               # cached / prompt tokens, over the ok requests
    output_tokens_estimated: bool
    errors: list[ErrorCount] = Field(default_factory=list)
    elapsed_s: float = 0.0                     # from the first arrival to drained (or now)
    length_s: float = 0.0                      # (both 0 in summaries of tokenflood 0.1)
    client_cpu: float | None = None            # the busiest worker's share of one core
    launch_delay_p99_ms: float | None = None   # worker lateness, slot waits excluded
    client_bound: bool = False
    ttft_ms: Distribution
    e2e_ms: Distribution
    scheduled_latency_ms: Distribution
    tpot_ms: Distribution
    itl_ms: Distribution
    dispatch_delay_ms: Distribution
    # reasoning: time to the first answer token, the time reasoned, the answer's own TPOT and
    # ITL (equal to TTFT, 0, TPOT and ITL where the model does not reason)
    ttfa_ms: Distribution = Field(default_factory=Distribution)
    reasoning_ms: Distribution = Field(default_factory=Distribution)
    answer_tpot_ms: Distribution = Field(default_factory=Distribution)
    answer_itl_ms: Distribution = Field(default_factory=Distribution)
    reasoning: bool = False                    # some request of the phase reasoned
    reasoning_tokens_mean: float | None = None
    reasoning_tokens_estimated: bool = False   # counted from reasoning chunks, not the usage
    answer_tokens_mean: float | None = None
    # Saturation verdict of a finished phase (saturation.py): the server queued (latency grew
    # through the phase) or did not take the scheduled rate; `saturation` says why, with figures.
    saturated: bool = False
    saturation: str | None = None
    latency_growth: float | None = None        # last third's median TTFT / the first third's
                                               # (of the ok requests, in scheduled order)
    thresholds: list[PhaseCheck] = Field(default_factory=list)   # the suite's, once finished
    workers: list[WorkerLoad] = Field(default_factory=list)   # per worker, when several send
    sessions: SessionStats | None = None       # a session phase: its sessions
    turns: list[TurnStats] = Field(default_factory=list)   # ... and its requests by turn index
    server: ServerPhaseStats | None = None     # the server's own metrics over the phase
    queued_ms: Distribution = Field(default_factory=Distribution)   # per request, where known
    rate_limits: RateLimitStats | None = None  # a hosted provider's, where it announced or refused
    # live only: how the phase stands right now (not saved)
    in_flight: int = Field(0, exclude=True)
    finished: bool = Field(True, exclude=True)
    recent_ttft_ms: float | None = Field(None, exclude=True)   # median of the last few ok
    recent_e2e_ms: float | None = Field(None, exclude=True)
    recent_ttfa_ms: float | None = Field(None, exclude=True)

    @property
    def unit(self) -> str:
        """What its rates (`target_rps`, `achieved_rps`) count: 'req/s', or 'sessions/s' for a
        session phase."""
        return RATE_UNITS["sessions" if self.sessions is not None else "requests"]

    def metric(self, name: str) -> Distribution:
        """One of METRICS (or REASONING_METRICS) by name."""
        if name not in METRICS and name not in REASONING_METRICS \
                and name not in SERVER_TIMING_METRICS:
            raise KeyError(name)
        return getattr(self, name)

    @property
    def error_rate(self) -> float | None:
        done = self.ok + self.failed
        return self.failed / done if done else None

    @property
    def achieved_ratio(self) -> float | None:
        """The achieved rate over the rate the schedule asked for (its arrivals / its length):
        1.0 when every arrival left on time; Poisson's draw of fewer or more arrivals than
        target × length does not count against it."""
        planned = self.sessions.planned if self.sessions is not None else self.planned
        if self.achieved_rps is None or not planned or not self.length_s:
            return None
        return self.achieved_rps / (planned / self.length_s)

    def client_bound_reason(self) -> str | None:
        """Why this phase's latencies include client-side delay, or None when they do not."""
        if not self.client_bound:
            return None
        parts = []
        late = self.launch_delay_p99_ms
        if late is not None and late > CLIENT_BOUND_LAUNCH_P99_MS:
            parts.append(f"requests left up to {late:.0f} ms late (p99)")
        if self.client_cpu is not None and self.client_cpu >= CLIENT_BOUND_CPU:
            parts.append(f"worker CPU {self.client_cpu:.0%} of a core")
        return ", ".join(parts)


def reasoned(phases: Iterable[PhaseStats]) -> bool:
    """Whether some phase (or poll) saw a model reason: only then are TTFA and the other
    reasoning figures shown, so a run without reasoning reads as it always did."""
    return any(ph.reasoning for ph in phases)


class PollStats(PhaseStats):
    """One poll of an observation: its statistics (`phase` is the poll's number), when it was due,
    and why it did not run when it did not (then every count is 0)."""

    slot_utc: str                              # ISO 8601, UTC
    missed: str | None = None

    @property
    def poll(self) -> int:
        return self.phase


class HourStats(BaseModel):
    """Latency by hour of day (UTC) over an observation's successful requests."""

    hour_utc: int                              # 0..23
    requests: int                              # rows scheduled in that hour (not superseded)
    ok: int
    ttft_ms: Distribution
    e2e_ms: Distribution


class ResumeInfo(BaseModel):
    """One `tokenflood resume` of this run."""

    at: str                                    # ISO 8601, local time with offset
    from_phase: int                            # the first phase (or poll) it ran
    superseded_rows: int                       # rows of a half-done phase, kept and marked
    missed_polls: int = 0                      # slots that passed while nothing ran


class ObservationInfo(BaseModel):
    """What an observation was asked to do (its run suite's keys), so the summary says what ran
    without run.yml."""

    interval_s: float                          # between two slots
    polls: int                                 # slots in the whole duration
    num_requests: int                          # per poll
    within_seconds: float                      # a poll's requests are spread over this window
    duration_hours: float
    align: bool                                # slots on whole multiples of the interval (UTC)


class SearchStep(BaseModel):
    """One phase of a search: its rate and whether it met the SLO (and why not)."""

    phase: int
    target_rps: float
    meets: bool
    why: str                                   # 'TTFT p99 212 ms ≤ 500' or what broke
    achieved_rps: float | None = None          # the rate it sent, which the verdict is about


class SearchResult(BaseModel):
    """A search's answer: the SLO is met up to `lower_rps` and fails at `upper_rps`."""

    slo: str                                   # as a person reads it
    lower_rps: float | None                    # the highest rate that met it (None: none did)
    upper_rps: float | None                    # the lowest that failed (None: none failed)
    lower_confidence: float | None = None      # the chance, from that phase's samples, that it
    upper_confidence: float | None = None      # really meets (lower) / really fails (upper)
    answer: str                                # one sentence
    stopped_because: str                       # narrow enough, max_phases, max_rps, ...
    knee_rps: float | None = None              # where latency starts to climb steeply
    output_tokens_per_s: float | None = None   # at lower_rps
    cost_per_million_tokens_usd: float | None = None   # at lower_rps, where a price is known
    cost_basis: str | None = None
    steps: list[SearchStep] = Field(default_factory=list)
    arrival: str = "poisson"                   # the arrival process the interval holds for


class ClusterWorkerInfo(BaseModel):
    """A Dask worker a cluster run sent from, and its clocks against the coordinator's."""

    worker: str                                # name@host, as in requests.csv
    address: str                               # the Dask worker's
    pid: int
    clock_offset_ms: float | None              # its wall clock minus the coordinator's
    clock_uncertainty_ms: float | None         # the offsets are known to within ± this
    round_trip_ms: float | None                # the shortest of the measuring round trips
    clock_drift_ms: float | None = None        # how far its monotonic clock moved against
                                               # the coordinator's between the run's start and
                                               # its last phase (measured again before phases)


class ClusterInfo(BaseModel):
    scheduler: str                             # the address given to --cluster
    workers: list[ClusterWorkerInfo]


class BudgetFigures(BaseModel):
    """What the budget estimated before the run, and what the server's usage says was spent."""

    estimated_requests: int
    estimated_input_tokens: int
    estimated_output_tokens: int
    actual_input_tokens: int
    actual_output_tokens: int
    estimated_cost_usd: float | None
    # the variable of the token limit the load's spend reached: the run stopped there (exit 3)
    stopped_at_limit: str | None = None


class RunSummary(BaseModel):
    """summary.json of a results folder."""

    type: RunKind = "load_test"
    # single requests or sessions: what the phases' rates count (none but requests before
    # tokenflood had sessions; a summary of a session run without the key says so by its phases)
    workload: Workload = "requests"
    status: RunStatus
    message: str | None = None
    # the throttle no wait ends (quota_exhausted, spend_limit, request_too_large) that stopped
    # the run at its first refusal (exit 1)
    stopped_by_throttle: str | None = None
    first_throttled: int | None = None    # the first phase (or poll) the provider throttled
    tool_version: str
    client: str
    started_at: str                       # ISO 8601, local time with offset
    finished_at: str
    run_name: str
    model: str
    provider: str
    base_url: str | None = None           # secrets redacted
    percentiles: list[float]
    warnings: list[str] = Field(default_factory=list)
    token_counter: str
    template_tokens: int
    # fresh: a new nonce in this run's prompt text; reused: the seed's exact prompts (as every
    # run of tokenflood 0.1 sent, hence the default for summaries without the key)
    prompts: Literal["fresh", "reused"] = "reused"
    workers: int
    # requests.csv times are seconds since this time.monotonic() reading: system-wide on Linux,
    # so they line up with a server's own monotonic timestamps on the same machine
    monotonic_origin_s: float | None = None
    budget: BudgetFigures
    client_bound: bool = False
    # the lowest rate whose phase saturated the server, and the highest healthy one below it
    saturated_at_rps: float | None = None
    held_rps: float | None = None
    thresholds: list[ThresholdResult] = Field(default_factory=list)
    phases: list[PhaseStats]                 # a load test's phases (empty for an observation)
    polls: list[PollStats] = Field(default_factory=list)    # an observation's, missed ones too
    hours: list[HourStats] = Field(default_factory=list)    # an observation's, by hour of day
    observation: ObservationInfo | None = None               # an observation's plan
    resumed: list[ResumeInfo] = Field(default_factory=list)
    search: SearchResult | None = None       # a search's answer
    cluster: ClusterInfo | None = None       # the Dask workers it sent from, on a --cluster run
    server: ServerInfo | None = None         # the server's metrics: where, what, when it queued
    origin_utc: float | None = None          # the wall-clock time requests.csv times count from
    results_dir: str
    # True only for a summary built from requests.csv and journal.jsonl because the run wrote
    # none (its process was killed): run/partial.py; never in a summary.json a run wrote
    partial: bool = False

    @model_validator(mode="before")
    @classmethod
    def _workload_of_older_summaries(cls, data):
        if isinstance(data, dict) and "workload" not in data and any(
                isinstance(ph, dict) and ph.get("sessions") for ph in data.get("phases") or []):
            data = {**data, "workload": "sessions"}
        return data

    @property
    def rate_unit(self) -> str:
        """What the phases' rates count: 'req/s' or 'sessions/s'."""
        return RATE_UNITS[self.workload]

    @classmethod
    def load(cls, folder: Path | str) -> RunSummary:
        """Read a results folder's summary.json; ConfigError says what is wrong with it."""
        path = Path(folder) / SUMMARY_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist: not a finished results folder") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise ConfigError(f"{path}: not a tokenflood summary: {where}: {err['msg']}") from None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"
