"""What is measured per request (docs/metrics.md), and the one rule that stamps a stream on it.

Whichever client read the stream, it only tells the record what arrived when: `stamp_chunk` for
each chunk (its text on each channel), `stamp_end` when the stream ended (with the server's
usage). TTFT, ITL and token counts are then the same for every client, by construction.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Sized
from dataclasses import dataclass, field
from typing import Any

from .ratelimits import Headroom, RateLimits, Throttle

# status values, as written to requests.csv
OK = "ok"
HTTP_ERROR = "http_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
STREAM_ERROR = "stream_error"
CANCELLED = "cancelled"
WORKER_DIED = "worker_died"     # its worker process died with the request in flight
NO_ANSWER = "no_answer"         # it reasoned and ended without an answer (docs/metrics.md#status)
RATE_LIMITED = "rate_limited"   # the provider refused it for the account's limits or its load


@dataclass(slots=True)
class RequestRecord:
    """One request's timeline and token counts. Times are time.monotonic() seconds."""

    phase: int                          # 1-based; 0 for warm-up and calibration requests
    target_rps: float
    load_type: int
    t_sched: float
    prompt_tokens_target: int
    prefix_tokens_target: int
    output_tokens_target: int
    seq: int = -1                       # the run-wide sequence number of the arrival
    t_launch: float | None = None       # the sender picked it up (before any max_concurrency wait)
    t_send: float | None = None
    t_first: float | None = None        # first chunk with text on any channel (stamp_chunk)
    t_answer: float | None = None       # first chunk of the answer: content or tool calls
    t_end: float | None = None
    prompt_tokens: int | None = None    # from the server's usage
    cached_tokens: int | None = None
    output_tokens: int | None = None
    output_tokens_estimated: bool = False   # no usage: counted token chunks instead
    reasoning_tokens: int | None = None     # the server's, else its reasoning chunks counted
    reasoning_tokens_estimated: bool = False
    status: str = OK
    error_type: str | None = None
    http_status: int | None = None
    error_message: str | None = None
    content_chunks: int = 0             # chunks with text on any channel
    reasoning_chunks: int = 0           # ... of which with reasoning (with an answer or not)
    answer_itl_from: int = 0            # itl_ms[answer_itl_from:] are the answer's own gaps
    response_id: str | None = None      # the server's id of the completion (correlates logs)
    worker: str = ""                    # who sent it: local, process-N, or a Dask worker@host
    # a session's request (docs/config.md#sessions): `load_type` is then the session type
    session: str = ""                   # the run-unique session id ("12", a sub-agent "12-1")
    turn: int = 0                       # 1-based within the session
    step: str = ""                      # its new segment: user, tool or subagent
    context_tokens_target: int | None = None   # the history before the new segment
    itl_ms: array = field(default_factory=lambda: array("f"))   # gaps between those chunks
    # the server's own timing of this request, where its response carries it: llama.cpp's
    # `timings` (prompt_ms, predicted_ms, cache_n), TGI's x-queue-time and x-inference-time
    # headers (docs/metrics.md#queued_ms)
    server_prompt_ms: float | None = None
    server_predicted_ms: float | None = None
    server_cached_tokens: int | None = None
    server_queue_ms: float | None = None
    server_inference_ms: float | None = None
    # a hosted provider's rate limits as its response announced them: the lowest one (remaining
    # share, else count), and for a throttled request what it ran into and when to come back
    # (docs/metrics.md#rate-limits)
    headroom: Headroom | None = None
    throttle: str | None = None
    retry_after_s: float | None = None
    # the reply's answer text as it arrived, kept only when asked (a session's live history):
    # str pieces, or the bytes of JSON strings as sent (reply_text decodes them)
    reply: list | None = None
    # an endpoint whose reasoning comes inside the content, as <think>…</think> (think_tags)
    think: ThinkTags | None = None
    # stamp_chunk's own state: when the previous chunk with text arrived
    _t_last: float = field(default=0.0, init=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def open_loop(self) -> bool:
        """Sent on the phase's schedule whatever the server did: a plain request or a session's
        first turn. A later turn (or a sub-agent, "12-1") waits for a reply, so its latency
        also carries the session's own history and pace."""
        return self.turn <= 1 and "-" not in self.session

    @property
    def ttft_ms(self) -> float | None:
        return _ms(self.t_send, self.t_first)

    @property
    def ttfa_ms(self) -> float | None:
        """Time to the first answer token (content or a tool call), after any reasoning."""
        return _ms(self.t_send, self.t_answer)

    @property
    def reasoning_ms(self) -> float | None:
        """How long it reasoned before answering: TTFA − TTFT (0 without reasoning)."""
        return _ms(self.t_first, self.t_answer)

    @property
    def answer_tokens(self) -> int | None:
        if self.output_tokens is None:
            return None
        return max(0, self.output_tokens - (self.reasoning_tokens or 0))

    @property
    def answer_tpot_ms(self) -> float | None:
        """TPOT of the answer alone (its tokens after its first)."""
        answer = self.answer_tokens
        if self.t_answer is None or self.t_end is None or not answer or answer < 2:
            return None
        return (self.t_end - self.t_answer) * 1000.0 / (answer - 1)

    @property
    def e2e_ms(self) -> float | None:
        return _ms(self.t_send, self.t_end)

    @property
    def scheduled_latency_ms(self) -> float | None:
        return _ms(self.t_sched, self.t_end)

    @property
    def dispatch_delay_ms(self) -> float | None:
        return _ms(self.t_sched, self.t_send)

    @property
    def queued_ms(self) -> float | None:
        """How long it waited before the server worked on it: TGI's own queue time where it
        says, else e2e − the server's compute (llama.cpp's prompt_ms + predicted_ms), which also
        holds the network and the client (docs/metrics.md#queued_ms). None without either."""
        if self.server_queue_ms is not None:
            return self.server_queue_ms
        e2e = self.e2e_ms
        if e2e is None or self.server_prompt_ms is None or self.server_predicted_ms is None:
            return None
        return max(0.0, e2e - self.server_prompt_ms - self.server_predicted_ms)

    def stamp_server_timings(self, timings: Any) -> None:
        """llama.cpp's `timings` object of a response (its last chunk, in a stream)."""
        if not isinstance(timings, dict):
            return
        self.server_prompt_ms = _number(timings.get("prompt_ms"))
        self.server_predicted_ms = _number(timings.get("predicted_ms"))
        cached = timings.get("cache_n")
        self.server_cached_tokens = cached if isinstance(cached, int) else None

    def stamp_server_headers(self, headers: dict[str, str]) -> None:
        """TGI's x-queue-time and x-inference-time (ms) of a response, names lower-cased."""
        self.server_queue_ms = _number(headers.get("x-queue-time"))
        self.server_inference_ms = _number(headers.get("x-inference-time"))

    def stamp_rate_limits(self, limits: RateLimits) -> None:
        """The rate limits its response announced (ratelimits.read_headers)."""
        self.headroom = limits.lowest() or self.headroom
        if limits.retry_after_s is not None:
            self.retry_after_s = limits.retry_after_s

    def throttled(self, throttle: Throttle, message: str, http_status: int | None) -> None:
        """The provider refused the request for its limits (or its load): `rate_limited`, never
        in the latency statistics."""
        if self.status != OK:
            return
        self.fail(RATE_LIMITED, throttle.kind, message, http_status)
        self.throttle = throttle.kind
        if throttle.retry_after_s is not None:
            self.retry_after_s = throttle.retry_after_s

    @property
    def tpot_ms(self) -> float | None:
        if self.t_first is None or self.t_end is None or not self.output_tokens \
                or self.output_tokens < 2:
            return None
        return (self.t_end - self.t_first) * 1000.0 / (self.output_tokens - 1)

    def stamp_chunk(self, now: float, answer: Sized | None, reasoning: Sized | None = None) -> None:
        """A chunk of the stream arrived at `now` (time.monotonic()), carrying `answer` (content,
        or a list of tool calls) and `reasoning` text, each empty or None when it carried none.
        Text is a str, or the bytes of the JSON string as sent: only whether it is empty counts.

        The first chunk with text on any channel stamps TTFT: a role-only, finish or usage
        chunk, or one whose text is "", does not; whitespace does (it is a token the model
        produced). Every later one adds the gap since the one before to ITL, 0 for chunks
        read at the same moment. Runs for every chunk of every stream: keep it this cheap.
        """
        if not (answer or reasoning):
            return
        if self.think is not None and isinstance(answer, (str, bytes, bytearray)):
            answer, more = self.think.split(answer)
            reasoning = more or reasoning
            if not (answer or reasoning):
                return           # only the tags themselves
        if self.t_first is None:
            self.t_first = now
        else:
            self.itl_ms.append((now - self._t_last) * 1000.0)
        self._t_last = now
        self.content_chunks += 1
        if answer:
            if self.t_answer is None:      # TTFA; the answer's ITL starts after this chunk
                self.t_answer = now
                self.answer_itl_from = len(self.itl_ms)
            if self.reply is not None:
                self.reply.append(answer)
        if reasoning:       # also in a chunk that starts the answer: its last thought is in it
            self.reasoning_chunks += 1

    def stamp_end(self, now: float, usage: Any = None) -> None:
        """The stream ended at `now`. `usage` is the server's, shaped as OpenAI's: a dict (the
        JSON) or an object with the same names as attributes (litellm's); None if it sent none.

        Tokens are the server's counts. A request that is still ok and has no completion count
        gets its number of chunks with text instead, flagged estimated; a failed one none; so do
        its reasoning tokens (`completion_tokens_details.reasoning_tokens`, else the chunks of
        reasoning). Think tags read from the content are a token each in both estimates (as
        `<think>` and `</think>` are in the models that write them), so the answer's tokens,
        output less reasoning, leave them out. A request still ok that reasoned and never
        answered is `no_answer`.
        Mark a failure (`fail`) before this, so an estimate is never made for it.
        """
        self.t_end = now
        if usage is not None:
            self.prompt_tokens = _count(usage, "prompt_tokens")
            self.output_tokens = _count(usage, "completion_tokens")
            self.cached_tokens = _count(_part(usage, "prompt_tokens_details"), "cached_tokens")
            self.reasoning_tokens = _count(_part(usage, "completion_tokens_details"),
                                           "reasoning_tokens")
        if not self.ok:
            return
        tags = self.think.tags if self.think is not None else 0
        if self.output_tokens is None:
            self.output_tokens = self.content_chunks + tags
            self.output_tokens_estimated = True
        if self.reasoning_tokens is None and self.reasoning_chunks:
            self.reasoning_tokens = self.reasoning_chunks + tags
            self.reasoning_tokens_estimated = True
        if self.t_answer is None and (self.reasoning_chunks or self.reasoning_tokens):
            self.fail(NO_ANSWER, "NoAnswer", "the reply ended without an answer: its reasoning "
                      f"took {self.output_tokens} of the {self.output_tokens_target} output tokens "
                      "allowed (max_tokens)" if self.output_tokens else
                      "the reply ended without an answer after reasoning")

    def reply_text(self) -> str:
        """The answer's text, joined (tool calls, which arrive as lists, are left out)."""
        parts = []
        for piece in self.reply or ():
            if isinstance(piece, str):
                parts.append(piece)
            elif isinstance(piece, (bytes, bytearray)):
                parts.append(json.loads(b'"' + bytes(piece) + b'"'))
        return "".join(parts)

    def fail(self, status: str, error_type: str, message: str, http_status: int | None = None) -> None:
        """Mark the request failed; the first failure wins."""
        if self.status != OK:
            return
        self.status = status
        self.error_type = error_type
        self.error_message = message
        self.http_status = http_status


class ThinkTags:
    """Reasoning inside the content, between <think> and </think> (llama.cpp with
    `--reasoning-format none`, or a chat template that leaves it there): splits each chunk's text
    into answer and reasoning, the tags themselves in neither, also when a tag is cut across
    chunks. Text before any <think> is the answer; a reply may open with the tag or not."""

    OPEN, CLOSE = "<think>", "</think>"
    __slots__ = ("closed", "inside", "pending", "seen", "tags")

    def __init__(self) -> None:
        self.tags = 0             # how many tags were read (a token each in the estimates)
        self.inside = False       # between <think> and </think>
        self.closed = False       # the block ended: no tag is read any more
        self.pending = ""         # what may yet be a tag's start (or whitespace before one)
        self.seen = False         # the answer began: a <think> later is text, not a tag

    def split(self, chunk: str | bytes | bytearray) -> tuple[str, str]:
        """(answer, reasoning) text of one chunk."""
        text: str = chunk if isinstance(chunk, str) else json.loads(b'"' + bytes(chunk) + b'"')
        text, self.pending = self.pending + text, ""
        answer: list[str] = []
        reasoning: list[str] = []
        while text:
            if self.seen or (self.closed and text.strip()):
                self.seen = True                # one reasoning block, at the start: the rest
                answer.append(text)             # (a later "<think>" too) is the answer
                break
            if self.closed:                     # whitespace after the block: the answer's
                self.pending = text             # first word is yet to come
                break
            tag = self.CLOSE if self.inside else self.OPEN
            at = text.find(tag)
            head = text[:at] if at >= 0 else text[:len(text) - _partial_tag(text, tag)]
            if not self.inside and head.strip():
                self.seen = True                # the answer began without reasoning
                continue
            if at < 0:                          # keep what may be a tag's start, and leading
                self.pending = text[len(head):] if self.inside else text   # whitespace
                if self.inside:
                    reasoning.append(head)
                break
            if self.inside:
                reasoning.append(head)
            self.tags += 1
            text = text[at + len(tag):]
            self.closed = self.inside           # the block closed: the answer follows
            self.inside = not self.inside
        return "".join(answer), "".join(reasoning)


def _partial_tag(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


# how a session ended (sessions.csv `end`)
COMPLETED = "completed"
CONTEXT_LIMIT = "context_limit"
ERROR = "error"
CUT = "cut"             # max_session_seconds, or the run stopped


@dataclass(slots=True)
class SessionRecord:
    """One session, when it ended (docs/results.md#sessionscsv). Times are time.monotonic()."""

    session: str
    parent: str                         # the session that started it as a sub-agent, or ""
    phase: int
    session_type: int
    t_start: float                      # its first request's scheduled time
    t_end: float
    turns_planned: int
    turns_done: int = 0                 # requests that completed ok
    end: str = COMPLETED
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    wait_s: float = 0.0                 # think and tool time, and waiting for sub-agents
    # its ok turns served as fast as the server served them anywhere (the slowdown's reference)
    ideal_service_s: float | None = None
    worker: str = ""

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start

    @property
    def slowdown(self) -> float | None:
        """Its duration over what it would have taken had each of its turns been served as
        fast as the server served that turn (same session type, same turn index) anywhere in the
        run so far (run/conversation.py, Fastest): 1 for a server that never slows down, the
        factor a load made its sessions slower above. Completed sessions only."""
        if self.ideal_service_s is None or self.end != COMPLETED:
            return None
        ideal = self.wait_s + self.ideal_service_s
        return self.duration_s / ideal if ideal > 0 else None


def _part(usage: Any, name: str) -> Any:
    """A member of a usage object, given as a dict (JSON) or with attributes (litellm)."""
    return usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)


def _count(usage: Any, name: str) -> int | None:
    """A token count of a usage object; None when missing or not a whole number."""
    value = _part(usage, name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    """A finite number from JSON or a header's text; None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start) * 1000.0
