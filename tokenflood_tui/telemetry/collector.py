"""The collector: scrapes the server's /metrics about once a second on a thread and event loop
of its own, with its own connection and a short timeout, so no scrape ever runs on the loop that
times requests. The coordinator reads what it gathered (`take`) and asks for a scrape at each
phase boundary (`mark`).

A 404 or 501, or an answer that is not Prometheus' text format, switches it off for the run
with one line saying how to turn the engine's metrics on; a 401 or 403 with one saying to set
metrics_headers; a timeout or a refused connection only costs that scrape. The headers
(metrics_headers, env references resolved) go on every request it sends and nowhere else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from ..metrics.server import ServerPoint
from ..specs.secrets import public_url
from .engines import HOW_TO_ENABLE, LLAMACPP, Engine, ServerSample, detect, sample
from .prometheus import NotPrometheus, names, parse
from .series import point

INTERVAL_S = 1.0
TIMEOUT_S = 0.5
MAX_BODY = 16 * 1024 * 1024          # a /metrics page larger than this is not one
# this many scrapes in a row failing before any answered: the URL is wrong, not the server busy
UNREACHABLE_AFTER = 5


class Collector:
    """Scrapes `url` from `start()` to `stop()`; thread-safe where it says so."""

    def __init__(self, url: str, interval_s: float = INTERVAL_S, timeout_s: float = TIMEOUT_S,
                 headers: Mapping[str, str] | None = None):
        self.url = url
        self._headers = {"Accept": "text/plain", **(headers or {})}   # may hold a secret
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.phase = 0                           # the phase under way: set by the coordinator
        self.engine: Engine | None = None
        self.version: str | None = None          # the engine's, when it tells it
        self.off: str | None = None              # why it stopped, one line
        self.scrapes = 0
        self.failed = 0
        self.latest: ServerSample | None = None
        self.baseline: ServerSample | None = None
        self._points: list[ServerPoint] = []     # appended by the thread, taken by the owner
        self._raw: list[tuple[float, str]] = []  # (t, text) of the baseline and each mark
        self._taken = 0
        self._marks: list[concurrent.futures.Future] = []
        self._lock = threading.Lock()
        self._first = threading.Event()          # the first scrape is done (or failed)
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the owner's side

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tokenflood-telemetry",
                                        daemon=True)
        self._thread.start()

    async def first(self) -> ServerSample | None:
        """The first scrape (the baseline, before any load), once it is done; None when it
        failed or the collector is off."""
        await asyncio.to_thread(self._first.wait, self.timeout_s + 2.0)
        return self.baseline

    async def mark(self) -> ServerSample | None:
        """A scrape now (a phase boundary); None when it failed, timed out or the collector is
        off. Awaited from any event loop."""
        loop, wake = self._loop, self._wake
        if self.off is not None or self._stopping or loop is None or wake is None:
            return None
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self._marks.append(future)
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:                     # its loop just ended
            return None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s + 1.0)
        except (TimeoutError, concurrent.futures.CancelledError):
            return None

    def take(self) -> list[ServerPoint]:
        """The points gathered since the last call."""
        with self._lock:
            new = self._points[self._taken:]
            self._taken = len(self._points)
        return new

    def take_raw(self) -> list[tuple[float, str]]:
        """The raw text of the scrapes at the baseline and the phase boundaries since the last
        call, with their times."""
        with self._lock:
            raw, self._raw = self._raw, []
        return raw

    def forget_before(self, t: float) -> None:
        """Drop the points taken already and older than `t` (no open phase needs them): memory
        stays flat over an observation of days."""
        with self._lock:
            drop = 0
            while drop < self._taken and self._points[drop].t < t:
                drop += 1
            del self._points[:drop]
            self._taken -= drop

    def last_point(self) -> ServerPoint | None:
        with self._lock:
            return self._points[-1] if self._points else None

    def points(self) -> list[ServerPoint]:
        """Every point so far."""
        with self._lock:
            return list(self._points)

    def stop(self) -> None:
        """Stop scraping and wait for the thread (at most one scrape's timeout)."""
        self._stopping = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(self.timeout_s + 2.0)
        self._first.set()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        finally:
            self._first.set()
            self._resolve_marks(None)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                         auto_decompress=True) as http:
            next_at = time.monotonic()
            while not self._stopping and self.off is None:
                await self._scrape(http)
                self._first.set()
                now = time.monotonic()
                if now >= next_at:                # a scheduled scrape, not a mark between two
                    next_at += self.interval_s
                    if next_at < now:             # fell behind (a slow server): no catching up
                        next_at = now + self.interval_s
                try:
                    await asyncio.wait_for(self._wake.wait(), next_at - now)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def _scrape(self, http: aiohttp.ClientSession) -> None:
        sent = time.monotonic()
        try:
            async with http.get(self.url, headers=self._headers) as response:
                status = response.status
                body = await response.content.read(MAX_BODY)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.failed += 1
            if self.scrapes == 0 and self.failed >= UNREACHABLE_AFTER:
                why = "timed out" if isinstance(exc, TimeoutError) else (
                    str(exc).split(" [")[-1].rstrip("]") or type(exc).__name__)
                self.off = (f"server metrics off: {public_url(self.url)} did not answer "
                            f"{self.failed} times ({why}); set metrics_url in endpoint.yml to "
                            "where the engine publishes its metrics, or metrics: off")
            self._resolve_marks(None)
            return
        # stamped half-way: the server read its gauges somewhere between send and answer
        t = (sent + time.monotonic()) / 2.0
        text = body.decode("utf-8", "replace")
        if status in (404, 501) or status >= 400:
            self._switch_off(status, text)
            return
        engine = self.engine or detect(names(text))
        try:
            samples = parse(text, engine.names if engine is not None else None)
        except NotPrometheus:
            self._switch_off(status, text)
            return
        if engine is None:
            self.off = (f"server metrics off: {public_url(self.url)} publishes none of vLLM, "
                        "SGLang, TGI, llama.cpp or Dynamo's metrics; set metrics_url in "
                        "endpoint.yml to where the engine's are, or metrics: off")
            self._resolve_marks(None)
            return
        if self.engine is None:
            self.engine = engine
            self.version = await self._version(http, engine)
        now = sample(engine, samples, t)
        self.scrapes += 1
        before, self.latest = self.latest, now
        if self.baseline is None:
            self.baseline = now
        with self._lock:
            self._points.append(point(before, now, self.phase))
            if before is None or self._marks:        # the baseline, or a phase boundary
                self._raw.append((t, text))
        self._resolve_marks(now)

    async def _version(self, http: aiohttp.ClientSession, engine: Engine) -> str | None:
        """The engine's version from its own endpoint (vLLM /version, TGI /info, llama.cpp
        /props, SGLang /get_server_info); None when it does not tell."""
        if engine.version is None:
            return None
        path, key = engine.version
        parts = urlsplit(self.url)
        try:
            async with http.get(f"{parts.scheme}://{parts.netloc}{path}",
                                headers=self._headers) as response:
                if response.status != 200:
                    return None
                found = (await response.json(content_type=None)).get(key)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, AttributeError):
            return None
        return str(found)[:80] if isinstance(found, (str, int, float)) and found != "" else None

    def _switch_off(self, status: int, text: str) -> None:
        where = public_url(self.url)
        if status == 501 and "--metrics" in text:
            how = LLAMACPP.enable
            self.off = (f"server metrics off: llama.cpp serves no metrics at {where} (HTTP 501); "
                        f"{how}, or set metrics: off in endpoint.yml")
        elif status in (401, 403):
            self.off = (f"server metrics off: {where} answered HTTP {status} (not allowed); set "
                        "metrics_headers in endpoint.yml (e.g. Authorization: Bearer "
                        "${METRICS_TOKEN}), or metrics: off")
        elif status < 400:
            self.off = (f"server metrics off: {where} does not answer in Prometheus' text format; "
                        "set metrics_url in endpoint.yml to the engine's /metrics, or metrics: off")
        else:
            self.off = (f"server metrics off: {where} answered HTTP {status}; turn the engine's "
                        f"metrics on ({HOW_TO_ENABLE}), set metrics_url in endpoint.yml, or "
                        "metrics: off")
        self._resolve_marks(None)

    def _resolve_marks(self, found: ServerSample | None) -> None:
        with self._lock:
            marks, self._marks = self._marks, []
        for future in marks:
            if not future.done():
                future.set_result(found)
