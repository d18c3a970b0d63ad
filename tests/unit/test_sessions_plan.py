"""Session suites: their keys and bad input, the scripts drawn from them, their budget, and a
session's requests as a Conversation builds them (docs/config.md#sessions)."""

from __future__ import annotations

import numpy as np
import pytest

from tokenflood_tui.errors import ConfigError
from tokenflood_tui.metrics.records import CONTEXT_LIMIT, ERROR, HTTP_ERROR
from tokenflood_tui.run import budget
from tokenflood_tui.run.conversation import Conversation
from tokenflood_tui.run.prompts import PromptFactory, SessionTemplate
from tokenflood_tui.run.schedule import plan_phases
from tokenflood_tui.run.sessions import SUBAGENT, TOOL, phase_tokens
from tokenflood_tui.specs import EndpointSpec, parse_run_suite

SUITE = """\
name: s
sessions_per_second_rates: [0.5, 1.0]
test_length_in_seconds: 60
session_types:
- name: chat
  weight: 3
  system_prompt_tokens: 800
  turns: {dist: lognormal, mean: 6, median: 4, max: 20}
  user_tokens: 120
  output_tokens: {dist: uniform, min: 50, max: 300}
  think_seconds: 20
- name: agent
  system_prompt_tokens: 12000
  context_tokens: 4000
  turns: 30
  tool_share: 0.8
  tool_call_tokens: 60
  tool_result_tokens: {dist: lognormal, mean: 2000, median: 800, max: 20000}
  tool_seconds: 1.5
  subagents: {every: 10, count: 3, type: chat}
  context_limit_tokens: 640000
  on_context_limit: end
"""
ENDPOINT = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_run_suite(text, "run.yml")
    return str(caught.value)


def test_the_issues_example_loads_and_its_rates_are_sessions_per_second():
    suite = parse_run_suite(SUITE)
    assert suite.sessions and suite.rates == [0.5, 1.0] and suite.unit == "sessions/s"
    assert suite.session_types[0].turns.high == 20 and suite.session_types[1].turns.expected == 30
    # an agent: 30 steps and 2 fan-outs of 3 chats of 6 turns on average
    assert suite.requests_per_session("agent") == 30 + 2 * 3 * 6


@pytest.mark.parametrize("change, located, says", [
    ("median: 4", "turns", "median (8) is above mean (6): no lognormal fits"),
    ("max: 20}", "turns", "max (5) is below mean (6)"),
    ("turns: 30", "session_types[1].turns", "must be at least 1"),
    ("context_limit_tokens: 640000", "context_limit_tokens", "is below what the first turn can send"),
    ("type: chat}", "subagents.type", "subagents of unknown type 'chatt'"),
    ("type: chat}", "subagents.type", "sub-agents recurse (agent → agent)"),
    ("sessions_per_second_rates", "requests_per_second_rates", "goes with load_types"),
    ("think_seconds: 20", "think_seconds", "a lognormal takes `mean`, `median` and `max`"),
])
def test_bad_input_gets_a_located_one_line_error(change, located, says):
    replacement = {"median: 4": "median: 8", "max: 20}": "max: 5}", "turns: 30": "turns: 0",
                   "context_limit_tokens: 640000": "context_limit_tokens: 16000"}
    if "unknown type" in says:
        text = SUITE.replace(change, "type: chatt}")
    elif "recurse" in says:
        text = SUITE.replace(change, "type: agent}")
    elif change == "sessions_per_second_rates":
        text = SUITE.replace(change, "requests_per_second_rates")
    elif change == "think_seconds: 20":
        text = SUITE.replace(change, "think_seconds: {dist: lognormal, mean: 3}")
    else:
        text = SUITE.replace(change, replacement[change])
    message = error(text)
    assert message.startswith("run.yml:") and "\n" not in message
    assert located in message and says in message


def test_load_types_and_session_types_together_are_refused():
    message = error(SUITE + "load_types: [{prompt_length: 10, output_length: 5}]\n")
    assert "give load_types (single requests) or session_types (multi-turn sessions), not both" \
        in message


def test_the_same_seed_draws_the_same_sessions_and_every_script_is_whole():
    suite = parse_run_suite(SUITE)
    first, again = plan_phases(suite), plan_phases(suite)
    for a, b in zip(first, again, strict=True):
        assert a.sessions is not None and b.sessions is not None
        assert np.array_equal(a.offsets_s, b.offsets_s)
        for x, y in zip(a.sessions.scripts, b.sessions.scripts, strict=True):
            assert np.array_equal(x.new_tokens, y.new_tokens) and x.children.keys() == y.children.keys()
    agents = [s for p in first for s in p.sessions.scripts if s.type_index == 1]
    assert agents
    for s in agents:
        assert s.turns == 30 and not s.tool_call[-1]           # a session ends on an answer
        for k in range(1, s.turns):
            if s.tool_call[k - 1]:
                assert s.steps[k] == TOOL                    # a tool call's result comes next
            elif k % 10 == 0:
                assert s.steps[k] == SUBAGENT and len(s.children[k]) == 3
    chats = [s for p in first for s in p.sessions.scripts if s.type_index == 0]
    assert all(1 <= s.turns <= 20 and s.output_tokens.max() <= 300 for s in chats)


def test_the_budget_counts_the_history_each_request_sends_again():
    suite = parse_run_suite("name: b\nsessions_per_second_rates: [1]\ntest_length_in_seconds: 2\n"
                            "arrival: constant\nsession_types:\n- {name: c, turns: 3, "
                            "user_tokens: 100, output_tokens: 10, system_prompt_tokens: 50}\n")
    (plan,) = plan_phases(suite)
    prompt, output = phase_tokens(suite, plan.sessions)
    # per session: 150, 150+110, 150+220 tokens sent, plus a template margin of 10 per message
    # (3, 5 and 7 messages): 2 sessions
    assert (prompt, output) == (2 * (150 + 260 + 370 + 10 * (3 + 5 + 7)), 2 * 30)
    est = budget.estimate(suite, ENDPOINT, plan_phases(suite))
    assert est.requests == 6 and est.input_tokens > prompt and est.ceiling_tokens is not None


def factory() -> PromptFactory:
    words = [f" w{i}" for i in range(64)]
    made = PromptFactory([], words, seed=1, instruction_tokens=0)
    made.session_templates[(True, True)] = SessionTemplate(first=10, turn=8, tool=12)
    return made


def conversation(text: str) -> Conversation:
    suite = parse_run_suite(text)
    (plan,) = plan_phases(suite)
    return Conversation(suite, factory(), plan.sessions.scripts[0], "0", 1, 1.0)


AGENT = ("name: a\nsessions_per_second_rates: [1]\ntest_length_in_seconds: 1\narrival: constant\n"
         "history: echo\nsession_types:\n- {name: a, system_prompt_tokens: 20, turns: 4, "
         "user_tokens: 5, output_tokens: 3, tool_share: 1, tool_call_tokens: 2, "
         "tool_result_tokens: 7, context_limit_tokens: LIMIT}\n")


def answered(conv: Conversation, prepared, prompt: int) -> None:
    rec = prepared.record
    rec.t_send, rec.t_end, rec.prompt_tokens, rec.output_tokens = 0.0, 0.5, prompt, rec.output_tokens_target
    conv.replied(rec)


def test_a_tool_step_sends_the_reply_as_a_tool_call_and_then_its_result():
    conv = conversation(AGENT.replace("LIMIT", "1000"))
    first = conv.next_request(0.0)
    assert [m["role"] for m in first.messages] == ["system", "user"] and first.tools
    assert first.max_tokens == 2                           # the reply stands for a tool call
    assert first.record.prompt_tokens_target == 20 + 10 + 5
    answered(conv, first, 35)
    second = conv.next_request(1.0)
    call, result = second.messages[-2:]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"]["name"] == "lookup"
    assert result == {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"],
                      "content": result["content"]}
    assert len(result["content"].split()) == 7
    assert second.record.step == "tool" and second.record.context_tokens_target == 35 + 2
    assert second.record.prompt_tokens_target == 37 + 12 + 7
    assert second.messages[:2] == first.messages           # the history goes again, unchanged


def test_the_context_limit_ends_a_session_before_the_request_that_would_pass_it():
    conv = conversation(AGENT.replace("LIMIT", "50"))
    first = conv.next_request(0.0)
    answered(conv, first, 35)
    assert conv.next_request(1.0) is None and conv.record.end == CONTEXT_LIMIT   # 56 > 50


def test_compaction_replaces_the_history_with_a_summary_and_keeps_the_system_prompt():
    conv = conversation(AGENT.replace("LIMIT", "50").replace("}\n", ", on_context_limit: compact, "
                                                              "compact_to_tokens: 40}\n"))
    first = conv.next_request(0.0)
    answered(conv, first, 35)
    second = conv.next_request(1.0)
    assert second is not None and second.messages[0] == first.messages[0]
    # 40 tokens: the system prompt (20), a first request's template (10), the summary, one word
    assert second.record.context_tokens_target == 40
    assert len(second.messages[1]["content"].split()) == 40 - 20 - 10 - 1
    # a tool step's result after the summary, which has no tool call for a `tool` message to
    # answer: a user message, counted as a turn
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert second.record.step == "tool" and len(second.messages[-1]["content"].split()) == 7
    assert second.record.prompt_tokens_target == 40 + 8 + 7          # the turn's template, 8


def test_a_failed_request_ends_its_session_unless_errors_are_skipped():
    conv = conversation(AGENT.replace("LIMIT", "1000"))
    first = conv.next_request(0.0)
    first.record.fail(HTTP_ERROR, "HTTP 503", "busy", 503)
    assert conv.replied(first.record) is False and conv.record.end == ERROR
    skipping = conversation(AGENT.replace("LIMIT", "1000").replace("history: echo",
                                                                   "history: echo\non_error: skip"))
    first = skipping.next_request(0.0)
    first.record.fail(HTTP_ERROR, "HTTP 503", "busy", 503)
    assert skipping.replied(first.record) is True


def test_scripts_cross_to_a_worker_whole_and_compact():
    """A phase's scripts are pickled to the worker processes: every array (its dtype too) and
    every sub-agent comes back as drawn, in well under half the bytes of ndarrays."""
    import pickle

    scripts = plan_phases(parse_run_suite(SUITE))[0].sessions.scripts
    back = pickle.loads(pickle.dumps(scripts))

    def same(a, b) -> None:
        assert (a.type_index, a.context_tokens) == (b.type_index, b.context_tokens)
        for name in ("steps", "new_tokens", "output_tokens", "tool_call", "wait_s"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        assert a.children.keys() == b.children.keys()
        for k in a.children:
            for child, again in zip(a.children[k], b.children[k], strict=True):
                same(child, again)

    for script, again in zip(scripts, back, strict=True):
        same(script, again)
    assert any(s.children for s in scripts) and any(s.tool_call.any() for s in scripts)
    as_arrays = sum(len(pickle.dumps([getattr(s, n) for n in ("steps", "new_tokens",
                    "output_tokens", "tool_call", "wait_s")])) for s in scripts)
    assert len(pickle.dumps(scripts)) < 0.6 * as_arrays
