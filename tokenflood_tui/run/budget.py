"""What a run will cost, and the limits no confirmation overrides (docs/architecture.md#budget-and-limits)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, UTC
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .prompts import WARMUP_MAX_TOKENS
from ..errors import BudgetRefused, ConfigError
from ..outputs.formats import duration
from ..outputs.state import SeenLimits
from .events import Unit
from .limits import MinuteDemand, plan_demand, plan_warnings
from .schedule import PhasePlan, phase_arrivals
from .sessions import least_tokens_per_session, most_tokens_per_session, phase_tokens
from ..specs import EndpointSpec, LoadTestSuite, ObservationSuite, RunSuite, SearchSuite

if TYPE_CHECKING:
    from .plan import Planner

MAX_INPUT_VAR = "TOKENFLOOD_MAX_INPUT_TOKENS"
MAX_OUTPUT_VAR = "TOKENFLOOD_MAX_OUTPUT_TOKENS"
DEFAULT_MAX_INPUT = 1_000_000
DEFAULT_MAX_OUTPUT = 10_000
WARMUP_PROMPT_TOKENS = 50     # a warm-up request is a short sentence plus the chat template
SESSION_PROBE_PROMPT_TOKENS = 200   # four 8-token messages, a tool declared, the template


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
    # True when the counts are lower bounds from the rates alone (no plan was built, because the
    # run is over a limit whatever the plan would draw); False when they are the plan's own.
    at_least: bool = False
    ends_utc: float | None = None   # when the last poll of an observation is due to end
    # True when the counts are upper bounds (a search decides its phases as it goes)
    at_most: bool = False
    expected_seconds: float | None = None   # a search's likely load time (the bound is the most)
    # sessions: what every amount at its maximum would send (the counts above are the drawn
    # plan's, which the run cannot exceed but for the chat template's margin)
    ceiling_tokens: tuple[int, int] | None = None
    # a hosted provider's endpoint (or one seen to announce limits): each phase's busiest
    # minute, or the polls' (run/limits.py), to hold against the account's rate limits …
    minutes: tuple[MinuteDemand, ...] = ()
    unit: Unit = "phase"
    # … the limits the endpoint announced last (a warm-up or an endpoint test; None: none seen
    # yet) and the phases that must exceed one of them. The warm-up reads them again, and its
    # check is the one that counts once the run is confirmed.
    limits_seen: SeenLimits | None = None
    limit_warnings: tuple[str, ...] = ()

    @property
    def over_limits(self) -> list[str]:
        """One message per exceeded limit, naming the variable to raise."""
        out = []
        least = "at least " if self.at_least else ""
        if self.input_tokens > self.max_input_tokens:
            out.append(f"estimated input tokens {least}{self.input_tokens:,} exceed {MAX_INPUT_VAR}="
                       f"{self.max_input_tokens:,}; raise {MAX_INPUT_VAR} to run this suite")
        if self.output_tokens > self.max_output_tokens:
            out.append(f"estimated output tokens {least}{self.output_tokens:,} exceed "
                       f"{MAX_OUTPUT_VAR}={self.max_output_tokens:,}; raise {MAX_OUTPUT_VAR} to "
                       "run this suite")
        if self.at_most:
            out = [m + " (or lower max_rps, phase_seconds or max_phases: this is the most the "
                   "search can send)" for m in out]
        return out

    @property
    def busiest_minute(self) -> MinuteDemand | None:
        """The phase (or polls) sending the most within a minute."""
        return max(self.minutes, key=lambda m: (m.requests, m.tokens), default=None)

    def lines(self, compact: bool = False, warnings: bool = True) -> list[str]:
        """The estimate as a person reads it; `compact` fits a side panel of ~50 columns;
        `warnings`: with the phases that must exceed a rate limit (the budget modal shows them
        on their own, above)."""
        least = "at least " if self.at_least else "at most " if self.at_most else ""
        cost = f"{least}${self.cost_usd:,.4f}" if self.cost_usd is not None else "unknown"
        expected = (f" (about {duration(self.expected_seconds)} expected)"
                    if self.expected_seconds is not None else "")
        if compact:
            return [
                f"requests       {least}{self.requests:,} (+{self.setup_requests} warm-up, calibration)",
                f"input tokens   {least}{self.input_tokens:,} of {self.max_input_tokens:,} allowed",
                f"output tokens  {least}{self.output_tokens:,} of {self.max_output_tokens:,} allowed",
                f"duration       {least}{duration(self.load_seconds)}{expected} + warm-up, "
                "drain",
                *self._ends_lines(compact=True),
                *self._minute_lines(compact=True),
                f"cost           {cost} ({self.cost_note})",
            ]
        return [
            f"requests       {least}{self.requests:,} (+{self.setup_requests} warm-up and calibration)",
            f"input tokens   {least}{self.input_tokens:,}   "
            f"(limit {self.max_input_tokens:,}, {MAX_INPUT_VAR})",
            f"output tokens  {least}{self.output_tokens:,}   "
            f"(limit {self.max_output_tokens:,}, {MAX_OUTPUT_VAR})",
            f"duration       {least}{duration(self.load_seconds)} of load{expected}, plus "
            "warm-up and draining",
            *self._ceiling_lines(),
            *self._ends_lines(compact=False),
            f"cost           {cost}   ({self.cost_note})",
            *self._minute_lines(compact=False),
            *self._limit_lines(),
            *([f"warning        {w}" for w in self.limit_warnings] if warnings else []),
        ]

    def _minute_lines(self, compact: bool) -> list[str]:
        most = self.busiest_minute
        if most is None:
            return []
        if compact:
            return [f"per minute     {most.requests:,} req, {most.tokens:,} tok at most "
                    f"({self._who(most)})"]
        if self.unit == "poll":
            return [f"per minute     at most {most.requests:,} requests, {most.tokens:,} tokens "
                    f"in any poll's busiest minute ({self._who(most)}; prompt + max_tokens, as "
                    "providers count them)"]
        return ["per minute     each phase's busiest minute (prompt + max_tokens, as providers "
                "count them):",
                *(f"  {self._who(m):<13}{m.requests:,} requests, {m.tokens:,} tokens"
                  for m in self.minutes)]

    def _who(self, m: MinuteDemand) -> str:
        if m.first == m.last:
            return f"{self.unit} {m.first}"
        return f"{self.unit}s {m.first}-{m.last}"

    def _limit_lines(self, now: float | None = None) -> list[str]:
        """The limits seen last, and when; or that the warm-up will read them."""
        if not self.minutes:
            return []
        seen = self.limits_seen
        if seen is None:
            return ["rate limits    none seen for this endpoint yet: the warm-up reads them and "
                    "warns before any load is sent"]
        ago = max(0.0, (time.time() if now is None else now) - seen.seen_utc)
        local = datetime.fromtimestamp(seen.seen_utc).astimezone()
        sizes = ", ".join(f"{lim.kind.replace('_', ' ')} {lim.limit:,}" if lim.limit is not None
                          else f"{lim.kind.replace('_', ' ')} {lim.remaining:,} left (no limit "
                          "announced)" for lim in seen.limits)
        return [f"rate limits    seen {local:%Y-%m-%d %H:%M} ({duration(ago)} ago, by {seen.by}): "
                f"{sizes} per minute; the warm-up reads them again before any load"]

    def _ceiling_lines(self) -> list[str]:
        if self.ceiling_tokens is None:
            return []
        prompt, output = self.ceiling_tokens
        return [f"sessions       the drawn plan's tokens; with every length at its max: "
                f"{prompt:,} in, {output:,} out"]

    def _ends_lines(self, compact: bool) -> list[str]:
        if self.ends_utc is None:
            return []
        local = datetime.fromtimestamp(self.ends_utc).astimezone()
        utc = datetime.fromtimestamp(self.ends_utc, UTC)
        when = f"{local:%Y-%m-%d %H:%M} local, {utc:%H:%M} UTC"
        return [f"ends           {when}" if compact else f"ends about     {when}"]


def plan_and_estimate(suite: RunSuite, endpoint: EndpointSpec, make_planner: Callable[[], Planner],
                      senders: int = 1, lower_bound_first: bool = True,
                      seen: SeenLimits | None = None) -> tuple[Planner | None, BudgetEstimate]:
    """The run's planner and the exact estimate of what it has still to send — or, for a run over
    a limit whatever its plan would draw, no planner and an estimate of lower bounds, so a huge
    run is refused without building its plan.

    The suite's own cap (specs.MAX_REQUESTS_PER_RUN) bounds what is built otherwise.
    """
    if isinstance(suite, SearchSuite):
        most = search_estimate(suite, endpoint, senders)
        return (None if most.over_limits else make_planner()), most
    if lower_bound_first:
        least = minimum_estimate(suite, endpoint, senders)
        if least.over_limits:
            return None, least
    planner = make_planner()
    now = time.time()
    ends = planner.ends_utc(now)
    return planner, estimate(suite, endpoint, planner.remaining, senders,
                             load_seconds=None if ends is None else max(0.0, ends - now),
                             ends_utc=ends, seen=seen)


def estimate(suite: RunSuite, endpoint: EndpointSpec, plans: list[PhasePlan], senders: int = 1,
             load_seconds: float | None = None, ends_utc: float | None = None,
             seen: SeenLimits | None = None) -> BudgetEstimate:
    """Exact request and token counts from the seeded plan; cost from litellm's local price map.

    `load_seconds` defaults to the phases' lengths (a load test); an observation passes the wall
    time until its last poll ends. `seen`: the rate limits the endpoint announced last
    (outputs/state.py), held against each phase's busiest minute."""
    seconds = sum(p.length_s for p in plans) if load_seconds is None else load_seconds
    if isinstance(suite, (LoadTestSuite, SearchSuite)) and suite.sessions:
        tokens = [phase_tokens(suite, p.sessions) for p in plans if p.sessions is not None]
        est = _with_setup_and_cost(suite, endpoint, sum(p.requests for p in plans),
                                   sum(t[0] for t in tokens), sum(t[1] for t in tokens), senders,
                                   seconds, ends_utc=ends_utc)
        most = [most_tokens_per_session(suite, t.name) for t in suite.session_types]
        sessions = sum(len(p.offsets_s) for p in plans)
        return dataclasses.replace(est, ceiling_tokens=(
            sessions * max(m[0] for m in most), sessions * max(m[1] for m in most)))
    prompt = np.array([lt.prompt_length for lt in suite.load_types], dtype=np.int64)
    output = np.array([lt.max_output for lt in suite.load_types], dtype=np.int64)
    per_type = sum((np.bincount(p.load_types, minlength=len(prompt)) for p in plans),
                   np.zeros(len(prompt), dtype=np.int64))
    est = _with_setup_and_cost(suite, endpoint, sum(p.requests for p in plans),
                               int(per_type @ prompt), int(per_type @ output), senders, seconds,
                               ends_utc=ends_utc)
    return with_rate_limits(est, suite, endpoint, plans, seen)


def with_rate_limits(est: BudgetEstimate, suite: RunSuite, endpoint: EndpointSpec,
                     plans: list[PhasePlan], seen: SeenLimits | None) -> BudgetEstimate:
    """The estimate with each phase's busiest minute, held against the limits seen last: for a
    hosted provider, or any endpoint seen to announce limits (a gateway in front of one's own
    server); a self-hosted endpoint never seen to has no account's limits to hold it against."""
    if endpoint.self_hosted and seen is None:
        return est
    unit: Unit = "poll" if isinstance(suite, ObservationSuite) else "phase"
    minutes = tuple(plan_demand(plans, suite, unit))
    if not minutes:
        return est
    warnings = [] if seen is None else plan_warnings(plans, suite, seen.rate_limits(), unit,
                                                     when=f"when {seen.by} read it")
    return dataclasses.replace(est, minutes=minutes, unit=unit, limits_seen=seen,
                               limit_warnings=tuple(w.text for w in warnings))


def search_estimate(suite: SearchSuite, endpoint: EndpointSpec, senders: int = 1) -> BudgetEstimate:
    """The most a search can spend, of the largest load type (or session): its ramp's phases
    (start_rps × growth … max_rps, known in advance), then at most max_rps for each phase left;
    and the load time it likely takes (ramp to the answer, then halve the interval until within
    the tolerance), for the duration line."""
    from .search import ramp_rates
    ramp = ramp_rates(suite)[:suite.max_phases]
    rates = ramp + [suite.max_rps] * (suite.max_phases - len(ramp))
    starts = sum(phase_arrivals(rate, suite.phase_seconds) for rate in rates)
    halvings = math.ceil(math.log2(max(1.0, (suite.growth - 1) / suite.tolerance)))
    likely = min(suite.max_phases, max(1, len(ramp) // 2 + 1 + halvings))
    if suite.sessions:             # the most of every session, at every start
        most = [most_tokens_per_session(suite, t.name) for t in suite.session_types]
        prompt, output = max(m[0] for m in most), max(m[1] for m in most)
        requests = int(starts * max(t.turns.high for t in suite.session_types))
    else:
        prompt = max(lt.prompt_length for lt in suite.load_types)
        output = max(lt.max_output for lt in suite.load_types)
        requests = starts
    est = _with_setup_and_cost(suite, endpoint, requests, starts * prompt, starts * output,
                               senders, suite.phase_seconds * suite.max_phases)
    return dataclasses.replace(est, at_most=True, expected_seconds=likely * suite.phase_seconds)


def minimum_estimate(suite: RunSuite, endpoint: EndpointSpec, senders: int = 1) -> BudgetEstimate:
    """The least any plan of the suite can spend, from its keys alone: nothing is drawn."""
    if isinstance(suite, LoadTestSuite) and suite.sessions:
        starts = sum(phase_arrivals(rate, suite.test_length_in_seconds)
                     for rate in suite.rates)
        least = [least_tokens_per_session(t) for t in suite.session_types]
        return _with_setup_and_cost(
            suite, endpoint, starts * min(int(t.turns.low) for t in suite.session_types),
            starts * min(m[0] for m in least), starts * min(m[1] for m in least), senders,
            suite.load_seconds, at_least=True)
    if isinstance(suite, LoadTestSuite):
        requests = sum(phase_arrivals(rate, suite.test_length_in_seconds)
                       for rate in suite.requests_per_second_rates)
        seconds = suite.load_seconds
    elif isinstance(suite, SearchSuite):
        requests = phase_arrivals(suite.start_rps, suite.phase_seconds)
        seconds = suite.phase_seconds
    else:
        requests = suite.polls * suite.num_requests          # exact: polls are not drawn
        seconds = suite.duration_hours * 3600.0
    return _with_setup_and_cost(
        suite, endpoint, requests, requests * min(lt.prompt_length for lt in suite.load_types),
        requests * min(lt.output_length for lt in suite.load_types), senders, seconds,
        at_least=True)


def effort_tokens(endpoint: EndpointSpec) -> int:
    """What the endpoint's reasoning_effort adds to each request's max_tokens: the thinking
    budget litellm maps it to on Anthropic and Gemini 2.5 (clients/litellm_client.py raises
    max_tokens by it); 0 for the built-in client and where the effort is no token count. Counted
    on every request, a type's own reasoning_budget_tokens included (which replaces it): an
    estimate may be above what a run spends, never below. Imports litellm, only then."""
    if endpoint.reasoning_effort is None or endpoint.resolved_client == "openai":
        return 0
    from ..clients.litellm_client import effort_budget
    return effort_budget(endpoint) or 0


def _with_setup_and_cost(suite: RunSuite, endpoint: EndpointSpec, requests: int, input_tokens: int,
                         output_tokens: int, senders: int, load_seconds: float,
                         at_least: bool = False, ends_utc: float | None = None) -> BudgetEstimate:
    """Add warm-up and calibration to the load's counts, price them, read the limits."""
    prompt = [lt.prompt_length for lt in suite.load_types]
    # warm-up requests, plus one per sender to open its connections before it is measured
    warmups = max(1, suite.warmup_requests) + senders
    probes = 2 * len(suite.load_types)     # at most two calibration requests per load type
    # sessions: three probes of a few short messages for each kind of chat template they need
    session_kinds = len({(t.system_prompt_tokens > 0, t.tool_share > 0)
                         for t in getattr(suite, "session_types", [])})
    probes += 3 * session_kinds
    input_tokens += warmups * WARMUP_PROMPT_TOKENS + 2 * sum(prompt) + \
        3 * session_kinds * SESSION_PROBE_PROMPT_TOKENS
    output_tokens += warmups * WARMUP_MAX_TOKENS + probes
    if not at_least:        # every request, warm-up and calibration too, may think that much
        output_tokens += (requests + warmups + probes) * effort_tokens(endpoint)
    price = lookup_price(endpoint)
    if price is None:
        cost, note = None, ("self-hosted: no per-token price" if endpoint.self_hosted else
                            f"litellm's price map has no entry for {endpoint.litellm_model}")
    else:
        cost = input_tokens * price.input_per_token + output_tokens * price.output_per_token
        note = (f"{price.source}: ${price.input_per_token * 1e6:g} in / "
                f"${price.output_per_token * 1e6:g} out per 1M tokens, cache discounts ignored")
    return BudgetEstimate(requests, warmups + probes, input_tokens, output_tokens, load_seconds,
                          cost, note, read_limit(MAX_INPUT_VAR, DEFAULT_MAX_INPUT),
                          read_limit(MAX_OUTPUT_VAR, DEFAULT_MAX_OUTPUT), at_least, ends_utc)


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
    # By model first: an Azure deployment name is the user's own ("my-gpt-4o-deployment"), the
    # price belongs to the model deployed under it; the deployment name is a last resort.
    names = [endpoint.model] + ([endpoint.deployment] if endpoint.deployment else [])
    candidates = [key for name in names
                  for key in (f"{endpoint.provider}/{name}", name, name.split("/", 1)[-1])]
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


def combine(estimates: list[BudgetEstimate]) -> BudgetEstimate:
    """What several runs spend together (an A/B experiment's variants). The cost is known only
    when every run's is: a sum of the known ones would be lower than what may be spent."""
    first = estimates[0]
    costs = [e.cost_usd for e in estimates]
    unknown = [e.cost_note for e in estimates if e.cost_usd is None]
    notes = sorted({e.cost_note for e in estimates})
    return BudgetEstimate(
        requests=sum(e.requests for e in estimates),
        setup_requests=sum(e.setup_requests for e in estimates),
        input_tokens=sum(e.input_tokens for e in estimates),
        output_tokens=sum(e.output_tokens for e in estimates),
        load_seconds=sum(e.load_seconds for e in estimates),
        cost_usd=None if unknown else sum(c for c in costs if c is not None),
        cost_note="; ".join(sorted(set(unknown))) if unknown else "; ".join(notes),
        max_input_tokens=first.max_input_tokens, max_output_tokens=first.max_output_tokens,
        at_least=any(e.at_least for e in estimates))
