"""summary.md (report.markdown) and the table printed after a run (headless.print_summary) for an
observation: what ran, its polls, hours of day, missed polls, failures and resumes, with the
figures of summary.json; a load test's summary.md lists its resumes too."""

from __future__ import annotations

import csv
import io

from tokenflood_tui.outputs import report
from tokenflood_tui.headless import print_summary
from tokenflood_tui.outputs.folder import write_polls_csv
from tokenflood_tui.run.runner import RunResult
from tokenflood_tui.metrics.summary import ResumeInfo, RunSummary

from support.observations import NOT_RUNNING, OBSERVATION, long_summary

PAST_RUN = OBSERVATION.parents[1] / "workspace" / "past-runs" / "2026-01-02_03-04-05_tmux-demo_sim-model"


def section(md: str, title: str) -> str:
    """The text under a `## title` heading, up to the next one."""
    return md.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def table(text: str) -> list[list[str]]:
    """The body rows of the first pipe table in `text`, cells stripped."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    rows = lines[start:end]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]


def test_summary_md_of_an_observation_says_what_ran_and_has_polls_hours_missed_and_resumes():
    s = RunSummary.load(OBSERVATION)
    md = report.markdown(s)
    assert md.startswith("# tokenflood observation `watch-sim` — completed\n")
    assert ("- observation: 6 polls, one every 6 s, over 36 s; 3 requests per poll spread over "
            "2 s; slots aligned to whole multiples of the interval (UTC)") in md
    assert ("- polls: 4 ran, 2 missed (6 of 6 recorded); requests: 12 sent, 9 ok, 3 failed"
            in md)
    assert "- slots: 2026-12-01 13:52:06 to 2026-12-01 13:52:36 UTC" in md
    polls = table(section(md, "Polls"))
    # poll, slot, status, sent, ok, failed, TTFT p50/p90/p99, e2e p50/p90/p99, out tok/s, why
    assert polls == [
        ["1", "2026-12-01 13:52:06", "ok", "3", "3", "0", "41.0", "42.1", "42.4", "62.2", "63.1",
         "63.3", "17.2", ""],
        ["2", "2026-12-01 13:52:12", "all failed", "3", "0", "3"] + ["-"] * 7 + [""],
        ["3", "2026-12-01 13:52:18", "ok", "3", "3", "0", "42.7", "43.1", "43.2", "63.6", "63.7",
         "63.8", "17.2", ""],
        ["4", "2026-12-01 13:52:24", "missed", "0", "0", "0"] + ["-"] * 7 + [NOT_RUNNING],
        ["5", "2026-12-01 13:52:30", "missed", "0", "0", "0"] + ["-"] * 7 + [NOT_RUNNING],
        ["6", "2026-12-01 13:52:36", "ok", "3", "3", "0", "42.6", "43.0", "43.0", "63.1", "63.2",
         "63.2", "17.2", ""]]
    assert polls[0][6] == f"{s.polls[0].ttft_ms['p50']:.1f}"     # the figures of summary.json
    assert section(md, "Missed polls").strip() == f"- 2 polls (4-5): {NOT_RUNNING}"
    assert table(section(md, "Hours of day (UTC)")) == [
        ["13:00", "12", "9", "42.4", "43.1", "43.2", "63.1", "63.6", "63.8"]]
    assert table(section(md, "Failures")) == [
        ["connection_error", "-", "3", "25.0%", "1", "2026-12-01 13:52:12", "2026-12-01 13:52:12"]]
    assert section(md, "Resumed").strip() == (
        "- 2026-12-01T13:52:33+00:00: went on at poll 4; 2 polls missed while tokenflood was not "
        "running")
    assert "## Phases" not in md and "## All metrics" not in md
    assert section(md, "Warnings").strip() == "none"


def test_summary_md_of_a_three_day_observation_lists_every_poll_and_groups_the_missed():
    s = long_summary()
    md = report.markdown(s)
    polls = table(section(md, "Polls"))
    assert len(polls) == 288 and [p[0] for p in polls[:2]] == ["1", "2"]
    assert polls[-1][:3] == ["288", "2026-12-04 13:30:00", "ok"]
    assert polls[-1][6:9] == ["388.0", "465.6", "582.0"]           # 300 + 88, x1.2, x1.5
    assert [p[2] for p in polls[100:110]] == ["missed"] * 10 and polls[149][2] == "all failed"
    assert section(md, "Missed polls").strip() == f"- 10 polls (101-110): {NOT_RUNNING}"
    assert table(section(md, "Failures")) == [
        ["http_error", "503", "3", "0.4%", "1", "2026-12-03 03:00:00", "2026-12-03 03:00:00"]]
    assert "- polls: 278 ran, 10 missed (288 of 288 recorded); requests: 834 sent, 831 ok, " \
           "3 failed" in md
    # many separate gaps: the first runs, then how many more
    scattered = long_summary(s.polls[:1] + [p.model_copy(update={"missed": NOT_RUNNING})
                                            if p.phase % 2 == 0 else p for p in s.polls[1:30]])
    assert report.missed_lines(scattered.polls) == [
        f"15 polls (2, 4, 6, 8, 10, 12, 14, 16 and 7 more runs): {NOT_RUNNING}"]


def test_summary_md_of_a_load_test_lists_its_resumes_and_is_otherwise_as_before():
    s = RunSummary.load(PAST_RUN)
    before = report.markdown(s)
    assert "## Resumed" not in before and before.startswith("# tokenflood run `tmux-demo`")
    resumed = s.model_copy(update={"resumed": [
        ResumeInfo(at="2026-01-02T03:10:00+01:00", from_phase=2, superseded_rows=7)]})
    after = report.markdown(resumed)
    block = ("\n## Resumed\n\n- 2026-01-02T03:10:00+01:00: re-ran from phase 2; 7 row(s) of the "
             "unfinished phase kept in requests.csv, marked superseded\n")
    assert block in after and after.replace(block, "") == before


def printed(summary: RunSummary) -> str:
    out = io.StringIO()
    print_summary(RunResult(summary, OBSERVATION, 0), out)
    return out.getvalue()


def test_the_table_printed_after_an_observation_has_hours_polls_missed_and_failures():
    text = printed(RunSummary.load(OBSERVATION))
    assert text.startswith("\ntokenflood observation 'watch-sim' on sim-model: completed\n")
    assert "polls: 4 ran, 2 missed (6 of 6 recorded); requests: 12 sent, 9 ok, 3 failed" in text
    hours = table(text.split("by hour of day (UTC):\n", 1)[1])
    assert hours[0] == ["13:00", "12", "9", "42.4", "43.1", "43.2", "63.1", "63.6", "63.8"]
    polls = table(text.split("\npolls:\n", 1)[1])
    assert [p[:3] for p in polls] == [["1", "2026-12-01 13:52:06", "ok"],
                                      ["2", "2026-12-01 13:52:12", "all failed"],
                                      ["3", "2026-12-01 13:52:18", "ok"],
                                      ["4", "2026-12-01 13:52:24", "missed"],
                                      ["5", "2026-12-01 13:52:30", "missed"],
                                      ["6", "2026-12-01 13:52:36", "ok"]]
    assert all(len(p) == 13 for p in polls)          # no long "missed because" column
    assert f"missed:\n  - 2 polls (4-5): {NOT_RUNNING}\n" in text
    assert table(text.split("failures:\n", 1)[1])[0][:4] == ["connection_error", "-", "3", "25.0%"]
    assert "resumed:\n  - 2026-12-01T13:52:33+00:00: went on at poll 4" in text
    assert text.endswith(f"\nresults: {OBSERVATION}\n")
    assert "phase |" not in text                     # not the (empty) phase table


def test_the_table_printed_after_a_three_day_observation_shows_only_the_last_polls():
    text = printed(long_summary())
    assert "the last 10 of 288 polls (every poll is in summary.md and polls.csv):" in text
    polls = table(text.split("polls (every poll is in summary.md and polls.csv):\n", 1)[1])
    assert [p[0] for p in polls] == [str(n) for n in range(279, 289)]
    assert f"missed:\n  - 10 polls (101-110): {NOT_RUNNING}\n" in text
    assert len(text.splitlines()) < 50


def test_polls_csv_of_a_three_day_run_has_every_poll_and_says_why_one_was_missed(tmp_path):
    write_polls_csv(tmp_path / "polls.csv", long_summary())
    with open(tmp_path / "polls.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 288 and rows[0]["slot_utc"] == "2026-12-01T13:45:00Z"
    assert rows[-1]["slot_utc"] == "2026-12-04T13:30:00Z" and rows[-1]["ttft_p50_ms"] == "388.000"
    assert [(r["status"], r["missed_reason"], r["ttft_p50_ms"]) for r in rows[100:102]] == [
        ("missed", NOT_RUNNING, ""), ("missed", NOT_RUNNING, "")]
    assert (rows[149]["ok"], rows[149]["failed"], rows[149]["e2e_p99_ms"]) == ("0", "3", "")
