"""Runs a plan: warm-up, calibration, phases on absolute deadlines, stop and abort
(docs/architecture.md#a-run-step-by-step).

The coordinator asks its planner for one phase at a time, waits for the phase's wall-clock slot
when it has one (observation polls), hands each worker its share (interleaved arrivals, absolute
deadlines), collects their records, applies the error limit and sends snapshots. It knows
nothing about who watches it: it calls a sink, and stops when `stop()` is called (from any
thread or a signal handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..clients import make_client
from ..errors import EndpointError
from ..metrics.ratelimits import ADVICE, FATAL
from ..outputs.state import WARM_UP, remember_limits
from ..metrics.records import (CANCELLED, OK, RATE_LIMITED, WORKER_DIED, RequestRecord,
                               SessionRecord)
from ..specs import EndpointSpec, RunSuite
from ..specs.secrets import public_url, resolve_env_refs
from .session_stats import mean_session_waits
from .stats import PhaseAccumulator, phase_warning_events, warm_up_numpy
from ..metrics.saturation import duration_text
from ..metrics.summary import CLIENT_BOUND_CPU, CLIENT_BOUND_LAUNCH_P99_MS, ClusterInfo, PhaseStats, RunStatus
from ..metrics.server import ServerInfo, ServerPoint
from ..telemetry.collector import Collector
from ..telemetry.engines import ServerSample
from ..telemetry.series import phase_figures
from .calibration import Calibration
from .events import (FailedShare, Note, PhaseStarted, PollMissed, RequestFailed, RunEvent,
                     RunWarning, ServerBusy, ServerMetricsOff, ThresholdFailed, ThrottleStop, Unit)
from .limits import limits_line, plan_warnings
from .plan import MissedSlot, Planner
from .schedule import PhasePlan
from .sender import PhaseShare
from .workers import LocalWorker, ProcessWorker, RemoteWorker, split_concurrency

if TYPE_CHECKING:
    from .cluster import ClusterTarget, ClusterWorker



class TokenLimit(NamedTuple):
    """A limit no confirmation overrides, on the input or the output tokens."""

    var: str            # the environment variable that sets it
    limit: int
    estimated: int      # what the budget estimated the load would spend


@dataclass(slots=True)
class Spend:
    """What the load has spent by the server's usage (the target where it sent none), against
    the limits: a session's spend depends on the server, so the run stops when it reaches one,
    whatever the estimate said. One per run; an A/B experiment's variants share one, as their
    budget is one."""

    limits: tuple[TokenLimit, TokenLimit]          # input, output
    tokens: list[int] = field(default_factory=lambda: [0, 0])
    reached: TokenLimit | None = None              # the limit the spend reached first

ERROR_WINDOW = 30         # the error limit looks at this many most recent requests...
ERROR_MIN_SAMPLE = 10     # ...once at least this many have finished
# A phase starts this long after its command, so every worker has it before the first deadline.
PROCESS_START_LEAD_S = 0.15
LOCAL_START_LEAD_S = 0.005
CLUSTER_START_LEAD_S = 1.0   # Dask workers may be a network away (run/cluster.py)
# ... and per session script a share carries to a worker process: pickled, sent and unpickled
# before the first deadline (about 25 µs each on a busy core: 10,000 sessions need 0.25 s more)
SCRIPT_LEAD_S = 40e-6
WAIT_STEP_S = 1.0         # a wait for a wall-clock slot re-reads the clock this often


@dataclass(slots=True)
class RunSnapshot:
    """How the run stands, for live views: a few per second, never one per request."""

    stage: str                       # preparing, running, draining, waiting, finished
    phase: int                       # current phase (or poll), 1-based (0 before the first)
    total_phases: int
    phases: list[PhaseStats]         # every phase started so far, the current one last
    elapsed_s: float                 # since the first phase started
    remaining_s: float               # scheduled load still to come (drain not included)
    # Set once the run was stopped or aborted, so a live view can say so while in-flight requests
    # drain: how it ends, why, and how many seconds of the planned load had been sent by then.
    status: RunStatus | None = None
    message: str | None = None
    stopped_at_s: float | None = None
    missed: list[MissedSlot] = field(default_factory=list)   # polls whose slot passed
    next_slot_utc: float | None = None   # the next poll's wall-clock start, while waiting for it
    ends_utc: float | None = None        # when an observation's last poll is due to end
    label: str | None = None             # who sends it, when several runs take turns (A/B)
    server: ServerPoint | None = None    # the server's latest metrics scrape
    server_off: str | None = None        # why the server's metrics stopped being read, one line


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
    missed: list[MissedSlot] = field(default_factory=list)
    anchor_utc: float | None = None    # an observation's first slot
    cluster: ClusterInfo | None = None   # the Dask workers it sent from, their clocks
    stopped_at_limit: str | None = None   # the token limit whose variable the spend reached
    server: ServerInfo | None = None      # the server's metrics: where, what answered
    stopped_by_throttle: str | None = None   # the throttle no wait ends that stopped it


class RunSink(Protocol):
    def started(self, t0: float) -> None: ...          # the first phase begins at monotonic t0
    def phase_started(self, plan: PhasePlan, t_start: float) -> None: ...
    def record(self, rec: RequestRecord) -> None: ...  # a phase request finished (ok or not)
    def session(self, rec: SessionRecord) -> None: ...  # a session ended
    def phase_finished(self, stats: PhaseStats) -> None: ...
    def missed(self, slot: MissedSlot) -> None: ...
    def event(self, ev: RunEvent) -> None: ...         # what happened, for the front end
    def snapshot(self, snap: RunSnapshot) -> None: ...
    def server_point(self, point: ServerPoint) -> None: ...   # a scrape of the server's metrics
    def server_scrape(self, t: float, text: str) -> None: ...  # one as the server wrote it


class Coordinator:
    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, planner: Planner,
                 sink: RunSink, snapshot_interval_s: float = 1.0, workers: int = 0,
                 done: list[PhaseStats] | None = None, cluster: ClusterTarget | None = None,
                 spend: Spend | None = None):
        self.suite = suite
        self.endpoint = endpoint
        self.planner = planner
        self.sink = sink
        self.snapshot_interval_s = snapshot_interval_s
        self.processes = workers
        self.cluster = cluster              # send from these Dask workers instead
        self._dask: Any = None              # the Dask client, while the run goes
        # Finished phases keep only their statistics (memory stays flat over a days-long
        # observation); `done` carries those of a run being resumed.
        self.finished: dict[int, PhaseStats] = {ph.phase: ph for ph in done or []}
        self.missed: list[MissedSlot] = []
        # the phases started and not yet drained: one at a time, except session phases, whose
        # sessions go on while the next phase's start (as they would in reality)
        self.open: dict[int, PhaseAccumulator] = {}
        self._draining: list[asyncio.Task] = []
        self._plan: PhasePlan | None = None
        self.warnings: list[str] = []
        self.calibration: Calibration | None = None
        self.workers: list[LocalWorker | RemoteWorker] = []
        self._stage = "preparing"
        self._next_slot_utc: float | None = None
        self._t0: float | None = None
        self._recent: deque[bool] = deque(maxlen=ERROR_WINDOW)
        self._status: RunStatus | None = None    # set once by stop/abort
        self._message: str | None = None
        self._stopped_at_s: float | None = None
        self._stopped = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task | None = None
        self._cpu_seen: list[tuple[float, float]] = []   # (cpu seconds, at) per worker
        self._thresholds = suite.threshold_checks
        # (this process's load only, as the estimate of a resumed run counts what remains)
        self.spend = spend
        # the server's own metrics, scraped on a thread of its own (telemetry/collector.py)
        url = endpoint.metrics_endpoint
        self.collector = Collector(url, headers=resolve_env_refs(
            endpoint.metrics_headers, "metrics_headers")) if url else None
        self._server_start: dict[int, ServerSample | None] = {}   # per open phase
        self._server_off_told = False
        self._throttle_stop: str | None = None

    @property
    def _unit(self) -> Unit:
        """What this run's phases are called: an observation's are polls."""
        return "poll" if self.planner.kind == "observation" else "phase"

    @property
    def current(self) -> PhaseAccumulator | None:
        """The newest phase still open."""
        return self.open[max(self.open)] if self.open else None

    @property
    def lead_s(self) -> float:
        return start_lead_s(self.processes, self.cluster is not None)

    # ------------------------------------------------------------------ control

    def stop(self, status: RunStatus = "interrupted", message: str | None = None,
             now: bool = False) -> None:
        """Stop sending at once; in-flight requests get a short grace (`now`: none, also after a
        first stop). Safe from any thread."""
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
            self._on_stop(status, message, now)
        else:
            loop.call_soon_threadsafe(self._on_stop, status, message, now)

    def _on_stop(self, status: RunStatus, message: str | None, now: bool = False) -> None:
        if self._status is None:
            self._status, self._message = status, message
            self._stopped_at_s = self._load_sent_s(time.monotonic())
            self._stopped.set()
            if self._stage == "preparing" and self._main is not None:
                self._main.cancel()
        elif not now:
            return
        for worker in self.workers:
            worker.stop(now)

    # ------------------------------------------------------------------ run

    async def run(self) -> RunOutcome:
        """Warm up, calibrate, run every phase; returns how it ended. EndpointError if unusable."""
        self._loop = asyncio.get_running_loop()
        if self._status is not None:
            return self.outcome()
        ticker = asyncio.create_task(self._tick())
        try:
            self.workers = await self._make_workers()
            for worker in self.workers:
                worker.launch()              # worker processes import while we calibrate
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
            for done in self.phases():     # a resumed run's earlier phases: their warnings too
                self._warn_about(done)
            self.planner.ready(time.time(), self.lead_s)
            self._t0 = time.monotonic()
            self.sink.started(self._t0)
            while self._status is None:
                missed, plan = self.planner.next(time.time())
                for slot in missed:
                    self._miss(slot)
                if plan is None:
                    break
                if plan.slot_utc is not None:
                    await self._wait_for_slot(plan)
                    if self._status is not None:
                        break
                if self.planner.takes_turns:
                    await self._wait_turn(plan)
                    if self._status is not None:
                        break
                await self._run_phase(plan)
                if plan.phase in self.finished:
                    verdict = self.planner.phase_done(plan, self.finished[plan.phase])
                    if verdict is not None:
                        self.sink.event(verdict)
            if self._draining:                 # session phases whose sessions go on
                await asyncio.gather(*self._draining)
            self._stage = "finished"
        finally:
            ticker.cancel()
            if self.collector is not None:
                await asyncio.to_thread(self.collector.stop)
                self._server_points()
            await asyncio.gather(*(w.close() for w in self.workers), return_exceptions=True)
            if self._dask is not None:
                await self._dask.close()
            self.sink.snapshot(self.snapshot())
        return self.outcome()

    async def _make_workers(self) -> list[LocalWorker | RemoteWorker]:
        if self.cluster is not None:
            return await self._cluster_workers(self.cluster)
        if self.processes <= 0:
            return [LocalWorker(self.suite, self.endpoint, self._on_records,
                                self.suite.max_concurrency, self._on_sessions)]
        count = self.processes
        if self.suite.max_concurrency is not None:
            count = min(count, self.suite.max_concurrency)
        limits = split_concurrency(self.suite.max_concurrency, count)
        return [ProcessWorker(i, self.suite, self.endpoint, self._on_records, limits[i],
                              self._on_sessions)
                for i in range(count)]

    async def _cluster_workers(self, target: ClusterTarget) -> list[LocalWorker | RemoteWorker]:
        from . import cluster
        self._dask = await cluster.connect(target.scheduler)
        chosen = await cluster.pick_workers(self._dask, target.scheduler, len(target.workers),
                                            self.endpoint)
        limits = split_concurrency(self.suite.max_concurrency, len(chosen.workers))
        return [cluster.ClusterWorker(i, self._dask, address, name, *chosen.hosts[address],
                                      self.suite, self.endpoint, self._on_records, limits[i],
                                      self._on_sessions)
                for i, (address, name) in enumerate(chosen.workers)]

    @property
    def cluster_workers(self) -> list[ClusterWorker]:
        from .cluster import ClusterWorker
        return [w for w in self.workers if isinstance(w, ClusterWorker)]

    def phases(self, now: float | None = None) -> list[PhaseStats]:
        """Every phase started so far, in order, the one under way last."""
        out = [self.finished[k] for k in sorted(self.finished)]
        out += [acc.stats(now) for k, acc in sorted(self.open.items()) if k not in self.finished]
        return sorted(out, key=lambda ph: ph.phase)

    def outcome(self) -> RunOutcome:
        """How the run stands or ended: status, message and every started phase's statistics."""
        cal = self.calibration
        return RunOutcome(
            status=self._status or "completed", message=self._message, phases=self.phases(),
            client=self.endpoint.resolved_client,
            token_counter=cal.token_counter if cal else "none",
            template_tokens=cal.factory.template_tokens if cal and cal.factory else 0,
            workers=len(self.workers) if self.cluster else self.processes,
            warnings=self.warnings, missed=list(self.missed),
            anchor_utc=getattr(self.planner, "anchor_utc", None),
            stopped_at_limit=(self.spend.reached.var
                              if self.spend is not None and self.spend.reached else None),
            cluster=ClusterInfo(scheduler=self.cluster.scheduler,
                                workers=[w.info() for w in self.cluster_workers])
            if self.cluster else None,
            server=self._server_info(), stopped_by_throttle=self._throttle_stop)

    def _server_info(self) -> ServerInfo | None:
        collector = self.collector
        if collector is None:
            return None
        base = collector.baseline
        return ServerInfo(url=public_url(collector.url),
                          engine=collector.engine.name if collector.engine else None,
                          engine_version=collector.version,
                          off=collector.off, scrapes=collector.scrapes,
                          failed_scrapes=collector.failed,
                          baseline_running=base.running if base else None,
                          baseline_waiting=base.waiting if base else None)

    def warn(self, warning: RunWarning | FailedShare) -> None:
        """A warning the run keeps for its summary (once) and tells the front end."""
        if warning.text not in self.warnings:
            self.warnings.append(warning.text)
            self.sink.event(warning)

    async def _prepare(self) -> None:
        await self._server_baseline()
        client = make_client(self.endpoint)
        await client.start()
        try:
            self.calibration = Calibration(self.suite, self.endpoint, client, self.sink.event,
                                           lambda text: self.warn(RunWarning(text)))
            factory = await self.calibration.run()
        finally:
            await client.close()
        if client.last_limits is not None:      # a hosted provider announced its limits
            self.sink.event(Note("info", limits_line(client.last_limits)))
            # for the next budget prompt of this endpoint, which comes before anything is sent
            remember_limits(self.endpoint, client.last_limits, WARM_UP)
            for warning in plan_warnings(self.planner.plans, self.suite, client.last_limits,
                                         self._unit):
                self.warn(warning)
        warm_up_numpy()
        if self.cluster:
            where = f"{len(self.workers)} Dask worker(s) of {self.cluster.scheduler}"
        elif self.processes > 0:
            where = f"{len(self.workers)} worker process(es)"
        else:
            where = "this process"
        self.sink.event(Note("info", f"sending from {where}"))
        await asyncio.gather(*(w.start(factory) for w in self.workers))
        self._check_clocks()

    async def _server_baseline(self) -> None:
        """Start reading the server's metrics, and read them once before the warm-up: a server
        already busy then carries someone else's load."""
        collector = self.collector
        if collector is None:
            return
        collector.start()
        base = await collector.first()
        self._server_points()
        if base is not None and ((base.running or 0) > 0 or (base.waiting or 0) > 0):
            busy = ServerBusy(base.running or 0.0, base.waiting or 0.0)
            if busy.text not in self.warnings:
                self.warnings.append(busy.text)
                self.sink.event(busy)

    def _server_points(self) -> None:
        """Hand the sink the scrapes gathered since the last call; say once that the metrics
        are off when the collector stopped."""
        collector = self.collector
        if collector is None:
            return
        for point in collector.take():
            self.sink.server_point(point)
        for t, text in collector.take_raw():
            self.sink.server_scrape(t, text)
        if collector.off is not None and not self._server_off_told:
            self._server_off_told = True
            # said where the user can act on it: a self-hosted engine, or a URL they gave; a
            # hosted API behind a base_url has no engine metrics to turn on
            if self.endpoint.self_hosted or self.endpoint.metrics_url:
                self.sink.event(ServerMetricsOff(collector.off))

    async def _server_mark(self) -> ServerSample | None:
        """A scrape at a phase boundary (None without metrics)."""
        if self.collector is None or self.collector.off is not None:
            return None
        return await self.collector.mark()

    def _check_clocks(self) -> None:
        """Each Dask worker's clock offset, and a warning when it is known too loosely for
        the schedule: the workers' arrivals interleave, so an error of a quarter of the gap
        between two arrivals at the highest rate (or of 1 ms) reorders them."""
        rate = max((p.target_rps for p in self.planner.plans), default=1.0)
        precision_ms = max(1.0, 250.0 / max(rate, 1e-9))
        for w in self.cluster_workers:
            if w.clock is None:
                continue
            self.sink.event(Note("info", f"{w.name}: clock offset "
                                         f"{w.clock.wall_offset_s * 1000:+.1f} ms (± "
                                         f"{w.clock.uncertainty_s * 1000:.2f} ms, round trip "
                                         f"{w.clock.round_trip_s * 1000:.2f} ms)"))
            if w.clock.uncertainty_s * 1000 > precision_ms:
                self.warn(RunWarning(
                    f"{w.name}: its clock is known to ± {w.clock.uncertainty_s * 1000:.1f} ms "
                    f"(half the shortest round trip to it), more than the {precision_ms:.1f} ms "
                    f"the schedule at {rate:g} req/s needs: its arrivals may land early or late "
                    "against the other workers'; use workers closer to the coordinator"))

    # ------------------------------------------------------------------ phases

    def _miss(self, slot: MissedSlot) -> None:
        self.missed.append(slot)
        self.sink.missed(slot)
        self.sink.event(PollMissed(slot.phase, slot.reason))

    async def _wait_for_slot(self, plan: PhasePlan) -> None:
        """Sleep until the slot (less the lead the workers need), reading the wall clock again
        every second: a suspended machine or a clock step must not move the poll."""
        assert plan.slot_utc is not None
        self._stage, self._next_slot_utc = "waiting", plan.slot_utc
        try:
            while (left := plan.slot_utc - self.lead_s - time.time()) > 0:
                try:
                    await asyncio.wait_for(self._stopped.wait(), min(left, WAIT_STEP_S))
                    return
                except TimeoutError:
                    pass
        finally:
            self._next_slot_utc = None

    async def _wait_turn(self, plan: PhasePlan) -> None:
        """Until the planner lets `plan` start, or the run is stopped."""
        self._stage = "waiting"
        turn = asyncio.ensure_future(self.planner.wait_turn(plan))
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait([turn, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (turn, stopped):
                task.cancel()

    async def _run_phase(self, plan: PhasePlan) -> None:
        """Send a phase and let it drain; a session phase of a load test returns once its last
        session has started, and drains (its sessions run to their end) while the next phase
        goes on."""
        if self.collector is not None:
            # an observation's poll starts on its slot: it takes the last scrape, not a new one.
            # Taken before the phase opens: from then on to its first send nothing awaits, so no
            # snapshot shows it half set up (a session phase without its sessions)
            self._server_start[plan.phase] = (self.collector.latest if plan.slot_utc is not None
                                              else await self._server_mark())
            self.collector.phase = plan.phase
            self.collector.forget_before(min(
                (a.t_start for a in self.open.values() if a.t_start is not None),
                default=time.monotonic()))
        acc = PhaseAccumulator(plan.phase, plan.target_rps, plan.length_s, plan.requests,
                               self.suite.percentiles, self.suite.slo, self._thresholds)
        self.open[plan.phase], self._plan = acc, plan
        self._stage = "running"
        self.sink.event(PhaseStarted(self._unit, plan.phase, plan.target_rps, plan.length_s,
                                     plan.requests, plan.sessions.sessions
                                     if plan.sessions is not None else None))
        now = time.monotonic()
        late_start_s = 0.0
        if plan.slot_utc is not None:
            # deadlines on the slot, also when it is a little behind: late requests go at once
            late_start_s = time.time() - plan.slot_utc
            acc.t_start = now - late_start_s
        else:
            scripts_lead = (SCRIPT_LEAD_S * plan.sessions.sessions
                            if plan.sessions is not None and self.lead_s > LOCAL_START_LEAD_S
                            else 0.0)
            acc.t_start = now + self.lead_s + scripts_lead
        self.sink.phase_started(plan, acc.t_start)
        deadlines = acc.t_start + plan.offsets_s
        seqs = plan.seqs if plan.sessions is None else plan.sessions.ids
        scripts = plan.sessions.scripts if plan.sessions is not None else None
        n = len(self.workers)
        shares = [PhaseShare(plan.phase, plan.target_rps, deadlines[i::n], plan.load_types[i::n],
                             seqs[i::n], scripts[i::n] if scripts is not None else None)
                  for i in range(n)]
        acc.per_worker = n > 1 or self.cluster is not None
        if plan.sessions is not None:
            ramp, wanted = ramp_seconds(self.suite, plan)
            acc.start_sessions(deadlines, ramp)
            if wanted > ramp:
                self.warn(RunWarning(
                    f"phase {plan.phase}: its sessions last about {wanted:.0f} s (their think "
                    f"and tool times alone), more than half the phase: its statistics leave out "
                    f"its first {ramp:.0f} s (the ramp) and still do not cover a steady state; "
                    "make test_length_in_seconds at least twice a session", self._unit,
                    plan.phase))
        cpu_start = [w.cpu_seconds for w in self.workers]
        phase_runs = [asyncio.create_task(self._send_share(w, s, plan.phase))
                      for w, s in zip(self.workers, shares, strict=True)]
        finish = self._finish_phase(plan, acc, phase_runs, cpu_start, late_start_s)
        if plan.sessions is None or self.planner.judges_each_phase:
            await finish
            return
        # the next phase starts on time while this one's sessions go on
        self._draining.append(asyncio.create_task(finish))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(),
                                   max(0.0, acc.t_start + plan.length_s - time.monotonic()))

    async def _finish_phase(self, plan: PhasePlan, acc: PhaseAccumulator,
                            phase_runs: list[asyncio.Task], cpu_start: list[float],
                            late_start_s: float) -> None:
        unit = self._unit
        results = await asyncio.gather(*phase_runs, return_exceptions=True)
        wall = time.monotonic() - (acc.t_start or 0.0)
        if wall > 0:
            acc.worker_cpu = {w.name: (w.cpu_seconds - c) / wall
                              for w, c in zip(self.workers, cpu_start, strict=True)}
            acc.client_cpu = max(acc.worker_cpu.values())
        failures = [r for r in results if isinstance(r, BaseException)]
        acc.t_done = time.monotonic()
        reported = sum(r for r in results if isinstance(r, int))
        if not failures and reported != acc.finished:
            self.warn(RunWarning(f"phase {plan.phase}: the workers report {reported} requests "
                                 f"sent but {acc.finished} were recorded; please report this",
                                 unit, plan.phase))
        if failures and not isinstance(failures[0], EndpointError):
            raise failures[0]
        stats = acc.stats()
        if self.collector is not None:
            stats.server = await self._server_phase(plan.phase, acc, stats)
            # thresholds on the server's figures: checked again now that the phase has them
            if len(stats.thresholds) == len(self._thresholds):
                stats.thresholds = [
                    t.check(stats, acc) if t.metric == "server" else check
                    for t, check in zip(self._thresholds, stats.thresholds, strict=True)]
        self.finished[plan.phase] = stats
        del self.open[plan.phase]
        if self._status is None:       # a phase cut short by a stop is not finished: a resume
            self.sink.phase_finished(stats)   # runs it again in full
        self._warn_about(stats, late_start_s)
        for check in stats.thresholds:      # shown as each phase ends; the summary has them all
            if not check.passed:
                self.sink.event(ThresholdFailed(unit, plan.phase, check))

    def _warn_about(self, stats: PhaseStats, late_start_s: float = 0.0) -> None:
        """The warnings a finished phase's figures come with (also a resumed run's earlier ones).
        `late_start_s`: how long after its slot a poll started (its first requests left that late,
        which says nothing about the client keeping up)."""
        template = self.calibration.factory.template_tokens if self.calibration and \
            self.calibration.factory else 0
        unit, number = self._unit, stats.phase
        for warning in phase_warning_events(stats, unit, template):
            self.warn(warning)
        late_start = late_start_s * 1000 > CLIENT_BOUND_LAUNCH_P99_MS
        if late_start:
            self.warn(RunWarning(f"poll {stats.phase} started {duration_text(late_start_s * 1000)} "
                                 "after its slot (the previous poll still finishing, or a resume "
                                 "warming up): its first requests left that late", unit, number))
        if not stats.client_bound or (late_start and (stats.client_cpu or 0.0) < CLIENT_BOUND_CPU):
            return
        bound = [w for w in stats.workers if w.bound]
        if bound and (self.cluster or len(stats.workers) > 1):
            who = "the cluster" if self.cluster else "the client"
            more = "Dask workers (--workers)" if self.cluster else "--workers"
            self.warn(RunWarning(f"{unit} {stats.phase}: {who} was the bottleneck: " + "; ".join(
                f"{w.worker}: {w.reason()}" for w in bound) + ": its latencies include "
                f"client-side delay; add {more} or lower the rate", unit, number))
        else:
            self.warn(RunWarning(f"{unit} {stats.phase}: the client was the bottleneck "
                                 f"({stats.client_bound_reason()}): its latencies include "
                                 "client-side delay; add --workers or lower the rate",
                                 unit, number))

    async def _server_phase(self, phase: int, acc: PhaseAccumulator, stats: PhaseStats):
        """The phase's server figures, between the scrapes at its start and at its end."""
        assert self.collector is not None
        start = self._server_start.pop(phase, None)
        end = await self._server_mark()
        if self.collector.phase == phase:
            self.collector.phase = max((k for k in self.open if k != phase), default=0)
        if self.collector.off is not None and end is None:
            return None
        until = end.t if end is not None else (acc.t_done or time.monotonic())
        since = acc.t_start or 0.0
        points = [p for p in self.collector.points() if since <= p.t <= until]
        return phase_figures(start, end, points, self.suite.percentiles, stats.ttft_ms)

    async def _send_share(self, worker, share: PhaseShare, phase: int) -> int:
        """One worker's share of a phase; a worker that dies stops the whole run: the load it
        was sending is missing, so the others no longer send the target rate."""
        try:
            return await worker.run_phase(share)
        except EndpointError as exc:
            self.stop("aborted", f"phase {phase}: {exc}; the run stopped, because without that "
                                 "worker's share the phase no longer sends its target rate")
            raise

    def _on_records(self, records: list[RequestRecord]) -> None:
        limit = self.suite.error_limit
        for rec in records:
            acc = self.open.get(rec.phase)
            assert acc is not None, "a record outside its phase"
            acc.add(rec)
            self.sink.record(rec)
            self._spend(rec)
            if rec.status in (CANCELLED, WORKER_DIED):   # not the endpoint's doing
                continue
            if rec.status == RATE_LIMITED:
                # the account's limits, not the endpoint failing: counted per phase by kind,
                # not in the error limit; one no wait ends stops the run (never retried)
                self.sink.event(RequestFailed(self._unit, rec.phase, f"{RATE_LIMITED} "
                                              f"({rec.throttle})", rec.http_status,
                                              rec.error_message))
                if rec.throttle in FATAL:
                    self._stop_throttled(rec)
                continue
            self._recent.append(rec.status != OK)
            if not rec.ok:
                self.sink.event(RequestFailed(self._unit, rec.phase, rec.status, rec.http_status,
                                              rec.error_message))
            failures = sum(self._recent)
            if (limit is not None and len(self._recent) >= ERROR_MIN_SAMPLE
                    and failures / len(self._recent) > limit):
                self.stop("aborted",
                          f"error limit: {failures} of the last {len(self._recent)} requests "
                          f"failed (error_limit {limit:g}); last error: {rec.error_message}")

    def _stop_throttled(self, rec: RequestRecord) -> None:
        if self._throttle_stop is not None or self._status is not None:
            return
        assert rec.throttle is not None
        self._throttle_stop = rec.throttle
        stop = ThrottleStop(self._unit, rec.phase, rec.throttle, ADVICE[rec.throttle],
                            rec.error_message)
        self.sink.event(stop)
        self.stop("aborted", stop.text, now=True)

    def _spend(self, rec: RequestRecord) -> None:
        spend = self.spend
        if spend is None:
            return
        spend.tokens[0] += rec.prompt_tokens if rec.prompt_tokens is not None else (
            rec.prompt_tokens_target if rec.t_send is not None else 0)
        spend.tokens[1] += rec.output_tokens or 0
        if spend.reached is not None or self._status is not None:   # stopping already
            return
        for limit, spent, what in zip(spend.limits, spend.tokens, ("input", "output"),
                                      strict=True):
            if spent >= limit.limit:
                spend.reached = limit
                self.stop("aborted", f"the load's spend reached {limit.var}={limit.limit:,}: "
                                     f"the server's usage counts {spent:,} {what} tokens, where "
                                     f"{limit.estimated:,} were estimated; the run stopped there "
                                     f"and kept its results; raise {limit.var} to go further")
                return

    def _on_sessions(self, sessions: list[SessionRecord]) -> None:
        for session in sessions:
            acc = self.open.get(session.phase)
            assert acc is not None, "a session outside its phase"
            acc.add_session(session)
            self.sink.session(session)

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> RunSnapshot:
        now = time.monotonic()
        current = self.current
        client_cpu = self._client_cpu(now)
        if current is not None and current.t_done is None:
            for worker in self.workers:
                phase, sent = worker.progress
                if phase == current.phase:       # a count from the phase before is not this one's
                    current.report_sent(worker.index, sent)
            if client_cpu is not None:
                current.client_cpu = client_cpu    # live: the last interval; final: the phase
        phases = self.phases(now)
        remaining = sum(p.length_s for p in self.planner.remaining)
        stage = self._stage
        if phases and not phases[-1].finished:
            remaining += max(0.0, phases[-1].length_s - phases[-1].elapsed_s)
            if stage == "running" and phases[-1].elapsed_s >= phases[-1].length_s:
                stage = "draining"         # every arrival is out; in-flight requests finish
        return RunSnapshot(stage=stage, phase=self._plan.phase if self._plan else 0,
                           total_phases=len(self.planner.plans), phases=phases,
                           elapsed_s=0.0 if self._t0 is None else now - self._t0,
                           remaining_s=remaining if self._status is None else 0.0,
                           status=self._status, message=self._message,
                           stopped_at_s=self._stopped_at_s, missed=list(self.missed),
                           next_slot_utc=self._next_slot_utc,
                           ends_utc=self.planner.ends_utc(time.time()),
                           server=self._server_now(),
                           server_off=self.collector.off if self.collector is not None else None)

    def _server_now(self) -> ServerPoint | None:
        """The latest scrape, once handed to the sink."""
        self._server_points()
        return self.collector.last_point() if self.collector is not None else None

    def _load_sent_s(self, now: float) -> float:
        """Seconds of the planned load sent so far: whole phases, then the open ones' part."""
        sent = sum(min(ph.length_s, ph.elapsed_s) for ph in self.finished.values())
        for acc in self.open.values():
            if acc.t_start is not None and acc.phase not in self.finished:
                sent += min(acc.length_s, max(0.0, now - acc.t_start))
        return sent

    def _client_cpu(self, now: float) -> float | None:
        """The busiest worker's CPU use since the previous snapshot, as a share of one core."""
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


def ramp_seconds(suite: RunSuite, plan: PhasePlan) -> tuple[float, float]:
    """How long a session phase ramps up (its requests then are kept out of its latency
    statistics), and how long it would take to reach a steady state: the suite's ramp_seconds,
    else one mean session by its think and tool times, at most half the phase."""
    assert plan.sessions is not None
    given = getattr(suite, "ramp_seconds", None)
    if given is not None:
        return min(given, plan.length_s), min(given, plan.length_s)
    mean = mean_session_waits([float(s.wait_s.sum()) for s in plan.sessions.scripts])
    return min(mean, plan.length_s / 2), mean


def start_lead_s(processes: int, cluster: bool) -> float:
    """How long after its command a phase starts, so every sender has it before the first
    deadline."""
    if cluster:
        return CLUSTER_START_LEAD_S
    return PROCESS_START_LEAD_S if processes > 0 else LOCAL_START_LEAD_S
