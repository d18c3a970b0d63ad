"""One short request to check an endpoint works (the editors' "test endpoint")."""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import prompts
from .limits import limits_line
from ..clients import make_client
from ..errors import TokenfloodError
from ..metrics.records import NO_ANSWER, RequestRecord
from ..outputs.formats import ms
from ..outputs.state import ENDPOINT_TEST, remember_limits
from ..specs import EndpointSpec


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    message: str                 # what to show: timings, or the endpoint's own error
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    client: str | None = None


async def probe_endpoint(endpoint: EndpointSpec, max_tokens: int = 8, timeout_s: float = 30) -> ProbeResult:
    """Send one short streamed request; never raises for endpoint or config problems."""
    try:
        client = make_client(endpoint)
    except TokenfloodError as exc:
        return ProbeResult(False, str(exc))
    await client.start()
    rec = RequestRecord(0, 0.0, 0, time.monotonic(), 0, 0, max_tokens)
    try:
        messages = [{"role": "user", "content": prompts.WARMUP_TEXT}]
        await client.send_within(client.prepare(messages, max_tokens), rec, timeout_s)
    finally:
        await client.close()
    limits = ""
    if client.last_limits is not None:     # the next budget prompt holds the plan against them
        remember_limits(endpoint, client.last_limits, ENDPOINT_TEST)
        limits = "; " + limits_line(client.last_limits, "rate limits")
    if rec.status == NO_ANSWER:
        ttft = f"TTFT {rec.ttft_ms:.0f} ms; " if rec.ttft_ms is not None else ""
        return ProbeResult(True, f"ok via {client.name} client: {ttft}it reasoned through all "
                                 f"{max_tokens} tokens, no answer yet (a reasoning model){limits}",
                           client=client.name)
    if not rec.ok:
        return ProbeResult(False, rec.error_message or rec.status, client=client.name)
    ttft = f"TTFT {rec.ttft_ms:.0f} ms, " if rec.ttft_ms is not None else ""
    if rec.reasoning_chunks and rec.ttfa_ms is not None:     # a reasoning model: its answer too
        ttft += f"TTFA {ms(rec.ttfa_ms)}, "
    return ProbeResult(True, f"ok via {client.name} client: {ttft}{rec.output_tokens} tokens in "
                             f"{rec.e2e_ms:.0f} ms{limits}", rec.ttft_ms, rec.e2e_ms, client.name)
