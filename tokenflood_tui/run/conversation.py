"""One session as it runs: its history, the next request, and what ended it (docs/config.md#sessions).

A Conversation turns a SessionScript into requests. Every segment has exactly its drawn tokens
(one-token words, as prompts are built) and is re-sent byte-identical in every later request, so
a server's prefix cache can hold the whole history; the history holds the server's reply
(`history: live`) or synthetic words of the reply's token count (`echo`). A tool step's reply
stands in the history as an OpenAI tool call (its arguments: the reply), followed by a `tool`
message with the result; sub-agents' results come back as one user message.

The sender (run/sender.py) owns the timing: it sends each request at its deadline and tells the
Conversation what came back. Nothing here waits or measures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..metrics.records import (COMPLETED, CONTEXT_LIMIT, ERROR, OK, RequestRecord,
                               SessionRecord)
from ..specs import LoadTestSuite, SearchSuite
from .prompts import PromptFactory, SessionTemplate
from .sessions import STEP_NAMES, SUBAGENT, TOOL, SessionScript

TOOL_NAME = "lookup"
# Declared on every request of a type with tool steps (providers refuse a history with tool
# calls and no tools); `tool_choice: none` keeps the model answering in text.
TOOLS = [{"type": "function", "function": {
    "name": TOOL_NAME, "description": "Look something up.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}]


# The fastest the server served each turn (session type, 1-based turn index) in the run so far,
# in seconds: the slowdown's reference (SessionRecord.slowdown), kept by each sender for all its
# sessions. Its own turns only would call a session slowed by an overloaded server "1×".
Fastest = dict[tuple[int, int], float]


def tool_call_id(k: int) -> str:
    """A tool call's id, unique in its session and always as long (so as many tokens: the
    template overhead calibration measured holds for every one)."""
    return f"call_{k:08d}"


@dataclass(frozen=True, slots=True)
class Prepared:
    """The next request of a session."""

    messages: list[dict[str, Any]]
    max_tokens: int
    tools: list[dict[str, Any]] | None
    record: RequestRecord


class Conversation:
    """A session's state between its requests."""

    def __init__(self, suite: LoadTestSuite | SearchSuite, factory: PromptFactory,
                 script: SessionScript, session: str, phase: int, target_rate: float,
                 parent: str = "", fastest: Fastest | None = None):
        self.suite = suite
        self.fastest: Fastest = {} if fastest is None else fastest
        self.ok_turns: list[int] = []          # 1-based turn indices served ok
        self.factory = factory
        self.script = script
        self.session = session
        self.type = suite.session_types[script.type_index]
        self.template = factory.session_templates.get(
            (self.type.system_prompt_tokens > 0, self.type.tool_share > 0),
            SessionTemplate(factory.template_tokens, 0, 0))
        self.phase = phase
        self.target_rate = target_rate
        self.tools = TOOLS if self.type.tool_share > 0 else None
        self.k = 0                            # the next request, 0-based
        self.children_started = 0
        system = self.type.system_prompt_tokens
        self.messages: list[dict[str, Any]] = (
            [{"role": "system", "content": factory.words(system, f"system-{script.type_index}")}]
            if system else [])
        self.context = factory.words(script.context_tokens, f"context-{session}")
        self.history_tokens = system           # tokens of what the next request re-sends
        self.last: RequestRecord | None = None
        self.record = SessionRecord(session, parent, phase, script.type_index, 0.0, 0.0,
                                    script.turns)

    @property
    def done(self) -> bool:
        return self.k >= self.script.turns

    def wait_s(self) -> float:
        """How long after the previous reply the next request goes."""
        return float(self.script.wait_s[self.k])

    def children_before_next(self) -> tuple[SessionScript, ...]:
        """Sub-agents to run (and join) before the next request."""
        return self.script.children.get(self.k, ())

    def next_request(self, t_sched: float) -> Prepared | None:
        """The next request, scheduled at `t_sched`; None when the context limit ends the
        session (recorded as its end)."""
        k, script = self.k, self.script
        step = int(script.steps[k])
        new = int(script.new_tokens[k])
        key = f"{self.session}-{k}"
        messages = self.messages
        if k == 0:
            text = self.context + self.factory.user_text(new, key)
            added: list[dict[str, Any]] = [{"role": "user", "content": text}]
            overhead = self.template.first
        elif step == TOOL:
            call_id = tool_call_id(k)
            messages = messages[:-1] + [{"role": "assistant", "content": None, "tool_calls": [{
                "id": call_id, "type": "function",
                "function": {"name": TOOL_NAME, "arguments": json.dumps(
                    {"query": self.messages[-1]["content"]}, ensure_ascii=False)}}]}]
            added = [{"role": "tool", "tool_call_id": call_id,
                      "content": self.factory.words(new, key)}]
            overhead = self.template.tool
        elif step == SUBAGENT:
            added = [{"role": "user", "content": self.factory.words(new, key)}]
            overhead = self.template.turn
        else:
            added = [{"role": "user", "content": self.factory.user_text(new, key)}]
            overhead = self.template.turn
        context = self.history_tokens
        prompt = context + overhead + new + (script.context_tokens if k == 0 else 0)
        limit = self.type.context_limit_tokens
        if limit is not None and prompt > limit:
            if self.type.on_context_limit == "end":
                self.record.end = CONTEXT_LIMIT
                return None
            messages, context = self._compact()
            if step == TOOL:
                # The summary holds no tool call for the result to answer, and a `tool` message
                # must answer one (OpenAI refuses it otherwise): it comes as a user message.
                added = [{"role": "user", "content": added[0]["content"]}]
                overhead = self.template.turn
            prompt = context + overhead + new
        self.messages = messages + added
        rec = RequestRecord(self.phase, self.target_rate, script.type_index, t_sched, prompt,
                            context, int(script.output_tokens[k]), session=self.session,
                            turn=k + 1, step=STEP_NAMES[step], context_tokens_target=context)
        if self.suite.history == "live":
            rec.reply = []
        if k == 0:
            self.record.t_start = t_sched
        return Prepared(self.messages, int(script.output_tokens[k]), self.tools, rec)

    def _compact(self) -> tuple[list[dict[str, Any]], int]:
        """The history replaced by a summary (the system prompt kept), and its tokens: what an
        agent does when its context fills. It reads as a first request (the system prompt and
        the summary, in the template calibration measured) answered by one word, and holds
        `compact_target` tokens, or the least a one-word summary needs. The cache then holds
        only the system prompt."""
        system = self.type.system_prompt_tokens
        around = system + self.template.first + 1         # all but the summary's words
        room = max(1, self.type.compact_target - around)
        summary = {"role": "user", "content": self.factory.words(room, f"{self.session}-compact-{self.k}")}
        messages = (self.messages[:1] if system else []) + [
            summary, {"role": "assistant", "content": self.factory.words(1, "ok")}]
        return messages, around + room

    def replied(self, rec: RequestRecord) -> bool:
        """The request came back; False when the session ends here (a failure ends it unless
        on_error is skip)."""
        self.k += 1
        self.last = rec
        s = self.record
        s.prompt_tokens += rec.prompt_tokens or 0
        s.cached_tokens += rec.cached_tokens or 0
        s.output_tokens += rec.output_tokens or 0
        if rec.status == OK:
            s.turns_done += 1
            e2e = rec.e2e_ms
            if e2e is not None:
                key = (self.script.type_index, self.k)
                self.fastest[key] = min(self.fastest.get(key, math.inf), e2e / 1000)
                self.ok_turns.append(self.k)
            reply = (rec.reply_text() if rec.reply is not None
                     else self.factory.words(int(self.script.output_tokens[self.k - 1]),
                                             f"{self.session}-reply-{self.k}"))
            # a new list: what a request was prepared from never changes afterwards
            self.messages = self.messages + [{"role": "assistant", "content": reply}]
            if rec.prompt_tokens is not None and rec.output_tokens is not None:
                self.history_tokens = rec.prompt_tokens + rec.output_tokens
            else:
                self.history_tokens = rec.prompt_tokens_target + rec.output_tokens_target
        else:
            if self.suite.on_error == "end_session":
                s.end = ERROR
                return False
            # skip: the failed request's new segment stays out of the history
            self.messages = self.messages[:-1]
            if int(self.script.steps[self.k - 1]) == TOOL:
                self.messages = self.messages[:-1] + [
                    {"role": "assistant", "content": self.factory.words(
                        int(self.script.output_tokens[self.k - 2]), f"{self.session}-reply-{self.k - 1}")}]
        rec.reply = None                 # the text stays here; the record goes to the coordinator
        return not self.done

    def finish(self, t_end: float, end: str | None = None) -> SessionRecord:
        s = self.record
        s.t_end = t_end
        if end is not None and s.end == COMPLETED:
            s.end = end
        if self.ok_turns:
            s.ideal_service_s = sum(self.fastest.get((self.script.type_index, turn), 0.0)
                                    for turn in self.ok_turns)
        return s
