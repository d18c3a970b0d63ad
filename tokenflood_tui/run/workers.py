"""Where requests are sent from: the coordinator's own event loop, worker processes, or Dask
workers (run/cluster.py).

A worker process has one event loop and one client; it streams its records back to the
coordinator over a pipe. Timing happens only there, so neither the coordinator's bookkeeping nor
a live view in the same process can delay a request. CLOCK_MONOTONIC is system-wide on Linux and
macOS, so deadlines and timestamps mean the same in every process.
"""

from __future__ import annotations

import asyncio
import gc
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

import numpy as np

from . import prompts

from . import loops
from .messages import (Close, Closed, Failed, PhaseDone, Ready, Records, RunPhase, Start,
                       Status, Stop)
from .sender import OnSessions, PhaseShare, Sender
from ..errors import EndpointError
from ..metrics.records import WORKER_DIED, RequestRecord, SessionRecord
from ..specs import EndpointSpec, RunSuite

OnRecords = Callable[[list[RequestRecord]], None]
STATUS_INTERVAL_S = 0.1       # a worker reports its sent count and CPU time this often
FLUSH_INTERVAL_S = 0.02       # ... and its finished records at least this often
FLUSH_RECORDS = 256
# A sender holding thousands of sessions in flight keeps hundreds of thousands of objects alive
# (their histories, tasks, timers); Python's default collector rescans them all every time the
# survivors grow by a quarter, and each scan stopped the sender for 0.3 to 1.3 s at 10,000
# sessions (turns sent a second late at p99). Frozen at each phase's start (what is alive then
# lives on) and collected far less often, those pauses were gone: p99 89 ms → see
# benchmarks/sessions_in_flight.py. Reference cycles are still collected by the young
# generations, where a sender's few (exceptions and their tracebacks) are made and die.
GC_THRESHOLDS = (50_000, 20, 100)
# What one sender process sustains with 64-token streams (benchmarks/fidelity.py, 2-core machine:
# one built-in worker sent 100% of 800 req/s, its TTFT error p99 under 2 ms to 200 req/s always
# and at 400 in good runs, no better with two; litellm saturates a core near 25 req/s).
PER_WORKER_RPS = {"openai": 400.0, "litellm": 15.0}


LOCAL_MAX_RPS = 50.0          # up to this rate a headless run sends from its own event loop


def choose_workers(requested: int | None, max_rate: float, client: str, live_view: bool,
                   cores: int | None = None) -> int:
    """Worker processes for a run (0: send from the coordinator's own event loop).

    Default: enough processes for the highest rate, at most one per core; a light headless run
    sends from its own loop (no start-up cost); a live view always sends from another process,
    so rendering can never delay a request.
    """
    if requested is not None:
        return requested
    cores = cores or usable_cores()
    needed = max(1, min(cores, math.ceil(max_rate / PER_WORKER_RPS.get(client, 15.0))))
    if not live_view and needed == 1 and max_rate <= LOCAL_MAX_RPS:
        return 0
    return needed


def usable_cores() -> int:
    """The cores this process may run on (taskset, cgroup cpusets), not all the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def split_concurrency(max_concurrency: int | None, workers: int) -> list[int | None]:
    """Share a max_concurrency between workers (the first ones take the remainder)."""
    if max_concurrency is None:
        return [None] * workers
    base, extra = divmod(max_concurrency, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


# ---------------------------------------------------------------------- the coordinator's side


class LocalWorker:
    """Sends from the coordinator's own event loop: no start-up cost, for light headless runs."""

    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, on_records: OnRecords,
                 max_concurrency: int | None, on_sessions: OnSessions | None = None):
        self.index = 0
        self.name = "local"
        self.dispatcher = Sender(suite, endpoint, stamped(on_records, self.name), max_concurrency,
                                 stamped_sessions(on_sessions or _nobody, self.name))
        self._cpu0 = time.process_time()

    def launch(self) -> None:
        pass

    async def start(self, factory: prompts.PromptFactory) -> None:
        await self.dispatcher.start(factory)

    async def run_phase(self, share: PhaseShare) -> int:
        return await self.dispatcher.run_phase(share)

    @property
    def progress(self) -> tuple[int, int]:
        """(phase, sent so far in it)"""
        return self.dispatcher.phase, self.dispatcher.sent

    @property
    def cpu_seconds(self) -> float:
        return time.process_time() - self._cpu0

    def stop(self, now: bool = False) -> None:
        self.dispatcher.stop(now)

    async def close(self) -> None:
        await self.dispatcher.close()


class RemoteWorker:
    """A sender elsewhere — a child process, or a Dask worker — driven by messages.

    If it dies, the requests it had in flight are recorded as `worker_died` (it took their
    records with it), and `run_phase` raises EndpointError naming the worker and how it ended.
    Subclasses carry the messages (`_send`, and `_handle` for each one that arrives) and say
    where the sender runs (`name`, `what`).
    """

    def __init__(self, index: int, name: str, suite: RunSuite, on_records: OnRecords,
                 on_sessions: OnSessions | None = None):
        self.index = index
        self.name = name
        self.suite = suite
        self._on_records = on_records
        self._on_sessions = on_sessions or _nobody
        self.progress: tuple[int, int] = (0, 0)      # (phase, sent so far in it)
        self.cpu_seconds = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[Any, asyncio.Future] = {}   # by answer type ((PhaseDone, phase))
        self._dead: str | None = None
        self._closing = False
        # the phases being sent, until each is done (session phases overlap), and for each the
        # seqs of the records received (of a session phase: the sessions that ended)
        self._shares: dict[int, PhaseShare] = {}
        self._recorded: dict[int, set[int]] = {}

    @property
    def what(self) -> str:
        """The worker as the user knows it, for messages: 'worker process 1 (pid 123)'."""
        raise NotImplementedError

    def launch(self) -> None:
        pass

    async def start(self, factory: prompts.PromptFactory) -> None:
        self._loop = asyncio.get_running_loop()
        await self._request(Ready, Start(factory))

    async def run_phase(self, share: PhaseShare) -> int:
        self._shares[share.phase], self._recorded[share.phase] = share, set()
        try:
            done = await self._request((PhaseDone, share.phase), RunPhase(self._outgoing(share)))
        finally:
            del self._shares[share.phase], self._recorded[share.phase]
        return done.sent

    def _outgoing(self, share: PhaseShare) -> PhaseShare:
        """The share as the sender's clock reads it (the same clock, for a local process)."""
        return share

    def stop(self, now: bool = False) -> None:
        if self._dead is None:
            self._send(Stop(now))

    async def close(self) -> None:
        raise NotImplementedError

    async def _request(self, answer: Any, message: Any) -> Any:
        if self._dead is not None:
            raise EndpointError(self._dead)
        future = asyncio.get_running_loop().create_future()
        self._waiting[answer] = future
        self._send(message)
        return await future

    def _send(self, message: Any) -> None:
        raise NotImplementedError

    def on_records(self, records: list[RequestRecord]) -> None:
        for rec in records:
            rec.worker = self.name
        self._on_records(records)

    def on_sessions(self, sessions: list[SessionRecord]) -> None:
        for s in sessions:
            s.worker = self.name
        self._on_sessions(sessions)

    def _handle(self, message: Any) -> None:
        if isinstance(message, Records):
            for rec in message.records:
                if rec.phase in self._recorded and not rec.session:
                    self._recorded[rec.phase].add(rec.seq)
            for s in message.sessions:
                if s.phase in self._recorded and not s.parent:
                    self._recorded[s.phase].add(int(s.session))
            self.on_records(message.records)
            if message.sessions:
                self.on_sessions(message.sessions)
        elif isinstance(message, Status):
            self.progress, self.cpu_seconds = (message.phase, message.sent), message.cpu_seconds
        elif isinstance(message, Failed):
            self._died(f"{self.what} failed: {message.message}")
        else:   # Ready, PhaseDone, Closed
            key: Any = type(message)
            if isinstance(message, PhaseDone):
                self.progress = (message.phase, message.sent)
                key = (PhaseDone, message.phase)
            future = self._waiting.pop(key, None)
            if future is not None and not future.done():
                future.set_result(message)

    def _died(self, reason: str) -> None:
        if self._dead is not None:
            return
        lost = self._lost_records()
        if lost:
            reason += (f"; its {len(lost)} request(s) in flight are recorded as {WORKER_DIED}")
            self.on_records(lost)
        self._dead = reason
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(EndpointError(reason))
        self._waiting.clear()

    def _lost_records(self) -> list[RequestRecord]:
        """Rows for the arrivals the dead worker had sent (reported, or due by now) but whose
        records never came back: they were in flight when it died. A session phase's sessions
        that had started and not ended each lose the request they had in flight (its turn is
        not known here: 0) and end as errors."""
        now = time.monotonic()
        lost: list[RequestRecord] = []
        ended: list[SessionRecord] = []
        for share in list(self._shares.values()):
            recorded = self._recorded[share.phase]
            phase, sent = self.progress
            due = int(np.searchsorted(share.deadlines, now, side="right"))
            reached = max(due, sent if phase == share.phase and share.scripts is None else 0)
            for i in range(reached):
                seq = int(share.seqs[i])
                if seq in recorded:
                    continue
                kind = int(share.load_types[i])
                if share.scripts is not None:
                    script = share.scripts[i]
                    rec = RequestRecord(share.phase, share.target_rps, kind, float(share.deadlines[i]),
                                        0, 0, 0, session=str(seq), t_end=now)
                    ended.append(SessionRecord(str(seq), "", share.phase, kind,
                                               float(share.deadlines[i]), now, script.turns,
                                               end="error"))
                else:
                    lt = self.suite.load_types[kind]
                    rec = RequestRecord(share.phase, share.target_rps, kind,
                                        float(share.deadlines[i]), lt.prompt_length,
                                        lt.prefix_length, lt.output_length, seq=seq, t_end=now)
                rec.fail(WORKER_DIED, "WorkerDied",
                         f"{self.what} died with this request in flight")
                lost.append(rec)
                recorded.add(seq)
        if ended:
            self.on_sessions(ended)
        return lost


class ProcessWorker(RemoteWorker):
    """A child process with its own event loop and client, driven over a pipe."""

    def __init__(self, index: int, suite: RunSuite, endpoint: EndpointSpec, on_records: OnRecords,
                 max_concurrency: int | None, on_sessions: OnSessions | None = None):
        super().__init__(index, f"process-{index}", suite, on_records, on_sessions)
        ctx = multiprocessing.get_context("spawn")
        self._conn, self._child_conn = ctx.Pipe()
        self._process = ctx.Process(target=worker_main, name=f"tokenflood-worker-{index}",
                                    args=(self._child_conn, suite, endpoint, max_concurrency),
                                    daemon=True)

    @property
    def what(self) -> str:
        return f"worker process {self.index} (pid {self._process.pid})"

    def launch(self) -> None:
        """Start the process now, so its imports overlap the warm-up."""
        _start_resource_tracker()
        self._process.start()
        self._child_conn.close()

    async def start(self, factory: prompts.PromptFactory) -> None:
        threading.Thread(target=read_pipe, name=f"tokenflood-worker-{self.index}-reader",
                         args=(self._conn, asyncio.get_running_loop(), self._handle,
                               self._on_eof),
                         daemon=True).start()
        await super().start(factory)

    async def close(self) -> None:
        self._closing = True          # from here on, the pipe closing is expected
        if self._dead is None and self._loop is not None:
            try:
                await asyncio.wait_for(self._request(Closed, Close()), timeout=10)
            except (TimeoutError, EndpointError):
                pass
        await asyncio.to_thread(self._process.join, 5)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()

    def _send(self, message: Any) -> None:
        try:
            self._conn.send(message)
        except OSError:            # a broken pipe: the process is gone
            self._on_eof()

    def _on_eof(self) -> None:
        if self._closing or self._dead is not None:
            return
        # The pipe can close a moment before the process is reaped: wait for its exit status.
        assert self._loop is not None
        self._loop.run_in_executor(None, self._process.join, 2).add_done_callback(
            lambda _: self._died(f"worker process {self.index} (pid {self._process.pid}) "
                                 f"{describe_exit(self._process.exitcode)}"))


def stamped(on_records: OnRecords, worker: str) -> OnRecords:
    """`on_records`, with each record naming the worker that sent it."""
    def stamp(records: list[RequestRecord]) -> None:
        for rec in records:
            rec.worker = worker
        on_records(records)
    return stamp


def _nobody(sessions: list[SessionRecord]) -> None:
    """Where session records go when nobody asked for them (a run without sessions)."""


def stamped_sessions(on_sessions: OnSessions, worker: str) -> OnSessions:
    """`on_sessions`, with each session naming the worker that ran it."""
    def stamp(sessions: list[SessionRecord]) -> None:
        for s in sessions:
            s.worker = worker
        on_sessions(sessions)
    return stamp


def describe_exit(code: int | None) -> str:
    """'was killed by SIGKILL', 'exited with status 1', 'ended (exit status unknown)'."""
    if code is None:
        return "ended (exit status unknown)"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def read_pipe(conn, loop: asyncio.AbstractEventLoop, handle: Callable[[Any], None],
              on_eof: Callable[[], None]) -> None:
    """Blocking reads on a thread of their own, handed to the event loop: messages of any size,
    and no event loop (uvloop sets O_NONBLOCK on fds it watches) can break a message in half."""
    try:
        while True:
            message = conn.recv()
            loop.call_soon_threadsafe(handle, message)
    except (EOFError, OSError):
        try:
            loop.call_soon_threadsafe(on_eof)
        except RuntimeError:     # the loop has already closed
            pass
    except RuntimeError:         # the loop closed while a message was being handed over
        pass


def _start_resource_tracker() -> None:
    """multiprocessing hands sys.stderr's file descriptor to its resource tracker when it first
    starts it; under a TUI sys.stderr is a capture object without one, so use the real stderr."""
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        sys.stderr = sys.__stderr__
        resource_tracker.ensure_running()
    finally:
        sys.stderr = saved


# ---------------------------------------------------------------------- the child process


def worker_main(conn, suite: RunSuite, endpoint: EndpointSpec, max_concurrency: int | None) -> None:
    """Entry point of a worker process."""
    # Ctrl-C, a hangup (SSH dropping) and a group SIGTERM reach the whole process group; only
    # the coordinator decides how to stop, so the in-flight requests are still recorded.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    serve(conn, suite, endpoint, max_concurrency)


def serve(conn, suite: RunSuite, endpoint: EndpointSpec, max_concurrency: int | None) -> None:
    """One sender on an event loop of its own, driven over `conn` (a pipe's end, or anything
    with its send, recv and close) until it is told to close or `conn` ends."""
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        loops.run(_serve(conn, suite, endpoint, max_concurrency))
    except BaseException as exc:  # report, never print a traceback into the user's terminal
        try:
            conn.send(Failed(f"{exc!r}\n{traceback.format_exc(limit=5)}"))
        except OSError:
            pass
    finally:
        conn.close()


async def _serve(conn, suite: RunSuite, endpoint: EndpointSpec, max_concurrency: int | None) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue = asyncio.Queue()
    outbox: list[RequestRecord] = []
    ended: list[SessionRecord] = []
    cpu0 = time.process_time()

    def flush() -> None:
        if outbox or ended:
            conn.send(Records(outbox[:], ended[:]))
            outbox.clear()
            ended.clear()

    def on_records(records: list[RequestRecord]) -> None:
        outbox.extend(records)
        if len(outbox) >= FLUSH_RECORDS:
            flush()

    def on_sessions(sessions: list[SessionRecord]) -> None:
        ended.extend(sessions)

    def gone() -> None:          # the coordinator is gone: stop and leave
        commands.put_nowait(None)

    async def report() -> None:
        every = max(1, round(STATUS_INTERVAL_S / FLUSH_INTERVAL_S))
        tick = 0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            flush()
            tick += 1
            if tick % every == 0:
                conn.send(Status(dispatcher.phase, dispatcher.sent, time.process_time() - cpu0))

    async def run_phase(share: PhaseShare) -> None:
        try:
            sent = await dispatcher.run_phase(share)
        except Exception as exc:
            conn.send(Failed(f"{exc!r}\n{traceback.format_exc(limit=5)}"))
            return
        flush()                  # every record of the phase before the phase is done
        conn.send(PhaseDone(share.phase, sent))

    dispatcher = Sender(suite, endpoint, on_records, max_concurrency, on_sessions)
    threading.Thread(target=read_pipe, args=(conn, loop, commands.put_nowait, gone),
                     name="commands", daemon=True).start()
    reporter = asyncio.create_task(report())
    phases: set[asyncio.Task] = set()        # session phases overlap
    try:
        while True:
            command = await commands.get()
            if isinstance(command, Start):
                await dispatcher.start(command.factory)
                conn.send(Ready())
            elif isinstance(command, RunPhase):
                # what is alive now (the phase's scripts, the modules) lives on: out of the
                # collector's full scans (see GC_THRESHOLDS)
                gc.freeze()
                task = asyncio.create_task(run_phase(command.share))
                phases.add(task)
                task.add_done_callback(phases.discard)
            elif isinstance(command, Stop):
                dispatcher.stop(command.now)
            elif isinstance(command, Close) or command is None:
                if command is None:
                    dispatcher.stop()
                if phases:
                    await asyncio.gather(*phases)
                await dispatcher.close()
                flush()
                if command is not None:
                    conn.send(Closed())
                return
    finally:
        reporter.cancel()
