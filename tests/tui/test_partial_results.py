"""A run killed mid-phase, in the app: the home screen's headline says what its rows show, and
Enter opens its results (built from the journal and the rows, marked partial) instead of an
error; the phases are there with the unfinished one's counts from requests.csv."""

from __future__ import annotations

import csv
from collections import Counter

from textual.widgets import DataTable, OptionList, Static

from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.results import LoadTestResultsScreen

from support.tokenflood import write
from support.specs import endpoint_yml
from support.tokenflood import start, the_folder
from support.unfinished import PHASE_3_STARTED, THREE_PHASES, stop_when


def sent_per_phase(folder) -> Counter:
    text = (folder / "requests.csv").read_text()
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    if not text.endswith("\n"):
        rows.pop()
    return Counter(int(r["phase"]) for r in rows)


def phase_rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_enter_on_a_killed_run_shows_its_phases_and_how_to_resume(tmp_path, sim_process):
    write(tmp_path / "run.yml", THREE_PHASES)
    write(tmp_path / "endpoint.yml", endpoint_yml(sim_process.base_url))
    stop_when(start(tmp_path, "run", "run.yml", "endpoint.yml"), tmp_path, PHASE_3_STARTED,
              after_s=0.8)
    folder = the_folder(tmp_path)
    sent = sent_per_phase(folder)
    assert sent[1] == sent[2] == 20 and 0 < sent[3] < 20

    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        results = app.screen.query_one("#results", OptionList)
        (option,) = results.options
        label, headline = str(option.prompt).split("\n")
        assert label == f"  {folder.name}  [no summary]  ↻ resumable"
        assert headline.strip().startswith("partial: TTFT p50 ") and \
            headline.endswith("ms @ 10 req/s")
        results.focus()
        results.highlighted = 0
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, LoadTestResultsScreen) and screen.error is None
        head = " ".join(str(screen.query_one("#results-head", Static).render()).split())
        assert "three on sim-model (hosted_vllm, client openai) — interrupted: partial:" in head
        assert f"to go on: tokenflood resume {folder}" in head
        rows = phase_rows(screen.query_one("#results-phases", DataTable))
        assert [(r[0], r[3]) for r in rows] == [("1", "20/20"), ("2", "20/20"),
                                               ("3", f"{sent[3]}/20")]
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert app.screen.query_one("#results", OptionList) is results
    assert not (folder / "summary.json").exists()
