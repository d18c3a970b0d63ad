"""A run killed mid-phase can be looked at: `tokenflood results DIR` builds its summary from the
journal (the finished phases' statistics) and requests.csv (the unfinished phase's rows), says
that it is partial and how to go on, and writes nothing (the run still resumes as killed)."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.tokenflood import run_tokenflood, write
from support.specs import endpoint_yml
from support.tokenflood import start, the_folder
from support.unfinished import PHASE_3_STARTED, THREE_PHASES, stop_when


@pytest.fixture(scope="module")
def sim():
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2", "--error-rate", "503=0.1",
                          "--seed", "5") as s:
        yield s


def killed_in_phase_3(tmp_path, sim):
    write(tmp_path / "run.yml", THREE_PHASES)
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    stop_when(start(tmp_path, "run", "run.yml", "endpoint.yml"), tmp_path, PHASE_3_STARTED,
              after_s=0.8)
    folder = the_folder(tmp_path)
    assert not (folder / "summary.json").exists()
    return folder


def counts(folder) -> dict[int, Counter]:
    """Per phase: rows, ok and failed, from requests.csv (a torn last line left out)."""
    text = (folder / "requests.csv").read_text()
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    if not text.endswith("\n"):
        rows.pop()
    out: dict[int, Counter] = {}
    for r in rows:
        c = out.setdefault(int(r["phase"]), Counter())
        c["sent"] += 1
        c["ok" if r["status"] == "ok" else "failed"] += 1
    return out


def test_results_of_a_killed_run_prints_its_phases_from_the_rows_and_how_to_resume(tmp_path, sim):
    folder = killed_in_phase_3(tmp_path, sim)
    rel = f"results/{folder.name}"
    done = run_tokenflood("results", rel, cwd=tmp_path)
    assert done.code == 0, done.stderr
    out = done.stdout
    assert out.startswith("# tokenflood run `three` — interrupted (partial)\n")
    assert "partial: no summary.json was written, the process was killed or is still " \
           "running" in out
    assert f"to go on: tokenflood resume {rel}" in out
    table = out.split("## Phases\n\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    shown = {int(cells[0]): cells for cells in
             ([c.strip() for c in line.strip("|").split("|")] for line in table)}
    from_rows = counts(folder)
    assert sorted(shown) == [1, 2, 3] and 0 < from_rows[3]["sent"] < 20
    for phase, c in from_rows.items():
        assert shown[phase][3:6] == [str(c["sent"]), str(c["ok"]), str(c["failed"])], phase
    assert shown[1][1] == shown[3][1] == "10"
    # the same as JSON, marked partial; the folder still resumes as a killed run
    as_json = json.loads(run_tokenflood("results", rel, "--format", "json", cwd=tmp_path).stdout)
    assert as_json["partial"] is True and as_json["status"] == "interrupted"
    assert [(p["phase"], p["sent"]) for p in as_json["phases"]] == [
        (k, from_rows[k]["sent"]) for k in (1, 2, 3)]
    assert not (folder / "summary.json").exists()
    resumed = run_tokenflood("resume", rel, "--yes", "--headless", cwd=tmp_path)
    assert resumed.code == 0, resumed.stderr
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["partial"] is False and [p["sent"] for p in summary["phases"]] == [20, 20, 20]
