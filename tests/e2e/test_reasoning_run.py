"""A load test of a reasoning model (the simulator's reasoning mode): one short headless run, read
by every assertion here: the rows, the progress lines, the printed summary, summary.md, the
thresholds on TTFA, the failures of replies without an answer, and `compare`."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tokenflood_tui.compare import compare as comparing
from tokenflood_tui.compare import output as compare_output
from tokenflood_tui.metrics.summary import RunSummary
from tokenflood_tui.outputs import printed
from tokenflood_tui.simulator import SimulatorProcess

from support.shared import made_once
from support.specs import endpoint_yml, run_yml
from support.tokenflood import run_tokenflood, write

TTFT_MS, ITL_MS, REASONING, ANSWER = 20.0, 2.0, 25, 8
RATE, SECONDS = 10, 2
NEVER = 0.2           # the share of replies that reason to max_tokens and never answer


def make_run(folder: Path) -> None:
    folder.mkdir(parents=True)
    with SimulatorProcess("--ttft-ms", f"{TTFT_MS:g}", "--itl-ms", f"{ITL_MS:g}",
                          "--reasoning-tokens", str(REASONING), "--no-answer-share", str(NEVER),
                          "--seed", "4") as sim:
        write(folder / "endpoint.yml", endpoint_yml(sim.base_url))
        write(folder / "run.yml", run_yml(
            # replies without an answer are failures: the run must not abort on them
            "reasoning", rates=[RATE], length=SECONDS, arrival="constant", error_limit=1,
            thresholds=["ttfa_ms.p99 < 2000", "ttft_ms.p99 < 2000"],
            load_types=[{"prompt_length": 64, "output_length": ANSWER,
                         "reasoning_budget_tokens": REASONING}]))
        done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless",
                              cwd=folder)
        truth = json.load(__import__("urllib.request").request.urlopen(
            f"http://127.0.0.1:{sim.port}/sim/requests"))["requests"]
    (folder / "code").write_text(str(done.code))
    (folder / "stderr.txt").write_text(done.stderr)
    (folder / "truth.json").write_text(json.dumps(truth))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The folder the run was started in: its results folder, stderr, exit code, and the
    simulator's truth."""
    return made_once(tmp_path_factory, "reasoning-run", make_run)


def results(run: Path) -> Path:
    (folder,) = [p for p in (run / "results").iterdir() if p.is_dir()]
    return folder


def rows(run: Path) -> list[dict]:
    with open(results(run) / "requests.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["phase"] == "1"]


def test_rows_carry_ttfa_after_the_reasoning_and_count_replies_without_an_answer(run):
    assert (run / "code").read_text() == "0", (run / "stderr.txt").read_text()
    phase = rows(run)
    assert len(phase) == RATE * SECONDS
    never = [r for r in phase if r["status"] == "no_answer"]
    answered = [r for r in phase if r["status"] == "ok"]
    assert len(never) + len(answered) == len(phase) and never and answered
    truth = {t["request_id"]: t for t in json.loads((run / "truth.json").read_text())}
    assert all(truth[r["response_id"]]["first_answer"] is None for r in never)
    reasoned = REASONING * ITL_MS
    for r in answered:
        ttft, ttfa = float(r["ttft_ms"]), float(r["ttfa_ms"])
        # a late read bunches chunks, never brings one early: the server's pace is the floor
        # (to its clock's tick: the simulator's uvloop keeps time in whole milliseconds)
        assert ttfa >= TTFT_MS + reasoned - 1 and ttft >= TTFT_MS - 1
        assert float(r["reasoning_ms"]) == pytest.approx(ttfa - ttft, abs=0.01)
        assert ttfa - ttft <= reasoned + 250
        assert (r["reasoning_tokens"], r["reasoning_tokens_estimated"], r["answer_tokens"]) \
            == (str(REASONING), "false", str(ANSWER))
    for r in never:        # reasoned through max_tokens (its answer and reasoning budget)
        assert r["ttfa_ms"] == "" and r["reasoning_tokens"] == str(REASONING + ANSWER)
        assert r["answer_tokens"] == "0"


def test_the_summary_counts_reasoning_and_checks_ttfa_thresholds(run):
    s = RunSummary.load(results(run))
    (ph,) = s.phases
    assert ph.reasoning and ph.reasoning_tokens_mean == REASONING
    assert ph.answer_tokens_mean == ANSWER and not ph.reasoning_tokens_estimated
    never = sum(1 for r in rows(run) if r["status"] == "no_answer")
    assert [(e.status, e.count) for e in ph.errors] == [("no_answer", never)]
    # the answer comes after the reasoning's tokens, on the simulator's schedule (a first token
    # late on a busy machine shortens the gap, never the TTFA)
    assert ph.ttfa_ms.at(50) >= TTFT_MS + REASONING * ITL_MS - 1
    (ttfa, ttft) = s.thresholds
    assert ttfa.threshold == "ttfa_ms.p99 < 2000" and ttfa.passed
    assert ttfa.phases[0].value == pytest.approx(ph.ttfa_ms.at(99), rel=0.05)
    # the answer is held to output_length (the reasoning is not): no accuracy warning
    assert not [w for w in s.warnings if "tokens" in w and "differ" in w]
    assert any("no_answer" in w for w in s.warnings)     # 20% failed: the share warning


def test_headless_progress_shows_ttfa_beside_ttft(run):
    lines = [line for line in (run / "stderr.txt").read_text().splitlines()
             if "phase 1/1" in line and "TTFT p50" in line]
    assert lines
    assert all("| TTFT p50 " in line and " | TTFA p50 " in line for line in lines)
    last = lines[-1]
    assert last.index("TTFT p50") < last.index("TTFA p50") < last.index("e2e p50")


@pytest.mark.parametrize("width", [80, 120])
def test_the_printed_summary_shows_ttfa_and_the_failures_of_no_answer(run, width):
    s = RunSummary.load(results(run))
    text = printed.text(s, results(run), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines if not line.startswith("results:")) <= width
    head = next(line for line in lines if "TTFT ms" in line)
    assert "TTFA ms" in head and head.index("TTFT ms") < head.index("TTFA ms")
    failures = lines[lines.index("failures:") + 2]
    never = sum(1 for r in rows(run) if r["status"] == "no_answer")
    assert failures.split()[:2] == ["1", "no_answer"] and str(never) in failures.split()


def test_summary_md_has_ttfa_the_reasoning_tokens_and_every_reasoning_metric(run):
    md = (results(run) / "summary.md").read_text()
    phases = md.split("## Phases")[1].split("##")[0]
    assert "| TTFT p50 ms |" in phases and "| TTFA p50 ms |" in phases
    assert "| reasoning tokens |" in phases
    tokens = md.split("## Tokens")[1].split("##")[0]
    assert "| reasoning tokens | answer tokens |" in tokens
    row = [cell.strip() for cell in tokens.strip().splitlines()[2].split("|")[1:-1]]
    assert row[2:5] == ["33.0 (8.0)", "25.0", "8.0"]     # output = reasoning + answer
    every = md.split("## All metrics")[1]
    for metric in ("ttfa_ms", "reasoning_ms", "answer_tpot_ms", "answer_itl_ms"):
        assert re.search(rf"\|\s+{metric} \|", every), metric
    assert "no_answer" in md.split("## Failures")[1]


def test_compare_gives_ttfa_verdicts_where_a_run_reasoned(run):
    folder = results(run)
    c = comparing.compare([folder, folder], resamples=200)
    assert c.metrics[:2] == ["ttft_ms", "ttfa_ms"]
    cell = c.cell(f"{RATE} req/s", "ttfa_ms", 50.0)
    assert cell.runs[1].diff_ms == 0 and cell.runs[1].verdict is not None
    assert "## TTFA (ms)" in compare_output.markdown(c)
    # an A/B experiment's verdicts (its view): TTFA in place of TTFT p90 and e2e p90
    from tokenflood_tui.tui.widgets.turns import verdict_text

    lines = verdict_text(c, ["a", "b"]).plain.splitlines()
    head = next(line for line in lines if line.startswith("rate"))
    assert head.split() == ["rate", "TTFT", "p50", "TTFA", "p50", "TTFA", "p90", "e2e", "p50"]
    assert max(len(line) for line in lines[:-1]) <= 80


def test_a_search_on_ttfa_fails_where_ttft_alone_would_pass(tmp_path):
    """The first answer comes 100 tokens × 5 ms after a 20 ms first token: an SLO on TTFA of
    300 ms fails at the start rate, whatever TTFT says."""
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "5", "--reasoning-tokens", "100") as sim:
        write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
        write(tmp_path / "search.yml", (
            "type: search\nname: ttfa\nslo: {ttft_ms: {p99: 300}, ttfa_ms: {p99: 300}}\n"
            "start_rps: 2\nmax_rps: 8\nphase_seconds: 1\narrival: constant\n"
            "load_types: [{prompt_length: 32, output_length: 4, reasoning_budget_tokens: 100}]\n"))
        done = run_tokenflood("run", "search.yml", "endpoint.yml", "--headless", "--yes",
                              cwd=tmp_path)
    assert done.code == 0, done.stderr
    search = done.summary()["search"]
    (step,) = search["steps"]
    assert not step["meets"] and step["why"].startswith("TTFA p99 ")
    assert re.match(r"TTFA p99 (\d+) ms > 300$", step["why"])
    assert int(re.match(r"TTFA p99 (\d+)", step["why"])[1]) >= 20 + 100 * 5 - 1
    assert search["slo"] == "TTFT p99 ≤ 300 ms, TTFA p99 ≤ 300 ms"
    assert search["answer"].startswith("does not meet the SLO (TTFT p99 ≤ 300 ms, TTFA p99 ≤ "
                                       "300 ms) even at start_rps 2 req/s")
