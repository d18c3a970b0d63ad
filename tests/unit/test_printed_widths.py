"""What is printed for a terminal fits its width: a table keeps the columns that matter and says
which it left out, prose wraps at words, and nothing is cut mid-cell (outputs/fit.py,
outputs/printed.py, compare/output.text)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tokenflood_tui.compare import output as compare_output
from tokenflood_tui.compare.compare import compare
from tokenflood_tui.metrics.summary import RunSummary
from tokenflood_tui.outputs import printed
from tokenflood_tui.outputs.fit import Column, fit_table

from test_compare_folders import folder, rows

FIXTURES = Path(__file__).parents[1] / "tui" / "fixtures"
LOAD_TEST = next((FIXTURES / "workspace" / "past-runs").iterdir())
FAILURES = next((FIXTURES / "results-failures").iterdir())
OBSERVATION = next((FIXTURES / "observation").iterdir())
SHORT = Path("results/run")        # as a run prints it: under ./results


def too_long(text: str, width: int) -> list[str]:
    return [line for line in text.splitlines() if len(line) > width]


def test_columns_stay_by_rank_and_the_others_are_named():
    columns = [Column("phase", ["1", "2"]), Column("TTFT p90 long head", ["5", "6"], rank=2),
               Column("ok", ["10", "12"]), Column("verdict", ["SATURATED", "ok"], 1, left=True)]
    wide = fit_table(columns, 80)
    assert wide.lines[0] == "phase  TTFT p90 long head  ok  verdict" and not wide.dropped
    narrow = fit_table(columns, 30)
    assert narrow.lines == ["phase  ok  verdict", "    1  10  SATURATED", "    2  12  ok"]
    assert [c.head for c in narrow.dropped] == ["TTFT p90 long head"]


def test_a_label_spans_the_columns_that_share_it_and_a_last_column_wraps():
    fitted = fit_table([Column("p50", ["51.5"], group="TTFT ms"),
                        Column("p99", ["56.2"], group="TTFT ms"),
                        Column("why", ["one two three four five six seven"], left=True,
                               wrap=True)], 36)
    assert fitted.lines == [" TTFT ms", " p50   p99  why",
                            "51.5  56.2  one two three four five",
                            "            six seven"]


@pytest.mark.parametrize("width", [60, 80, 100, 120, 160])
@pytest.mark.parametrize("fixture", [LOAD_TEST, FAILURES, OBSERVATION], ids=lambda p: p.name)
def test_no_line_of_a_summary_is_longer_than_the_terminal(fixture, width):
    summary = RunSummary.load(fixture)
    out = printed.text(summary, SHORT, width)
    assert too_long(out, width) == []
    assert f"{summary.run_name!r} on {summary.model}: {summary.status}" in out
    assert f"results: {SHORT}" in out


def test_a_narrow_terminal_keeps_rates_counts_latency_ends_and_the_verdict():
    summary = RunSummary.load(FAILURES)
    out = printed.text(summary, SHORT, 80)
    head = next(line for line in out.splitlines() if line.startswith("phase "))
    assert head.split() == ["phase", "target", "achieved", "sent", "ok", "failed", "p50", "p99",
                            "p50", "p99", "verdict"]
    ph = summary.phases[0]
    row = next(line for line in out.splitlines() if line.split()[:1] == [str(ph.phase)])
    assert row.split()[:6] == [str(ph.phase), f"{ph.target_rps:g}", f"{ph.achieved_rps:,.2f}",
                               str(ph.sent), str(ph.ok), str(ph.failed)]
    assert row.split()[6] == f"{ph.ttft_ms['p50']:,.1f}" and row.split()[9] == \
        f"{ph.e2e_ms['p99']:,.1f}"
    note = " ".join(out.split("not shown at 80 columns: ", 1)[1].split("\n\n", 1)[0].split())
    assert note == "TTFT p90, e2e p90, TPOT p50, out tok/s, cache hit; summary.md has every column"
    # 120 columns have room for every percentile, and the note goes
    wide = printed.text(summary, SHORT, 120)
    head = next(line for line in wide.splitlines() if line.startswith("phase "))
    assert head.split() == ["phase", "target", "achieved", "sent", "ok", "failed", "p50", "p90",
                            "p99", "p50", "p90", "p99", "p50", "out", "tok/s", "cache", "hit",
                            "verdict"]
    assert "not shown" not in wide


def test_an_observation_prints_its_polls_with_the_slot_and_status_at_80_columns():
    summary = RunSummary.load(OBSERVATION)
    out = printed.text(summary, SHORT, 80)
    assert "polls (slots UTC, 2026-12-01):" in out
    lines = out.splitlines()
    polls = [line.split() for line in lines if line[:4].strip().isdigit() and ":" in line[4:16]]
    assert [(p[0], p[1], p[2]) for p in polls] == [
        ("1", "13:52:06", "ok"), ("2", "13:52:12", "all"), ("3", "13:52:18", "ok"),
        ("4", "13:52:24", "missed"), ("5", "13:52:30", "missed"), ("6", "13:52:36", "ok")]


def three_runs(tmp_path: Path):
    rng = np.random.default_rng(3)
    folders = [folder(tmp_path, f"2026-12-01_10-00-0{i}_run-{name}_a-model-with-a-long-name",
                      rows(4, rng.normal(50 + 10 * i, 2, 60)) + rows(8, rng.normal(55 + 10 * i, 2, 60)))
               for i, name in enumerate(("a", "b", "c"))]
    return compare(folders, resamples=500)


@pytest.mark.parametrize("width", [80, 120])
def test_a_comparison_of_three_runs_fits_and_keeps_each_runs_verdict(tmp_path, width):
    c = three_runs(tmp_path)
    out = compare_output.text(c, width)
    assert too_long(out, width) == []
    row = next(line for line in out.splitlines() if line.startswith("4 req/s  p50"))
    assert row.count("slower") == 2        # B and C: 10 and 20 ms slower
    note = " ".join(out.split(f"not shown at {width} columns: ", 1)[1].split())
    # every metric's table has the same columns: the value and verdict of each run stay
    assert note == {80: "B diff ms, B 95% interval, C diff ms, C 95% interval; compare.md has "
                        "every column",
                    120: "C 95% interval; compare.md has every column"}[width]
    heads = {line for line in out.splitlines() if line.startswith("rate ")}
    assert len(heads) == 1


def test_md_and_json_are_compare_md_and_compare_json(tmp_path):
    c = three_runs(tmp_path)
    assert compare_output.printed(c, "md", 80) == compare_output.markdown(c)
    assert compare_output.printed(c, "json", 80) == c.to_json()
