"""Runs a suite: warm-up, calibration, phases on absolute deadlines, stop and abort (SPEC §4).

The engine knows nothing about who watches it: it calls a sink with records, log lines and
periodic snapshots, and stops when `stop()` is called (from any thread or a signal handler).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from . import prompts
from .clients.base import Client, make_client
from .clients.openai_http import error_text
from .errors import ConfigError, EndpointError
from .records import CANCELLED, CONNECTION_ERROR, OK, TIMEOUT, RequestRecord
from .schedule import PhasePlan
from .specs import EndpointSpec, RunSuite
from .stats import PhaseAccumulator, PhaseStats

STOP_GRACE_S = 3.0        # in-flight requests get this long to finish after a stop
ERROR_WINDOW = 30         # the error limit looks at this many most recent requests...
ERROR_MIN_SAMPLE = 10     # ...once at least this many have finished
PROBE_SEQ = 9_999_000     # sequence numbers for calibration prompts, far above any run's
PROBE_ATTEMPTS = 4


@dataclass(slots=True)
class RunSnapshot:
    """How the run stands, for live views: a few per second, never one per request."""

    stage: str                       # preparing, running, draining, finished
    phase: int                       # current phase, 1-based (0 before the first)
    total_phases: int
    phases: list[PhaseStats]
    elapsed_s: float                 # since the first phase started
    remaining_s: float               # scheduled load still to come (drain not included)
    in_flight: int


@dataclass(slots=True)
class RunOutcome:
    status: str                      # completed, interrupted, aborted
    message: str | None
    phases: list[PhaseStats]
    client: str
    token_counter: str
    template_tokens: int
    warnings: list[str] = field(default_factory=list)


class RunSink(Protocol):
    def started(self, t0: float) -> None: ...          # the first phase begins at monotonic t0
    def record(self, rec: RequestRecord) -> None: ...  # a phase request finished (ok or not)
    def log(self, level: str, message: str) -> None: ...   # info / warning / error
    def snapshot(self, snap: RunSnapshot) -> None: ...


class Engine:
    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, plans: list[PhasePlan],
                 sink: RunSink, snapshot_interval_s: float = 1.0):
        self.suite = suite
        self.endpoint = endpoint
        self.plans = plans
        self.sink = sink
        self.snapshot_interval_s = snapshot_interval_s
        self.accumulators = [
            PhaseAccumulator(p.phase, p.target_rps, p.length_s, p.requests, suite.percentiles, suite.slo)
            for p in plans]
        self.warnings: list[str] = []
        self.client: Client | None = None
        self.factory: prompts.PromptFactory | None = None
        self.token_counter = "none"
        self._stage = "preparing"
        self._current = 0
        self._t0: float | None = None
        self._seq = 0
        self._recent: deque[bool] = deque(maxlen=ERROR_WINDOW)
        self._status: str | None = None          # set once by stop/abort
        self._message: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = asyncio.Event()
        self._main: asyncio.Task | None = None
        self._dispatcher: asyncio.Task | None = None
        self._in_flight: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(suite.max_concurrency) if suite.max_concurrency else None

    # ------------------------------------------------------------------ control

    def stop(self, status: str = "interrupted", message: str | None = None) -> None:
        """Stop sending at once; in-flight requests get a short grace. Safe from any thread."""
        loop = self._loop
        if loop is None:
            self._status = self._status or status
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._on_stop(status, message)
        else:
            loop.call_soon_threadsafe(self._on_stop, status, message)

    def _on_stop(self, status: str, message: str | None) -> None:
        if self._status is not None:
            return
        self._status, self._message = status, message
        self._stopped.set()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        elif self._stage == "preparing" and self._main is not None:
            self._main.cancel()

    # ------------------------------------------------------------------ run

    async def run(self) -> RunOutcome:
        """Warm up, calibrate, run every phase; returns how it ended. EndpointError if unusable."""
        self._loop = asyncio.get_running_loop()
        if self._status is not None:
            return self._outcome()
        ticker = asyncio.create_task(self._tick())
        self.client = make_client(self.endpoint)
        await self.client.start()
        try:
            self._main = asyncio.create_task(self._prepare())
            try:
                await self._main
            except asyncio.CancelledError:
                if self._status is None:
                    raise
                return self._outcome()
            self._main = None
            self._t0 = time.monotonic()
            self.sink.started(self._t0)
            for plan in self.plans:
                if self._status is not None:
                    break
                await self._run_phase(plan)
            self._stage = "finished"
        finally:
            ticker.cancel()
            await self.client.close()
            self.sink.snapshot(self.snapshot())
        return self._outcome()

    def _outcome(self) -> RunOutcome:
        return RunOutcome(
            status=self._status or "completed", message=self._message,
            phases=[acc.stats() for acc in self.accumulators if acc.t_start is not None],
            client=self.client.name if self.client else self.endpoint.resolved_client,
            token_counter=self.token_counter,
            template_tokens=self.factory.template_tokens if self.factory else 0,
            warnings=self.warnings)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.sink.log("warning", message)

    # ------------------------------------------------------------------ preparation

    async def _prepare(self) -> None:
        client = self.client
        assert client is not None
        headers = dict(self.endpoint.extra_headers)
        if client.api_key:
            headers["Authorization"] = f"Bearer {client.api_key}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            counter = await prompts.make_token_counter(self.endpoint, session, headers)
            self.token_counter = counter.name
            self.sink.log("info", f"counting tokens with {counter.name}")
            vocabulary = await prompts.single_token_words(counter)
            instruction_tokens = await counter.count(prompts.INSTRUCTION)
            warmup_tokens = await counter.count(prompts.WARMUP_TEXT)
        template_tokens = await self._warm_up(warmup_tokens)
        self.factory = prompts.PromptFactory(self.suite.load_types, vocabulary, self.suite.seed,
                                             instruction_tokens, template_tokens)
        await self._calibrate()

    async def _warm_up(self, content_tokens: int) -> int:
        """Send the warm-up requests; return the chat template's token overhead they reveal."""
        client = self.client
        assert client is not None
        count = max(1, self.suite.warmup_requests)
        messages = [{"role": "user", "content": prompts.WARMUP_TEXT}]
        records = []
        for _ in range(count):
            rec = RequestRecord(0, 0.0, -1, time.monotonic(), 0, 0, prompts.WARMUP_MAX_TOKENS)
            await self._send(client.prepare(messages, prompts.WARMUP_MAX_TOKENS), rec)
            records.append(rec)
        ok = [r for r in records if r.ok]
        if not ok:
            raise EndpointError(await self._explain_failure(records[0]))
        if len(ok) < len(records):
            self.warn(f"{len(records) - len(ok)} of {len(records)} warm-up requests failed: "
                      f"{next(r for r in records if not r.ok).error_message}")
        measured = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
        if not measured:
            self.warn("the endpoint reports no usage.prompt_tokens: prompt lengths cannot be "
                      "calibrated and token counts will be estimates")
            return 0
        template = max(0, measured[-1] - content_tokens)
        self.sink.log("info", f"warm-up: {len(ok)}/{len(records)} ok; the chat template adds "
                              f"{template} tokens")
        return template

    async def _calibrate(self) -> None:
        """One full-size request per load type (max_tokens=1): exact lengths, context checked."""
        client, factory = self.client, self.factory
        assert client is not None and factory is not None
        for i, lt in enumerate(self.suite.load_types):
            if not factory.fits(i):
                raise ConfigError(
                    f"load type {i}: prompt_length {lt.prompt_length} leaves no room for a unique "
                    f"part: the chat template adds {factory.template_tokens} tokens and the prefix "
                    f"takes {lt.prefix_length}; raise prompt_length to at least "
                    f"{factory.template_tokens + lt.prefix_length + 1}")
            for attempt in range(2):
                rec = await self._probe(i)
                if rec.prompt_tokens is None:
                    return
                delta = lt.prompt_length - rec.prompt_tokens
                if delta == 0:
                    break
                if attempt == 0:
                    factory.adjust(i, delta)
                else:
                    self.warn(f"load type {i}: prompts measure {rec.prompt_tokens} tokens against "
                              f"a target of {lt.prompt_length}")
        self.sink.log("info", "calibrated prompt lengths for "
                              f"{len(self.suite.load_types)} load type(s)")

    async def _probe(self, index: int) -> RequestRecord:
        """A full-size prompt with max_tokens=1; transient errors (429, 5xx, network) are retried."""
        client, factory = self.client, self.factory
        assert client is not None and factory is not None
        lt = self.suite.load_types[index]
        for attempt in range(PROBE_ATTEMPTS):
            rec = RequestRecord(0, 0.0, index, time.monotonic(), lt.prompt_length, lt.prefix_length, 1)
            await self._send(client.prepare(factory.messages(index, PROBE_SEQ + index), 1), rec)
            if rec.ok:
                return rec
            transient = rec.http_status is None or rec.http_status == 429 or rec.http_status >= 500
            if not transient or attempt == PROBE_ATTEMPTS - 1:
                raise EndpointError(
                    f"load type {index} (prompt_length {lt.prompt_length}): the endpoint rejected "
                    f"a full-size prompt: {rec.error_message}")
            await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _explain_failure(self, rec: RequestRecord) -> str:
        url = self.endpoint.http_base_url
        if rec.status == CONNECTION_ERROR:
            return (f"cannot reach the endpoint at {url}: {rec.error_message}. Is the server "
                    "running? Check base_url in the endpoint spec.")
        if rec.http_status == 401 or rec.http_status == 403:
            var = self.endpoint.api_key_env_var
            hint = (f"check the key in ${var}" if var else
                    "set api_key_env_var to the name of the env var holding the key")
            return f"the endpoint refused the credentials ({rec.error_message}); {hint}"
        if rec.http_status == 404:
            served = await self._served_models()
            hint = f" The server serves: {', '.join(served)}." if served else ""
            return (f"the endpoint answered 404 for model {self.endpoint.model!r} at {url} "
                    f"({rec.error_message}). Check model and base_url in the endpoint spec.{hint}")
        if rec.status == TIMEOUT:
            return (f"the warm-up request timed out after {self.suite.request_timeout_seconds:g} s "
                    f"at {url}")
        return f"every warm-up request failed; the endpoint said: {rec.error_message}"

    async def _served_models(self) -> list[str]:
        if self.client is None or self.client.name != "openai":
            return []
        try:
            headers = {k: v for k, v in getattr(self.client, "headers", {}).items()
                       if k.lower() != "content-type"}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.get(f"{self.endpoint.http_base_url}/models", headers=headers) as r:
                    data = await r.json(content_type=None)
            return [str(m.get("id")) for m in data.get("data", [])][:10]
        except Exception:  # only a hint; the error message stands without it
            return []

    # ------------------------------------------------------------------ phases

    async def _run_phase(self, plan: PhasePlan) -> None:
        acc = self.accumulators[plan.phase - 1]
        self._current = plan.phase
        self._stage = "running"
        self.sink.log("info", f"phase {plan.phase}: {plan.target_rps:g} req/s for "
                              f"{plan.length_s:g} s ({plan.requests} requests)")
        acc.t_start = time.monotonic() + 0.001
        self._dispatcher = asyncio.create_task(self._dispatch(plan, acc))
        try:
            await self._dispatcher
        except asyncio.CancelledError:
            if self._status is None:
                raise
        self._dispatcher = None
        self._stage = "draining"
        await self._drain()
        acc.t_done = time.monotonic()
        stats = acc.stats()
        for message in stats.token_warnings():
            self.warn(message)

    async def _dispatch(self, plan: PhasePlan, acc: PhaseAccumulator) -> None:
        """Launch each request at its absolute deadline; a late launch never shifts later ones."""
        client, factory = self.client, self.factory
        assert client is not None and factory is not None
        load_types = self.suite.load_types
        loop = asyncio.get_running_loop()
        t_start = acc.t_start
        assert t_start is not None
        for offset, kind in zip(plan.offsets_s.tolist(), plan.load_types.tolist()):
            lt = load_types[kind]
            seq = self._seq
            self._seq += 1
            # Build the request before its deadline, so synthesis never delays the send.
            prepared = client.prepare(factory.messages(kind, seq), lt.output_length)
            deadline = t_start + offset
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            rec = RequestRecord(plan.phase, plan.target_rps, kind, deadline, lt.prompt_length,
                                lt.prefix_length, lt.output_length)
            task = loop.create_task(self._request(prepared, rec, acc))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _request(self, prepared, rec: RequestRecord, acc: PhaseAccumulator) -> None:
        try:
            if self._slots is None:
                acc.on_send(time.monotonic())
                await self._send(prepared, rec)
            else:
                async with self._slots:
                    acc.on_send(time.monotonic())
                    await self._send(prepared, rec)
        except asyncio.CancelledError:
            if rec.t_send is None:   # stopped while waiting for a slot: it was never sent
                acc.sent += 1
            rec.t_end = rec.t_end or time.monotonic()
            rec.fail(CANCELLED, "Cancelled", "the run stopped before the request finished")
        self._finish(rec, acc)

    async def _send(self, prepared, rec: RequestRecord) -> None:
        client = self.client
        assert client is not None
        try:
            async with asyncio.timeout(self.suite.request_timeout_seconds):
                await client.send(prepared, rec)
        except TimeoutError:
            rec.t_end = time.monotonic()
            rec.fail(TIMEOUT, "Timeout",
                     f"no complete response within {self.suite.request_timeout_seconds:g} s")

    def _finish(self, rec: RequestRecord, acc: PhaseAccumulator) -> None:
        acc.add(rec)
        self.sink.record(rec)
        if rec.status == CANCELLED:
            return
        self._recent.append(rec.status != OK)
        if not rec.ok:
            self.sink.log("error", f"phase {rec.phase}: {rec.status}: {rec.error_message}")
        failures = sum(self._recent)
        if len(self._recent) >= ERROR_MIN_SAMPLE and failures / len(self._recent) > self.suite.error_limit:
            self.stop("aborted",
                      f"error limit: {failures} of the last {len(self._recent)} requests failed "
                      f"(error_limit {self.suite.error_limit:g}); last error: {rec.error_message}")

    async def _drain(self) -> None:
        """Let in-flight requests finish; after a stop, only for a short grace, then cancel."""
        pending = set(self._in_flight)
        if not pending:
            return
        if self._status is None:
            # No new requests start while draining, so `pending` is complete.
            all_done = asyncio.gather(*pending, return_exceptions=True)
            stop_wait = asyncio.ensure_future(self._stopped.wait())
            await asyncio.wait({all_done, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
        pending = set(self._in_flight)
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> RunSnapshot:
        now = time.monotonic()
        phases = [acc.stats(now) for acc in self.accumulators if acc.t_start is not None]
        remaining = sum(p.length_s for p in self.plans[self._current:])
        if phases and not phases[-1].finished:
            remaining += max(0.0, phases[-1].length_s - phases[-1].elapsed_s)
        return RunSnapshot(stage=self._stage, phase=self._current, total_phases=len(self.plans),
                           phases=phases,
                           elapsed_s=0.0 if self._t0 is None else now - self._t0,
                           remaining_s=remaining if self._status is None else 0.0,
                           in_flight=len(self._in_flight))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.snapshot_interval_s)
            self.sink.snapshot(self.snapshot())
