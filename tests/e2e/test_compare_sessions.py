"""Two real session runs compared by turn index, and checked against session thresholds: the same
chat suite against a simulator with a prefix cache (A) and one without (B). B pays the prefill of
everything it is sent: turn 1 the system prompt, later turns also the growing history, so its
difference to A grows with the turn. The truth of each difference is A's cached tokens (what B
prefills and A does not) times the prefill cost per token, read from A's rows."""

from __future__ import annotations

import re
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tokenflood_tui.compare.compare import Comparison
from tokenflood_tui.compare.samples import turn_bucket, turns_label
from tokenflood_tui.metrics.thresholds import EXIT_THRESHOLD_FAILED
from tokenflood_tui.simulator import SimulatorProcess

from support.tokenflood import launch, run_tokenflood, write

PREFILL_MS = 0.3                 # per uncached prompt token
SUITE = """\
name: chats-{name}
sessions_per_second_rates: [4]
test_length_in_seconds: 8
arrival: constant
history: echo
ramp_seconds: 0
session_types:
- name: chat
  system_prompt_tokens: 256
  turns: 4
  user_tokens: 32
  output_tokens: 4
  think_seconds: 0.2
thresholds:
- ttft_ms.turn2+.p50 < 60
- cache_hit.turn2+ > 0.8
- session_duration_s.p90 < 5
"""
GROUP = "4 sessions/s"


def table(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / name, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A (prefix cache) and B (none), run at once: 32 sessions of 4 turns each."""
    cwd = tmp_path_factory.mktemp("compare-sessions")
    common = ("--ttft-ms", "20", "--prefill-ms-per-token", str(PREFILL_MS), "--itl-ms", "2",
              "--jitter", "0.1", "--seed", "5")
    with SimulatorProcess(*common) as cached, SimulatorProcess(*common, "--no-prefix-cache") as cold:
        procs = {}
        for name, sim in (("a", cached), ("b", cold)):
            write(cwd / f"run-{name}.yml", SUITE.format(name=name))
            write(cwd / f"endpoint-{name}.yml",
                  f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n")
            procs[name] = launch("run", f"run-{name}.yml", f"endpoint-{name}.yml", "--headless",
                                 "--yes", cwd=cwd)
        done = {name: running.wait(timeout=120) for name, running in procs.items()}
    (a,) = (cwd / "results").glob("*_chats-a_sim-model")
    (b,) = (cwd / "results").glob("*_chats-b_sim-model")
    return cwd, a, b, done


def test_session_thresholds_pass_with_a_prefix_cache_and_fail_without(runs):
    _, a, b, done = runs
    a_code, a_err = done["a"].code, done["a"].stderr
    b_code, b_out, b_err = done["b"].code, done["b"].stdout, done["b"].stderr
    assert a_code == 0, a_err
    assert b_code == EXIT_THRESHOLD_FAILED, b_err
    sa, sb = (json.loads((f / "summary.json").read_text()) for f in (a, b))
    passed = {t["threshold"]: t["passed"] for t in sa["thresholds"]}
    assert passed == {"ttft_ms.turn2+.p50 < 60": True, "cache_hit.turn2+ > 0.8": True,
                      "session_duration_s.p90 < 5": True}
    failed = {t["threshold"]: t for t in sb["thresholds"]}
    assert [k for k, t in failed.items() if not t["passed"]] == [
        "ttft_ms.turn2+.p50 < 60", "cache_hit.turn2+ > 0.8"]
    (cache,) = failed["cache_hit.turn2+ > 0.8"]["phases"]
    assert cache["value"] == 0.0
    # the checked value is the phase's own: B's later turns' TTFT median, from its rows
    later = [float(r["ttft_ms"]) for r in table(b, "requests.csv")
             if r["status"] == "ok" and int(r["turn"]) >= 2]
    (ttft,) = failed["ttft_ms.turn2+.p50 < 60"]["phases"]
    # (requests.csv keeps 3 decimals: the median of two middle rows may differ by 0.0005 each)
    assert ttft["value"] == pytest.approx(float(np.median(later)), abs=1e-3)
    assert "threshold ttft_ms.turn2+.p50 < 60 failed" in b_err
    assert "ttft_ms.turn2+.p50 < 60" in b_out


def test_compare_gives_each_turn_its_difference_interval_and_verdict(runs):
    cwd, a, b, _ = runs
    done = run_tokenflood("compare", str(a), str(b), "--out", "cmp", cwd=cwd)
    assert done.code == 0, done.stderr
    c = Comparison.load(cwd / "cmp")
    assert c.groups == [GROUP]
    assert sorted({x.turns for x in c.turn_cells}) == ["turn 1", "turn 2", "turns 3-4"]
    # what B prefilled and A did not: A's cached tokens, per bucket of turns (A's ok rows)
    a_rows = [r for r in table(a, "requests.csv") if r["status"] == "ok"]
    diffs = {}
    for turns in ("turn 1", "turn 2", "turns 3-4"):
        cached = [int(r["cached_tokens"]) for r in a_rows
                  if turns_label(turn_bucket(int(r["turn"]))) == turns]
        truth = PREFILL_MS * float(np.median(cached))
        cell = c.turn_cell(GROUP, turns, "ttft_ms", 50).runs[1]
        assert cell.verdict == "slower", (turns, cell)
        # jitter is ±10% of TTFT; a busy machine adds a few ms to either run
        assert abs(cell.diff_ms - truth) < 0.1 * (20 + truth) + 8, (turns, cell.diff_ms, truth)
        diffs[turns] = cell.diff_ms
    assert diffs["turn 1"] < diffs["turn 2"] < diffs["turns 3-4"]
    # the rate's cells over all turns are there as before
    assert c.cell(GROUP, "ttft_ms", 50).runs[1].verdict == "slower"
    # (a cell of the p99 tail may land "faster" on a busy machine: the verdicts are counted)
    assert re.search(r"B vs A by turn: [^\n]*slower in \d+", done.stdout), done.stdout
    assert "## TTFT by turn (ms)" in done.stdout
    assert f"| {GROUP} | turns 3-4 | p50 |" in done.stdout
    md = (cwd / "cmp" / "compare.md").read_text()
    assert md == done.stdout
