"""Token counting and prompt synthesis (docs/architecture.md#prompts).

A prompt is: a prefix shared by every request of its load type, then filler unique per request,
then a short instruction. Text is built from words that are one token each for the counter in
use, so a prompt's size is known without tokenizing every request; calibration against the
server's `usage.prompt_tokens` (calibration) then corrects the chat-template overhead and any rest.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol
from urllib.parse import urlparse

from ..errors import EndpointError
from ..specs import EndpointSpec, LoadType
from .events import Note, RunEvent

if TYPE_CHECKING:
    import aiohttp

# Common English words: one token each in most tokenizers (checked against the counter at start).
CANDIDATE_WORDS = """
the of and to in is was for that on with as by at from his it an were are which this be or has
had not but their one all also new more after first two other time can its some who been into
over most only than out when would may them there these year about during school city up many
state world north south east west water light house river field stone green blue red white black
small large long short high low old young early late good great little own same right left
book song game film story music paper table chair door window wall floor road bridge tower
garden forest mountain island valley lake ocean coast harbor market village farm horse bird fish
tree flower grass rain snow wind storm cloud sun moon star night day morning evening summer
winter spring autumn week month king queen army church court law team club party union company
family father mother son daughter brother sister friend people man woman child life death war
peace power money land sea fire air earth gold iron wood glass salt bread milk wine tea coffee
""".split()

INSTRUCTION = " Ignore the words above and write a very long story about a lighthouse keeper."
WARMUP_TEXT = " Reply with one short word."
WARMUP_MAX_TOKENS = 4


class TokenCounter(Protocol):
    name: str

    async def count(self, text: str) -> int: ...


class ServerTokenizer:
    """The server's own tokenizer via POST /tokenize (vLLM, llama.cpp, SGLang, the simulator)."""

    name = "server /tokenize"

    def __init__(self, url: str, session: aiohttp.ClientSession, model: str, headers: dict[str, str]):
        self.url = url
        self._session = session
        self._model = model
        self._headers = headers
        self._special = 0   # tokens the server adds to any text (BOS), measured by calibrate()

    async def _raw(self, text: str) -> int:
        body = {"model": self._model, "prompt": text, "content": text,
                "add_special_tokens": False, "add_special": False}
        async with self._session.post(self.url, json=body, headers=self._headers) as resp:
            if resp.status != 200:
                raise EndpointError(f"{self.url} answered HTTP {resp.status}")
            data = await resp.json(content_type=None)
        if isinstance(data.get("count"), int):
            return data["count"]
        return len(data["tokens"])

    async def calibrate(self) -> None:
        """Learn how many special tokens the server adds to every text (0 or a BOS)."""
        one, two = await self._raw(" the"), await self._raw(" the the")
        self._special = max(0, 2 * one - two)

    async def count(self, text: str) -> int:
        return await self._raw(text) - self._special


class LitellmTokenCounter:
    """litellm.token_counter: offline, with litellm's bundled tokenizers (approximate for many)."""

    name = "litellm.token_counter"

    def __init__(self, model: str):
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm  # lazy: seconds to import

        self._token_counter = litellm.token_counter
        self._model = model

    async def count(self, text: str) -> int:
        return self._token_counter(model=self._model, text=text)


async def make_token_counter(endpoint: EndpointSpec, session: aiohttp.ClientSession,
                             headers: dict[str, str],
                             emit: Callable[[RunEvent], None] | None = None,
                             timeout_s: float | None = None) -> TokenCounter:
    """The best counter available: the server's /tokenize when it has one, else litellm's.

    Each /tokenize call waits as long as `session` allows (the run's request timeout, at most
    30 s); `timeout_s` only words the log line that says what is being waited for.
    """
    import aiohttp

    def say(text: str) -> None:
        if emit is not None:
            emit(Note("info", text))

    if endpoint.base_url:
        for url in _tokenize_urls(endpoint.base_url):
            counter = ServerTokenizer(url, session, endpoint.model, headers)
            wait = f" (timeout {timeout_s:g} s)" if timeout_s is not None else ""
            say(f"waiting for the endpoint's {urlparse(url).path}{wait}")
            try:
                await counter.calibrate()
                return counter
            except (aiohttp.ClientError, TimeoutError, EndpointError, ValueError, KeyError,
                    TypeError, AttributeError) as exc:
                reason = "no answer in time" if isinstance(exc, TimeoutError) else (
                    str(exc) or type(exc).__name__)
                say(f"no usable {urlparse(url).path} ({reason})")
                continue
    return await asyncio.to_thread(LitellmTokenCounter, endpoint.litellm_model)


def _tokenize_urls(base_url: str) -> list[str]:
    parsed = urlparse(base_url)
    root = f"{parsed.scheme}://{parsed.netloc}"
    urls = [f"{root}/tokenize"]
    if parsed.path.rstrip("/") not in ("", "/v1"):
        urls.append(f"{base_url}/tokenize")
    return urls


async def single_token_words(counter: TokenCounter, words: list[str] = CANDIDATE_WORDS) -> list[str]:
    """The candidate words (with a leading space) that are exactly one token each."""
    pieces = [f" {w}" for w in words]

    async def keep(group: list[str]) -> list[str]:
        if await counter.count("".join(group)) == len(group):
            return group
        if len(group) == 1:
            return []
        mid = len(group) // 2
        return await keep(group[:mid]) + await keep(group[mid:])

    found = await keep(pieces)
    if len(found) < 16:
        raise EndpointError(f"the tokenizer ({counter.name}) splits common English words into "
                            "several tokens; cannot synthesise prompts of exact length")
    return found


@dataclass(frozen=True, slots=True)
class SessionTemplate:
    """What the chat template adds around a session's messages, measured in calibration (with
    or without a system prompt, with or without tools declared): around the first request's
    messages, and for each later step. run/conversation.py counts a session's requests with it."""

    first: int          # the system prompt and the first user message
    turn: int           # an assistant reply and a user message
    tool: int           # an assistant reply turned tool call, and a tool result


@dataclass(slots=True)
class PromptShape:
    """How one load type's prompt is built: a fixed prefix, then `unique_words` filler words."""

    prefix_text: str
    unique_words: int
    with_instruction: bool


class PromptFactory:
    """Seeded prompts of known token length for each load type.

    `nonce` (drawn fresh for every run) goes into the prefixes, the sequence words and the
    filler, so a rerun never finds the previous run's prompts in a server's prefix cache; None
    replays the seed's exact prompts (`reuse_prompts: true`).
    """

    def __init__(self, load_types: list[LoadType], vocabulary: list[str], seed: int,
                 instruction_tokens: int, template_tokens: int = 0, nonce: int | None = None):
        self.load_types = load_types
        self.vocabulary = vocabulary
        self.seed = seed
        self.nonce = nonce
        self.instruction_tokens = instruction_tokens
        self.template_tokens = template_tokens
        # what the chat template adds around a session's messages, by (system prompt?, tools?)
        self.session_templates: dict[tuple[bool, bool], SessionTemplate] = {}
        # Words that encode a request's sequence number: they make each prompt unique right after
        # the prefix, so nothing past the prefix can hit a prefix cache.
        self._id_words = max(1, math.ceil(math.log(10**7, len(vocabulary))))
        # The nonce shifts the sequence words (still one distinct text per sequence number) and
        # the filler's seed, so even a prompt without a prefix starts differently in every run.
        self._id_offset = 0 if nonce is None else nonce % len(vocabulary) ** self._id_words
        self._filler_salt = 0 if nonce is None else (nonce + 1) << 48
        self.shapes = [self._shape(i, lt) for i, lt in enumerate(load_types)]

    def _shape(self, index: int, lt: LoadType) -> PromptShape:
        run = "" if self.nonce is None else f"-{self.nonce}"
        rng = random.Random(f"prefix-{self.seed}{run}-{index}")
        prefix = "".join(rng.choices(self.vocabulary, k=lt.prefix_length))
        room = lt.prompt_length - self.template_tokens - lt.prefix_length
        if room - self.instruction_tokens >= 1:
            return PromptShape(prefix, room - self.instruction_tokens, True)
        return PromptShape(prefix, max(1, room), False)

    def fits(self, index: int) -> bool:
        """Whether the target length leaves at least one unique token after prefix and template."""
        lt = self.load_types[index]
        return lt.prompt_length - self.template_tokens - lt.prefix_length >= 1

    def adjust(self, index: int, delta_tokens: int) -> None:
        """Grow (or shrink) a load type's unique part after a calibration measurement."""
        shape = self.shapes[index]
        shape.unique_words = max(1, shape.unique_words + delta_tokens)

    def content(self, index: int, seq: int) -> str:
        """The user message for request `seq` (any int; the same seq gives the same text)."""
        shape = self.shapes[index]
        vocab = self.vocabulary
        n = len(vocab)
        id_part = []
        x = (seq + self._id_offset) % (n ** self._id_words)
        for _ in range(min(self._id_words, shape.unique_words)):
            x, digit = divmod(x, n)
            id_part.append(vocab[digit])
        rng = random.Random(self.seed * 1_000_003 + seq * 7919 + index + self._filler_salt)
        filler = rng.choices(vocab, k=shape.unique_words - len(id_part))
        text = shape.prefix_text + "".join(id_part) + "".join(filler)
        return text + INSTRUCTION if shape.with_instruction else text

    def messages(self, index: int, seq: int) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.content(index, seq)}]

    def words(self, count: int, key: str) -> str:
        """`count` words of one token each, the same text for the same key (and run): a
        session's segments (run/conversation.py)."""
        run = "" if self.nonce is None else f"-{self.nonce}"
        rng = random.Random(f"words-{self.seed}{run}-{key}")
        return "".join(rng.choices(self.vocabulary, k=count))

    def user_text(self, count: int, key: str) -> str:
        """A user message of `count` tokens, ending in the instruction to write at length when
        it has room for it."""
        if count - self.instruction_tokens >= 1:
            return self.words(count - self.instruction_tokens, key) + INSTRUCTION
        return self.words(count, key)
