"""An Amazon Bedrock runtime server: ConverseStream, written from the API reference.

`POST /model/{modelId}/converse-stream`, SigV4 (service `bedrock`). The body has `messages`
(`content: [{text}]`), optional `system: [{text}]` and `inferenceConfig.maxTokens`. The reply is
an `application/vnd.amazon.eventstream` of `messageStart`, `contentBlockDelta` (one per token
here), `contentBlockStop`, `messageStop` (`stopReason`) and `metadata` (`usage.inputTokens`,
`outputTokens`, `totalTokens`; `metrics.latencyMs`). Each event carries a `p` padding field as
the service adds. Errors before the stream are HTTP statuses with `x-amzn-ErrorType`.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from . import eventstream
from .aws import AwsServer, access_key_of
from .common import count_tokens, output_tokens

CLAUDE_TEMPLATE_TOKENS = 7   # what the model's prompt format adds, as a real model would count it


class BedrockServer(AwsServer):
    service = "bedrock"
    errors = {
        400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
        429: ("ThrottlingException", "Too many requests, please wait before trying again."),
        500: ("InternalServerException", "The server encountered an internal error."),
        503: ("ServiceUnavailableException", "The service is unavailable, try again later."),
    }

    def __init__(self, *, model_id: str = "anthropic.claude-3-5-sonnet-20240620-v1:0", **kw):
        super().__init__(**kw)
        self.model_id = model_id

    @property
    def base_url(self) -> str:
        """The runtime endpoint override (what `endpoint_url` is to boto3)."""
        return self.root_url

    def routes(self):
        return [web.post("/model/{model_id}/converse-stream", self.converse_stream)]

    async def converse_stream(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        n = (body.get("inferenceConfig") or {}).get("maxTokens")
        truth = self.begin(request.path, n, access_key_of(request))
        refused = await self.authorize(request, raw)
        if refused is not None:
            truth.status = 403
            return refused
        if request.match_info["model_id"] != self.model_id:
            truth.status = 400
            return self.error_response(400)
        forced = self.forced_status(truth)
        if forced is not None:
            return self.error_response(forced)

        texts = [block.get("text", "") for m in body.get("messages", [])
                 for block in m.get("content", [])]
        texts += [block.get("text", "") for block in body.get("system") or []]
        truth.prompt_tokens = sum(count_tokens(t) for t in texts) + CLAUDE_TEMPLATE_TOKENS
        n = n or 16
        response = await self.open_stream(request)
        await response.write(eventstream.event("messageStart", {"p": "abcdefgh", "role": "assistant"}))
        for i, text in enumerate(output_tokens(n)):
            await self.pace(truth, i)
            await response.write(eventstream.event(
                "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}, "p": "abcd"}))
            self.wrote_token(truth)
        await response.write(eventstream.event("contentBlockStop", {"contentBlockIndex": 0, "p": "ab"}))
        await response.write(eventstream.event("messageStop", {"p": "abcdef", "stopReason": "max_tokens"}))
        latency = int((time.monotonic() - truth.received) * 1000)
        await response.write(eventstream.event("metadata", {
            "metrics": {"latencyMs": latency}, "p": "abc",
            "usage": {"inputTokens": truth.prompt_tokens, "outputTokens": truth.output_tokens,
                      "totalTokens": truth.prompt_tokens + truth.output_tokens}}))
        truth.usage_sent = True
        truth.end = time.monotonic()
        await response.write_eof()
        return response

