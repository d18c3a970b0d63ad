"""Both clients over real HTTP: what each fault and protocol quirk does to the record."""

from __future__ import annotations

import asyncio
import time

import pytest

from tokenflood_tui.clients import make_client
from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
from tokenflood_tui.demo.localserver.protocol import unavailable_reason
from tokenflood_tui.metrics.records import RequestRecord
from tokenflood_tui.simulator import Simulator, SimulatorConfig
from tokenflood_tui.specs import EndpointSpec

MESSAGES = [{"role": "user", "content": " tell me a story"}]


async def send(base_url: str, max_tokens: int = 8, client: str = "openai", model="sim-model",
               warm_up: bool = False, messages=MESSAGES, **endpoint) -> RequestRecord:
    spec = EndpointSpec(provider="hosted_vllm", model=model, base_url=base_url, client=client, **endpoint)
    c = make_client(spec)
    await c.start()
    try:
        if warm_up:   # litellm's first call pays for lazy imports; the engine warms up the same way
            await c.send(c.prepare(messages, 1), RequestRecord(0, 0, 0, time.monotonic(), 0, 0, 1))
        rec = RequestRecord(1, 1.0, 0, time.monotonic(), 10, 0, max_tokens)
        await c.send(c.prepare(messages, max_tokens), rec)
        return rec
    finally:
        await c.close()


@pytest.mark.parametrize("client", ["openai", "litellm"])
async def test_ttft_waits_for_content_not_the_role_chunk(client):
    async with Simulator(SimulatorConfig(ttft_ms=120, itl_ms=10)) as sim:
        rec = await send(sim.base_url, 8, client, warm_up=True)
        truth = sim.truth[-1]
    assert rec.ok, rec.error_message
    # the first token, neither the role chunk nor the end (7 more tokens 10 ms apart follow; a late
    # read may bunch some). litellm adds its own time to every chunk (196 ms once with the other
    # core busy), so no absolute upper bound: benchmarks/fidelity.py measures that.
    assert 120 <= rec.ttft_ms <= rec.e2e_ms - 2 * 10
    assert rec.output_tokens == 8 and rec.prompt_tokens == 4 + 4 + 3 and not rec.output_tokens_estimated
    assert rec.content_chunks == 8 and len(rec.itl_ms) == 7
    assert rec.t_send <= truth["received"] and truth["first_token"] <= rec.t_first + 0.005


@pytest.mark.parametrize("client", ["openai", "litellm"])
async def test_cached_tokens_come_from_the_usage_details(client):
    # the warm-up sends the same prompt first, so the simulator's prefix cache holds its blocks;
    # the usage's prompt_tokens_details (a dict, or litellm's object) reads the same either way
    story = [{"role": "user", "content": " once" * 40}]
    async with Simulator(SimulatorConfig(ttft_ms=1, itl_ms=1)) as sim:
        rec = await send(sim.base_url, 4, client, warm_up=True, messages=story)
        truth = sim.truth[-1]
    assert rec.ok, rec.error_message
    assert truth["cached_tokens"] >= 32 and rec.cached_tokens == truth["cached_tokens"]
    assert rec.prompt_tokens == truth["prompt_tokens"] and rec.output_tokens == 4


@pytest.mark.parametrize("client", ["openai", "litellm"])
async def test_stream_cut_midway_is_a_stream_error(client):
    async with Simulator(SimulatorConfig(ttft_ms=5, itl_ms=2, cut_rate=1.0)) as sim:
        rec = await send(sim.base_url, 20, client)
    assert rec.status == "stream_error", (rec.status, rec.error_message)
    assert rec.t_first is not None and rec.t_end >= rec.t_first


async def test_malformed_chunk_is_a_stream_error_naming_the_data():
    async with Simulator(SimulatorConfig(ttft_ms=5, itl_ms=2, malformed_rate=1.0)) as sim:
        rec = await send(sim.base_url, 20)
    assert rec.status == "stream_error" and "malformed" in rec.error_message


@pytest.mark.parametrize("client", ["openai", "litellm"])
async def test_http_errors_keep_the_code_and_the_message(client):
    async with Simulator(SimulatorConfig(error_rates={503: 1.0})) as sim:
        rec = await send(sim.base_url, 8, client)
    assert rec.status == "http_error" and rec.http_status == 503
    assert "503" in rec.error_message


async def test_unreachable_server_is_a_connection_error():
    rec = await send("http://127.0.0.1:9/v1")
    assert rec.status == "connection_error" and "127.0.0.1:9" in rec.error_message


async def test_api_key_is_sent_and_scrubbed_from_errors(monkeypatch):
    monkeypatch.setenv("SIM_TEST_KEY", "sk-abc-123")
    async with Simulator(SimulatorConfig(api_key="sk-abc-123")) as sim:
        ok = await send(sim.base_url, 4, api_key_env_var="SIM_TEST_KEY")
    assert ok.ok
    monkeypatch.setenv("SIM_TEST_KEY", "sk-wrong")
    async with Simulator(SimulatorConfig(api_key="sk-abc-123")) as sim:
        bad = await send(sim.base_url, 4, api_key_env_var="SIM_TEST_KEY")
    assert bad.http_status == 401 and "sk-wrong" not in bad.error_message


async def test_extra_body_null_removes_ignore_eos():
    async with Simulator(SimulatorConfig(ttft_ms=1, itl_ms=1, seed=5)) as sim:
        lengths = [(await send(sim.base_url, 40, extra_body={"ignore_eos": None})).output_tokens
                   for _ in range(6)]
        exact = (await send(sim.base_url, 40)).output_tokens
    assert exact == 40
    assert all(20 <= n <= 40 for n in lengths) and min(lengths) < 40


@pytest.mark.llamacpp
@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
async def test_llamacpp_closing_connections_costs_no_request():
    # llama.cpp closes the socket after each stream; the client must not fail the next request.
    with LocalModelServer(LocalServerOptions(slots=1, ctx=2048)) as server:
        spec = EndpointSpec(provider="hosted_vllm", model=server.model, base_url=server.base_url)
        c = make_client(spec)
        await c.start()
        try:
            records = []
            for k in range(6):
                rec = RequestRecord(1, 1.0, 0, time.monotonic(), 10, 0, 4)
                await c.send(c.prepare(MESSAGES, 4), rec)
                records.append(rec)
                if k == 0:   # like a phase start after the warm-up request
                    await asyncio.sleep(0.2)
                    c.open_ahead(100.0)
                    # it saw the server close after the response: no idle connection held open
                    # (each would tie up one of llama.cpp's HTTP threads)
                    assert not c.pool.pooling and c.pool.idle == 0
        finally:
            await c.close()
    assert [r.status for r in records] == ["ok"] * 6
    assert all(r.output_tokens == 4 and r.ttft_ms > 0 for r in records)
