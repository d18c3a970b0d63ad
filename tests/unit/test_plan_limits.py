"""A run over a token limit is refused before its schedule is built; otherwise the budget shown
is the built plan's own, exact estimate."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from tokenflood_tui.run import budget
from tokenflood_tui.run.plan import LoadTestPlanner
from tokenflood_tui.run.schedule import arrival_offsets, phase_arrivals, plan_phases
from tokenflood_tui.specs import EndpointSpec, LoadType, LoadTestSuite

LOCAL = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:1/v1")
TYPES = [LoadType(prompt_length=100, output_length=10, weight=3),
         LoadType(prompt_length=300, prefix_length=50, output_length=30, weight=1)]


def suite(rates, length, arrival="poisson", seed=0, types=TYPES) -> LoadTestSuite:
    return LoadTestSuite(name="limits", requests_per_second_rates=rates, test_length_in_seconds=length,
                    arrival=arrival, seed=seed, load_types=types)


@pytest.mark.parametrize("arrival", ["poisson", "constant"])
@pytest.mark.parametrize("seed", range(6))
def test_the_lower_bound_never_exceeds_what_the_plan_spends(arrival, seed):
    s = suite([0.5, 3.0, 40.0, 400.0], 25, arrival, seed)
    exact = budget.estimate(s, LOCAL, plan_phases(s))
    least = budget.minimum_estimate(s, LOCAL)
    assert least.at_least and not exact.at_least
    assert least.requests <= exact.requests
    assert least.input_tokens <= exact.input_tokens and least.output_tokens <= exact.output_tokens
    assert least.setup_requests == exact.setup_requests


def test_the_lower_bound_is_exact_for_constant_arrivals_of_one_load_type():
    s = suite([7.0, 2.5], 9, "constant", types=TYPES[:1])
    exact = budget.estimate(s, LOCAL, plan_phases(s))
    least = budget.minimum_estimate(s, LOCAL)
    assert (least.requests, least.input_tokens, least.output_tokens) == (
        exact.requests, exact.input_tokens, exact.output_tokens) == (63 + 23, least.input_tokens,
                                                                     least.output_tokens)


def test_every_phase_sends_its_rate_times_its_length_whatever_the_arrival_process():
    """A poisson phase's count is not drawn: a search phase of 9 req/s once drew 7.0 req/s and
    was judged at 9; now both processes send rate × length, poisson with random gaps."""
    assert phase_arrivals(100.0, 100) == 10_000 and phase_arrivals(3.0, 10) == 30
    assert phase_arrivals(0.25, 10) == 3                      # rounded up
    for seed in range(200):
        offsets = arrival_offsets(9.0, 10.0, "poisson", np.random.default_rng(seed))
        assert len(offsets) == 90 and np.all(np.diff(offsets) >= 0)
        assert 0 <= offsets[0] and offsets[-1] < 10.0
    gaps = np.diff(arrival_offsets(50.0, 200.0, "poisson", np.random.default_rng(1)))
    # exponential gaps: mean 1/rate, standard deviation about the mean
    assert abs(gaps.mean() - 0.02) < 0.001 and abs(gaps.std() / gaps.mean() - 1) < 0.05


def test_a_run_over_a_limit_is_refused_without_building_its_plan(monkeypatch):
    monkeypatch.delenv(budget.MAX_INPUT_VAR, raising=False)
    monkeypatch.delenv(budget.MAX_OUTPUT_VAR, raising=False)
    s = suite([10_000.0], 1000)                   # 10 million requests: the most a run may plan
    tracemalloc.start()
    started = time.monotonic()
    planner, est = budget.plan_and_estimate(s, LOCAL, lambda: LoadTestPlanner(s))
    seconds = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert planner is None and est.at_least
    assert est.requests == 10_000_000            # rate × length, whatever the arrival process
    assert peak < 1_000_000 and seconds < 1      # the plan alone is 160 MB
    (inp, out) = est.over_limits
    assert inp.startswith(f"estimated input tokens at least {est.input_tokens:,} exceed "
                          "TOKENFLOOD_MAX_INPUT_TOKENS=1,000,000")
    assert "at least" in est.lines()[0] and "at least" in est.lines()[1]
    with pytest.raises(budget.BudgetRefused, match="raise TOKENFLOOD_MAX_OUTPUT_TOKENS"):
        budget.enforce_limits(est)


def test_within_the_limits_the_estimate_is_the_built_plans(monkeypatch):
    monkeypatch.setenv(budget.MAX_OUTPUT_VAR, "100000")
    s = suite([5.0, 20.0], 30, seed=3)
    planner, est = budget.plan_and_estimate(s, LOCAL, lambda: LoadTestPlanner(s), senders=2)
    assert planner is not None
    assert [p.requests for p in planner.plans] == [p.requests for p in plan_phases(s)]
    assert est == budget.estimate(s, LOCAL, plan_phases(s), senders=2) and not est.at_least


def test_over_a_limit_only_by_the_plans_draw_the_plan_is_built_and_shown(monkeypatch):
    # The lower bound is under the limit, the exact count over it: the modal shows exact figures.
    s = suite([10.0], 100, seed=1)
    exact = budget.estimate(s, LOCAL, plan_phases(s))
    monkeypatch.setenv(budget.MAX_OUTPUT_VAR, str(exact.output_tokens - 1))
    planner, est = budget.plan_and_estimate(s, LOCAL, lambda: LoadTestPlanner(s))
    assert planner is not None and not est.at_least and est.output_tokens == exact.output_tokens
    assert est.over_limits and "at least" not in est.over_limits[0]


def test_run_builds_no_plan_for_a_run_over_a_limit(tmp_path, monkeypatch):
    from tokenflood_tui.run.runner import Run

    class Quiet:
        def event(self, ev): ...
        def snapshot(self, snap): ...

    monkeypatch.delenv(budget.MAX_INPUT_VAR, raising=False)
    run = Run(suite([10_000.0], 1000), LOCAL, tmp_path / "results", Quiet())
    assert run.plans == [] and run.estimate.at_least and run.estimate.over_limits
    assert not (tmp_path / "results").exists()
