"""Rate limits through litellm against the provider test servers (tests/providers): Anthropic's
headers on every response and its 429s (rate limit, spend limit) and 529, Gemini's
RESOURCE_EXHAUSTED body with QuotaFailure and RetryInfo, Bedrock's ThrottlingException
(docs/metrics.md#rate-limits). One request as a worker sends it, after a warm-up."""

from __future__ import annotations

import time

import pytest

from tokenflood_tui.clients import make_client
from tokenflood_tui.metrics.records import OK, RATE_LIMITED, RequestRecord
from tokenflood_tui.specs import EndpointSpec

from providers.aws import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from providers import AnthropicThinkingServer, BedrockServer, Faults, GeminiThinkingServer, Reply

KEY = "sk-rate-limit-test-key-5a1f09"
WARM, LOAD = 8, 16          # max_tokens of the warm-up and of the measured request
MESSAGES = [{"role": "user", "content": "Say something."}]


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_TEST_KEY", KEY)


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEDROCK_RUNTIME_ENDPOINT",
                 "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)


async def send(spec: EndpointSpec) -> tuple[RequestRecord, RequestRecord]:
    """A warm-up request, then the measured one (the servers' forced faults spare the first)."""
    client = make_client(spec)
    await client.start()
    try:
        recs = []
        for max_tokens in (WARM, LOAD):
            rec = RequestRecord(1, 1.0, 0, time.monotonic(), 12, 0, max_tokens)
            await client.send_within(client.prepare(MESSAGES, max_tokens), rec, 30)
            recs.append(rec)
    finally:
        await client.close()
    return recs[0], recs[1]


def anthropic(server: AnthropicThinkingServer) -> EndpointSpec:
    return EndpointSpec(provider="anthropic", model="claude-sonnet-4-5", base_url=server.base_url,
                        api_key_env_var="RATE_LIMIT_TEST_KEY")


async def test_anthropic_headers_are_read_on_success_and_its_429_is_rate_limited(key_env):
    with AnthropicThinkingServer(api_key=KEY, faults=Faults([429], LOAD)) as server:
        ok, refused = await send(anthropic(server))
    assert ok.status == OK, ok.error_message
    # its four families' lowest share: output tokens 6,000 of 8,000 and the rest at 75% too, the
    # first of them by share then count; the reset is a time of day 30 s ahead
    room = ok.headroom
    assert room is not None and room.share == pytest.approx(0.75)
    assert (room.kind, room.remaining, room.limit) == ("output_tokens", 6000, 8000)
    assert room.reset_s is not None and 27 <= room.reset_s <= 31
    assert (refused.status, refused.throttle, refused.http_status) == (RATE_LIMITED, "tokens", 429)
    assert refused.retry_after_s == 17.0
    assert refused.headroom is not None and refused.headroom.limit == 8000


@pytest.mark.parametrize(("throttle", "status", "kind"), [("spend_limit", 429, "spend_limit"),
                                                          ("rate_limit", 529, "overloaded")])
async def test_anthropic_spend_limit_and_overload_are_their_own_kinds(key_env, throttle, status,
                                                                      kind):
    with AnthropicThinkingServer(api_key=KEY, throttle=throttle,
                                 faults=Faults([status], LOAD)) as server:
        _, refused = await send(anthropic(server))
    assert (refused.status, refused.throttle) == (RATE_LIMITED, kind), refused.error_message
    assert refused.retry_after_s is None
    # in Anthropic's words, not litellm's wrapping of them
    assert refused.error_message == (
        f"HTTP {status}: Your organization has reached its spend limit "
        "(enforced_spend_limit_reached)." if kind == "spend_limit" else f"HTTP {status}: Overloaded")


@pytest.mark.parametrize(("quota_id", "kind"), [
    ("GenerateRequestsPerMinutePerProjectPerModel", "requests"),
    ("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quota_exhausted")])
async def test_gemini_resource_exhausted_gives_the_kind_and_retry_delay(key_env, quota_id, kind):
    with GeminiThinkingServer(Reply(reasoning=0), api_key=KEY, quota_id=quota_id,
                              faults=Faults([429], LOAD)) as server:
        spec = EndpointSpec(provider="gemini", model="gemini-2.5-flash", base_url=server.base_url,
                            api_key_env_var="RATE_LIMIT_TEST_KEY")
        ok, refused = await send(spec)
    assert ok.status == OK and ok.headroom is None      # Gemini announces nothing until it refuses
    assert (refused.status, refused.throttle, refused.http_status) == (RATE_LIMITED, kind, 429), \
        refused.error_message
    assert refused.retry_after_s == 23.0
    assert refused.error_message == ("HTTP 429: You exceeded your current quota, please check "
                                     "your plan and billing details.")


async def test_bedrock_throttling_exception_is_rate_limited(aws_env):
    with BedrockServer(faults=Faults([429], LOAD)) as server:
        spec = EndpointSpec(provider="bedrock", model=server.model_id, base_url=server.base_url,
                            litellm_params={"aws_region_name": "us-east-1"})
        ok, refused = await send(spec)
    assert ok.status == OK and ok.headroom is None
    assert (refused.status, refused.throttle) == (RATE_LIMITED, "requests"), refused.error_message
    assert refused.http_status == 429
