"""The scripts of a session run, drawn up front from the suite and the seed (docs/config.md#sessions).

A session's script says everything the suite leaves to chance: its type, starting context, and
for each of its requests what the new segment is (a user message, a tool's result, sub-agents'
results) and its size, the reply's max_tokens, whether the reply stands for a tool call, and how
long to wait before sending it (think or tool time, after the previous reply). Only what the
server does — how fast, and with which words when the history is live — is left to the run.
The same suite and seed always draw the same scripts, whatever the worker count, and a resumed
phase draws them again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..specs import LoadTestSuite, SearchSuite
from ..specs.sessions import SessionType, draw_counts

# What a request's new segment is (requests.csv `step`).
USER, TOOL, SUBAGENT = 0, 1, 2
STEP_NAMES = ("user", "tool", "subagent")

# Tokens a chat template may add around one message (role markers, separators) and around a
# tool call (its JSON), for the budget's estimate before calibration has measured the template:
# above what common templates add (ChatML 5, Llama 3 5, Mistral 4), so the estimate stays on top.
TEMPLATE_MARGIN_PER_MESSAGE = 10
TEMPLATE_MARGIN_PER_TOOL_CALL = 32

SessionSuite = LoadTestSuite | SearchSuite


@dataclass(frozen=True, slots=True)
class SessionScript:
    """One session, as the suite and the seed drew it. Arrays have one entry per request."""

    type_index: int
    context_tokens: int
    steps: np.ndarray           # int8: USER, TOOL or SUBAGENT (the first is USER)
    new_tokens: np.ndarray      # int32: the new segment's tokens
    output_tokens: np.ndarray   # int32: the reply's max_tokens
    tool_call: np.ndarray       # bool: the reply stands for a tool call (the next carries its result)
    wait_s: np.ndarray          # float32: before it is sent, after the previous reply (0 first)
    # sub-agents started after the reply before request k (k: 0-based), joined before it is sent
    children: dict[int, tuple[SessionScript, ...]] = field(default_factory=dict)

    @property
    def turns(self) -> int:
        return len(self.steps)

    def __reduce__(self):
        # A phase's scripts cross to the worker processes in one message before its first
        # deadline: arrays as raw bytes pickle and load 3-6× faster than ndarrays (10,000
        # scripts: 0.23 s instead of 0.96 s), and the message is half the size.
        arrays = (self.steps, self.new_tokens, self.output_tokens, self.tool_call, self.wait_s)
        return (_script, (self.type_index, self.context_tokens,
                          tuple((a.dtype.str, a.tobytes()) for a in arrays), self.children))

    def requests(self) -> int:
        """Its requests, its sub-agents' included."""
        return self.turns + sum(c.requests() for kids in self.children.values() for c in kids)

    def tokens(self, types: list[SessionType]) -> tuple[int, int]:
        """(prompt, output) tokens if every reply uses its max_tokens and its reasoning budget
        and nothing is cut: the history grows by each new segment and reply (answers only), so
        prompt tokens grow with turns squared. Counts the budget's template margin per message."""
        system = types[self.type_index].system_prompt_tokens
        budget = types[self.type_index].reasoning_budget_tokens or 0
        messages = 2 * np.arange(1, self.turns + 1) + (1 if system else 0)
        grown = np.concatenate(([0], np.cumsum(self.new_tokens[:-1] + self.output_tokens[:-1])))
        tool_calls = np.concatenate(([0], np.cumsum(self.tool_call[:-1])))
        prompt = (system + self.context_tokens + grown + self.new_tokens
                  + TEMPLATE_MARGIN_PER_MESSAGE * messages
                  + TEMPLATE_MARGIN_PER_TOOL_CALL * tool_calls)
        total_prompt = int(prompt.sum())
        total_output = int(self.output_tokens.sum()) + budget * self.turns
        for kids in self.children.values():
            for child in kids:
                p, o = child.tokens(types)
                total_prompt, total_output = total_prompt + p, total_output + o
        return total_prompt, total_output


def _script(type_index: int, context_tokens: int, arrays: tuple[tuple[str, bytes], ...],
            children: dict[int, tuple[SessionScript, ...]]) -> SessionScript:
    """A SessionScript back from its pickled form (read-only arrays: a script never changes)."""
    steps, new_tokens, output_tokens, tool_call, wait_s = (
        np.frombuffer(data, dtype=np.dtype(kind)) for kind, data in arrays)
    return SessionScript(type_index, context_tokens, steps, new_tokens, output_tokens, tool_call,
                         wait_s, children=children)


@dataclass(frozen=True, slots=True)
class SessionPhase:
    """The sessions one phase starts: offsets from its start and a script each."""

    offsets_s: np.ndarray                 # float64, ascending, all < the phase's length
    scripts: list[SessionScript]
    first_session: int = 0                # the run-wide id of its first session

    @property
    def sessions(self) -> int:
        return len(self.scripts)

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.first_session, self.first_session + self.sessions)


def type_weights(suite: SessionSuite) -> np.ndarray:
    weights = np.array([t.weight for t in suite.session_types], dtype=np.float64)
    return weights / weights.sum()


def draw_phase(suite: SessionSuite, phase: int, offsets_s: np.ndarray,
               first_session: int) -> SessionPhase:
    """The scripts of the sessions a phase starts at `offsets_s`, seeded by (seed, phase) and by
    each session's index, so a phase drawn again (a resume, a search) is the same."""
    rng = np.random.default_rng([suite.seed, phase, 1])
    kinds = rng.choice(len(suite.session_types), size=len(offsets_s), p=type_weights(suite))
    names = [t.name for t in suite.session_types]
    scripts = [draw_session(suite, names, int(kind),
                            np.random.default_rng([suite.seed, phase, 2, i]))
               for i, kind in enumerate(kinds.tolist())]
    return SessionPhase(offsets_s, scripts, first_session)


def draw_session(suite: SessionSuite, names: list[str], type_index: int,
                 rng: np.random.Generator) -> SessionScript:
    t: SessionType = suite.session_types[type_index]
    n = int(draw_counts(t.turns, rng, 1, least=1)[0])
    context = int(draw_counts(t.context_tokens, rng, 1)[0])
    tool_call = rng.random(n) < t.tool_share
    tool_call[-1] = False                    # a session ends on an answer
    output = np.where(tool_call, draw_counts(t.tool_call_tokens, rng, n, least=1),
                      draw_counts(t.output_tokens, rng, n, least=1)).astype(np.int32)
    user = draw_counts(t.user_tokens, rng, n, least=1)
    result = draw_counts(t.tool_result_tokens, rng, n, least=1)
    think = t.think_seconds.draw(rng, n)
    tool_s = t.tool_seconds.draw(rng, n)
    steps = np.full(n, USER, dtype=np.int8)
    new = user.astype(np.int32)
    wait = think.astype(np.float32)
    children: dict[int, tuple[SessionScript, ...]] = {}
    for k in range(1, n):
        if tool_call[k - 1]:
            steps[k], new[k], wait[k] = TOOL, result[k], tool_s[k]
        elif t.subagents is not None and k % t.subagents.every == 0:
            sub = t.subagents
            child_type = names.index(sub.type)
            kids = tuple(draw_session(suite, names, child_type, rng) for _ in range(sub.count))
            children[k] = kids
            results = draw_counts(sub.result_tokens, rng, sub.count, least=1)
            steps[k], new[k], wait[k] = SUBAGENT, int(results.sum()), 0.0
    wait[0] = 0.0
    return SessionScript(type_index, context, steps, new, output, tool_call, wait, children)


def phase_tokens(suite: SessionSuite, phase: SessionPhase) -> tuple[int, int]:
    """(prompt, output) tokens the phase's sessions send at most (see SessionScript.tokens)."""
    prompt = output = 0
    for script in phase.scripts:
        p, o = script.tokens(suite.session_types)
        prompt, output = prompt + p, output + o
    return prompt, output


def most_tokens_per_session(suite: SessionSuite, name: str, above: tuple[str, ...] = ()) -> tuple[int, int]:
    """(prompt, output) tokens of the largest session a type can draw: every amount at its max
    (the budget's upper bound, whatever the seed)."""
    t = next(s for s in suite.session_types if s.name == name)
    if name in above:
        return 0, 0
    n = int(round(t.turns.high))
    system = t.system_prompt_tokens
    reply = max(t.output_tokens.high, t.tool_call_tokens.high)
    segment = max(t.user_tokens.high, t.tool_result_tokens.high)
    kids_prompt = kids_output = 0
    if t.subagents is not None:
        fan_outs = max(0, (n - 1) // t.subagents.every)
        segment = max(segment, t.subagents.count * t.subagents.result_tokens.high)
        p, o = most_tokens_per_session(suite, t.subagents.type, (*above, name))
        kids_prompt, kids_output = (fan_outs * t.subagents.count * p,
                                    fan_outs * t.subagents.count * o)
    prompt = 0.0
    for k in range(1, n + 1):
        prompt += (system + t.context_tokens.high + (k - 1) * (segment + reply) + segment
                   + TEMPLATE_MARGIN_PER_MESSAGE * (2 * k + 1) + TEMPLATE_MARGIN_PER_TOOL_CALL * k)
    budget = t.reasoning_budget_tokens or 0
    return int(prompt) + kids_prompt, int(n * (reply + budget)) + kids_output


def least_tokens_per_session(t: SessionType) -> tuple[int, int]:
    """(prompt, output) tokens of the smallest session a type can draw: every amount at its
    least, no template (the budget's lower bound before anything is drawn)."""
    n = max(1, int(round(t.turns.low)))
    segment = min(t.user_tokens.low, t.tool_result_tokens.low)
    reply = min(t.output_tokens.low, t.tool_call_tokens.low)
    first = t.system_prompt_tokens + t.context_tokens.low + segment
    prompt = sum(first + (k - 1) * (segment + reply) for k in range(1, n + 1))
    return int(prompt), int(n * reply)
