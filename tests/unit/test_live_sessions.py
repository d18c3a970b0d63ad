"""live/sessions.py: the turn buckets a session run's live view shows, and which phases are open."""

from __future__ import annotations

import pytest

from tokenflood_tui.live.sessions import open_phases, sessions_in_flight, turn_buckets, turns_phase
from tokenflood_tui.metrics.summary import Distribution, PhaseStats, SessionStats, TurnStats


def turn(k: int, ok: int, ttft: float | None, context: float, cached: float | None,
         requests: int | None = None) -> TurnStats:
    return TurnStats(turn=k, requests=ok if requests is None else requests, ok=ok,
                     ttft_ms=Distribution(mean=ttft, p50=ttft), e2e_ms=Distribution(mean=2 * (ttft or 0)),
                     context_tokens_mean=context, cached_tokens_mean=cached,
                     cache_hit=None if cached is None else cached / context)


def test_buckets_group_turn_indexes_and_weight_each_turn_by_its_ok_requests():
    turns = [turn(1, 20, 50.0, 64, 64), turn(2, 18, 60.0, 130, 117, requests=19),
             turn(5, 10, 100.0, 400, 360), turn(6, 30, 200.0, 460, 450),
             turn(17, 2, 300.0, 1000, 900), turn(30, 1, 330.0, 1900, 1890)]
    buckets = turn_buckets(turns)
    assert [b.label for b in buckets] == ["1", "2", "5-8", "17+"]      # no turn 3, 4 or 9-16
    one, two, five, late = buckets
    # a bucket of one turn: that turn's figures as they are
    assert (two.requests, two.ok, two.ttft_ms, two.context_tokens, two.cache_hit) == (
        19, 18, 60.0, 130, pytest.approx(0.9))
    # 5-8: turn 6 has three times turn 5's ok requests
    assert (five.requests, five.ok) == (40, 40)
    assert five.ttft_ms == pytest.approx((10 * 100 + 30 * 200) / 40)        # 175, not 150
    assert five.e2e_ms == pytest.approx(350.0)
    assert five.context_tokens == pytest.approx((10 * 400 + 30 * 460) / 40)
    assert five.cache_hit == pytest.approx((10 * 360 + 30 * 450) / (10 * 400 + 30 * 460))
    assert late.first == 17 and late.last is None and late.requests == 3
    assert one.cache_hit == 1.0


def test_a_turn_without_a_figure_leaves_the_bucket_mean_to_the_others():
    turns = [turn(5, 10, None, 400, None), turn(7, 5, 120.0, 500, 450)]
    (bucket,) = turn_buckets(turns)
    assert bucket.ttft_ms == 120.0                     # turn 5 has no TTFT (none streamed)
    assert bucket.cache_hit == pytest.approx(0.9)     # nor cached tokens: turn 7's alone
    assert bucket.context_tokens == pytest.approx((10 * 400 + 5 * 500) / 15)
    assert turn_buckets([]) == []


def phase(n: int, finished: bool, in_flight: int, turns: list[TurnStats] | None = None,
          sessions: bool = True) -> PhaseStats:
    empty = Distribution()
    return PhaseStats(
        phase=n, target_rps=1.0, planned=10, sent=5, ok=5, failed=0, achieved_rps=1.0,
        output_tokens_per_s=None, goodput=None, prompt_tokens_mean=None,
        prompt_tokens_target_mean=None, output_tokens_mean=None, output_tokens_target_mean=None,
        cached_tokens_mean=None, cache_hit_rate=None, output_tokens_estimated=False,
        ttft_ms=empty, e2e_ms=empty, scheduled_latency_ms=empty, tpot_ms=empty, itl_ms=empty,
        dispatch_delay_ms=empty, finished=finished, turns=turns or [],
        sessions=SessionStats(planned=4, started=4, duration_s=empty, slowdown=empty,
                              in_flight=in_flight) if sessions else None)


def test_open_phases_are_the_undrained_ones_newest_first():
    phases = [phase(1, True, 0, [turn(1, 3, 50.0, 64, 64)]), phase(2, False, 3, [turn(1, 2, 55.0, 64, 64)]),
              phase(3, False, 5)]
    assert [ph.phase for ph in open_phases(phases)] == [3, 2]
    assert sessions_in_flight(phases) == 8
    # phase 3's requests are all in its ramp so far: phase 2's turns speak for the run
    assert turns_phase(phases) is phases[1]
    assert open_phases([phase(1, False, 0, sessions=False)]) == []
    assert turns_phase([phase(1, False, 2)]) is None
