"""The search planner's decisions on phases of known figures: ramp, bisect, stop; the verdict
of a phase against each form of SLO; the knee."""

from __future__ import annotations

from tokenflood_tui.run.search import SearchPlanner, knee, verdict
from tokenflood_tui.specs import parse_run_suite
from tokenflood_tui.metrics.summary import Distribution, PhaseStats


def suite(slo: str = "{ttft_ms: {p99: 500}}", **keys):
    extra = "".join(f"{k}: {v}\n" for k, v in keys.items())
    return parse_run_suite(f"type: search\nname: s\nslo: {slo}\nstart_rps: 2\nmax_rps: 100\n"
                           f"phase_seconds: 10\nload_types: [{{prompt_length: 8, output_length: 4}}]\n"
                           + extra)


def phase(rate: float, ttft_p99: float, ok: int = 100, failed: int = 0, goodput=None,
          achieved=None) -> PhaseStats:
    d = Distribution(mean=ttft_p99 / 2, p50=ttft_p99 / 2, p90=ttft_p99 * 0.8, p99=ttft_p99)
    return PhaseStats(phase=1, target_rps=rate, planned=ok + failed, sent=ok + failed, ok=ok,
                      failed=failed, achieved_rps=achieved if achieved is not None else
                      (ok + failed) / 10, output_tokens_per_s=None, goodput=goodput,
                      prompt_tokens_mean=None, prompt_tokens_target_mean=None,
                      output_tokens_mean=None, output_tokens_target_mean=None,
                      cached_tokens_mean=None, cache_hit_rate=None, output_tokens_estimated=False,
                      length_s=10.0, ttft_ms=d, e2e_ms=d, scheduled_latency_ms=d, tpot_ms=d,
                      itl_ms=d, dispatch_delay_ms=d)


def drive(planner: SearchPlanner, capacity_ms) -> list[float]:
    """Run the planner against a server whose p99 TTFT at a rate is capacity_ms(rate)."""
    rates = []
    while True:
        _, plan = planner.next(0.0)
        if plan is None:
            return rates
        rates.append(plan.target_rps)
        planner.phase_done(plan, phase(plan.target_rps, capacity_ms(plan.target_rps),
                                       ok=int(plan.target_rps * 10)))


def test_ramps_by_growth_then_bisects_to_the_tolerance():
    p = SearchPlanner(suite(tolerance=0.1))
    rates = drive(p, lambda r: 100 if r <= 37 else 900)
    assert rates[:6] == [2, 4, 8, 16, 32, 64]
    assert rates[6:] == [48, 40, 36, 38]              # 36..38 is within 10%
    assert p.lower == 36 and p.upper == 38 and "within the tolerance" in p.stopped_because


def test_stops_at_max_phases_and_at_max_rps():
    p = SearchPlanner(suite(tolerance=0.01, max_phases=7))
    assert len(drive(p, lambda r: 100 if r <= 37 else 900)) == 7
    assert p.stopped_because == "max_phases (7) reached"
    q = SearchPlanner(suite())
    assert drive(q, lambda r: 100) == [2, 4, 8, 16, 32, 64, 100]
    assert "holds up to max_rps (100 req/s)" in q.stopped_because


def test_a_failing_start_ends_at_once():
    p = SearchPlanner(suite())
    assert drive(p, lambda r: 900) == [2]
    assert p.lower is None and "fails at start_rps" in p.stopped_because


def test_the_verdict_reads_each_form_of_slo():
    s = suite().slo
    assert verdict(phase(10, 400), s) == (True, "TTFT p99 400 ms ≤ 500")
    assert verdict(phase(10, 600), s) == (False, "TTFT p99 600 ms > 500")
    g = suite("{e2e_ms: 1000, goodput_min: 0.9}").slo
    assert verdict(phase(10, 1, goodput=0.95), g)[0]
    assert verdict(phase(10, 1, goodput=0.8), g) == (False, "goodput 80% < 90%")
    # failures break it even when the ok requests were fast; so does a rate not achieved
    assert verdict(phase(10, 100, ok=90, failed=10), s) == (False, "10% of requests failed")
    assert verdict(phase(10, 100, achieved=7.0), s)[1] == "achieved 7.0 of the 10.0 req/s scheduled"


def test_the_knee_is_where_latency_bends_up():
    phases = [phase(r, v) for r, v in [(2, 50), (4, 51), (8, 53), (16, 60), (24, 400), (32, 2000)]]
    assert knee(phases, p=99) == 24
    assert knee(phases[:2], p=99) is None
    assert knee([phase(r, 50) for r in (2, 4, 8)], p=99) is None


def test_the_budget_of_a_search_is_never_below_what_it_sends():
    """The bound counts the ramp's rates and max_rps for every phase after them; whatever the
    server does, the phases the planner picks send no more (and it is tighter than every phase
    at max_rps: a small search of 1-8 req/s was refused by that)."""
    from tokenflood_tui.run import budget
    from tokenflood_tui.run.schedule import phase_arrivals
    from tokenflood_tui.specs import EndpointSpec
    endpoint = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    s = suite(tolerance=0.01, max_phases=12)
    bound = budget.search_estimate(s, endpoint).requests
    assert bound < phase_arrivals(s.max_rps, s.phase_seconds) * s.max_phases
    for capacity in (0.5, 2, 3, 5, 17, 37, 63, 99, 100, 1000):
        rates = drive(SearchPlanner(s), lambda r, c=capacity: 100 if r <= c else 900)
        assert sum(phase_arrivals(r, s.phase_seconds) for r in rates) <= bound, capacity


def test_a_search_on_ttfa_judges_the_first_answer_token():
    s = suite("{ttfa_ms: {p99: 2000}}")
    ph = phase(10, 60)
    ph.ttfa_ms = Distribution(mean=1900.0, p50=1900.0, p90=2000.0, p99=2100.0)
    assert verdict(ph, s.slo) == (False, "TTFA p99 2100 ms > 2000")
    ph.ttfa_ms = Distribution(mean=1500.0, p50=1500.0, p90=1600.0, p99=1700.0)
    assert verdict(ph, s.slo) == (True, "TTFA p99 1700 ms ≤ 2000")
