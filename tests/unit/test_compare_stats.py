"""The statistics of `compare`: the resampled percentiles are the bootstrap's, the intervals
cover a known difference, and samples from one distribution rarely get a verdict."""

from __future__ import annotations

import numpy as np
import pytest

from tokenflood_tui.compare import bootstrap


@pytest.mark.parametrize(("n", "p"), [(7, 50), (50, 90), (30, 99), (400, 99.9), (1, 50)])
def test_order_statistics_give_the_bootstrap_distribution_of_numpys_percentile(n, p):
    rng = np.random.default_rng(11)
    x = np.sort(rng.lognormal(3, 0.5, n))
    drawn = bootstrap.resampled_percentiles(x, p, rng, 100_000)
    copies = np.percentile(x[rng.integers(0, n, (20_000, n))], p, axis=1)   # the plain way
    for q in (2.5, 25, 50, 75, 97.5):
        assert np.percentile(drawn, q) == pytest.approx(np.percentile(copies, q), rel=0.02, abs=0.05)
    assert drawn.mean() == pytest.approx(copies.mean(), rel=0.01)


def trials(shift_ms: float, n: int, p: float, count: int, seed: int) -> tuple[int, int]:
    """(intervals that contain the true difference, intervals that exclude 0) over `count`
    pairs of samples of `n` from lognormal latencies, the second shifted by `shift_ms`."""
    rng = np.random.default_rng(seed)
    truth = shift_ms               # a shift moves every percentile by the same amount
    covered = verdicts = 0
    for _ in range(count):
        a = np.sort(rng.lognormal(np.log(50), 0.3, n))
        b = np.sort(rng.lognormal(np.log(50), 0.3, n) + shift_ms)
        low, high = bootstrap.difference_interval(a, b, p, rng, resamples=2000)
        covered += low <= truth <= high
        verdicts += bootstrap.verdict(low, high) != "no clear difference"
    return covered, verdicts


@pytest.mark.parametrize(("n", "p"), [(20, 50), (60, 90), (200, 99), (1000, 50), (1000, 99)])
def test_samples_from_one_distribution_get_a_false_verdict_about_5_percent_of_the_time(n, p):
    assert bootstrap.enough(n, p)        # each case is one the tool would judge
    count = 400
    _, false_verdicts = trials(0.0, n, p, count, seed=n + int(p))
    assert false_verdicts / count <= 0.08, false_verdicts    # 5% expected, 3 SE above it


def test_a_real_difference_is_found_and_covered():
    count = 200
    covered, found = trials(6.0, 300, 50, count, seed=5)
    assert covered / count >= 0.9            # 95% expected
    assert found / count >= 0.95             # 6 ms on a ~15 ms spread, 300 rows each


def test_too_few_samples_for_a_tail_percentile():
    assert bootstrap.enough(200, 99) and not bootstrap.enough(199, 99)
    assert bootstrap.enough(20, 90) and not bootstrap.enough(19, 50)
    assert not bootstrap.enough(1999, 99.9)
    assert bootstrap.verdict(-3.0, -0.1) == "faster" and bootstrap.verdict(0.1, 2) == "slower"
    assert bootstrap.verdict(-1.0, 1.0) == "no clear difference"
