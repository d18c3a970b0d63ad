"""Built-in client for servers that speak OpenAI chat completions (vLLM, llama.cpp, SGLang, ...).

Requests go over our own small HTTP/1.1 client (`http1`): a chunk's arrival is stamped when the
event loop reads it, and the whole path costs about half the CPU of an aiohttp client, so timing
holds at hundreds of open streams. Connections are kept alive and pooled, and
before each phase a few are opened ahead of need (`open_ahead`), so no measured request pays for a
TCP or TLS handshake. llama.cpp closes the connection after every stream although it advertises
keep-alive; the pool notices and gives every request a fresh connection from then on (a request
that finds its pooled connection dropped before any response byte is sent once more).
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..metrics.ratelimits import read_refusal
from ..metrics.records import CONNECTION_ERROR, HTTP_ERROR, STREAM_ERROR, RequestRecord
from .base import Client, basic_auth
from .http1 import CannotConnect, ConnectionClosed, ConnectionPool, ProtocolError

SPARE_S = 0.05     # idle connections kept open ahead: this many seconds of arrivals (at least 2)


class OpenAIHttpClient(Client):
    name = "openai"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.url = f"{endpoint.http_base_url}/chat/completions"
        self.pool = ConnectionPool(self.url)
        headers = {"Host": self.pool.authority, "User-Agent": "tokenflood", "Accept": "*/*",
                   "Accept-Encoding": "identity", "Content-Type": "application/json"}
        auth = basic_auth(self.url)                       # http://user:pass@host/v1
        if auth:
            headers["Authorization"] = auth
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for name, value in self.extra_headers.items():   # the spec's win, whatever the case
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            headers[name] = value
        self.headers = headers
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if any(c in f"{k}{v}" for k, v in headers.items() for c in "\r\n\0") or not lines.isascii():
            raise ConfigError("extra_headers: names and values must be single-line ASCII text")
        parts = urlsplit(self.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._head = f"POST {target} HTTP/1.1\r\n{lines}".encode()
        self._extras = self.request_extras()

    async def close(self) -> None:
        await self.pool.close()

    def open_ahead(self, rate: float) -> None:
        self.pool.keep_spare(max(2, math.ceil(rate * SPARE_S)))

    def prepare(self, messages: list[dict[str, Any]], max_tokens: int,
                tools: list[dict[str, Any]] | None = None,
                reasoning_budget: int | None = None) -> bytes:
        """The whole request, bytes ready for the socket. A reasoning budget raises max_tokens
        (the answer's tokens stay its own); OpenAI's protocol has no thinking budget, but a
        self-hosted server gets llama.cpp's own body key for it, `reasoning_budget_tokens` (its
        sampler ends the thought there; vLLM and SGLang ignore keys they do not know)."""
        body: dict[str, Any] = {"model": self.endpoint.model, "messages": messages,
                                "max_tokens": max_tokens + (reasoning_budget or 0), "stream": True,
                                "stream_options": {"include_usage": True}}
        if reasoning_budget and self.endpoint.self_hosted:
            body["reasoning_budget_tokens"] = reasoning_budget
        body.update(self._extras)
        if tools:
            body["tools"], body["tool_choice"] = tools, "none"
        data = json.dumps(body, separators=(",", ":")).encode()
        return self._head + b"Content-Length: %d\r\n\r\n" % len(data) + data

    async def send(self, prepared: bytes, rec: RequestRecord) -> None:
        stream = SseStream(rec, self.scrub)
        conn, clean, responded = None, False, False
        rec.t_send = time.monotonic()
        try:
            conn, reused = await self.pool.acquire()
            exchange = conn.start(prepared, stream.feed)
            try:
                response = await exchange.head
            except ConnectionClosed as exc:
                if not (reused and exc.before_response):
                    raise
                # The server dropped a pooled keep-alive connection: nothing reached it, so send
                # again on a fresh connection and stop pooling.
                self.pool.release(conn, clean=False)
                self.pool.stop_pooling()
                conn = None
                rec.t_send = time.monotonic()
                conn = await self.pool.connect()
                exchange = conn.start(prepared, stream.feed)
                response = await exchange.head
            responded = True
            await exchange.done
            clean = True
        except CannotConnect as exc:
            rec.t_end = time.monotonic()
            rec.fail(CONNECTION_ERROR, "CannotConnect", self.scrub(f"cannot connect to {self.url}: {exc}"))
            return
        except (ConnectionError, OSError, ProtocolError) as exc:
            rec.t_end = time.monotonic()
            kind = type(exc).__name__
            if responded:
                rec.fail(STREAM_ERROR, kind, self.scrub(f"the stream broke off: {exc or kind}"))
            else:
                rec.fail(CONNECTION_ERROR, kind, self.scrub(f"{self.url}: {exc or kind}"))
            return
        finally:
            if conn is not None:
                self.pool.release(conn, clean)
            if rec.t_end is None:   # cancelled or timed out
                rec.t_end = time.monotonic()
        self.read_limits(rec, response.headers)
        if response.status >= 300:
            rec.t_end = time.monotonic()
            text = exchange.body.decode("utf-8", errors="replace")
            message = error_text(text, response.status, self.scrub)
            throttle = read_refusal(response.status, text, response.headers)
            if throttle is not None:
                rec.throttled(throttle, message, response.status)
            else:
                rec.fail(HTTP_ERROR, f"HTTP {response.status}", message, response.status)
            return
        if "x-queue-time" in response.headers:     # TGI's own timing of the request
            rec.stamp_server_headers(response.headers)
        if not rec.ok:
            return
        if not (stream.done or stream.finished):
            rec.fail(STREAM_ERROR, "IncompleteStream",
                     "the stream ended before the response finished (no finish_reason, no [DONE])")
        rec.stamp_end(stream.last_read, stream.usage)


# The keys that tell a plain token chunk from the rest without json.loads, which costs more than
# the rest of a chunk's handling together: a delta's text on either channel (its JSON string
# captured as sent), and what needs the whole chunk read (usage, an error, tool calls, a finish).
_KEYS = re.compile(rb'"content"\s*:\s*"((?:[^"\\]|\\.)*)"'
                   rb'|"reasoning(?:_content)?"\s*:\s*"((?:[^"\\]|\\.)*)"'
                   rb'|"(?:usage|error|tool_calls)"|"finish_reason"\s*:\s*"')


class SseStream:
    """Reads a chat-completions event stream as it arrives and tells the record what came when."""

    __slots__ = ("rec", "scrub", "usage", "finished", "done", "last_read", "buffer")

    def __init__(self, rec: RequestRecord, scrub):
        self.rec = rec
        self.scrub = scrub
        self.usage: Any = None
        self.finished = False
        self.done = False
        self.last_read = time.monotonic()
        self.buffer = b""

    def feed(self, data: bytes, now: float) -> bool:
        """Take bytes read at `now`; return whether more are wanted."""
        self.last_read = now
        buffer = self.buffer + data if self.buffer else data
        start = 0
        while not self.done and self.rec.ok:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if line.startswith(b"data:"):     # skip blank separators, comments, `event:` lines
                self._event(line[5:].strip(), now)
        self.buffer = buffer[start:]
        return not self.done and self.rec.ok

    def _event(self, data: bytes, now: float) -> None:
        rec = self.rec
        if data == b"[DONE]":
            self.done = True
            return
        if rec.response_id is not None and data[:1] == b"{" and data[-1:] == b"}":
            # Once the first chunk gave the id, a chunk with text on one channel and nothing
            # else of note is stamped from its bytes; any other goes on to be read in full.
            key = _KEYS.search(data)
            if key is None:                 # no text, no finish: nothing to stamp
                return
            if key.lastindex and _KEYS.search(data, key.end()) is None:
                answer, reasoning = key.groups()
                rec.stamp_chunk(now, answer, reasoning)
                return
        try:
            chunk = json.loads(data)
        except ValueError:
            rec.t_end = now
            rec.fail(STREAM_ERROR, "MalformedChunk", f"malformed stream chunk: {data[:120]!r}")
            return
        if not isinstance(chunk, dict):
            return
        if chunk.get("error"):
            rec.t_end = now
            rec.fail(STREAM_ERROR, "StreamError", error_text(json.dumps(chunk), None, self.scrub))
            return
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if "timings" in chunk:          # llama.cpp's own timing of the request
            rec.stamp_server_timings(chunk["timings"])
        if rec.response_id is None:
            rec.response_id = chunk.get("id") or ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            rec.stamp_chunk(now, delta.get("content") or delta.get("tool_calls"),
                            delta.get("reasoning_content") or delta.get("reasoning"))
            if choice.get("finish_reason"):
                self.finished = True


def error_text(body: str, status: int | None, scrub: Callable[[str], str] = str) -> str:
    """The human part of an error body: OpenAI's error.message, FastAPI's detail, or the text.

    `scrub` runs before anything is cut short (a secret cut in two would leave its first part)
    and again on the message taken out of the JSON (which may have un-escaped one)."""
    body = scrub(body)
    message: Any = None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = err.get("message") or err.get("msg")
        elif isinstance(err, str):
            message = err
        message = message or data.get("detail") or data.get("message")
    if not message:
        message = " ".join(body.split())[:300] or "(empty body)"
    message = scrub(str(message))[:500]
    return f"HTTP {status}: {message}" if status else message
