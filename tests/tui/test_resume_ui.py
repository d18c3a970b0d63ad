"""Resume in the terminal app: the home screen marks a results folder whose run did not finish
(↻) and `u` resumes it; the budget modal says what is resumed, from where, and what remains."""

from __future__ import annotations

import json
import shutil
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import Button, OptionList, Static

from tokenflood_tui.outputs.folder import ResultsFolder
from tokenflood_tui.run.resume import find_resume_point
from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.help import HelpScreen
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.run import RunScreen

from support.screens import screen_lines, wait_until
from support.specs import endpoint_yml
from support.tokenflood import run_tokenflood, start, the_folder, write
from support.unfinished import (PHASE_2_STARTED, THREE_PHASES, assert_complete_three_phases,
                                killed_observation, stop_when)


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def killed_in_warm_up(root: Path, endpoint: EndpointSpec) -> Path:
    """What a run killed before its first phase leaves: configs, an empty journal, no rows, no
    summary (written by the real ResultsFolder, as `tokenflood run` does)."""
    folder = ResultsFolder(root, parse_run_suite(THREE_PHASES), endpoint,
                           datetime(2026, 1, 2, 3, 4, 5).astimezone())
    folder.close()
    return folder.path


async def test_home_marks_unfinished_runs_and_u_resumes_one(tmp_path, sim_process):
    write(tmp_path / "run.yml", THREE_PHASES)
    write(tmp_path / "endpoint.yml", endpoint_yml(sim_process.base_url))
    write(tmp_path / "one.yml", THREE_PHASES.replace("three", "one").replace("[10, 10, 10]", "[5]")
          .replace("length_in_seconds: 2", "length_in_seconds: 1"))
    # interrupted by Ctrl-C in phase 2 (a real run), and a completed one
    code, _ = stop_when(start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0"),
                        tmp_path, PHASE_2_STARTED, sig=signal.SIGINT, after_s=0.5)
    assert code == 130
    interrupted = the_folder(tmp_path)
    assert run_tokenflood("run", "one.yml", "endpoint.yml", "--yes", "--headless",
                          cwd=tmp_path).code == 0
    (completed,) = [p for p in (tmp_path / "results").iterdir() if "_one_" in p.name]
    # killed in warm-up with a literal secret (redacted in the saved copy), and a folder of an
    # older tokenflood (no journal)
    secret = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim_process.base_url,
                          extra_headers={"Authorization": "Bearer tf-literal-8815"})
    redacted = killed_in_warm_up(tmp_path / "results", secret)
    old = tmp_path / "results" / "2020-01-01_00-00-00_three_sim-model"
    shutil.copytree(interrupted, old)
    (old / "journal.jsonl").unlink()

    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        results = home.query_one("#results", OptionList)
        # the first line of each entry (the second has its headline figure)
        labels = {str(o.id): str(o.prompt).split("\n")[0] for o in results.options}
        assert labels == {
            str(interrupted): f"  {interrupted.name}  [interrupted]  ↻ resumable",
            str(completed): f"  {completed.name}  [completed]",
            str(redacted): f"  {redacted.name}  [no summary]  ↻ resumable",
            str(old): f"  {old.name}  [interrupted]"}
        # on the screen as well: the status in brackets is text, not taken for markup
        shown = "\n".join(screen_lines(app))
        assert "[interrupted]  ↻ resumable" in shown and "[completed]" in shown
        results.focus()
        order = [str(o.id) for o in results.options]

        async def highlight(folder: Path) -> str:
            results.highlighted = order.index(str(folder))
            await pilot.pause()
            return str(home.query_one("#detail", Static).render())

        # the details say why a folder can be resumed, and from where
        detail = await highlight(interrupted)
        assert "↻ resumable: interrupted: stopped by the user (Ctrl-C)\n" in detail
        assert "finished 1 of 3 phases; goes on at phase 2 of 3, in full (rows so far kept as " \
               "superseded)\nEnter: open   u: resume" in detail
        detail = await highlight(redacted)
        assert "cannot be resumed here" in detail and \
            f"tokenflood resume results/{redacted.name} --endpoint ENDPOINT.yml" in detail

        # what cannot be resumed says why, and nothing starts
        for folder, why in ((completed, "this run completed; there is nothing to resume"),
                            (old, "no journal.jsonl"),
                            (redacted, f"results/{redacted.name}/endpoint.yml has secrets "
                                       "redacted")):
            await highlight(folder)
            await pilot.press("u")
            await pilot.pause(0.3)
            assert isinstance(app.screen, HomeScreen) and app.run_controller is None
            assert why in notes(app)[-1], notes(app)

        # u on the interrupted one: the budget of what remains, then the live view to the end
        await highlight(interrupted)
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        text = str(app.screen.query_one("#budget-lines").render())
        assert text.startswith(f"resuming       {interrupted.name}\nit ended       interrupted\n"
                               "finished       1 of 3 phases\n")
        assert "what remains:\nrequests       40 (+" in text
        assert str(app.screen.query_one("#start", Button).label) == "Resume run (y)"
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        await wait_until(pilot, lambda: app.run_controller.finished, timeout=60)
        await pilot.pause(0.2)
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
        labels = {str(o.id): str(o.prompt).split("\n")[0] for o in results.options}
        assert labels[str(interrupted)] == f"  {interrupted.name}  [completed]"
    summary = json.loads((interrupted / "summary.json").read_text())
    assert_complete_three_phases(interrupted, summary)
    assert [r["from_phase"] for r in summary["resumed"]] == [2]


async def test_u_is_in_the_help_of_the_home_screen(tmp_path):
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause(0.2)
        await pilot.press("u")                       # nothing highlighted to resume: says how
        await pilot.pause(0.2)
        assert "Highlight a results folder marked ↻" in notes(app)[-1]
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        assert ["u", "Resume"] in [line.split() for line in app.screen.text().splitlines()]


async def test_the_budget_modal_of_a_resumed_observation_fits_80x24(tmp_path):
    now = time.time()
    folder = killed_observation(tmp_path / "results", "http://127.0.0.1:9/v1", now)
    point = find_resume_point(folder)
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=point.suite,
                               endpoint=point.endpoint, resume=point))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        modal = app.screen
        slot = datetime.fromtimestamp(now - 210 + 4 * 60).astimezone()
        ends = datetime.fromtimestamp(now - 210 + 15 * 60).astimezone()
        expected = [
            "Resume 'watch' against sim-model (hosted_vllm)?",
            f"resuming       {folder.name}",
            "it ended       killed or crashed: no summary was written",
            "finished       1 of 15 polls; 3 missed, 2 of them while down",
            f"goes on at     poll 5 of 15, its slot {slot.astimezone(UTC):%H:%M:%S} UTC",
            "base URL       http://127.0.0.1:9/v1",
            "what remains:",
            f"requests       {11 * 3} (+",
            f"ends about     {ends:%Y-%m-%d %H:%M} local, {ends.astimezone(UTC):%H:%M} UTC",
            "Resume run (y)",
        ]
        # all of it on the screen at once, none of it scrolled away or cut
        shown = "\n".join(line.strip() for line in screen_lines(app))
        for text in expected:
            assert text in shown, f"{text!r} not on the 80x24 screen:\n{shown}"
        assert modal.query_one("#start", Button).region.bottom <= 24
        await pilot.press("n")
        await pilot.pause(0.3)
    assert app.return_code == 3                       # cancelled: nothing sent, nothing changed
    assert (folder / "requests.csv").read_text().count("\n") == 1
    assert "resumed" not in (folder / "journal.jsonl").read_text()

