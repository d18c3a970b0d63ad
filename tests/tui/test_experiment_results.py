"""An A/B experiment's folder, after it ran, from the home screen: listed with its verdicts,
Enter opens its comparison (writing nothing), `r` there a variant's results; it is not marked
to compare (it is a comparison already). One real experiment against two simulators 30 ms apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList

from tokenflood_tui.compare.compare import Comparison
from tokenflood_tui.simulator import SimulatorProcess
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.choose import ChooseModal
from tokenflood_tui.tui.screens.compare import CompareScreen
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.results import ResultsScreen

from support.screens import screen_lines
from support.tokenflood import run_tokenflood, write

SUITE = ("name: abhome\nrequests_per_second_rates: [10, 20]\ntest_length_in_seconds: 2\n"
         "arrival: constant\nseed: 3\nload_types: [{prompt_length: 64, output_length: 4}]\n")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    """`tokenflood ab` (headless) of fast (TTFT 30 ms) against slow (60 ms): the folder."""
    tmp = tmp_path_factory.mktemp("abhome")
    write(tmp / "run.yml", SUITE)
    with SimulatorProcess("--ttft-ms", "30", "--jitter", "0.1") as fast, \
            SimulatorProcess("--ttft-ms", "60", "--jitter", "0.1") as slow:
        for name, sim in (("fast", fast), ("slow", slow)):
            write(tmp / f"{name}.yml",
                  f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n")
        done = run_tokenflood("ab", "run.yml", "fast.yml", "slow.yml", "--rounds", "1", "--yes",
                              "--headless", cwd=tmp)
    assert done.code == 0, done.stderr
    return done.folder()


async def test_home_lists_the_experiment_and_opens_its_comparison_and_variants(experiment,
                                                                              tmp_path):
    results = experiment.parent
    before = sorted(p.name for p in results.iterdir())
    c = Comparison.load(experiment)
    verdicts = c.verdicts(1)
    slower = verdicts["slower"]
    assert slower >= 4           # TTFT and e2e at p50 and p90, at 20 req/s at least
    # beside a busy core a cell that does not depend on TTFT (ITL, tokens/s) may come out faster
    faster = f"faster in {verdicts['faster']}, " if verdicts.get("faster") else ""
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=results))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        options = home.query_one("#results", OptionList)
        # listed (it used to be left out: no summary.json), with the verdicts that decide
        (option,) = options.options
        total = len(c.cells)
        assert str(option.prompt) == (f"  {experiment.name}  [A/B completed]\n"
                                      f"    B vs A: {faster}slower in {slower} of {total} cells")
        options.focus()
        await pilot.pause(0.2)
        lines = "\n".join(screen_lines(app))
        assert "A/B 'abhome': A = fast (baseline), B = slow" in lines
        assert "Enter: the comparison (r there: a variant's results)" in lines
        # an experiment is a comparison already: space does not mark it
        await pilot.press("space")
        await pilot.pause(0.2)
        assert home.marked == []
        assert "Enter opens its comparison" in [n.message for n in app._notifications][-1]
        app.clear_notifications()
        # Enter: its comparison, read from the folder, nothing written
        await pilot.press("enter")
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.folder == experiment
        assert screen.comparison is not None and screen.comparison.cells == c.cells
        lines = screen_lines(app)
        assert lines[1] == " A = fast (baseline)" and lines[2] == " B = slow"
        assert "r Run results" in lines[-1] and "w Write" not in lines[-1]
        # r: a chooser of the variants; 2 opens slow's results
        await pilot.press("r")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ChooseModal)
        text = "\n".join(screen_lines(app))
        assert "1 A fast (baseline) · abhome on sim-model · completed" in text
        assert "2 B slow · abhome on sim-model · completed" in text
        await pilot.press("2")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ResultsScreen) and app.screen.folder == experiment / "slow"
        assert app.screen.summary is not None and app.screen.summary.status == "completed"
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert app.screen is screen
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
    assert sorted(p.name for p in results.iterdir()) == before      # no compare_<time>/
