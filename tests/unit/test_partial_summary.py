"""The summary of a run that wrote none (run/partial.py), from what a real ResultsFolder left on
disk: the finished phases' statistics as journaled, the unfinished one's from its rows (the same
figures the run would have counted for those rows), marked partial and unfinished."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from tokenflood_tui.metrics.records import HTTP_ERROR, RequestRecord
from tokenflood_tui.outputs import printed
from tokenflood_tui.outputs.folder import ResultsFolder, read_rows, record_from_row
from tokenflood_tui.outputs.journal import PhaseFinished, PhaseStarted, RunStarted
from tokenflood_tui.run.partial import load_summary
from tokenflood_tui.run.stats import PhaseAccumulator
from tokenflood_tui.specs import EndpointSpec, parse_run_suite

ENDPOINT = EndpointSpec(provider="hosted_vllm", model="sim-model",
                        base_url="http://127.0.0.1:9/v1")
OBSERVATION = """\
type: observation
name: watch
duration_hours: 1
polling_interval_minutes: 10
num_requests: 4
within_seconds: 10
load_type: {prompt_length: 64, output_length: 4}
"""


def record(phase: int, t: float, ttft_s: float, failed: bool = False) -> RequestRecord:
    rec = RequestRecord(phase=phase, target_rps=0.4, load_type=0, t_sched=t,
                        prompt_tokens_target=64, prefix_tokens_target=0, output_tokens_target=4,
                        seq=int(t * 10), t_send=t + 0.001, worker="local")
    if failed:
        rec.fail(HTTP_ERROR, "HTTP 503", "HTTP 503: busy", 503)
    else:
        for i in range(4):
            rec.stamp_chunk(t + 0.001 + ttft_s + 0.01 * i, "x")
    rec.stamp_end(t + 0.001 + ttft_s + 0.04,
                  None if failed else {"prompt_tokens": 64, "completion_tokens": 4})
    return rec


def killed_in_poll_2(root: Path) -> tuple[Path, list[RequestRecord]]:
    """An observation killed in its second poll: poll 1 journaled, two rows of poll 2."""
    suite = parse_run_suite(OBSERVATION)
    anchor = time.time() - 700
    folder = ResultsFolder(root, suite, ENDPOINT, datetime.fromtimestamp(anchor).astimezone())
    folder.set_origin(1000.0, anchor)
    folder.journal(RunStarted(kind="observation", at_utc=anchor, phases=suite.polls,
                              anchor_utc=anchor, started_at="2026-12-01T10:00:00+00:00"))
    first = PhaseAccumulator(1, 0.4, 10.0, 4, suite.percentiles)
    first.t_start = 1000.0
    for i in range(4):
        rec = record(1, 1000.0 + 2 * i, 0.05)
        first.add(rec)
        folder.write_record(rec)
    first.t_done = 1010.0
    folder.journal(PhaseStarted(phase=1, at_utc=anchor))
    folder.journal(PhaseFinished(phase=1, at_utc=anchor + 10, stats=first.stats()))
    folder.journal(PhaseStarted(phase=2, at_utc=anchor + 600))
    cut = [record(2, 1600.0, 0.08), record(2, 1602.5, 0.0, failed=True)]
    for rec in cut:
        folder.write_record(rec)
    folder.close()
    return folder.path, cut


def test_a_killed_observation_has_its_journaled_poll_and_the_unfinished_one_from_its_rows(
        tmp_path):
    path, cut = killed_in_poll_2(tmp_path)
    s = load_summary(path)
    assert s.partial and s.status == "interrupted" and s.type == "observation"
    assert [(p.phase, p.sent, p.ok, p.failed, p.finished) for p in s.polls] == [
        (1, 4, 4, 0, True), (2, 2, 1, 1, False)]
    unfinished = s.polls[1]
    # its one ok request's TTFT, to the microsecond the row keeps
    assert unfinished.planned == 4 and abs(unfinished.ttft_ms["p50"] - cut[0].ttft_ms) < 0.002
    assert unfinished.itl_ms["p50"] is None           # a row keeps only the gaps' mean
    assert f"poll 2 unfinished, 2 rows; to go on: tokenflood resume {path}" in s.message
    assert s.budget.actual_input_tokens == 5 * 64
    assert not (path / "summary.json").exists()
    lines = printed.text(s, path, 80).splitlines()
    row = next(line for line in lines if line.split()[:1] == ["2"])
    assert row.split()[2:6] == ["unfinished", "2", "1", "1"]


def test_a_row_reads_back_as_the_record_it_was_written_from(tmp_path):
    path, cut = killed_in_poll_2(tmp_path)
    back = [record_from_row(r) for r in read_rows(path) if r["phase"] == "2"]
    for was, now in zip(cut, back, strict=True):
        assert (now.status, now.http_status, now.output_tokens, now.prompt_tokens) == \
            (was.status, was.http_status, was.output_tokens, was.prompt_tokens)
        for metric in ("ttft_ms", "e2e_ms", "tpot_ms", "scheduled_latency_ms"):
            a, b = getattr(was, metric), getattr(now, metric)
            assert (a is None and b is None) or abs(a - b) < 0.002, metric
