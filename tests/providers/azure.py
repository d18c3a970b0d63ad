"""An Azure OpenAI chat-completions server (data-plane API, streaming), written from the reference.

- `POST /openai/deployments/{deployment}/chat/completions?api-version=...`, key in `api-key`.
- The first streamed chunk is the prompt-filter verdict: `id: ""`, `choices: []`,
  `prompt_filter_results`; then a role chunk (the real id from here on), content chunks with
  `content_filter_results`, a chunk with `finish_reason`, the usage chunk (`choices: []`) when
  `stream_options.include_usage` is set, and `data: [DONE]`.
- Unknown body keys (`ignore_eos`) are a 400, as on the real service.
- Errors are `{"error": {"code": ..., "message": ...}}`.
"""

from __future__ import annotations

import json
import time
import uuid

from aiohttp import web

from .common import ProviderServer, count_tokens, output_tokens

KNOWN_KEYS = {"messages", "model", "max_tokens", "max_completion_tokens", "stream", "stream_options",
              "temperature", "top_p", "n", "stop", "presence_penalty", "frequency_penalty",
              "logit_bias", "user", "seed", "tools", "tool_choice", "response_format", "logprobs",
              "top_logprobs", "parallel_tool_calls"}

_MESSAGES = {
    401: ("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                 "to provide a valid key for an active subscription and use a correct regional API "
                 "endpoint for your resource."),
    403: ("403", "Public access is disabled. Please configure private endpoint."),
    429: ("429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                 "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                 "Please retry after 1 second."),
    500: ("InternalServerError", "The server had an error while processing your request. Sorry "
                                 "about that!"),
}
_FILTER = {"hate": {"filtered": False, "severity": "safe"},
           "self_harm": {"filtered": False, "severity": "safe"},
           "sexual": {"filtered": False, "severity": "safe"},
           "violence": {"filtered": False, "severity": "safe"}}


class AzureServer(ProviderServer):
    def __init__(self, *, deployment: str = "my-gpt-4o", api_key: str = "azure-test-key",
                 model: str = "gpt-4o-2024-11-20", **kw):
        super().__init__(**kw)
        self.deployment = deployment
        self.api_key = api_key
        self.model = model

    @property
    def base_url(self) -> str:
        """What a user writes as `api_base`: the resource URL."""
        return self.root_url

    def routes(self):
        return [web.post("/openai/deployments/{deployment}/chat/completions", self.chat)]

    def error_response(self, status: int, code: str | None = None, message: str | None = None):
        default_code, default_message = _MESSAGES.get(status, (str(status), "error"))
        headers = {"retry-after": "1"} if status == 429 else None
        return web.json_response({"error": {"code": code or default_code,
                                            "message": message or default_message}},
                                 status=status, headers=headers)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        truth = self.begin(request.path, body.get("max_tokens"), request.headers.get("api-key"))
        if "api-version" not in request.query:
            truth.status = 404
            return self.error_response(404, "404", "Resource not found")
        if request.headers.get("api-key") != self.api_key:
            truth.status = 401
            return self.error_response(401)
        if request.match_info["deployment"] != self.deployment:
            truth.status = 404
            return self.error_response(404, "DeploymentNotFound",
                                       "The API deployment for this resource does not exist.")
        unknown = sorted(set(body) - KNOWN_KEYS)
        if unknown:
            truth.status = 400
            return self.error_response(400, "invalid_request_error",
                                       f"Unrecognized request argument supplied: {unknown[0]}")
        forced = self.forced_status(truth)
        if forced is not None:
            return self.error_response(forced)

        truth.prompt_tokens = sum(4 + count_tokens(str(m.get("content", "")))
                                  for m in body["messages"]) + 3
        n = body.get("max_tokens") or 16
        truth.response_id = f"chatcmpl-{uuid.uuid4().hex[:29]}"
        created = int(time.time())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "apim-request-id": str(uuid.uuid4())})
        await response.prepare(request)

        async def send(chunk: dict) -> None:
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        def chunk(choices: list, **extra) -> dict:
            return {"choices": choices, "created": created, "id": truth.response_id,
                    "model": self.model, "object": "chat.completion.chunk",
                    "system_fingerprint": "fp_b705f0c291", **extra}

        await send({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER}]})
        await send(chunk([{"content_filter_results": {}, "delta": {"content": "", "refusal": None,
                                                                   "role": "assistant"},
                           "finish_reason": None, "index": 0, "logprobs": None}]))
        for i, text in enumerate(output_tokens(n)):
            await self.pace(truth, i)
            await send(chunk([{"content_filter_results": _FILTER, "delta": {"content": text},
                               "finish_reason": None, "index": 0, "logprobs": None}]))
            self.wrote_token(truth)
        await send(chunk([{"content_filter_results": {}, "delta": {}, "finish_reason": "length",
                           "index": 0, "logprobs": None}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(chunk([], usage={
                "completion_tokens": truth.output_tokens, "prompt_tokens": truth.prompt_tokens,
                "total_tokens": truth.output_tokens + truth.prompt_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}))
            truth.usage_sent = True
        await response.write(b"data: [DONE]\n\n")
        truth.end = time.monotonic()
        await response.write_eof()
        return response
