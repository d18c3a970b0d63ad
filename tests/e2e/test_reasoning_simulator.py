"""The simulator's reasoning modes read by our client over real HTTP: TTFA after N reasoning
tokens at the ITL, reasoning tokens from the usage or counted, and replies that never answer."""

from __future__ import annotations

import re
import time

import pytest

from tokenflood_tui.clients import make_client
from tokenflood_tui.metrics.records import NO_ANSWER, RequestRecord
from tokenflood_tui.simulator import Simulator, SimulatorConfig
from tokenflood_tui.specs import EndpointSpec

MESSAGES = [{"role": "user", "content": " think about it"}]
TTFT_MS, ITL_MS, REASONING = 30.0, 5.0, 20
# A busy machine reads chunks late, never early: the lower bounds are the server's pace, the
# upper ones allow a late wake-up beside a CPU hog.
LATE_MS = 250.0


async def send_all(config: SimulatorConfig, count: int, max_tokens: int = 30,
                   think_tags: bool = False) -> tuple[list[RequestRecord], list[dict]]:
    async with Simulator(config) as sim:
        spec = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url,
                            client="openai", think_tags=think_tags)
        client = make_client(spec)
        await client.start()
        try:
            records = []
            for _ in range(count):
                rec = RequestRecord(1, 1.0, 0, time.monotonic(), 10, 0, max_tokens)
                await client.send_within(client.prepare(MESSAGES, max_tokens), rec, 30.0)
                records.append(rec)
        finally:
            await client.close()
        return records, list(sim.truth)


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content", "think-tags"])
async def test_reasoning_comes_before_the_answer_in_each_field(field):
    config = SimulatorConfig(ttft_ms=TTFT_MS, itl_ms=ITL_MS, reasoning_tokens=REASONING,
                             reasoning_field=field)
    (rec,), (truth,) = await send_all(config, 1, think_tags=field == "think-tags")
    assert rec.ok, rec.error_message
    reasoned = REASONING * ITL_MS
    assert TTFT_MS <= rec.ttft_ms <= TTFT_MS + LATE_MS
    assert TTFT_MS + reasoned <= rec.ttfa_ms <= TTFT_MS + reasoned + LATE_MS
    assert reasoned - LATE_MS <= rec.reasoning_ms <= reasoned + LATE_MS
    # max_tokens 30 holds the 20 reasoning tokens and an answer of 10 (ignore_eos)
    assert (rec.output_tokens, rec.reasoning_tokens, rec.answer_tokens) == (30, 20, 10)
    assert not rec.reasoning_tokens_estimated and rec.reasoning_chunks == 20
    assert len(rec.itl_ms) - rec.answer_itl_from == 9       # the answer's own gaps
    # the server's truth: the first answer token REASONING intervals after the first was due
    # (stamped after its write; counted from our send: the server's own `received` stamp can be
    # late by a preemption between its clock readings)
    assert truth["reasoning_tokens"] == 20 and truth["completion_tokens"] == 30
    assert (TTFT_MS + reasoned) / 1000 <= truth["first_answer"] - rec.t_send \
        <= (TTFT_MS + reasoned + LATE_MS) / 1000
    assert truth["first_answer"] <= rec.t_answer + 0.005


async def test_without_reasoning_in_the_usage_the_tokens_are_counted_and_flagged():
    config = SimulatorConfig(ttft_ms=1, itl_ms=0, reasoning_tokens=REASONING,
                             reasoning_usage=False)
    (rec,), _ = await send_all(config, 1)
    assert rec.ok, rec.error_message
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated) == (20, True)
    assert (rec.output_tokens, rec.answer_tokens) == (30, 10)


async def test_a_share_of_requests_reasons_to_max_tokens_and_never_answers():
    config = SimulatorConfig(ttft_ms=1, itl_ms=0, reasoning_tokens=5, no_answer_share=0.5,
                             seed=3)
    records, truth = await send_all(config, 40)
    never = [r for r in records if r.status == NO_ANSWER]
    answered = [r for r in records if r.ok]
    assert len(never) + len(answered) == 40
    assert len(never) == sum(1 for t in truth if t["first_answer"] is None)
    assert 10 <= len(never) <= 30                       # half of 40, seeded
    for rec in never:
        assert rec.ttfa_ms is None and rec.t_answer is None
        assert (rec.output_tokens, rec.reasoning_tokens, rec.answer_tokens) == (30, 30, 0)
        assert "30 of the 30 output tokens" in rec.error_message
    for rec in answered:
        assert (rec.reasoning_tokens, rec.answer_tokens) == (5, 25)


async def test_reasoning_longer_than_max_tokens_leaves_no_answer():
    config = SimulatorConfig(ttft_ms=1, itl_ms=0, reasoning_tokens=50,
                             reasoning_field="think-tags")
    (rec,), (truth,) = await send_all(config, 1, max_tokens=12, think_tags=True)
    assert rec.status == NO_ANSWER and rec.reasoning_tokens == 12
    assert truth["completion_tokens"] == 12 and truth["first_answer"] is None


async def test_a_non_streamed_reply_carries_its_reasoning_beside_the_content():
    import aiohttp

    config = SimulatorConfig(ttft_ms=1, itl_ms=0, reasoning_tokens=3,
                             reasoning_field="reasoning_content")
    async with Simulator(config) as sim, aiohttp.ClientSession() as session:
        body = {"model": "sim-model", "messages": MESSAGES, "max_tokens": 5, "ignore_eos": True}
        async with session.post(f"{sim.base_url}/chat/completions", json=body) as resp:
            reply = await resp.json()
    message = reply["choices"][0]["message"]
    assert message["reasoning_content"] == " lorem ipsum dolor"
    assert message["content"] == " lorem ipsum"
    assert reply["usage"]["completion_tokens"] == 5
    assert reply["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_the_reasoning_options_are_checked():
    with pytest.raises(ValueError, match="no_answer_share"):
        SimulatorConfig(no_answer_share=1.5).validate()
    with pytest.raises(ValueError, match="reasoning_field"):
        SimulatorConfig(reasoning_field="thoughts").validate()  # type: ignore[arg-type]
    assert "reasoning: 200 tokens in delta.reasoning_content before the answer, usage without" \
        in SimulatorConfig(reasoning_tokens=200, reasoning_field="reasoning_content",
                           reasoning_usage=False).describe()


def test_the_command_line_sets_the_reasoning_modes():
    import argparse

    from tokenflood_tui.simulator.__main__ import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args([
        "--reasoning-tokens", "200", "--reasoning-field", "think-tags",
        "--reasoning-usage", "off", "--no-answer-share", "0.1"]))
    assert (config.reasoning_tokens, config.reasoning_field, config.reasoning_usage,
            config.no_answer_share) == (200, "think-tags", False, 0.1)
    assert not config_from_args(parser.parse_args([])).reasons
    with pytest.raises(SystemExit):
        parser.parse_args(["--reasoning-field", "thoughts"])


async def test_testing_the_endpoint_says_ttfa_of_a_reasoning_model():
    from tokenflood_tui.run.probe import probe_endpoint

    async with Simulator(SimulatorConfig(ttft_ms=5, itl_ms=1, reasoning_tokens=4)) as sim:
        spec = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url)
        answered = await probe_endpoint(spec, max_tokens=8)
        never = await probe_endpoint(spec, max_tokens=3)      # all of it reasoning
    assert answered.ok and re.fullmatch(
        r"ok via openai client: TTFT \d+ ms, TTFA \d+ ms, 8 tokens in \d+ ms", answered.message)
    assert never.ok and "it reasoned through all 3 tokens, no answer yet" in never.message
