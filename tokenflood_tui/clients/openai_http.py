"""Built-in client for servers that speak OpenAI chat completions (vLLM, llama.cpp, SGLang, ...).

One aiohttp session for the whole run. llama.cpp closes the connection after every stream although
it advertises keep-alive; a request that fails on such a stale pooled connection before any byte of
the response is retried once, and from then on the client opens a fresh connection per request.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import aiohttp

from ..records import CONNECTION_ERROR, HTTP_ERROR, STREAM_ERROR, RequestRecord
from .base import Client

_STALE_CONNECTION = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
_CONTENT_KEYS = ("content", "reasoning_content", "reasoning", "tool_calls")


class OpenAIHttpClient(Client):
    name = "openai"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.url = f"{endpoint.http_base_url}/chat/completions"
        self.headers = {"Content-Type": "application/json", **endpoint.extra_headers}
        if self.api_key:
            self.headers["Authorization"] = f"Bearer {self.api_key}"
        self._extras = self.request_extras()
        self._sessions: list[aiohttp.ClientSession] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = self._new_session(force_close=False)

    def _new_session(self, force_close: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0, force_close=force_close, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        session = aiohttp.ClientSession(connector=connector, timeout=timeout, read_bufsize=2**18)
        self._sessions.append(session)
        return session

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "start() first"
        return self._session

    async def close(self) -> None:
        for session in self._sessions:
            await session.close()
        self._sessions.clear()

    def prepare(self, messages: list[dict[str, str]], max_tokens: int) -> bytes:
        body = {"model": self.endpoint.model, "messages": messages, "max_tokens": max_tokens,
                "stream": True, "stream_options": {"include_usage": True}, **self._extras}
        return json.dumps(body, separators=(",", ":")).encode()

    async def send(self, prepared: bytes, rec: RequestRecord) -> None:
        try:
            resp = await self._post(prepared, rec)
        except aiohttp.ClientConnectorError as exc:
            rec.t_end = time.monotonic()
            rec.fail(CONNECTION_ERROR, type(exc).__name__,
                     self.scrub(f"cannot connect to {self.url}: {exc.os_error or exc}"))
            return
        except (aiohttp.ClientError, OSError) as exc:
            rec.t_end = time.monotonic()
            rec.fail(CONNECTION_ERROR, type(exc).__name__, self.scrub(f"{self.url}: {exc}"))
            return
        try:
            if resp.status >= 400:
                text = await resp.text(errors="replace")
                rec.t_end = time.monotonic()
                rec.fail(HTTP_ERROR, f"HTTP {resp.status}", self.scrub(error_text(text, resp.status)),
                         resp.status)
                return
            await self._read_stream(resp, rec)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            rec.t_end = time.monotonic()
            rec.fail(STREAM_ERROR, type(exc).__name__,
                     self.scrub(f"the stream broke off: {exc or type(exc).__name__}"))
        finally:
            if rec.t_end is None:  # cancelled or timed out mid-stream
                rec.t_end = time.monotonic()
            resp.release()

    async def _post(self, body: bytes, rec: RequestRecord) -> aiohttp.ClientResponse:
        rec.t_send = time.monotonic()
        try:
            return await self.session.post(self.url, data=body, headers=self.headers)
        except _STALE_CONNECTION:
            # The server closed a pooled keep-alive connection (llama.cpp does after every stream):
            # nothing reached it, so send again on a fresh connection and stop pooling.
            if not self.session.connector.force_close:
                self._session = self._new_session(force_close=True)
            rec.t_send = time.monotonic()
            return await self.session.post(self.url, data=body, headers=self.headers)

    async def _read_stream(self, resp: aiohttp.ClientResponse, rec: RequestRecord) -> None:
        stream = SseStream(rec, self.scrub)
        # Raw reads, split here: far cheaper than aiohttp's line iterator, and every event in one
        # read shares its arrival time, which is when those bytes reached us.
        async for data in resp.content.iter_any():
            stream.feed(data, time.monotonic())
            if stream.done or not rec.ok:
                break
        if not rec.ok:
            return
        rec.t_end = time.monotonic()
        if not (stream.done or stream.finished):
            rec.fail(STREAM_ERROR, "IncompleteStream",
                     "the stream ended before the response finished (no finish_reason, no [DONE])")
        apply_usage(rec, stream.usage)


# A chunk whose delta carries non-empty text (content or reasoning) or tool calls, and a chunk
# that finishes its choice. Used to skip json.loads for the many plain content chunks.
_CONTENT = re.compile(rb'"(?:content|reasoning_content|reasoning)"\s*:\s*"(?!")|"tool_calls"\s*:\s*\[')
_FINISH = re.compile(rb'"finish_reason"\s*:\s*"')


class SseStream:
    """What a chat-completions event stream has said so far; stamps the record as it goes."""

    __slots__ = ("rec", "scrub", "usage", "finished", "done", "last", "buffer")

    def __init__(self, rec: RequestRecord, scrub):
        self.rec = rec
        self.scrub = scrub
        self.usage: Any = None
        self.finished = False
        self.done = False
        self.last = 0.0
        self.buffer = b""

    def feed(self, data: bytes, now: float) -> None:
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

    def _event(self, data: bytes, now: float) -> None:
        rec = self.rec
        if data == b"[DONE]":
            self.done = True
            return
        if (rec.response_id is not None and data[:1] == b"{" and data[-1:] == b"}"
                and b'"usage"' not in data and b'"error"' not in data):
            self._saw(_CONTENT.search(data) is not None, _FINISH.search(data) is not None, now)
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
            rec.fail(STREAM_ERROR, "StreamError", self.scrub(error_text(json.dumps(chunk), None)))
            return
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if rec.response_id is None:
            rec.response_id = chunk.get("id") or ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            self._saw(any(delta.get(k) for k in _CONTENT_KEYS), bool(choice.get("finish_reason")),
                      now)

    def _saw(self, content: bool, finish: bool, now: float) -> None:
        rec = self.rec
        if content:
            if rec.t_first is None:
                rec.t_first = now
            else:
                rec.itl_ms.append((now - self.last) * 1000.0)
            self.last = now
            rec.content_chunks += 1
        if finish:
            self.finished = True


def apply_usage(rec: RequestRecord, usage: Any) -> None:
    """Token counts from the server's usage; without it, count content chunks and say so."""
    if isinstance(usage, dict):
        rec.prompt_tokens = usage.get("prompt_tokens")
        rec.output_tokens = usage.get("completion_tokens")
        details = usage.get("prompt_tokens_details") or {}
        rec.cached_tokens = details.get("cached_tokens") if isinstance(details, dict) else None
    if rec.output_tokens is None and rec.ok:
        rec.output_tokens = rec.content_chunks
        rec.output_tokens_estimated = True


def error_text(body: str, status: int | None) -> str:
    """The human part of an error body: OpenAI's error.message, FastAPI's detail, or the text."""
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
    message = str(message)[:500]
    return f"HTTP {status}: {message}" if status else message
