"""`tokenflood ab` on a terminal (tmux, as over SSH): the budget modal of both variants, the live
view to the verdict, q, then the comparison's Markdown and the folder on the terminal, exit 0."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.specs import endpoint_yml
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD, write

pytestmark = pytest.mark.tmux

SUITE = """\
name: abterm
requests_per_second_rates: [10, 20]
test_length_in_seconds: 2
arrival: constant
seed: 5
load_types: [{prompt_length: 64, output_length: 4}]
"""


def wait_for_file(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.read_text().strip()


def test_ab_in_the_terminal_shows_the_verdict_and_prints_the_comparison(tmp_path):
    write(tmp_path / "run.yml", SUITE)
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with SimulatorProcess("--ttft-ms", "50", "--jitter", "0.2", "--seed", "3") as a, \
            SimulatorProcess("--ttft-ms", "80", "--jitter", "0.2", "--seed", "3") as b:
        write(tmp_path / "a.yml", endpoint_yml(a.base_url))
        write(tmp_path / "b.yml", endpoint_yml(b.base_url))
        term = Terminal(f"{TOKENFLOOD} ab run.yml a.yml b.yml --rounds 2 --results-dir results",
                        tmp_path, env)
        try:
            term.wait_for("Run 'abterm' as an A/B experiment of 2 variants?", timeout=30)
            # the modal draws in a few frames on a busy machine: wait for its last lines
            modal = term.wait_for("the estimate covers all 2 variants × 2 rounds:", timeout=30)
            assert "turns          8 (2 rates × 2 rounds × 2 variants)" in modal
            term.keys("y")
            live = term.wait_until(lambda s: re.search(
                r"turn \d/8: [ab], round \d/2 at (10|20) req/s · running", s), "a turn sending",
                timeout=40)
            assert "2 turns so far" in live
            end = term.wait_for("completed: all 8 turns ran", timeout=90)
            verdicts = re.search(r"B vs A: (faster in \d+, )?slower in (\d+)", end)
            assert verdicts and int(verdicts[2]) >= 4, end
            row = next(line for line in end.splitlines() if line.lstrip().startswith("20 req/s"))
            assert len(re.findall(r"slower \+\d", row)) == 4, row
            term.keys("q")
            assert wait_for_file(tmp_path / "exit-code") == "EXIT=0"
            after = term.history()
        finally:
            term.close()
    (folder,) = (tmp_path / "results").iterdir()
    assert "Comparison: A vs B" in after and "\nTTFT (ms)\n" in after
    assert [line for line in after.splitlines() if len(line) > 120] == []
    assert re.search(r"\n10 req/s +p50 +[\d.]+ +[\d.]+ +\+[\d.]+ \([^)]*\) +"
                     r"\+[\d.]+ … \+[\d.]+ +slower\n", after), after
    assert f"experiment folder: results/{folder.name}" in after
    # what was printed is the comparison the folder holds (its verdict line, word for word)
    verdict = next(line for line in (folder / "compare.md").read_text().splitlines()
                   if line.startswith("B vs A: "))
    assert verdict in after and verdict in end and "slower in" in verdict
