"""The simulator's toy tokenizer, chat template and prefix cache.

Deterministic and simple on purpose: a word (with its leading whitespace) or a single punctuation
character is one token, so tests can predict counts exactly.
"""

from __future__ import annotations

import re
import zlib
from collections import OrderedDict
from collections.abc import Iterable

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


def chat_prompt_ids(messages: Iterable[tuple[str, str]]) -> list[int]:
    """Token ids of (role, text) messages after the chat template: 4 per message + 3 priming."""
    ids: list[int] = []
    for role, text in messages:
        ids += (_START, token_id(role), _SEP)
        ids += map(_IDS.__getitem__, _TOKEN.findall(text))
        ids.append(_END)
    ids += (_START, _ASSISTANT, _SEP)
    return ids


class PrefixCache:
    """vLLM-style automatic prefix caching: chained hashes of 16-token blocks in a bounded LRU."""

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._blocks: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._blocks)

    def clear(self) -> None:
        self._blocks.clear()

    def match_and_insert(self, ids: list[int]) -> int:
        """Return how many leading tokens were cached, then remember every full block of ids."""
        blocks = self._blocks
        # Like vLLM, at least the last prompt token is always computed, so a fully cached prompt
        # whose length is a multiple of 16 still recomputes its last block.
        hittable = (len(ids) - 1) // BLOCK_SIZE
        cached_blocks = 0
        matching = True
        chained = 0
        for index, start in enumerate(range(0, len(ids) - BLOCK_SIZE + 1, BLOCK_SIZE)):
            # Python's hash of a tuple of ints is stable across processes (no hash seed).
            chained = hash((chained, *ids[start : start + BLOCK_SIZE]))
            if chained in blocks:
                blocks.move_to_end(chained)
                if matching and index < hittable:
                    cached_blocks += 1
            else:
                matching = False
                blocks[chained] = None
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)
        return cached_blocks * BLOCK_SIZE
