"""Runs a suite: warm-up, calibration, phases on absolute deadlines, stop and abort (docs/architecture.md).

The engine coordinates: it calibrates prompts, hands each worker its share of every phase
(interleaved arrivals, absolute deadlines), collects their records, applies the error limit and
sends snapshots. It knows nothing about who watches it: it calls a sink, and stops when `stop()`
is called (from any thread or a signal handler).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .calibration import Calibration
from .clients.base import make_client
from .dispatch import PhaseShare
from .errors import EndpointError
from .records import CANCELLED, OK, WORKER_DIED, RequestRecord
from .schedule import PhasePlan
from .specs import EndpointSpec, RunSuite
from .stats import PhaseAccumulator, phase_warnings, warm_up_numpy
from .summary import PhaseStats, RunStatus
from .workers import LocalWorker, ProcessWorker, split_concurrency

ERROR_WINDOW = 30         # the error limit looks at this many most recent requests...
ERROR_MIN_SAMPLE = 10     # ...once at least this many have finished
# A phase starts this long after its command, so every sender has it before the first deadline.
PROCESS_START_LEAD_S = 0.15
LOCAL_START_LEAD_S = 0.005


@dataclass(slots=True)
class RunSnapshot:
    """How the run stands, for live views: a few per second, never one per request."""

    stage: str                       # preparing, running, draining, finished
    phase: int                       # current phase, 1-based (0 before the first)
    total_phases: int
    phases: list[PhaseStats]
    elapsed_s: float                 # since the first phase started
    remaining_s: float               # scheduled load still to come (drain not included)
    # Set once the run was stopped or aborted, so a live view can say so while in-flight requests
    # drain: how it ends, why, and how many seconds of the planned load had been sent by then.
    status: RunStatus | None = None
    message: str | None = None
    stopped_at_s: float | None = None


@dataclass(slots=True)
class RunOutcome:
    status: RunStatus
    message: str | None
    phases: list[PhaseStats]
    client: str
    token_counter: str
    template_tokens: int
    workers: int = 0
    warnings: list[str] = field(default_factory=list)


class RunSink(Protocol):
    def started(self, t0: float) -> None: ...          # the first phase begins at monotonic t0
    def record(self, rec: RequestRecord) -> None: ...  # a phase request finished (ok or not)
    def log(self, level: str, message: str) -> None: ...   # info / warning / error
    def snapshot(self, snap: RunSnapshot) -> None: ...


class Engine:
    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, plans: list[PhasePlan],
                 sink: RunSink, snapshot_interval_s: float = 1.0, workers: int = 0):
        self.suite = suite
        self.endpoint = endpoint
        self.plans = plans
        self.sink = sink
        self.snapshot_interval_s = snapshot_interval_s
        self.processes = workers
        self.accumulators = [
            PhaseAccumulator(p.phase, p.target_rps, p.length_s, p.requests, suite.percentiles, suite.slo)
            for p in plans]
        self.warnings: list[str] = []
        self.calibration: Calibration | None = None
        self.workers: list[LocalWorker | ProcessWorker] = []
        self._stage = "preparing"
        self._current = 0
        self._t0: float | None = None
        self._recent: deque[bool] = deque(maxlen=ERROR_WINDOW)
        self._status: RunStatus | None = None    # set once by stop/abort
        self._message: str | None = None
        self._stopped_at_s: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task | None = None
        self._cpu_seen: list[tuple[float, float]] = []   # (cpu seconds, at) per worker

    # ------------------------------------------------------------------ control

    def stop(self, status: RunStatus = "interrupted", message: str | None = None) -> None:
        """Stop sending at once; in-flight requests get a short grace. Safe from any thread."""
        loop = self._loop
        if loop is None:
            self._status = self._status or status
            self._message = self._message or message
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._on_stop(status, message)
        else:
            loop.call_soon_threadsafe(self._on_stop, status, message)

    def _on_stop(self, status: RunStatus, message: str | None) -> None:
        if self._status is not None:
            return
        self._status, self._message = status, message
        self._stopped_at_s = self._load_sent_s(time.monotonic())
        if self._stage == "preparing" and self._main is not None:
            self._main.cancel()
        for worker in self.workers:
            worker.stop()

    # ------------------------------------------------------------------ run

    async def run(self) -> RunOutcome:
        """Warm up, calibrate, run every phase; returns how it ended. EndpointError if unusable."""
        self._loop = asyncio.get_running_loop()
        if self._status is not None:
            return self.outcome()
        self.workers = self._make_workers()
        for worker in self.workers:
            worker.launch()              # worker processes import while we calibrate
        ticker = asyncio.create_task(self._tick())
        try:
            self._main = asyncio.create_task(self._prepare())
            try:
                await self._main
            except asyncio.CancelledError:
                if self._status is None:
                    raise
                return self.outcome()
            self._main = None
            if self._status is not None:
                return self.outcome()
            self._t0 = time.monotonic()
            self.sink.started(self._t0)
            seq = 0
            for plan in self.plans:
                if self._status is not None:
                    break
                await self._run_phase(plan, seq)
                seq += plan.requests
            self._stage = "finished"
        finally:
            ticker.cancel()
            await asyncio.gather(*(w.close() for w in self.workers), return_exceptions=True)
            self.sink.snapshot(self.snapshot())
        return self.outcome()

    def _make_workers(self) -> list[LocalWorker | ProcessWorker]:
        if self.processes <= 0:
            return [LocalWorker(self.suite, self.endpoint, self._on_records,
                                self.suite.max_concurrency)]
        count = self.processes
        if self.suite.max_concurrency is not None:
            count = min(count, self.suite.max_concurrency)
        limits = split_concurrency(self.suite.max_concurrency, count)
        return [ProcessWorker(i, self.suite, self.endpoint, self._on_records, limits[i])
                for i in range(count)]

    def outcome(self) -> RunOutcome:
        """How the run stands or ended: status, message and every started phase's statistics."""
        cal = self.calibration
        return RunOutcome(
            status=self._status or "completed", message=self._message,
            phases=[acc.stats() for acc in self.accumulators if acc.t_start is not None],
            client=self.endpoint.resolved_client,
            token_counter=cal.token_counter if cal else "none",
            template_tokens=cal.factory.template_tokens if cal and cal.factory else 0,
            workers=self.processes, warnings=self.warnings)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.sink.log("warning", message)

    async def _prepare(self) -> None:
        client = make_client(self.endpoint)
        await client.start()
        try:
            self.calibration = Calibration(self.suite, self.endpoint, client, self.sink.log, self.warn)
            factory = await self.calibration.run()
        finally:
            await client.close()
        warm_up_numpy()
        where = (f"{len(self.workers)} worker process(es)" if self.processes > 0
                 else "this process")
        self.sink.log("info", f"sending from {where}")
        await asyncio.gather(*(w.start(factory) for w in self.workers))

    # ------------------------------------------------------------------ phases

    async def _run_phase(self, plan: PhasePlan, first_seq: int) -> None:
        acc = self.accumulators[plan.phase - 1]
        self._current = plan.phase
        self._stage = "running"
        self.sink.log("info", f"phase {plan.phase}: {plan.target_rps:g} req/s for "
                              f"{plan.length_s:g} s ({plan.requests} requests)")
        lead = PROCESS_START_LEAD_S if self.processes > 0 else LOCAL_START_LEAD_S
        acc.t_start = time.monotonic() + lead
        deadlines = acc.t_start + plan.offsets_s
        seqs = np.arange(first_seq, first_seq + plan.requests)
        n = len(self.workers)
        shares = [PhaseShare(plan.phase, plan.target_rps, deadlines[i::n], plan.load_types[i::n],
                             seqs[i::n]) for i in range(n)]
        cpu_start = [w.cpu_seconds for w in self.workers]
        phase_runs = [asyncio.create_task(self._send_share(w, s, plan.phase))
                      for w, s in zip(self.workers, shares, strict=True)]
        results = await asyncio.gather(*phase_runs, return_exceptions=True)
        wall = time.monotonic() - acc.t_start
        if wall > 0:
            acc.client_cpu = max((w.cpu_seconds - c) / wall
                                 for w, c in zip(self.workers, cpu_start, strict=True))
        failures = [r for r in results if isinstance(r, BaseException)]
        acc.t_done = time.monotonic()
        reported = sum(r for r in results if isinstance(r, int))
        if not failures and reported != acc.finished:
            self.warn(f"phase {plan.phase}: the senders report {reported} requests sent but "
                      f"{acc.finished} were recorded; please report this")
        if failures and not isinstance(failures[0], EndpointError):
            raise failures[0]
        stats = acc.stats()
        template = self.calibration.factory.template_tokens if self.calibration and \
            self.calibration.factory else 0
        for message in phase_warnings(stats, template):
            self.warn(message)
        if stats.client_bound:
            self.warn(f"phase {plan.phase}: the client was the bottleneck ({stats.client_bound_reason()}): "
                      "its latencies include client-side delay; add --workers or lower the rate")

    async def _send_share(self, worker, share: PhaseShare, phase: int) -> int:
        """One sender's share of a phase; a sender that dies stops the whole run: the load it
        was sending is missing, so the others no longer send the target rate."""
        try:
            return await worker.run_phase(share)
        except EndpointError as exc:
            self.stop("aborted", f"phase {phase}: {exc}; the run stopped, because without that "
                                 "sender's share the phase no longer sends its target rate")
            raise

    def _on_records(self, records: list[RequestRecord]) -> None:
        for rec in records:
            acc = self.accumulators[rec.phase - 1]
            acc.add(rec)
            self.sink.record(rec)
            if rec.status in (CANCELLED, WORKER_DIED):   # not the endpoint's doing
                continue
            self._recent.append(rec.status != OK)
            if not rec.ok:
                self.sink.log("error", f"phase {rec.phase}: {rec.status}: {rec.error_message}")
            failures = sum(self._recent)
            if (len(self._recent) >= ERROR_MIN_SAMPLE
                    and failures / len(self._recent) > self.suite.error_limit):
                self.stop("aborted",
                          f"error limit: {failures} of the last {len(self._recent)} requests "
                          f"failed (error_limit {self.suite.error_limit:g}); last error: "
                          f"{rec.error_message}")

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> RunSnapshot:
        now = time.monotonic()
        current = self.accumulators[self._current - 1] if self._current else None
        client_cpu = self._client_cpu(now)
        if current is not None and current.t_done is None:
            for worker in self.workers:
                phase, sent = worker.progress
                if phase == current.phase:       # a count from the phase before is not this one's
                    current.report_sent(worker.index, sent)
            if client_cpu is not None:
                current.client_cpu = client_cpu    # live: the last interval; final: the phase
        phases = [acc.stats(now) for acc in self.accumulators if acc.t_start is not None]
        remaining = sum(p.length_s for p in self.plans[self._current:])
        stage = self._stage
        if phases and not phases[-1].finished:
            remaining += max(0.0, phases[-1].length_s - phases[-1].elapsed_s)
            if stage == "running" and phases[-1].elapsed_s >= phases[-1].length_s:
                stage = "draining"         # every arrival is out; in-flight requests finish
        return RunSnapshot(stage=stage, phase=self._current, total_phases=len(self.plans),
                           phases=phases,
                           elapsed_s=0.0 if self._t0 is None else now - self._t0,
                           remaining_s=remaining if self._status is None else 0.0,
                           status=self._status, message=self._message,
                           stopped_at_s=self._stopped_at_s)

    def _load_sent_s(self, now: float) -> float:
        """Seconds of the planned load sent so far: whole phases, then the current one's part."""
        sent = 0.0
        for plan, acc in zip(self.plans, self.accumulators, strict=True):
            if acc.t_start is None:
                break
            end = acc.t_done if acc.t_done is not None else now
            sent += min(plan.length_s, max(0.0, end - acc.t_start))
        return sent

    def _client_cpu(self, now: float) -> float | None:
        """The busiest sender's CPU use since the previous snapshot, as a share of one core."""
        if len(self._cpu_seen) != len(self.workers):
            self._cpu_seen = [(w.cpu_seconds, now) for w in self.workers]
            return None
        shares = []
        for i, worker in enumerate(self.workers):
            cpu, at = self._cpu_seen[i]
            if now > at:
                shares.append((worker.cpu_seconds - cpu) / (now - at))
            self._cpu_seen[i] = (worker.cpu_seconds, now)
        return max(shares) if shares else None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.snapshot_interval_s)
            self.sink.snapshot(self.snapshot())
