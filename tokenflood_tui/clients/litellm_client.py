"""litellm for every provider that does not speak OpenAI's protocol at a base_url.

litellm is imported here, lazily: it takes seconds and ~200 MB, so only runs that need it pay.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ..metrics.ratelimits import read_refusal
from ..metrics.records import CONNECTION_ERROR, HTTP_ERROR, STREAM_ERROR, TIMEOUT, RequestRecord
from .base import Client

if TYPE_CHECKING:
    from ..specs import EndpointSpec


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
        kwargs.update(spec.litellm_endpoint)     # api_base, or sagemaker_base_url for SageMaker
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if spec.api_version:
            kwargs["api_version"] = spec.api_version
        if self.extra_headers:
            kwargs["extra_headers"] = dict(self.extra_headers)
        extras = self.request_extras()
        effort = extras.pop("reasoning_effort", None)
        model = spec.deployment or spec.model
        # how many tokens the effort lets the model think, where the provider counts them in
        # max_tokens: the answer's tokens come on top, as with reasoning_budget_tokens
        self._effort_budget: int | None = None
        if effort is not None:      # litellm's own parameter: it maps it for each provider
            kwargs["reasoning_effort"] = effort
            self._effort_budget = mapped_budget(self._litellm, spec.provider, model,
                                                reasoning_effort=effort)
        # whether litellm's `thinking` sets a thinking budget of the provider's own (Anthropic's
        # budget_tokens, Gemini's thinkingBudget); OpenAI refuses it, and for vLLM litellm turns
        # it into an effort the user did not ask for
        self._thinking = mapped_budget(self._litellm, spec.provider, model,
                                       thinking={"type": "enabled", "budget_tokens": 1024}) == 1024
        self._self_hosted = spec.self_hosted
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

    def prepare(self, messages: list[dict[str, Any]], max_tokens: int,
                tools: list[dict[str, Any]] | None = None,
                reasoning_budget: int | None = None) -> dict[str, Any]:
        body = {**self._base, "messages": messages, "max_tokens": max_tokens}
        if reasoning_budget:
            # The budget comes on top of the answer's tokens (Anthropic wants max_tokens above
            # it; Gemini counts thoughts in maxOutputTokens), as litellm's `thinking` where the
            # provider has a budget, replacing the endpoint's effort; else as llama.cpp's body
            # key to a self-hosted server, as the built-in client sends it.
            body["max_tokens"] = max_tokens + reasoning_budget
            if self._thinking:
                body["thinking"] = {"type": "enabled", "budget_tokens": reasoning_budget}
                if self._effort_budget is not None:
                    body.pop("reasoning_effort", None)
            elif self._self_hosted:
                body["extra_body"] = {**body.get("extra_body", {}),
                                      "reasoning_budget_tokens": reasoning_budget}
        elif self._effort_budget:
            body["max_tokens"] = max_tokens + self._effort_budget
        if tools:
            body["tools"], body["tool_choice"] = tools, "none"
        return body

    async def send(self, prepared: dict[str, Any], rec: RequestRecord) -> None:
        usage = None
        finished = False
        stream = None
        rec.t_send = time.monotonic()
        try:
            stream = await self._litellm.acompletion(**prepared)
            self.read_limits(rec, _stream_headers(stream))
            reader = getattr(stream, "completion_stream", None)   # dropped when the stream ends
            async for chunk in stream:
                now = time.monotonic()
                if not rec.response_id:   # Azure's first chunk (the prompt filter's) has id ""
                    rec.response_id = getattr(chunk, "id", None) or None
                usage = getattr(chunk, "usage", None) or usage
                for choice in getattr(chunk, "choices", None) or ():
                    delta = getattr(choice, "delta", None)
                    if delta is not None:
                        # Each attribute of litellm's delta costs about a µs (three for an unset
                        # one), so the reasoning is read only until the answer began: the chunk
                        # that begins it may carry the last thought too, later ones are the
                        # answer's. (litellm maps a server's `reasoning` onto `reasoning_content`.)
                        answer = getattr(delta, "content", None) or getattr(delta, "tool_calls", None)
                        rec.stamp_chunk(now, answer, None if answer and rec.t_answer is not None
                                        else getattr(delta, "reasoning_content", None))
                    if getattr(choice, "finish_reason", None):
                        finished = True
            end = time.monotonic()
            if not finished and usage is None:
                rec.fail(STREAM_ERROR, "IncompleteStream", "the stream ended before the response finished")
            if usage is not None and not _provider_sent_usage(stream):
                # litellm made these counts up with its own tokenizer (SageMaker TGI streams none):
                # they are not the server's, so count the chunks with text and say so instead.
                usage = None
            elif getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None) \
                    and not _provider_counted_reasoning(stream, reader):
                # The reasoning tokens litellm put in the usage are its tokenizer's count of the
                # reasoning text, not the server's: the record counts the reasoning chunks
                # instead and says so.
                usage = {"prompt_tokens": getattr(usage, "prompt_tokens", None),
                         "completion_tokens": getattr(usage, "completion_tokens", None),
                         "prompt_tokens_details": getattr(usage, "prompt_tokens_details", None)}
        except Exception as exc:  # litellm maps every provider error to its own exception types
            end = time.monotonic()
            self._fail(rec, exc, stream is not None)
        except BaseException:       # cancelled or timed out (the caller marks which): ended now
            rec.t_end = time.monotonic()
            raise
        rec.stamp_end(end, usage)

    def _fail(self, rec: RequestRecord, exc: Exception, streaming: bool) -> None:
        litellm_status = getattr(exc, "status_code", None)
        server_status = _server_status(exc)
        message = self.scrub(str(getattr(exc, "message", None) or exc))[:500]
        name = type(exc).__name__
        headers, body = _error_response(exc)
        self.read_limits(rec, headers)
        status = server_status if server_status is not None else litellm_status
        throttle = (read_refusal(status if isinstance(status, int) else None,
                                 body or str(getattr(exc, "message", None) or exc), headers)
                    if rec.t_first is None else None)
        if throttle is not None:      # in the provider's words where its body gave them
            said = self.scrub(throttle.said) if throttle.said else message
            rec.throttled(throttle, f"HTTP {status}: {said}" if status else said,
                          status if isinstance(status, int) else None)
        elif server_status is not None and server_status >= 400 and rec.t_first is None:
            # The server answered the request with an error status. Gemini's request is sent
            # lazily, so its 4xx/5xx surface inside the stream iteration, before any chunk.
            remapped = (f" (litellm reports it as {litellm_status})"
                        if isinstance(litellm_status, int) and litellm_status != server_status else "")
            rec.fail(HTTP_ERROR, f"HTTP {server_status}",
                     f"HTTP {server_status}{remapped}: {message}", server_status)
        elif rec.t_first is None and _cannot_connect(exc):
            rec.fail(CONNECTION_ERROR, name, message)
        elif streaming:   # litellm reports a broken stream as a 500 of its own making
            rec.fail(STREAM_ERROR, name, f"the stream broke off: {message}")
        elif isinstance(exc, self._litellm.Timeout):
            rec.fail(TIMEOUT, name, message)
        elif isinstance(exc, self._litellm.APIConnectionError) and litellm_status in (None, 500):
            rec.fail(CONNECTION_ERROR, name, message)
        elif isinstance(litellm_status, int) and litellm_status >= 400:
            # No HTTP response in the exception: the code is litellm's (it maps e.g. Bedrock's and
            # SageMaker's 500 to 503), so say so rather than pass it off as the server's.
            rec.fail(HTTP_ERROR, f"HTTP {litellm_status}",
                     f"HTTP {litellm_status} (litellm's mapping; the server's own status is not in "
                     f"the error): {message}", litellm_status)
        else:
            rec.fail(STREAM_ERROR, name, message)


def effort_budget(spec: EndpointSpec) -> int | None:
    """The thinking budget litellm makes of the endpoint's reasoning_effort, which this client
    adds to every request's max_tokens (None where the effort is no token count): for the budget
    estimate, which must count it. Imports litellm."""
    if spec.reasoning_effort is None:
        return None
    return mapped_budget(import_litellm(), spec.provider, spec.deployment or spec.model,
                         reasoning_effort=spec.reasoning_effort)


def mapped_budget(litellm: Any, provider: str, model: str, **params: Any) -> int | None:
    """The thinking budget litellm sends the provider for `params` (a `reasoning_effort`, or
    `thinking`): Anthropic's `thinking.budget_tokens`, Gemini 2.5's `thinkingBudget`. None where
    it is no token count (OpenAI's and vLLM's effort, Gemini 3's thinkingLevel, Claude's
    adaptive thinking) or litellm refuses the parameter for the provider. Both providers count
    thinking in max_tokens: Anthropic refuses a request whose max_tokens is not above the
    budget, Gemini spends the answer's tokens on thoughts."""
    try:
        mapped = litellm.get_optional_params(model=model, custom_llm_provider=provider,
                                             max_tokens=65536, **params)
    except Exception:   # refused, or a provider litellm cannot map offline
        return None
    thinking = mapped.get("thinking") or {}
    budget = thinking.get("budget_tokens") if thinking.get("type") == "enabled" else None
    if budget is None:
        budget = (mapped.get("thinkingConfig") or {}).get("thinkingBudget")
    return budget if isinstance(budget, int) and budget > 0 else None


def _chain(exc: BaseException):
    """The exception and every one it wraps: __cause__, __context__ and litellm's
    `original_exception`, each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        err = todo.pop(0)
        if id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        todo += [e for e in (err.__cause__, err.__context__, getattr(err, "original_exception", None))
                 if isinstance(e, BaseException)]


def _stream_headers(stream: Any) -> Any:
    """The response headers of litellm's stream: as the provider sent them where the wrapper
    kept them, else its hidden params' (other providers' prefixed `llm_provider-`)."""
    raw = getattr(stream, "_response_headers", None)
    if raw:
        return raw
    hidden = getattr(stream, "_hidden_params", None) or {}
    return hidden.get("additional_headers") if isinstance(hidden, dict) else None


def _error_response(exc: BaseException) -> tuple[dict[str, str], str]:
    """The headers and body of the provider's error response, from the exceptions litellm
    chains (the httpx response, or litellm's `litellm_response_headers`)."""
    headers: dict[str, str] = {}
    body = ""
    for err in _chain(exc):
        response = getattr(err, "response", None)
        raw = getattr(err, "litellm_response_headers", None) or getattr(response, "headers", None)
        if raw and not headers:
            try:
                headers = {str(k): str(v) for k, v in dict(raw).items()}
            except (TypeError, ValueError):
                pass
        if response is not None and not body:
            try:
                body = response.text
            except Exception:   # a streamed response not read: no body to read
                body = ""
    return headers, body


def _server_status(exc: BaseException) -> int | None:
    """The HTTP status of the server's own response, from the httpx error litellm wraps (litellm's
    own exception can carry a stand-in response with its mapped status instead)."""
    import httpx

    for err in _chain(exc):
        if isinstance(err, httpx.HTTPStatusError):
            return err.response.status_code
    return None


def _cannot_connect(exc: BaseException) -> bool:
    """No connection was made (refused, DNS, connect timeout), whatever status litellm put on it
    (it reports Bedrock's and SageMaker's as 503, Anthropic's as 500)."""
    import httpx

    return any(isinstance(err, (httpx.ConnectError, httpx.ConnectTimeout)) for err in _chain(exc))


def _provider_counted_reasoning(stream: Any, reader: Any) -> bool:
    """Whether the reasoning tokens in litellm's usage are the provider's: where the provider
    sent none (llama.cpp, SGLang before PR #15562, Anthropic), litellm counts the reasoning text
    with its own tokenizer and reports that. The chunks litellm parsed keep the provider's usage
    (`_provider_sent_usage`), except Anthropic's, whose reader computes the count into each
    chunk: its reader (the wrapper's `completion_stream`) keeps Anthropic's usage as it came
    (`_cumulative_usage`), with a count only in `output_tokens_details.thinking_tokens`."""
    raw = getattr(reader, "_cumulative_usage", None)
    if raw is not None:
        details = raw.get("output_tokens_details") if hasattr(raw, "get") else None
        return isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int)
    chunks = getattr(stream, "chunks", None)
    if chunks is None:      # not litellm's stream wrapper: nothing to tell them apart by
        return True
    return any(getattr(getattr(getattr(c, "usage", None), "completion_tokens_details", None),
                       "reasoning_tokens", None) is not None for c in reversed(chunks))


def _provider_sent_usage(stream: Any) -> bool:
    """Whether the provider's stream itself carried usage. litellm's wrapper keeps every chunk
    it parsed from the provider in `chunks`; the usage it computes when there was none is not
    among them."""
    chunks = getattr(stream, "chunks", None)
    if chunks is None:      # not litellm's stream wrapper: nothing to tell them apart by
        return True
    return any(getattr(c, "usage", None) for c in chunks)
