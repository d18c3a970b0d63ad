"""Before any load: count tokens, warm up, learn the chat template's overhead, calibrate prompts.

Runs on the coordinator with its own client; nothing is recorded (docs/architecture.md#a-run-step-by-step).
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import aiohttp

from . import prompts
from .clients.base import Client
from .errors import ConfigError, EndpointError
from .records import CONNECTION_ERROR, TIMEOUT, RequestRecord
from .specs import EndpointSpec, RunSuite

PROBE_SEQ = 9_999_000     # sequence numbers for calibration prompts, far above any run's
PROBE_ATTEMPTS = 4


class Calibration:
    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, client: Client,
                 log: Callable[[str, str], None], warn: Callable[[str], None]):
        self.suite = suite
        self.endpoint = endpoint
        self.client = client
        self.log = log
        self.warn = warn
        self.factory: prompts.PromptFactory | None = None
        self.token_counter = "none"

    async def _send(self, prepared, rec: RequestRecord) -> None:
        await self.client.send_within(prepared, rec, self.suite.request_timeout_seconds)

    async def run(self) -> prompts.PromptFactory:
        """Count, warm up, calibrate; EndpointError with the endpoint's own message if unusable."""
        client = self.client
        headers = dict(self.endpoint.extra_headers)
        if client.api_key:
            headers["Authorization"] = f"Bearer {client.api_key}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            counter = await prompts.make_token_counter(self.endpoint, session, headers)
            self.token_counter = counter.name
            self.log("info", f"counting tokens with {counter.name}")
            vocabulary = await prompts.single_token_words(counter)
            instruction_tokens = await counter.count(prompts.INSTRUCTION)
            warmup_tokens = await counter.count(prompts.WARMUP_TEXT)
        template_tokens = await self._warm_up(warmup_tokens)
        self.factory = prompts.PromptFactory(self.suite.load_types, vocabulary, self.suite.seed,
                                             instruction_tokens, template_tokens)
        await self._calibrate()
        return self.factory

    async def _warm_up(self, content_tokens: int) -> int:
        """Send the warm-up requests; return the chat template's token overhead they reveal."""
        client = self.client
        count = max(1, self.suite.warmup_requests)
        messages = [{"role": "user", "content": prompts.WARMUP_TEXT}]
        records = []
        for _ in range(count):
            rec = RequestRecord(0, 0.0, -1, time.monotonic(), 0, 0, prompts.WARMUP_MAX_TOKENS)
            await self._send(client.prepare(messages, prompts.WARMUP_MAX_TOKENS), rec)
            records.append(rec)
        ok = [r for r in records if r.ok]
        if not ok:
            raise EndpointError(await self._explain_failure(records[0]))
        if len(ok) < len(records):
            self.warn(f"{len(records) - len(ok)} of {len(records)} warm-up requests failed: "
                      f"{next(r for r in records if not r.ok).error_message}")
        measured = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
        if not measured:
            self.warn("the endpoint reports no usage.prompt_tokens: prompt lengths cannot be "
                      "calibrated and token counts will be estimates")
            return 0
        template = max(0, measured[-1] - content_tokens)
        self.log("info", f"warm-up: {len(ok)}/{len(records)} ok; the chat template adds "
                              f"{template} tokens")
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
        self.log("info", "calibrated prompt lengths for "
                              f"{len(self.suite.load_types)} load type(s)")

    async def _probe(self, index: int) -> RequestRecord:
        """A full-size prompt with max_tokens=1; transient errors (429, 5xx, network) are retried."""
        client, factory = self.client, self.factory
        assert factory is not None
        lt = self.suite.load_types[index]
        for attempt in range(PROBE_ATTEMPTS):
            rec = RequestRecord(0, 0.0, index, time.monotonic(), lt.prompt_length, lt.prefix_length, 1)
            await self._send(client.prepare(factory.messages(index, PROBE_SEQ + index), 1), rec)
            if rec.ok:
                return rec
            transient = rec.http_status is None or rec.http_status == 429 or rec.http_status >= 500
            if not transient or attempt == PROBE_ATTEMPTS - 1:
                raise EndpointError(
                    f"load type {index} (prompt_length {lt.prompt_length}): the endpoint rejected "
                    f"a full-size prompt: {rec.error_message}")
            await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _explain_failure(self, rec: RequestRecord) -> str:
        url = self.endpoint.http_base_url
        if rec.status == CONNECTION_ERROR:
            return (f"cannot reach the endpoint at {url}: {rec.error_message}. Is the server "
                    "running? Check base_url in the endpoint spec.")
        if rec.http_status == 401 or rec.http_status == 403:
            var = self.endpoint.api_key_env_var
            hint = (f"check the key in ${var}" if var else
                    "set api_key_env_var to the name of the env var holding the key")
            return f"the endpoint refused the credentials ({rec.error_message}); {hint}"
        if rec.http_status == 404:
            served = await self._served_models()
            hint = f" The server serves: {', '.join(served)}." if served else ""
            return (f"the endpoint answered 404 for model {self.endpoint.model!r} at {url} "
                    f"({rec.error_message}). Check model and base_url in the endpoint spec.{hint}")
        if rec.status == TIMEOUT:
            return (f"the warm-up request timed out after {self.suite.request_timeout_seconds:g} s "
                    f"at {url}")
        return f"every warm-up request failed; the endpoint said: {rec.error_message}"

    async def _served_models(self) -> list[str]:
        if self.client.name != "openai":
            return []
        try:
            headers = {k: v for k, v in getattr(self.client, "headers", {}).items()
                       if k.lower() not in ("content-type", "host")}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.get(f"{self.endpoint.http_base_url}/models", headers=headers) as r:
                    data = await r.json(content_type=None)
            return [str(m.get("id")) for m in data.get("data", [])][:10]
        except Exception:  # only a hint; the error message stands without it
            return []
