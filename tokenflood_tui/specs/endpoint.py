"""The endpoint spec (`endpoint.yml`): where and how to send requests, checked at load so that
nothing unsendable reaches a client (docs/config.md)."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (AfterValidator, AliasChoices, Field, ValidationInfo, field_validator,
                      model_validator)

from .loader import KeyedError, StrictModel
from .providers import (AWS_SIGNED, LITELLM_PROVIDERS, OPENAI_COMPATIBLE, OPENAI_DEFAULT_BASE_URL,
                        SAGEMAKER, SELF_HOSTED)
from .secrets import ref_syntax_error, strings_in

_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_env_refs(value: Any) -> Any:
    """Values may name env vars (os.environ/NAME, ${NAME}), resolved at run time: check the
    syntax at load, so a typo is an error now and not a literal header sent later."""
    for text in strings_in(value):
        problem = ref_syntax_error(text)
        if problem:
            raise ValueError(problem)
    return value


_ENV_REFS = AfterValidator(_check_env_refs)   # per value, so errors name the key and its line
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")     # an RFC 9110 token
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")                   # visible ASCII, spaces, tabs


class EndpointSpec(StrictModel):
    """Where and how to send requests (`endpoint.yml`)."""

    provider: str
    model: str
    base_url: str | None = Field(None, validation_alias=AliasChoices("base_url", "api_base"))
    api_key_env_var: str | None = None
    deployment: str | None = None
    extra_headers: dict[str, Annotated[str, _ENV_REFS]] = Field(default_factory=dict)
    name: str | None = None
    api_version: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    litellm_params: dict[str, Annotated[Any, _ENV_REFS]] = Field(default_factory=dict)
    client: Literal["auto", "openai", "litellm"] = "auto"
    # reasoning models (docs/config.md#reasoning_effort, #think_tags)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    think_tags: bool = False        # the reasoning comes inside the content as <think>…</think>
    # server telemetry (docs/config.md#metrics): the engine's Prometheus metrics, read during
    # the run; `metrics: off` reads none
    metrics: bool = True
    metrics_url: str | None = None  # default: base_url's origin + /metrics
    # sent on each scrape (a metrics URL behind auth); values may name env vars, as extra_headers'
    metrics_headers: dict[str, Annotated[str, _ENV_REFS]] = Field(default_factory=dict)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, provider: str) -> str:
        if provider not in LITELLM_PROVIDERS:
            close = difflib.get_close_matches(provider, sorted(LITELLM_PROVIDERS), n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else (
                "; use a litellm provider name such as 'hosted_vllm', 'openai', 'anthropic'")
            raise ValueError(f"unknown provider {provider!r}{hint}")
        return provider

    @field_validator("model")
    @classmethod
    def _model_not_empty(cls, model: str) -> str:
        if not model.strip():
            raise ValueError("model must not be empty")
        return model

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        # Checked here, at load, because the client builds f"{base_url}/chat/completions" and
        # the HTTP request line from it: a query, a stray CR/LF or a bad port must not get there.
        # The URL itself is not echoed: it may carry a password.
        if url is None:
            return None
        if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            raise ValueError("base_url must not contain spaces or control characters (line "
                             "breaks, tabs): remove them")
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"base_url must be an http:// or https:// URL, got {url!r}")
        if "?" in url:
            raise ValueError(
                f"base_url must not contain a query (?{parsed.query}): tokenflood appends "
                "/chat/completions to it. Give Azure's api-version as api_version, other "
                "parameters as extra_headers or extra_body")
        if "#" in url:
            raise ValueError(f"base_url must not contain a fragment (#{parsed.fragment}): remove it")
        if not parsed.hostname:
            raise ValueError("base_url has no host name (e.g. http://127.0.0.1:8000/v1)")
        port = _port_text(parsed.netloc)
        if port is not None:
            if not port.isdigit():
                raise ValueError(f"base_url: port {port!r} is not a number")
            if not 1 <= int(port) <= 65535:
                raise ValueError(f"base_url: port {int(port)} is not between 1 and 65535")
        return url.rstrip("/")

    @field_validator("metrics_url")
    @classmethod
    def _metrics_http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parsed = urlsplit(url)
        if (parsed.scheme not in ("http", "https") or not parsed.hostname
                or any(c.isspace() or ord(c) < 32 for c in url)):
            raise ValueError("metrics_url must be an http:// or https:// URL such as "
                             "http://127.0.0.1:8000/metrics")
        return url

    @field_validator("extra_headers", "metrics_headers")
    @classmethod
    def _sendable_headers(cls, headers: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        # A header that cannot go on the wire is a config error found at load, not when the
        # client is built after the results folder exists. The value is never echoed: it may
        # be a key.
        for name, value in headers.items():
            if not _HEADER_NAME.match(name) or not _HEADER_VALUE.match(value):
                raise KeyedError((info.field_name or "extra_headers", name), (
                    f"header {name!r}: names and values must be single-line ASCII text (a name "
                    "of letters, digits and dashes; no line breaks or accented letters in the "
                    "value)"))
        return headers

    @field_validator("api_key_env_var")
    @classmethod
    def _env_var_name(cls, name: str | None) -> str | None:
        if name is None:
            return None
        if not _ENV_VAR_NAME.match(name):
            raise ValueError(
                "api_key_env_var takes the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                "never the key itself")
        return name

    @model_validator(mode="after")
    def _client_can_reach(self) -> EndpointSpec:
        if self.provider in SELF_HOSTED and not self.base_url:
            raise ValueError(f"provider {self.provider!r} is a self-hosted server: set base_url "
                             "(e.g. http://127.0.0.1:8000/v1)")
        if self.client == "openai" and not self.base_url and self.provider != "openai":
            raise ValueError("client: openai needs base_url (the server's /v1 URL)")
        return self

    @property
    def resolved_client(self) -> Literal["openai", "litellm"]:
        """The client `auto` stands for: built-in HTTP where the server speaks OpenAI's protocol."""
        if self.client != "auto":
            return self.client
        if self.provider == "openai" or (self.provider in OPENAI_COMPATIBLE and self.base_url):
            return "openai"
        return "litellm"

    @property
    def self_hosted(self) -> bool:
        """True when the server accepts `ignore_eos` (vLLM, llama.cpp, SGLang, ...)."""
        return self.provider in SELF_HOSTED

    @property
    def http_base_url(self) -> str:
        """The /v1 URL the built-in client talks to."""
        return self.base_url or OPENAI_DEFAULT_BASE_URL

    @property
    def metrics_endpoint(self) -> str | None:
        """Where the server publishes its Prometheus metrics: metrics_url, else base_url's
        origin + /metrics; None with `metrics: off` or without a base_url (a hosted API)."""
        if not self.metrics:
            return None
        if self.metrics_url:
            return self.metrics_url
        if not self.base_url:
            return None
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}/metrics"

    @property
    def litellm_model(self) -> str:
        """The `model` argument for litellm: provider-prefixed, azure by deployment."""
        return f"{self.provider}/{self.deployment or self.model}"

    @property
    def litellm_endpoint(self) -> dict[str, str]:
        """base_url as the litellm parameter the provider reads. SageMaker ignores `api_base` and
        takes the full streaming URL as `sagemaker_base_url`; a base_url that is the runtime's root
        (like boto3's endpoint_url) gets the endpoint's path appended."""
        if not self.base_url:
            return {}
        if self.provider in SAGEMAKER:
            url = self.base_url
            if not url.endswith("/invocations-response-stream"):
                url = f"{url}/endpoints/{self.model}/invocations-response-stream"
            return {"sagemaker_base_url": url}
        return {"api_base": self.base_url}

    @property
    def uses_aws_credentials(self) -> bool:
        """litellm signs the requests with AWS credentials (Bedrock, SageMaker), not an API key."""
        return self.provider in AWS_SIGNED

    @property
    def slug(self) -> str:
        """A file-name-safe short name for results folders."""
        return slugify(self.name or self.model.rsplit("/", 1)[-1])



def slugify(text: str) -> str:
    """Lower-case letters, digits, dots and dashes only."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.").lower()
    return slug or "run"


def _port_text(netloc: str) -> str | None:
    """The port as written in a URL's netloc (after any user:password@), or None."""
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):                       # [::1]:8000
        _, _, rest = host.partition("]")
        return rest[1:] if rest.startswith(":") else None
    return host.rsplit(":", 1)[1] if ":" in host else None

