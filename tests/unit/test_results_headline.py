"""The headline figure the home screen shows for each results folder, so a user finds the runs
to compare: TTFT p50 at the highest rate (load test), the median of the polls' TTFT p50
(observation)."""

from __future__ import annotations

import statistics
from datetime import datetime
from pathlib import Path

from tokenflood_tui.metrics.summary import Distribution, RunSummary
from tokenflood_tui.workspace import find_results, headline

from support.observations import OBSERVATION, long_polls, long_summary, poll

PAST_RUNS = Path(__file__).parents[1] / "tui" / "fixtures" / "workspace" / "past-runs"


def load_test() -> RunSummary:
    (folder,) = PAST_RUNS.iterdir()
    return RunSummary.load(folder)


def test_a_load_test_shows_ttft_p50_at_its_highest_rate():
    s = load_test()
    top = max(s.phases, key=lambda ph: ph.target_rps)
    assert len(s.phases) > 1 and top is not s.phases[0]
    assert headline(s) == f"TTFT p50 {top.ttft_ms.at(50):.0f} ms @ {top.target_rps:g} req/s"
    (entry,) = find_results(PAST_RUNS)
    assert entry.headline == headline(s)


def test_the_highest_rate_with_ok_requests_and_the_suites_own_percentile():
    s = load_test()
    phases = sorted(s.phases, key=lambda ph: ph.target_rps)
    # the highest rate failed throughout: the next one down is shown, with its rate
    failed = phases[-1].model_copy(update={"ttft_ms": Distribution()})
    s2 = s.model_copy(update={"phases": phases[:-1] + [failed]})
    below = phases[-2]
    assert headline(s2) == f"TTFT p50 {below.ttft_ms.at(50):.0f} ms @ {below.target_rps:g} req/s"
    # a suite without p50 shows its first percentile
    s3 = s.model_copy(update={"percentiles": [90.0, 99.0]})
    assert headline(s3) == f"TTFT p90 {phases[-1].ttft_ms.at(90):.0f} ms @ " \
        f"{phases[-1].target_rps:g} req/s"
    # nothing ok anywhere
    none = [ph.model_copy(update={"ttft_ms": Distribution()}) for ph in s.phases]
    assert headline(s.model_copy(update={"phases": none})) == "no ok requests"


def test_two_phases_at_the_same_top_rate_show_the_last():
    s = load_test()
    top = max(s.phases, key=lambda ph: ph.target_rps)
    again = top.model_copy(update={"phase": top.phase + 1,
                                   "ttft_ms": Distribution(p50=top.ttft_ms.at(50) + 40)})
    s2 = s.model_copy(update={"phases": s.phases + [again]})
    assert headline(s2) == f"TTFT p50 {top.ttft_ms.at(50) + 40:.0f} ms @ {top.target_rps:g} req/s"


def test_an_observation_shows_the_median_of_its_polls():
    s = RunSummary.load(OBSERVATION)
    values = [p.ttft_ms.at(50) for p in s.polls if not p.missed and p.ttft_ms.at(50) is not None]
    assert 1 < len(values) < len(s.polls)           # missed polls and a failed one left out
    assert headline(s) == f"TTFT p50 {statistics.median(values):.0f} ms, median of " \
        f"{len(values)} polls"
    # three days of polls: one very slow last poll moves neither the figure nor its count much
    polls = long_polls()
    slow_last = polls[:-1] + [poll(len(polls), slot_of(polls[-1]), 5000.0)]
    ran = [p.ttft_ms.at(50) for p in slow_last if p.ttft_ms.at(50) is not None]
    assert headline(long_summary(slow_last)) == \
        f"TTFT p50 {statistics.median(ran):.0f} ms, median of {len(ran)} polls"
    assert statistics.median(ran) < 400
    # not one ok request
    empty = [poll(k, slot_of(p), None) for k, p in enumerate(polls[:3], start=1)]
    assert headline(long_summary(empty)) == "no ok requests"


def slot_of(p) -> datetime:
    return datetime.fromisoformat(p.slot_utc.replace("Z", "+00:00"))
