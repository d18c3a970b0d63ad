"""The client-bound verdict needs enough requests to say the sender fell behind."""

from tokenflood_tui.metrics.records import RequestRecord
from tokenflood_tui.run.stats import CLIENT_BOUND_MIN_LAUNCHES, PhaseAccumulator


def phase_of(requests: int, late_ms: float) -> PhaseAccumulator:
    acc = PhaseAccumulator(3, 1.0, float(requests), requests, [50.0, 99.0])
    acc.t_start = 100.0
    for i in range(requests):
        rec = RequestRecord(3, 1.0, 0, 100.0 + i, 10, 0, 4, seq=i)
        rec.t_launch = rec.t_sched + late_ms / 1000
        rec.t_send, rec.t_first, rec.t_end = rec.t_launch, rec.t_launch + 0.05, rec.t_launch + 0.1
        rec.output_tokens = 4
        acc.add(rec)
    acc.t_done = 100.0 + requests + 1
    return acc


def test_three_late_requests_are_no_verdict_on_the_client():
    """After a resume a 3-request poll whose requests left 80 ms late was called client-bound."""
    assert not phase_of(3, late_ms=80.0).stats().client_bound


def test_a_phase_whose_requests_left_late_throughout_is_client_bound():
    stats = phase_of(CLIENT_BOUND_MIN_LAUNCHES, late_ms=80.0).stats()
    assert stats.client_bound and "80 ms late" in (stats.client_bound_reason() or "")
    assert not phase_of(CLIENT_BOUND_MIN_LAUNCHES, late_ms=1.0).stats().client_bound
