"""Before any load: count tokens, warm up, learn the chat template's overhead, calibrate prompts.

Runs on the coordinator with its own client; nothing is recorded (docs/architecture.md#a-run-step-by-step).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Callable

import aiohttp

from . import prompts
from ..clients.base import Client
from ..errors import ConfigError, EndpointError
from ..metrics.ratelimits import ADVICE, FATAL
from ..metrics.records import CONNECTION_ERROR, NO_ANSWER, TIMEOUT, RequestRecord
from ..specs import EndpointSpec, RunSuite
from .conversation import TOOL_NAME, TOOLS, tool_call_id
from .events import Note, RunEvent
from .prompts import SessionTemplate

PROBE_SEQ = 9_999_000     # sequence numbers for calibration prompts, far above any run's
PROBE_ATTEMPTS = 4
TOKENIZE_TIMEOUT_S = 30   # per /tokenize call, when the run's own request timeout is longer
MODELS_HINT_TIMEOUT_S = 5


class Calibration:
    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, client: Client,
                 emit: Callable[[RunEvent], None], warn: Callable[[str], None]):
        self.suite = suite
        self.endpoint = endpoint
        self.client = client
        self.emit = emit            # progress notes for the front end
        self.warn = warn            # a warning the run keeps for its summary
        self.factory: prompts.PromptFactory | None = None
        self.token_counter = "none"

    def _note(self, text: str) -> None:
        self.emit(Note("info", text))

    async def _send(self, prepared, rec: RequestRecord) -> None:
        await self.client.send_within(prepared, rec, self.suite.request_timeout_seconds)

    async def run(self) -> prompts.PromptFactory:
        """Warm up, count, calibrate; EndpointError with the endpoint's own message if unusable.

        Every step waits at most request_timeout_seconds per request and says what it waits
        for. The warm-up goes first: an endpoint that never answers is then reported after one
        timeout, before anything else is tried against it.
        """
        client = self.client
        warmed = await self._warm_up()
        headers = dict(client.extra_headers)       # env var references resolved
        if client.api_key:
            headers["Authorization"] = f"Bearer {client.api_key}"
        count_timeout = min(self.suite.request_timeout_seconds, TOKENIZE_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=count_timeout)) as session:
            counter = await prompts.make_token_counter(self.endpoint, session, headers,
                                                       emit=self.emit, timeout_s=count_timeout)
            self.token_counter = counter.name
            self._note(f"counting tokens with {counter.name}")
            vocabulary = await prompts.single_token_words(counter)
            instruction_tokens = await counter.count(prompts.INSTRUCTION)
            warmup_tokens = await counter.count(prompts.WARMUP_TEXT)
        template_tokens = self._template_tokens(warmed, warmup_tokens)
        nonce = None if self.suite.reuse_prompts else secrets.randbits(48)
        self.factory = prompts.PromptFactory(self.suite.load_types, vocabulary, self.suite.seed,
                                             instruction_tokens, template_tokens, nonce)
        await self._calibrate()
        if getattr(self.suite, "sessions", False):
            await self._calibrate_sessions()
        return self.factory

    async def _warm_up(self) -> list[RequestRecord]:
        """Send the warm-up requests; the ones that succeeded, or EndpointError if none did."""
        client = self.client
        count = max(1, self.suite.warmup_requests)
        messages = [{"role": "user", "content": prompts.WARMUP_TEXT}]
        self._note("waiting for the endpoint to answer a warm-up request (timeout "
                   f"{self.suite.request_timeout_seconds:g} s)")
        records = []
        for _ in range(count):
            rec = RequestRecord(0, 0.0, -1, time.monotonic(), 0, 0, prompts.WARMUP_MAX_TOKENS)
            await self._send(client.prepare(messages, prompts.WARMUP_MAX_TOKENS), rec)
            records.append(rec)
            if sum(r.status == TIMEOUT for r in records) >= 2 and not any(answered(r) for r in records):
                break     # once may be a stall; more of the same would only multiply the wait
        ok = [r for r in records if answered(r)]
        if not ok:
            raise EndpointError(client.scrub(await self._explain_failure(records[0])))
        if len(ok) < len(records):
            self.warn(f"{len(records) - len(ok)} of {len(records)} warm-up requests failed: "
                      f"{next(r for r in records if not answered(r)).error_message}")
        self._note(f"warm-up: {len(ok)}/{len(records)} ok")

        return ok

    def _template_tokens(self, warmed: list[RequestRecord], content_tokens: int) -> int:
        """The chat template's token overhead, from what the warm-ups' usage reported."""
        measured = [r.prompt_tokens for r in warmed if r.prompt_tokens is not None]
        if not measured:
            self.warn("the endpoint reports no usage.prompt_tokens: prompt lengths cannot be "
                      "calibrated and token counts will be estimates")
            return 0
        template = max(0, measured[-1] - content_tokens)
        self._note(f"the chat template adds {template} tokens")
        return template

    async def _calibrate(self) -> None:
        """One full-size request per load type (max_tokens=1): exact lengths, context checked."""
        factory = self.factory
        assert factory is not None
        for i, lt in enumerate(self.suite.load_types):
            if not factory.fits(i):
                raise ConfigError(
                    f"load type {i}: prompt_length {lt.prompt_length} leaves no room for a unique "
                    f"part: the chat template adds {factory.template_tokens} tokens and the prefix "
                    f"takes {lt.prefix_length}; raise prompt_length to at least "
                    f"{factory.template_tokens + lt.prefix_length + 1}")
            for attempt in range(2):
                rec = await self._probe(i)
                if rec.prompt_tokens is None:
                    return
                delta = lt.prompt_length - rec.prompt_tokens
                if delta == 0:
                    break
                if attempt == 0:
                    factory.adjust(i, delta)
                else:
                    self.warn(f"load type {i}: prompts measure {rec.prompt_tokens} tokens against "
                              f"a target of {lt.prompt_length}")
        self._note("calibrated prompt lengths for "
                   f"{len(self.suite.load_types)} load type(s)")

    async def _calibrate_sessions(self) -> None:
        """What the chat template adds around a session's messages: a first request, one more
        turn, one tool round trip; with and without a system prompt and tools, as the suite's
        session types need. Probes of 8-token segments, max_tokens 1."""
        factory = self.factory
        assert factory is not None
        kinds = {(t.system_prompt_tokens > 0, t.tool_share > 0)
                 for t in getattr(self.suite, "session_types", [])}
        words = [factory.words(8, f"probe-{i}") for i in range(4)]
        timeout_s = self.suite.request_timeout_seconds
        for system, tools in sorted(kinds):
            template = await measure_session_template(self.client, words, system, tools,
                                                      timeout_s)
            if template is None:
                return
            factory.session_templates[(system, tools)] = template
        self._note("calibrated the chat template around session turns: " + ", ".join(
            f"{'system prompt' if k[0] else 'no system prompt'}{' and tools' if k[1] else ''}: "
            f"first turn +{t.first}, next turn +{t.turn}" + (f", tool step +{t.tool}" if k[1] else "")
            for k, t in sorted(factory.session_templates.items())) + " tokens")

    async def _probe(self, index: int) -> RequestRecord:
        """A full-size prompt with max_tokens=1; transient errors (429, 5xx, network) are retried."""
        client, factory = self.client, self.factory
        assert factory is not None
        lt = self.suite.load_types[index]
        timeout_s = self.suite.request_timeout_seconds
        self._note(f"calibration: waiting for a full-size prompt of load type {index} "
                   f"({lt.prompt_length} tokens; timeout {timeout_s:g} s)")
        timeouts = 0
        for attempt in range(PROBE_ATTEMPTS):
            rec = RequestRecord(0, 0.0, index, time.monotonic(), lt.prompt_length, lt.prefix_length, 1)
            await self._send(client.prepare(factory.messages(index, PROBE_SEQ + index), 1), rec)
            if answered(rec):
                return rec
            if rec.throttle in FATAL:
                assert rec.throttle is not None
                raise EndpointError(f"load type {index}: the provider refused a full-size prompt: "
                                    f"{rec.throttle} ({rec.error_message}): {ADVICE[rec.throttle]}")
            timeouts += rec.status == TIMEOUT
            # Once may be a stall; twice means each load request this size would wait too. (An
            # endpoint that never answers has already failed the warm-up.)
            if timeouts == 2:
                raise EndpointError(
                    f"load type {index} (prompt_length {lt.prompt_length}): the endpoint did not "
                    f"answer a full-size prompt within request_timeout_seconds ({timeout_s:g} s); "
                    "raise request_timeout_seconds or shorten the prompt")
            transient = (rec.status == TIMEOUT or rec.http_status is None or rec.http_status == 429
                         or rec.http_status >= 500)
            if not transient or attempt == PROBE_ATTEMPTS - 1:
                raise EndpointError(
                    f"load type {index} (prompt_length {lt.prompt_length}): the endpoint rejected "
                    f"a full-size prompt: {rec.error_message}")
            await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _explain_failure(self, rec: RequestRecord) -> str:
        endpoint = self.endpoint
        url = endpoint.base_url or (endpoint.http_base_url if self.client.name == "openai"
                                    else f"litellm's default URL for {endpoint.provider}")
        if rec.status == CONNECTION_ERROR:
            return (f"cannot reach the endpoint at {url}: {rec.error_message}. Is the server "
                    "running? Check base_url in the endpoint spec.")
        if rec.throttle in FATAL:
            return (f"the provider refused the warm-up request: {rec.throttle} "
                    f"({rec.error_message}): {ADVICE[rec.throttle]}")
        if _refused_credentials(rec):
            return f"the endpoint refused the credentials ({rec.error_message}); {self._credentials_hint()}"
        if rec.http_status == 404:
            served = await self._served_models()
            hint = f" The server serves: {', '.join(served)}." if served else ""
            return (f"the endpoint answered 404 for model {self.endpoint.model!r} at {url} "
                    f"({rec.error_message}). Check model and base_url in the endpoint spec.{hint}")
        if rec.status == TIMEOUT:
            return (f"the endpoint at {url} did not answer within request_timeout_seconds "
                    f"({self.suite.request_timeout_seconds:g} s) to a short warm-up request. "
                    "Is the server up and serving (not still loading)? Check base_url, or raise "
                    "request_timeout_seconds if it is slow to start")
        return f"every warm-up request failed; the endpoint said: {rec.error_message}"

    def _credentials_hint(self) -> str:
        """What to check, by how the provider authenticates (names of variables, never values)."""
        var = self.endpoint.api_key_env_var
        if self.endpoint.uses_aws_credentials:
            # litellm signs Bedrock and SageMaker requests with AWS credentials (SigV4).
            return ("litellm signs these requests with AWS credentials: set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary ones) or "
                    "AWS_PROFILE, or pass aws_access_key_id / aws_secret_access_key / "
                    "aws_profile_name / aws_role_name in litellm_params; check aws_region_name in "
                    "litellm_params and that the identity may invoke this model or endpoint")
        return (f"check the key in ${var}" if var else
                "set api_key_env_var to the name of the env var holding the key")

    async def _served_models(self) -> list[str]:
        if self.client.name != "openai":
            return []
        try:
            headers = {k: v for k, v in getattr(self.client, "headers", {}).items()
                       if k.lower() not in ("content-type", "host")}
            # only a hint for the 404 message: at most the run's timeout, and never long
            timeout_s = min(self.suite.request_timeout_seconds, MODELS_HINT_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
                async with session.get(f"{self.endpoint.http_base_url}/models", headers=headers) as r:
                    data = await r.json(content_type=None)
            return [str(m.get("id")) for m in data.get("data", [])][:10]
        except Exception:  # only a hint; the error message stands without it
            return []


def answered(rec: RequestRecord) -> bool:
    """The server served it: ok, or a reasoning model that spent the few tokens calibration
    allows on reasoning (no_answer): its usage counts the prompt all the same."""
    return rec.ok or rec.status == NO_ANSWER


def _refused_credentials(rec: RequestRecord) -> bool:
    """401/403, or Gemini's 400 for a bad key (reason API_KEY_INVALID)."""
    if rec.http_status in (401, 403):
        return True
    message = rec.error_message or ""
    return rec.http_status == 400 and ("API_KEY_INVALID" in message or "API key not valid" in message)


async def measure_session_template(client: Client, words: list[str], system: bool, tools: bool,
                                   timeout_s: float) -> SessionTemplate | None:
    """What the chat template adds around a session's messages (with a system prompt or not,
    tools declared or not): three probes (max_tokens 1) of four 8-token segments, `words`, each
    8 tokens of one-token words. None when the endpoint reports no usage; EndpointError when it
    refuses them. Calibration and `tokenflood profile` (profile/count.py) measure with it."""
    head = [{"role": "system", "content": words[0]}] if system else []
    declared = TOOLS if tools else None
    first = head + [{"role": "user", "content": words[1]}]
    base = await probe_tokens(client, first, declared, "a first turn", timeout_s)
    if base is None:
        return None
    turn = await probe_tokens(client, first + [
        {"role": "assistant", "content": words[2]},
        {"role": "user", "content": words[3]}], declared, "a second turn", timeout_s)
    tool = None
    if tools:
        call = {"role": "assistant", "content": None, "tool_calls": [{
            "id": tool_call_id(1), "type": "function", "function": {
                "name": TOOL_NAME, "arguments": json.dumps({"query": words[2]})}}]}
        tool = await probe_tokens(client, first + [
            call, {"role": "tool", "tool_call_id": tool_call_id(1), "content": words[3]}],
            declared, "a tool call and its result", timeout_s)
    segment = 8 * len(first)
    return SessionTemplate(first=base - segment, turn=(turn or base + 16) - base - 16,
                           tool=(tool or base + 16) - base - 16)


async def probe_tokens(client: Client, messages: list[dict], tools: list[dict] | None,
                       what: str, timeout_s: float) -> int | None:
    """The prompt tokens the server counts for `messages` (max_tokens 1); None when it reports
    none; EndpointError when it refuses them."""
    rec = RequestRecord(0, 0.0, -1, time.monotonic(), 0, 0, 1)
    for attempt in range(PROBE_ATTEMPTS):
        rec = RequestRecord(0, 0.0, -1, time.monotonic(), 0, 0, 1)
        await client.send_within(client.prepare(messages, 1, tools), rec, timeout_s)
        if answered(rec):
            return rec.prompt_tokens
        transient = (rec.status == TIMEOUT or rec.http_status is None
                     or rec.http_status == 429 or rec.http_status >= 500)
        if not transient:
            break
        await asyncio.sleep(0.5 * (attempt + 1))
    hint = (" (tool steps send tool calls in the history and declare tools: set tool_share: "
            "0, or enable tool calling on the server, e.g. llama.cpp's --jinja)") if tools else ""
    raise EndpointError(f"sessions: the endpoint rejected {what}: {rec.error_message}{hint}")
