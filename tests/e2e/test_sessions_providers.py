"""Agent sessions with tool steps through litellm (`client: litellm`) against llmock's OpenAI and
Anthropic protocols: tokenflood sends the OpenAI shape (an assistant message with `tool_calls`,
then a `tool` message), litellm translates it for Anthropic (`tool_use` and `tool_result` blocks),
and the server accepts every request. llmock's journal of what it was sent is the truth."""

from __future__ import annotations

import csv
import json

import pytest

from providers.llmock import LlmockProcess

from support.tokenflood import run_tokenflood, write

KEY = "sk-tokenflood-test-secret-7c1e"
TURNS = 4
SUITE = f"""\
name: agents
sessions_per_second_rates: [2]
test_length_in_seconds: 2
arrival: constant
history: echo
ramp_seconds: 0
warmup_requests: 1
session_types:
- {{name: agent, system_prompt_tokens: 40, turns: {TURNS}, user_tokens: 20, output_tokens: 12,
   tool_share: 1.0, tool_call_tokens: 10, tool_result_tokens: 30, tool_seconds: 0.1}}
"""
SESSIONS = 4                      # 2 sessions/s for 2 s, constant arrivals


@pytest.fixture(scope="module")
def llmock():
    with LlmockProcess() as mock:
        yield mock


def run(tmp_path, llmock, endpoint: str) -> tuple[list[dict], list[dict], str]:
    """The run's rows, llmock's journal of the load's requests (not calibration's probes, which
    ask for one token), and stderr."""
    llmock.reset()
    write(tmp_path / "run.yml", SUITE)
    write(tmp_path / "endpoint.yml", endpoint)
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--headless", "--yes", cwd=tmp_path,
                          env={"LLMOCK_TEST_KEY": KEY}, timeout=180)
    assert done.code == 0, done.stderr
    folder = done.folder()
    with open(folder / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert json.loads((folder / "summary.json").read_text())["client"] == "litellm"
    load = [q for q in llmock.journal() if (q.get("body") or {}).get("max_tokens", 1) > 1]
    return rows, load, done.stderr


def check_rows(rows: list[dict]) -> None:
    """Every request of every session succeeded; every one after the first carries a tool's
    result (tool_share 1: each reply but the last stands for a tool call)."""
    assert len(rows) == SESSIONS * TURNS
    assert all(r["status"] == "ok" for r in rows), [r["error_type"] for r in rows]
    assert sorted((r["turn"], r["step"]) for r in rows) == sorted(
        (str(k), "user" if k == 1 else "tool") for k in range(1, TURNS + 1) for _ in range(SESSIONS))


def test_openai_tool_messages_through_litellm(tmp_path, llmock):
    rows, journal, _ = run(tmp_path, llmock, (
        f"provider: openai\nmodel: gpt-4o-mini\nclient: litellm\n"
        f"base_url: {llmock.openai_base_url}\napi_key_env_var: LLMOCK_TEST_KEY\n"))
    check_rows(rows)
    with_tools = [q for q in journal if any(m.get("role") == "tool"
                                            for m in (q.get("body") or {}).get("messages", []))]
    assert len(with_tools) == SESSIONS * (TURNS - 1)
    assert {q["status"] for q in with_tools} == {200}
    for q in with_tools:
        body = q["body"]
        messages = body["messages"]
        calls = [m for m in messages if m.get("tool_calls")]
        results = [m for m in messages if m["role"] == "tool"]
        assert len(calls) == len(results) >= 1
        for k, (call, result) in enumerate(zip(calls, results, strict=True), start=1):
            # the assistant's call, then the tool's message answering it, in that order
            assert messages.index(result) == messages.index(call) + 1
            (tool_call,) = call["tool_calls"]
            assert tool_call["id"] == result["tool_call_id"] == f"call_{k:08d}"
            assert tool_call["function"]["name"] == "lookup"
            assert json.loads(tool_call["function"]["arguments"])["query"].strip()
        assert [t["function"]["name"] for t in body["tools"]] == ["lookup"]
        assert body["tool_choice"] == "none"


def test_anthropic_tool_messages_through_litellm(tmp_path, llmock):
    rows, journal, stderr = run(tmp_path, llmock, (
        f"provider: anthropic\nmodel: claude-haiku-4-5\nbase_url: {llmock.anthropic_base_url}\n"
        f"api_key_env_var: LLMOCK_TEST_KEY\n"))
    check_rows(rows)
    assert KEY not in stderr

    def blocks(message: dict, kind: str) -> list[dict]:
        content = message["content"]
        return [b for b in content if b.get("type") == kind] if isinstance(content, list) else []

    with_tools = [q for q in journal if any(blocks(m, "tool_result")
                                            for m in (q.get("body") or {}).get("messages", []))]
    assert len(with_tools) == SESSIONS * (TURNS - 1)
    assert {q["status"] for q in with_tools} == {200}
    for q in with_tools:
        body = q["body"]
        messages = body["messages"]
        # litellm's translation: the call a tool_use block of the assistant, the result a
        # tool_result block of the next user message; the system prompt out of the messages
        assert [m["role"] for m in messages] == ["user"] + ["assistant", "user"] * (
            len(messages) // 2)
        for k in range(1, len(messages) // 2 + 1):
            (use,) = blocks(messages[2 * k - 1], "tool_use")
            (result,) = blocks(messages[2 * k], "tool_result")
            assert use["id"] == result["tool_use_id"] == f"call_{k:08d}"
            assert use["name"] == "lookup" and use["input"]["query"].strip()
            assert result["content"].strip()
        assert [t["name"] for t in body["tools"]] == ["lookup"]
        assert body["tool_choice"] == {"type": "none"}
        assert body["system"][0]["text"].strip()
