"""The saturation verdict on synthetic phases: a jittery flat phase never flags, a queue does."""

import numpy as np
import pytest

from tokenflood_tui.metrics.records import RequestRecord
from tokenflood_tui.metrics.saturation import GROWTH_MIN_MS, duration_text, saturation_point
from tokenflood_tui.run.stats import PhaseAccumulator, phase_warnings
from tokenflood_tui.metrics.summary import PhaseStats

T0 = 1000.0


def phase(ttft_ms, rate=20.0, length=10.0, send_spread=1.0, launch_ms=0.0, number=1,
          client_cpu=None):
    """A drained phase of constant arrivals whose i-th request has TTFT ttft_ms[i] (e2e 200 ms
    later); `send_spread` > 1 spreads the sends over longer than the phase (a client waiting
    for max_concurrency slots); `launch_ms` is how late the sender picked each request up."""
    n = len(ttft_ms)
    acc = PhaseAccumulator(number, rate, length, n, [50.0, 99.0])
    acc.t_start = T0
    for i, ttft in enumerate(ttft_ms):
        t = T0 + i / rate
        rec = RequestRecord(number, rate, 0, t, 100, 0, 10, t_launch=t + launch_ms / 1000,
                            t_send=T0 + i / rate * send_spread, output_tokens=10)
        rec.t_first = rec.t_send + ttft / 1000
        rec.t_end = rec.t_first + 0.2
        acc.add(rec)
    acc.t_done = T0 + length * send_spread + 5
    acc.client_cpu = client_cpu
    return acc.stats()


def jittery(n, base_ms=50.0, jitter=0.3, seed=0):
    return base_ms * (1 + np.random.default_rng(seed).uniform(-jitter, jitter, n))


def queue(n, rate=20.0, capacity=10.0, base_ms=51.0):
    """FIFO past capacity from empty: request i waits (i/capacity − i/rate)."""
    i = np.arange(n)
    return base_ms + (i / capacity - i / rate) * 1000


def test_a_flat_phase_with_30_percent_jitter_never_flags_whatever_the_draw():
    growths = []
    for seed in range(300):
        for n in (16, 30, 200):       # 5 or 6 requests a third (5: the fewest judged)
            st = phase(jittery(n, seed=seed), rate=n / 10)
            assert not st.saturated and st.saturation is None, (seed, n, st.latency_growth)
            growths.append(st.latency_growth)
    # ±30% uniform: two medians can differ by 1.3/0.7 = 1.86× at most, under the 2× threshold
    assert max(growths) < 1.6 and min(growths) > 0.6


def test_heavy_tailed_flat_latency_does_not_flag():
    rng = np.random.default_rng(7)
    for _ in range(100):
        st = phase(80 * rng.lognormal(0, 0.6, 200))
        assert not st.saturated, st.latency_growth


def test_a_growing_queue_flags_with_the_figures():
    st = phase(queue(200))
    assert st.saturated
    # thirds of 66 requests: 0..65 wait up to 3.3 s, median 1.6 s; 134..199 6.7 to 10 s, 8.4 s
    first = 51 + np.median(np.arange(66) * 50)
    last = 51 + np.median(np.arange(134, 200) * 50)
    assert st.saturation == (f"TTFT p50 grew from {duration_text(first)} to "
                             f"{duration_text(last)} within the phase")
    assert st.latency_growth == pytest.approx(last / first)
    assert st.saturation == "TTFT p50 grew from 1.7 s to 8.4 s within the phase"


def test_mild_overload_a_tenth_over_capacity_still_flags():
    st = phase(queue(200, rate=20.0, capacity=18.2))
    assert st.saturated and st.latency_growth > 3


def test_growth_below_the_floor_or_the_ratio_does_not_flag():
    # thirds' medians 6 ms and 17 ms: 2.9× but 11 ms, noise for a fast server
    st = phase(np.linspace(3, 20, 200))
    assert not st.saturated and st.latency_growth > 2
    # 450 ms to 650 ms: 200 ms more but under 2×
    st = phase(np.linspace(400, 700, 200))
    assert not st.saturated and st.latency_growth < 2
    assert GROWTH_MIN_MS == 50


def test_too_few_requests_for_a_verdict():
    st = phase(queue(12), rate=1.2)          # 4 a third
    assert not st.saturated and st.latency_growth is None


def test_arrivals_bunched_early_in_the_phase_still_get_a_verdict():
    # The demo's phase 3 (2 req/s for 10 s against llama.cpp on a busy machine): the seeded
    # Poisson draw put all 20 arrivals in the first 7.8 s, 4 of them in the last third of the
    # time, while TTFT climbed from 0.76 to 15.3 s — judged by time thirds: no verdict.
    sched = [0.0, 0.92, 2.15, 2.18, 2.45, 2.69, 2.74, 3.74, 3.97, 4.13, 4.69, 5.44, 5.72, 6.23,
             6.26, 6.49, 6.99, 7.36, 7.61, 7.84]
    ttft = [758, 666, 1289, 1258, 1672, 2435, 3382, 4048, 4725, 6445, 7777, 10251, 9971, 10120,
            11293, 11820, 12666, 12934, 14358, 15255]
    acc = PhaseAccumulator(3, 2.0, 10.0, 20, [50.0, 99.0])
    acc.t_start = T0
    for t, ms in zip(sched, ttft, strict=True):
        rec = RequestRecord(3, 2.0, 0, T0 + t, 100, 0, 10, t_launch=T0 + t, t_send=T0 + t,
                            output_tokens=10)
        rec.t_first = rec.t_send + ms / 1000
        rec.t_end = rec.t_first + 1.0
        acc.add(rec)
    acc.t_done = T0 + 25
    st = acc.stats()
    # thirds of 6: medians 1.27 s (0.67-2.4 s) and 12.8 s (11.3-15.3 s)
    assert st.saturated and st.latency_growth == pytest.approx(12800 / 1273.5)
    assert st.saturation == "TTFT p50 grew from 1.3 s to 13 s within the phase"


def test_a_late_sender_does_not_hide_queueing_but_a_busy_one_does():
    # TTFT runs from the send: a sender 40 ms late (client-bound) leaves the growth the server's
    late = phase(queue(200), launch_ms=40)
    assert late.client_bound and late.saturated and late.saturation.startswith("TTFT p50 grew")
    # a sender at a full core may read responses late: no verdict on latency
    busy = phase(queue(200), client_cpu=0.95)
    assert busy.client_bound and not busy.saturated and busy.saturation is None
    # nor is a late sender's rate shortfall put on the server
    short = phase(jittery(200), send_spread=1.3, launch_ms=40)
    assert short.client_bound and short.achieved_ratio < 0.9 and not short.saturated


def test_achieved_rate_short_of_the_schedule_flags():
    st = phase(jittery(200), send_spread=1.3)     # sends took 13 s for a 10 s schedule
    assert st.achieved_rps == pytest.approx(200 / (199 / 20 * 1.3), rel=1e-6)
    # each send i/20 × 0.3 s late: 1.49 s on average
    assert st.saturated and st.saturation == (
        f"achieved {st.achieved_rps:.1f} of 20 req/s (requests waited 1.5 s on average to be sent)")
    assert st.achieved_ratio == pytest.approx(st.achieved_rps / 20)
    healthy = phase(jittery(200))
    assert healthy.achieved_ratio == pytest.approx(1.0) and not healthy.saturated


def test_a_live_phase_has_no_verdict_until_it_drained():
    acc = PhaseAccumulator(1, 20.0, 10.0, 200, [50.0])
    acc.t_start = T0
    for i, ttft in enumerate(queue(200)):
        t = T0 + i / 20
        rec = RequestRecord(1, 20.0, 0, t, 100, 0, 10, t_send=t, output_tokens=10)
        rec.t_first, rec.t_end = t + ttft / 1000, t + ttft / 1000 + 0.2
        acc.add(rec)
    assert not acc.stats(now=T0 + 30).saturated
    acc.t_done = T0 + 30
    assert acc.stats().saturated


def test_the_phase_warning_and_the_run_point():
    healthy = [phase(jittery(n, seed=n), rate=n / 10, number=k)
               for k, n in enumerate((50, 100), 1)]
    over = phase(queue(200), number=3)
    further = phase(queue(300, rate=30.0), rate=30.0, number=4)
    assert phase_warnings(over) == [
        "phase 3 (20 req/s): the server saturated: TTFT p50 grew from 1.7 s to 8.4 s within the "
        "phase"]
    point = saturation_point([*healthy, over, further])
    assert point.saturated.phase == 3 and point.held.phase == 2
    assert point.warning() == ("the server saturated at about 20 req/s (phase 3); the highest "
                               "rate it held was 10 req/s (phase 2)")
    assert saturation_point(healthy) is None
    # a phase with too few requests to judge held nothing, nor one whose sender was busy
    assert saturation_point([phase(jittery(12), rate=1.2, number=1), over]).held is None
    assert saturation_point([phase(jittery(100), number=1, client_cpu=0.95), over]).held is None
    alone = saturation_point([over])
    assert alone.held is None and alone.warning().endswith("no lower rate was tried that it held")
    unjudged = saturation_point([phase(jittery(12), rate=1.2, number=1), over])
    assert unjudged.warning().endswith("; the lower rates tried had too few requests for a "
                                       "verdict (15 ok ones a phase) or a busy client")


def test_verdict_fields_round_trip_through_json():
    st = phase(queue(200))
    back = PhaseStats.model_validate_json(st.model_dump_json())
    assert (back.saturated, back.saturation, back.latency_growth) == (
        True, st.saturation, st.latency_growth)


def test_duration_text():
    assert [duration_text(v) for v in (51.2, 999, 3512, 12_400)] == ["51 ms", "999 ms", "3.5 s",
                                                                    "12 s"]


def session_phase(first_turn_ms, later_turn_ms, rate=2.0):
    """A session phase: session i starts at i / rate with TTFT first_turn_ms[i], and its second
    turn 1 s later with TTFT later_turn_ms[i]; turns and sub-agents as the sender marks them."""
    n = len(first_turn_ms)
    acc = PhaseAccumulator(1, rate, n / rate, n, [50.0, 99.0])
    acc.t_start = T0
    for i in range(n):
        for turn, ttft, session in ((1, first_turn_ms[i], f"{i}"), (2, later_turn_ms[i], f"{i}"),
                                    (1, later_turn_ms[i], f"{i}-1")):       # and a sub-agent
            t = T0 + i / rate + (turn - 1) + (0.5 if "-" in session else 0)
            rec = RequestRecord(1, rate, 0, t, 100, 0, 10, t_send=t, output_tokens=10,
                                session=session, turn=turn)
            rec.t_first = t + ttft / 1000
            rec.t_end = rec.t_first + 0.2
            acc.add(rec)
    acc.t_done = T0 + n / rate + 30
    return acc.stats()


def test_a_session_phase_is_judged_by_its_first_turns_alone():
    """Later turns (and sub-agents) wait for a reply and carry their history: their TTFT may grow
    through a phase on a healthy server. Only the first turns, sent on the schedule, say whether
    the server queued."""
    growing_history = 50 + np.arange(30) * 40.0          # 50 ms → 1.2 s over the phase
    healthy = session_phase(jittery(30), growing_history)
    assert healthy.latency_growth == pytest.approx(1.0, abs=0.4) and not healthy.saturated
    queued = session_phase(queue(30, rate=2.0, capacity=1.5), jittery(30))
    assert queued.saturated and queued.latency_growth > 2, queued.saturation
    # fewer than 15 first turns: no verdict, however the later turns went
    assert session_phase(jittery(12), growing_history[:12]).latency_growth is None
