"""What every provider test server shares: a thread of its own, timing, faults and its truth.

Each server runs an aiohttp app on 127.0.0.1 (a free port) in its own thread and event loop, so
it keeps answering while a test blocks on a `tokenflood` subprocess. It records, per request,
what it received and what it sent (`Truth`): the figures a client's results are checked against.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

_TOKEN = re.compile(r"\s*[A-Za-z0-9]+|\s*[^\sA-Za-z0-9]")
_WORDS = (" the keeper climbed the stairs of the lighthouse and watched the grey sea roll in"
          " under a low sky while gulls cried").split(" ")[1:]


def count_tokens(text: str) -> int:
    """The servers' own tokenizer: a word with its leading space, or one punctuation mark."""
    return len(_TOKEN.findall(text))


def output_tokens(n: int) -> list[str]:
    """n tokens of text, one word (with its leading space) each."""
    return [f" {_WORDS[i % len(_WORDS)]}" for i in range(n)]


@dataclass
class Truth:
    """One request as the server saw it. Times are time.monotonic() (one clock per machine)."""

    route: str
    received: float
    max_tokens: int | None = None
    status: int = 200
    prompt_tokens: int | None = None
    output_tokens: int = 0
    usage_sent: bool = False          # whether the response carried the counts above
    response_id: str | None = None
    first_token: float | None = None  # the first content was written
    end: float | None = None
    auth: str | None = None           # the credential the request carried (key or access key id)

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token is None else (self.first_token - self.received) * 1000

    @property
    def e2e_ms(self) -> float | None:
        return None if self.end is None else (self.end - self.received) * 1000


@dataclass
class Faults:
    """Forced errors. `statuses` go, in order, to the first load requests (max_tokens equal to
    `load_max_tokens`, so warm-up and calibration requests are spared); `every_request` answers
    every request with that status (a bad key, a missing permission)."""

    statuses: list[int] = field(default_factory=list)
    load_max_tokens: int | None = None
    every_request: int | None = None


class ProviderServer:
    """Base class: subclasses add routes and the provider's error shape."""

    def __init__(self, *, ttft_ms: float = 20.0, itl_ms: float = 2.0, faults: Faults | None = None):
        self.ttft_ms = ttft_ms
        self.itl_ms = itl_ms
        self.faults = faults or Faults()
        self.truth: list[Truth] = []
        self._load_seen = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- to override ---------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def error_response(self, status: int) -> web.Response:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def load_truth(self) -> list[Truth]:
        """The load requests (not warm-up or calibration), in arrival order."""
        return [t for t in self.truth if t.max_tokens == self.faults.load_max_tokens]

    def begin(self, route: str, max_tokens: int | None, auth: str | None = None) -> Truth:
        truth = Truth(route, time.monotonic(), max_tokens, auth=auth)
        self.truth.append(truth)
        return truth

    def forced_status(self, truth: Truth) -> int | None:
        """The status this request must fail with, if any (and record it)."""
        status = self.faults.every_request
        if status is None and truth.max_tokens == self.faults.load_max_tokens:
            if self._load_seen < len(self.faults.statuses):
                status = self.faults.statuses[self._load_seen]
            self._load_seen += 1
        if status is not None:
            truth.status = status
            truth.end = time.monotonic()
        return status

    async def pace(self, truth: Truth, index: int) -> None:
        """Wait until token `index` is due: TTFT for the first, ITL for each after."""
        await asyncio.sleep((self.ttft_ms if index == 0 else self.itl_ms) / 1000.0)

    def wrote_token(self, truth: Truth) -> None:
        if truth.first_token is None:
            truth.first_token = time.monotonic()
        truth.output_tokens += 1

    # -- thread --------------------------------------------------------------------------------
    def __enter__(self) -> ProviderServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.add_routes(self.routes())
            runner = web.AppRunner(app, access_log=None)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, "127.0.0.1", 0)
                loop.run_until_complete(site.start())
                self.port = site._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # report to the starting thread, do not hang it
                errors.append(exc)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
