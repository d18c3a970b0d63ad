"""`tokenflood resume` in a terminal (tmux, as over SSH): a load test run in the app is SIGKILLed
mid-phase 2 with its whole process group; the resume shows the budget of what remains, then the
live view, and the folder ends up whole."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD, the_folder, write
from support.unfinished import (PHASE_2_STARTED, THREE_PHASES, assert_complete_three_phases,
                                killed_observation, rows)

pytestmark = pytest.mark.tmux


sim = simulator_fixture("--ttft-ms", "30", "--itl-ms", "3", scope="function")


def wait_for_file(path: Path, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.read_text().strip()


def test_a_run_killed_in_the_app_resumes_in_the_app(tmp_path, sim):
    write(tmp_path / "run.yml", THREE_PHASES)
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} run run.yml endpoint.yml --results-dir results", tmp_path, env)
    try:
        term.wait_for("Run 'three' against sim-model")
        term.keys("y")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            journal = next(iter((tmp_path / "results").glob("*/journal.jsonl")), None)
            if journal is not None and PHASE_2_STARTED in journal.read_text():
                break
            time.sleep(0.05)
        time.sleep(0.8)                            # mid-phase 2: some of its rows are written
        live = term.screen()
        assert "phase 2/3" in live, live
        # the app, its sender processes and the pane's shell: nothing gets to write a summary
        os.killpg(os.getpgid(term.tokenflood_pid()), signal.SIGKILL)
    finally:
        term.close()
    folder = the_folder(tmp_path)
    assert not (folder / "summary.json").exists()
    before = rows(folder)
    half_done = sum(r["phase"] == "2" for r in before)
    assert sum(r["phase"] == "1" for r in before) == 20 and half_done > 0

    term = Terminal(f"{TOKENFLOOD} resume {folder.name} --results-dir results", tmp_path, env)
    try:
        modal = term.wait_for("Resume 'three' against sim-model")
        assert f"resuming       {folder.name}" in modal
        assert "it ended       killed or crashed: no summary was written" in modal
        assert "finished       1 of 3 phases" in modal
        assert "goes on at     phase 2 of 3, in full (rows so far kept as superseded)" in modal
        assert "what remains:" in modal and "requests       40 (+" in modal
        assert "Resume run (y)" in modal
        term.keys("y")
        live = term.wait_for("phase 2/3", timeout=30)
        assert "TTFT p50/p90/p99" in live
        term.wait_for("completed", timeout=60)
        term.keys("q")
        assert wait_for_file(tmp_path / "exit-code") == "EXIT=0"
        after = term.history()
    finally:
        term.close()
    assert "tokenflood run 'three' on sim-model: completed" in after
    summary = json.loads((folder / "summary.json").read_text())
    assert_complete_three_phases(folder, summary)
    (resumed,) = summary["resumed"]
    assert resumed["from_phase"] == 2 and resumed["superseded_rows"] == half_done
    # the rows written before the kill are all there, as they were; phase 1 was not sent again
    now = rows(folder)
    assert [{k: v for k, v in r.items() if k != "superseded"} for r in now[:len(before)]] == [
        {k: v for k, v in r.items() if k != "superseded"} for r in before]
    assert sum(r["phase"] == "1" for r in now) == 20


def test_the_headless_question_of_a_resumed_observation(tmp_path):
    """`--headless` on a terminal asks y/N after saying where the observation stands, how many
    slots passed while it was down and when what remains ends; n sends nothing."""
    now = time.time()
    folder = killed_observation(tmp_path / "results", "http://127.0.0.1:9/v1", now)
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} resume {folder.name} --headless --results-dir results",
                    tmp_path, env)
    try:
        screen = term.wait_for("Resume the run? [y/N]")
        slot = datetime.fromtimestamp(now - 210 + 4 * 60, UTC)
        ends = datetime.fromtimestamp(now - 210 + 15 * 60).astimezone()
        assert "\n".join([
            "[tokenflood] resume:",
            f"    resuming       {folder.name}",
            "    it ended       killed or crashed: no summary was written",
            "    finished       1 of 15 polls; 3 missed, 2 of them while down",
            f"    goes on at     poll 5 of 15, its slot {slot:%H:%M:%S} UTC",
            "[tokenflood] budget estimate of what remains:",
            "    requests       33 (+"]) in screen
        assert f"    ends about     {ends:%Y-%m-%d %H:%M} local, {ends.astimezone(UTC):%H:%M} UTC" \
            in screen
        term.keys("n", "Enter")
        assert wait_for_file(tmp_path / "exit-code") == "EXIT=3"
        assert "resume cancelled at the budget confirmation" in term.history()
    finally:
        term.close()
    assert "resumed" not in (folder / "journal.jsonl").read_text()
