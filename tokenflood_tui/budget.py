"""What a run will cost, and the limits no confirmation overrides (docs/architecture.md#budget-and-limits)."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .prompts import WARMUP_MAX_TOKENS
from .errors import BudgetRefused, ConfigError
from .schedule import PhasePlan
from .specs import EndpointSpec, RunSuite

MAX_INPUT_VAR = "TOKENFLOOD_MAX_INPUT_TOKENS"
MAX_OUTPUT_VAR = "TOKENFLOOD_MAX_OUTPUT_TOKENS"
DEFAULT_MAX_INPUT = 1_000_000
DEFAULT_MAX_OUTPUT = 10_000
WARMUP_PROMPT_TOKENS = 50     # a warm-up request is a short sentence plus the chat template


@dataclass(frozen=True, slots=True)
class Price:
    input_per_token: float
    output_per_token: float
    source: str                # the price-map key that matched


@dataclass(frozen=True, slots=True)
class BudgetEstimate:
    requests: int              # load requests, all phases
    setup_requests: int        # warm-up and calibration
    input_tokens: int
    output_tokens: int
    load_seconds: float        # scheduled load; in-flight requests drain after each phase
    cost_usd: float | None
    cost_note: str
    max_input_tokens: int
    max_output_tokens: int

    @property
    def over_limits(self) -> list[str]:
        """One message per exceeded limit, naming the variable to raise."""
        out = []
        if self.input_tokens > self.max_input_tokens:
            out.append(f"estimated input tokens {self.input_tokens:,} exceed {MAX_INPUT_VAR}="
                       f"{self.max_input_tokens:,}; raise {MAX_INPUT_VAR} to run this suite")
        if self.output_tokens > self.max_output_tokens:
            out.append(f"estimated output tokens {self.output_tokens:,} exceed {MAX_OUTPUT_VAR}="
                       f"{self.max_output_tokens:,}; raise {MAX_OUTPUT_VAR} to run this suite")
        return out

    def lines(self, compact: bool = False) -> list[str]:
        """The estimate as a person reads it; `compact` fits a side panel of ~50 columns."""
        cost = f"${self.cost_usd:,.4f}" if self.cost_usd is not None else "unknown"
        if compact:
            return [
                f"requests       {self.requests:,} (+{self.setup_requests} warm-up, calibration)",
                f"input tokens   {self.input_tokens:,} of {self.max_input_tokens:,} allowed",
                f"output tokens  {self.output_tokens:,} of {self.max_output_tokens:,} allowed",
                f"duration       {format_duration(self.load_seconds)} + warm-up, drain",
                f"cost           {cost} ({self.cost_note})",
            ]
        return [
            f"requests       {self.requests:,} (+{self.setup_requests} warm-up and calibration)",
            f"input tokens   {self.input_tokens:,}   (limit {self.max_input_tokens:,}, {MAX_INPUT_VAR})",
            f"output tokens  {self.output_tokens:,}   (limit {self.max_output_tokens:,}, {MAX_OUTPUT_VAR})",
            f"duration       {format_duration(self.load_seconds)} of load, plus warm-up and draining",
            f"cost           {cost}   ({self.cost_note})",
        ]


def estimate(suite: RunSuite, endpoint: EndpointSpec, plans: list[PhasePlan],
             senders: int = 1) -> BudgetEstimate:
    """Exact request and token counts from the seeded plan; cost from litellm's local price map."""
    prompt = [lt.prompt_length for lt in suite.load_types]
    output = [lt.output_length for lt in suite.load_types]
    requests = sum(p.requests for p in plans)
    input_tokens = sum(int(sum(prompt[k] for k in p.load_types.tolist())) for p in plans)
    output_tokens = sum(int(sum(output[k] for k in p.load_types.tolist())) for p in plans)
    # warm-up requests, plus one per sender to open its connections before it is measured
    warmups = max(1, suite.warmup_requests) + senders
    probes = 2 * len(suite.load_types)     # at most two calibration requests per load type
    input_tokens += warmups * WARMUP_PROMPT_TOKENS + 2 * sum(prompt)
    output_tokens += warmups * WARMUP_MAX_TOKENS + probes
    price = lookup_price(endpoint)
    if price is None:
        cost, note = None, ("self-hosted: no per-token price" if endpoint.self_hosted else
                            f"litellm's price map has no entry for {endpoint.litellm_model}")
    else:
        cost = input_tokens * price.input_per_token + output_tokens * price.output_per_token
        note = (f"{price.source}: ${price.input_per_token * 1e6:g} in / "
                f"${price.output_per_token * 1e6:g} out per 1M tokens, cache discounts ignored")
    return BudgetEstimate(requests, warmups + probes, input_tokens, output_tokens,
                          suite.test_length_in_seconds * len(plans), cost, note,
                          read_limit(MAX_INPUT_VAR, DEFAULT_MAX_INPUT),
                          read_limit(MAX_OUTPUT_VAR, DEFAULT_MAX_OUTPUT))


def enforce_limits(est: BudgetEstimate) -> None:
    """Refuse a run over a limit, whatever the confirmation says."""
    problems = est.over_limits
    if problems:
        raise BudgetRefused("the run was not started: " + "; ".join(problems))


def read_limit(var: str, default: int) -> int:
    raw = os.environ.get(var)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(float(raw.replace("_", "").replace(",", "")))
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a number of tokens (e.g. {var}=2000000)") from None
    if value < 0:
        raise ConfigError(f"{var}={raw!r} must not be negative")
    return value


def lookup_price(endpoint: EndpointSpec) -> Price | None:
    """Per-token prices from litellm's bundled price map, read as JSON (no import, no network)."""
    if endpoint.self_hosted:
        return None
    prices = _price_map()
    model = endpoint.deployment if endpoint.provider == "azure" and endpoint.deployment else endpoint.model
    candidates = [f"{endpoint.provider}/{model}", model, model.split("/", 1)[-1]]
    found = [(key, prices[key]) for key in dict.fromkeys(candidates) if key in prices]
    for key, entry in sorted(found, key=lambda kv: not str(kv[1].get("litellm_provider", ""))
                             .startswith(endpoint.provider)):
        inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(inp, (int, float)) and isinstance(out, (int, float)):
            return Price(float(inp), float(out), key)
    return None


@lru_cache(maxsize=1)
def _price_map() -> dict:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(spec.submodule_search_locations[0]) / "model_prices_and_context_window_backup.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def format_duration(seconds: float) -> str:
    """'45 s', '3 min 05 s', '2 h 10 min'."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
