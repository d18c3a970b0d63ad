"""`tokenflood results` without a terminal: the summary from summary.json, as a person reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import run_tokenflood

PAST = Path(__file__).parents[1] / "tui" / "fixtures" / "workspace" / "past-runs"


def test_results_prints_the_summary_from_summary_json_alone(tmp_path):
    # a folder with summary.json and nothing else (an older run's, as the fixture is)
    (fixture,) = PAST.iterdir()
    shutil.copytree(fixture, tmp_path / "results" / fixture.name)
    done = run_tokenflood("results", fixture.name, cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("# tokenflood run `tmux-demo` — completed")
    assert "|     3 |           20 |          22.00 |  176 | 176 |" in done.stdout


def test_results_of_a_folder_whose_summary_is_not_one_says_so(tmp_path):
    folder = tmp_path / "results" / "2026-01-01_00-00-00_x_y"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text('{"status": "completed"}')
    done = run_tokenflood("results", folder.name, cwd=tmp_path)
    assert done.code == 2 and "Traceback" not in done.stderr
    assert "summary.json: not a tokenflood summary" in done.stderr
