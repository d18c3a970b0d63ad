"""thresholds: parsing (and its errors at load), checks per phase from the phase's own samples,
the run's results."""

import numpy as np
import pytest

from tokenflood_tui.errors import ConfigError
from tokenflood_tui.metrics.records import HTTP_ERROR, NO_ANSWER, RequestRecord, SessionRecord
from tokenflood_tui.specs import Slo, parse_run_suite
from tokenflood_tui.run.stats import PhaseAccumulator
from tokenflood_tui.metrics.thresholds import failed_line, parse_threshold, threshold_results

SUITE = ("name: d\nrequests_per_second_rates: [2]\ntest_length_in_seconds: 1\nload_types:\n"
         "- {prompt_length: 10, output_length: 2}\n")


@pytest.mark.parametrize("text, normal", [
    ("ttft_ms.p99 < 500", "ttft_ms.p99 < 500"),
    ("e2e_ms.p50<2000", "e2e_ms.p50 < 2000"),
    ("tpot_ms.p90 <= 40", "tpot_ms.p90 <= 40"),
    ("itl_ms.mean < 12.5", "itl_ms.mean < 12.5"),
    ("scheduled_latency_ms.p99.9 < 3e3", "scheduled_latency_ms.p99.9 < 3000"),
    ("ttft_ms.p(95) < 300", "ttft_ms.p95 < 300"),            # k6's spelling
    ("error_rate < 0.01", "error_rate < 0.01"),
    ("goodput > 0.9", "goodput > 0.9"),
    ("achieved_ratio >= 0.99", "achieved_ratio >= 0.99"),
])
def test_thresholds_parse_to_their_normal_form(text, normal):
    assert parse_threshold(text).text == normal


@pytest.mark.parametrize("text, says", [
    ("ttft_ms.p99 << 500", "operator '<<' is not allowed; use <, <=, > or >="),
    ("ttft_ms.p99 == 500", "operator '==' is not allowed"),
    ("ttft.p99 < 500", "unknown metric 'ttft' (did you mean 'ttft_ms'?)"),
    ("ttft_ms < 500", "ttft_ms needs a statistic: ttft_ms.p99, ttft_ms.p50 or ttft_ms.mean"),
    ("ttft_ms.avg < 500", "'avg' is not a statistic; use mean or a percentile"),
    ("ttft_ms.p100 < 500", "percentile 100 is outside (0, 100)"),
    ("ttft_ms.p99 < 500ms", "'500ms' is not a number"),
    ("error_rate.p99 < 0.1", "error_rate is one number per phase and takes no statistic"),
    ("error_rate < 1.5", "error_rate is a share between 0 and 1"),
    ("fast please", "is not a threshold: write METRIC OP NUMBER such as 'ttft_ms.p99 < 500'"),
])
def test_a_bad_threshold_is_a_located_error_saying_what_is_allowed(text, says):
    with pytest.raises(ConfigError) as exc:
        parse_run_suite(SUITE + f"thresholds:\n- error_rate < 0.5\n- '{text}'\n", "run.yml")
    message = str(exc.value)
    assert message.startswith(f"run.yml:8: thresholds[1]: {text!r}")
    assert says in message and "\n" not in message


def test_goodput_needs_an_slo():
    with pytest.raises(ConfigError, match=r"run.yml:6: thresholds\[0\]: 'goodput > 0.9': goodput "
                                          r"is the share of requests within the slo, and this suite "
                                          r"has no slo"):
        parse_run_suite(SUITE + "thresholds: [goodput > 0.9]\n", "run.yml")
    suite = parse_run_suite(SUITE + "slo: {ttft_ms: 100}\nthresholds: [goodput > 0.9]\n")
    assert [t.text for t in suite.threshold_checks] == ["goodput > 0.9"]


def test_thresholds_must_be_a_list_of_strings():
    with pytest.raises(ConfigError, match=r"thresholds\[0\]: Input should be a valid string"):
        parse_run_suite(SUITE + "thresholds: [500]\n", "run.yml")
    with pytest.raises(ConfigError, match=r"run.yml:6: thresholds: Input should be a valid list"):
        parse_run_suite(SUITE + "thresholds: ttft_ms.p99 < 500\n", "run.yml")


def finished_phase(ttfts_ms, failures=0, thresholds=(), slo=None, number=1, output_tokens=11):
    checks = [parse_threshold(t) for t in thresholds]
    n = len(ttfts_ms) + failures
    acc = PhaseAccumulator(number, 10.0, n / 10, n, [50.0], slo, checks)
    acc.t_start = 100.0
    for i in range(n):
        t = 100.0 + i / 10
        rec = RequestRecord(number, 10.0, 0, t, 100, 0, 10, t_send=t, output_tokens=output_tokens)
        if i < len(ttfts_ms):
            rec.t_first, rec.t_end = t + ttfts_ms[i] / 1000, t + ttfts_ms[i] / 1000 + 0.1
            rec.itl_ms.extend([8.0] * (output_tokens - 1))
        else:
            rec.t_end = t + 0.01
            rec.fail(HTTP_ERROR, "HTTP 503", "busy", 503)
        acc.add(rec)
    acc.t_done = 100.0 + n / 10 + 1
    return acc.stats()


def test_checks_per_phase_use_any_percentile_of_the_phases_own_samples():
    ttfts = np.arange(1, 101, dtype=float) * 5          # 5 .. 500 ms
    st = finished_phase(ttfts, failures=2, slo=Slo(ttft_ms=250), thresholds=[
        "ttft_ms.p95 < 480", "ttft_ms.p95 < 470", "ttft_ms.mean <= 252.5", "itl_ms.p50 < 8",
        "error_rate < 0.05", "error_rate < 0.01", "goodput > 0.45", "achieved_ratio > 0.99"])
    got = {c.threshold: (c.value, c.passed) for c in st.thresholds}
    p95 = float(np.percentile(ttfts, 95))                # not one of the suite's percentiles
    assert got == {
        "ttft_ms.p95 < 480": (pytest.approx(p95), True),
        "ttft_ms.p95 < 470": (pytest.approx(p95), False),
        "ttft_ms.mean <= 252.5": (pytest.approx(252.5), True),
        "itl_ms.p50 < 8": (8.0, False),
        "error_rate < 0.05": (pytest.approx(2 / 102), True),
        "error_rate < 0.01": (pytest.approx(2 / 102), False),
        "goodput > 0.45": (pytest.approx(50 / 102), True),
        "achieved_ratio > 0.99": (pytest.approx(1.0), True),
    }


def test_a_phase_without_a_value_fails_and_says_why():
    st = finished_phase([], failures=5, thresholds=["ttft_ms.p99 < 500", "error_rate < 0.5"])
    by = {c.threshold: c for c in st.thresholds}
    assert by["ttft_ms.p99 < 500"].value is None and not by["ttft_ms.p99 < 500"].passed
    assert by["ttft_ms.p99 < 500"].reason == "no request succeeded"
    assert (by["error_rate < 0.5"].value, by["error_rate < 0.5"].passed) == (1.0, False)
    one_token = finished_phase([50.0] * 3, thresholds=["tpot_ms.p50 < 10"], output_tokens=1)
    (check,) = one_token.thresholds
    assert not check.passed and check.reason == (
        "none of the 3 ok requests has a tpot_ms value (TPOT needs two or more output tokens)")
    assert failed_line("phase", 1, check) == (
        "phase 1: threshold tpot_ms.p50 < 10 failed: no value (none of the 3 ok requests has a "
        "tpot_ms value (TPOT needs two or more output tokens))")


def test_run_results_gather_each_threshold_over_its_phases():
    texts = ["ttft_ms.p50 < 100", "error_rate < 0.1"]
    phases = [finished_phase([50.0] * 20, thresholds=texts, number=1),
              finished_phase([300.0] * 20, failures=1, thresholds=texts, number=2)]
    results = threshold_results([parse_threshold(t) for t in texts], phases)
    assert [(r.threshold, r.passed, [(p.phase, p.passed) for p in r.phases]) for r in results] == [
        ("ttft_ms.p50 < 100", False, [(1, True), (2, False)]),
        ("error_rate < 0.1", True, [(1, True), (2, True)])]
    assert results[0].phases[1].value == pytest.approx(300.0)
    # a threshold no phase was checked against (e.g. every poll missed) has not passed
    (none,) = threshold_results([parse_threshold("ttft_ms.p50 < 100")], [])
    assert none.passed is False and none.phases == []
    assert failed_line("poll", 2, phases[1].thresholds[0]) == (
        "poll 2: threshold ttft_ms.p50 < 100 failed: 300.0")


# -- session thresholds ------------------------------------------------------------------------

SESSION_SUITE = ("name: s\nsessions_per_second_rates: [1]\ntest_length_in_seconds: 10\n"
                 "session_types:\n- {name: chat, turns: 3, think_seconds: 1}\n")


@pytest.mark.parametrize("text, normal", [
    ("session_duration_s.p90 < 120", "session_duration_s.p90 < 120"),
    ("session_slowdown.p50<2", "session_slowdown.p50 < 2"),
    ("sessions_completed >= 0.99", "sessions_completed >= 0.99"),
    ("cache_hit > 0.8", "cache_hit > 0.8"),
    ("cache_hit.turn2+ > 0.9", "cache_hit.turn2+ > 0.9"),
    ("ttft_ms.turn1.p90 < 800", "ttft_ms.turn1.p90 < 800"),
    ("ttft_ms.turn2+.p90 < 500", "ttft_ms.turn2+.p90 < 500"),
    ("ttft_ms.turns2+.p(90) < 500", "ttft_ms.turn2+.p90 < 500"),      # 'turns' reads well too
    ("e2e_ms.turn2-4.mean < 3e3", "e2e_ms.turn2-4.mean < 3000"),
    ("e2e_ms.turn3-3.p50 < 100", "e2e_ms.turn3.p50 < 100"),
])
def test_session_thresholds_parse_to_their_normal_form(text, normal):
    threshold = parse_threshold(text)
    assert threshold.text == normal and threshold.sessions
    assert parse_run_suite(SESSION_SUITE + f"thresholds: ['{text}']\n").threshold_checks == [
        threshold]


@pytest.mark.parametrize("text, says", [
    ("ttft_ms.p90.turn2+ < 500", "the turns go before the statistic: ttft_ms.turn2+.p90"),
    ("tpot_ms.turn2.p50 < 10", "tpot_ms is not measured by turn; a turn selection (turn2) goes "
                               "with ttft_ms, e2e_ms, cache_hit"),
    ("ttft_ms.turn0.p50 < 10", "'turn0' selects no turn; turns count from 1"),
    ("ttft_ms.turn4-2.p50 < 10", "'turn4-2' selects no turn"),
    ("ttft_ms.turnlast.p50 < 10", "'turnlast' is not a selection of turns; write turn1 (the "
                                  "first), turn2+ (the second and later) or turn2-4"),
    ("ttft_ms.turn2+ < 500", "ttft_ms needs a statistic: ttft_ms.turn2+.p99"),
    ("cache_hit.turn2+.p50 > 0.5", "cache_hit is one number per phase and takes no statistic "
                                   "(write 'cache_hit.turn2+ > 0.5')"),
    ("cache_hit > 90", "cache_hit is a share between 0 and 1"),
    ("session_duration_s < 120", "session_duration_s needs a statistic"),
    ("session_duration.p90 < 120", "unknown metric 'session_duration' (did you mean "
                                   "'session_duration_s'?)"),
])
def test_a_bad_session_threshold_is_a_located_error(text, says):
    with pytest.raises(ConfigError) as exc:
        parse_run_suite(SESSION_SUITE + f"thresholds:\n- '{text}'\n", "run.yml")
    message = str(exc.value)
    assert message.startswith(f"run.yml:7: thresholds[0]: {text!r}") and says in message
    assert "\n" not in message


@pytest.mark.parametrize("text, says", [
    ("session_duration_s.p90 < 120", "session_duration_s is measured on sessions, and this "
                                     "suite sends single requests: give session_types"),
    ("cache_hit > 0.5", "cache_hit is measured on sessions"),
    ("sessions_completed > 0.9", "sessions_completed is measured on sessions"),
    ("ttft_ms.turn2+.p90 < 500", "turn2+ selects turns of sessions, and this suite sends single "
                                 "requests"),
])
def test_a_session_threshold_in_a_suite_without_sessions_is_a_located_error(text, says):
    with pytest.raises(ConfigError) as exc:
        parse_run_suite(SUITE + f"thresholds:\n- ttft_ms.p99 < 500\n- '{text}'\n", "run.yml")
    assert str(exc.value).startswith(f"run.yml:8: thresholds[1]: {text!r}: {says}")
    observation = ("type: observation\nname: o\nduration_hours: 1\npolling_interval_minutes: 10\n"
                   "num_requests: 2\nwithin_seconds: 5\nload_type: {prompt_length: 10, "
                   "output_length: 2}\n")
    with pytest.raises(ConfigError, match="is measured on sessions|selects turns of sessions"):
        parse_run_suite(observation + f"thresholds: ['{text}']\n", "obs.yml")


def finished_session_phase(thresholds, ramp_s=0.0):
    """A session phase of 4 sessions × 3 turns: turn k's TTFT is 100·k ms (+ the session's
    index), turn 1 sees no cache, later turns 80% of their history; sessions last 10..13 s;
    session 3 ends with an error on its third turn."""
    acc = PhaseAccumulator(1, 1.0, 10.0, 4, [50.0], None,
                           [parse_threshold(t) for t in thresholds])
    acc.t_start = 100.0
    acc.start_sessions(np.array([100.0, 101.0, 102.0, 103.0]), ramp_s)
    for i in range(4):
        t0 = 100.0 + i
        for turn in (1, 2, 3):
            t = t0 + 4 * (turn - 1)
            history = 50 * turn
            rec = RequestRecord(1, 1.0, 0, t, history + 20, history, 10, t_send=t,
                                output_tokens=10, prompt_tokens=history + 20,
                                cached_tokens=0 if turn == 1 else int(0.8 * history),
                                session=str(i), turn=turn, step="user",
                                context_tokens_target=history)
            rec.t_first, rec.t_end = t + (100 * turn + i) / 1000, t + 0.5
            if i == 3 and turn == 3:
                rec.fail(HTTP_ERROR, "HTTP 503", "busy", 503)
            acc.add(rec)
        end = "error" if i == 3 else "completed"
        acc.add_session(SessionRecord(str(i), "", 1, 0, t0, t0 + 10 + i, 3, 3 - (i == 3), end,
                                      wait_s=8.0, ideal_service_s=0.5 * (3 - (i == 3))))
    acc.t_done = 120.0
    return acc.stats()


def test_session_thresholds_are_checked_from_the_phases_sessions_and_turns():
    st = finished_session_phase([
        "ttft_ms.turn1.p50 < 102", "ttft_ms.turn2+.mean < 250", "ttft_ms.turn3.p50 < 300",
        "e2e_ms.turn2-3.p99 <= 500", "ttft_ms.p50 < 200", "cache_hit.turn2+ > 0.79",
        "cache_hit.turn1 > 0.5", "cache_hit > 0.7", "session_duration_s.p50 < 11.5",
        "session_duration_s.mean <= 11.5", "session_slowdown.p50 < 1.1",
        "sessions_completed > 0.8", "error_rate < 0.1"])
    got = {c.threshold: (c.value, c.passed) for c in st.thresholds}
    later = [200.0, 201, 202, 203, 300, 301, 302]         # session 3's third turn failed
    assert got == {
        "ttft_ms.turn1.p50 < 102": (pytest.approx(101.5), True),
        "ttft_ms.turn2+.mean < 250": (pytest.approx(np.mean(later)), True),
        "ttft_ms.turn3.p50 < 300": (pytest.approx(301.0), False),
        "e2e_ms.turn2-3.p99 <= 500": (pytest.approx(500.0), True),
        "ttft_ms.p50 < 200": (pytest.approx(201.0), False),     # every turn
        "cache_hit.turn2+ > 0.79": (pytest.approx(0.8), True),
        "cache_hit.turn1 > 0.5": (0.0, False),
        # over every ok request: (0·4·50 + 0.8·100·4 + 0.8·150·3) / (50·4 + 100·4 + 150·3)
        "cache_hit > 0.7": (pytest.approx((320 + 360) / (200 + 400 + 450)), False),
        "session_duration_s.p50 < 11.5": (pytest.approx(11.5), False),
        "session_duration_s.mean <= 11.5": (pytest.approx(11.5), True),
        # completed sessions only: 10/9.5, 11/9.5, 12/9.5
        "session_slowdown.p50 < 1.1": (pytest.approx(11 / 9.5), False),
        "sessions_completed > 0.8": (pytest.approx(0.75), False),
        "error_rate < 0.1": (pytest.approx(1 / 12), True),
    }


def test_a_session_threshold_without_a_value_fails_and_says_why():
    # a ramp that covers every request: nothing left to judge by turn
    st = finished_session_phase(["ttft_ms.turn2+.p90 < 500", "cache_hit.turn2+ > 0.5",
                                 "ttft_ms.turn4+.p50 < 500"], ramp_s=60.0)
    by = {c.threshold: c for c in st.thresholds}
    assert by["ttft_ms.turn2+.p90 < 500"].reason == "no request of turns 2+ succeeded"
    assert by["cache_hit.turn2+ > 0.5"].reason == (
        "no ok request of turns 2+ reported cached tokens against an expected history")
    assert not any(c.passed for c in st.thresholds)
    st = finished_session_phase(["ttft_ms.turn4+.p50 < 500", "e2e_ms.turn3.p50 < 900"])
    by = {c.threshold: c for c in st.thresholds}
    assert by["ttft_ms.turn4+.p50 < 500"].reason == "no request of turns 4+ succeeded"
    assert by["e2e_ms.turn3.p50 < 900"].passed


def test_ttfa_thresholds_and_slo_read_the_first_answer_token_after_the_reasoning():
    """A reasoning model: first token at 50 ms, answer 2 s later; replies that never answer
    count as failures (no_answer), and are never good."""
    acc = PhaseAccumulator(1, 10.0, 1.0, 10, [50.0], Slo(ttfa_ms=2100),
                           [parse_threshold("ttfa_ms.p99 < 2000"),
                            parse_threshold("ttfa_ms.p99 < 2100"),
                            parse_threshold("reasoning_ms.p50 <= 2000")])
    acc.t_start = 100.0
    for i in range(10):
        t = 100.0 + i / 10
        rec = RequestRecord(1, 10.0, 0, t, 100, 0, 10, t_send=t)
        for k in range(200):                                  # reasoning every 10 ms
            rec.stamp_chunk(t + 0.05 + k * 0.01, None, "hm")
        if i < 8:
            rec.stamp_chunk(t + 2.05, "yes", None)
        rec.stamp_end(t + 2.1, {"prompt_tokens": 100, "completion_tokens": 201 if i < 8 else 200})
        acc.add(rec)
    acc.t_done = 103.0
    st = acc.stats()
    assert [(e.status, e.count) for e in st.errors] == [(NO_ANSWER, 2)]
    got = {c.threshold: (c.value, c.passed) for c in st.thresholds}
    assert got == {"ttfa_ms.p99 < 2000": (pytest.approx(2050.0), False),
                   "ttfa_ms.p99 < 2100": (pytest.approx(2050.0), True),
                   "reasoning_ms.p50 <= 2000": (pytest.approx(2000.0), True)}
    assert st.goodput == pytest.approx(0.8)                   # the 8 that answered in time
    assert Slo(ttfa_ms={"p99": 2000}).text() == "TTFA p99 ≤ 2000 ms"
