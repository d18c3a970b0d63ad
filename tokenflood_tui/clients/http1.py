"""A small HTTP/1.1 client for one POST with a streamed response, on asyncio protocols.

Body bytes go to the caller's `on_body(data, now)` from the protocol's `data_received`, with `now`
taken the moment the event loop read them: no stream reader, no task wake-up per chunk. That is
where the time of a token's arrival is best known, and it costs about half the CPU per request of
an aiohttp client, which is what keeps timing right when hundreds of streams are open.

What it speaks: HTTP/1.1 over TCP or TLS, keep-alive, responses framed by chunked encoding,
Content-Length or connection close. No proxies, redirects or compression (it asks for identity).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

OnBody = Callable[[bytes, float], bool]   # (data, monotonic arrival time) -> keep reading?
CONNECT_TIMEOUT_S = 10.0
IDLE_LIMIT_S = 4.0      # an idle connection older than this is closed, not reused: servers close
                        # idle ones (vLLM's uvicorn after 5 s), and a request must not race that
CLOSES_AFTER_RESPONSE_S = 1.0   # a server that closes an idle connection this soon does it always
DRAIN_S = 1.0           # after the reader is done, how long the rest of a body may take
_MAX_HEAD = 64 * 1024


def _drop(data: bytes, now: float) -> bool:
    return True


class CannotConnect(OSError):
    """No connection could be opened (refused, unknown host, timeout, TLS failure)."""


class ConnectionClosed(ConnectionError):
    """The server closed the connection before the response was complete."""

    def __init__(self, message: str, before_response: bool):
        super().__init__(message)
        self.before_response = before_response


class ProtocolError(ValueError):
    """The server's bytes are not an HTTP/1.1 response."""


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]       # names lower-cased


class Exchange:
    """One request on a connection: `head` resolves with the response's status line and headers,
    `done` when its body has ended. Bodies of non-2xx responses are kept in `body`."""

    __slots__ = ("on_body", "head", "done", "body", "response")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_body: OnBody):
        self.on_body = on_body
        self.head: asyncio.Future[Response] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.body = bytearray()
        self.response: Response | None = None


class HttpConnection(asyncio.Protocol):
    """One connection; at most one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = True
        self.idle_since = 0.0
        self.closed_at = 0.0
        self._exchange: Exchange | None = None
        self._buffer = b""
        self._seen_bytes = False
        # body framing of the current response
        self._mode = ""            # "chunked", "length" or "close"
        self._left = 0             # bytes left in the current chunk, or of the Content-Length body
        self._skip = 0             # CRLF bytes after a chunk still to skip
        self._trailers = False     # the last chunk was seen; reading trailers up to the empty line
        self._ended = False        # ... and the empty line too: the chunked body is complete

    # ----------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.closed_at = time.monotonic()
        exchange = self._exchange
        if exchange is None:
            return
        if exchange.response is not None and self._mode == "close":
            self._finish()
            return
        before = not self._seen_bytes
        reason = f" ({exc})" if exc else ""
        what = "before responding" if before else "before the response was complete"
        self._fail(ConnectionClosed(f"the server closed the connection {what}{reason}", before))

    def eof_received(self) -> bool:
        return False               # close our side too; connection_lost follows

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        exchange = self._exchange
        if exchange is None:       # bytes nobody asked for: this connection cannot be trusted
            self.reusable = False
            return
        self._seen_bytes = True
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        try:
            if exchange.response is None:
                rest = self._read_head(exchange, data)
                if rest is None:
                    return
                data = rest
            self._read_body(exchange, data, now)
        except Exception as exc:   # never leave the exchange waiting for its timeout
            if not isinstance(exc, ProtocolError):
                exc = ProtocolError(f"unreadable response: {exc!r}")
            self._fail(exc)
            self.abort()

    # ----------------------------------------------------------------- requests

    def start(self, request: bytes, on_body: OnBody) -> Exchange:
        """Write a request; its response will be read into a new Exchange."""
        assert self._exchange is None and self.transport is not None
        exchange = Exchange(asyncio.get_running_loop(), on_body)
        self._exchange = exchange
        self._seen_bytes = False
        self._buffer = b""
        self._trailers = False
        self._ended = False
        self._skip = 0
        self.transport.write(request)
        return exchange

    def abort(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()

    # ----------------------------------------------------------------- parsing

    def _read_head(self, exchange: Exchange, data: bytes) -> bytes | None:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if len(data) > _MAX_HEAD:
                raise ProtocolError("the response headers are larger than 64 KiB")
            self._buffer = data
            return None
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1.1 response: {lines[0][:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        rest = data[end + 4:]
        if 100 <= status < 200:    # an interim response (100 Continue): the real one follows
            return self._read_head(exchange, rest) if rest else None
        response = Response(status, parts[2] if len(parts) > 2 else "", headers)
        exchange.response = response
        connection = headers.get("connection", "").lower()
        if "close" in connection or (parts[0] == "HTTP/1.0" and "keep-alive" not in connection):
            self.reusable = False
        if "identity" not in (headers.get("content-encoding") or "identity"):
            raise ProtocolError(f"unsupported Content-Encoding {headers['content-encoding']!r}")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._mode = "chunked"
            self._left = 0
        elif "content-length" in headers:
            self._mode = "length"
            try:
                self._left = int(headers["content-length"])
            except ValueError:
                raise ProtocolError(f"bad Content-Length {headers['content-length']!r}") from None
        elif status in (204, 304):
            self._mode, self._left = "length", 0
        else:
            self._mode = "close"
            self.reusable = False
        exchange.head.set_result(response)
        if self._mode == "length" and self._left == 0:
            self._finish()
        return rest

    def _read_body(self, exchange: Exchange, data: bytes, now: float) -> None:
        if self._mode == "chunked":
            data = self._dechunk(data)
        elif self._mode == "length":
            if len(data) > self._left:
                self.reusable = False      # more than the body: a confused server
                data = data[:self._left]
            self._left -= len(data)
        wants_more = self._give(exchange, data, now) if data else True
        if self._exchange is not exchange:
            return
        if self._ended if self._mode == "chunked" else (self._mode == "length" and not self._left):
            self._finish()
        elif not wants_more:
            self._drain(exchange)

    def _drain(self, exchange: Exchange) -> None:
        """The reader has what it wants (say, `[DONE]`) before the body ended: its wait ends now.
        The rest of the body (typically the chunked terminator, a moment later) is read and
        dropped, so the connection can carry another request; if it does not end soon, the
        connection is dropped instead."""
        if not self.reusable:          # nothing to keep it for
            self.abort()
            self._finish()
            return
        exchange.on_body = _drop
        if not exchange.done.done():
            exchange.done.set_result(None)
        asyncio.get_running_loop().call_later(DRAIN_S, self._drained_or_dropped, exchange)

    def _drained_or_dropped(self, exchange: Exchange) -> None:
        if self._exchange is exchange:
            self.abort()
            self._finish()

    @property
    def busy(self) -> bool:
        """An exchange is still reading (or draining) on this connection."""
        return self._exchange is not None

    def _dechunk(self, data: bytes) -> bytes:
        """The payload bytes in `data`; keeps partial framing for the next read."""
        pieces = []
        pos, end = 0, len(data)
        while pos < end:
            if self._left:
                piece = data[pos:pos + self._left]
                pieces.append(piece)
                pos += len(piece)
                self._left -= len(piece)
                if not self._left:
                    self._skip = 2
            elif self._skip:
                taken = min(self._skip, end - pos)
                pos += taken
                self._skip -= taken
            else:
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    if end - pos > 4096:
                        raise ProtocolError("a chunk-size line longer than 4 KiB")
                    self._buffer = data[pos:]
                    break
                line = data[pos:line_end]
                pos = line_end + 2
                if self._trailers:
                    if not line:               # the empty line after the trailers: done
                        self._ended = True
                        if pos < end:
                            self.reusable = False
                        break
                    continue
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {line[:40]!r}") from None
                if size == 0:
                    self._trailers = True
                else:
                    self._left = size
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    def _give(self, exchange: Exchange, data: bytes, now: float) -> bool:
        response = exchange.response
        assert response is not None
        if 200 <= response.status < 300:
            return exchange.on_body(data, now)
        exchange.body += data              # an error body, for the error message
        return True

    def _finish(self) -> None:
        exchange, self._exchange = self._exchange, None
        if exchange is not None and not exchange.done.done():
            exchange.done.set_result(None)

    def _fail(self, exc: Exception) -> None:
        exchange, self._exchange = self._exchange, None
        if exchange is None:
            return
        for future in (exchange.head, exchange.done):
            if not future.done():
                future.set_exception(exc)
                future.exception()      # marked retrieved: the caller may await only one


class ConnectionPool:
    """Keep-alive connections to one origin, with `spare` idle ones opened ahead of need so a
    request rarely pays for a handshake (TCP, or TLS to a hosted API) inside its TTFT.

    A server that closes every connection right after its response (llama.cpp does, although it
    says keep-alive) turns `pooling` off, seen when a connection closes before it is back in the
    pool, or within a second of it, or drops under a request; from then on every request gets a
    fresh connection and none is opened ahead."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        default = self.port == (443 if parts.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default else f"{host}:{self.port}"
        self.pooling = True
        self.spare = 0
        self._idle: list[HttpConnection] = []
        self._open: set[HttpConnection] = set()
        self._opening: set[asyncio.Task] = set()

    async def acquire(self) -> tuple[HttpConnection, bool]:
        """A connection and whether it was reused from the pool."""
        conn = self._take_idle()
        self._top_up()
        if conn is not None:
            return conn, True
        return await self.connect(), False

    def keep_spare(self, spare: int) -> None:
        """From now on keep `spare` idle connections open; start opening them now."""
        closed = [conn for conn in self._idle if conn.closed]
        self._idle = [conn for conn in self._idle if not conn.closed]
        for conn in closed:
            self._forget_closed(conn)
        self.spare = spare
        self._top_up()

    @property
    def idle(self) -> int:
        return len(self._idle)

    def _take_idle(self) -> HttpConnection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                self._forget_closed(conn)
            elif conn.busy or now - conn.idle_since > IDLE_LIMIT_S:   # still draining, or stale
                self.release(conn, clean=False)
            else:
                return conn
        return None

    def _forget_closed(self, conn: HttpConnection) -> None:
        self._open.discard(conn)
        if conn.closed_at - conn.idle_since < CLOSES_AFTER_RESPONSE_S:
            self.stop_pooling()

    def _top_up(self) -> None:
        missing = self.spare - len(self._idle) - len(self._opening)
        if not self.pooling or missing <= 0:
            return
        for _ in range(missing):
            task = asyncio.get_running_loop().create_task(self._open_spare())
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def _open_spare(self) -> None:
        try:
            conn = await self.connect()
        except CannotConnect:
            return          # a request that needs one will connect and report why it cannot
        conn.idle_since = time.monotonic()
        self.release(conn, clean=True)

    async def connect(self) -> HttpConnection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, conn = await loop.create_connection(
                    HttpConnection, self.host, self.port, ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None)
        except TimeoutError:
            raise CannotConnect(f"no connection within {CONNECT_TIMEOUT_S:g} s") from None
        except OSError as exc:      # refused, unknown host, TLS verification failed, ...
            raise CannotConnect(str(exc) or type(exc).__name__) from None
        self._open.add(conn)
        return conn

    def stop_pooling(self) -> None:
        """From now on one connection per request (for servers that close after every response)."""
        self.pooling = False
        idle, self._idle = self._idle, []
        for conn in idle:
            self.release(conn, clean=True)

    def release(self, conn: HttpConnection, clean: bool) -> None:
        """Back to the pool if the exchange ended cleanly and the connection can carry another."""
        if clean and conn.closed and conn.reusable and self.pooling:
            # closed at once after a complete response that did not say it was the last
            self.stop_pooling()
        if clean and self.pooling and conn.reusable and not conn.closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            return
        self._open.discard(conn)
        if not conn.closed and conn.transport is not None:
            conn.transport.close() if clean else conn.transport.abort()

    async def close(self) -> None:
        self.spare = 0
        for task in self._opening:
            task.cancel()
        for conn in self._open:
            if conn.transport is not None and not conn.closed:
                conn.transport.close()
        self._open.clear()
        self._idle.clear()
        await asyncio.sleep(0)      # let the transports run their close callbacks
