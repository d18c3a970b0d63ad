"""The real `tokenflood` command in tmux (a pseudo-terminal, as over SSH), driven by keys only.

A user creates an endpoint and a run suite from scratch, runs them against the simulator, and
opens the results; the test reads the screen as text after every step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD

pytestmark = pytest.mark.tmux


sim = simulator_fixture("--ttft-ms", "30", "--itl-ms", "3", scope="function")


def test_from_scratch_to_results_with_the_keyboard_only(tmp_path, sim):
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} --results-dir results", tmp_path, env)
    try:
        home = term.wait_for("Recent results")
        assert "Endpoints" in home and "Run suites" in home and "sample/endpoint_openai.yml" in home

        # a new endpoint spec
        term.keys("n")
        term.wait_for("new file")
        term.type("sim")
        term.keys("Tab")
        term.type("hosted")                       # the provider list searches as you type
        term.keys("Enter")
        # Textual's Select takes the focus back when it handles the choice, a message later: a
        # Tab sent before that (a busy machine) is undone. The check panel shows it handled.
        term.wait_gone("missing required key 'provider'")
        term.keys("Tab")
        term.type("sim-model")
        term.keys("Tab")
        term.type(sim.base_url)
        term.wait_for("client: openai")
        term.keys("C-s")
        term.wait_for("endpoint.yml")
        term.keys("Enter")                        # accept the suggested file name
        term.wait_for("Saved endpoint.yml")
        term.keys("Escape")
        term.wait_for("Recent results")
        assert "provider: hosted_vllm" in (tmp_path / "endpoint.yml").read_text()

        # a new run suite: one phase of 2 s at 5 req/s
        term.keys("s")
        term.wait_for("new file")
        term.type("tmux")
        term.keys("Tab", "C-u")
        term.type("5")
        term.wait_for("→ [5] req/s: 1 phase")       # the field handled, as a person sees it
        term.keys("Tab", "C-u")
        term.type("2")
        term.wait_for("✓ valid")                     # (a "2" typed too soon was lost once)
        term.keys("C-s")
        term.wait_for("run.yml")
        term.keys("Enter")
        term.wait_for("Saved run.yml")
        term.keys("Escape")
        home = term.wait_for("suite: run.yml")
        assert "endpoint: endpoint.yml" in home

        # run it: the budget modal, then the live view
        term.keys("r")
        modal = term.wait_for("Run 'tmux' against sim-model")
        planned = int(re.search(r"requests +(\d+) ", modal).group(1))   # poisson: seeded count
        assert 3 <= planned <= 20 and "unknown" in modal
        term.keys("y")
        live = term.wait_for("phase 1/1")
        assert "TTFT p50/p90/p99" in live and "e2e p50/p90/p99" in live
        done = term.wait_for("completed", timeout=60)
        assert f"{planned}/{planned}" in done

        # the results view, then quit
        term.keys("r")
        results = term.wait_for("tmux on sim-model")
        assert "TTFT" in results and "completed" in results
        term.keys("q")
        deadline = time.monotonic() + 10
        while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=0"
        after = term.history()
    finally:
        term.close()
    (folder,) = (tmp_path / "results").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["phases"][0]["ok"] == planned
    # a run started from the home screen is summed up on the terminal after the app exits
    assert "tokenflood run 'tmux' on sim-model: completed" in after
    assert f"results: results/{folder.name}" in after
    assert summary["workers"] >= 1            # the live view always sends from another process


def test_run_command_shows_the_modal_and_cancel_exits_3(tmp_path, sim):
    (tmp_path / "run.yml").write_text(
        "name: cancel\nrequests_per_second_rates: [5]\ntest_length_in_seconds: 2\n"
        "load_types:\n- {prompt_length: 64, output_length: 8}\n")
    (tmp_path / "endpoint.yml").write_text(endpoint_yml(sim.base_url))
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm"}   # 16 colours
    term = Terminal(f"{TOKENFLOOD} run run.yml endpoint.yml --theme tokenflood-ansi "
                    "--results-dir results", tmp_path, env)
    try:
        term.wait_for("Run 'cancel' against sim-model")
        term.keys("n")
        deadline = time.monotonic() + 10
        while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=3"
    finally:
        term.close()
    assert not (tmp_path / "results").exists()


def wait_exit(tmp_path: Path, timeout: float = 10) -> str:
    """What the shell wrote after the command ended (`EXIT=<code>`)."""
    deadline = time.monotonic() + timeout
    while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return (tmp_path / "exit-code").read_text().strip()


def test_over_a_limit_at_80x24_the_modal_says_how_to_raise_it_and_cannot_start(tmp_path, sim):
    (tmp_path / "run.yml").write_text(
        "name: big\nrequests_per_second_rates: [5]\ntest_length_in_seconds: 2\n"
        "load_types:\n- {prompt_length: 64, output_length: 8}\n")
    (tmp_path / "endpoint.yml").write_text(endpoint_yml(sim.base_url))
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "TOKENFLOOD_MAX_OUTPUT_TOKENS": "20"}
    term = Terminal(f"{TOKENFLOOD} run run.yml endpoint.yml --results-dir results", tmp_path, env,
                    size=(80, 24))
    try:
        modal = term.wait_for("Cannot start")
        # the modal's own text: between its left and right border on each row, rows joined
        rows = [line[line.index("█") + 1:line.rindex("█")] for line in modal.splitlines()
                if line.count("█") >= 2]
        flat = " ".join(" ".join(rows).split())
        assert f"base URL {sim.base_url}" in flat
        assert re.search(r"Cannot start: output tokens (\d+) estimated, over the limit of 20 by "
                         r"(\d+)\.", flat)
        assert re.search(r"TOKENFLOOD_MAX_OUTPUT_TOKENS=\d+ tokenflood run run.yml endpoint.yml", flat)
        assert "Cancel (n)" in modal and "Start run" not in modal    # the button is on screen
        term.keys("y")
        time.sleep(1.0)
        assert "Cannot start" in term.screen()                       # y does nothing
        term.keys("Enter")                                          # Cancel has the focus
        assert wait_exit(tmp_path) == "EXIT=3"
    finally:
        term.close()
    assert not (tmp_path / "results").exists()


def test_without_a_terminal_run_is_headless_and_home_refuses(tmp_path, sim):
    (tmp_path / "run.yml").write_text(
        "name: piped\nrequests_per_second_rates: [5]\ntest_length_in_seconds: 1\n"
        "load_types:\n- {prompt_length: 64, output_length: 8}\n")
    (tmp_path / "endpoint.yml").write_text(endpoint_yml(sim.base_url))
    env = {**os.environ, "TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "| phase |" in done.stdout and "\x1b[" not in done.stdout
    home = subprocess.run([TOKENFLOOD], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=20, stdin=subprocess.DEVNULL)
    assert home.returncode == 2 and "needs a terminal" in home.stderr
    results = subprocess.run([TOKENFLOOD, "results"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert results.returncode == 0 and "# tokenflood run `piped`" in results.stdout
    # a folder name as the home screen lists it, or the path as typed
    (folder,) = (tmp_path / "results").iterdir()
    for given in (folder.name, f"results/{folder.name}", str(folder)):
        shown = subprocess.run([TOKENFLOOD, "results", given], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert shown.returncode == 0 and shown.stdout == results.stdout, (given, shown.stderr)
    missing = subprocess.run([TOKENFLOOD, "results", "nope"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert missing.returncode == 2 and missing.stderr == (
        "tokenflood: error: nope: no such results folder (looked for nope and results/nope); "
        "`tokenflood results` opens the newest one\n")


def wait_for_exit(tmp_path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return (tmp_path / "exit-code").read_text().strip()


flaky_sim = simulator_fixture("--ttft-ms", "30", "--itl-ms", "3", "--error-rate", "503=0.3", scope="function")


def test_at_80x24_failures_show_live_and_quitting_prints_the_summary(tmp_path, flaky_sim):
    """30% HTTP 503: the live view counts them by status; after q the terminal keeps the
    summary table, the failures and the results folder, as oha and k6 leave theirs."""
    (tmp_path / "run.yml").write_text(
        "name: flaky\nrequests_per_second_rates: [10, 20]\ntest_length_in_seconds: 2\n"
        "error_limit: 0.9\nload_types:\n- {prompt_length: 64, output_length: 8}\n")
    (tmp_path / "endpoint.yml").write_text(endpoint_yml(flaky_sim.base_url))
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} run run.yml endpoint.yml --yes --results-dir results", tmp_path,
                    env, size=(80, 24))
    try:
        live = term.wait_for("✗ phase", timeout=30)
        header = next(line for line in live.splitlines() if "phase  target" in line)
        assert "TTFT" in header and "e2e" in header and "cache" in header
        assert "http_error 503" in live
        done = term.wait_for("completed", timeout=60)
        assert "2 latency now" in done and "3 TTFT percentiles" in done and "4 log" in done
        term.keys("3")
        term.wait_gone("2 latency now")        # the chart alone: the other panels are gone
        chart = term.wait_for("TTFT (ms) by request rate")
        assert "2 latency now" not in chart and "4 log" not in chart
        term.keys("Escape")
        term.wait_for("2 latency now")
        term.keys("q")
        assert wait_for_exit(tmp_path) == "EXIT=0"
        after = term.history()
    finally:
        term.close()
    (folder,) = (tmp_path / "results").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert "tokenflood run 'flaky' on sim-model: completed" in after
    assert f"results: results/{folder.name}" in after
    # fitted to the 80 columns: no line wrapped by the terminal (history joins those)
    assert [line for line in after.splitlines() if len(line) > 80] == []
    lines = after.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("phase  target"))
    for ph, row in zip(summary["phases"], lines[head + 1:], strict=False):
        cells = row.split()                      # the phase rows, with the figures of summary.json
        assert cells[0] == str(ph["phase"])
        assert cells[3:6] == [str(ph["sent"]), str(ph["ok"]), str(ph["failed"])], row
    assert "summary.md has every column" in " ".join(after.split())
    failed = sum(ph["failed"] for ph in summary["phases"])
    assert failed > 0 and "failures:" in after and re.search(r"http_error +503 ", after)
    assert "% of requests failed" in after       # the phase warning (over 5% failed)
    assert "\x1b[" not in after


def test_quitting_the_demo_mid_run_prints_the_interrupted_summary(tmp_path):
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} demo --simulator --results-dir results", tmp_path, env)
    try:
        term.wait_for("Run 'demo' against sim-model", timeout=60)
        term.keys("y")
        term.wait_for("phase 1/3 running", timeout=60)
        term.keys("q")
        term.wait_for("A run is going. Stop it and quit?")
        term.keys("y")
        assert wait_for_exit(tmp_path) == "EXIT=130"
        after = term.history()
    finally:
        term.close()
    (folder,) = (tmp_path / "results").iterdir()
    assert "tokenflood run 'demo' on sim-model: interrupted (stopped by the user)" in after
    assert f"results: results/{folder.name}" in after and "phase  target  achieved" in after
