"""Reasoning models' streams, one server per wire protocol, each shape a user meets (issue 19).

- `OpenAIReasoningServer`: `POST /v1/chat/completions` as vLLM, SGLang, llama.cpp and OpenAI
  stream a reasoning model's reply: the reasoning in `delta.reasoning` (vLLM since PR #33402),
  `delta.reasoning_content` (SGLang, llama.cpp `--reasoning-format deepseek`, older vLLM), both
  names on every chunk (vLLM Oct 2025) or the two in turn, `<think>…</think>` inside the
  content (llama.cpp `--reasoning-format none`), or hidden (OpenAI o-series: no text, its tokens
  in the usage only);
  then the answer as content or as a tool call. The usage comes with
  `completion_tokens_details.reasoning_tokens` or without it (llama.cpp).
- `AnthropicThinkingServer`: `POST /v1/messages` with `thinking: {type: enabled, budget_tokens}`:
  a `thinking` content block (`thinking_delta` events, then one `signature_delta`), then a
  `text` block; `message_delta.usage.output_tokens` counts both (Anthropic gives no thinking
  count of its own).
- `GeminiThinkingServer`: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` with
  `generationConfig.thinkingConfig`: parts with `"thought": true` before the answer's parts,
  `usageMetadata.thoughtsTokenCount` beside `candidatesTokenCount` (which leaves thoughts out).

Every token is written at its own due time from the request's arrival (TTFT, then one gap per
token), not after a sleep per token, so lateness never accumulates: 20 reasoning tokens 10 ms
apart put the first answer token 200 ms after the first reasoning token, give or take one
wake-up. Each request's truth says when its first token of any kind and its first answer token
were written, how many of each it sent, and the JSON body it received.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, UTC
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from .common import ProviderServer, Truth, count_tokens, output_tokens

Field = Literal["reasoning", "reasoning_content", "both", "mixed", "think_tags", "think_tags_split",
                "hidden"]
Answer = Literal["content", "tool_call"]

# the reasoning's words: a different text from the answer's, so a mix-up shows
_THOUGHTS = (" first I count the words then I check the sum and the edge cases once more").split(" ")[1:]
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"


def thoughts(n: int) -> list[str]:
    """n tokens of reasoning text, one word (with its leading space) each."""
    return [f" {_THOUGHTS[i % len(_THOUGHTS)]}" for i in range(n)]


@dataclass(frozen=True)
class Reply:
    """What a reasoning model sends for each request: `reasoning` tokens `reasoning_gap_ms`
    apart, then the answer, one token each `itl_ms` (a token a chunk). A reply whose reasoning
    reaches max_tokens ends there, finish_reason `length`, without an answer."""

    reasoning: int = 20
    answer: int = 5
    field: Field = "reasoning"
    answer_kind: Answer = "content"
    together: bool = False          # the last reasoning token and the first answer's in one chunk
    usage_details: bool = True      # completion_tokens_details.reasoning_tokens in the usage
    reasoning_gap_ms: float = 10.0


@dataclass
class ReasoningTruth(Truth):
    """One request as the server saw it, with its reasoning: times are time.monotonic()."""

    body: dict = field(default_factory=dict)
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    first_answer: float | None = None    # the first answer token (content or tool call) written
    finish: str | None = None
    paced_at: float | None = None        # when the last token was due and written (`due`)
    paced_ms: float = 0.0                # and its planned time, ms after arrival

    @property
    def reasoning_ms(self) -> float | None:
        """From the first token of any kind to the first answer token, as written."""
        if self.first_token is None or self.first_answer is None:
            return None
        return (self.first_answer - self.first_token) * 1000


class _Paced(ProviderServer):
    """Shared: a token's due time from the request's arrival, and the request's truth."""

    def begin_reasoning(self, route: str, body: dict, max_tokens: int | None,
                        auth: str | None = None) -> ReasoningTruth:
        truth = ReasoningTruth(route, time.monotonic(), max_tokens, auth=auth, body=body)
        self.truth.append(truth)
        return truth

    async def due(self, truth: ReasoningTruth, at_ms: float) -> None:
        """Wait until `at_ms` after the request arrived, and at least the planned gap after the
        token before: a server held up (a busy core, litellm's imports in the test's process)
        writes its next tokens late, never in a burst that would make its gaps zero."""
        deadline = truth.received + at_ms / 1000.0
        if truth.paced_at is not None:
            deadline = max(deadline, truth.paced_at + (at_ms - truth.paced_ms) / 1000.0)
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        truth.paced_at, truth.paced_ms = time.monotonic(), at_ms

    @staticmethod
    def wrote(truth: ReasoningTruth, reasoning: int = 0, answer: int = 0, shown: bool = True) -> None:
        """Tokens were written (or, not `shown`, generated and kept back)."""
        now = time.monotonic()
        if truth.first_token is None and shown:
            truth.first_token = now
        if answer and truth.first_answer is None:
            truth.first_answer = now
        truth.reasoning_tokens += reasoning
        truth.answer_tokens += answer
        truth.output_tokens += reasoning + answer

    def plan(self, reply: Reply, max_tokens: int) -> tuple[int, int]:
        """(reasoning, answer) tokens a reply of at most max_tokens sends."""
        reasoning = min(reply.reasoning, max_tokens)
        return reasoning, min(reply.answer, max_tokens - reasoning)

    def times(self, reply: Reply, reasoning: int, answer: int) -> tuple[list[float], list[float]]:
        """When each reasoning token and each answer token is due (ms after arrival)."""
        r = [self.ttft_ms + i * reply.reasoning_gap_ms for i in range(reasoning)]
        start = self.ttft_ms + reasoning * reply.reasoning_gap_ms
        if reply.together and reasoning:
            start = r[-1]
        return r, [start + j * self.itl_ms for j in range(answer)]


# ---------------------------------------------------------------------------------------------
# OpenAI chat completions (vLLM, SGLang, llama.cpp, OpenAI)


class OpenAIReasoningServer(_Paced):
    def __init__(self, reply: Reply = Reply(), *, model: str = "qwen3-8b", api_key: str | None = None,
                 **kw: Any):
        super().__init__(**kw)
        self.reply = reply
        self.model = model
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self.chat)]

    def error_response(self, status: int) -> web.Response:
        return web.json_response({"error": {"message": f"forced {status}", "type": "server_error",
                                            "code": status}}, status=status)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 16
        truth = self.begin_reasoning(request.path, body, limit, request.headers.get("Authorization"))
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            truth.status = 401
            return web.json_response({"error": {"message": "Incorrect API key provided",
                                                "type": "invalid_request_error",
                                                "code": "invalid_api_key"}}, status=401)
        forced = self.forced_status(truth)
        if forced is not None:
            return self.error_response(forced)
        reply = self.reply
        truth.prompt_tokens = sum(4 + count_tokens(str(m.get("content", "")))
                                  for m in body["messages"]) + 3
        truth.response_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        created = int(time.time())

        async def send(delta: dict | None = None, finish: str | None = None, **extra: Any) -> None:
            choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                                 "finish_reason": finish}]
            chunk = {"id": truth.response_id, "object": "chat.completion.chunk", "created": created,
                     "model": self.model, "choices": choices, **extra}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        reasoning, answer = self.plan(reply, limit)
        think = reply.field in ("think_tags", "think_tags_split")
        tags = 0                # <think> and </think> sent: a token each, counted as reasoning
        if think and reasoning:
            if reasoning + 1 >= limit:              # cut off before its </think>
                reasoning, answer, tags = limit - 1, 0, 1
            else:
                tags, answer = 2, max(0, min(answer, limit - reasoning - 2))
        r_times, a_times = self.times(reply, reasoning, answer)
        await send({"role": "assistant", "content": ""})
        for at_ms, delta, r, a in _openai_chunks(reply, thoughts(reasoning), output_tokens(answer),
                                                 r_times, a_times, closed=tags == 2):
            await self.due(truth, at_ms)
            if delta is not None:
                await send(delta)
            self.wrote(truth, reasoning=r, answer=a, shown=delta is not None)
        if reply.answer_kind == "tool_call" and answer:
            truth.finish = "tool_calls"
        else:
            truth.finish = "length" if reasoning + tags + answer >= limit else "stop"
        await send({}, truth.finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            completion = truth.output_tokens + tags
            usage: dict[str, Any] = {"prompt_tokens": truth.prompt_tokens,
                                     "completion_tokens": completion,
                                     "total_tokens": truth.prompt_tokens + completion}
            if reply.usage_details:
                usage["completion_tokens_details"] = {"reasoning_tokens": truth.reasoning_tokens + tags}
            await send(None, usage=usage)
            truth.usage_sent = True
        await response.write(b"data: [DONE]\n\n")
        truth.end = time.monotonic()
        await response.write_eof()
        return response


Chunk = tuple[float, "dict | None", int, int]   # (due ms, delta or None if unseen, reasoning, answer)


def _openai_chunks(reply: Reply, words: list[str], answer_words: list[str],
                   r_times: list[float], a_times: list[float], closed: bool = True) -> list[Chunk]:
    """A reply's chunks, a token each (and the think tags), in the reply's shape. `closed`: the
    think block ends (its reasoning did not run out of tokens)."""
    answers = [_answer_delta(reply, answer_words, j) for j in range(len(answer_words))]
    out: list[Chunk] = []
    if reply.field == "hidden":                     # thought, never shown
        out += [(t, None, 1, 0) for t in r_times]
    elif reply.field in ("think_tags", "think_tags_split") and words:
        texts = list(words)
        if reply.field == "think_tags_split":       # each tag cut across two chunks
            opening, closing = ["<thi"], ["ink>\n\n"]
            texts[0] = "nk>" + texts[0]
            if closed:
                texts[-1] += "</th"
        else:
            opening, closing = ["<think>"], ["</think>", "\n\n"]
        closing = closing if closed else []
        out += [(r_times[0], {"content": c}, 0, 0) for c in opening]
        out += [(t, {"content": c}, 1, 0) for t, c in zip(r_times, texts, strict=True)]
        out += [(r_times[-1], {"content": c}, 0, 0) for c in closing]
    else:
        out += [(t, _reasoning_delta(reply.field, w, i), 1, 0)
                for i, (t, w) in enumerate(zip(r_times, words, strict=True))]
    if reply.together and out and answers and reply.field in ("reasoning", "reasoning_content", "both",
                                                              "mixed"):
        at_ms, delta, _, _ = out[-1]                # the last thought and the first answer token
        out[-1] = (at_ms, {**(delta or {}), **answers[0]}, 1, 1)
        answers, a_times = answers[1:], a_times[1:]
    out += [(t, d, 0, 1) for t, d in zip(a_times, answers, strict=True)]
    return out


def _answer_delta(reply: Reply, words: list[str], j: int) -> dict:
    if reply.answer_kind == "content":
        return {"content": words[j]}
    # a function call: its id and name first, then its arguments in pieces
    if j == 0:
        return {"tool_calls": [{"index": 0, "id": "call_7f3a", "type": "function",
                                "function": {"name": "lookup", "arguments": ""}}]}
    return {"tool_calls": [{"index": 0, "function": {"arguments": json.dumps(words[j])}}]}


def _reasoning_delta(name: Field, word: str, i: int) -> dict:
    if name == "both":          # vLLM between PR #27752 and PR #33402: the old name as well
        return {"reasoning": word, "reasoning_content": word}
    if name == "mixed":         # one name, then the other (a proxy in front of two servers)
        return {"content": None, ("reasoning", "reasoning_content")[i % 2]: word}
    return {"content": None, name: word}


# ---------------------------------------------------------------------------------------------
# Anthropic messages


# Anthropic's limits on every response (its four families), and what a forced 429 says: the
# organisation's rate limit with a retry-after, or its spend limit (no retry-after)
ANTHROPIC_LIMITS = {"requests": (50, 49), "tokens": (48_000, 36_000),
                    "input-tokens": (40_000, 30_000), "output-tokens": (8_000, 6_000)}
Throttle = Literal["rate_limit", "spend_limit"]


class AnthropicThinkingServer(_Paced):
    def __init__(self, reply: Reply = Reply(), *, api_key: str = "anthropic-test-key",
                 model: str = "claude-sonnet-4-5-20250929", throttle: Throttle = "rate_limit",
                 **kw: Any):
        super().__init__(**kw)
        self.reply = reply
        self.api_key = api_key
        self.model = model
        self.throttle = throttle

    @staticmethod
    def limit_headers() -> dict[str, str]:
        reset = datetime.fromtimestamp(time.time() + 30, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = {}
        for kind, (limit, remaining) in ANTHROPIC_LIMITS.items():
            out[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
            out[f"anthropic-ratelimit-{kind}-remaining"] = str(remaining)
            out[f"anthropic-ratelimit-{kind}-reset"] = reset
        return out

    @property
    def base_url(self) -> str:
        return self.root_url

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.messages)]

    def error_response(self, status: int, kind: str = "api_error", message: str = "error"):
        headers = self.limit_headers()
        if status == 429 and self.throttle == "spend_limit":
            kind, message = "rate_limit_error", ("Your organization has reached its spend limit "
                                                 "(enforced_spend_limit_reached).")
        elif status == 429:
            kind = "rate_limit_error"
            message = ("This request would exceed the rate limit for your organization of "
                       "40,000 input tokens per minute.")
            headers["retry-after"] = "17"
        elif status == 529:
            kind, message = "overloaded_error", "Overloaded"
        return web.json_response({"type": "error", "error": {"type": kind, "message": message}},
                                 status=status, headers=headers)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        limit = body.get("max_tokens")
        truth = self.begin_reasoning(request.path, body, limit, request.headers.get("x-api-key"))
        if request.headers.get("x-api-key") != self.api_key:
            truth.status = 401
            return self.error_response(401, "authentication_error", "invalid x-api-key")
        if not isinstance(limit, int) or limit < 1:
            truth.status = 400
            return self.error_response(400, "invalid_request_error", "max_tokens: Field required")
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            # the API's own rules for extended thinking
            if not isinstance(budget, int) or budget < 1024:
                truth.status = 400
                return self.error_response(400, "invalid_request_error",
                                           "thinking.enabled.budget_tokens: Input should be "
                                           "greater than or equal to 1024")
            if budget >= limit:
                truth.status = 400
                return self.error_response(400, "invalid_request_error",
                                           "`max_tokens` must be greater than "
                                           "`thinking.budget_tokens`")
        forced = self.forced_status(truth)
        if forced is not None:
            return self.error_response(forced)
        # no thinking asked for: a plain reply
        reply = self.reply if thinking.get("type") == "enabled" else \
            Reply(reasoning=0, answer=self.reply.answer)
        truth.prompt_tokens = sum(count_tokens(_text(m.get("content"))) for m in body["messages"]) \
            + count_tokens(_text(body.get("system")))
        truth.response_id = f"msg_{uuid.uuid4().hex[:24]}"
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "request-id": f"req_{uuid.uuid4().hex[:24]}",
                                               **self.limit_headers()})
        await response.prepare(request)

        async def event(kind: str, data: dict) -> None:
            await response.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"
                                 .encode())

        reasoning, answer = self.plan(reply, limit)
        r_times, a_times = self.times(reply, reasoning, answer)
        await event("message_start", {"message": {
            "id": truth.response_id, "type": "message", "role": "assistant", "content": [],
            "model": self.model, "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": truth.prompt_tokens, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1}}})
        index = 0
        if reasoning:
            await event("content_block_start", {"index": 0, "content_block": {
                "type": "thinking", "thinking": "", "signature": ""}})
            await event("ping", {})
            for i, word in enumerate(thoughts(reasoning)):
                await self.due(truth, r_times[i])
                await event("content_block_delta", {"index": 0, "delta": {
                    "type": "thinking_delta", "thinking": word}})
                self.wrote(truth, reasoning=1)
            await event("content_block_delta", {"index": 0, "delta": {
                "type": "signature_delta", "signature": SIGNATURE}})
            await event("content_block_stop", {"index": 0})
            index = 1
        if answer:
            await event("content_block_start", {"index": index, "content_block": {
                "type": "text", "text": ""}})
            for j, word in enumerate(output_tokens(answer)):
                await self.due(truth, a_times[j])
                await event("content_block_delta", {"index": index, "delta": {
                    "type": "text_delta", "text": word}})
                self.wrote(truth, answer=1)
            await event("content_block_stop", {"index": index})
        truth.finish = "max_tokens" if reasoning + answer >= limit else "end_turn"
        await event("message_delta", {"delta": {"stop_reason": truth.finish, "stop_sequence": None},
                                      "usage": {"output_tokens": truth.output_tokens}})
        await event("message_stop", {})
        truth.usage_sent = True
        truth.end = time.monotonic()
        await response.write_eof()
        return response


def _text(content: Any) -> str:
    """The text of an Anthropic or Gemini message's content: a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))


# ---------------------------------------------------------------------------------------------
# Gemini streamGenerateContent


class GeminiThinkingServer(_Paced):
    def __init__(self, reply: Reply = Reply(), *, api_key: str = "gemini-test-key",
                 model: str = "gemini-2.5-flash",
                 quota_id: str = "GenerateRequestsPerMinutePerProjectPerModel", **kw: Any):
        super().__init__(**kw)
        self.reply = reply
        self.api_key = api_key
        self.model = model
        self.quota_id = quota_id       # what a forced 429's QuotaFailure names

    @property
    def base_url(self) -> str:
        """What a user writes as base_url: the API's root with its version."""
        return f"{self.root_url}/v1beta"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1beta/models/{call}", self.generate)]

    def error_response(self, status: int, reason: str = "INTERNAL", message: str = "error"):
        if status == 429:      # the API's quota refusal: QuotaFailure and RetryInfo
            return web.json_response({"error": {
                "code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota, please check your plan and billing "
                           "details.",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                        {"quotaMetric": "generativelanguage.googleapis.com/"
                                        "generate_content_free_tier_requests",
                         "quotaId": self.quota_id,
                         "quotaDimensions": {"location": "global", "model": self.model},
                         "quotaValue": "10"}]},
                    {"@type": "type.googleapis.com/google.rpc.Help", "links": [
                        {"description": "Learn more about Gemini API quotas",
                         "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"}]}},
                status=429)
        return web.json_response({"error": {"code": status, "message": message, "status": reason}},
                                 status=status)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        config = body.get("generationConfig") or {}
        # the API reads its JSON fields in either case (litellm sends max_output_tokens)
        limit = config.get("maxOutputTokens", config.get("max_output_tokens"))
        key = request.query.get("key") or request.headers.get("x-goog-api-key")
        truth = self.begin_reasoning(request.path, body, limit, key)
        model, _, method = request.match_info["call"].partition(":")
        if method != "streamGenerateContent" or request.query.get("alt") != "sse":
            truth.status = 404
            return self.error_response(404, "NOT_FOUND", f"method {method} not served here")
        if key != self.api_key:
            truth.status = 400
            return self.error_response(400, "INVALID_ARGUMENT",
                                       "API key not valid. Please pass a valid API key.")
        forced = self.forced_status(truth)
        if forced is not None:
            return self.error_response(forced)
        thinking = config.get("thinkingConfig") or {}
        # 2.5 models think unless the budget is 0; the thoughts are sent only when asked for
        budget = thinking.get("thinkingBudget")
        reply = self.reply if budget != 0 else Reply(reasoning=0, answer=self.reply.answer)
        show = bool(thinking.get("includeThoughts"))
        truth.prompt_tokens = sum(count_tokens(_text(c.get("parts"))) for c in body.get("contents", []))
        truth.response_id = uuid.uuid4().hex[:22]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        reasoning, answer = self.plan(reply, limit or 8192)
        r_times, a_times = self.times(reply, reasoning, answer)

        def usage() -> dict:
            out = {"promptTokenCount": truth.prompt_tokens,
                   "candidatesTokenCount": truth.answer_tokens,
                   "totalTokenCount": truth.prompt_tokens + truth.output_tokens,
                   "promptTokensDetails": [{"modality": "TEXT", "tokenCount": truth.prompt_tokens}]}
            if truth.reasoning_tokens:
                out["thoughtsTokenCount"] = truth.reasoning_tokens
            return out

        async def send(parts: list[dict], finish: str | None = None) -> None:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            chunk = {"candidates": [candidate], "usageMetadata": usage(),
                     "modelVersion": model, "responseId": truth.response_id}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")

        held: list[dict] = []       # the last thought, when it goes with the first answer part
        for i, word in enumerate(thoughts(reasoning)):
            await self.due(truth, r_times[i])
            self.wrote(truth, reasoning=1, shown=show)
            if show and reply.together and answer and i == reasoning - 1:
                held = [{"text": word, "thought": True}]
            elif show:
                await send([{"text": word, "thought": True}])
        for j, word in enumerate(output_tokens(answer)):
            await self.due(truth, a_times[j])
            self.wrote(truth, answer=1)
            last = j == answer - 1
            truth.finish = ("MAX_TOKENS" if limit and truth.output_tokens >= limit else "STOP") \
                if last else None
            await send([*held, {"text": word}], truth.finish)
            held = []
        if not answer:
            truth.finish = "MAX_TOKENS"
            await send([], truth.finish)
        truth.usage_sent = True
        truth.end = time.monotonic()
        await response.write_eof()
        return response
