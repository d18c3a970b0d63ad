"""The two config files — endpoint spec and run suite — with errors that name file, key path and line."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic import model_validator

from .errors import ConfigError
from .providers import (AWS_SIGNED, LITELLM_PROVIDERS, OPENAI_COMPATIBLE, OPENAI_DEFAULT_BASE_URL,
                        SAGEMAKER, SELF_HOSTED)

_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"authorization|api[-_]?key|token|secret|cookie|password|credential", re.I)
REDACTED = "***redacted***"


class _Strict(BaseModel):
    # Strict: a misspelled key is an error, and `true` is not silently the number 1.
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class EndpointSpec(_Strict):
    """Where and how to send requests (`endpoint.yml`)."""

    provider: str
    model: str
    base_url: str | None = Field(None, validation_alias=AliasChoices("base_url", "api_base"))
    api_key_env_var: str | None = None
    deployment: str | None = None
    extra_headers: dict[str, str] = Field(default_factory=dict)
    name: str | None = None
    api_version: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    litellm_params: dict[str, Any] = Field(default_factory=dict)
    client: Literal["auto", "openai", "litellm"] = "auto"

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
        if url is None:
            return None
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"base_url must be an http:// or https:// URL, got {url!r}")
        return url.rstrip("/")

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


class LoadType(_Strict):
    """One kind of request, sampled by weight."""

    prompt_length: int = Field(gt=0)
    prefix_length: int = Field(0, ge=0)
    output_length: int = Field(gt=0)
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _prefix_inside_prompt(self) -> LoadType:
        if self.prefix_length >= self.prompt_length:
            raise ValueError(f"prefix_length ({self.prefix_length}) must be smaller than "
                             f"prompt_length ({self.prompt_length})")
        return self


class Slo(_Strict):
    """Service-level objectives; a request meeting all that are set counts towards goodput."""

    ttft_ms: float | None = Field(None, gt=0, allow_inf_nan=False)
    tpot_ms: float | None = Field(None, gt=0, allow_inf_nan=False)
    e2e_ms: float | None = Field(None, gt=0, allow_inf_nan=False)


class RunSuite(_Strict):
    """What load to send (`run.yml`)."""

    name: str
    requests_per_second_rates: list[float] = Field(min_length=1)
    test_length_in_seconds: float = Field(gt=0, allow_inf_nan=False)
    load_types: list[LoadType] = Field(min_length=1)
    percentiles: list[float] = Field(default_factory=lambda: [50.0, 90.0, 99.0], min_length=1)
    arrival: Literal["poisson", "constant"] = "poisson"
    seed: int = 0
    max_concurrency: int | None = Field(None, gt=0)
    warmup_requests: int = Field(2, ge=0)
    request_timeout_seconds: float = Field(120.0, gt=0, allow_inf_nan=False)
    error_limit: float = Field(0.3, gt=0, le=1, allow_inf_nan=False)
    slo: Slo | None = None

    @field_validator("requests_per_second_rates")
    @classmethod
    def _positive_rates(cls, rates: list[float]) -> list[float]:
        for i, rate in enumerate(rates):
            if not rate > 0 or not math.isfinite(rate):
                raise ValueError(f"rate {i + 1} is {rate}: every rate must be a number > 0 (req/s)")
        return rates

    @field_validator("percentiles")
    @classmethod
    def _percentiles_in_range(cls, percentiles: list[float]) -> list[float]:
        for p in percentiles:
            if not 0 < p < 100:
                raise ValueError(f"percentile {p} is outside (0, 100)")
        return sorted(set(percentiles))

    @field_validator("name")
    @classmethod
    def _name_not_empty(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("name must not be empty")
        return name

    @model_validator(mode="after")
    def _every_phase_sends(self) -> RunSuite:
        for i, rate in enumerate(self.requests_per_second_rates):
            if rate * self.test_length_in_seconds < 1:
                raise ValueError(
                    f"phase {i + 1} ({rate} req/s for {self.test_length_in_seconds} s) would send "
                    "no request: raise the rate or test_length_in_seconds")
        return self


def slugify(text: str) -> str:
    """Lower-case letters, digits, dots and dashes only."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.").lower()
    return slug or "run"


# ---------------------------------------------------------------------------------------------
# YAML in and out


def load_endpoint(path: str | Path) -> EndpointSpec:
    """Read and validate an endpoint spec; ConfigError says file, key path and line."""
    return _load(Path(path), EndpointSpec)


def load_run_suite(path: str | Path) -> RunSuite:
    """Read and validate a run suite; ConfigError says file, key path and line."""
    return _load(Path(path), RunSuite)


def detect_kind(path: str | Path) -> Literal["endpoint", "run"]:
    """Which spec a file holds, judged by its keys."""
    data, _ = _read_yaml(Path(path))
    if isinstance(data, dict):
        if "provider" in data or "model" in data:
            return "endpoint"
        if "load_types" in data or "requests_per_second_rates" in data:
            return "run"
    raise ConfigError(f"{path}: neither an endpoint spec (has 'provider') nor a run suite "
                      "(has 'load_types')")


def parse_endpoint(text: str, source: str = "<endpoint>") -> EndpointSpec:
    """Validate endpoint YAML given as text (editors, tests)."""
    return _validate(*_parse_yaml(text, source), source, EndpointSpec)


def parse_run_suite(text: str, source: str = "<run suite>") -> RunSuite:
    """Validate run-suite YAML given as text (editors, tests)."""
    return _validate(*_parse_yaml(text, source), source, RunSuite)


def to_yaml(spec: BaseModel, *, redact: bool = False) -> str:
    """YAML with every field (defaults filled in) that loads back equal."""
    data = spec.model_dump(mode="json")
    if redact:
        data = redact_secrets(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def redact_secrets(data: Any) -> Any:
    """Replace values under keys that look like secrets (authorization, api-key, token, ...)."""
    if isinstance(data, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_NAME.search(k) and v is not None
                    and not (k == "api_key_env_var") else redact_secrets(v))
                for k, v in data.items()}
    if isinstance(data, list):
        return [redact_secrets(v) for v in data]
    return data


def _load(path: Path, model: type[BaseModel]) -> Any:
    data, lines = _read_yaml(path)
    return _validate(data, lines, str(path), model)


def _read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    loader = None
    try:
        loader = yaml.SafeLoader(text)   # raises on characters YAML forbids (NUL, ...)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{where}: YAML syntax error: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = getattr(key_node, "value", None)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines)


def _validate(data: Any, lines: dict[tuple, int], source: str, model: type[BaseModel]) -> Any:
    what = "endpoint spec" if model is EndpointSpec else "run suite"
    if data is None:
        raise ConfigError(f"{source}: the file is empty; expected a {what}")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:{lines.get((), 1)}: expected a mapping of keys ({what}), "
                          f"got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(err, lines, source, model) for err in exc.errors())) \
            from None


def describe_error(err: dict, model: type[BaseModel]) -> str:
    """One pydantic error (from ValidationError.errors()) worded as file loading words it."""
    return _describe(err, {}, "", model).removeprefix(": ")


def is_secret_name(name: str) -> bool:
    """Whether a header or parameter name suggests its value is a secret."""
    return bool(_SECRET_NAME.search(name))


def _describe(err: dict, lines: dict[tuple, int], source: str, model: type[BaseModel]) -> str:
    loc = tuple(err["loc"])
    # pydantic appends the union member name for tagged unions/literals; keep the data path only.
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
    line = _line_for(loc, lines)
    where = f"{source}:{line}" if line else source
    key = _dotted(loc) or "(top level)"
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else (
            f" (allowed: {', '.join(known)})" if known else "")
        return f"{where}: unknown key {key!r}{hint}"
    if kind == "missing":
        return f"{where}: missing required key {key!r}"
    if kind in ("int_type", "float_type", "string_type", "bool_type", "list_type", "dict_type"):
        got = err.get("input")
        return f"{where}: {key}: {msg} (got {got!r})"
    return f"{where}: {key}: {msg}"


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the keys at `loc` (to suggest spellings)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
