"""Arrival schedules: counts, rates and distributions, checked statistically."""

import numpy as np
import pytest

from tokenflood_tui.run.schedule import arrival_offsets, plan_phases
from tokenflood_tui.specs import LoadType, LoadTestSuite


def suite(**kw) -> LoadTestSuite:
    base = dict(name="s", requests_per_second_rates=[10.0], test_length_in_seconds=100,
                load_types=[LoadType(prompt_length=10, output_length=5)])
    return LoadTestSuite(**{**base, **kw})


def test_constant_arrivals_are_exactly_one_over_rate_apart():
    offsets = arrival_offsets(4.0, 10.0, "constant", np.random.default_rng(0))
    assert len(offsets) == 40
    assert offsets[0] == 0.0
    assert np.allclose(np.diff(offsets), 0.25)
    assert offsets[-1] < 10.0


@pytest.mark.parametrize("rate", [0.5, 10.0, 800.0])
def test_poisson_count_and_gaps_match_the_rate(rate):
    length = 20_000 / rate            # about 20,000 arrivals
    offsets = arrival_offsets(rate, length, "poisson", np.random.default_rng(1))
    n = len(offsets)
    # Poisson count: mean rate*length, sd sqrt(mean) -> within 4 sd
    assert abs(n - 20_000) < 4 * np.sqrt(20_000)
    gaps = np.diff(offsets)
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.03)
    # exponential: sd equals mean, and P(gap > mean) = e^-1
    assert gaps.std() == pytest.approx(1 / rate, rel=0.05)
    assert (gaps > 1 / rate).mean() == pytest.approx(np.exp(-1), abs=0.015)
    assert np.all(gaps >= 0) and offsets[-1] < length


def test_poisson_counts_per_window_have_poisson_variance():
    offsets = arrival_offsets(50.0, 2000.0, "poisson", np.random.default_rng(2))
    counts = np.histogram(offsets, bins=np.arange(0, 2001, 1.0))[0]
    assert counts.mean() == pytest.approx(50, rel=0.02)
    assert counts.var() == pytest.approx(50, rel=0.15)   # index of dispersion ~ 1


def test_plans_are_seeded_and_phases_differ():
    s = suite(requests_per_second_rates=[5.0, 5.0], test_length_in_seconds=30)
    a, b = plan_phases(s), plan_phases(s)
    assert all(np.array_equal(x.offsets_s, y.offsets_s) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].offsets_s[:10], a[1].offsets_s[:10])
    other = plan_phases(s.model_copy(update={"seed": 1}))
    assert not np.array_equal(a[0].offsets_s[:10], other[0].offsets_s[:10])


def test_load_types_are_sampled_by_weight():
    s = suite(load_types=[LoadType(prompt_length=10, output_length=5, weight=3.0),
                          LoadType(prompt_length=20, output_length=5, weight=1.0)],
              arrival="constant", requests_per_second_rates=[100.0])
    (plan,) = plan_phases(s)
    assert plan.requests == 10_000
    share = (plan.load_types == 0).mean()
    assert share == pytest.approx(0.75, abs=0.02)
