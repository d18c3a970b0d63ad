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
from ..metrics.records import CANCELLED, CUT, STREAM_ERROR, RequestRecord, SessionRecord
from ..specs import EndpointSpec, LoadTestSuite, RunSuite, SearchSuite
from .conversation import Conversation, Fastest
from .sessions import SessionScript

STOP_GRACE_S = 3.0        # in-flight requests get this long to finish after a stop

OnRecords = Callable[[list[RequestRecord]], None]
OnSessions = Callable[[list[SessionRecord]], None]


@dataclass(frozen=True, slots=True)
class PhaseShare:
    """The arrivals of one phase this worker sends: deadlines are absolute monotonic times."""

    phase: int
    target_rps: float
    deadlines: np.ndarray     # float64, ascending
    load_types: np.ndarray    # int (a session phase: each session's type)
    seqs: np.ndarray          # int, the run-wide sequence number of each request (or session)
    scripts: list[SessionScript] | None = None   # a session phase: each session's script


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def share_rate(deadlines: np.ndarray) -> float:
    """Arrivals per second in one worker's share of a phase."""
    if len(deadlines) < 2:
        return 1.0
    return (len(deadlines) - 1) / max(float(deadlines[-1] - deadlines[0]), 1e-3)


class Sender:
    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, on_records: OnRecords,
                 max_concurrency: int | None = None, on_sessions: OnSessions | None = None):
        self.suite = suite
        self.endpoint = endpoint
        self.on_records = on_records
        self.on_sessions = on_sessions or (lambda sessions: None)
        self.client: Client | None = None
        self.factory: prompts.PromptFactory | None = None
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._in_flight: set[asyncio.Task] = set()
        self._dispatch_task: asyncio.Task | None = None
        self._stopped = asyncio.Event()
        self._sleeping: set[asyncio.Future[None]] = set()   # sessions waiting in _until
        self._stop_now = asyncio.Event()      # a second stop: no grace for in-flight requests
        self.phase = 0                       # the newest phase this sender was given
        self.sent_in: dict[int, int] = {}    # requests handed to the client, by phase
        self.fastest: Fastest = {}           # the sessions' slowdown reference (conversation.py)

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

    def stop(self, now: bool = False) -> None:
        """Stop sending at once; in-flight requests get STOP_GRACE_S, then are cancelled (`now`:
        cancelled at once, also when a first stop's grace is running)."""
        self._stopped.set()
        for wake in self._sleeping:          # sessions waiting to send: they end now
            _wake(wake)
        if now:
            self._stop_now.set()
        if self._dispatch_task is not None:
            self._dispatch_task.cancel()

    @property
    def sent(self) -> int:
        """Requests handed to the client so far in the newest phase."""
        return self.sent_in.get(self.phase, 0)

    async def run_phase(self, share: PhaseShare) -> int:
        """Send the share on its deadlines, then drain; returns how many were sent."""
        if share.scripts is not None:
            return await self.run_sessions(share)
        self.phase, self.sent_in[share.phase] = share.phase, 0
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
        return self.sent_in.pop(share.phase)

    async def _dispatch(self, share: PhaseShare) -> None:
        client, factory = self.client, self.factory
        assert client is not None and factory is not None
        load_types = self.suite.load_types
        loop = asyncio.get_running_loop()
        for deadline, kind, seq in zip(share.deadlines.tolist(), share.load_types.tolist(),
                                       share.seqs.tolist(), strict=True):
            lt = load_types[kind]
            # Build the request before its deadline, so synthesis never delays the send.
            prepared = client.prepare(factory.messages(kind, seq), lt.output_length,
                                      reasoning_budget=lt.reasoning_budget_tokens)
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
                self._count(rec)
                await self._send(prepared, rec)
            else:
                async with self._slots:
                    self._count(rec)
                    await self._send(prepared, rec)
        except asyncio.CancelledError:
            if rec.t_send is None and self._slots is not None:
                self._count(rec)    # stopped while waiting for a slot: counted, never sent
            rec.t_end = rec.t_end or time.monotonic()
            rec.fail(CANCELLED, "Cancelled", "the run stopped before the request finished")
            self.on_records([rec])
            raise
        except Exception as exc:   # a bug of ours: keep the record and say so, never lose it
            rec.t_end = rec.t_end or time.monotonic()
            assert self.client is not None
            rec.fail(STREAM_ERROR, "InternalError", self.client.scrub(
                f"tokenflood failed on this request ({type(exc).__name__}: {exc}); please report it"))
        self.on_records([rec])

    def _count(self, rec: RequestRecord) -> None:
        self.sent_in[rec.phase] = self.sent_in.get(rec.phase, 0) + 1

    # ------------------------------------------------------------------ sessions

    async def run_sessions(self, share: PhaseShare) -> int:
        """Start each session of the share at its deadline (open loop: whatever the server does)
        and run its requests causally (the next one goes the think or tool time after the reply);
        returns when every session ended. Sessions of an earlier phase may still be running:
        phases overlap, as sessions do in reality."""
        assert share.scripts is not None
        self.phase, self.sent_in[share.phase] = share.phase, 0
        sessions: set[asyncio.Task] = set()
        if not self._stopped.is_set():
            assert self.client is not None
            self.client.open_ahead(share_rate(share.deadlines))
            loop = asyncio.get_running_loop()
            for deadline, sid, script in zip(share.deadlines.tolist(), share.seqs.tolist(),
                                             share.scripts, strict=True):
                if not await self._until(deadline):
                    break
                conversation = self._conversation(script, str(sid), share)
                task = loop.create_task(self._session(conversation, deadline))
                sessions.add(task)
                task.add_done_callback(sessions.discard)
        await self._drain_sessions(sessions)
        return self.sent_in.pop(share.phase)

    def _conversation(self, script: SessionScript, session: str, share: PhaseShare) -> Conversation:
        suite = self.suite
        assert isinstance(suite, (LoadTestSuite, SearchSuite)) and self.factory is not None
        return Conversation(suite, self.factory, script, session, share.phase, share.target_rps,
                            fastest=self.fastest)

    def _child(self, parent: Conversation, script: SessionScript) -> Conversation:
        """A sub-agent of `parent`: a session of its own ("12-1", "12-2", … across its
        fan-outs), with a fresh context."""
        parent.children_started += 1
        return Conversation(parent.suite, parent.factory, script,
                            f"{parent.session}-{parent.children_started}", parent.phase,
                            parent.target_rate, parent.session, parent.fastest)

    async def _session(self, conversation: Conversation, due: float) -> float:
        """One session from its first request to its end; returns the time it ended. Sub-agents
        run as sessions of their own, on this sender, and are joined before the next request."""
        assert self.client is not None and isinstance(self.suite, (LoadTestSuite, SearchSuite))
        cut_at = due + self.suite.max_session_seconds
        end: str | None = None
        rec = conversation.record
        try:
            while True:
                children = conversation.children_before_next()
                if children:
                    started = time.monotonic()
                    ends = await asyncio.gather(*(
                        self._session(self._child(conversation, child), started)
                        for child in children))
                    due = max(ends)
                    rec.wait_s += due - started
                prepared = conversation.next_request(due)
                if prepared is None:              # the context limit ended it
                    break
                request = self.client.prepare(prepared.messages, prepared.max_tokens,
                                              prepared.tools, conversation.type.reasoning_budget_tokens)
                if not await self._until(due):
                    end = CUT
                    break
                await self._request(request, prepared.record)
                if not conversation.replied(prepared.record):
                    break
                wait = conversation.wait_s()
                rec.wait_s += wait
                due = (prepared.record.t_end or time.monotonic()) + wait
                if due > cut_at:
                    end = CUT
                    break
        except asyncio.CancelledError:
            end = CUT
            raise
        finally:
            now = time.monotonic()
            self.on_sessions([conversation.finish(now, end)])
        return now

    async def _until(self, deadline: float) -> bool:
        """Sleep until `deadline` (never early: uvloop's timers may fire up to a millisecond
        before it); False if the run was stopped meanwhile. A bare future and a timer, which
        stop() wakes early: thousands of sessions wait at once, and a wait_for on the stop event
        would cost each wait a task and an O(waiters) removal from the event's queue (with 10,000
        sessions waiting, turns went out a second late at p99: benchmarks/sessions_in_flight.py)."""
        loop = asyncio.get_running_loop()
        delay = deadline - time.monotonic()
        while delay > 0 and not self._stopped.is_set():
            wake = loop.create_future()
            timer = loop.call_later(delay, _wake, wake)
            self._sleeping.add(wake)
            try:
                await wake
            finally:
                self._sleeping.discard(wake)
                timer.cancel()
            delay = deadline - time.monotonic()
        return not self._stopped.is_set()

    async def _drain_sessions(self, sessions: set[asyncio.Task]) -> None:
        """Until every session ended; after a stop, sessions waiting end at once and requests in
        flight get the grace, then are cancelled (recorded as cancelled, their sessions cut)."""
        pending = set(sessions)
        if pending and not self._stopped.is_set():
            stop_wait = asyncio.ensure_future(self._stopped.wait())
            waits: set[asyncio.Future[Any]] = {asyncio.gather(*pending, return_exceptions=True),
                                               stop_wait}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
        await self._grace(set(sessions))

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
        await self._grace(set(self._in_flight))

    async def _grace(self, pending: set[asyncio.Task]) -> None:
        """After a stop: up to STOP_GRACE_S for `pending` to finish (less after a second stop),
        then cancel the rest (recorded as cancelled)."""
        if not pending:
            return
        if not self._stop_now.is_set():
            now = asyncio.ensure_future(self._stop_now.wait())
            done = asyncio.ensure_future(asyncio.wait(pending))
            await asyncio.wait({now, done}, timeout=STOP_GRACE_S,
                               return_when=asyncio.FIRST_COMPLETED)
            now.cancel()
            done.cancel()
        late = [task for task in pending if not task.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
