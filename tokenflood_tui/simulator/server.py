"""The simulator's HTTP server: OpenAI-compatible chat completions with a latency model and faults.

Server truth: every chat request is recorded with `time.monotonic()` timestamps. On Linux
CLOCK_MONOTONIC is system-wide, so a client in another process on the same machine can compare its
own `time.monotonic()` stamps with these directly. `first_token` is stamped right after the write
of the first content chunk returned; a client in another process may read that chunk before the
stamp is taken (the send wakes it and can preempt us), so allow it to trail by up to a scheduler
slice. In-process clients always see it first. `first_answer` is stamped the same way for the
first answer chunk after a reasoning simulator's reasoning (None for a reply that never answered).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NamedTuple

from aiohttp import web

from .config import ReasoningField, SimulatorConfig
from .limits import RateLimiter
from .metrics import SimulatorMetrics
from .tokenizer import (REPLY_END, Chain, ChatMessage, PrefixCache, ToolCall, chat_prompt_ids,
                        message_text, pieces, token_id, tokenize, tool_call_ids)

# The reply text: one short word per token, cycled.
WORDS = (
    " lorem", " ipsum", " dolor", " sit", " amet", " consectetur", " adipiscing", " elit",
    " sed", " do", " eiusmod", " tempor", " incididunt", " ut", " labore", " et",
    " dolore", " magna", " aliqua", " enim", " ad", " minim", " veniam", " quis",
    " nostrud", " exercitation", " ullamco", " laboris", " nisi", " aliquip", " ex", " ea",
)  # fmt: skip
_WORD_IDS = tuple(token_id(word) for word in WORDS)
_REPLY_CYCLES = 128
_REPLY_IDS = _WORD_IDS * _REPLY_CYCLES   # a reply's ids, sliced (up to 4,096 tokens)

DEFAULT_MAX_TOKENS = 16
MAX_TRUTH = 1_000_000

# Constant SSE fragments, encoded once: a content chunk is head + word + tail, no json.dumps.
_HEAD = b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,"choices":['
_CONTENT_OPEN = b'{"index":0,"delta":{"content":'
_CONTENT_TAIL = b'},"finish_reason":null}]}\n\n'
# a text reply's token k, once the chunk's head is before it: WORDS cycled
_WORD_CHOICES = tuple(_CONTENT_OPEN + json.dumps(word).encode() + _CONTENT_TAIL for word in WORDS)
# a reasoning token k in each of the simulator's reasoning fields (think-tags: in the content,
# the tags added to the first and last of them per request)
_REASONING_CHOICES = {
    name: tuple(b'{"index":0,"delta":{"' + name.encode() + b'":' + json.dumps(word).encode()
                + _CONTENT_TAIL for word in WORDS)
    for name in ("reasoning", "reasoning_content")}
_REASONING_CHOICES["think-tags"] = _WORD_CHOICES
_ROLE = b'{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}\n\n'
_FINISH = b'{"index":0,"delta":{},"finish_reason":"%s"}]}\n\n'
_DONE = b"data: [DONE]\n\n"
_MALFORMED = b'data: {"choices": [{"delta": {"content": "oops"\n\n'
_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class SlotGate:
    """FIFO admission: at most `slots` requests in service at once; 0 means unlimited."""

    def __init__(self, slots: int):
        self._unlimited = slots == 0
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.busy = 0               # requests in service (its /metrics' running)

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> bool:
        """Take a slot; return True when the request had to queue for it."""
        if self._unlimited or (self._free > 0 and not self._waiters):
            self._free -= 1
            self.busy += 1
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.busy += 1
                self.release()  # the slot was handed over just as we were cancelled
            else:
                self._waiters.remove(waiter)
            raise
        self.busy += 1
        return True

    def release(self) -> None:
        self.busy -= 1
        if self._unlimited:
            self._free += 1
            return
        # Hand the slot straight to the oldest waiter so nobody can overtake it.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    """Sleep until an absolute loop.time() deadline, so a late wake-up never shifts later ones."""
    future = loop.create_future()
    handle = loop.call_at(deadline, _wake, future)
    try:
        await future
    except asyncio.CancelledError:
        handle.cancel()
        raise


class _BadRequest(ValueError):
    """A request the simulator rejects with 400: as vLLM words it, or, with `param`, as OpenAI
    validates a parameter (its error names the parameter and a code)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param = param
        self.code = code


_TOOL_CHOICES = ("none", "auto", "required")


def _json_type(value: object) -> str:
    """What OpenAI calls a JSON value's type in its errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _missing(param: str) -> _BadRequest:
    return _BadRequest(f"Missing required parameter: '{param}'.", param,
                       "missing_required_parameter")


def _required(obj: dict[str, Any], key: str, kind: type, what: str, param: str) -> Any:
    """obj[key], which must be of `kind` (`what`: its name in OpenAI's errors)."""
    if key not in obj:
        raise _missing(param)
    value = obj[key]
    if not isinstance(value, kind):
        raise _BadRequest(f"Invalid type for '{param}': expected {what}, but got "
                          f"{_json_type(value)} instead.", param, "invalid_type")
    return value


def _tool_calls(raw: object, i: int) -> tuple[tuple[ToolCall, ...], list[str]]:
    """An assistant message's tool_calls in OpenAI's shape, and their ids."""
    param = f"messages[{i}].tool_calls"
    if not isinstance(raw, list):
        raise _BadRequest(f"Invalid type for '{param}': expected an array, but got "
                          f"{_json_type(raw)} instead.", param, "invalid_type")
    if not raw:
        raise _BadRequest(f"Invalid '{param}': empty array. Expected an array with minimum "
                          "length 1, but got an empty array instead.", param, "empty_array")
    calls, ids = [], []
    for j, call in enumerate(raw):
        where = f"{param}[{j}]"
        if not isinstance(call, dict):
            raise _BadRequest(f"Invalid type for '{where}': expected an object, but got "
                              f"{_json_type(call)} instead.", where, "invalid_type")
        ids.append(_required(call, "id", str, "a string", f"{where}.id"))
        kind = _required(call, "type", str, "a string", f"{where}.type")
        if kind != "function":
            raise _BadRequest(f"Invalid value: '{kind}'. Supported values are: 'function'.",
                              f"{where}.type", "invalid_value")
        function = _required(call, "function", dict, "an object", f"{where}.function")
        name = _required(function, "name", str, "a string", f"{where}.function.name")
        arguments = _required(function, "arguments", str, "a string",
                              f"{where}.function.arguments")
        calls.append(ToolCall(name, arguments))
    return tuple(calls), ids


def _parse_messages(raw: object) -> list[ChatMessage]:
    """The messages, validated as OpenAI does: a `tool` message answers a tool call of the
    assistant message before it (other answers to it may come between), and every tool call of
    an assistant message is answered before the next message of another role."""
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("messages must be a non-empty list")
    messages = []
    open_calls: list[str] = []      # ids of the last assistant message's calls not yet answered
    caller = -1                     # the index of that assistant message
    answering = False               # tool messages may follow it (and each other)
    for i, message in enumerate(raw):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _BadRequest("each message must be an object with a string role")
        role = message["role"]
        if open_calls and role != "tool":
            raise _BadRequest(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(open_calls)}", f"messages.[{caller}].role")
        try:
            text = message_text(message.get("content"))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        calls: tuple[ToolCall, ...] = ()
        if role == "tool":
            if not answering:
                raise _BadRequest(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.", f"messages.[{i}].role")
            call_id = _required(message, "tool_call_id", str, "a string",
                                f"messages[{i}].tool_call_id")
            if call_id not in open_calls:
                raise _BadRequest(
                    f"Invalid parameter: 'tool_call_id' of '{call_id}' not found in "
                    "'tool_calls' of previous message.", f"messages.[{i}].tool_call_id")
            open_calls.remove(call_id)
        elif role == "assistant" and message.get("tool_calls") is not None:
            calls, open_calls = _tool_calls(message["tool_calls"], i)
            caller = i
        answering = bool(calls) or (answering and role == "tool")
        messages.append(ChatMessage(role, text, calls))
    # A request may end on an assistant message whose calls are not yet answered (the model
    # continues it), as OpenAI accepts.
    return messages


class _Tools(NamedTuple):
    """The declared tools: their JSON text, as the template renders it, and their names."""

    text: str
    names: list[str]


def _parse_tools(body: dict[str, Any]) -> _Tools | None:
    """The declared tools, checked as OpenAI checks them; None without tools. `tool_choice` must
    fit them."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools is None:
        if choice is not None:
            raise _BadRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed "
                              "when 'tools' are specified.", "tool_choice")
        return None
    if not isinstance(tools, list):
        raise _BadRequest(f"Invalid type for 'tools': expected an array, but got "
                          f"{_json_type(tools)} instead.", "tools", "invalid_type")
    names = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _BadRequest(f"Invalid type for 'tools[{i}]': expected an object, but got "
                              f"{_json_type(tool)} instead.", f"tools[{i}]", "invalid_type")
        kind = _required(tool, "type", str, "a string", f"tools[{i}].type")
        if kind != "function":
            raise _BadRequest(f"Invalid value: '{kind}'. Supported values are: 'function'.",
                              f"tools[{i}].type", "invalid_value")
        function = _required(tool, "function", dict, "an object", f"tools[{i}].function")
        names.append(_required(function, "name", str, "a string", f"tools[{i}].function.name"))
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise _BadRequest(f"Invalid value: '{choice}'. Supported values are: 'none', "
                              "'auto', and 'required'.", "tool_choice", "invalid_value")
    elif isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if choice.get("type") != "function" or not isinstance(name, str):
            raise _missing("tool_choice.function.name")
        if name not in names:
            raise _BadRequest(f"Invalid value for 'tool_choice': function '{name}' is not "
                              "among the declared 'tools'.", "tool_choice", "invalid_value")
    elif choice is not None:
        raise _BadRequest(f"Invalid type for 'tool_choice': expected one of a string or an "
                          f"object, but got {_json_type(choice)} instead.", "tool_choice",
                          "invalid_type")
    return _Tools(json.dumps(tools), names) if tools else None


def _forced_tool(body: dict[str, Any], tools: _Tools | None) -> str | None:
    """The function the reply must call (`tool_choice` required, or naming one); None: text."""
    choice = body.get("tool_choice")
    if tools is None or not tools.names:
        return None
    if choice == "required":
        return tools.names[0]
    if isinstance(choice, dict):
        return choice["function"]["name"]      # checked by _parse_tools
    return None


_CALL_LEAST = 9      # tokens of the smallest whole call: {"query": " lorem"}


@dataclass(frozen=True, slots=True)
class _Call:
    """A tool call as the reply: its arguments' tokens are the reply's tokens (as generated: a
    call cut by max_tokens has unfinished JSON, as a model's would)."""

    id: str
    name: str
    pieces: tuple[str, ...]

    @property
    def arguments(self) -> str:
        return "".join(self.pieces)

    def choices(self) -> list[bytes]:
        """Each token's stream choice: the first names the call, every one adds to arguments."""
        first = {"index": 0, "id": self.id, "type": "function",
                 "function": {"name": self.name, "arguments": self.pieces[0]}}
        deltas = [first] + [{"index": 0, "function": {"arguments": piece}}
                            for piece in self.pieces[1:]]
        return [b'{"index":0,"delta":{"tool_calls":[' + json.dumps(d).encode()
                + b"]" + _CONTENT_TAIL for d in deltas]


def _make_call(call_id: str, name: str, tokens: int, max_tokens: int) -> tuple[_Call, str]:
    """The call a reply of `tokens` tokens makes, and its finish reason: `{"query": WORDS}` with
    as many words as fill the reply (a whole call needs 9 tokens: fewer allowed cut it short)."""
    whole = max(tokens, _CALL_LEAST)
    words = "".join(WORDS[k % len(WORDS)] for k in range(whole - _CALL_LEAST + 1))
    all_pieces = pieces(json.dumps({"query": words}))
    generated = min(whole, max_tokens)
    finish = "tool_calls" if generated == len(all_pieces) else "length"
    return _Call(call_id, name, tuple(all_pieces[:generated])), finish


def _content_choice(text: str) -> bytes:
    return _CONTENT_OPEN + json.dumps(text).encode() + _CONTENT_TAIL


def _reasoning_choices(field: ReasoningField, reasoning: int, answered: bool) -> list[bytes]:
    """The stream choices of `reasoning` reasoning tokens; with think-tags the block opens in
    the first and, when an answer follows, closes in the last (so each chunk is still a token)."""
    cycle = _REASONING_CHOICES[field]
    out = [cycle[k % len(WORDS)] for k in range(reasoning)]
    if field == "think-tags" and reasoning:
        words = [WORDS[k % len(WORDS)] for k in (0, reasoning - 1)]
        last = words[1] + ("</think>" if answered else "")
        if reasoning == 1:
            out[0] = _content_choice("<think>" + last)
        else:
            out[0] = _content_choice("<think>" + words[0])
            out[-1] = _content_choice(last)
    return out


def _reasoning_text(reasoning: int) -> str:
    return "".join(WORDS[k % len(WORDS)] for k in range(reasoning))


def _parse_max_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_completion_tokens")
    if value is None:
        value = body.get("max_tokens")
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool):
        raise _BadRequest(f"max_tokens must be an integer, got {value!r}.")
    if value < 1:
        raise _BadRequest(f"max_tokens must be at least 1, got {value}.")
    return value


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _error_type(status: int) -> str:
    named = {
        400: "BadRequestError",
        401: "authentication_error",
        404: "NotFoundError",
        429: "RateLimitError",
        500: "InternalServerError",
        503: "ServiceUnavailableError",
    }
    return named.get(status) or _phrase(status).replace(" ", "") + "Error"


def _error_response(status: int, message: str, headers: dict[str, str],
                    bad: _BadRequest | None = None) -> web.Response:  # fmt: skip
    error: dict[str, Any] = {"message": message, "type": _error_type(status), "code": status}
    if bad is not None and bad.param is not None:   # OpenAI's shape for a bad parameter
        error = {"message": message, "type": "invalid_request_error", "param": bad.param,
                 "code": bad.code}  # fmt: skip
    body = {"error": error}
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json",
        headers=headers,
    )  # fmt: skip


class SimulatorState:
    """The simulator's moving parts: RNGs, prefix cache, slots and the recorded truth."""

    def __init__(self, config: SimulatorConfig):
        config.validate()
        self.config = config
        # Separate streams so that e.g. turning jitter on does not change which requests fault.
        self.fault_rng = random.Random(config.seed)
        self.length_rng = random.Random(f"length:{config.seed}")
        self.jitter_rng = random.Random(f"jitter:{config.seed}")
        self.answer_rng = random.Random(f"answer:{config.seed}")   # which never answer
        self.cache = PrefixCache()
        self.slots = SlotGate(config.slots)
        self.metrics = SimulatorMetrics(config.model, config.slots)
        self.truth: list[dict[str, Any]] = []
        self.truth_dropped = 0  # entries dropped from the front, so ?since= stays absolute
        self.request_count = 0
        self.model_json = json.dumps(config.model).encode()
        self.error_table = sorted(config.error_rates.items())
        limits = config.rate_limit
        self.limits = RateLimiter(limits, config.model) if limits is not None else None

    # --- helpers -------------------------------------------------------------------------------

    def _record(self, entry: dict[str, Any]) -> None:
        if len(self.truth) >= MAX_TRUTH:
            half = MAX_TRUTH // 2
            del self.truth[:half]
            self.truth_dropped += half
        self.truth.append(entry)

    def _authorized(self, request: web.Request) -> bool:
        key = self.config.api_key
        return not key or request.headers.get("Authorization", "") == f"Bearer {key}"

    def _jittered(self, seconds: float) -> float:
        jitter = self.config.jitter
        if not jitter:
            return seconds
        return seconds * (1.0 + self.jitter_rng.uniform(-jitter, jitter))

    def _draw_error(self) -> int | None:
        draw = self.fault_rng.random()
        edge = 0.0
        for code, rate in self.error_table:
            edge += rate
            if draw < edge:
                return code
        return None

    def _draw_stream_fault(self) -> str | None:
        config = self.config
        # Always draw all three so one request's fault does not shift the next one's draws.
        cut, stall, malformed = (self.fault_rng.random() for _ in range(3))
        if cut < config.cut_rate:
            return "cut"
        if stall < config.stall_rate:
            return "stall"
        if malformed < config.malformed_rate:
            return "malformed"
        return None

    def _fail(self, entry: dict[str, Any], status: int, message: str,
              headers: dict[str, str], bad: _BadRequest | None = None) -> web.Response:  # fmt: skip
        entry.update(status="http_error", http_status=status, finished=time.monotonic())
        return _error_response(status, message, headers, bad)

    async def _admit(self, entry: dict[str, Any], prompt_ids: list[int],
                     received_at: float) -> tuple[float, int, Chain | None]:  # fmt: skip
        """Wait for a slot, then return (loop time the first token is due, cached tokens, the
        cache's chain to extend with the reply; None with the cache off)."""
        loop = asyncio.get_running_loop()
        queued = await self.slots.acquire()
        # Without queueing the clock started on receipt; with it, when the slot was handed over.
        start = loop.time() if queued else received_at
        entry["started"] = time.monotonic()
        cached, chain = (self.cache.match_and_insert(prompt_ids) if self.config.prefix_cache
                         else (0, None))  # fmt: skip
        entry["cached_tokens"] = cached
        uncached = len(prompt_ids) - cached
        ttft = (self.config.ttft_ms + self.config.prefill_ms_per_token * uncached) / 1000.0
        first_due = start + self._jittered(ttft)
        self.metrics.admitted(len(prompt_ids), cached, start - received_at,
                              first_due - received_at)
        return first_due, cached, chain

    def _remember_reply(self, chain: Chain | None, completion_tokens: int,
                        call: _Call | None = None) -> None:  # fmt: skip
        """The generated reply joins its prompt in the cache, as the template renders it as the
        assistant message of the conversation's next request (the reply, then the end of the
        message): that request finds its whole history cached."""
        self.metrics.generated(completion_tokens)
        if chain is not None and call is not None:
            self.cache.extend(chain, tool_call_ids(ToolCall(call.name, call.arguments))
                              + list(REPLY_END))
        elif chain is not None:
            cycles = -(-completion_tokens // len(_WORD_IDS))
            reply = _WORD_IDS * cycles if cycles > _REPLY_CYCLES else _REPLY_IDS
            self.cache.extend(chain, reply[:completion_tokens] + REPLY_END)

    def _usage(self, prompt_tokens: int, completion_tokens: int, cached: int,
               reasoning: int = 0) -> dict[str, Any]:  # fmt: skip
        """The usage object: the counts, or more than them under the usage faults; a reasoning
        simulator's with the reasoning tokens among the completion's unless told not to."""
        config = self.config
        prompt = prompt_tokens + config.usage_extra_prompt_tokens
        completion = completion_tokens + config.usage_extra_completion_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        }  # fmt: skip
        if config.reasons and config.reasoning_usage:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

    def _interval(self, prompt_tokens: int) -> tuple[float, float]:
        """(the first inter-token interval, what each later one adds) in seconds: the interval
        grows with the context, prompt and tokens generated so far, by itl_ms_per_1k_context."""
        slope = self.config.itl_ms_per_1k_context / 1e6
        return self.config.itl_ms / 1000.0 + slope * (prompt_tokens + 1), slope

    # --- handlers ------------------------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        received_at = asyncio.get_running_loop().time()
        self.request_count += 1
        request_id = f"chatcmpl-{self.request_count}"
        entry: dict[str, Any] = {
            "request_id": request_id, "stream": None, "received": time.monotonic(),
            "started": None, "first_token": None, "last_token": None, "finished": None,
            "prompt_tokens": None, "cached_tokens": None, "completion_tokens": None,
            "status": "in_progress", "http_status": None, "fault": None,
            "first_answer": None, "reasoning_tokens": None,
        }  # fmt: skip
        self._record(entry)
        headers = {"x-request-id": request_id}
        config = self.config

        if not self._authorized(request):
            return self._fail(entry, 401, "Incorrect API key provided.", headers)
        try:
            body = json.loads(await request.read())
        except ValueError:  # includes UnicodeDecodeError
            return self._fail(entry, 400, "The request body is not valid JSON.", headers)
        if not isinstance(body, dict):
            return self._fail(entry, 400, "The request body must be a JSON object.", headers)
        model = body.get("model", config.model)
        if model != config.model:
            return self._fail(entry, 404, f"The model `{model}` does not exist.", headers)
        try:
            messages = _parse_messages(body.get("messages"))
            tools = _parse_tools(body)
            max_tokens = _parse_max_tokens(body)
        except _BadRequest as exc:
            return self._fail(entry, 400, str(exc), headers, exc)

        prompt_ids = chat_prompt_ids(messages, tools.text if tools else None)
        prompt_tokens = len(prompt_ids)
        entry["prompt_tokens"] = prompt_tokens
        if prompt_tokens + max_tokens > config.max_model_len:
            message = (
                f"This model's maximum context length is {config.max_model_len} tokens. "
                f"However, you requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in "
                f"the messages, {max_tokens} in the completion). Please reduce the length of the "
                "messages or completion."
            )
            return self._fail(entry, 400, message, headers)

        stream = body.get("stream") is True
        entry["stream"] = stream
        if self.limits is not None:     # the account's limits, before any work (limits.py)
            verdict = self.limits.admit(prompt_tokens, max_tokens, time.monotonic(), time.time())
            headers.update(verdict.headers)
            if verdict.refusal is not None:
                entry.update(status="rate_limited", http_status=verdict.refusal.status,
                             finished=time.monotonic())
                verdict.refusal.headers["x-request-id"] = request_id
                return verdict.refusal
        error = self._draw_error()
        stream_fault = self._draw_stream_fault()
        if error is not None:
            entry["fault"] = "error"
            if error == 429:
                headers["Retry-After"] = "1"
            return self._fail(entry, error, f"Simulated error {error} {_phrase(error)}.", headers)

        # A reasoning model thinks first, within max_tokens; one that never answers thinks until
        # max_tokens (the draw made for every request, so the share does not shift other draws).
        reasoning = 0
        if config.reasons:
            never = self.answer_rng.random() < config.no_answer_share
            reasoning = max_tokens if never else min(config.reasoning_tokens, max_tokens)
        answer_budget = max_tokens - reasoning
        if answer_budget == 0:
            answer_tokens = 0
        elif body.get("ignore_eos") is True:
            answer_tokens = answer_budget
        else:  # a model that hits EOS somewhere in the second half of its budget
            answer_tokens = self.length_rng.randint(math.ceil(answer_budget / 2), answer_budget)
        finish_reason = "length" if answer_tokens == answer_budget else "stop"
        call = None
        forced = _forced_tool(body, tools)
        if forced is not None and answer_budget:
            call, finish_reason = _make_call(f"call_{self.request_count}", forced,
                                             answer_tokens, answer_budget)
            answer_tokens = len(call.pieces)
        completion_tokens = reasoning + answer_tokens
        entry["completion_tokens"] = completion_tokens
        entry["reasoning_tokens"] = reasoning

        if not stream:
            return await self._complete(
                request, entry, headers, prompt_ids, received_at, completion_tokens, finish_reason,
                call, reasoning,
            )  # fmt: skip
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        entry["fault"] = stream_fault
        return await self._stream(
            request, entry, headers, prompt_ids, received_at, completion_tokens, finish_reason,
            include_usage, stream_fault, call, reasoning,
        )  # fmt: skip

    async def _stream(
        self, request: web.Request, entry: dict[str, Any], headers: dict[str, str],
        prompt_ids: list[int], received_at: float, completion_tokens: int, finish_reason: str,
        include_usage: bool, fault: str | None, call: _Call | None, reasoning: int = 0,
    ) -> web.StreamResponse:  # fmt: skip
        loop = asyncio.get_running_loop()
        config = self.config
        response = web.StreamResponse(headers={**_SSE_HEADERS, **headers})
        await response.prepare(request)
        head = _HEAD % (entry["request_id"].encode(), int(time.time()), self.model_json)
        write = response.write
        monotonic = time.monotonic
        entry["http_status"] = 200
        # The role-only chunk goes out on receipt, before the TTFT wait, as some servers do: it
        # lets tests prove a client does not take it for the first token.
        try:
            await write(head + _ROLE)
        except ConnectionError:
            entry.update(status="cancelled", finished=monotonic())
            return response

        admitted = False
        try:
            deadline, cached, chain = await self._admit(entry, prompt_ids, received_at)
            admitted = True
            # the interval after k tokens: base + slope * (k - 1) (base alone without slowing)
            base, slope = self._interval(len(prompt_ids))
            jitter = config.jitter
            uniform = self.jitter_rng.uniform
            fault_at = completion_tokens // 2 if fault else -1
            choices: Sequence[bytes] = _WORD_CHOICES if call is None else call.choices()
            answer_tokens = completion_tokens - reasoning
            if reasoning:       # every token's choice, the reasoning's first: choices[k]
                answer = [choices[j % len(choices)] for j in range(answer_tokens)]
                choices = _reasoning_choices(config.reasoning_field, reasoning,
                                             answer_tokens > 0) + answer
            count = len(choices)
            end = self._stream_end(head, finish_reason, include_usage,
                                   self._usage(len(prompt_ids), completion_tokens, cached,
                                               reasoning))
            first_written = False
            answer_written = not answer_tokens  # (nothing to stamp for a reply with no answer)
            k = 0
            while k < completion_tokens:
                if k == fault_at and fault == "stall":
                    deadline += config.stall_seconds  # later tokens keep their pace after it
                if deadline > loop.time():
                    await _sleep_until(loop, deadline)
                if k == fault_at and fault == "cut":
                    # Drop the connection mid-stream: no finish chunk, no usage, no [DONE].
                    if request.transport is not None:
                        request.transport.abort()
                    entry.update(status="stream_error", finished=monotonic())
                    return response
                now = loop.time()
                if k == fault_at and fault == "malformed":
                    batch = [_MALFORMED]
                else:
                    batch = [head + choices[k % count]]
                k += 1
                itl = base + slope * (k - 1) if slope else base
                deadline += itl * (1.0 + uniform(-jitter, jitter)) if jitter else itl
                # Tokens already due share one write: when the loop runs late (or itl_ms is 0)
                # that is one send instead of many, which lets an overloaded simulator catch up.
                while k < completion_tokens and deadline <= now and k != fault_at:
                    batch.append(head + choices[k % count])
                    k += 1
                    itl = base + slope * (k - 1) if slope else base
                    deadline += itl * (1.0 + uniform(-jitter, jitter)) if jitter else itl
                data = batch[0] if len(batch) == 1 else b"".join(batch)
                if k == completion_tokens:
                    # Cached before the client can read the end and send its next turn (the
                    # answer alone: a chat template drops the reasoning from the history).
                    self._remember_reply(chain, answer_tokens, call)
                    # The last tokens, finish chunk, usage and [DONE] in a single send.
                    await response.write_eof(data + end)
                    break
                await write(data)
                if not first_written:
                    entry["first_token"] = monotonic()
                    first_written = True
                if not answer_written and k > reasoning:
                    entry["first_answer"] = monotonic()
                    answer_written = True
            now = monotonic()
            if not first_written:
                entry["first_token"] = now
            if not answer_written:
                entry["first_answer"] = now
            entry.update(
                last_token=now, finished=now,
                status="stream_error" if fault == "malformed" else "ok",
            )  # fmt: skip
        except ConnectionError:  # the client went away
            entry.update(status="cancelled", finished=monotonic())
        except asyncio.CancelledError:  # server shutdown
            entry.update(status="cancelled", finished=monotonic())
            raise
        finally:
            if admitted:
                self.slots.release()
        return response

    @staticmethod
    def _stream_end(head: bytes, finish_reason: str, include_usage: bool,
                    usage: dict[str, Any]) -> bytes:  # fmt: skip
        """The finish chunk, the usage chunk when asked for, and [DONE]."""
        end = head + _FINISH % finish_reason.encode()
        if include_usage:
            end += head + b'],"usage":' + json.dumps(usage, separators=(",", ":")).encode()
            end += b"}\n\n"
        return end + _DONE

    async def _complete(
        self, request: web.Request, entry: dict[str, Any], headers: dict[str, str],
        prompt_ids: list[int], received_at: float, completion_tokens: int, finish_reason: str,
        call: _Call | None, reasoning: int = 0,
    ) -> web.StreamResponse:  # fmt: skip
        loop = asyncio.get_running_loop()
        base, slope = self._interval(len(prompt_ids))
        try:
            first_due, cached, chain = await self._admit(entry, prompt_ids, received_at)
            try:
                done_at = first_due + sum(self._jittered(base + slope * k)
                                          for k in range(completion_tokens - 1))
                await _sleep_until(loop, done_at)
                self._remember_reply(chain, completion_tokens - reasoning, call)
            finally:
                self.slots.release()
        except asyncio.CancelledError:
            entry.update(status="cancelled", finished=time.monotonic())
            raise
        prompt_tokens = len(prompt_ids)
        answer_tokens = completion_tokens - reasoning
        message: dict[str, Any] = {"role": "assistant", "content": "".join(
            WORDS[k % len(WORDS)] for k in range(answer_tokens)) or None}
        if call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}}]}
        if reasoning and self.config.reasoning_field == "think-tags":
            closed = "</think>" if answer_tokens else ""
            message["content"] = (f"<think>{_reasoning_text(reasoning)}{closed}"
                                  f"{message['content'] or ''}")
        elif reasoning:
            message[self.config.reasoning_field] = _reasoning_text(reasoning)
        body = {
            "id": entry["request_id"], "object": "chat.completion", "created": int(time.time()),
            "model": self.config.model,
            "choices": [{
                "index": 0, "message": message,
                "logprobs": None, "finish_reason": finish_reason,
            }],
            "usage": self._usage(prompt_tokens, completion_tokens, cached, reasoning),
        }  # fmt: skip
        response = web.Response(
            body=json.dumps(body).encode(), content_type="application/json", headers=headers
        )
        entry["http_status"] = 200
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            entry.update(status="cancelled", finished=time.monotonic())
            return response
        # Everything is written at once, so first and last token share the write time.
        now = time.monotonic()
        entry.update(first_token=now, first_answer=now if answer_tokens else None, last_token=now,
                     finished=now, status="ok")
        return response

    async def models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error_response(401, "Incorrect API key provided.", {})
        model = {
            "id": self.config.model, "object": "model", "created": 0, "owned_by": "tokenflood",
            "max_model_len": self.config.max_model_len,
        }  # fmt: skip
        return web.json_response({"object": "list", "data": [model]})

    async def tokenize(self, request: web.Request) -> web.Response:
        """Raw text (llama.cpp `content`, vLLM `prompt`) or chat `messages` with the template."""
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise _BadRequest("The request body must be a JSON object.")
            if "messages" in body:
                tools = _parse_tools(body)
                ids = chat_prompt_ids(_parse_messages(body["messages"]),
                                      tools.text if tools else None)
                token_pieces = None
            else:
                text = body.get("content", body.get("prompt"))
                if not isinstance(text, str):
                    raise _BadRequest("Give the text to tokenize as `content` or `prompt`.")
                token_pieces = pieces(text)
                ids = tokenize(text)
        except _BadRequest as exc:
            return _error_response(400, str(exc), {}, exc)
        except ValueError:  # invalid JSON
            return _error_response(400, "The body is not valid JSON.", {})
        tokens: list[Any] = ids
        if body.get("with_pieces") is True and token_pieces is not None:
            tokens = [{"id": i, "piece": p} for i, p in zip(ids, token_pieces, strict=True)]
        return web.json_response(
            {"tokens": tokens, "count": len(ids), "max_model_len": self.config.max_model_len}
        )

    async def prometheus(self, request: web.Request) -> web.Response:
        """/metrics, under vLLM's names (simulator/metrics.py)."""
        text = self.metrics.exposition(self.slots.busy, self.slots.queued)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def get_truth(self, request: web.Request) -> web.Response:
        """The recorded requests; `?since=K` skips the first K recorded since the last clear."""
        try:
            since = max(0, int(request.query.get("since", "0")))
        except ValueError:
            return _error_response(400, "since must be an integer", {})
        start = max(0, since - self.truth_dropped)
        return web.json_response(
            {"requests": self.truth[start:], "next": self.truth_dropped + len(self.truth)}
        )

    async def clear_truth(self, request: web.Request) -> web.Response:
        cleared = len(self.truth)
        self.truth.clear()
        self.truth_dropped = 0
        return web.json_response({"cleared": cleared})

    async def clear_cache(self, request: web.Request) -> web.Response:
        """Forget every cached prefix block (handy between benchmark runs)."""
        blocks = len(self.cache)
        self.cache.clear()
        return web.json_response({"cleared_blocks": blocks})


STATE = web.AppKey("simulator_state", SimulatorState)


def build_app(config: SimulatorConfig) -> web.Application:
    """The simulator as an aiohttp application; raises ValueError on a nonsensical config."""
    state = SimulatorState(config)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    app.router.add_post("/v1/chat/completions", state.chat_completions)
    app.router.add_get("/v1/models", state.models)
    app.router.add_post("/tokenize", state.tokenize)
    app.router.add_get("/health", state.health)
    app.router.add_get("/metrics", state.prometheus)
    app.router.add_get("/sim/requests", state.get_truth)
    app.router.add_delete("/sim/requests", state.clear_truth)
    app.router.add_delete("/sim/cache", state.clear_cache)
    return app


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    """Start serving app on 127.0.0.1 (never anything else); return the runner and the port."""
    # No access log: one log line per request would cost more than the request itself.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    return runner, runner.addresses[0][1]


class Simulator:
    """The simulator in this process's event loop, for tests and the demo."""

    def __init__(self, config: SimulatorConfig | None = None, port: int = 0):
        self.config = config if config is not None else SimulatorConfig()
        self.app = build_app(self.config)
        self.port = port
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    @property
    def truth(self) -> list[dict[str, Any]]:
        """The recorded requests, oldest first (a live list)."""
        return self.app[STATE].truth

    async def start(self) -> str:
        """Start listening; return the base URL, e.g. http://127.0.0.1:PORT/v1."""
        self._runner, self.port = await serve(self.app, self.port)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
