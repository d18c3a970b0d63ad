"""Per-phase statistics, accumulated as records arrive; the same code feeds live views and summaries.

Counts have one source each: a phase's rows are the records it received (every request a sender
hands to its client ends in exactly one record), and while it runs, what its senders report
having sent in *that* phase (a report is tagged with its phase, so a count never crosses from one
phase to the next).
"""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from ..metrics import saturation
from ..metrics.ratelimits import Headroom
from ..metrics.records import CANCELLED, NO_ANSWER, RATE_LIMITED, RequestRecord, SessionRecord
from ..specs import Slo
from ..metrics.summary import (CLIENT_BOUND_CPU, CLIENT_BOUND_LAUNCH_P99_MS, METRICS, REASONING_METRICS,
                               SERVER_TIMING_METRICS,
                               Distribution, HourStats, LimitSeen, RateLimitStats,
                               ErrorCount, PhaseStats, WorkerLoad, pkey)
from ..metrics.thresholds import Threshold, Turns
from .events import FailedShare, RunWarning, Unit
from .session_stats import SessionTally

RECENT = 32   # requests in the "latency now" window that live sparklines plot
# The sender's lateness says the client fell behind only over this many requests: the p99 of
# three requests is their slowest (a 3-request poll after a resume was called client-bound).
CLIENT_BOUND_MIN_LAUNCHES = 10
TOKEN_TOLERANCE = 0.05   # warn when measured tokens diverge from the target by more than this
FAILED_SHARE_WARNING = 0.05   # warn when more than this share of a phase's requests failed
# Cached tokens beyond the prefix meant to be shared (plus the chat template's own tokens) by more
# than this many tokens, or this share of the prompt, mean part of the unique prompt was cached.
CACHE_EXCESS_TOKENS = 16
CACHE_EXCESS_SHARE = 0.05

__all__ = ["PhaseAccumulator", "distribution", "hours_table", "phase_warning_events",
           "phase_warnings", "pkey", "warm_up_numpy"]


def distribution(values: np.ndarray, percentiles: list[float]) -> Distribution:
    """Mean and the suite's percentiles of a sample (None when empty)."""
    if values.size == 0:
        return Distribution(mean=None, **{pkey(p): None for p in percentiles})
    qs = np.percentile(values, percentiles)
    return Distribution(mean=float(values.mean()),
                        **{pkey(p): float(q) for p, q in zip(percentiles, qs, strict=True)})


@dataclass(slots=True)
class PhaseAccumulator:
    """Collects one phase's records into columns; `stats()` is cheap enough for 4 Hz snapshots."""

    phase: int
    target_rps: float
    length_s: float
    planned: int
    percentiles: list[float]
    slo: Slo | None = None
    thresholds: list[Threshold] = field(default_factory=list)   # checked once the phase drained
    t_start: float | None = None      # monotonic time of the phase's first scheduled arrival
    t_done: float | None = None       # when the phase finished draining
    finished: int = 0                 # records received: the phase's rows
    ok: int = 0
    failed: int = 0
    cancelled: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    last_send: float = 0.0
    last_end: float = 0.0
    reported_sent: dict[int, int] = field(default_factory=dict)   # sender -> sent in this phase
    errors: Counter = field(default_factory=Counter)              # (status, http_status) -> n
    columns: dict[str, array] = field(default_factory=lambda: {
        m: array("d") for m in (*METRICS, *REASONING_METRICS, *SERVER_TIMING_METRICS)})
    itl: array = field(default_factory=lambda: array("f"))
    answer_itl: array = field(default_factory=lambda: array("f"))
    reasoning_tokens: array = field(default_factory=lambda: array("d"))
    answer_tokens: array = field(default_factory=lambda: array("d"))
    reasoning_seen: bool = False
    reasoning_estimated: bool = False
    launch_delays: array = field(default_factory=lambda: array("d"))
    prompt_tokens: array = field(default_factory=lambda: array("d"))
    prompt_targets: array = field(default_factory=lambda: array("d"))
    prefix_targets: array = field(default_factory=lambda: array("d"))
    output_tokens_ok: array = field(default_factory=lambda: array("d"))
    output_targets: array = field(default_factory=lambda: array("d"))
    cached_tokens: array = field(default_factory=lambda: array("d"))
    # prompt tokens of the requests whose cached tokens are known
    cached_of_prompt: array = field(default_factory=lambda: array("d"))
    # per ok request, for the saturation verdict: when it was scheduled, its TTFT and e2e (NaN:
    # none), so latency can be followed through the phase by scheduled time
    ok_sched: array = field(default_factory=lambda: array("d"))
    ok_ttft: array = field(default_factory=lambda: array("d"))
    ok_e2e: array = field(default_factory=lambda: array("d"))
    output_estimated: bool = False
    good: int = 0
    recent_ttft: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    recent_e2e: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    recent_ttfa: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    client_cpu: float | None = None       # set by the coordinator from the workers' CPU time
    # per worker, when the coordinator says several send (or on a cluster): rows' launch delays
    # (NaN for a row that never launched) and the CPU share the coordinator measured
    per_worker: bool = False
    worker_launch: dict[str, array] = field(default_factory=dict)
    worker_cpu: dict[str, float] = field(default_factory=dict)
    sessions: SessionTally | None = None  # a session phase's sessions and turns
    # a hosted provider's limits: per kind the lowest headroom its responses announced, and the
    # requests it refused by the throttle's kind
    headroom: dict[str, Headroom] = field(default_factory=dict)
    throttles: Counter = field(default_factory=Counter)
    retry_after_s: float | None = None
    _final: PhaseStats | None = None      # a drained phase no longer changes

    @property
    def sent(self) -> int:
        """Requests handed to the client: the rows once drained; while running, what the senders
        report for this phase (never fewer than the requests already finished)."""
        if self.t_done is not None:
            return self.finished
        return max(sum(self.reported_sent.values()), self.finished)

    def report_sent(self, sender: int, sent: int) -> None:
        """A sender's count of requests sent so far in this phase."""
        self.reported_sent[sender] = sent

    def start_sessions(self, starts: np.ndarray, ramp_s: float) -> None:
        """This phase starts sessions at `starts` (monotonic); requests sent in its first
        `ramp_s` are kept out of its latency statistics."""
        assert self.t_start is not None
        self.sessions = SessionTally(starts, self.t_start + ramp_s)

    def add_session(self, session: SessionRecord) -> None:
        assert self.sessions is not None
        self.sessions.add_session(session)

    def add(self, rec: RequestRecord) -> None:
        self.finished += 1
        self.input_tokens += rec.prompt_tokens or 0
        self.output_tokens += rec.output_tokens or 0
        if rec.t_send is not None:
            self.last_send = max(self.last_send, rec.t_send)
        delay = math.nan
        if rec.t_launch is not None:
            delay = (rec.t_launch - rec.t_sched) * 1000.0
            self.launch_delays.append(delay)
        if self.per_worker:
            self.worker_launch.setdefault(rec.worker, array("d")).append(delay)
        if rec.t_end is not None:
            self.last_end = max(self.last_end, rec.t_end)
        if rec.headroom is not None or rec.throttle is not None:
            self._add_limits(rec)
        if not rec.ok:
            self.failed += 1
            self.cancelled += rec.status == CANCELLED
            self.errors[(rec.status, rec.http_status)] += 1
            # a phase whose every request reasoned to its limit still shows its reasoning
            self.reasoning_seen |= rec.status == NO_ANSWER
        else:
            self.ok += 1
        tally = self.sessions
        if tally is not None and not tally.in_ramp(rec):
            tally.add_request(rec)
        elif tally is not None:
            return           # the ramp's: counted, not in the latency statistics
        if rec.ok:
            self._add_ok(rec)

    def _add_limits(self, rec: RequestRecord) -> None:
        room = rec.headroom
        if room is not None:
            low = self.headroom.get(room.kind)
            share, low_share = room.share, low.share if low is not None else None
            if low is None or (share if share is not None else 2.0, room.remaining) < \
                    (low_share if low_share is not None else 2.0, low.remaining):
                self.headroom[room.kind] = room
        if rec.status == RATE_LIMITED and rec.throttle is not None:
            self.throttles[rec.throttle] += 1
            if rec.retry_after_s is not None:
                self.retry_after_s = max(self.retry_after_s or 0.0, rec.retry_after_s)

    def rate_limit_stats(self, achieved_rps: float | None) -> RateLimitStats | None:
        """None where the provider announced no limit and refused nothing (a self-hosted
        server), so such a phase reads as it always did."""
        if not self.headroom and not self.throttles:
            return None
        throttled = sum(self.throttles.values())
        return RateLimitStats(
            limits=[LimitSeen(kind=h.kind, limit=h.limit, lowest_remaining=h.remaining,
                              lowest_share=h.share, reset_s=h.reset_s)
                    for h in sorted(self.headroom.values(), key=lambda h: h.kind)],
            throttled=throttled, throttled_by_kind=dict(self.throttles.most_common()),
            throttled_share=throttled / self.finished if self.finished else None,
            offered_rps=achieved_rps,
            admitted_rps=(achieved_rps * (1 - throttled / self.finished)
                          if achieved_rps is not None and self.finished else None),
            retry_after_s=self.retry_after_s)

    def _add_ok(self, rec: RequestRecord) -> None:
        cols = self.columns
        for name in METRICS:
            if name == "itl_ms":
                continue
            value = getattr(rec, name)
            if value is not None:
                cols[name].append(value)
        self.itl.extend(rec.itl_ms)
        self._add_reasoning(rec)
        queued = rec.queued_ms            # from the server's own timing, where it gave it
        if queued is not None:
            cols["queued_ms"].append(queued)
        if rec.open_loop:     # the saturation verdict's samples (metrics/saturation.py)
            self.ok_sched.append(rec.t_sched)
            self.ok_ttft.append(_nan_if_none(rec.ttft_ms))
            self.ok_e2e.append(_nan_if_none(rec.e2e_ms))
        if rec.ttft_ms is not None:
            self.recent_ttft.append(rec.ttft_ms)
        if rec.e2e_ms is not None:
            self.recent_e2e.append(rec.e2e_ms)
        if rec.ttfa_ms is not None:
            self.recent_ttfa.append(rec.ttfa_ms)
        self.prefix_targets.append(rec.prefix_tokens_target)
        if rec.prompt_tokens is not None:
            self.prompt_tokens.append(rec.prompt_tokens)
            self.prompt_targets.append(rec.prompt_tokens_target)
            if rec.cached_tokens is not None:
                self.cached_tokens.append(rec.cached_tokens)
                self.cached_of_prompt.append(rec.prompt_tokens)
        if rec.output_tokens is not None:
            self.output_tokens_ok.append(rec.output_tokens)
            self.output_targets.append(rec.output_tokens_target)
        self.output_estimated |= rec.output_tokens_estimated
        if self.slo is not None and _meets(rec, self.slo):
            self.good += 1

    def _add_reasoning(self, rec: RequestRecord) -> None:
        """TTFA and the answer's own TPOT and ITL (the same as TTFT, TPOT and ITL of a request
        that did not reason), and the tokens reasoned."""
        cols = self.columns
        for name in ("ttfa_ms", "reasoning_ms", "answer_tpot_ms"):
            value = getattr(rec, name)
            if value is not None:
                cols[name].append(value)
        self.answer_itl.extend(rec.itl_ms[rec.answer_itl_from:])
        if rec.reasoning_chunks or rec.reasoning_tokens:
            self.reasoning_seen = True
        if rec.reasoning_tokens is not None:
            self.reasoning_tokens.append(rec.reasoning_tokens)
            self.reasoning_estimated |= rec.reasoning_tokens_estimated
        answer = rec.answer_tokens
        if answer is not None:
            self.answer_tokens.append(answer)

    def stats(self, now: float | None = None) -> PhaseStats:
        final = self._final
        if final is not None and final.ok + final.failed == self.finished:
            return final
        now = time.monotonic() if now is None else now
        pct = self.percentiles
        metrics = {m: distribution(np.frombuffer(self.columns[m], dtype=np.float64), pct)
                   for m in (*METRICS, *REASONING_METRICS, *SERVER_TIMING_METRICS)
                   if m not in ("itl_ms", "answer_itl_ms")}
        metrics["answer_itl_ms"] = distribution(
            np.frombuffer(self.answer_itl, dtype=np.float32).astype(np.float64), pct)
        metrics["itl_ms"] = distribution(np.frombuffer(self.itl, dtype=np.float32).astype(np.float64), pct)
        elapsed = 0.0 if self.t_start is None else max(0.0, (self.t_done or now) - self.t_start)
        sent = self.sent
        achieved = None
        if self.t_start is not None and sent and elapsed > 0:
            # Sends are due over length_s; a client that falls behind spreads them over longer.
            span = max(min(elapsed, self.length_s), self.last_send - self.t_start)
            achieved = sent / span if span > 0 else None
        # requests in a session phase's ramp are not in the latency statistics nor in goodput
        judged = self.finished - (self.sessions.ramp_requests if self.sessions else 0)
        out_total = float(np.frombuffer(self.output_tokens_ok, dtype=np.float64).sum())
        tokens_per_s = None
        if self.t_start is not None and self.last_end > self.t_start and out_total:
            tokens_per_s = out_total / (self.last_end - self.t_start)
        cached = np.frombuffer(self.cached_tokens, dtype=np.float64)
        cached_prompt = float(np.frombuffer(self.cached_of_prompt, dtype=np.float64).sum())
        launch = np.frombuffer(self.launch_delays, dtype=np.float64)
        launch_p99 = float(np.percentile(launch, 99)) if launch.size else None
        bound = ((launch_p99 is not None and launch.size >= CLIENT_BOUND_MIN_LAUNCHES
                  and launch_p99 > CLIENT_BOUND_LAUNCH_P99_MS)
                 or (self.client_cpu is not None and self.client_cpu >= CLIENT_BOUND_CPU))
        errors = [ErrorCount(status=status, http_status=code, count=n)
                  for (status, code), n in sorted(self.errors.items(), key=lambda kv: -kv[1])]
        result = PhaseStats(
            phase=self.phase, target_rps=self.target_rps, planned=self.planned, sent=sent,
            ok=self.ok, failed=self.failed, cancelled=self.cancelled,
            in_flight=max(0, sent - self.finished),
            achieved_rps=achieved, output_tokens_per_s=tokens_per_s,
            goodput=(self.good / judged if self.slo is not None and judged else None),
            input_tokens=self.input_tokens, output_tokens=self.output_tokens,
            prompt_tokens_mean=_mean(self.prompt_tokens),
            prompt_tokens_target_mean=_mean(self.prompt_targets),
            prefix_tokens_target_mean=_mean(self.prefix_targets),
            output_tokens_mean=_mean(self.output_tokens_ok),
            output_tokens_target_mean=_mean(self.output_targets),
            cached_tokens_mean=float(cached.mean()) if cached.size else None,
            cache_hit_rate=float(cached.sum()) / cached_prompt if cached_prompt else None,
            output_tokens_estimated=self.output_estimated, errors=errors,
            elapsed_s=elapsed, length_s=self.length_s, finished=self.t_done is not None,
            recent_ttft_ms=float(np.median(self.recent_ttft)) if self.recent_ttft else None,
            recent_e2e_ms=float(np.median(self.recent_e2e)) if self.recent_e2e else None,
            recent_ttfa_ms=float(np.median(self.recent_ttfa)) if self.recent_ttfa else None,
            client_cpu=self.client_cpu, launch_delay_p99_ms=launch_p99, client_bound=bound,
            ttft_ms=metrics["ttft_ms"], e2e_ms=metrics["e2e_ms"],
            scheduled_latency_ms=metrics["scheduled_latency_ms"], tpot_ms=metrics["tpot_ms"],
            itl_ms=metrics["itl_ms"], dispatch_delay_ms=metrics["dispatch_delay_ms"],
            ttfa_ms=metrics["ttfa_ms"], reasoning_ms=metrics["reasoning_ms"],
            answer_tpot_ms=metrics["answer_tpot_ms"], answer_itl_ms=metrics["answer_itl_ms"],
            reasoning=self.reasoning_seen, reasoning_tokens_mean=_mean(self.reasoning_tokens),
            reasoning_tokens_estimated=self.reasoning_estimated,
            answer_tokens_mean=_mean(self.answer_tokens),
            queued_ms=metrics["queued_ms"], rate_limits=self.rate_limit_stats(achieved),
        )
        if self.sessions is not None and self.t_start is not None:
            sessions, turns = self.sessions.stats(self.t_start, self.length_s, now, self.t_done,
                                                  pct, distribution)
            # a session phase's rate is of sessions: the open loop starts them on schedule
            result.sessions, result.turns = sessions, turns
            result.achieved_rps = sessions.achieved_sps
        if self.t_done is not None:
            result = self._verdicts(result)
            self._final = result
        return result

    def _worker_loads(self) -> list[WorkerLoad]:
        loads = []
        for name in sorted(set(self.worker_launch) | set(self.worker_cpu)):
            delays = np.frombuffer(self.worker_launch.get(name, array("d")), dtype=np.float64)
            launched = delays[~np.isnan(delays)]
            p99 = float(np.percentile(launched, 99)) if launched.size else None
            cpu = self.worker_cpu.get(name)
            loads.append(WorkerLoad(
                worker=name, sent=int(delays.size), launch_delay_p99_ms=p99, cpu=cpu,
                bound=(p99 is not None and launched.size >= CLIENT_BOUND_MIN_LAUNCHES
                       and p99 > CLIENT_BOUND_LAUNCH_P99_MS)
                or (cpu is not None and cpu >= CLIENT_BOUND_CPU)))
        return loads

    def _verdicts(self, ph: PhaseStats) -> PhaseStats:
        """A finished phase's saturation verdict and threshold checks (from its own samples)."""
        growth = saturation.latency_growth(
            np.frombuffer(self.ok_sched, dtype=np.float64), np.frombuffer(self.ok_ttft, dtype=np.float64),
            np.frombuffer(self.ok_e2e, dtype=np.float64))
        saturated, why = saturation.verdict(ph, growth)
        checks = [t.check(ph, self) for t in self.thresholds]
        return ph.model_copy(update={
            "workers": self._worker_loads(),
            "saturated": saturated, "saturation": why, "thresholds": checks,
            "latency_growth": growth.ratio if growth is not None else None})

    def samples(self, metric: str, turns: Turns | None = None) -> np.ndarray:
        """The phase's own values of a distribution metric (thresholds.PhaseSamples): its ok
        requests' latencies (outside a session phase's ramp; of `turns` when given), or its
        sessions' durations and slowdowns."""
        tally = self.sessions
        if tally is not None and (turns is not None or metric.startswith("session_")):
            return tally.samples(metric, turns)
        if metric.startswith("session_"):
            return np.empty(0)
        if metric == "itl_ms":
            return np.frombuffer(self.itl, dtype=np.float32).astype(np.float64)
        if metric == "answer_itl_ms":
            return np.frombuffer(self.answer_itl, dtype=np.float32).astype(np.float64)
        return np.frombuffer(self.columns[metric], dtype=np.float64)

    def cache_hit(self, turns: Turns | None = None) -> float | None:
        """A session phase's cached tokens over the expected history (of `turns`)."""
        return self.sessions.cache_hit(turns) if self.sessions is not None else None


def phase_warnings(ph: PhaseStats, template_tokens: int = 0) -> list[str]:
    """What a finished phase's figures should not be read without: tokens off their target by
    more than 5%, estimated output counts, many failures, a saturated server, cached tokens
    beyond the prefix."""
    return [w.text for w in phase_warning_events(ph, "phase", template_tokens)]


def phase_warning_events(ph: PhaseStats, unit: Unit,
                         template_tokens: int = 0) -> list[RunWarning | FailedShare]:
    """phase_warnings as the run tells them (the share of failures its own type: an
    observation's poll line says it already)."""
    out: list[RunWarning | FailedShare] = []

    def warn(text: str) -> None:
        out.append(RunWarning(text, unit, ph.phase))

    # a reasoning model's answer is held to the target, its reasoning is not (the sum is, when
    # the server does not say how many tokens reasoned)
    answer = ph.answer_tokens_mean if ph.reasoning and ph.reasoning_tokens_mean is not None \
        else ph.output_tokens_mean
    output = "answer" if ph.reasoning and ph.reasoning_tokens_mean is not None else (
        "output (reasoning and answer together)" if ph.reasoning else "output")
    for what, measured, target in (
            ("prompt", ph.prompt_tokens_mean, ph.prompt_tokens_target_mean),
            (output, answer, ph.output_tokens_target_mean)):
        if measured is None or not target:
            continue
        off = measured / target - 1
        if abs(off) > TOKEN_TOLERANCE:
            warn(f"phase {ph.phase}: mean {what} tokens {measured:.1f} differ from the "
                 f"target {target:.1f} by {off:+.1%}")
    if ph.output_tokens_estimated:
        warn(f"phase {ph.phase}: the server sent no usage; output tokens are counted "
             "from content chunks (estimated)")
    done = ph.ok + ph.failed
    if done and ph.failed / done > FAILED_SHARE_WARNING and ph.failed > ph.cancelled:
        kinds = ", ".join(f"{e.label} ×{e.count}" for e in ph.errors)
        out.append(FailedShare(
            unit, ph.phase, f"phase {ph.phase}: {ph.failed / done:.0%} of requests failed "
            f"({ph.failed} of {done}: {kinds}); its latency figures cover only the {ph.ok} that "
            "succeeded"))
    saturated = saturation.phase_warning(ph)
    if saturated:
        warn(saturated)
    if ph.cached_tokens_mean is not None and ph.prompt_tokens_mean:
        meant = (ph.prefix_tokens_target_mean or 0.0) + template_tokens
        excess = ph.cached_tokens_mean - meant
        if excess > max(CACHE_EXCESS_TOKENS, CACHE_EXCESS_SHARE * ph.prompt_tokens_mean):
            warn(f"phase {ph.phase}: the server served {ph.cached_tokens_mean:.0f} prompt "
                 f"tokens per request from its cache, more than the {meant:.0f} meant to be "
                 "shared (prefix and chat template): part of each unique prompt was cached, "
                 "so TTFT is lower than for a cold prompt (reused prompts, or another "
                 "client sending the same text?)")
    return out


def warm_up_numpy() -> None:
    """The first np.percentile in a process costs ~10 ms of set-up: pay it before load starts."""
    distribution(np.arange(4.0), [50.0])
    float(np.median(np.arange(4.0)))


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def _mean(values: array) -> float | None:
    return float(np.frombuffer(values, dtype=np.float64).mean()) if len(values) else None


def _meets(rec: RequestRecord, slo: Slo) -> bool:
    for metric, value in (("ttft_ms", rec.ttft_ms), ("ttfa_ms", rec.ttfa_ms),
                          ("tpot_ms", rec.tpot_ms), ("e2e_ms", rec.e2e_ms)):
        limit = slo.request_bound(metric)
        if limit is not None and (value is None or value > limit):
            return False
    return True


def hours_table(rows: list[dict[str, str]], percentiles: list[float]) -> list[HourStats]:
    """TTFT and e2e by hour of day (UTC) over requests.csv rows (an observation's), by the hour
    each request was scheduled; latencies from the successful ones."""
    by_hour: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        if row.get("t_sched_utc"):
            by_hour.setdefault(int(row["t_sched_utc"][11:13]), []).append(row)
    table = []
    for hour in sorted(by_hour):
        ok = [r for r in by_hour[hour] if r["status"] == "ok"]
        table.append(HourStats(
            hour_utc=hour, requests=len(by_hour[hour]), ok=len(ok),
            ttft_ms=distribution(np.array([float(r["ttft_ms"]) for r in ok if r["ttft_ms"]]),
                                 percentiles),
            e2e_ms=distribution(np.array([float(r["e2e_ms"]) for r in ok if r["e2e_ms"]]),
                                percentiles)))
    return table
