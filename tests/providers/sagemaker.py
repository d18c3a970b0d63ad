"""An Amazon SageMaker runtime server: InvokeEndpointWithResponseStream, from the API reference.

`POST /endpoints/{EndpointName}/invocations-response-stream`, SigV4 (service `sagemaker`). The
reply is an `application/vnd.amazon.eventstream` of `PayloadPart` events whose payload is the
container's own stream, cut at arbitrary points (a part may end inside a record). Two containers:

- `tgi` (Hugging Face TGI, the default LLM container): the body is `{"inputs": "<prompt>",
  "parameters": {"max_new_tokens": N, ...}, "stream": true}`; the stream is `data:{"token":
  {"id", "text", "logprob", "special"}, "generated_text", "details"}` lines, the last with
  `generated_text` and, when `parameters.details` is set, `details` (`finish_reason`,
  `generated_tokens`). It reports no prompt token count: there is no usage in the stream.
- `messages` (a Messages-API container): the body is an OpenAI chat request and the stream is
  OpenAI chat-completion chunks, with a usage chunk when `stream_options.include_usage` is set.
"""

from __future__ import annotations

import json
import time
import uuid

from aiohttp import web

from . import eventstream
from .aws import AwsServer, access_key_of
from .common import count_tokens, output_tokens


class SageMakerServer(AwsServer):
    service = "sagemaker"
    errors = {
        400: ("ValidationError", "Endpoint request is invalid."),
        429: ("ThrottlingException", "Rate exceeded"),
        500: ("InternalFailure", "An internal failure occurred."),
        503: ("ServiceUnavailable", "The service is unavailable. Try your call again."),
    }

    def __init__(self, *, container: str = "tgi", endpoint_name: str = "tokenflood-llm",
                 split_every: int = 3, **kw):
        super().__init__(**kw)
        assert container in ("tgi", "messages")
        self.container = container
        self.endpoint_name = endpoint_name
        self.split_every = split_every

    @property
    def stream_url(self) -> str:
        """The full streaming URL (litellm's `sagemaker_base_url`)."""
        return f"{self.root_url}/endpoints/{self.endpoint_name}/invocations-response-stream"

    def routes(self):
        return [web.post("/endpoints/{name}/invocations-response-stream", self.invoke_stream)]

    async def invoke_stream(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        if self.container == "tgi":
            n = (body.get("parameters") or {}).get("max_new_tokens")
        else:
            n = body.get("max_tokens") or body.get("max_completion_tokens")
        truth = self.begin(request.path, n, access_key_of(request))
        refused = await self.authorize(request, raw)
        if refused is not None:
            truth.status = 403
            return refused
        if request.match_info["name"] != self.endpoint_name:
            truth.status = 400
            return web.json_response(
                {"message": f"Endpoint {request.match_info['name']} of account 123456789012 not found."},
                status=400, headers={"x-amzn-ErrorType": "ValidationError:http://internal.amazon.com/"})
        forced = self.forced_status(truth)
        if forced is not None:
            return self.error_response(forced)
        response = await self.open_stream(request, **{
            "X-Amzn-SageMaker-Content-Type": "text/event-stream",
            "x-Amzn-Invoked-Production-Variant": "AllTraffic"})
        records = self._tgi(body, truth, n or 16) if self.container == "tgi" else \
            self._messages(body, truth, n or 16)
        count = 0
        async for record in records:
            count += 1
            if self.split_every and count % self.split_every == 0:
                cut = len(record) // 2        # SageMaker cuts parts anywhere, even mid-record
                parts = [record[:cut], record[cut:]]
            else:
                parts = [record]
            for part in parts:
                await response.write(eventstream.event("PayloadPart", part, "application/octet-stream"))
        truth.end = time.monotonic()
        await response.write_eof()
        return response

    async def _tgi(self, body: dict, truth, n: int):
        params = body.get("parameters") or {}
        truth.prompt_tokens = count_tokens(body.get("inputs", ""))
        texts = output_tokens(n)
        for i, text in enumerate(texts):
            await self.pace(truth, i)
            last = i == n - 1
            details = {"finish_reason": "length", "generated_tokens": n, "seed": None} \
                if last and params.get("details") else None
            record = {"index": i + 1, "token": {"id": 1000 + i, "text": text, "logprob": -0.25,
                                                 "special": False},
                      "generated_text": "".join(texts) if last else None, "details": details}
            yield b"data:" + json.dumps(record).encode() + b"\n\n"
            self.wrote_token(truth)

    async def _messages(self, body: dict, truth, n: int):
        truth.prompt_tokens = sum(4 + count_tokens(str(m.get("content", "")))
                                  for m in body.get("messages", [])) + 3
        truth.response_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def sse(choices: list, **extra) -> bytes:
            chunk = {"id": truth.response_id, "object": "chat.completion.chunk", "created": created,
                     "model": body.get("model") or "tgi", "choices": choices, **extra}
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        yield sse([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for i, text in enumerate(output_tokens(n)):
            await self.pace(truth, i)
            yield sse([{"index": 0, "delta": {"content": text}, "finish_reason": None}])
            self.wrote_token(truth)
        yield sse([{"index": 0, "delta": {}, "finish_reason": "length"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            yield sse([], usage={"prompt_tokens": truth.prompt_tokens,
                                 "completion_tokens": truth.output_tokens,
                                 "total_tokens": truth.prompt_tokens + truth.output_tokens})
            truth.usage_sent = True
        yield b"data: [DONE]\n\n"
