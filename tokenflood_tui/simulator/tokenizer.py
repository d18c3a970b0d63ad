"""The simulator's toy tokenizer, chat template and prefix cache.

Deterministic and simple on purpose: a word (with its leading whitespace) or a single punctuation
character is one token, so tests can predict counts exactly.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

_TOKEN = re.compile(r"\s*[A-Za-z0-9]+|\s*[^\sA-Za-z0-9]")

# Chat template cost, OpenAI cookbook style: every message is wrapped in 4 tokens and the reply
# is primed with 3 more.
TOKENS_PER_MESSAGE = 4
REPLY_PRIMING_TOKENS = 3
BLOCK_SIZE = 16


class _PieceIds(dict[str, int]):
    """Piece -> id memo; ids are crc32s, so clearing it never changes an id."""

    __slots__ = ()

    def __missing__(self, piece: str) -> int:
        if len(self) > 1_000_000:
            self.clear()
        token_id = self[piece] = zlib.crc32(piece.encode()) & 0x7FFFFFFF
        return token_id


_IDS = _PieceIds()


def token_id(piece: str) -> int:
    """The stable id of one token piece."""
    return _IDS[piece]


def pieces(text: str) -> list[str]:
    """Split text into token pieces."""
    return _TOKEN.findall(text)


def tokenize(text: str) -> list[int]:
    """Token ids of raw text, no template."""
    return list(map(_IDS.__getitem__, _TOKEN.findall(text)))


def count_tokens(text: str) -> int:
    """Number of tokens in raw text, no template."""
    return len(_TOKEN.findall(text))


_START = token_id("<|im_start|>")
_END = token_id("<|im_end|>")
_SEP = token_id("\n")
_ASSISTANT = token_id("assistant")
_TOOLS = token_id("tools")
_CALL_START = token_id("<tool_call>")
_CALL_END = token_id("</tool_call>")
REPLY_END = (_END,)   # what closes a reply once the template renders it in the next request


def message_text(content: object) -> str:
    """The text of a chat message's content: a string, None, or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
            else:
                raise ValueError("content parts must be text parts")
        return "".join(texts)
    raise ValueError("message content must be a string, a list of text parts or null")


class ToolCall(NamedTuple):
    """One function call of an assistant message, as the client sent it."""

    name: str
    arguments: str          # JSON text, rendered as it came


class ChatMessage(NamedTuple):
    """One message as the template renders it (a tuple: made for every message of every
    request, cheaper than a frozen dataclass)."""

    role: str
    text: str
    tool_calls: tuple[ToolCall, ...] = ()


def tool_call_ids(call: ToolCall) -> list[int]:
    """A tool call as Hermes-style templates (Qwen 2.5, and llama.cpp's for them) render it:
    `<tool_call>{"name": NAME, "arguments": ARGUMENTS}</tool_call>`, every character counted."""
    text = '{"name": ' + json.dumps(call.name) + ', "arguments": ' + call.arguments + "}"
    return [_CALL_START, *map(_IDS.__getitem__, _TOKEN.findall(text)), _CALL_END]


def chat_prompt_ids(messages: Iterable[ChatMessage], tools: str | None = None) -> list[int]:
    """Token ids of messages after the chat template: 4 per message + 3 priming, each tool call's
    name and arguments (`tool_call_ids`), and declared tools (their JSON text) as one more
    message first, as real templates put them in the system prompt."""
    ids: list[int] = []
    if tools is not None:
        ids += (_START, _TOOLS, _SEP)
        ids += map(_IDS.__getitem__, _TOKEN.findall(tools))
        ids.append(_END)
    for message in messages:
        ids += (_START, token_id(message.role), _SEP)
        ids += map(_IDS.__getitem__, _TOKEN.findall(message.text))
        for call in message.tool_calls:
            ids += tool_call_ids(call)
        ids.append(_END)
    ids += (_START, _ASSISTANT, _SEP)
    return ids


@dataclass(slots=True)
class Chain:
    """Where a remembered sequence stops: the chained hash of its last full block and the tokens
    after it (fewer than a block), so a reply extends it without hashing the prompt again."""

    last: int
    tail: list[int]


class PrefixCache:
    """vLLM-style automatic prefix caching: chained hashes of 16-token blocks in a bounded LRU.

    A request's prompt goes in on admission (`match_and_insert`); its reply follows it once
    generated (`extend`), as the template renders it in the next request of the conversation,
    so that request finds its whole history, as a server whose cache keeps the generated
    tokens' blocks does (vLLM's prefix caching, llama.cpp's slot cache)."""

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._blocks: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def clear(self) -> None:
        self._blocks.clear()

    def match_and_insert(self, ids: list[int]) -> tuple[int, Chain]:
        """How many leading tokens were cached, then remember every full block of ids; the
        chain to extend with the reply."""
        blocks = self._blocks
        # Like vLLM, at least the last prompt token is always computed, so a fully cached prompt
        # whose length is a multiple of 16 still recomputes its last block.
        hittable = (len(ids) - 1) // BLOCK_SIZE
        cached_blocks = 0
        matching = True
        chained = 0
        end = 0
        for index, start in enumerate(range(0, len(ids) - BLOCK_SIZE + 1, BLOCK_SIZE)):
            # Python's hash of a tuple of ints is stable across processes (no hash seed).
            end = start + BLOCK_SIZE
            chained = hash((chained, *ids[start:end]))
            if chained in blocks:
                blocks.move_to_end(chained)
                if matching and index < hittable:
                    cached_blocks += 1
            else:
                matching = False
                blocks[chained] = None
        self._evict()
        return cached_blocks * BLOCK_SIZE, Chain(chained, ids[end:])

    def extend(self, chain: Chain, ids: Iterable[int]) -> None:
        """Remember the blocks that `ids` complete after the chain's sequence."""
        tail = chain.tail
        tail += ids
        if len(tail) < BLOCK_SIZE:
            return
        blocks = self._blocks
        chained = chain.last
        end = 0
        for start in range(0, len(tail) - BLOCK_SIZE + 1, BLOCK_SIZE):
            end = start + BLOCK_SIZE
            chained = hash((chained, *tail[start:end]))
            blocks[chained] = None
            blocks.move_to_end(chained)
        chain.last, chain.tail = chained, tail[end:]
        self._evict()

    def _evict(self) -> None:
        blocks = self._blocks
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)
