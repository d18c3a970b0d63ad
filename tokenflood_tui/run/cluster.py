"""Workers on a Dask cluster (README "Past one machine: a Dask cluster").

Dask places, supervises and connects the senders; it never sits on the per-request path. Each
sender is a Dask actor whose constructor starts a thread with an event loop of its own running
the same `workers.serve` as a local worker process (never the Dask worker's own event loop,
which also serves Dask's traffic). The coordinator talks to it in the local worker's messages:
`send` hands one over, `take` collects what the sender said since the last call (its records
come in batches, one call every POLL_INTERVAL_S, never one call per request).

Clocks: before each phase the coordinator measures the offset between its monotonic clock and
the sender's (several round trips, the shortest kept: the offset is known to within half of it)
and sends the share's deadlines converted to the sender's clock; the records coming back are
converted to the coordinator's, so requests.csv reads as for a local run. The wall-clock offset
of each host is measured on the same round trips and recorded in summary.json.

Secrets never travel over the cluster: a sender reads the key (and every os.environ/NAME a spec
refers to) from its own host's environment, as a local run does.

`distributed` is imported only here, and only when --cluster is given (the `cluster` extra).
"""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from .. import __version__
from . import prompts
from ..clients.base import preflight
from ..errors import ConfigError, EndpointError, TokenfloodError
from ..metrics.records import RequestRecord
from ..specs import EndpointSpec, RunSuite
from ..metrics.summary import ClusterWorkerInfo
from .messages import Closed, Close, Records
from .sender import PhaseShare
from .sender import OnSessions
from .workers import OnRecords, RemoteWorker, serve

INSTALL = "pip install 'tokenflood-tui[cluster]'"
CONNECT_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.05        # the coordinator collects each sender's records this often
CALL_TIMEOUT_S = 30.0         # a sender that does not answer this long is taken for dead
ORPHAN_AFTER_S = 10.0         # a sender nobody collects from this long stops sending
CLOCK_ROUND_TRIPS = 8
CLOCK_REMEASURE_S = 60.0      # clocks drift apart: measured again before a phase after this
SWITCH_INTERVAL_S = 0.0005    # the GIL's hand-over interval in a Dask worker that sends


def import_distributed() -> Any:
    """The distributed package, or a ConfigError that says how to install it."""
    try:
        import distributed
    except ImportError:
        raise ConfigError("--cluster needs Dask distributed, which is not installed here: "
                          f"{INSTALL} (the same on every Dask worker)") from None
    return distributed


# ---------------------------------------------------------------------- on the Dask worker


class ActorConn:
    """What `workers.serve` reads commands from and writes messages to, inside the actor: the
    pipe of a local worker process, as two queues. Stops the sender (as a closed pipe does) when
    the coordinator has not collected for ORPHAN_AFTER_S: a coordinator that died must not leave
    load running on somebody's bill."""

    def __init__(self, orphan_after_s: float = ORPHAN_AFTER_S) -> None:
        self.orphan_after_s = orphan_after_s
        self.inbox: queue.Queue = queue.Queue()
        self._outbox: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self.last_take = time.monotonic()

    def send(self, message: Any) -> None:
        with self._lock:
            self._outbox.append(message)

    def recv(self) -> Any:
        while True:
            if self._closed or time.monotonic() - self.last_take > self.orphan_after_s:
                raise EOFError
            try:
                return self.inbox.get(timeout=min(1.0, self.orphan_after_s))
            except queue.Empty:
                pass

    def take(self) -> list[Any]:
        with self._lock:
            out, self._outbox = self._outbox, []
        self.last_take = time.monotonic()
        return out

    def close(self) -> None:
        self._closed = True


class SenderActor:
    """One sender on a Dask worker (created there by `client.submit(..., actor=True)`)."""

    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, max_concurrency: int | None,
                 orphan_after_s: float = ORPHAN_AFTER_S):
        self._conn = ActorConn(orphan_after_s)
        # The Dask worker's own threads (its event loop, this actor's calls) share the GIL with
        # the sender; Python hands it over every 5 ms by default, which a request due meanwhile
        # waits for. A Dask worker that sends for tokenflood does nothing else: hand it over
        # every 0.5 ms.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._thread = threading.Thread(target=serve, name="tokenflood-sender", daemon=True,
                                        args=(self._conn, suite, endpoint, max_concurrency))
        self._thread.start()

    def send(self, message: Any) -> None:
        self._conn.inbox.put(message)

    def take(self) -> list[Any]:
        return self._conn.take()

    def clock(self) -> tuple[float, float]:
        return time.monotonic(), time.time()


def worker_check(endpoint: EndpointSpec) -> tuple[str, str, int, str | None]:
    """Run on each Dask worker before a run: tokenflood's version there, the host, the worker's
    pid, and what its environment lacks for this endpoint (None: nothing)."""
    try:
        preflight(endpoint)
        problem = None
    except TokenfloodError as exc:
        problem = str(exc)
    return __version__, socket.gethostname(), os.getpid(), problem


# ---------------------------------------------------------------------- the coordinator's side


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """Where a run's senders go: the scheduler, the Dask workers chosen (address, name), and
    each one's host and pid (by address), as they answered the check."""

    scheduler: str
    workers: list[tuple[str, str]]
    hosts: dict[str, tuple[str, int]]


async def connect(address: str) -> Any:
    """An asynchronous Dask client on the running event loop; EndpointError if unreachable."""
    distributed = import_distributed()
    try:
        # the default client of this process: Dask's actor handles find their client so
        return await distributed.Client(address, asynchronous=True, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise EndpointError(f"cannot reach the Dask scheduler at {address}: {exc}. Is it "
                            "running there? (`dask scheduler` starts one; --cluster takes its "
                            "address, e.g. tcp://10.0.0.5:8786)") from None


async def pick_workers(client: Any, address: str, senders: int | None,
                       endpoint: EndpointSpec) -> ClusterTarget:
    """The Dask workers a run sends from, one sender each (all of them unless `senders` says
    how many); ConfigError when there are too few, or one lacks tokenflood or the endpoint's
    env vars."""
    info = await client.scheduler.identity()
    workers = sorted(((addr, str(w.get("name", addr))) for addr, w in info["workers"].items()),
                     key=lambda aw: aw[1])
    if senders == 0:
        raise ConfigError("--workers 0 sends from this process; with --cluster give how many "
                          "Dask workers send (default: every worker of the cluster)")
    if not workers:
        raise ConfigError(f"the Dask cluster at {address} has no workers: start some "
                          f"(`dask worker {address}`) and run again")
    if senders is not None and senders > len(workers):
        raise ConfigError(f"--workers {senders}, but the Dask cluster at {address} has "
                          f"{len(workers)} worker(s): give at most {len(workers)} or start more "
                          "workers")
    chosen = workers[:senders or len(workers)]
    answers = await client.run(worker_check, endpoint, workers=[a for a, _ in chosen],
                               on_error="return")
    hosts = {}
    for addr, name in chosen:
        answer = answers.get(addr)
        if isinstance(answer, BaseException):
            raise ConfigError(f"Dask worker {name} ({addr}) cannot run tokenflood: {answer!r}; "
                              f"install it there ({INSTALL})")
        version, host, pid, problem = answer
        if version != __version__:
            raise ConfigError(f"Dask worker {name} on {host} has tokenflood {version}, this is "
                              f"{__version__}: install the same version on every worker")
        if problem:
            raise ConfigError(f"Dask worker {name} on {host}: {problem} (on that host: a worker "
                              "reads secrets from its own environment; they never travel over "
                              "the cluster)")
        hosts[addr] = (host, pid)
    return ClusterTarget(address, chosen, hosts)


async def probe(address: str, senders: int | None, endpoint: EndpointSpec) -> ClusterTarget:
    """Check the cluster before the budget prompt, so its errors come first (the run itself
    connects again from its own event loop)."""
    client = await connect(address)
    try:
        return await pick_workers(client, address, senders, endpoint)
    finally:
        await client.close()


@dataclass(slots=True)
class Clock:
    """The sender's clocks against the coordinator's, from the shortest of several round trips."""

    monotonic_offset_s: float     # sender's time.monotonic() − the coordinator's
    wall_offset_s: float          # sender's time.time() − the coordinator's
    round_trip_s: float

    @property
    def uncertainty_s(self) -> float:
        return self.round_trip_s / 2


class ClusterWorker(RemoteWorker):
    """A sender on a Dask worker, driven by actor calls: the same messages as a local worker
    process, sent in order by one task and collected in batches by another."""

    def __init__(self, index: int, client: Any, address: str, dask_name: str, host: str, pid: int,
                 suite: RunSuite, endpoint: EndpointSpec, on_records: OnRecords,
                 max_concurrency: int | None, on_sessions: OnSessions | None = None):
        super().__init__(index, f"{dask_name}@{host}", suite, on_records, on_sessions)
        self.client = client
        self.address = address
        self.pid = pid
        self.endpoint = endpoint
        self.max_concurrency = max_concurrency
        self.clock: Clock | None = None
        self.first_clock: Clock | None = None
        self._clock_at = 0.0
        self._actor: Any = None
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    @property
    def what(self) -> str:
        return f"Dask worker {self.name} ({self.address})"

    async def start(self, factory: prompts.PromptFactory) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            future = self.client.submit(SenderActor, self.suite, self.endpoint,
                                        self.max_concurrency, actor=True, pure=False,
                                        workers=[self.address], allow_other_workers=False)
            self._actor = await asyncio.wait_for(future, CALL_TIMEOUT_S)
            await self._measure_clock()
        except (OSError, TimeoutError) as exc:
            raise EndpointError(f"{self.what} could not start sending: {exc!r}") from None
        self.first_clock = self.clock
        self._tasks = [asyncio.create_task(self._pump()), asyncio.create_task(self._collect())]
        await super().start(factory)

    async def run_phase(self, share: PhaseShare) -> int:
        if self._dead is None and time.monotonic() - self._clock_at > CLOCK_REMEASURE_S:
            try:
                await self._measure_clock()
            except (OSError, TimeoutError) as exc:
                self._gone(exc)
        return await super().run_phase(share)

    async def close(self) -> None:
        self._closing = True
        if self._dead is None and self._actor is not None:
            try:
                await asyncio.wait_for(self._request(Closed, Close()), timeout=10)
            except (TimeoutError, EndpointError):
                pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._actor = None

    def info(self) -> ClusterWorkerInfo:
        clock, first = self.clock, self.first_clock
        return ClusterWorkerInfo(
            worker=self.name, address=self.address, pid=self.pid,
            clock_offset_ms=first.wall_offset_s * 1000 if first else None,
            clock_uncertainty_ms=first.uncertainty_s * 1000 if first else None,
            round_trip_ms=first.round_trip_s * 1000 if first else None,
            clock_drift_ms=(clock.monotonic_offset_s - first.monotonic_offset_s) * 1000
            if clock and first else None)

    # -- clocks

    async def _measure_clock(self) -> None:
        best: Clock | None = None
        for _ in range(CLOCK_ROUND_TRIPS):
            wall0, t0 = time.time(), time.monotonic()
            mono, wall = await asyncio.wait_for(self._actor.clock(), CALL_TIMEOUT_S)
            t1, wall1 = time.monotonic(), time.time()
            sample = Clock(mono - (t0 + t1) / 2, wall - (wall0 + wall1) / 2, t1 - t0)
            if best is None or sample.round_trip_s < best.round_trip_s:
                best = sample
        self.clock, self._clock_at = best, time.monotonic()

    def _outgoing(self, share: PhaseShare) -> PhaseShare:
        assert self.clock is not None
        return replace(share, deadlines=share.deadlines + self.clock.monotonic_offset_s)

    def _incoming(self, message: Any) -> Any:
        if isinstance(message, Records) and self.clock is not None:
            d = self.clock.monotonic_offset_s
            for rec in message.records:
                _shift(rec, -d)
            for session in message.sessions:
                session.t_start -= d
                session.t_end -= d
        return message

    # -- messages

    def _send(self, message: Any) -> None:
        self._outbox.put_nowait(message)

    async def _pump(self) -> None:
        """Hands the messages over one at a time, in order."""
        while True:
            message = await self._outbox.get()
            try:
                await asyncio.wait_for(self._actor.send(message), CALL_TIMEOUT_S)
            except Exception as exc:        # any failure of the call: it is gone
                self._gone(exc)
                return

    async def _collect(self) -> None:
        """Collects what the sender said, every POLL_INTERVAL_S."""
        while True:
            try:
                messages = await asyncio.wait_for(self._actor.take(), CALL_TIMEOUT_S)
            except Exception as exc:
                self._gone(exc)
                return
            for message in messages:
                self._handle(self._incoming(message))
            await asyncio.sleep(POLL_INTERVAL_S)

    def _gone(self, exc: BaseException) -> None:
        if self._closing:
            return
        why = f"did not answer for {CALL_TIMEOUT_S:g} s" if isinstance(exc, TimeoutError) \
            else f"is gone ({exc or type(exc).__name__})"
        self._died(f"{self.what} {why}")


def _shift(rec: RequestRecord, d: float) -> None:
    rec.t_sched += d
    if rec.t_launch is not None:
        rec.t_launch += d
    if rec.t_send is not None:
        rec.t_send += d
    if rec.t_first is not None:
        rec.t_first += d
    if rec.t_end is not None:
        rec.t_end += d
