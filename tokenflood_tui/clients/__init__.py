"""The clients that send one request and stamp what came back: the built-in HTTP client and litellm."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..specs import EndpointSpec
    from .base import Client


def make_client(endpoint: EndpointSpec) -> Client:
    """The client the endpoint asks for (`client:`), built-in HTTP or litellm."""
    if endpoint.resolved_client == "openai":
        from .openai_http import OpenAIHttpClient
        return OpenAIHttpClient(endpoint)
    from .litellm_client import LitellmClient
    return LitellmClient(endpoint)
