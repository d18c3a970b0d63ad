"""Token counts of real traffic: each request's prompt (the chat template's tokens included where
the endpoint tells them), its shared prefix and its output; for conversations, each turn.

The counters are run/prompts.py's (the server's /tokenize, or litellm's local tokenizers) and the
chat template is measured as calibration measures it for sessions (run/calibration.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import EndpointError
from ..run import prompts
from ..run.calibration import measure_session_template
from ..run.events import RunEvent
from ..run.prompts import SessionTemplate, TokenCounter
from ..specs import EndpointSpec
from .read import Conversation, Message, Traffic

PARALLEL = 8               # counting calls in flight to a server's /tokenize
SYSTEM_ROLES = ("system", "developer")
Templates = dict[bool, SessionTemplate]     # by: has a system prompt
OutputSource = Literal["data", "usage", "max_tokens", "none"]


@dataclass(frozen=True, slots=True)
class CountedRequest:
    prompt: int                # tokens sent: the messages and the chat template's
    prefix: int                # of its content, the most it shares with another request's start
    output: int | None         # the reply's tokens, when the data has them


@dataclass(slots=True)
class CountedSession:
    """One multi-turn conversation, turn by turn (a turn: a user message and the reply)."""

    system: int                # its system prompt
    shared_system: int         # of which it shares with another conversation's system prompt
    users: list[int]           # each turn's user message
    outputs: list[int | None]  # each turn's reply
    prompts: list[int]         # each turn's request: the history, template included


@dataclass(slots=True)
class Profile:
    """Real traffic as counts: what `profile` prints and fits a suite to."""

    traffic: Traffic
    counter: str                          # which tokenizer counted
    templates: Templates                  # what the chat template adds ({}: not counted)
    template_note: str                    # how it was known, or why not
    requests: list[CountedRequest]        # every request (a conversation's: each turn's)
    sessions: list[CountedSession] = field(default_factory=list)
    output_source: OutputSource = "none"

    @property
    def outputs(self) -> list[int]:
        return [r.output for r in self.requests if r.output is not None]


class Counting:
    """Counts texts once each (the same system prompt in a thousand lines is one call)."""

    def __init__(self, counter: TokenCounter):
        self.counter = counter
        self._known: dict[str, int] = {}
        self._gate = asyncio.Semaphore(PARALLEL)

    async def count(self, text: str) -> int:
        if not text:
            return 0
        if text not in self._known:
            async with self._gate:
                self._known[text] = await self.counter.count(text)
        return self._known[text]

    async def count_all(self, texts: list[str]) -> list[int]:
        return list(await asyncio.gather(*(self.count(t) for t in texts)))


def overhead(templates: Templates, messages: list[Message]) -> int:
    """The chat template's tokens around `messages`: the first turn's wrapping (a system prompt,
    if any, and a user message, and the reply's priming), and half a turn's for every further
    message."""
    system = has_system(messages)
    template = templates.get(system)
    if template is None:
        return 0
    first = 2 if system else 1
    return max(0, template.first + round(template.turn * max(0, len(messages) - first) / 2))


def has_system(messages: list[Message]) -> bool:
    return bool(messages) and messages[0].role in SYSTEM_ROLES


async def count_traffic(traffic: Traffic, counter: TokenCounter, templates: Templates,
                        template_note: str, say: Callable[[str], None] = lambda _: None
                        ) -> Profile:
    counting = Counting(counter)
    texts = {m.text for c in traffic.conversations for m in c.messages}
    texts |= {c.output for c in traffic.conversations if c.output}
    say(f"counting {len(texts):,} distinct texts with {counter.name}")
    await counting.count_all(sorted(texts))
    if traffic.multi_turn:
        sessions = [await _session(c, counting, templates) for c in traffic.conversations]
        await _share_system_prompts(traffic.conversations, sessions, counting)
        requests = await _turn_requests(traffic.conversations, sessions, counting)
        source: OutputSource = "data" if any(o is not None for s in sessions
                                              for o in s.outputs) else "none"
        return Profile(traffic, counter.name, templates, template_note, requests, sessions,
                       source)
    prefixes = await shared_prefixes([c.messages for c in traffic.conversations], counting)
    requests = []
    for c, prefix in zip(traffic.conversations, prefixes, strict=True):
        prompt = c.usage_prompt_tokens
        if prompt is None:
            prompt = sum(await counting.count_all([m.text for m in c.messages])) + \
                overhead(templates, c.messages)
        requests.append(CountedRequest(max(1, prompt), min(prefix, max(0, prompt - 1)),
                                       await _output(c, counting)))
    return Profile(traffic, counter.name, templates, template_note, requests, [],
                   _output_source(traffic.conversations))


async def _output(c: Conversation, counting: Counting) -> int | None:
    if c.usage_output_tokens is not None:
        return c.usage_output_tokens
    if c.output is not None:
        return await counting.count(c.output)
    return c.max_tokens


def _output_source(conversations: list[Conversation]) -> OutputSource:
    if any(c.usage_output_tokens is not None for c in conversations):
        return "usage"
    if any(c.output is not None for c in conversations):
        return "data"
    if any(c.max_tokens is not None for c in conversations):
        return "max_tokens"
    return "none"


async def _session(c: Conversation, counting: Counting,
                   templates: Templates) -> CountedSession:
    """Turn k: its user message, the reply after it (the next assistant message; the last
    turn's is the conversation's output), and its request: every message up to its user
    message."""
    messages = c.messages
    system = sum([await counting.count(m.text) for m in messages[:1] if m.role in SYSTEM_ROLES])
    users: list[int] = []
    outputs: list[int | None] = []
    turn_prompts: list[int] = []
    sent = 0
    for i, m in enumerate(messages):
        sent += await counting.count(m.text)
        if m.role != "user":
            continue
        users.append(await counting.count(m.text))
        turn_prompts.append(sent + overhead(templates, messages[:i + 1]))
        reply = next((r for r in messages[i + 1:] if r.role in ("assistant", "user")), None)
        if reply is not None and reply.role == "assistant":
            outputs.append(await counting.count(reply.text))
        elif reply is None and c.output is not None:
            outputs.append(await counting.count(c.output))
        else:
            outputs.append(None)
    return CountedSession(system, 0, users, outputs, turn_prompts)


async def _share_system_prompts(conversations: list[Conversation],
                                sessions: list[CountedSession], counting: Counting) -> None:
    firsts = [[c.messages[0]] if c.messages[0].role in SYSTEM_ROLES else []
              for c in conversations]
    shared = await shared_prefixes(firsts, counting)
    for s, n in zip(sessions, shared, strict=True):
        s.shared_system = min(n, s.system)


async def _turn_requests(conversations: list[Conversation], sessions: list[CountedSession],
                         counting: Counting) -> list[CountedRequest]:
    """Each turn as a request, with the prefix a cache would see: its history is the previous
    turn's request and reply, and its start may be another conversation's."""
    histories: list[list[Message]] = []
    for c in conversations:
        users = [i for i, m in enumerate(c.messages) if m.role == "user"]
        histories += [c.messages[:i + 1] for i in users]
    prefixes = iter(await shared_prefixes(histories, counting))
    return [CountedRequest(prompt, min(next(prefixes), prompt - 1), output)
            for s in sessions for prompt, output in zip(s.prompts, s.outputs, strict=True)]


SEP_ROLE, SEP_TEXT = "\x1e", "\x1f"


def _render(messages: list[Message]) -> str:
    return "".join(f"{SEP_ROLE}{m.role}{SEP_TEXT}{m.text}" for m in messages)


async def shared_prefixes(items: list[list[Message]], counting: Counting) -> list[int]:
    """For each message list, the tokens of the longest start it shares with any other one (as a
    prefix cache holding the others would find it): whole messages shared count their tokens,
    the part of a message shared up to its last whitespace is counted on its own."""
    rendered = [_render(m) for m in items]
    order = sorted(range(len(items)), key=rendered.__getitem__)
    shared_chars = [0] * len(items)
    for a, b in zip(order, order[1:], strict=False):
        n = _common(rendered[a], rendered[b])
        shared_chars[a] = max(shared_chars[a], n)
        shared_chars[b] = max(shared_chars[b], n)
    return list(await asyncio.gather(*(_tokens_of_start(m, n, counting)
                                       for m, n in zip(items, shared_chars, strict=True))))


def _common(a: str, b: str) -> int:
    """The length of the common start of two strings (bisected: slices compare in C)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


async def _tokens_of_start(messages: list[Message], chars: int, counting: Counting) -> int:
    tokens = 0
    for m in messages:
        head = len(SEP_ROLE) + len(m.role) + len(SEP_TEXT)
        if chars < head:
            break
        chars -= head
        if chars >= len(m.text):
            tokens += await counting.count(m.text)
            chars -= len(m.text)
            continue
        part = m.text[:chars]
        cut = max(part.rfind(" "), part.rfind("\n"))       # no token cut in two
        if cut > 0:
            tokens += await counting.count(part[:cut])
        break
    return tokens


async def endpoint_counter(endpoint: EndpointSpec, kinds: set[bool],
                           emit: Callable[[RunEvent], None]
                           ) -> tuple[TokenCounter, Templates, str, Callable]:
    """The endpoint's own counter (its /tokenize, else litellm's for its model) and, where the
    server has a /tokenize (a self-hosted server: probes cost nothing), its chat template measured
    by three probes of max_tokens 1 for each of `kinds` (with a system prompt or not). Returns
    the counter, the templates, how they were known, and the coroutine function that closes what
    was opened."""
    import aiohttp

    from ..clients import make_client
    client = make_client(endpoint)
    await client.start()
    headers = dict(client.extra_headers)
    if client.api_key:
        headers["Authorization"] = f"Bearer {client.api_key}"
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TOKENIZE_TIMEOUT_S))

    async def close() -> None:
        await session.close()
        await client.close()

    try:
        counter = await prompts.make_token_counter(endpoint, session, headers, emit=emit,
                                                   timeout_s=TOKENIZE_TIMEOUT_S)
        if not isinstance(counter, prompts.ServerTokenizer):
            return counter, {}, ("not counted: the endpoint has no /tokenize, and measuring it "
                                 "would send requests"), close
        vocabulary = await prompts.single_token_words(counter)
        words = ["".join(vocabulary[i * 8:(i + 1) * 8]) for i in range(4)]
        templates: Templates = {}
        for system in sorted(kinds):
            try:
                template = await measure_session_template(client, words, system, False,
                                                          TOKENIZE_TIMEOUT_S)
            except EndpointError as exc:
                reason = client.scrub(str(exc)).removeprefix("sessions: ")
                return counter, {}, f"not counted: {reason}", close
            if template is None:
                return counter, {}, "not counted: the endpoint reports no usage", close
            templates[system] = template
        return counter, templates, "measured on the endpoint", close
    except BaseException:
        await close()
        raise


TOKENIZE_TIMEOUT_S = 30
