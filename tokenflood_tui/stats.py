"""Per-phase statistics, accumulated as records arrive; the same code feeds live views and summaries."""

from __future__ import annotations

import time
from array import array
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .records import CANCELLED, RequestRecord
from .specs import Slo

RECENT = 32   # requests in the "latency now" window that live sparklines plot
METRICS = ("ttft_ms", "e2e_ms", "scheduled_latency_ms", "tpot_ms", "itl_ms", "dispatch_delay_ms")
TOKEN_TOLERANCE = 0.05   # warn when measured tokens diverge from the target by more than this
# The client is the bottleneck when its senders pick requests up this late (waits for a
# max_concurrency slot are the user's choice and do not count), or a sender uses this much of a core.
CLIENT_BOUND_LAUNCH_P99_MS = 10.0
CLIENT_BOUND_CPU = 0.9


def pkey(p: float) -> str:
    """'p50', 'p99', 'p99.9' — the summary.json key of a percentile."""
    return f"p{p:g}"


def distribution(values: np.ndarray, percentiles: list[float]) -> dict[str, float | None]:
    """Mean and the suite's percentiles of a sample (None when empty)."""
    if values.size == 0:
        return {"mean": None, **{pkey(p): None for p in percentiles}}
    qs = np.percentile(values, percentiles)
    return {"mean": float(values.mean()), **{pkey(p): float(q) for p, q in zip(percentiles, qs)}}


@dataclass(slots=True)
class PhaseStats:
    """A phase as it stands: counts, rates, token accuracy and latency distributions."""

    phase: int
    target_rps: float
    planned: int
    sent: int
    ok: int
    failed: int
    in_flight: int
    achieved_rps: float | None
    output_tokens_per_s: float | None
    goodput: float | None
    metrics: dict[str, dict[str, float | None]]
    prompt_tokens_mean: float | None
    prompt_tokens_target_mean: float | None
    output_tokens_mean: float | None
    output_tokens_target_mean: float | None
    cached_tokens_mean: float | None
    cache_hit_rate: float | None
    output_tokens_estimated: bool
    elapsed_s: float
    length_s: float
    finished: bool
    recent_ttft_ms: float | None = None   # median of the last RECENT ok requests
    recent_e2e_ms: float | None = None
    client_cpu: float | None = None       # the busiest sender's share of one core
    launch_delay_p99_ms: float | None = None   # sender lateness, slot waits excluded
    client_bound: bool = False

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in (
            "phase", "target_rps", "achieved_rps", "planned", "sent", "ok", "failed",
            "output_tokens_per_s", "goodput", "prompt_tokens_mean", "prompt_tokens_target_mean",
            "output_tokens_mean", "output_tokens_target_mean", "cached_tokens_mean",
            "cache_hit_rate", "output_tokens_estimated", "client_cpu", "client_bound")}
        out.update(self.metrics)
        return out

    def client_bound_reason(self) -> str | None:
        """Why this phase's latencies include client-side delay, or None when they do not."""
        if not self.client_bound:
            return None
        parts = []
        late = self.launch_delay_p99_ms
        if late is not None and late > CLIENT_BOUND_LAUNCH_P99_MS:
            parts.append(f"requests left up to {late:.0f} ms late (p99)")
        if self.client_cpu is not None and self.client_cpu >= CLIENT_BOUND_CPU:
            parts.append(f"sender CPU {self.client_cpu:.0%} of a core")
        return ", ".join(parts)

    def token_warnings(self) -> list[str]:
        """The >5% divergence warnings (docs/metrics.md#token-warnings)."""
        out = []
        for what, measured, target in (
                ("prompt", self.prompt_tokens_mean, self.prompt_tokens_target_mean),
                ("output", self.output_tokens_mean, self.output_tokens_target_mean)):
            if measured is None or not target:
                continue
            off = measured / target - 1
            if abs(off) > TOKEN_TOLERANCE:
                out.append(f"phase {self.phase}: mean {what} tokens {measured:.1f} differ from the "
                           f"target {target:.1f} by {off:+.1%}")
        if self.output_tokens_estimated:
            out.append(f"phase {self.phase}: the server sent no usage; output tokens are counted "
                       "from content chunks (estimated)")
        return out


@dataclass(slots=True)
class PhaseAccumulator:
    """Collects one phase's records into columns; `stats()` is cheap enough for 4 Hz snapshots."""

    phase: int
    target_rps: float
    length_s: float
    planned: int
    percentiles: list[float]
    slo: Slo | None = None
    t_start: float | None = None      # monotonic time of the phase's first scheduled arrival
    t_done: float | None = None       # when the phase finished draining
    sent: int = 0                     # handed to the client (reported by the senders)
    finished: int = 0
    ok: int = 0
    failed: int = 0
    cancelled: int = 0
    last_send: float = 0.0
    last_end: float = 0.0
    columns: dict[str, array] = field(default_factory=lambda: {m: array("d") for m in METRICS})
    itl: array = field(default_factory=lambda: array("f"))
    launch_delays: array = field(default_factory=lambda: array("d"))
    prompt_tokens: array = field(default_factory=lambda: array("d"))
    prompt_targets: array = field(default_factory=lambda: array("d"))
    output_tokens: array = field(default_factory=lambda: array("d"))
    output_targets: array = field(default_factory=lambda: array("d"))
    cached_tokens: array = field(default_factory=lambda: array("d"))
    output_estimated: bool = False
    good: int = 0
    recent_ttft: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    recent_e2e: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    _final: PhaseStats | None = None      # a drained phase no longer changes
    client_cpu: float | None = None       # set by the engine from the senders' CPU time

    def add(self, rec: RequestRecord) -> None:
        self.finished += 1
        self.sent = max(self.sent, self.finished)   # the senders report `sent` a little later
        if rec.t_send is not None:
            self.last_send = max(self.last_send, rec.t_send)
        if rec.t_launch is not None:
            self.launch_delays.append((rec.t_launch - rec.t_sched) * 1000.0)
        if rec.t_end is not None:
            self.last_end = max(self.last_end, rec.t_end)
        if rec.status == CANCELLED:
            self.cancelled += 1
        if not rec.ok:
            self.failed += 1
            return
        self.ok += 1
        cols = self.columns
        for name in METRICS:
            if name == "itl_ms":
                continue
            value = getattr(rec, name)
            if value is not None:
                cols[name].append(value)
        self.itl.extend(rec.itl_ms)
        if rec.ttft_ms is not None:
            self.recent_ttft.append(rec.ttft_ms)
        if rec.e2e_ms is not None:
            self.recent_e2e.append(rec.e2e_ms)
        if rec.prompt_tokens is not None:
            self.prompt_tokens.append(rec.prompt_tokens)
            self.prompt_targets.append(rec.prompt_tokens_target)
        if rec.output_tokens is not None:
            self.output_tokens.append(rec.output_tokens)
            self.output_targets.append(rec.output_tokens_target)
        if rec.cached_tokens is not None:
            self.cached_tokens.append(rec.cached_tokens)
        self.output_estimated |= rec.output_tokens_estimated
        if self.slo is not None and _meets(rec, self.slo):
            self.good += 1

    def stats(self, now: float | None = None) -> PhaseStats:
        if self._final is not None and self._final.ok + self._final.failed == self.finished \
                and self._final.sent == self.sent:
            return self._final
        now = time.monotonic() if now is None else now
        pct = self.percentiles
        metrics = {m: distribution(np.frombuffer(self.columns[m], dtype=np.float64), pct)
                   for m in METRICS if m != "itl_ms"}
        metrics["itl_ms"] = distribution(np.frombuffer(self.itl, dtype=np.float32).astype(np.float64), pct)
        metrics = {m: metrics[m] for m in METRICS}
        elapsed = 0.0 if self.t_start is None else (self.t_done or now) - self.t_start
        achieved = None
        tokens_per_s = None
        if self.t_start is not None and self.sent:
            # Sends are due over length_s; a client that falls behind spreads them over longer.
            span = max(min(elapsed, self.length_s), self.last_send - self.t_start, 1e-9)
            achieved = self.sent / span
        out_total = float(np.frombuffer(self.output_tokens, dtype=np.float64).sum())
        if self.t_start is not None and self.last_end > self.t_start and out_total:
            tokens_per_s = out_total / (self.last_end - self.t_start)
        cached = np.frombuffer(self.cached_tokens, dtype=np.float64)
        prompt = np.frombuffer(self.prompt_tokens, dtype=np.float64)
        launch = np.frombuffer(self.launch_delays, dtype=np.float64)
        launch_p99 = float(np.percentile(launch, 99)) if launch.size else None
        bound = ((launch_p99 is not None and launch_p99 > CLIENT_BOUND_LAUNCH_P99_MS)
                 or (self.client_cpu is not None and self.client_cpu >= CLIENT_BOUND_CPU))
        result = PhaseStats(
            phase=self.phase, target_rps=self.target_rps, planned=self.planned, sent=self.sent,
            ok=self.ok, failed=self.failed, in_flight=self.sent - self.finished,
            achieved_rps=achieved, output_tokens_per_s=tokens_per_s,
            goodput=(self.good / self.finished if self.slo is not None and self.finished else None),
            metrics=metrics,
            prompt_tokens_mean=_mean(self.prompt_tokens),
            prompt_tokens_target_mean=_mean(self.prompt_targets),
            output_tokens_mean=_mean(self.output_tokens),
            output_tokens_target_mean=_mean(self.output_targets),
            cached_tokens_mean=_mean(self.cached_tokens),
            cache_hit_rate=(float((cached > 0).mean()) if cached.size and prompt.size else None),
            output_tokens_estimated=self.output_estimated,
            elapsed_s=elapsed, length_s=self.length_s, finished=self.t_done is not None,
            recent_ttft_ms=float(np.median(self.recent_ttft)) if self.recent_ttft else None,
            recent_e2e_ms=float(np.median(self.recent_e2e)) if self.recent_e2e else None,
            client_cpu=self.client_cpu, launch_delay_p99_ms=launch_p99, client_bound=bound,
        )
        if self.t_done is not None:
            self._final = result
        return result


def warm_up_numpy() -> None:
    """The first np.percentile in a process costs ~10 ms of set-up: pay it before load starts."""
    distribution(np.arange(4.0), [50.0])
    float(np.median(np.arange(4.0)))


def _mean(values: array) -> float | None:
    return float(np.frombuffer(values, dtype=np.float64).mean()) if len(values) else None


def _meets(rec: RequestRecord, slo: Slo) -> bool:
    for limit, value in ((slo.ttft_ms, rec.ttft_ms), (slo.tpot_ms, rec.tpot_ms), (slo.e2e_ms, rec.e2e_ms)):
        if limit is not None and (value is None or value > limit):
            return False
    return True
