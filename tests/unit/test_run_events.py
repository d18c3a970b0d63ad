"""Run events: the one wording of each (the lines both front ends show), what an event is about,
scrubbing, and the failure throttle every front end shares (lines shown, the one 'counted' line,
memory bounded over a days-long observation)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from tokenflood_tui.live.throttle import LINES_PER_KIND, FailureThrottle
from tokenflood_tui.metrics.summary import PhaseCheck
from tokenflood_tui.run.events import (FailedShare, FailuresCounted, FolderOpened, Note,
                                       PhaseStarted, PollMissed, RequestFailed, Resuming,
                                       RunEvent, RunWarning, SearchVerdict, ServerBusy,
                                       ThrottleStop,
                                       ServerMetricsOff, ThresholdFailed,
                                       TurnStarted, VariantEnded, VariantEvent, describe, map_text,
                                       subject)

FAILED = RequestFailed("phase", 2, "http_error", 503, "HTTP 503: Service Unavailable")
# Every event type with how it reads; the lines are those the run logged before it had events.
WORDED: list[tuple[RunEvent, str, str]] = [
    (PhaseStarted("phase", 2, 10, 8, 80), "info", "phase 2: 10 req/s for 8 s (80 requests)"),
    (PhaseStarted("phase", 1, 0.5, 60, 214, 30), "info",
     "phase 1: 0.5 sessions/s for 60 s (30 sessions, at most 214 requests)"),
    (PollMissed(13, "its slot passed while the previous poll ran"), "warning",
     "poll 13 missed: its slot passed while the previous poll ran"),
    (FAILED, "error", "phase 2: http_error: HTTP 503: Service Unavailable"),
    (RunWarning("the endpoint reports no usage.prompt_tokens"), "warning",
     "the endpoint reports no usage.prompt_tokens"),
    (FailedShare("poll", 3, "phase 3: 100% of requests failed (3 of 3: timeout ×3)"), "warning",
     "phase 3: 100% of requests failed (3 of 3: timeout ×3)"),
    (ThresholdFailed("poll", 2, PhaseCheck(threshold="ttft_ms.p99 < 500", value=3512.0,
                                           passed=False)),
     "warning", "poll 2: threshold ttft_ms.p99 < 500 failed: 3,512.0"),
    (SearchVerdict(3, 8, True, "TTFT p99 240 ms ≤ 500", 16), "info",
     "search phase 3: 8 req/s meets the SLO (TTFT p99 240 ms ≤ 500); next 16 req/s"),
    (TurnStarted(3, 8, "b", 2, 2, 5), "info", "turn 3/8: b, round 2/2 at 5 req/s"),
    (VariantEnded("b", "error limit"), "error",
     "b ended early (error limit); stopping the other variants"),
    (FolderOpened(Path("results/2026-01-01_run")), "info", "results folder: results/2026-01-01_run"),
    (Resuming("2026-01-01_obs", "poll", 4), "info", "resuming 2026-01-01_obs at poll 4"),
    (FailuresCounted("phase", 2, "http_error", "on the progress line"), "error",
     "phase 2: http_error: further failures of this kind are counted on the progress line and "
     "kept in errors.log"),
    (Note("info", "sending from 2 worker process(es)"), "info", "sending from 2 worker process(es)"),
    (ThrottleStop("phase", 2, "quota_exhausted", "add credit", "HTTP 429: quota"), "error",
     "phase 2: the provider refused a request: quota_exhausted (HTTP 429: quota); the run "
     "stopped and kept what it measured: add credit"),
    (ServerBusy(2, 1), "warning", "the server was busy before the first request (2 running, 1 "
                                  "waiting): someone else's load is in its metrics and in these "
                                  "latencies"),
    (ServerMetricsOff("server metrics off: why"), "info", "server metrics off: why"),
    (VariantEvent("b", FAILED), "error", "b: phase 2: http_error: HTTP 503: Service Unavailable"),
]


@pytest.mark.parametrize("event,level,text", WORDED)
def test_each_event_is_worded_once(event, level, text):
    assert describe(event) == (level, text)


def test_every_event_type_has_its_wording_checked():
    assert {type(e) for e, _, _ in WORDED} == set(get_args(RunEvent))


def test_the_wordings_that_depend_on_fields():
    assert describe(RequestFailed("poll", 7, "timeout", None, None)) == ("error", "poll 7: timeout")
    assert describe(SearchVerdict(4, 12, False, "TTFT p99 900 ms > 500", None,
                                  "max_phases (4) reached")) == (
        "info", "search phase 4: 12 req/s fails the SLO (TTFT p99 900 ms > 500); done: "
                "max_phases (4) reached")
    assert describe(ThresholdFailed("phase", 1, PhaseCheck(
        threshold="error_rate < 0.01", value=None, passed=False, reason="no request finished"))) \
        == ("warning", "phase 1: threshold error_rate < 0.01 failed: no value (no request finished)")
    assert describe(Resuming("f", "phase", 3, superseded=12))[1] == (
        "resuming f at phase 3; 12 row(s) of a half-done phase kept, marked superseded")
    assert describe(FailuresCounted("poll", 9, None, None)) == (
        "error", "poll 9: only the first failure of each poll is shown; the others are kept in "
                 "errors.log")
    assert describe(Note("error", "could not write summary.md"))[0] == "error"


def test_what_an_event_is_about():
    assert subject(FAILED) == ("phase", 2)
    assert subject(VariantEvent("a", PollMissed(5, "x"))) == ("poll", 5)
    assert subject(SearchVerdict(3, 8, True, "", 16)) == ("phase", 3)
    assert subject(RunWarning("poll 4 started late", "poll", 4)) == ("poll", 4)
    assert subject(RunWarning("no usage")) is None
    assert subject(TurnStarted(1, 2, "a", 1, 1, 5)) is None


def test_map_text_reaches_every_text_also_inside_a_variants_event():
    secret = VariantEvent("a", RequestFailed("phase", 1, "http_error", 401, "key sk-1 refused"))
    scrubbed = map_text(secret, lambda s: s.replace("sk-1", "***"))
    assert scrubbed == VariantEvent("a", RequestFailed("phase", 1, "http_error", 401,
                                                       "key *** refused"))
    assert map_text(PhaseStarted("poll", 1, 0.3, 10, 3), str.upper) == PhaseStarted(
        "poll", 1, 0.3, 10, 3)                 # no free text: unchanged


# ---------------------------------------------------------------------- the failure throttle

def failures(unit, number, kind, n, variant=None):
    ev = RequestFailed(unit, number, kind, None, "boom")
    return [ev if variant is None else VariantEvent(variant, ev)] * n


def shown(throttle, events):
    return [s for ev in events if (s := throttle.admit(ev)) is not None]


def test_a_phase_shows_five_failures_of_each_kind_then_says_once_where_the_rest_are_counted():
    throttle = FailureThrottle("on the progress line")
    out = shown(throttle, failures("phase", 2, "http_error", 40) + failures("phase", 2, "timeout", 3)
                + failures("phase", 2, "http_error", 10))
    assert LINES_PER_KIND == 5
    assert out == (failures("phase", 2, "http_error", 5)
                   + [FailuresCounted("phase", 2, "http_error", "on the progress line")]
                   + failures("phase", 2, "timeout", 3))
    # the next phase starts afresh, and forgets the previous one's counts
    assert shown(throttle, failures("phase", 3, "http_error", 7)) == (
        failures("phase", 3, "http_error", 5)
        + [FailuresCounted("phase", 3, "http_error", "on the progress line")])
    assert len(throttle) == 1


def test_variants_are_counted_apart_while_their_turns_interleave():
    throttle = FailureThrottle("in the turns table")
    events = (failures("phase", 1, "timeout", 4, "a") + failures("phase", 1, "timeout", 4, "b")
              + failures("phase", 1, "timeout", 4, "a"))
    out = shown(throttle, events)
    assert out == (failures("phase", 1, "timeout", 4, "a") + failures("phase", 1, "timeout", 4, "b")
                   + failures("phase", 1, "timeout", 1, "a")
                   + [VariantEvent("a", FailuresCounted("phase", 1, "timeout",
                                                        "in the turns table"))])
    assert describe(out[-1])[1].startswith("a: phase 1: timeout: further failures of this kind")


def test_a_days_long_outage_shows_one_failure_a_poll_and_keeps_one_count():
    throttle = FailureThrottle(polls_counted="on its poll line")
    lines = 0
    for poll in range(1, 2001):               # three kinds fail in every poll
        for kind in ("connection_error", "timeout", "http_error"):
            lines += len(shown(throttle, failures("poll", poll, kind, 2)))
        assert len(throttle) == 1             # only the current poll's count
    # a line per poll (its first failure) and, once for the run, where the others are counted
    assert lines == 2000 + 1


def test_verbose_shows_every_failure_and_other_events_pass_unchanged():
    verbose = FailureThrottle(verbose=True)
    assert shown(verbose, failures("phase", 1, "timeout", 9)) == failures("phase", 1, "timeout", 9)
    quiet = FailureThrottle()
    for ev, _, _ in WORDED:
        if not isinstance(ev, RequestFailed | VariantEvent):
            assert quiet.admit(ev) is ev
    assert describe(shown(FailureThrottle(), failures("phase", 1, "timeout", 6))[-1])[1] == (
        "phase 1: timeout: further failures of this kind are kept in errors.log")
