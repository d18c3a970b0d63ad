"""Real traffic read from files: plain prompts (`text`), chat conversations as JSONL (`chat`), and
logged request bodies (`openai-log`), each into `Conversation`s.

The text read stays in memory, for counting: no error, note or output says any of it, only file
names, line numbers and counts (an error about a line names its key, never its value).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")
Format = Literal["text", "chat", "openai-log"]
FORMATS: tuple[Format, ...] = ("text", "chat", "openai-log")
# keys that make a JSON line a logged request rather than a bare conversation
LOG_KEYS = frozenset({"model", "max_tokens", "max_completion_tokens", "usage", "request",
                      "response", "body", "prompt", "custom_id", "stream", "temperature"})


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    text: str


@dataclass(slots=True)
class Conversation:
    """One line of a JSONL file, or one text file. `messages`: everything sent; `output`: the
    reply the data holds (a final assistant message), if any. A logged request may carry the
    server's own counts (`usage`), which then stand for the counted ones."""

    source: str                       # 'file:line' or 'file': where it came from, for messages
    messages: list[Message]
    output: str | None = None
    usage_prompt_tokens: int | None = None
    usage_output_tokens: int | None = None
    max_tokens: int | None = None     # a logged request's max_tokens (its output, with no usage)
    skipped_parts: int = 0            # non-text content parts (images, audio): not counted

    @property
    def user_turns(self) -> int:
        return sum(m.role == "user" for m in self.messages)


@dataclass(slots=True)
class Traffic:
    """What the files held: the conversations, the format, and what was read from where."""

    format: Format
    guessed: bool
    conversations: list[Conversation]
    files: list[Path]
    folders: list[Path] = field(default_factory=list)     # folders given, expanded into files
    skipped_parts: int = 0

    @property
    def multi_turn(self) -> bool:
        """Conversations of several user turns: sessions, not single requests."""
        return self.format == "chat" and any(c.user_turns > 1 for c in self.conversations)


def read_traffic(paths: list[Path], fmt: Format | None) -> Traffic:
    """Every file (folders expanded, sorted) read in one format: `fmt`, or the one guessed from
    the files' content. ConfigError for a missing or empty file, a malformed line, a file of no
    known format or of another format than the rest."""
    files, folders = expand(paths)
    guessed = fmt is None
    if fmt is None:
        kinds = {f: guess_format(f) for f in files}
        found = sorted(set(kinds.values()))
        if len(found) > 1:
            example = ", ".join(f"{f.name} ({k})" for k, f in
                                {k: f for f, k in kinds.items()}.items())
            raise ConfigError(f"the files hold different formats: {example}; profile one format "
                              "at a time, or give --format")
        fmt = found[0]
    conversations: list[Conversation] = []
    for f in files:
        if fmt == "text":
            conversations.append(read_text(f))
        else:
            conversations += read_jsonl(f, fmt)
    return Traffic(fmt, guessed, conversations, files, folders,
                   sum(c.skipped_parts for c in conversations))


def expand(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Files as given, and the files under each folder given (sorted, hidden ones left out)."""
    files: list[Path] = []
    folders: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
            if not inside:
                raise ConfigError(f"{path}: an empty folder (no file to profile in it)")
            folders.append(path)
            files += inside
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or folder")
    return files, folders


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    if b"\x00" in data:
        raise ConfigError(f"{path}: not a text file (it holds NUL bytes): give prompts as text, "
                          "chat JSONL or an OpenAI request log")
    try:
        text = data.decode("utf-8-sig")       # a byte-order mark is not part of the text
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): give prompts as text, "
                          "chat JSONL or an OpenAI request log") from None
    if not text.strip():
        raise ConfigError(f"{path}: an empty file (no prompt in it)")
    return text


def guess_format(path: Path) -> Format:
    """`chat` or `openai-log` for JSONL, by the keys of its first object; `text` for a file that
    does not start with `{`. ConfigError for JSON of neither kind."""
    text = _read(path)
    first = text.lstrip()
    if not first.startswith("{"):
        return "text"
    number, line = next((i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip())
    try:
        obj = json.loads(line)
    except ValueError:
        if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
            raise ConfigError(f"{path}:{number}: not valid JSON; give one JSON object per "
                              "line (JSONL)") from None
        return "text"          # a prompt that happens to start with a brace
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}:{number}: a JSON {type(obj).__name__}, not an object; "
                          "give one object per line")
    if LOG_KEYS & obj.keys():
        return "openai-log"
    if "messages" in obj:
        return "chat"
    # keys that look like names only: a key may be anything, text of the data included
    names = sorted(k for k in obj if KEY_NAME.fullmatch(k))[:8]
    others = len(obj) - len(names)
    keys = ", ".join(names) + (f" and {others} other(s)" if others else "")
    raise ConfigError(f"{path}: an unknown format: its first object has neither `messages` "
                      "(chat) nor a request's keys such as `model` or `request` (openai-log); "
                      f"its keys: {keys or 'none'}")


def read_text(path: Path) -> Conversation:
    return Conversation(str(path), [Message("user", _read(path))])


def read_jsonl(path: Path, fmt: Format) -> list[Conversation]:
    out = []
    for number, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            # the decoder's message gives a position, never the text
            raise ConfigError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); "
                              "give one JSON object per line") from None
        if not isinstance(obj, dict):
            raise ConfigError(f"{where}: a JSON {type(obj).__name__}, not an object; give one "
                              "object per line")
        out.append(_chat(obj, where) if fmt == "chat" else _logged(obj, where))
    if not out:
        raise ConfigError(f"{path}: an empty file (no line in it)")
    return out


def _chat(obj: dict[str, Any], where: str) -> Conversation:
    """{"messages": [...]}: a final assistant message is the output."""
    messages, skipped = _messages(obj.get("messages"), where, "messages")
    output = None
    if messages and messages[-1].role == "assistant":
        output = messages.pop().text
    if not any(m.role == "user" for m in messages):
        raise ConfigError(f"{where}: messages: no user message (a conversation needs one)")
    return Conversation(where, messages, output, skipped_parts=skipped)


def _logged(obj: dict[str, Any], where: str) -> Conversation:
    """A request body, bare or as {"request"|"body": …, "response": …} (the OpenAI batch file's
    shape too), with the response's usage when logged."""
    request = obj.get("request") or obj.get("body") or obj
    if not isinstance(request, dict):
        raise ConfigError(f"{where}: request: not an object")
    response = obj.get("response")
    if isinstance(response, dict) and isinstance(response.get("body"), dict):
        response = response["body"]
    usage = (response.get("usage") if isinstance(response, dict) else None) or obj.get("usage") \
        or request.get("usage")
    skipped = 0
    if "messages" in request:
        messages, skipped = _messages(request["messages"], where, "messages")
    elif isinstance(request.get("prompt"), str):
        messages = [Message("user", request["prompt"])]
    else:
        raise ConfigError(f"{where}: no `messages` (chat) or `prompt` (completions) in the "
                          "request")
    max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
    prompt_tokens = output_tokens = None
    if isinstance(usage, dict):
        prompt_tokens = _count(usage.get("prompt_tokens", usage.get("input_tokens")))
        output_tokens = _count(usage.get("completion_tokens", usage.get("output_tokens")))
    return Conversation(where, messages, None, prompt_tokens, output_tokens,
                        _count(max_tokens), skipped)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _messages(value: Any, where: str, key: str) -> tuple[list[Message], int]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: {key}: give a non-empty list of {{role, content}} objects")
    out = []
    skipped = 0
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ConfigError(f"{where}: {key}[{i}]: an object with a `role` is expected")
        content = m.get("content")
        if content is None:
            text = ""
        elif isinstance(content, str):
            text = content
        elif isinstance(content, list):      # content parts: the text ones are counted
            texts = [p.get("text") for p in content if isinstance(p, dict)]
            text = "".join(t for t in texts if isinstance(t, str))
            skipped += sum(not isinstance(t, str) for t in texts)
        else:
            raise ConfigError(f"{where}: {key}[{i}].content: a string or a list of parts is "
                              f"expected, not a {type(content).__name__}")
        if m.get("tool_calls"):                      # the call's arguments are sent too
            text += json.dumps(m["tool_calls"])
        out.append(Message(m["role"], text))
    return out, skipped
