"""litellm for every provider that does not speak OpenAI's protocol at a base_url.

litellm is imported here, lazily: it takes seconds and ~200 MB, so only runs that need it pay.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..records import CONNECTION_ERROR, HTTP_ERROR, STREAM_ERROR, TIMEOUT, RequestRecord
from .base import Client
from .openai_http import apply_usage


def import_litellm():
    """Import litellm offline-safe: the bundled price map, no network fetch, no retries."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    # litellm logs every streamed chunk for its callbacks by default: CPU on the timing path
    # that a load generator never uses.
    litellm.disable_streaming_logging = True
    litellm.turn_off_message_logging = True
    litellm.logging = False
    litellm.disable_end_user_cost_tracking = True
    return litellm


class LitellmClient(Client):
    name = "litellm"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self._litellm = import_litellm()
        spec = endpoint
        kwargs: dict[str, Any] = {"model": spec.litellm_model, "stream": True,
                                  "stream_options": {"include_usage": True},
                                  "num_retries": 0, "max_retries": 0}
        if spec.base_url:
            kwargs["api_base"] = spec.base_url
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if spec.api_version:
            kwargs["api_version"] = spec.api_version
        if self.extra_headers:
            kwargs["extra_headers"] = dict(self.extra_headers)
        extras = self.request_extras()
        if extras:
            kwargs["extra_body"] = extras
        kwargs.update(self.litellm_params)
        self._base = kwargs

    async def start(self) -> None:
        # One connection pool for every request, as litellm's docs advise for throughput.
        import aiohttp

        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._base["shared_session"] = self._session

    async def close(self) -> None:
        session = self._base.pop("shared_session", None)
        if session is not None:
            await session.close()

    def prepare(self, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
        return {**self._base, "messages": messages, "max_tokens": max_tokens}

    async def send(self, prepared: dict[str, Any], rec: RequestRecord) -> None:
        usage = None
        finished = False
        last = 0.0
        streaming = False
        rec.t_send = time.monotonic()
        try:
            stream = await self._litellm.acompletion(**prepared)
            streaming = True
            async for chunk in stream:
                now = time.monotonic()
                if rec.response_id is None:
                    rec.response_id = getattr(chunk, "id", None)
                chunk_usage = getattr(chunk, "usage", None)
                if chunk_usage:
                    usage = _usage_dict(chunk_usage)
                for choice in getattr(chunk, "choices", None) or ():
                    delta = getattr(choice, "delta", None)
                    if delta is not None and (
                            getattr(delta, "content", None)
                            or getattr(delta, "reasoning_content", None)
                            or getattr(delta, "tool_calls", None)):
                        if rec.t_first is None:
                            rec.t_first = now
                        else:
                            rec.itl_ms.append((now - last) * 1000.0)
                        last = now
                        rec.content_chunks += 1
                    if getattr(choice, "finish_reason", None):
                        finished = True
            rec.t_end = time.monotonic()
            if not finished and usage is None:
                rec.fail(STREAM_ERROR, "IncompleteStream", "the stream ended before the response finished")
        except Exception as exc:  # litellm maps every provider error to its own exception types
            rec.t_end = time.monotonic()
            self._fail(rec, exc, streaming)
        finally:
            if rec.t_end is None:
                rec.t_end = time.monotonic()
        apply_usage(rec, usage)

    def _fail(self, rec: RequestRecord, exc: Exception, streaming: bool) -> None:
        status = getattr(exc, "status_code", None)
        message = self.scrub(str(getattr(exc, "message", None) or exc))[:500]
        name = type(exc).__name__
        if streaming:   # litellm reports a broken stream as a 500 of its own making
            rec.fail(STREAM_ERROR, name, f"the stream broke off: {message}")
        elif isinstance(exc, self._litellm.Timeout):
            rec.fail(TIMEOUT, name, message)
        elif isinstance(exc, self._litellm.APIConnectionError) and status in (None, 500):
            rec.fail(CONNECTION_ERROR, name, message)
        elif isinstance(status, int) and status >= 400:
            rec.fail(HTTP_ERROR, f"HTTP {status}", f"HTTP {status}: {message}", status)
        else:
            rec.fail(STREAM_ERROR, name, message)


def _usage_dict(usage: Any) -> dict[str, Any]:
    if isinstance(usage, dict):
        return usage
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return {"prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
            "prompt_tokens_details": {"cached_tokens": cached}}
