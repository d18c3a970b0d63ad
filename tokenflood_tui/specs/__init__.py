"""The two config files — endpoint spec and run suite — with errors that name file, key path and line."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic import AfterValidator, model_validator

from ..errors import ConfigError
from .providers import (AWS_SIGNED, LITELLM_PROVIDERS, OPENAI_COMPATIBLE, OPENAI_DEFAULT_BASE_URL,
                        SAGEMAKER, SELF_HOSTED)
from .secrets import is_secret_name, redact_data, redact_url, ref_syntax_error, strings_in
from ..metrics.thresholds import Threshold, parse_threshold

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

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

MAX_SEED = 2**32 - 1                 # numpy and the simulator take seeds in [0, 2**32)
MAX_REQUESTS_PER_RUN = 10_000_000    # the plan holds every arrival in memory (16 bytes each)
MAX_YAML_DEPTH = 64                  # nested mappings and lists; specs need four or five


class KeyedError(ValueError):
    """A validation error about a key other than the one the validator is attached to.

    Cross-field checks run where pydantic reports the whole model (or the whole dict); this
    carries the key path the user should look at, so the message gets that key's line.
    """

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


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
    extra_headers: dict[str, Annotated[str, _ENV_REFS]] = Field(default_factory=dict)
    name: str | None = None
    api_version: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    litellm_params: dict[str, Annotated[Any, _ENV_REFS]] = Field(default_factory=dict)
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

    @field_validator("extra_headers")
    @classmethod
    def _sendable_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        # A header that cannot go on the wire is a config error found at load, not when the
        # client is built after the results folder exists. The value is never echoed: it may
        # be a key.
        for name, value in headers.items():
            if not _HEADER_NAME.match(name) or not _HEADER_VALUE.match(value):
                raise KeyedError(("extra_headers", name), (
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


SLO_METRICS = ("ttft_ms", "tpot_ms", "e2e_ms")


class Slo(_Strict):
    """Service-level objectives. Each bound is a number (per request: a request meeting every
    one counts towards goodput, and a phase meets the SLO when its goodput reaches
    `goodput_min`) or a mapping from percentiles to bounds (`{p99: 500}`: the phase's p99 must be
    at most 500 ms; for goodput, each request is held to the tightest of them)."""

    ttft_ms: float | dict[str, float] | None = None
    tpot_ms: float | dict[str, float] | None = None
    e2e_ms: float | dict[str, float] | None = None
    goodput_min: float = Field(0.95, gt=0, le=1, allow_inf_nan=False)

    @field_validator("ttft_ms", "tpot_ms", "e2e_ms")
    @classmethod
    def _bounds(cls, bound: float | dict[str, float] | None) -> float | dict[str, float] | None:
        values = bound.values() if isinstance(bound, dict) else [] if bound is None else [bound]
        for value in values:
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"{value} ms: a bound must be a number > 0")
        if isinstance(bound, dict):
            if not bound:
                raise ValueError("give at least one percentile, e.g. {p99: 500}")
            for key in bound:
                p = _percentile_key(key)
                if p is None:
                    raise ValueError(f"{key!r} is not a percentile: use p50, p90, p99, p99.9 …")
        return bound

    def request_bound(self, metric: str) -> float | None:
        """The per-request bound of `metric` that goodput uses."""
        bound = getattr(self, metric)
        return min(bound.values()) if isinstance(bound, dict) else bound

    def percentile_bounds(self) -> list[tuple[str, float, float]]:
        """(metric, percentile, bound) of every bound given as a percentile."""
        return [(metric, p, value) for metric in SLO_METRICS
                if isinstance(bound := getattr(self, metric), dict)
                for key, value in bound.items() if (p := _percentile_key(key)) is not None]

    @property
    def by_goodput(self) -> bool:
        """True when any bound is per request (a number): the phase is judged by goodput."""
        return any(isinstance(getattr(self, m), (int, float)) for m in SLO_METRICS)

    def text(self) -> str:
        """'TTFT p99 ≤ 500 ms, e2e ≤ 2000 ms per request for 95% of requests'"""
        parts = []
        for metric in SLO_METRICS:
            bound = getattr(self, metric)
            name = metric.removesuffix("_ms").upper().replace("E2E", "e2e")
            if isinstance(bound, dict):
                parts += [f"{name} {key} ≤ {value:g} ms" for key, value in bound.items()]
            elif bound is not None:
                parts.append(f"{name} ≤ {bound:g} ms")
        text = ", ".join(parts)
        if self.by_goodput:
            text += f" (per request, for {self.goodput_min:.0%} of requests)"
        return text


def _percentile_key(key: str) -> float | None:
    """'p99' → 99.0; None unless it is p<number> strictly between 0 and 100."""
    if not isinstance(key, str) or not key.startswith("p"):
        return None
    try:
        p = float(key[1:])
    except ValueError:
        return None
    return p if 0 < p < 100 else None


class _Suite(_Strict):
    """What both kinds of run suite (`run.yml`) have: the requests' shapes and how to send them."""

    name: str
    load_types: list[LoadType] = Field(min_length=1)
    percentiles: list[float] = Field(default_factory=lambda: [50.0, 90.0, 99.0], min_length=1)
    seed: int = 0                    # 0 <= seed <= MAX_SEED
    max_concurrency: int | None = Field(None, gt=0)
    warmup_requests: int = Field(2, ge=0)
    request_timeout_seconds: float = Field(120.0, gt=0, allow_inf_nan=False)
    slo: Slo | None = None
    # False: every run draws fresh prompt text (same lengths), so no rerun hits a server's
    # prefix cache with the previous run's prompts; True: replay the seed's exact prompts.
    reuse_prompts: bool = False
    # pass/fail conditions per phase or poll (thresholds.py); a failed one makes the run exit 4
    thresholds: list[str] = Field(default_factory=list)

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, seed: int) -> int:
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed is {seed}: a seed is a whole number between 0 and {MAX_SEED}")
        return seed

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
    def _plan_fits_in_memory(self) -> _Suite:
        # Checked before anything is planned: the schedule holds every arrival in memory.
        expected = self.expected_requests
        if expected > MAX_REQUESTS_PER_RUN:
            raise KeyedError(self._count_keys[:1], (
                f"{' × '.join(self._count_keys)} would schedule about {expected:,.0f} requests; "
                f"tokenflood plans at most {MAX_REQUESTS_PER_RUN:,} per run: lower them, "
                "or split the run"))
        return self

    _count_keys: ClassVar[tuple[str, ...]] = ()

    # -- thresholds (docs/config.md#thresholds) -----------------------------------------------

    @field_validator("thresholds")
    @classmethod
    def _thresholds_parse(cls, thresholds: list[str]) -> list[str]:
        for i, text in enumerate(thresholds):
            try:
                parse_threshold(text)
            except ValueError as exc:
                raise KeyedError(("thresholds", i), str(exc)) from None
        return thresholds

    @model_validator(mode="after")
    def _goodput_needs_slo(self) -> _Suite:
        for i, t in enumerate(self.threshold_checks):
            if t.metric == "goodput" and self.slo is None:
                raise KeyedError(("thresholds", i), (
                    f"{t.text!r}: goodput is the share of requests within the slo, and this "
                    "suite has no slo: add one (e.g. slo: {ttft_ms: 500}) or drop the threshold"))
        return self

    @property
    def threshold_checks(self) -> list[Threshold]:
        """The thresholds, parsed (each phase's accumulator checks them)."""
        return [parse_threshold(text) for text in self.thresholds]

    @property
    def expected_requests(self) -> float:
        raise NotImplementedError

    @property
    def peak_rps(self) -> float:
        """The highest rate the run sends at (it sizes the sender processes)."""
        raise NotImplementedError


class LoadTestSuite(_Suite):
    """A load test: one phase per rate, each `test_length_in_seconds` long."""

    type: Literal["load_test"] = "load_test"
    requests_per_second_rates: list[float] = Field(min_length=1)
    test_length_in_seconds: float = Field(gt=0, allow_inf_nan=False)
    arrival: Literal["poisson", "constant"] = "poisson"
    error_limit: float = Field(0.3, gt=0, le=1, allow_inf_nan=False)

    _count_keys = ("requests_per_second_rates", "test_length_in_seconds")

    @field_validator("requests_per_second_rates")
    @classmethod
    def _positive_rates(cls, rates: list[float]) -> list[float]:
        for i, rate in enumerate(rates):
            if not rate > 0 or not math.isfinite(rate):
                raise ValueError(f"rate {i + 1} is {rate}: every rate must be a number > 0 (req/s)")
        return rates

    @model_validator(mode="after")
    def _every_phase_sends(self) -> LoadTestSuite:
        for i, rate in enumerate(self.requests_per_second_rates):
            if rate * self.test_length_in_seconds < 1:
                raise KeyedError(("requests_per_second_rates", i), (
                    f"phase {i + 1} ({rate} req/s for {self.test_length_in_seconds} s) would send "
                    "no request: raise the rate or test_length_in_seconds"))
        return self

    @property
    def expected_requests(self) -> float:
        """The mean request count of the run: exact for constant arrivals, poisson's mean."""
        return sum(rate * self.test_length_in_seconds for rate in self.requests_per_second_rates)

    @property
    def load_seconds(self) -> float:
        return self.test_length_in_seconds * len(self.requests_per_second_rates)

    @property
    def peak_rps(self) -> float:
        return max(self.requests_per_second_rates)


class ObservationSuite(_Suite):
    """An observation: light polls on the wall clock for hours or days.

    Poll k starts at `start + k × interval`; `start` is the next whole multiple of the interval
    in UTC unless `align` is false. A poll sends `num_requests` spread evenly over
    `within_seconds`.
    """

    type: Literal["observation"]
    duration_hours: float = Field(gt=0, allow_inf_nan=False)
    polling_interval_minutes: float = Field(gt=0, allow_inf_nan=False)
    num_requests: int = Field(gt=0)
    within_seconds: float = Field(gt=0, allow_inf_nan=False)
    align: bool = True
    # An observation watches through outages: a poll that fails is recorded and the next one
    # goes ahead, unless error_limit is set (then it applies as in a load test).
    error_limit: float | None = Field(None, gt=0, le=1, allow_inf_nan=False)

    _count_keys = ("duration_hours", "polling_interval_minutes", "num_requests")

    @model_validator(mode="before")
    @classmethod
    def _one_load_type(cls, data: Any) -> Any:
        # The original tokenflood's observation files give a single `load_type`.
        if isinstance(data, dict) and "load_type" in data:
            if "load_types" in data:
                raise ValueError("give either load_type or load_types, not both")
            data = {**data, "load_types": [data["load_type"]]}
            del data["load_type"]
        return data

    @model_validator(mode="after")
    def _polls_fit(self) -> ObservationSuite:
        if self.within_seconds > self.interval_s:
            raise KeyedError(("within_seconds",), (
                f"within_seconds ({self.within_seconds:g}) is longer than the polling interval "
                f"({self.interval_s:g} s): a poll must fit before the next one starts"))
        if self.polls < 1:
            raise KeyedError(("duration_hours",), (
                f"duration_hours ({self.duration_hours:g}) is shorter than one polling interval "
                f"({self.polling_interval_minutes:g} min): no poll would run"))
        return self

    @property
    def interval_s(self) -> float:
        return self.polling_interval_minutes * 60.0

    @property
    def polls(self) -> int:
        """Polls in the whole duration (slots 0 .. polls-1)."""
        return int(self.duration_hours * 3600.0 / self.interval_s + 1e-9)

    @property
    def expected_requests(self) -> float:
        return float(self.polls * self.num_requests)

    @property
    def peak_rps(self) -> float:
        return self.num_requests / self.within_seconds


class SearchSuite(_Suite):
    """A capacity search: the highest rate that meets `slo`. Ramps from `start_rps` by
    `growth` per phase until the SLO breaks or the server saturates, then bisects until the
    interval is narrower than `tolerance` (relative), within `max_rps` and `max_phases`."""

    type: Literal["search"]
    slo: Slo                               # required here
    start_rps: float = Field(gt=0, allow_inf_nan=False)
    max_rps: float = Field(gt=0, allow_inf_nan=False)
    phase_seconds: float = Field(gt=0, allow_inf_nan=False)
    tolerance: float = Field(0.1, gt=0, lt=1, allow_inf_nan=False)
    max_phases: int = Field(12, ge=2, le=100)
    growth: float = Field(2.0, gt=1, le=10, allow_inf_nan=False)
    arrival: Literal["poisson", "constant"] = "poisson"
    error_limit: float = Field(0.3, gt=0, le=1, allow_inf_nan=False)
    # what the server costs to run (a GPU machine), for the cost per million tokens at the answer
    cost_per_hour_usd: float | None = Field(None, gt=0, allow_inf_nan=False)

    _count_keys = ("max_rps", "phase_seconds", "max_phases")

    @model_validator(mode="after")
    def _search_range(self) -> SearchSuite:
        if self.max_rps < self.start_rps:
            raise KeyedError(("max_rps",), (
                f"max_rps ({self.max_rps:g}) is below start_rps ({self.start_rps:g}): the search "
                "goes up from start_rps to at most max_rps"))
        if self.start_rps * self.phase_seconds < 1:
            raise KeyedError(("start_rps",), (
                f"{self.start_rps:g} req/s for {self.phase_seconds:g} s would send no request: "
                "raise start_rps or phase_seconds"))
        if not self.slo.ttft_ms and not self.slo.tpot_ms and not self.slo.e2e_ms:
            raise KeyedError(("slo",), "give at least one of ttft_ms, tpot_ms, e2e_ms: the "
                                       "search finds the highest rate that meets them")
        return self

    @model_validator(mode="after")
    def _slo_percentiles_measured(self) -> SearchSuite:
        # every percentile the SLO names is one the phases report
        wanted = {p for _, p, _ in self.slo.percentile_bounds()}
        if not wanted <= set(self.percentiles):
            self.percentiles = sorted(set(self.percentiles) | wanted)
        return self

    @property
    def test_length_in_seconds(self) -> float:
        """A phase's length (the name load tests use)."""
        return self.phase_seconds

    @property
    def expected_requests(self) -> float:
        """The most the search can send: every phase at max_rps."""
        return self.max_rps * self.phase_seconds * self.max_phases

    @property
    def peak_rps(self) -> float:
        return self.max_rps


RunSuite = LoadTestSuite | ObservationSuite | SearchSuite   # what a run.yml holds, by its `type`
SUITE_KINDS: dict[str, type[LoadTestSuite] | type[ObservationSuite] | type[SearchSuite]] = {
    "load_test": LoadTestSuite, "observation": ObservationSuite, "search": SearchSuite}


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
    """Read and validate a run suite of either type; ConfigError says file, key path and line."""
    data, lines = _read_yaml(Path(path))
    return _validate(data, lines, str(path), suite_model(data, lines, str(path)))


def suite_model(data: Any, lines: dict[tuple, int],
                source: str) -> type[LoadTestSuite] | type[ObservationSuite] | type[SearchSuite]:
    """The run-suite class a file's `type` names (load_test when it names none)."""
    kind = data.get("type", "load_test") if isinstance(data, dict) else "load_test"
    if kind not in SUITE_KINDS:
        line = lines.get(("type",))
        raise ConfigError(f"{source}:{line}: type: {kind!r} is not a kind of run suite; use "
                          "load_test (phases at fixed rates), observation (polls on the wall "
                          "clock) or search (the highest rate that meets an slo)" if line
                          else f"{source}: type: {kind!r} is not a kind of run suite")
    return SUITE_KINDS[kind]


def detect_kind(path: str | Path) -> Literal["endpoint", "run"]:
    """Which spec a file holds, judged by its keys."""
    data, _ = _read_yaml(Path(path))
    if isinstance(data, dict):
        if "provider" in data or "model" in data:
            return "endpoint"
        if any(k in data for k in ("load_types", "load_type", "requests_per_second_rates")):
            return "run"
    raise ConfigError(f"{path}: neither an endpoint spec (has 'provider') nor a run suite "
                      "(has 'load_types')")


def parse_endpoint(text: str, source: str = "<endpoint>") -> EndpointSpec:
    """Validate endpoint YAML given as text (editors, tests)."""
    return _validate(*_parse_yaml(text, source), source, EndpointSpec)


def parse_run_suite(text: str, source: str = "<run suite>") -> RunSuite:
    """Validate run-suite YAML given as text (editors, tests)."""
    data, lines = _parse_yaml(text, source)
    return _validate(data, lines, source, suite_model(data, lines, source))


def to_yaml(spec: BaseModel, *, redact: bool = False) -> str:
    """YAML with every field (defaults filled in) that loads back equal."""
    data = spec.model_dump(mode="json")
    if redact:
        data = redact_data(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


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


class _Refused(yaml.YAMLError):
    """A YAML construct spec files do not accept (aliases, deep nesting), with where it is."""

    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.mark = mark
        self.message = message


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and nesting past MAX_YAML_DEPTH while composing.

    Aliases are refused outright rather than counted: a spec file has no need for them, and a
    handful of nested aliases expands to billions of values ("billion laughs"). The depth check
    runs before the recursive composer and constructor could hit Python's recursion limit.
    """

    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(event.start_mark, (
                f"alias *{event.anchor}: YAML aliases (&name / *name) are not allowed in spec "
                "files; write the value out in full"))
        nests = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if nests:
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(self.peek_event().start_mark, (
                    f"nested more than {MAX_YAML_DEPTH} levels deep: spec files need a few "
                    "levels; flatten it"))
        try:
            return super().compose_node(parent, index)
        finally:
            if nests:
                self._depth -= 1


# YAML 1.1 (PyYAML) reads 1e9 and 1.0e10 as strings; YAML 1.2 and every user read them as numbers.
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"), list("-+0123456789."))


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    loader = None
    try:
        loader = _SpecLoader(text)   # raises on characters YAML forbids (NUL, ...)
        node = loader.get_single_node()
        lines: dict[tuple, int] = {}
        if node is not None:
            _index_lines(node, (), lines, source)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise ConfigError(f"{source}:{exc.mark.line + 1}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{where}: YAML syntax error: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _index_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int], source: str) -> None:
    """Record the line of every key path; refuse a key given twice in one mapping."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            key = getattr(key_node, "value", None)
            line = key_node.start_mark.line + 1
            if isinstance(key_node, yaml.ScalarNode):
                first = seen.get((key_node.tag, key_node.value))
                if first is not None:
                    raise ConfigError(
                        f"{source}:{line}: key {_dotted(path + (key,))!r} appears twice (lines "
                        f"{first} and {line}): keep one; YAML would silently use the last")
                seen[(key_node.tag, key_node.value)] = line
            lines[path + (key,)] = line
            _index_lines(value_node, path + (key,), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines, source)


def _port_text(netloc: str) -> str | None:
    """The port as written in a URL's netloc (after any user:password@), or None."""
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):                       # [::1]:8000
        _, _, rest = host.partition("]")
        return rest[1:] if rest.startswith(":") else None
    return host.rsplit(":", 1)[1] if ":" in host else None


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
        # redact_url: a message may quote a base_url, whose password must not reach the terminal
        raise ConfigError(redact_url("\n".join(_describe(err, lines, source, model)
                                                for err in exc.errors()))) from None


def describe_error(err: ErrorDetails, model: type[BaseModel]) -> str:
    """One pydantic error (from ValidationError.errors()) worded as file loading words it."""
    return redact_url(_describe(err, {}, "", model).removeprefix(": "))


def _describe(err: ErrorDetails, lines: dict[tuple, int], source: str, model: type[BaseModel]) -> str:
    keyed = (err.get("ctx") or {}).get("error")
    loc = keyed.loc if isinstance(keyed, KeyedError) else tuple(err["loc"])
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
        if any(isinstance(p, str) and is_secret_name(p) for p in loc):
            return f"{where}: {key}: {msg}"          # the value may be a secret: not echoed
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
