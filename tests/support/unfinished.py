"""Runs that do not finish, for the resume tests: the real `tokenflood run` (or `resume`) stopped
by a signal once its journal shows a given event, as a crash, a kill or Ctrl-C would stop it."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from tokenflood_tui.outputs.folder import ResultsFolder
from tokenflood_tui.outputs.journal import PhaseFinished, PhaseStarted, RunStarted
from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.run.stats import PhaseAccumulator


THREE_PHASES = """\
name: three
requests_per_second_rates: [10, 10, 10]
test_length_in_seconds: 2
arrival: constant
load_types:
- {prompt_length: 64, output_length: 4}
"""
OBSERVATION_15_POLLS = """\
type: observation
name: watch
duration_hours: 0.25
polling_interval_minutes: 1
num_requests: 3
within_seconds: 10
load_type: {prompt_length: 64, output_length: 4}
"""
PHASE_2_STARTED = '"event":"phase_started","phase":2,'
PHASE_3_STARTED = '"event":"phase_started","phase":3,'


def stop_when(proc: subprocess.Popen, cwd: Path, text: str, sig: int = signal.SIGKILL,
              after_s: float = 0.0, timeout: float = 60) -> tuple[int, str]:
    """Send `sig` to the process group `after_s` after the journal has `text` (the whole group:
    SIGKILL leaves no handler to run, as a crash; SIGINT is what Ctrl-C sends a terminal's
    foreground group). Returns the exit code and stderr."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        journal = next(iter((cwd / "results").glob("*/journal.jsonl")), None)
        if journal is not None and text in journal.read_text():
            time.sleep(after_s)
            os.killpg(proc.pid, sig)
            _, err = proc.communicate(timeout=60)
            return proc.returncode, err
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"{text!r} never reached the journal; stderr:\n{err}")


def rows(folder: Path) -> list[dict]:
    with open(folder / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def kept(folder: Path) -> list[dict]:
    """The rows that count (not superseded by a resume's re-run of their phase)."""
    return [r for r in rows(folder) if r["superseded"] == "false"]


def assert_complete_three_phases(folder: Path, summary: dict) -> None:
    """The resumed run is whole: every phase sent what it planned, once."""
    assert summary["status"] == "completed", summary["message"]
    assert [(p["phase"], p["sent"], p["planned"]) for p in summary["phases"]] == [
        (1, 20, 20), (2, 20, 20), (3, 20, 20)]
    good = kept(folder)
    assert Counter(r["phase"] for r in good) == {"1": 20, "2": 20, "3": 20}
    assert len({r["seq"] for r in good}) == 60          # no arrival counted twice


def killed_observation(root: Path, base_url: str, now: float) -> Path:
    """An observation killed during its poll 2, 210 s after its first slot (60 s apart): poll 1
    finished, poll 2 cut short; polls 3 and 4 passed while nothing ran, poll 5 is 30 s away."""
    suite = parse_run_suite(OBSERVATION_15_POLLS)
    endpoint = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=base_url)
    anchor = now - 210
    started = datetime.fromtimestamp(anchor - 20).astimezone()
    folder = ResultsFolder(root, suite, endpoint, started)
    folder.journal(RunStarted(kind="observation", at_utc=anchor, phases=suite.polls,
                              anchor_utc=anchor, started_at=started.isoformat(timespec="seconds")))
    folder.journal(PhaseStarted(phase=1, at_utc=anchor))
    stats = PhaseAccumulator(1, 0.3, 10.0, 3, suite.percentiles).stats()
    folder.journal(PhaseFinished(phase=1, at_utc=anchor + 11, stats=stats))
    folder.journal(PhaseStarted(phase=2, at_utc=anchor + 60))
    folder.close()
    return folder.path
