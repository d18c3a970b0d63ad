"""The headless observer's lines for an observation, from canned snapshots (the shapes the
coordinator sends): a line per poll once, missed polls (a resume gap as one line), a poll cut
short by a stop, a resumed run's earlier polls not reported again, and how many lines a long
outage writes."""

from __future__ import annotations

import io

from tokenflood_tui.headless import HeadlessObserver
from tokenflood_tui.run.coordinator import RunSnapshot
from tokenflood_tui.run.events import FailedShare, PhaseStarted, RequestFailed
from tokenflood_tui.run.plan import MissedSlot
from tokenflood_tui.specs import parse_run_suite
from tokenflood_tui.metrics.summary import Distribution, ErrorCount, PhaseStats

ANCHOR = 1_796_126_400.0          # 2026-12-01 12:00:00 UTC
SUITE = parse_run_suite("""\
type: observation
name: watch
duration_hours: 3
polling_interval_minutes: 15
num_requests: 3
within_seconds: 10
load_type: {prompt_length: 64, output_length: 4}
""")


def poll(k: int, ok: int = 3, errors: tuple = (), sent: int = 3, finished: bool = True) -> PhaseStats:
    dist = lambda v: Distribution(mean=v, p50=v, p90=v + 10, p99=v + 20)  # noqa: E731
    none = Distribution(mean=None, p50=None, p90=None, p99=None)
    return PhaseStats(
        phase=k, target_rps=0.3, planned=3, sent=sent, ok=ok,
        failed=sum(n for _, _, n in errors),
        errors=[ErrorCount(status=s, http_status=c, count=n) for s, c, n in errors],
        achieved_rps=None, output_tokens_per_s=None, goodput=None,
        ttft_ms=dist(50.0) if ok else none, e2e_ms=dist(100.0) if ok else none,
        scheduled_latency_ms=none, tpot_ms=none, itl_ms=none, dispatch_delay_ms=none,
        prompt_tokens_mean=None, prompt_tokens_target_mean=None, output_tokens_mean=None,
        output_tokens_target_mean=None, cached_tokens_mean=None, cache_hit_rate=None,
        output_tokens_estimated=False, finished=finished)


def snap(phases, missed=(), stage="waiting", **kw) -> RunSnapshot:
    return RunSnapshot(stage=stage, phase=len(phases), total_phases=SUITE.polls,
                       phases=list(phases), elapsed_s=0.0, remaining_s=0.0, missed=list(missed),
                       ends_utc=ANCHOR + SUITE.polls * SUITE.interval_s, **kw)


def slot(k: int) -> float:
    return ANCHOR + (k - 1) * SUITE.interval_s


def observer(**kw) -> tuple[HeadlessObserver, io.StringIO]:
    out = io.StringIO()
    return HeadlessObserver(out=out, suite=SUITE, **kw), out


def test_each_poll_is_one_line_once_with_the_next_slot():
    obs, out = observer()
    phases = [poll(1)]
    for _ in range(3):                 # a snapshot a second while waiting: still one line
        obs.snapshot(snap(phases))
    phases.append(poll(2, ok=1, errors=(("http_error", 503, 2),)))
    obs.snapshot(snap(phases))
    assert out.getvalue().splitlines() == [
        "[tokenflood] poll 1/12 12:00:00 UTC done: sent 3, ok 3, failed 0 | TTFT p50/p90/p99 "
        "50.0/60.0/70.0 ms | e2e p50/p90/p99 100.0/110.0/120.0 ms | next poll 12:15:00 UTC",
        "[tokenflood] poll 2/12 12:15:00 UTC done: sent 3, ok 1, failed 2 (http_error 503 ×2) | "
        "TTFT p50/p90/p99 50.0/60.0/70.0 ms | e2e p50/p90/p99 100.0/110.0/120.0 ms | next poll "
        "12:30:00 UTC"]


def test_a_running_poll_writes_nothing_until_it_finishes():
    obs, out = observer()
    obs.snapshot(snap([poll(1, ok=1, sent=2, finished=False)], stage="running"))
    assert out.getvalue() == ""
    obs.snapshot(snap([poll(1)]))
    assert out.getvalue().count("\n") == 1 and "poll 1/12 " in out.getvalue()


def test_missed_polls_get_a_line_each_and_a_gap_one_line():
    obs, out = observer()
    reason = "its slot passed before tokenflood was ready"
    obs.snapshot(snap([poll(1)], [MissedSlot(2, slot(2), reason)]))
    gap = [MissedSlot(k, slot(k), "tokenflood was not running") for k in range(3, 9)]
    obs.snapshot(snap([poll(1)], [MissedSlot(2, slot(2), reason), *gap]))
    lines = out.getvalue().splitlines()
    assert lines[1] == (f"[tokenflood] warning: poll 2/12 12:15:00 UTC missed: {reason} | next "
                        "poll 12:30:00 UTC")
    assert lines[2] == ("[tokenflood] warning: polls 3-8/12 12:30:00-13:45:00 UTC missed (6 "
                        "slots): tokenflood was not running | next poll 14:00:00 UTC")
    assert len(lines) == 3


def test_a_poll_cut_short_by_a_stop_says_so_and_the_last_poll_says_it_was_the_last():
    obs, out = observer()
    obs.snapshot(snap([poll(1, ok=1, sent=1)], stage="finished", status="interrupted"))
    assert out.getvalue().startswith("[tokenflood] poll 1/12 12:00:00 UTC stopped: sent 1 of 3, ok 1")
    assert "next poll" not in out.getvalue()
    obs, out = observer()
    obs.snapshot(snap([poll(k) for k in range(1, 13)], stage="finished"))
    assert out.getvalue().splitlines()[-1].endswith("| that was the last poll")


def test_a_resumed_run_does_not_report_the_first_processs_polls_again():
    obs, out = observer(first_poll=4)
    done = [poll(1), poll(2)]
    obs.snapshot(snap(done, [MissedSlot(3, slot(3), "its slot passed")], stage="preparing"))
    assert out.getvalue() == ""
    obs.snapshot(snap([*done, poll(4)]))
    assert out.getvalue().startswith("[tokenflood] poll 4/12 12:45:00 UTC done")


def test_a_long_outage_writes_two_lines_a_poll():
    """Every request of every poll fails for hours: the cause once a poll, the poll line, and not
    the coordinator's per-poll start line or its restatement of the failure share; once for the
    run, that the other failures are counted on the poll lines."""
    obs, out = observer()
    phases = []
    for k in range(1, 13):
        obs.event(PhaseStarted("poll", k, 0.3, 10, 3))
        for _ in range(3):
            obs.event(RequestFailed("poll", k, "connection_error", None, "connection refused"))
        obs.event(FailedShare("poll", k, f"phase {k}: 100% of requests failed (3 of 3: "
                                         "connection_error ×3); its latency figures cover only "
                                         "the 0 that succeeded"))
        phases.append(poll(k, ok=0, errors=(("connection_error", None, 3),)))
        obs.snapshot(snap(phases))
    lines = out.getvalue().splitlines()
    assert len(lines) == 25
    assert lines[0] == "[tokenflood] error: poll 1: connection_error: connection refused"
    assert lines[1] == ("[tokenflood] error: poll 1: only the first failure of each poll is "
                        "shown; the others are counted on its poll line and kept in errors.log")
    assert lines[2].startswith("[tokenflood] poll 1/12 12:00:00 UTC done: sent 3, ok 0, failed 3 "
                               "(connection_error ×3) | TTFT p50/p90/p99 -/-/- ms")
    assert lines[3] == "[tokenflood] error: poll 2: connection_error: connection refused"
    assert lines[4].startswith("[tokenflood] poll 2/12 ")
    assert len(obs.throttle) == 1               # counts one poll at a time: bounded over days


def test_verbose_keeps_every_line_and_a_load_test_keeps_its_progress_lines():
    obs, out = observer(verbose=True)
    obs.event(PhaseStarted("poll", 1, 0.3, 10, 3))
    for _ in range(3):
        obs.event(RequestFailed("poll", 1, "timeout", None, "no first token"))
    assert out.getvalue().count("\n") == 4
    assert out.getvalue().splitlines()[1] == "[tokenflood] error: poll 1: timeout: no first token"
    load = io.StringIO()
    HeadlessObserver(out=load).snapshot(RunSnapshot(
        stage="running", phase=1, total_phases=2, phases=[poll(1, finished=False)],
        elapsed_s=3.0, remaining_s=5.0))
    assert load.getvalue().startswith("[tokenflood] phase 1/2 0.3 req/s ")


def test_a_poll_of_a_reasoning_model_gives_ttfa_beside_ttft():
    obs, out = observer()
    reasoned = poll(1).model_copy(update={
        "reasoning": True, "ttfa_ms": Distribution(mean=2050.0, p50=2050.0, p90=2060.0,
                                                   p99=2070.0)})
    obs.snapshot(snap([reasoned]))
    assert out.getvalue().splitlines() == [
        "[tokenflood] poll 1/12 12:00:00 UTC done: sent 3, ok 3, failed 0 | TTFT p50/p90/p99 "
        "50.0/60.0/70.0 ms | TTFA p50/p90/p99 2050.0/2060.0/2070.0 ms | e2e p50/p90/p99 "
        "100.0/110.0/120.0 ms | next poll 12:15:00 UTC"]
