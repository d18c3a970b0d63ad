"""SIGHUP (an SSH session dropping) and SIGTERM stop a run like Ctrl-C: the results folder is
written with status interrupted, every sent request has its row, and the exit code is 130."""

from __future__ import annotations

import csv
import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.simulators import simulator_fixture
from support.specs import endpoint_yml, run_yml
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD, write

RUN = run_yml("hup", rates=[10], length=30, arrival="constant",
              load_types=[{"prompt_length": 64, "output_length": 8}])


sim = simulator_fixture("--ttft-ms", "40", "--itl-ms", "20")


def tui(command: str, folder: Path) -> Terminal:
    """The TUI in a tmux pane of 120x40, as a user over SSH would run it."""
    return Terminal(command, folder, {"TOKENFLOOD_CONFIG_DIR": str(folder / "config"),
                                      "TERM": "xterm-256color",
                                      "LITELLM_LOCAL_MODEL_COST_MAP": "True"})


def specs(folder: Path, sim) -> None:
    write(folder / "run.yml", RUN)
    write(folder / "endpoint.yml", endpoint_yml(sim.base_url))


def wait_for_rows(folder: Path, rows: int = 10, timeout: float = 60) -> None:
    """Until the run has recorded `rows` requests: load is going, some requests are in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for csv_path in (folder / "results").glob("*/requests.csv"):
            if csv_path.read_text().count("\n") > rows:
                return
        time.sleep(0.2)
    raise AssertionError(f"no {rows} rows in {folder / 'results'} after {timeout} s")


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(what)


def interrupted_and_complete(folder: Path) -> dict:
    (results,) = (folder / "results").iterdir()
    summary = json.loads((results / "summary.json").read_text())
    assert summary["status"] == "interrupted", summary["message"]
    (phase,) = summary["phases"]
    with open(results / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == phase["sent"] >= 10
    assert phase["ok"] + phase["failed"] == phase["sent"]
    # the page to share is written however the run ended, and says how
    assert '<span class="status-interrupted">interrupted</span>' in (
        results / "report.html").read_text()
    return summary


def headless(folder: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes", "--headless",
                             "--results-dir", "results", *extra], cwd=folder, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_headless_stops_on_the_signal_and_writes_the_results(tmp_path, sim, sig):
    specs(tmp_path, sim)
    proc = headless(tmp_path, "--workers", "0")
    try:
        wait_for_rows(tmp_path)
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"{sig.name}: stopping" in err and "Traceback" not in err
    assert "interrupted" in out
    summary = interrupted_and_complete(tmp_path)
    # the summary says what stopped it: a hangup is not the user's Ctrl-C
    assert summary["message"] == ("stopped: the terminal hung up (SIGHUP: an SSH session dropped?)"
                                  if sig == signal.SIGHUP else "stopped by SIGTERM")


def test_a_second_ctrl_c_stops_at_once_without_the_grace(tmp_path):
    """Requests of 13 s: after one Ctrl-C they would get the 3 s grace; a second one cancels them
    at once and says so."""
    with SimulatorProcess("--ttft-ms", "40", "--itl-ms", "200") as slow:
        write(tmp_path / "run.yml", run_yml("hup", rates=[10], length=10, arrival="constant",
                                            load_types=[{"prompt_length": 64,
                                                         "output_length": 64}]))
        write(tmp_path / "endpoint.yml", endpoint_yml(slow.base_url))
        proc = headless(tmp_path, "--workers", "0")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not list((tmp_path / "results").glob("*/requests.csv")):
                time.sleep(0.1)
            time.sleep(2.0)                     # about 20 requests in flight, none finished
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "SIGINT again: stopping at once" in err and "Traceback" not in err
    (folder,) = (tmp_path / "results").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["message"] == "stopped by the user (Ctrl-C)"
    with open(folder / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    cancelled = [r for r in rows if r["status"] == "cancelled"]
    assert cancelled and len(rows) == summary["phases"][0]["sent"]
    last_send = max(float(r["t_send_s"]) for r in rows)
    # cut half a second after the first Ctrl-C (the second), not after the 3 s grace
    assert max(float(r["t_end_s"]) for r in cancelled) - last_send < 2.0


def test_headless_hangup_of_the_whole_process_group_keeps_the_workers_rows(tmp_path, sim):
    # An SSH drop signals every process of the job, the sender processes too: they must leave
    # the stopping to the coordinator, or their in-flight requests are lost.
    specs(tmp_path, sim)
    proc = headless(tmp_path, "--workers", "2")
    try:
        wait_for_rows(tmp_path)
        os.killpg(proc.pid, signal.SIGHUP)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    summary = interrupted_and_complete(tmp_path)
    assert summary["workers"] == 2 and summary["phases"][0]["failed"] == 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return status != "Z"


@pytest.mark.tmux
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_tui_stops_the_run_on_the_signal_writes_the_results_and_exits_130(tmp_path, sim, sig):
    specs(tmp_path, sim)
    term = tui(f"{TOKENFLOOD} run run.yml endpoint.yml --yes --results-dir results", tmp_path)
    try:
        pid = term.tokenflood_pid()
        wait_for_rows(tmp_path)
        assert "phase 1/1" in term.screen()
        os.kill(pid, sig)
        wait_until(lambda: (tmp_path / "exit-code").exists(), 40, "the TUI did not exit")
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=130"
    finally:
        term.close()
    interrupted_and_complete(tmp_path)


@pytest.mark.tmux
@pytest.mark.parametrize("mode", ["--headless", ""])
def test_a_terminal_that_goes_away_mid_run_still_gets_its_results_written(tmp_path, sim, mode):
    # Killing the tmux session closes the pseudo-terminal and signals SIGHUP to everything on
    # it: every later write to the terminal fails, which must not stop the results being written.
    specs(tmp_path, sim)
    term = tui(f"{TOKENFLOOD} run run.yml endpoint.yml --yes {mode} --results-dir results",
               tmp_path)
    pid = term.tokenflood_pid()
    try:
        wait_for_rows(tmp_path)
    finally:
        term.close()
    wait_until(lambda: not alive(pid), 40, "tokenflood kept running after its terminal went away")
    interrupted_and_complete(tmp_path)


def helper_threads(pid: int) -> list[int]:
    """The process's threads other than the main one that sleep on a lock or a queue (not the
    input thread, whose poll a signal interrupts, which wakes the app by itself)."""
    return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()
            if int(t.name) != pid and "futex" in (t / "wchan").read_text()]


def tgkill(pid: int, thread: int, sig: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.tgkill(pid, thread, sig) == 0, os.strerror(ctypes.get_errno())


@pytest.mark.tmux
@pytest.mark.parametrize("through", ["process", "helper thread"])
def test_tui_signalled_at_the_budget_modal_exits_130_without_a_results_folder(tmp_path, sim,
                                                                               through):
    # The kernel hands a signal sent to the process to any of its threads (under load, one that
    # is running rather than the main thread asleep in its poll). Taken by a helper thread, the
    # app idle at the budget modal stayed open for good: the handler waits for the main thread
    # to run Python code, so "helper thread" sends it to one with tgkill.
    specs(tmp_path, sim)
    term = tui(f"{TOKENFLOOD} run run.yml endpoint.yml --results-dir results", tmp_path)
    try:
        pid = term.tokenflood_pid()
        wait_until(lambda: "Run 'hup' against sim-model" in term.screen(), 20, "no budget modal")
        time.sleep(1.0)                # the app idle at the modal: its main thread asleep in its poll
        if through == "process":
            os.kill(pid, signal.SIGTERM)
        else:
            threads = helper_threads(pid)
            assert threads, "no helper thread to take the signal"
            tgkill(pid, threads[0], signal.SIGTERM)
        wait_until(lambda: (tmp_path / "exit-code").exists(), 20, "the TUI did not exit")
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=130"
    finally:
        term.close()
    assert not (tmp_path / "results").exists()
