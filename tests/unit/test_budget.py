"""Budget: exact counts from the seeded plan, prices from litellm's local map, env limits."""

import pytest

from tokenflood_tui.run import budget
from tokenflood_tui.errors import BudgetRefused, ConfigError
from tokenflood_tui.run.schedule import plan_phases
from tokenflood_tui.specs import EndpointSpec, LoadType, LoadTestSuite

SUITE = LoadTestSuite(name="b", requests_per_second_rates=[2.0, 4.0], test_length_in_seconds=10,
                 arrival="constant", warmup_requests=3,
                 load_types=[LoadType(prompt_length=100, output_length=10, weight=1),
                             LoadType(prompt_length=300, prefix_length=50, output_length=30, weight=1)])
LOCAL = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:1/v1")
OPENAI = EndpointSpec(provider="openai", model="gpt-4o-mini", api_key_env_var="OPENAI_API_KEY")


def test_counts_come_from_the_plan():
    plans = plan_phases(SUITE)
    est = budget.estimate(SUITE, LOCAL, plans)
    assert est.requests == 60
    kinds = [k for p in plans for k in p.load_types.tolist()]
    load_input = sum(100 if k == 0 else 300 for k in kinds)
    load_output = sum(10 if k == 0 else 30 for k in kinds)
    # + 3 warm-ups of ~50 tokens and up to two calibration prompts per load type
    assert est.input_tokens == load_input + 4 * 50 + 2 * 400   # 3 warm-ups + 1 per sender
    assert est.output_tokens == load_output + 4 * 4 + 4
    assert est.setup_requests == 4 + 4
    assert est.load_seconds == 20
    assert est.cost_usd is None and "self-hosted" in est.cost_note


def test_cost_from_the_price_map():
    est = budget.estimate(SUITE, OPENAI, plan_phases(SUITE))
    # gpt-4o-mini: $0.15 / $0.60 per 1M tokens in litellm 1.110.2's map
    assert est.cost_usd == pytest.approx(est.input_tokens * 0.15e-6 + est.output_tokens * 0.6e-6)
    assert "gpt-4o-mini" in est.cost_note


def test_unknown_model_costs_unknown():
    spec = EndpointSpec(provider="anthropic", model="no-such-model-x")
    est = budget.estimate(SUITE, spec, plan_phases(SUITE))
    assert est.cost_usd is None and "no entry" in est.cost_note
    assert any("cost" in line and "unknown" in line for line in est.lines())


def test_limits_refuse_and_name_the_variable(monkeypatch):
    monkeypatch.setenv(budget.MAX_OUTPUT_VAR, "500")
    est = budget.estimate(SUITE, LOCAL, plan_phases(SUITE))
    with pytest.raises(BudgetRefused) as info:
        budget.enforce_limits(est)
    msg = str(info.value)
    assert "TOKENFLOOD_MAX_OUTPUT_TOKENS=500" in msg and f"{est.output_tokens:,}" in msg
    assert "TOKENFLOOD_MAX_INPUT_TOKENS" not in msg


def test_default_limits_and_bad_values(monkeypatch):
    monkeypatch.delenv(budget.MAX_INPUT_VAR, raising=False)
    assert budget.read_limit(budget.MAX_INPUT_VAR, budget.DEFAULT_MAX_INPUT) == 1_000_000
    monkeypatch.setenv(budget.MAX_INPUT_VAR, "2_000_000")
    assert budget.read_limit(budget.MAX_INPUT_VAR, 0) == 2_000_000
    monkeypatch.setenv(budget.MAX_INPUT_VAR, "lots")
    with pytest.raises(ConfigError, match="TOKENFLOOD_MAX_INPUT_TOKENS='lots'"):
        budget.read_limit(budget.MAX_INPUT_VAR, 0)


@pytest.mark.parametrize("provider, model, thinks", [
    ("anthropic", "claude-sonnet-4-5-20250929", 1024),   # litellm: low → thinking budget 1024
    ("gemini", "gemini-2.5-flash", 1024),                # low → thinkingBudget 1024
    ("openai", "o4-mini", 0)])                           # an effort, no token count
def test_a_reasoning_effort_that_becomes_a_thinking_budget_is_counted_on_every_request(
        provider, model, thinks):
    """The litellm client raises every request's max_tokens by the budget an effort maps to
    (Anthropic refuses max_tokens not above it); the estimate counts it, setup included."""
    plans = plan_phases(SUITE)
    plain = EndpointSpec(provider=provider, model=model, api_key_env_var="KEY")
    effort = plain.model_copy(update={"reasoning_effort": "low"})
    without, with_effort = budget.estimate(SUITE, plain, plans), budget.estimate(SUITE, effort, plans)
    assert budget.effort_tokens(effort) == thinks
    assert with_effort.output_tokens - without.output_tokens == \
        (without.requests + without.setup_requests) * thinks
    least = budget.minimum_estimate(SUITE, effort)       # the least: no thinking assumed
    assert least.output_tokens == budget.minimum_estimate(SUITE, plain).output_tokens
