"""Pilot tests of the run flow: budget modal, live view, stop mid-run, results, home screen."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from textual.widgets import DataTable, OptionList

from tokenflood_tui.specs import EndpointSpec, parse_run_suite, to_yaml
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.results import ResultsScreen
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.widgets.chart import LatencyChart

from support.screens import screen_lines, until, wait_until

SUITE = """\
name: pilot
requests_per_second_rates: [5, 10]
test_length_in_seconds: {length}
arrival: constant
load_types:
- {{prompt_length: 120, prefix_length: 60, output_length: 8}}
"""


def suite(length: float = 1.5):
    return parse_run_suite(SUITE.format(length=length))


def endpoint(sim) -> EndpointSpec:
    return EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url)


def only_folder(root: Path) -> Path:
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


async def test_budget_modal_confirm_runs_to_completion(tmp_path, sim_process):
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=suite(),
                               endpoint=endpoint(sim_process)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        text = str(app.screen.query_one("#budget-lines").render())
        assert "requests       23 " in text and "self-hosted" in text
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        # the footer, while it runs (drawn a frame after the screen is pushed)
        await wait_until(pilot, lambda: "s Stop run" in screen_lines(app)[-1])
        await wait_until(pilot, lambda: app.run_controller.finished)
        # nothing left to stop: the footer drops s (it may show r a frame before)
        await until(pilot, lambda lines: "r Results" in lines[-1] and "Stop run" not in lines[-1],
                    "the finished run's footer")
        table = app.screen.query_one("#phases", DataTable)
        assert table.get_cell("1", "sent") == "8/8" and table.get_cell("2", "sent") == "15/15"
        assert table.get_cell("2", "failed") == "0"
        assert "completed" in str(app.screen.query_one("#run-status").render())
        assert app.exit_code == 0
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen))
        phases = app.screen.query_one("#results-phases", DataTable)
        assert phases.row_count == 2
    summary = json.loads((only_folder(tmp_path / "results") / "summary.json").read_text())
    assert summary["status"] == "completed" and [p["ok"] for p in summary["phases"]] == [8, 15]


async def test_budget_modal_cancel_sends_nothing(tmp_path, sim_process):
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=suite(),
                               endpoint=endpoint(sim_process)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        await pilot.press("n")
        await pilot.pause(0.3)
    assert app.return_code == 3
    assert not (tmp_path / "results").exists()


async def test_stop_mid_run_asks_then_keeps_partial_results(tmp_path, sim_process):
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=suite(length=20),
                               endpoint=endpoint(sim_process), assume_yes=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        await wait_until(pilot, lambda: app.screen.snapshot is not None
                         and app.screen.snapshot.phases and app.screen.snapshot.phases[0].ok >= 10)
        await pilot.press("s")
        await pilot.pause(0.3)
        await pilot.press("n")                       # keep running
        await pilot.pause(0.5)
        assert app.run_controller.running
        await pilot.press("s")
        await pilot.pause(0.3)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.run_controller.finished, timeout=15)
        await pilot.pause(0.3)
        assert "interrupted" in str(app.screen.query_one("#run-status").render())
    folder = only_folder(tmp_path / "results")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    with open(folder / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert 10 <= len(rows) < 100 and len(rows) == summary["phases"][0]["sent"]
    assert app.exit_code == 130          # what quitting now would return


async def test_quitting_mid_run_asks_and_stops(tmp_path, sim_process):
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=suite(length=20),
                               endpoint=endpoint(sim_process), assume_yes=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen) and app.run_controller.running)
        await pilot.pause(1.0)
        await pilot.press("q")
        await pilot.pause(0.3)
        await pilot.press("y")
        await wait_until(pilot, lambda: app.run_controller.finished, timeout=15)
        await pilot.pause(0.5)
    summary = json.loads((only_folder(tmp_path / "results") / "summary.json").read_text())
    assert summary["status"] == "interrupted"


async def test_home_lists_specs_and_runs_the_chosen_pair(tmp_path, sim_process):
    (tmp_path / "endpoint.yml").write_text(to_yaml(endpoint(sim_process)))
    (tmp_path / "run.yml").write_text(SUITE.format(length=1))
    (tmp_path / "broken.yml").write_text("provider: hosted_vllm\nmodel: m\nbase_url: nope\n")
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        assert isinstance(home, HomeScreen)
        endpoints = [str(o.prompt) for o in home.query_one("#endpoints", OptionList).options]
        assert "● endpoint.yml" in endpoints and "⚠ broken.yml" in endpoints   # ● chosen
        assert any(e.startswith("  sample/") for e in endpoints)
        assert home.chosen_endpoint.path.name == "endpoint.yml"
        assert home.chosen_suite.path.name == "run.yml"
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.run_controller is not None and app.run_controller.finished)
        await pilot.pause(0.2)
        await pilot.press("escape")                  # back home: the new results are listed
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
        results = home.query_one("#results", OptionList)
        assert results.option_count == 1 and "[completed]" in str(results.get_option_at_index(0).prompt)


async def test_results_screen_for_a_folder(tmp_path, sim_process):
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=suite(length=1),
                               endpoint=endpoint(sim_process), assume_yes=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.run_controller is not None and app.run_controller.finished)
    folder = only_folder(tmp_path / "results")
    app = TokenfloodApp(Launch("results", results_root=tmp_path / "results", results_dir=folder))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.8)
        screen = app.screen
        assert isinstance(screen, ResultsScreen)
        head = str(screen.query_one("#results-head").render())
        assert "pilot on sim-model" in head and str(folder) in head
        chart = screen.query_one(LatencyChart)
        assert not chart.display                  # below 150 columns the chart is on key 3
        await pilot.press("3")
        await pilot.pause(0.7)
        assert "TTFT (ms) by request rate" in str(chart.render())
        await pilot.press("t")
        await pilot.pause(0.2)
        assert "end-to-end latency" in str(chart.render())
