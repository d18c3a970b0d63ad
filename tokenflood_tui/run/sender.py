"""Sends one worker's share of each phase on absolute deadlines and reports what it measured.

A Sender runs in a worker process (or, for light headless runs, in the coordinator's own
event loop). It owns a client and hands every finished request (ok or failed) to `on_records`;
`run_phase` returns when the share is sent and drained. `phase` and `sent` (requests handed to
the client so far in that phase) can be read at any time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import prompts
from ..clients import make_client
from ..clients.base import Client
from ..metrics.records import CANCELLED, STREAM_ERROR, RequestRecord
from ..specs import EndpointSpec, RunSuite

STOP_GRACE_S = 3.0        # in-flight requests get this long to finish after a stop

OnRecords = Callable[[list[RequestRecord]], None]


@dataclass(frozen=True, slots=True)
class PhaseShare:
    """The arrivals of one phase this worker sends: deadlines are absolute monotonic times."""

    phase: int
    target_rps: float
    deadlines: np.ndarray     # float64, ascending
    load_types: np.ndarray    # int
    seqs: np.ndarray          # int, the run-wide sequence number of each request


def share_rate(deadlines: np.ndarray) -> float:
    """Arrivals per second in one worker's share of a phase."""
    if len(deadlines) < 2:
        return 1.0
    return (len(deadlines) - 1) / max(float(deadlines[-1] - deadlines[0]), 1e-3)


class Sender:
    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, on_records: OnRecords,
                 max_concurrency: int | None = None):
        self.suite = suite
        self.endpoint = endpoint
        self.on_records = on_records
        self.client: Client | None = None
        self.factory: prompts.PromptFactory | None = None
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._in_flight: set[asyncio.Task] = set()
        self._dispatch_task: asyncio.Task | None = None
        self._stopped = asyncio.Event()
        self.phase = 0
        self.sent = 0

    async def start(self, factory: prompts.PromptFactory) -> None:
        """Open the client and send one unrecorded request, so connection set-up (and litellm's
        lazy imports) never land in a measured request."""
        self.factory = factory
        self.client = make_client(self.endpoint)
        await self.client.start()
        rec = RequestRecord(0, 0.0, -1, time.monotonic(), 0, 0, 1)
        messages = [{"role": "user", "content": prompts.WARMUP_TEXT}]
        await self._send(self.client.prepare(messages, 1), rec)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    def stop(self) -> None:
        """Stop sending at once; in-flight requests get STOP_GRACE_S, then are cancelled."""
        self._stopped.set()
        if self._dispatch_task is not None:
            self._dispatch_task.cancel()

    async def run_phase(self, share: PhaseShare) -> int:
        """Send the share on its deadlines, then drain; returns how many were sent."""
        self.phase, self.sent = share.phase, 0
        if not self._stopped.is_set():
            assert self.client is not None
            self.client.open_ahead(share_rate(share.deadlines))
            self._dispatch_task = asyncio.create_task(self._dispatch(share))
            try:
                await self._dispatch_task
            except asyncio.CancelledError:
                if not self._stopped.is_set():
                    raise
            finally:
                self._dispatch_task = None
        await self._drain()
        return self.sent

    async def _dispatch(self, share: PhaseShare) -> None:
        client, factory = self.client, self.factory
        assert client is not None and factory is not None
        load_types = self.suite.load_types
        loop = asyncio.get_running_loop()
        for deadline, kind, seq in zip(share.deadlines.tolist(), share.load_types.tolist(),
                                       share.seqs.tolist(), strict=True):
            lt = load_types[kind]
            # Build the request before its deadline, so synthesis never delays the send.
            prepared = client.prepare(factory.messages(kind, seq), lt.output_length)
            # Never early: uvloop's timers have millisecond resolution and may fire up to a
            # millisecond before the deadline, so sleep again for what is left.
            delay = deadline - time.monotonic()
            while delay > 0:
                await asyncio.sleep(delay)
                delay = deadline - time.monotonic()
            rec = RequestRecord(share.phase, share.target_rps, kind, deadline, lt.prompt_length,
                                lt.prefix_length, lt.output_length, seq=seq)
            task = loop.create_task(self._request(prepared, rec))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _request(self, prepared: Any, rec: RequestRecord) -> None:
        rec.t_launch = time.monotonic()
        try:
            if self._slots is None:
                self.sent += 1
                await self._send(prepared, rec)
            else:
                async with self._slots:
                    self.sent += 1
                    await self._send(prepared, rec)
        except asyncio.CancelledError:
            if rec.t_send is None and self._slots is not None:
                self.sent += 1      # stopped while waiting for a slot: counted, never sent
            rec.t_end = rec.t_end or time.monotonic()
            rec.fail(CANCELLED, "Cancelled", "the run stopped before the request finished")
        except Exception as exc:   # a bug of ours: keep the record and say so, never lose it
            rec.t_end = rec.t_end or time.monotonic()
            assert self.client is not None
            rec.fail(STREAM_ERROR, "InternalError", self.client.scrub(
                f"tokenflood failed on this request ({type(exc).__name__}: {exc}); please report it"))
        self.on_records([rec])

    async def _send(self, prepared: Any, rec: RequestRecord) -> None:
        assert self.client is not None
        await self.client.send_within(prepared, rec, self.suite.request_timeout_seconds)

    async def _drain(self) -> None:
        """Let in-flight requests finish (each bounded by the request timeout); after a stop,
        only for a short grace, then cancel them so they are recorded as cancelled."""
        pending = set(self._in_flight)     # no request starts after dispatch, so this is all
        if pending and not self._stopped.is_set():
            stop_wait = asyncio.ensure_future(self._stopped.wait())
            waits: set[asyncio.Future[Any]] = {asyncio.gather(*pending, return_exceptions=True),
                                               stop_wait}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
        pending = set(self._in_flight)
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
