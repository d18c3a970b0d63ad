"""Every reasoning stream shape a user meets (issue 19), each from its own test server, read by
the client that meets it: TTFT at the first token of any channel, TTFA at the first answer token,
reasoning tokens from the server (or counted and flagged), the answer's tokens, no_answer.

Most tests send one request through a client's `send_within` (real HTTP, as a worker sends it);
two run `tokenflood run` and read requests.csv and summary.json. The servers write reasoning
tokens at fixed due times, each at least 10 ms after the one before (tests/providers/reasoning.py),
so the reasoning time is 200 ms or, on a busy machine, more: the bounds below leave room for it.
"""

from __future__ import annotations

import csv
import json
import time
from typing import Any

import pytest

from tokenflood_tui.clients import make_client
from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
from tokenflood_tui.demo.localserver.protocol import unavailable_reason
from tokenflood_tui.metrics.records import NO_ANSWER, OK, RequestRecord
from tokenflood_tui.specs import EndpointSpec

from providers import AnthropicThinkingServer, GeminiThinkingServer, OpenAIReasoningServer, Reply
from support.specs import run_yml
from support.tokenflood import run_tokenflood, write

KEY = "sk-reasoning-test-key-81c4e2"
MESSAGES = [{"role": "user", "content": "How many words are in this sentence?"}]
OUTPUT = 50                 # max_tokens: room for 20 reasoning and 5 answer tokens
# litellm's CPU time per chunk lands on its timestamps: its reasoning time was the server's
# within -10 to +48 ms (10 requests a shape, with and without a CPU hog); the built-in
# client's within -4 to +7 ms alone, but -17 to +87 ms in the whole suite beside a CPU hog (a
# late wake-up of the client at the first thought or at the answer). The bound still tells the
# first answer token (200 ms after the first thought) from the first thought; the precision
# itself is benchmarks/reasoning.py's (≤ 1.8 ms p99), and the chunk counts below catch a TTFA
# stamped on the wrong chunk.
SLACK_MS = 100.0


async def send(spec: EndpointSpec, max_tokens: int = OUTPUT, budget: int | None = None,
               tools: list[dict] | None = None) -> RequestRecord:
    """One request as a worker sends it: prepared, then sent with the request timeout. Through
    litellm a warm-up request goes first, as in a run (litellm's first call in a process takes
    up to a second more): the server's truth of the measured one is its last."""
    client = make_client(spec)
    await client.start()
    try:
        if client.name == "litellm":
            warm = RequestRecord(0, 1.0, 0, time.monotonic(), 12, 0, max_tokens)
            await client.send_within(client.prepare(MESSAGES, max_tokens, tools, budget), warm, 30)
        rec = RequestRecord(1, 1.0, 0, time.monotonic(), 12, 0, max_tokens)
        await client.send_within(client.prepare(MESSAGES, max_tokens, tools, budget), rec, 30)
    finally:
        await client.close()
    return rec


def vllm(server: OpenAIReasoningServer, **keys: Any) -> EndpointSpec:
    return EndpointSpec(provider="hosted_vllm", model=server.model, base_url=server.base_url, **keys)


def assert_reasoned_then_answered(rec: RequestRecord, truth) -> None:
    """TTFT at the first thought, TTFA at the first answer token, their gap the server's."""
    assert rec.status == OK, rec.error_message
    assert rec.ttft_ms is not None and rec.ttfa_ms is not None and rec.reasoning_ms is not None
    # the server wrote its first answer token 200 ms after its first thought (a late wake-up
    # on a busy machine makes it more: 650 ms beside a CPU hog, never less); the client saw the
    # same gap, which is what is checked
    assert truth.reasoning_ms is not None and truth.reasoning_ms >= 190
    assert rec.ttfa_ms - rec.ttft_ms == pytest.approx(truth.reasoning_ms, abs=SLACK_MS)
    assert rec.reasoning_ms == pytest.approx(rec.ttfa_ms - rec.ttft_ms)
    # the role chunk came at once, the first thought 20 ms later: TTFT is the thought's
    assert rec.ttft_ms >= 19


# ---------------------------------------------------------------------------------------------
# The built-in OpenAI client: vLLM, SGLang, llama.cpp


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content", "both", "mixed"])
async def test_reasoning_fields_give_ttfa_after_the_reasoning_and_the_servers_counts(field):
    # vLLM now: delta.reasoning; SGLang, llama.cpp, older vLLM: delta.reasoning_content;
    # vLLM of late 2025: both names, the same text, on every chunk (counted once); or the two
    # names in turn in one stream
    with OpenAIReasoningServer(Reply(field=field)) as server:
        rec = await send(vllm(server))
    truth = server.truth[-1]
    assert_reasoned_then_answered(rec, truth)
    assert (truth.reasoning_tokens, truth.answer_tokens) == (20, 5)
    assert (rec.output_tokens, rec.reasoning_tokens, rec.answer_tokens) == (25, 20, 5)
    assert not rec.reasoning_tokens_estimated and not rec.output_tokens_estimated
    assert (rec.content_chunks, rec.reasoning_chunks) == (25, 20)
    # the answer's own gaps: 4 after its first token, none of them the reasoning's
    assert len(rec.itl_ms) - rec.answer_itl_from == 4


async def test_without_reasoning_tokens_in_the_usage_they_are_counted_and_flagged():
    # llama.cpp: completion_tokens mixes both, no completion_tokens_details
    with OpenAIReasoningServer(Reply(field="reasoning_content", usage_details=False)) as server:
        rec = await send(vllm(server))
    assert_reasoned_then_answered(rec, server.truth[-1])
    assert (rec.output_tokens, rec.output_tokens_estimated) == (25, False)
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (20, True, 5)


@pytest.mark.parametrize("usage_details", [True, False])
async def test_the_last_thought_and_the_first_answer_token_in_one_chunk(usage_details):
    with OpenAIReasoningServer(Reply(together=True, usage_details=usage_details)) as server:
        rec = await send(vllm(server))
    truth = server.truth[-1]
    assert rec.status == OK
    # TTFA is the chunk that carries both: 19 gaps (190 ms) after the first thought
    assert truth.reasoning_ms >= 180                 # 19 gaps of at least 10 ms
    assert rec.reasoning_ms == pytest.approx(truth.reasoning_ms, abs=SLACK_MS)
    assert rec.content_chunks == 24 and rec.reasoning_chunks == 20
    # that chunk's thought counts, so the estimate is the server's count
    assert (rec.reasoning_tokens, rec.answer_tokens) == (20, 5)
    assert rec.reasoning_tokens_estimated is not usage_details


@pytest.mark.parametrize("field", ["think_tags", "think_tags_split"])
async def test_think_tags_in_the_content_are_reasoning_when_the_endpoint_says_so(field):
    # llama.cpp --reasoning-format none: <think>…</think> in the content, no reasoning count;
    # split, "<thi" | "nk> first" … "sum</th" | "ink>\n\n" | the answer
    with OpenAIReasoningServer(Reply(field=field, usage_details=False)) as server:
        rec = await send(vllm(server, think_tags=True))
        plain = await send(vllm(server))
    truth = server.truth[-1]
    assert_reasoned_then_answered(rec, truth)
    # the two tags are a token each: in the server's 27 and in the reasoning counted
    assert (rec.output_tokens, rec.reasoning_tokens, rec.answer_tokens) == (27, 22, 5)
    assert rec.reasoning_tokens_estimated and rec.reasoning_chunks == 20
    # without think_tags the block is the answer: TTFA at the first thought
    assert plain.ok and plain.reasoning_tokens is None and plain.reasoning_ms == 0.0
    assert plain.answer_tokens == 27


async def test_tool_calls_are_the_answer_and_ttfa_is_their_first_delta():
    with OpenAIReasoningServer(Reply(answer_kind="tool_call")) as server:
        rec = await send(vllm(server))
    truth = server.truth[-1]
    assert truth.finish == "tool_calls"
    assert_reasoned_then_answered(rec, truth)
    assert (rec.reasoning_tokens, rec.answer_tokens) == (20, 5)


@pytest.mark.parametrize("field, usage_details, reasoning", [
    ("reasoning", True, 50),             # vLLM with the count: all 50 tokens reasoned
    ("reasoning_content", False, 50),    # llama.cpp: counted from the chunks
    ("think_tags", False, 50),           # <think> and 49 thoughts, cut before </think>
])
async def test_reasoning_that_reaches_max_tokens_is_no_answer(field, usage_details, reasoning):
    reply = Reply(reasoning=80, field=field, usage_details=usage_details)
    with OpenAIReasoningServer(reply) as server:
        rec = await send(vllm(server, think_tags=field == "think_tags"))
    truth = server.truth[-1]
    assert truth.finish == "length" and truth.answer_tokens == 0
    assert rec.status == NO_ANSWER and rec.error_type == "NoAnswer"
    assert rec.ttft_ms is not None and rec.ttfa_ms is None and rec.reasoning_ms is None
    assert (rec.output_tokens, rec.reasoning_tokens, rec.answer_tokens) == (OUTPUT, reasoning, 0)
    assert "50 of the 50 output tokens" in (rec.error_message or "")


async def test_hidden_reasoning_counted_in_the_usage_only():
    # OpenAI o-series over the built-in client: no reasoning text; the first thing seen is the
    # answer, 200 ms of thinking later; the count comes in the usage
    with OpenAIReasoningServer(Reply(field="hidden"), api_key=KEY) as server:
        rec = await send(EndpointSpec(provider="openai", model="o4-mini", base_url=server.base_url,
                                      api_key_env_var="REASONING_TEST_KEY"))
    truth = server.truth[-1]
    assert rec.ok and rec.ttft_ms == rec.ttfa_ms and rec.reasoning_ms == 0.0
    # the answer was due 20 + 200 ms after the request: no earlier, and seen when written
    assert 219 <= rec.ttft_ms <= truth.ttft_ms + 40
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (20, False, 5)
    assert truth.first_answer is not None


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("REASONING_TEST_KEY", KEY)


async def test_effort_and_budget_reach_an_openai_compatible_server_as_its_body_keys():
    with OpenAIReasoningServer(Reply(reasoning=2, answer=2)) as server:
        await send(vllm(server, reasoning_effort="low"), max_tokens=20, budget=300)
        await send(EndpointSpec(provider="openai", model="o4-mini", base_url=server.base_url,
                                api_key_env_var="REASONING_TEST_KEY", reasoning_effort="high"),
                   max_tokens=20, budget=300)
    vllm_body, openai_body = (t.body for t in server.truth)
    # the budget comes on top of the answer's tokens; llama.cpp reads reasoning_budget_tokens
    assert (vllm_body["reasoning_effort"], vllm_body["max_tokens"]) == ("low", 320)
    assert vllm_body["reasoning_budget_tokens"] == 300
    # OpenAI rejects keys it does not know: no budget key, no ignore_eos
    assert (openai_body["reasoning_effort"], openai_body["max_tokens"]) == ("high", 320)
    assert "reasoning_budget_tokens" not in openai_body and "ignore_eos" not in openai_body


@pytest.mark.llamacpp
@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
async def test_real_llamacpp_takes_its_budget_key():
    # SmolLM2 does not reason: the key must cost nothing, and max_tokens carries the budget
    with LocalModelServer(LocalServerOptions(slots=1, ctx=2048)) as llama:
        rec = await send(EndpointSpec(provider="hosted_vllm", model=llama.model,
                                      base_url=llama.base_url), max_tokens=4, budget=8)
    assert rec.ok and (rec.output_tokens, rec.output_tokens_estimated) == (12, False)
    assert rec.reasoning_tokens is None and rec.ttfa_ms == rec.ttft_ms


# ---------------------------------------------------------------------------------------------
# litellm: Anthropic thinking blocks, Gemini thought parts, OpenAI's hidden reasoning


def anthropic(server: AnthropicThinkingServer, **keys: Any) -> EndpointSpec:
    return EndpointSpec(provider="anthropic", model="claude-sonnet-4-5", base_url=server.base_url,
                        api_key_env_var="REASONING_TEST_KEY", **keys)


def gemini(server: GeminiThinkingServer, **keys: Any) -> EndpointSpec:
    return EndpointSpec(provider="gemini", model="gemini-2.5-flash", base_url=server.base_url,
                        api_key_env_var="REASONING_TEST_KEY", **keys)


async def test_anthropic_thinking_blocks_through_litellm():
    with AnthropicThinkingServer(api_key=KEY) as server:
        rec = await send(anthropic(server), budget=1024)
    truth = server.truth[-1]
    # the budget as Anthropic's thinking, max_tokens above it (the API refuses it otherwise)
    assert truth.status == 200
    assert truth.body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert truth.body["max_tokens"] == OUTPUT + 1024
    assert_reasoned_then_answered(rec, truth)
    # Anthropic counts thinking in output_tokens and gives no count of its own: counted, flagged
    assert (rec.output_tokens, rec.output_tokens_estimated) == (25, False)
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (20, True, 5)


async def test_anthropic_thinking_that_reaches_max_tokens_is_no_answer():
    with AnthropicThinkingServer(Reply(reasoning=2000, reasoning_gap_ms=0.1), api_key=KEY) as server:
        rec = await send(anthropic(server), max_tokens=10, budget=1024)
    truth = server.truth[-1]
    assert truth.finish == "max_tokens" and truth.answer_tokens == 0
    assert rec.status == NO_ANSWER and rec.ttfa_ms is None
    assert rec.output_tokens == 1034 and rec.reasoning_tokens == 1034


async def test_anthropic_reasoning_effort_becomes_a_thinking_budget_the_api_accepts():
    # litellm maps effort "low" to a 1024-token budget and left max_tokens at the answer's 50:
    # Anthropic refused every request (400, max_tokens must be greater than the budget)
    with AnthropicThinkingServer(api_key=KEY) as server:
        rec = await send(anthropic(server, reasoning_effort="low"))
        budgeted = await send(anthropic(server, reasoning_effort="low"), budget=2000)
    effort, budget = server.truth[-3].body, server.truth[-1].body
    assert effort["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert effort["max_tokens"] == OUTPUT + 1024
    assert rec.ok and server.truth[-3].status == 200
    assert (rec.reasoning_tokens, rec.answer_tokens) == (20, 5)
    # a type's reasoning_budget_tokens is the budget, whatever the endpoint's effort
    assert budget["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert budget["max_tokens"] == OUTPUT + 2000 and budgeted.ok


async def test_gemini_thought_parts_through_litellm():
    with GeminiThinkingServer(api_key=KEY) as server:
        rec = await send(gemini(server), budget=512)
    truth = server.truth[-1]
    config = truth.body["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 512, "includeThoughts": True}
    # Gemini counts thoughts in the output limit: the answer's 50 come on top
    assert config["max_output_tokens"] == OUTPUT + 512
    assert_reasoned_then_answered(rec, truth)
    # thoughtsTokenCount is the server's count: not estimated
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated) == (20, False)
    assert (rec.output_tokens, rec.answer_tokens) == (25, 5)


async def test_gemini_last_thought_and_first_answer_part_in_one_chunk():
    with GeminiThinkingServer(Reply(together=True), api_key=KEY) as server:
        rec = await send(gemini(server), budget=512)
    truth = server.truth[-1]
    assert rec.ok and rec.reasoning_ms == pytest.approx(truth.reasoning_ms, abs=SLACK_MS)
    assert truth.reasoning_ms >= 180                 # 19 gaps of at least 10 ms
    assert (rec.content_chunks, rec.reasoning_chunks) == (24, 20)
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (20, False, 5)


async def test_gemini_reasoning_effort_becomes_a_thinking_budget_on_top_of_the_answer():
    # litellm maps "low" to thinkingBudget 1024 and left the output limit at the answer's 50:
    # a real Gemini 2.5 spends them on thoughts and ends with MAX_TOKENS, no text
    with GeminiThinkingServer(Reply(reasoning=60), api_key=KEY) as server:
        rec = await send(gemini(server, reasoning_effort="low"))
    config = server.truth[-1].body["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    assert config["max_output_tokens"] == OUTPUT + 1024
    assert rec.ok and (rec.reasoning_tokens, rec.answer_tokens) == (60, 5)


async def test_gemini_thoughts_that_reach_the_output_limit_are_no_answer():
    # no budget, no effort: Gemini 2.5 thinks all the same and streams no thoughts (no
    # includeThoughts); here it thinks through the limit, so nothing at all is seen
    with GeminiThinkingServer(Reply(reasoning=60, reasoning_gap_ms=1), api_key=KEY) as server:
        hidden = await send(gemini(server))
        shown = await send(gemini(server), max_tokens=10, budget=30)
    assert [t.finish for t in server.truth[-3::2]] == ["MAX_TOKENS", "MAX_TOKENS"]
    assert hidden.status == NO_ANSWER and hidden.ttft_ms is None and hidden.ttfa_ms is None
    assert (hidden.output_tokens, hidden.reasoning_tokens, hidden.reasoning_tokens_estimated) == \
        (OUTPUT, OUTPUT, False)
    assert shown.status == NO_ANSWER and shown.ttft_ms is not None and shown.ttfa_ms is None
    assert (shown.output_tokens, shown.reasoning_tokens, shown.answer_tokens) == (40, 40, 0)


async def test_openai_hidden_reasoning_through_litellm():
    with OpenAIReasoningServer(Reply(field="hidden"), api_key=KEY, model="o4-mini") as server:
        rec = await send(EndpointSpec(provider="openai", model="o4-mini", client="litellm",
                                      base_url=server.base_url, api_key_env_var="REASONING_TEST_KEY",
                                      reasoning_effort="medium"))
    truth = server.truth[-1]
    assert truth.body["reasoning_effort"] == "medium"
    assert rec.ok and rec.ttft_ms == rec.ttfa_ms
    assert 219 <= rec.ttft_ms <= truth.ttft_ms + 100     # litellm's own time on top
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (20, False, 5)


async def test_a_budget_through_litellm_reaches_openai_and_vllm_as_each_takes_it():
    # litellm's `thinking` is refused for OpenAI (every request failed, UnsupportedParamsError,
    # never sent), and for vLLM it became reasoning_effort "minimal", which nobody asked for
    with OpenAIReasoningServer(Reply(reasoning=2, answer=2), api_key=KEY) as server:
        openai = await send(EndpointSpec(provider="openai", model="o4-mini", client="litellm",
                                         base_url=server.base_url, reasoning_effort="low",
                                         api_key_env_var="REASONING_TEST_KEY"), budget=300)
        vllm = await send(EndpointSpec(provider="hosted_vllm", model="qwen3-8b", client="litellm",
                                       base_url=server.base_url, api_key_env_var="REASONING_TEST_KEY"),
                          budget=300)
    openai_body, vllm_body = server.truth[1].body, server.truth[3].body
    assert openai.ok and vllm.ok
    assert (openai_body["max_completion_tokens"], openai_body["reasoning_effort"]) == (350, "low")
    assert "thinking" not in openai_body and "reasoning_budget_tokens" not in openai_body
    assert (vllm_body["max_tokens"], vllm_body["reasoning_budget_tokens"]) == (350, 300)
    assert "thinking" not in vllm_body and "reasoning_effort" not in vllm_body


async def test_vllm_reasoning_through_litellm():
    with OpenAIReasoningServer(Reply(field="reasoning")) as server:
        rec = await send(EndpointSpec(provider="hosted_vllm", model="qwen3-8b", client="litellm",
                                      base_url=server.base_url))
    assert_reasoned_then_answered(rec, server.truth[-1])
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (20, False, 5)


async def test_the_last_thought_and_the_first_answer_token_in_one_chunk_through_litellm():
    # SGLang without a reasoning count: the chunk with both counts as reasoning too, as over
    # the built-in client (it was read as the answer alone: 19 thoughts, 6 answer tokens)
    reply = Reply(field="reasoning_content", together=True, usage_details=False)
    with OpenAIReasoningServer(reply) as server:
        rec = await send(EndpointSpec(provider="hosted_vllm", model="qwen3-8b", client="litellm",
                                      base_url=server.base_url))
    assert rec.ok and rec.reasoning_ms == pytest.approx(server.truth[-1].reasoning_ms, abs=SLACK_MS)
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (20, True, 5)


# ---------------------------------------------------------------------------------------------
# Whole runs: requests.csv and summary.json, built-in client and litellm side by side


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two short runs. llama.cpp's shape over the built-in client (reasoning_content,
    no reasoning count): a load type whose 10 tokens the reasoning uses up (no_answer) and one
    with room and a reasoning budget; Anthropic's thinking through litellm with a budget."""
    llamacpp_dir, anthropic_dir = (tmp_path_factory.mktemp(n) for n in ("llamacpp", "anthropic"))
    with OpenAIReasoningServer(Reply(field="reasoning_content", usage_details=False)) as llamacpp, \
            AnthropicThinkingServer(api_key=KEY) as claude:
        write(llamacpp_dir / "endpoint.yml", f"provider: hosted_vllm\nmodel: qwen3-8b\n"
                                             f"base_url: {llamacpp.base_url}\n")
        write(llamacpp_dir / "run.yml", run_yml(
            "reasoning", rates=[8], length=1.5, arrival="constant", warmup_requests=1,
            error_limit=0.9, load_types=[{"prompt_length": 60, "output_length": 10},
                                         {"prompt_length": 60, "output_length": 40,
                                          "reasoning_budget_tokens": 100}]))
        write(anthropic_dir / "endpoint.yml", f"provider: anthropic\nmodel: claude-sonnet-4-5\n"
                                              f"base_url: {claude.base_url}\n"
                                              f"api_key_env_var: REASONING_TEST_KEY\n")
        write(anthropic_dir / "run.yml", run_yml(
            "thinking", rates=[4], length=1.5, arrival="constant", warmup_requests=1,
            load_types=[{"prompt_length": 60, "output_length": 20,
                         "reasoning_budget_tokens": 1024}]))
        # one after the other: litellm's CPU time per chunk, next to another run on a machine
        # with a CPU hog, made one request's 200 ms of reasoning read as 340
        args = ("run", "run.yml", "endpoint.yml", "--headless", "--yes")
        done = [run_tokenflood(*args, cwd=folder, env={"REASONING_TEST_KEY": KEY}, timeout=180)
                for folder in (llamacpp_dir, anthropic_dir)]
    return {"llamacpp": (done[0], llamacpp), "anthropic": (done[1], claude)}


def rows_of(completed) -> list[dict]:
    with open(completed.folder() / "requests.csv", newline="") as f:
        return [row for row in csv.DictReader(f) if row["phase"] == "1"]


def test_a_run_records_no_answer_ttfa_and_counted_reasoning_per_row(runs):
    completed, server = runs["llamacpp"]
    assert completed.code == 0, completed.stderr
    rows = rows_of(completed)
    starved = [r for r in rows if r["load_type"] == "0"]
    answered = [r for r in rows if r["load_type"] == "1"]
    assert len(rows) == 12 and starved and answered
    # reasoning took all 10 tokens: a failure of its own kind, no TTFA, all of it reasoning
    assert {(r["status"], r["error_type"], r["ttfa_ms"], r["reasoning_tokens"], r["answer_tokens"])
            for r in starved} == {("no_answer", "NoAnswer", "", "10", "0")}
    assert all(float(r["ttft_ms"]) > 0 for r in starved)
    truth = {t.response_id: t for t in server.truth}
    for r in answered:
        assert r["status"] == "ok"
        reasoned = truth[r["response_id"]].reasoning_ms    # the server's: 200 ms, a busy
        assert reasoned >= 150                              # machine's late wake-ups aside
        assert float(r["ttfa_ms"]) - float(r["ttft_ms"]) == pytest.approx(reasoned,
                                                                          abs=SLACK_MS)
        assert float(r["reasoning_ms"]) == pytest.approx(float(r["ttfa_ms"]) - float(r["ttft_ms"]),
                                                         abs=0.01)
        # no count from llama.cpp: the 20 reasoning chunks, flagged; the usage's 25 in all
        assert (r["output_tokens"], r["output_tokens_estimated"]) == ("25", "false")
        assert (r["reasoning_tokens"], r["reasoning_tokens_estimated"], r["answer_tokens"]) == \
            ("20", "true", "5")
    phase = json.loads((completed.folder() / "summary.json").read_text())["phases"][0]
    assert {(e["status"], e["count"]) for e in phase["errors"]} == {("no_answer", len(starved))}
    assert phase["reasoning"] and phase["reasoning_tokens_estimated"]
    ttfa = [float(r["ttfa_ms"]) for r in answered]
    assert phase["ttfa_ms"]["mean"] == pytest.approx(sum(ttfa) / len(ttfa), abs=0.5)
    # the budget reached llama.cpp as its own key, on top of the answer's 40 tokens
    budgeted = [t.body for t in server.truth if t.max_tokens == 140]
    assert len(budgeted) == len(answered)
    assert {(b["reasoning_budget_tokens"], b["ignore_eos"]) for b in budgeted} == {(100, True)}
    assert not any("reasoning_budget_tokens" in t.body for t in server.truth if t.max_tokens == 10)


def test_a_litellm_run_records_anthropic_thinking(runs):
    completed, server = runs["anthropic"]
    assert completed.code == 0, completed.stderr
    rows = rows_of(completed)
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    load = [t for t in server.truth if t.body["max_tokens"] == 20 + 1024]
    assert len(load) == 6 and {t.status for t in load} == {200}
    assert all(t.body["thinking"] == {"type": "enabled", "budget_tokens": 1024} for t in load)
    # the reasoning times are the server's (200 ms, more when a busy machine held the server up:
    # 414 ms once), within litellm's CPU time per chunk: matched shortest to shortest, as
    # litellm gives Anthropic's replies ids of its own; on average closer still
    truth = sorted(t.reasoning_ms for t in load)
    reasoned = sorted(float(r["ttfa_ms"]) - float(r["ttft_ms"]) for r in rows)
    assert all(ms == pytest.approx(t, abs=SLACK_MS) for ms, t in zip(reasoned, truth, strict=True)), \
        (reasoned, truth)
    assert sum(reasoned) / 6 == pytest.approx(sum(truth) / 6, abs=30)
    for r in rows:
        assert (r["output_tokens"], r["reasoning_tokens"], r["reasoning_tokens_estimated"],
                r["answer_tokens"]) == ("25", "20", "true", "5")
    phase = completed.summary()["phases"][0]
    assert phase["reasoning"] and phase["reasoning_tokens_estimated"]
    assert phase["answer_tokens_mean"] == 5
