"""`tokenflood run search.yml endpoint.yml` on a pseudo-terminal (tmux, as over SSH): the budget
modal says the figures are upper bounds, the search view shows the bracket and the answer, and
after q the summary printed on the terminal carries the same answer."""

from __future__ import annotations

import json
import re
import time

import pytest

from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD, write

pytestmark = pytest.mark.tmux

# 2 slots of 200 ms a request: 10 req/s at most; 4 and 8 meet the SLO, 16 fails
SEARCH = """\
type: search
name: tmux-capacity
slo: {ttft_ms: {p90: 300}}
start_rps: 4
max_rps: 40
phase_seconds: 2
tolerance: 0.3
max_phases: 3
arrival: constant
load_types: [{prompt_length: 32, output_length: 19}]
"""


sim = simulator_fixture("--ttft-ms", "20", "--itl-ms", "10", "--slots", "2", scope="function")


def test_a_search_in_the_terminal_ends_with_its_answer(tmp_path, sim):
    write(tmp_path / "search.yml", SEARCH)
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000"}
    term = Terminal(f"{TOKENFLOOD} run search.yml endpoint.yml --results-dir results", tmp_path,
                    env, size=(80, 24))
    try:
        modal = term.wait_for("Run 'tmux-capacity' against sim-model")
        assert "requests       at most " in modal, modal
        term.keys("y")
        live = term.wait_for("— SLO TTFT p90 ≤ 300 ms", timeout=30)
        assert "of at most 3 · " in live, live                  # the budget line: upper bounds
        done = term.wait_for("answer: meets the SLO", timeout=90)
        assert "meets up to 8 req/s · fails at 16 req/s — SLO TTFT p90 ≤ 300 ms" in done, done
        assert "completed after 3 phases; r: results, q: quit" in done, done
        assert "stopped: max_phases (3) reached" in " ".join(done.split()), done
        term.keys("q")                                        # finished: q quits at once
        deadline = time.monotonic() + 20
        while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=0"
        after = term.history()
    finally:
        term.close()
    (folder,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    search = json.loads((folder / "summary.json").read_text())["search"]
    assert (search["lower_rps"], search["upper_rps"]) == (8, 16), search
    # printed on the terminal after the app has gone, as headless prints it
    assert "tokenflood search 'tmux-capacity' on sim-model: completed" in after, after
    assert re.search(r"\n    3     16  fails  ", after), after
    assert [line for line in after.splitlines() if len(line) > 80] == []
    assert f"answer: {search['answer']}" in " ".join(after.split()), after
