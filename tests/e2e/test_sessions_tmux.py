"""`tokenflood run sessions.yml endpoint.yml` on a pseudo-terminal (tmux, as over SSH) at 80x24
and 120x40: the budget modal's sessions line, the live view's sessions in sessions/s with the
first phase draining beside the second, the turn buckets, and the results' sessions (key 2)."""

from __future__ import annotations

import re
import json
import shutil
import time

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.tokenflood import TOKENFLOOD, write
from support.terminal import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# every session lasts at least 2 s of think time: the first phase's run on into the second
SESSIONS = """\
name: tmux-sessions
sessions_per_second_rates: [1, 2]
test_length_in_seconds: 3
arrival: constant
history: echo
session_types:
- name: chat
  weight: 3
  system_prompt_tokens: 64
  turns: {dist: uniform, min: 5, max: 10}
  user_tokens: 24
  output_tokens: 8
  think_seconds: 0.5
- name: agent
  weight: 1
  system_prompt_tokens: 128
  turns: 6
  user_tokens: 16
  output_tokens: 8
  think_seconds: 0.4
  tool_share: 0.5
  tool_call_tokens: 6
  tool_result_tokens: 30
  tool_seconds: 0.4
"""


@pytest.fixture
def sim():
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2") as s:
        yield s


def fits(screen: str, width: int) -> bool:
    return all(len(line.rstrip()) <= width for line in screen.splitlines())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_a_session_run_in_the_terminal(tmp_path, sim, size):
    width = size[0]
    write(tmp_path / "sessions.yml", SESSIONS)
    write(tmp_path / "endpoint.yml",
          f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n")
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} run sessions.yml endpoint.yml --results-dir results", tmp_path,
                    env, size=size)
    try:
        modal = term.wait_for("Run 'tmux-sessions' against sim-model", timeout=30)
        assert "sessions       the drawn plan's tokens; with every length" in modal, modal
        term.keys("y")
        # phase 2 sends while phase 1's sessions go on: the in-flight line names phase 1
        live = term.wait_until(lambda s: "phase 2/2 running · 2 sessions/s ·" in s
                               and "of phase 1)" in s, "phase 1 draining beside phase 2",
                               timeout=60)
        assert "sessions in flight" in live and fits(live, width), live
        if width >= 120:        # the overview has the whole sessions panel
            assert "2 sessions by phase · sessions/s" in live, live
            assert "draining" in live and "running" in live, live
            assert "turns of phase" in live or "turns: none finished yet" in live, live
        else:                   # 80x24: one line of it; key 2 shows the panel
            assert "2 sessions · done: completed" in live, live
            term.keys("2")
            # (columns as wide as the widest value shown so far: the spaces between vary)
            live = term.wait_until(lambda s: re.search(
                r"phase +target +actual +started +in flight +done +limit", s) is not None,
                "the sessions table")
            assert fits(live, width), live
        done = term.wait_until(lambda s: "sessions completed); r: results" in s,
                               "the run's end", timeout=60)
        assert "TTFT ms" in done and "cache hit" in done and fits(done, width), done
        assert "turn         1 " in done, done
        term.keys("r")
        term.wait_for("tmux-sessions on sim-model")
        term.keys("2")                                  # the sessions' sections alone
        results = term.wait_until(lambda s: "phase  planned  started  completed" in s
                                  and "sessions in flight from each phase's start" in s,
                                  "the sessions' sections")
        assert "2 sessions by phase · how they ended" in results, results
        assert fits(results, width), results
        term.keys("q")
        deadline = time.monotonic() + 20
        while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=0"
    finally:
        term.close()
    (folder,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    summary = json.loads((folder / "summary.json").read_text())
    started = [ph["sessions"]["started"] for ph in summary["phases"]]
    completed = sum(ph["sessions"]["completed"] for ph in summary["phases"])
    assert started == [3, 6]
    assert f"completed ({completed} of {sum(started)} sessions completed)" in " ".join(
        done.split()), done
