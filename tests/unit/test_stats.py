"""Per-phase statistics from records: percentiles, rates, goodput, token accuracy."""

import numpy as np
import pytest

from tokenflood_tui.metrics.records import HTTP_ERROR, TIMEOUT, RequestRecord
from tokenflood_tui.specs import Slo
from tokenflood_tui.run.stats import PhaseAccumulator, distribution, phase_warnings


def record(i: int, ttft_s: float, e2e_s: float, out: int = 11, ok: bool = True) -> RequestRecord:
    t = 100.0 + i * 0.1
    rec = RequestRecord(1, 10.0, 0, t, 100, 0, 10, t_send=t + 0.002, prompt_tokens=100,
                        output_tokens=out, cached_tokens=16 if i % 2 else 0)
    rec.t_first, rec.t_end = rec.t_send + ttft_s, rec.t_send + e2e_s
    rec.itl_ms.extend([5.0] * (out - 1))
    if not ok:
        rec.fail(HTTP_ERROR, "HTTP 500", "boom", 500)
    return rec


def test_distribution_matches_numpy():
    values = np.arange(1, 101, dtype=float)
    d = distribution(values, [50, 90, 99])
    assert d.model_dump() == {"mean": 50.5, "p50": 50.5, "p90": pytest.approx(90.1),
                              "p99": pytest.approx(99.01)}
    assert d.at(90) == d["p90"] and d["mean"] == d.mean == 50.5
    assert distribution(np.array([]), [50]).model_dump() == {"mean": None, "p50": None}


def test_phase_stats_from_records():
    acc = PhaseAccumulator(1, 10.0, 10.0, 100, [50, 99], Slo(ttft_ms=60))
    acc.t_start = 100.0
    for i in range(100):
        rec = record(i, ttft_s=0.040 + 0.0002 * i, e2e_s=0.2, ok=(i % 10 != 0))
        acc.add(rec)
    acc.t_done = 110.5
    st = acc.stats()
    assert (st.sent, st.ok, st.failed, st.in_flight) == (100, 90, 10, 0)
    assert st.achieved_rps == pytest.approx(10.0)
    ttfts = np.array([40 + 0.2 * i for i in range(100) if i % 10 != 0])
    assert st.ttft_ms["p50"] == pytest.approx(np.percentile(ttfts, 50))
    assert st.dispatch_delay_ms["mean"] == pytest.approx(2.0)
    assert st.e2e_ms["p99"] == pytest.approx(200.0)
    assert st.scheduled_latency_ms["mean"] == pytest.approx(202.0)
    # TPOT = (e2e - ttft) / (tokens - 1), averaged
    assert st.tpot_ms["mean"] == pytest.approx(np.mean((200 - ttfts) / 10))
    assert st.itl_ms["p50"] == pytest.approx(5.0)
    # goodput: ok and TTFT <= 60 ms, over all finished requests
    assert st.goodput == pytest.approx(sum(1 for t in ttfts if t <= 60) / 100)
    # cached / prompt tokens over the ok requests: the 50 odd ones had 16 of 100 cached
    assert st.cache_hit_rate == pytest.approx(50 * 16 / (90 * 100))
    assert st.output_tokens_mean == 11 and st.output_tokens_target_mean == 10
    assert [(e.status, e.http_status, e.count) for e in st.errors] == [("http_error", 500, 10)]
    assert st.input_tokens == 100 * 100 and st.output_tokens == 100 * 11


def test_token_divergence_warning_above_five_percent():
    acc = PhaseAccumulator(2, 1.0, 10.0, 3, [50])
    acc.t_start = 0.0
    for out in (11, 11, 11):   # target 10: +10%
        acc.add(record(0, 0.01, 0.1, out=out))
    warnings = phase_warnings(acc.stats())
    assert len(warnings) == 1 and "output tokens 11.0" in warnings[0] and "+10.0%" in warnings[0]


def test_client_falling_behind_lowers_the_achieved_rate():
    acc = PhaseAccumulator(1, 80.0, 10.0, 800, [50])
    acc.t_start = 0.0
    for i in range(800):          # the client only manages 34 req/s
        rec = record(0, 0.01, 0.1)
        rec.t_send = i / 34.0
        acc.add(rec)
    acc.t_done = 24.0
    assert acc.stats().achieved_rps == pytest.approx(34.0, rel=0.01)


def test_late_senders_mark_the_phase_client_bound():
    acc = PhaseAccumulator(1, 100.0, 10.0, 100, [50, 99])
    acc.t_start = 0.0
    for i in range(100):
        rec = record(i, 0.05, 0.2)
        rec.t_launch = rec.t_sched + (0.030 if i % 10 == 0 else 0.001)   # 10% leave 30 ms late
        acc.add(rec)
    st = acc.stats()
    assert st.client_bound and st.launch_delay_p99_ms == pytest.approx(30.0, abs=0.5)
    assert "30 ms late" in st.client_bound_reason()


def test_a_saturated_sender_marks_the_phase_client_bound_and_slot_waits_do_not():
    acc = PhaseAccumulator(1, 100.0, 10.0, 10, [50])
    acc.t_start = 0.0
    for i in range(10):
        rec = record(i, 0.05, 0.2)
        rec.t_launch = rec.t_sched + 0.0005
        rec.t_send = rec.t_sched + 2.0      # waited 2 s for a max_concurrency slot: by design
        acc.add(rec)
    assert not acc.stats().client_bound
    acc.client_cpu = 0.97
    acc._final = None
    st = acc.stats()
    assert st.client_bound and st.client_bound_reason() == "worker CPU 97% of a core"


def test_sent_is_the_senders_count_while_running_and_the_rows_once_drained():
    acc = PhaseAccumulator(2, 10.0, 10.0, 100, [50])
    acc.t_start = 0.0
    assert acc.stats(now=1.0).sent == 0
    acc.report_sent(0, 7)
    acc.report_sent(1, 5)
    for i in range(3):
        acc.add(record(i, 0.01, 0.1))
    st = acc.stats(now=1.2)
    assert (st.sent, st.in_flight, st.finished) == (12, 9, False)
    acc.report_sent(0, 9)           # a sender's later report replaces its earlier one
    assert acc.stats(now=1.3).sent == 14
    for i in range(11):
        acc.add(record(i, 0.01, 0.1))
    assert acc.stats(now=1.4).sent == 14        # never fewer than the records that finished
    acc.t_done = 12.0
    st = acc.stats()
    assert (st.sent, st.in_flight, st.finished) == (14, 0, True)


def test_many_failures_are_warned_with_their_kinds():
    acc = PhaseAccumulator(3, 10.0, 10.0, 100, [50])
    acc.t_start = 0.0
    for i in range(100):
        rec = record(i, 0.01, 0.1)
        if i % 10 < 3:                # 31 of 100 fail: 20 HTTP 503, 10 timeouts ... and one more
            rec.fail(HTTP_ERROR, "HTTP 503", "busy", 503) if i % 10 < 2 else rec.fail(
                TIMEOUT, "Timeout", "slow")
        acc.add(rec)
    extra = record(100, 0.01, 0.1)
    extra.fail(HTTP_ERROR, "HTTP 503", "busy", 503)
    acc.add(extra)
    acc.t_done = 11.0
    st = acc.stats()
    assert [(e.label, e.count) for e in st.errors] == [("http_error 503", 21), ("timeout", 10)]
    (warning,) = [w for w in phase_warnings(st) if "failed" in w]
    assert "31% of requests failed (31 of 101: http_error 503 ×21, timeout ×10)" in warning
    assert "only the 70 that succeeded" in warning


def test_a_few_failures_are_not_warned():
    acc = PhaseAccumulator(1, 10.0, 10.0, 100, [50])
    for i in range(100):
        acc.add(record(i, 0.01, 0.1, ok=i >= 5))     # 5%: at the threshold, not above
    assert not [w for w in phase_warnings(acc.stats(now=1.0)) if "failed" in w]


def cached_phase(cached: int, prefix: int = 200, prompt: int = 300) -> PhaseAccumulator:
    acc = PhaseAccumulator(1, 10.0, 10.0, 20, [50])
    for i in range(20):
        rec = record(i, 0.01, 0.1)
        rec.prompt_tokens = rec.prompt_tokens_target = prompt
        rec.prefix_tokens_target, rec.cached_tokens = prefix, cached
        rec.output_tokens_target = rec.output_tokens
        acc.add(rec)
    return acc


def test_cached_tokens_beyond_the_prefix_are_warned():
    st = cached_phase(cached=299).stats(now=1.0)
    assert st.cache_hit_rate == pytest.approx(299 / 300)
    (warning,) = phase_warnings(st, template_tokens=12)
    assert "299 prompt tokens per request from its cache, more than the 212 meant" in warning


def test_cached_tokens_up_to_the_prefix_and_template_are_not_warned():
    # the prefix in 16-token blocks plus the chat template's leading tokens: as intended
    assert phase_warnings(cached_phase(cached=208).stats(now=1.0), template_tokens=12) == []
    assert phase_warnings(cached_phase(cached=0, prefix=0).stats(now=1.0)) == []


def test_a_finished_phase_names_the_worker_that_fell_behind():
    # two workers; w1's requests left 30 ms late and its core was busy, w0's on time
    acc = PhaseAccumulator(1, 10.0, 10.0, 100, [50, 99])
    acc.per_worker = True
    acc.t_start = 100.0
    for i in range(100):
        rec = record(i, ttft_s=0.05, e2e_s=0.2)
        rec.worker = f"w{i % 2}@host-{'ab'[i % 2]}"
        rec.t_launch = rec.t_sched + (0.030 if i % 2 else 0.001)
        acc.add(rec)
    live = acc.stats()
    assert live.workers == []                       # per worker only once the phase is done
    acc.worker_cpu = {"w0@host-a": 0.2, "w1@host-b": 0.95}
    acc.client_cpu = 0.95
    acc.t_done = 110.5
    st = acc.stats()
    assert st.client_bound
    assert [(w.worker, w.sent, w.bound) for w in st.workers] == [("w0@host-a", 50, False),
                                                                ("w1@host-b", 50, True)]
    w0, w1 = st.workers
    assert w0.launch_delay_p99_ms == pytest.approx(1.0) and w0.cpu == 0.2
    assert w1.reason() == "requests left up to 30 ms late (p99), CPU 95% of a core"
    assert sum(w.sent for w in st.workers) == st.sent


def test_one_worker_without_the_engine_asking_keeps_no_per_worker_figures():
    acc = PhaseAccumulator(1, 10.0, 1.0, 10, [50])
    acc.t_start = 100.0
    for i in range(10):
        acc.add(record(i, 0.05, 0.2))
    acc.t_done = 101.5
    assert acc.stats().workers == []
