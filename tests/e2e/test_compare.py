"""`tokenflood compare` on real runs: two simulators 20 ms apart in TTFT, and two runs of one
simulator setup. Each simulator is started fresh with the same seed, so each run draws the same
jitter in the same order (one output token: the draws happen at arrival): the runs' true
percentiles differ by exactly what the setups differ by, which an interval must contain."""

from __future__ import annotations

import contextlib
import json

import pytest

from tokenflood_tui.compare.compare import Comparison
from tokenflood_tui.simulator import SimulatorProcess

from support.specs import endpoint_yml
from support.tokenflood import run_together, run_tokenflood, write

JITTER = 0.2                     # TTFT = base × (1 + U(−0.2, 0.2))
DIFF_MS = 20                     # B's TTFT over A's
RATES = [20, 40]
SUITE = f"""\
name: cmp
requests_per_second_rates: {RATES}
test_length_in_seconds: 5
load_types: [{{prompt_length: 64, output_length: 1}}]
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A (TTFT 50 ms), B (70 ms), A again: run at the same time, each against a simulator of its
    own, so a busy machine weighs on all three alike (and the setup takes one run's time)."""
    tmp = tmp_path_factory.mktemp("compare")
    # (6 ms, then 10 ms apart, the p90 of 100 requests beside a CPU hog and other test processes
    # read "no clear difference": +11.7 ms, -3.0 to 20.7)
    ttfts = {"a": 50, "b": 50 + DIFF_MS, "a2": 50}
    with contextlib.ExitStack() as stack:
        for label, ttft_ms in ttfts.items():
            sim = stack.enter_context(SimulatorProcess("--ttft-ms", str(ttft_ms), "--jitter",
                                                       str(JITTER), "--seed", "3"))
            cwd = tmp / label                 # a results folder of its own under cwd
            cwd.mkdir()
            write(cwd / "run.yml", SUITE)
            write(cwd / "endpoint.yml", endpoint_yml(sim.base_url))
        done = run_together(*((tmp / label, ("run", "run.yml", "endpoint.yml", "--headless",
                                             "--yes")) for label in ttfts))
    for run in done:
        assert run.code == 0, run.stderr
    return tmp, *(run.folder() for run in done)


def test_the_slower_simulator_is_slower_at_every_rate_by_about_20_ms(runs):
    tmp, a, b, _ = runs
    done = run_tokenflood("compare", str(a), str(b), "--out", "cmp-ab", cwd=tmp)
    assert done.code == 0, done.stderr
    c = Comparison.load(tmp / "cmp-ab")
    assert c.groups == ["20 req/s", "40 req/s"] and c.metrics == ["ttft_ms", "e2e_ms"]
    covered = []
    for group in c.groups:
        for metric in c.metrics:
            for p, truth in ((50, DIFF_MS), (90, DIFF_MS * (1 + 0.8 * JITTER))):
                b_vs_a = c.cell(group, metric, p).runs[1]
                assert b_vs_a.verdict == "slower", (group, metric, p, b_vs_a)
                covered.append(b_vs_a.ci_low_ms < truth < b_vs_a.ci_high_ms)
                assert b_vs_a.diff_pct == pytest.approx(100 * b_vs_a.diff_ms
                                                        / c.cell(group, metric, p).runs[0].value_ms)
    # each 95% interval contains the true difference; the shared jitter seed usually makes the
    # runs' samples alike, but a busy machine can shift them apart, and then an interval misses
    # more than 1 time in 20 (two of eight beside a CPU hog and five other test processes): allow
    # two misses (the coverage itself: tests/unit/test_compare_stats)
    assert sum(covered) >= 6, covered
    # 100 ok requests at 20 req/s: too few for p99 (a verdict needs 200); 200 at 40 are enough.
    # The difference is still given, without an interval (its sign is the tail's: a busy moment
    # in A's run once made it -4.1 ms)
    p99 = c.cell("20 req/s", "ttft_ms", 99).runs[1]
    assert p99.verdict == "too few samples" and p99.ci_low_ms is None and p99.diff_ms is not None
    counts = c.verdicts()
    assert counts.get("slower", 0) >= 8 and counts.get("faster", 0) == 0
    # the Markdown on stdout, the files in the folder
    assert "B vs A: slower in" in done.stdout
    assert "| 20 req/s | p50 |" in done.stdout and "## TTFT (ms)" in done.stdout
    assert "endpoints differ (B vs A): base_url" in done.stdout
    assert {p.name for p in (tmp / "cmp-ab").iterdir()} == {
        "compare.md", "compare.json", "compare.txt", "report.html"}
    chart = (tmp / "cmp-ab" / "compare.txt").read_text()
    assert "TTFT (ms) by request rate" in chart and "A ⠒⠒  B ••  │  p50  p90  p99" in chart
    assert json.loads((tmp / "cmp-ab" / "compare.json").read_text())["runs"][0]["name"] == a.name


def test_two_runs_of_one_setup_show_no_clear_difference(runs):
    tmp, a, _, a2 = runs
    done = run_tokenflood("compare", str(a), str(a2), "--out", "cmp-aa", cwd=tmp)
    assert done.code == 0, done.stderr
    c = Comparison.load(tmp / "cmp-aa")
    judged = [v for v in (cell.runs[1].verdict for cell in c.cells) if v != "too few samples"]
    # a verdict on identical setups is a false one: about 1 cell in 20 by chance (more only if
    # a busy machine shifted one run), so at most a quarter of the cells
    false = sum(v != "no clear difference" for v in judged)
    assert len(judged) >= 8 and false <= len(judged) // 4, c.verdicts()
    # a fresh simulator is a new port: the one difference named, nothing about the suites
    (warning,) = c.warnings
    assert warning.startswith("endpoints differ (B vs A): base_url http://127.0.0.1:")


def test_three_runs_against_one_baseline(runs):
    tmp, a, b, a2 = runs
    done = run_tokenflood("compare", str(a), str(b), str(a2), "--out", "cmp-aba", cwd=tmp)
    assert done.code == 0, done.stderr
    c = Comparison.load(tmp / "cmp-aba")
    cell = c.cell("40 req/s", "ttft_ms", 50)
    assert [v.verdict for v in cell.runs][:2] == [None, "slower"]
    assert cell.runs[2].verdict in ("no clear difference", "faster", "slower")
    assert abs(cell.runs[2].diff_ms) < abs(cell.runs[1].diff_ms)
    assert "| rate | pct | A | B | B − A | 95% interval | verdict | C | C − A |" in done.stdout


def test_what_cannot_be_compared_says_what_to_do(runs, tmp_path):
    tmp, a, _, _ = runs
    one = run_tokenflood("compare", str(a), cwd=tmp)
    assert one.code == 2 and "at least two results folders" in one.stderr
    missing = run_tokenflood("compare", str(a), "no-such-run", cwd=tmp)
    assert missing.code == 2 and "no-such-run: no such results folder" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    unfinished = run_tokenflood("compare", str(a), str(empty), cwd=tmp)
    assert unfinished.code == 2 and "summary.json does not exist" in unfinished.stderr
    assert "Traceback" not in one.stderr + missing.stderr + unfinished.stderr
