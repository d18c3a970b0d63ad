"""Where requests are sent from: the coordinator's own event loop, or worker processes.

A worker process has one event loop and one client; it streams its records back to the
coordinator over a pipe. Timing happens only there, so neither the coordinator's bookkeeping nor
a live view in the same process can delay a request. CLOCK_MONOTONIC is system-wide on Linux and
macOS, so deadlines and timestamps mean the same in every process.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

from . import loops, prompts
from .dispatch import Dispatcher, PhaseShare
from .errors import EndpointError
from .records import RequestRecord
from .specs import EndpointSpec, RunSuite

OnRecords = Callable[[list[RequestRecord]], None]
STATUS_INTERVAL_S = 0.1       # a worker reports its sent count and CPU time this often
FLUSH_INTERVAL_S = 0.02       # ... and its finished records at least this often
FLUSH_RECORDS = 256
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


class LocalWorker:
    """Sends from the coordinator's own event loop: no start-up cost, for light headless runs."""

    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, on_records: OnRecords,
                 max_concurrency: int | None):
        self.dispatcher = Dispatcher(suite, endpoint, self._emit, max_concurrency)
        self.on_records = on_records
        self._cpu0 = time.process_time()

    def _emit(self, event: str, *args: Any) -> None:
        if event == "records":
            self.on_records(args[0])

    def launch(self) -> None:
        pass

    async def start(self, factory: prompts.PromptFactory) -> None:
        await self.dispatcher.start(factory)

    async def run_phase(self, share: PhaseShare) -> int:
        await self.dispatcher.run_phase(share)
        return self.dispatcher.sent

    @property
    def sent(self) -> int:
        return self.dispatcher.sent

    @property
    def cpu_seconds(self) -> float:
        return time.process_time() - self._cpu0

    def stop(self) -> None:
        self.dispatcher.stop()

    async def close(self) -> None:
        await self.dispatcher.close()


class ProcessWorker:
    """A child process with its own event loop and client, driven over a pipe."""

    def __init__(self, index: int, suite: RunSuite, endpoint: EndpointSpec, on_records: OnRecords,
                 max_concurrency: int | None):
        self.index = index
        self.on_records = on_records
        self.sent = 0
        self.cpu_seconds = 0.0
        ctx = multiprocessing.get_context("spawn")
        self._conn, self._child_conn = ctx.Pipe()
        self._process = ctx.Process(target=worker_main, name=f"tokenflood-worker-{index}",
                                    args=(self._child_conn, suite, endpoint, max_concurrency),
                                    daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[str, asyncio.Future] = {}
        self._dead: str | None = None
        self._closing = False

    def launch(self) -> None:
        """Start the process now, so its imports overlap the warm-up."""
        _start_resource_tracker()
        self._process.start()
        self._child_conn.close()

    async def start(self, factory: prompts.PromptFactory) -> None:
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=read_pipe, name=f"tokenflood-worker-{self.index}-reader",
                         args=(self._conn, self._loop, self._handle, self._on_eof),
                         daemon=True).start()
        await self._request("ready", ("start", factory))

    async def run_phase(self, share: PhaseShare) -> int:
        return await self._request("phase_done", ("phase", share))

    def stop(self) -> None:
        if self._dead is None:
            self._send(("stop",))

    async def close(self) -> None:
        self._closing = True          # from here on, the pipe closing is expected
        if self._dead is None and self._loop is not None:
            try:
                await asyncio.wait_for(self._request("closed", ("close",)), timeout=10)
            except (asyncio.TimeoutError, EndpointError):
                pass
        await asyncio.to_thread(self._process.join, 5)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()

    async def _request(self, answer: str, message: tuple) -> Any:
        if self._dead is not None:
            raise EndpointError(self._dead)
        future = asyncio.get_running_loop().create_future()
        self._waiting[answer] = future
        self._send(message)
        return await future

    def _send(self, message: tuple) -> None:
        try:
            self._conn.send(message)
        except (BrokenPipeError, OSError) as exc:
            self._died(f"worker {self.index} is gone ({exc})")

    def _on_eof(self) -> None:
        if not self._closing:
            self._died(f"worker process {self.index} exited unexpectedly "
                       f"(exit code {self._process.exitcode})")

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "records":
            self.on_records(message[1])
        elif kind == "status":
            self.sent, self.cpu_seconds = message[1], message[2]
        elif kind == "error":
            self._died(f"worker {self.index} failed: {message[1]}")
        else:   # ready, phase_done (sent count), closed
            if kind == "phase_done":
                self.sent = message[1]
            future = self._waiting.pop(kind, None)
            if future is not None and not future.done():
                future.set_result(message[1] if len(message) > 1 else None)

    def _died(self, reason: str) -> None:
        if self._dead is not None:
            return
        self._dead = reason
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(EndpointError(reason))
        self._waiting.clear()


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
    try:
        loops.run(_serve(conn, suite, endpoint, max_concurrency))
    except BaseException as exc:  # report, never print a traceback into the user's terminal
        try:
            conn.send(("error", f"{exc!r}\n{traceback.format_exc(limit=5)}"))
        except OSError:
            pass
    finally:
        conn.close()


async def _serve(conn, suite: RunSuite, endpoint: EndpointSpec, max_concurrency: int | None) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue = asyncio.Queue()
    outbox: list[RequestRecord] = []
    cpu0 = time.process_time()

    def flush() -> None:
        if outbox:
            conn.send(("records", outbox[:]))
            outbox.clear()

    def emit(event: str, *args: Any) -> None:
        if event == "records":
            outbox.extend(args[0])
            if len(outbox) >= FLUSH_RECORDS:
                flush()
        elif event == "phase_done":
            flush()
            conn.send(("phase_done", args[1]))

    def gone() -> None:          # the coordinator is gone: stop and leave
        commands.put_nowait(("gone",))

    async def report() -> None:
        every = max(1, round(STATUS_INTERVAL_S / FLUSH_INTERVAL_S))
        tick = 0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            flush()
            tick += 1
            if tick % every == 0:
                conn.send(("status", dispatcher.sent, time.process_time() - cpu0))

    async def run_phase(share: PhaseShare) -> None:
        try:
            await dispatcher.run_phase(share)
        except Exception as exc:
            conn.send(("error", f"{exc!r}\n{traceback.format_exc(limit=5)}"))

    dispatcher = Dispatcher(suite, endpoint, emit, max_concurrency)
    threading.Thread(target=read_pipe, args=(conn, loop, commands.put_nowait, gone),
                     name="commands", daemon=True).start()
    reporter = asyncio.create_task(report())
    phase: asyncio.Task | None = None
    try:
        while True:
            command = await commands.get()
            kind = command[0]
            if kind == "start":
                await dispatcher.start(command[1])
                conn.send(("ready",))
            elif kind == "phase":
                phase = asyncio.create_task(run_phase(command[1]))
            elif kind == "stop":
                dispatcher.stop()
            elif kind in ("close", "gone"):
                if kind == "gone":
                    dispatcher.stop()
                if phase is not None:
                    await phase
                await dispatcher.close()
                flush()
                if kind == "close":
                    conn.send(("closed",))
                return
    finally:
        reporter.cancel()
