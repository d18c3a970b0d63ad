"""A reasoning model's load test in the real `tokenflood` in tmux (as over SSH), against the
simulator's reasoning mode: TTFA beside TTFT in the live phases table, and in the summary printed
on quitting, at 80x24 and 120x40."""

from __future__ import annotations

import re
import time

import pytest

from support.simulators import simulator_fixture
from support.specs import endpoint_yml, run_yml
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD

pytestmark = pytest.mark.tmux

TTFT_MS, ITL_MS, REASONING = 30, 3, 20
sim = simulator_fixture("--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS),
                        "--reasoning-tokens", str(REASONING))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_ttft_and_ttfa_side_by_side_live_and_on_exit(tmp_path, sim, size):
    (tmp_path / "endpoint.yml").write_text(endpoint_yml(sim.base_url))
    (tmp_path / "run.yml").write_text(run_yml(
        "tmux-reasoning", rates=[5], length=2, arrival="constant",
        load_types=[{"prompt_length": 64, "output_length": 8,
                     "reasoning_budget_tokens": REASONING}]))
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} run run.yml endpoint.yml --yes --results-dir results",
                    tmp_path, env, size=size)
    try:
        done = term.wait_for("completed; r: results, q: quit", timeout=60)
        wide = size == (120, 40)
        title = "TTFT, TTFA, e2e p50/p90/p99 ms" if wide else "TTFT, TTFA, e2e p50/p99 ms"
        assert title in done, done
        header = next(line for line in done.splitlines() if re.search(r"\bphase\b.*\bTTFT\b", line))
        assert re.search(r"TTFT +TTFA +e2e", header), header
        row = next(line for line in done.splitlines() if re.match(r"\s+1\s+5\s", line))
        cells = re.findall(r"\b\d+(?:/\d+)+\b", row)     # TTFT, TTFA, e2e percentiles
        ttft, ttfa = (int(c.split("/")[0]) for c in cells[-3:-1])
        # the server's pace is the floor (a late read delays, never hastens); 1 ms: its clock
        assert ttft >= TTFT_MS - 1 and ttfa >= TTFT_MS + REASONING * ITL_MS - 1, row
        assert all(len(line) <= size[0] for line in done.splitlines())
        term.keys("q")
        deadline = time.monotonic() + 15
        while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=0"
        printed = term.history()
        # the summary printed on exit, fitted to the terminal: TTFA ms beside TTFT ms
        group = next(line for line in printed.splitlines() if "TTFT ms" in line)
        assert "TTFA ms" in group and group.index("TTFT ms") < group.index("TTFA ms")
    finally:
        term.close()
