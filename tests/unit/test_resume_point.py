"""Where a killed session run goes on (run/resume.py): session phases overlap, so the journal may
say a later phase finished while an earlier one was still draining; every phase from the first
unfinished one runs again, and a resume's re-runs make the finishes journaled before it void."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tokenflood_tui.outputs.folder import ResultsFolder
from tokenflood_tui.outputs.journal import PhaseFinished, PhaseStarted, Resumed, RunStarted
from tokenflood_tui.run.resume import find_resume_point
from tokenflood_tui.run.stats import PhaseAccumulator
from tokenflood_tui.specs import EndpointSpec, parse_run_suite

SUITE = ("name: s\nsessions_per_second_rates: [1, 1, 1, 1]\ntest_length_in_seconds: 10\n"
         "session_types:\n- {name: chat, turns: 3, think_seconds: 20}\n")


def killed(root: Path, events: list[tuple[str, int]]) -> Path:
    """A session run's folder whose journal has `events`: ("started", k), ("finished", k) or
    ("resumed", k), in order, and no summary (killed)."""
    suite = parse_run_suite(SUITE)
    endpoint = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    folder = ResultsFolder(root, suite, endpoint, datetime.now().astimezone())
    folder.journal(RunStarted(kind="load_test", at_utc=1000.0, phases=4))
    for i, (what, k) in enumerate(events):
        t = 1000.0 + i
        if what == "started":
            folder.journal(PhaseStarted(phase=k, at_utc=t))
        elif what == "finished":
            stats = PhaseAccumulator(k, 1.0, 10.0, 10, suite.percentiles).stats()
            folder.journal(PhaseFinished(phase=k, at_utc=t, stats=stats))
        else:
            folder.journal(Resumed(at_utc=t, from_phase=k, superseded_rows=0))
    folder.close()
    return folder.path


def test_a_phase_that_finished_while_an_earlier_one_drained_runs_again(tmp_path):
    # phase 2 had a long session: phase 3 started and finished before phase 2 drained
    folder = killed(tmp_path, [("started", 1), ("started", 2), ("finished", 1), ("started", 3),
                               ("finished", 3), ("started", 4)])
    point = find_resume_point(folder)
    assert point.start == 2 and [p.phase for p in point.done] == [1]
    assert point.superseded == {2, 3, 4}
    assert point.outline(0)[-2:] == ["finished       1 of 4 phases",
                                     "goes on at     phase 2 of 4, in full (rows so far kept as "
                                     "superseded)"]


def test_finishes_journaled_before_a_resume_from_their_phase_do_not_count(tmp_path):
    # killed draining phase 2 (3 had finished); the resume re-ran 2 and was killed in 3
    folder = killed(tmp_path, [("started", 1), ("finished", 1), ("started", 2), ("started", 3),
                               ("finished", 3), ("resumed", 2), ("started", 2), ("started", 3),
                               ("finished", 2)])
    point = find_resume_point(folder)
    assert point.start == 3 and [p.phase for p in point.done] == [1, 2]
    assert point.superseded == {3}
