"""The interface every client implements: send one streamed chat request, fill in its record."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError
from ..metrics.ratelimits import RateLimits, read_headers
from ..metrics.records import TIMEOUT, RequestRecord, ThinkTags
from ..specs.secrets import Scrubber, resolve_env_refs
from ..specs import EndpointSpec


class Client(ABC):
    """Streams chat completions. `send` never raises for a failed request: it marks the record."""

    name: ClassVar[str]

    def __init__(self, endpoint: EndpointSpec):
        self.endpoint = endpoint
        self.api_key = read_api_key(endpoint)
        # os.environ/NAME and ${NAME} in header and litellm_params values, read now (run time)
        self.extra_headers: dict[str, str] = resolve_env_refs(endpoint.extra_headers,
                                                              "extra_headers")
        self.litellm_params: dict[str, Any] = resolve_env_refs(endpoint.litellm_params,
                                                               "litellm_params")
        self.scrubber = Scrubber.for_endpoint(endpoint)
        # every limit the latest response announced (the warm-up's: the plan is checked on it)
        self.last_limits: RateLimits | None = None

    # start, close and open_ahead are optional hooks, no-ops unless a client needs them: not abstract.
    async def start(self) -> None:  # noqa: B027
        """Open connections; called once before the first request."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""

    def open_ahead(self, rate: float) -> None:  # noqa: B027
        """Open connections ahead of requests arriving at `rate` per second, where the client
        pools them, so no measured request waits for a handshake."""

    @abstractmethod
    def prepare(self, messages: list[dict[str, Any]], max_tokens: int,
                tools: list[dict[str, Any]] | None = None,
                reasoning_budget: int | None = None) -> Any:
        """Everything that can be done before the send time (serialise the body). `tools`: the
        functions a session's history calls (the model is asked to answer in text);
        `reasoning_budget`: a thinking budget, on top of `max_tokens` where the provider has
        one (docs/config.md#load_types)."""

    @abstractmethod
    async def send(self, prepared: Any, rec: RequestRecord) -> None:
        """Send, stream, and stamp t_send, t_first, t_end, tokens and status on `rec`."""

    async def send_within(self, prepared: Any, rec: RequestRecord, timeout_s: float) -> None:
        """`send`, with the request timeout: a request still going after it is marked timeout."""
        if self.endpoint.think_tags:
            rec.think = ThinkTags()
        try:
            async with asyncio.timeout(timeout_s):
                await self.send(prepared, rec)
        except TimeoutError:
            rec.t_end = time.monotonic()
            rec.fail(TIMEOUT, "Timeout", f"no complete response within {timeout_s:g} s")
        finally:
            rec.think = None

    def read_limits(self, rec: RequestRecord, headers: Any) -> None:
        """A response's rate-limit headers: the lowest on the record, all of them kept here."""
        if not headers:
            return
        limits = read_headers(headers)
        if limits.limits:
            self.last_limits = limits
        rec.stamp_rate_limits(limits)

    def scrub(self, text: str) -> str:
        """Remove every secret of the spec from a message that may echo it (see redaction)."""
        return self.scrubber.scrub(text)

    def request_extras(self) -> dict[str, Any]:
        """Body keys beyond the standard ones: ignore_eos for self-hosted servers, then extra_body.

        A key set to null in extra_body removes it (e.g. `ignore_eos: null`).
        """
        extras: dict[str, Any] = {"ignore_eos": True} if self.endpoint.self_hosted else {}
        if self.endpoint.reasoning_effort is not None:
            extras["reasoning_effort"] = self.endpoint.reasoning_effort
        extras.update(self.endpoint.extra_body)
        return {k: v for k, v in extras.items() if v is not None}


def read_api_key(endpoint: EndpointSpec) -> str | None:
    """The key from the env var the spec names; never from the spec itself."""
    name = endpoint.api_key_env_var
    if name is None:
        return None
    key = os.environ.get(name)
    if not key:
        raise ConfigError(f"api_key_env_var names {name}, but {name} is not set in the environment: "
                          f"export {name}=... and run again")
    return key


def basic_auth(url: str) -> str | None:
    """The Authorization value for a URL's `user:password@` (as curl sends it), or None."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def preflight(endpoint: EndpointSpec) -> None:
    """What building a client would refuse, checked before the budget prompt so it never leaves
    an empty results folder: the key's env var and every env var a header (the metrics URL's
    too, where metrics are read) or litellm parameter refers to must be set. (Header names and
    values are checked when the spec is loaded.)"""
    read_api_key(endpoint)
    resolve_env_refs(endpoint.extra_headers, "extra_headers")
    resolve_env_refs(endpoint.litellm_params, "litellm_params")
    if endpoint.metrics_endpoint is not None:       # `metrics: off` reads none: need none
        resolve_env_refs(endpoint.metrics_headers, "metrics_headers")

