"""`tokenflood results` without a terminal: the summary from summary.json, as a person reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.tokenflood import run_tokenflood

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


OBSERVATION = (Path(__file__).parents[1] / "tui" / "fixtures" / "observation"
               / "2026-12-01_13-52-00_watch-sim_sim-model")


def test_results_of_an_observation_prints_its_polls_hours_and_missed_polls(tmp_path):
    shutil.copytree(OBSERVATION, tmp_path / "results" / OBSERVATION.name)
    done = run_tokenflood("results", str(tmp_path / "results" / OBSERVATION.name), cwd=tmp_path)
    assert done.code == 0, done.stderr
    out = done.stdout
    assert out.startswith("# tokenflood observation `watch-sim` — completed\n")
    assert "- polls: 4 ran, 2 missed (6 of 6 recorded); requests: 12 sent, 9 ok, 3 failed" in out
    polls = out.split("## Polls\n", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in polls.splitlines()
            if line.startswith("|")][2:]
    assert [(r[0], r[2]) for r in rows] == [("1", "ok"), ("2", "all failed"), ("3", "ok"),
                                           ("4", "missed"), ("5", "missed"), ("6", "ok")]
    assert rows[0][6:9] == ["41.0", "42.1", "42.4"]         # TTFT p50/p90/p99 of poll 1
    assert "|      13:00 |       12 |  9 |" in out           # the hours table
    assert "## Resumed\n\n- 2026-12-01T13:52:33+00:00: went on at poll 4" in out
    assert "- 2 polls (4-5): tokenflood was not running" in out


def test_results_without_a_folder_opens_the_newest_that_has_a_summary(tmp_path):
    (fixture,) = PAST.iterdir()
    shutil.copytree(fixture, tmp_path / "results" / fixture.name)
    killed = tmp_path / "results" / "2099-01-01_00-00-00_killed_m"     # newer, no summary
    killed.mkdir()
    (killed / "requests.csv").write_text("phase\n")
    done = run_tokenflood("results", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("# tokenflood run `tmux-demo` — completed")
