"""Every screen whose panels a number key maximises makes its keys, its `?` help lines and its
palette's "Maximise the …" commands from its one declaration of panels (screens/panels.py): the
five live views, the three kinds of results view and the compare screen."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding

from tokenflood_tui.compare.compare import Cell, ComparedRun, Comparison, RunValue
from tokenflood_tui.run.experiment import Variant
from tokenflood_tui.specs import EndpointSpec, load_endpoint, load_run_suite, parse_run_suite
from tokenflood_tui.tui.experiment_controller import ExperimentController
from tokenflood_tui.tui.run_controller import RunController
from tokenflood_tui.tui.screens.compare import CompareScreen
from tokenflood_tui.tui.screens.experiment import ExperimentScreen
from tokenflood_tui.tui.screens.help import key_table
from tokenflood_tui.tui.screens.observation import ObservationScreen
from tokenflood_tui.tui.screens.panels import PanelScreen
from tokenflood_tui.tui.screens.results import (LoadTestResultsScreen, ObservationResultsScreen,
                                                ResultsScreen, SessionResultsScreen)
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.screens.search import SearchScreen
from tokenflood_tui.tui.screens.session_run import SessionRunScreen

from test_observation_view import SUITE as OBSERVATION_SUITE
from test_search_view import SEARCH as SEARCH_SUITE
from test_session_views import SESSION_RESULTS, SESSIONS
from test_snapshots import OBSERVATION, RESULTS, WORKSPACE, app

PAST_RUN = next(RESULTS.iterdir())


def saved_comparison(folder: Path) -> Path:
    """A compare folder with one cell, as `tokenflood compare` writes it."""
    runs = [ComparedRun(name=name, folder=name, run_name="r", type="load_test", status="completed",
                        model="m", provider="hosted_vllm", base_url=None, started_at="t",
                        prompts="fresh") for name in ("a", "b")]
    cell = Cell(group="4 req/s", group_kind="rate", group_value=4, metric="ttft_ms",
                percentile=50, runs=[RunValue(value_ms=50.0, samples=40),
                                     RunValue(value_ms=80.0, samples=40, diff_ms=30.0,
                                              diff_pct=60.0, ci_low_ms=25.0, ci_high_ms=35.0,
                                              verdict="slower")])
    comparison = Comparison(created_at="2026-01-01T00:00:00+00:00", runs=runs, percentiles=[50],
                            metrics=["ttft_ms"], groups=["4 req/s"], cells=[cell])
    folder.mkdir()
    (folder / "compare.json").write_text(comparison.to_json())
    return folder


def screens(the_app, tmp_path: Path) -> list[PanelScreen]:
    """One of each, over controllers that are never started."""
    endpoint = load_endpoint(WORKSPACE / "endpoint.yml")
    down = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    variants = [Variant("fast", down), Variant("slow", down)]
    return [
        RunScreen(RunController(the_app, load_run_suite(WORKSPACE / "run.yml"), endpoint, RESULTS)),
        ObservationScreen(RunController(the_app, parse_run_suite(OBSERVATION_SUITE), endpoint,
                                        RESULTS)),
        SearchScreen(RunController(the_app, parse_run_suite(SEARCH_SUITE), endpoint, RESULTS)),
        SessionRunScreen(RunController(the_app, parse_run_suite(SESSIONS), endpoint, RESULTS)),
        ExperimentScreen(ExperimentController(load_run_suite(WORKSPACE / "run.yml"), variants,
                                              tmp_path / "ab", rounds=2)),
        ResultsScreen(PAST_RUN),
        ResultsScreen(OBSERVATION),
        ResultsScreen(SESSION_RESULTS),
        CompareScreen(saved=saved_comparison(tmp_path / "compared")),
    ]


async def test_each_screens_declared_panels_make_its_keys_help_and_palette(tmp_path):
    the_app = app()
    seen = set()
    async with the_app.run_test(size=(120, 40)) as pilot:
        for screen in screens(the_app, tmp_path):
            seen.add(type(screen))
            await the_app.push_screen(screen)
            await pilot.pause()
            panels, name = screen.PANELS, type(screen).__name__
            assert len(panels) >= 3 and len({p.id for p in panels}) == len(panels), name

            # the keys: 1 to N, one footer entry "1-N Panels", the others under their labels
            keys = [b for b in Binding.make_bindings(screen.BINDINGS) if b.action.startswith("panel(")]
            assert [(b.key, b.action) for b in keys] == [
                (str(k), f"panel('{p.id}')") for k, p in enumerate(panels, start=1)], name
            assert (keys[0].description, keys[0].key_display, keys[0].show) == (
                "Panels", f"1-{len(panels)}", True), name
            assert [(b.description, b.show) for b in keys[1:]] == [
                (p.label, False) for p in panels[1:]], name

            # the `?` help lists every one of them
            this_screen = dict(key_table(screen)[0][1])
            assert this_screen[f"1-{len(panels)}"] == "Panels", (name, this_screen)
            for k, panel in enumerate(panels[1:], start=2):
                assert this_screen[str(k)] == panel.label, (name, this_screen)

            # the palette (through the app, as ctrl+p asks it) maximises each panel, one after
            # the other; 0 then gives back the overview
            commands = {c.title: c for c in the_app.get_system_commands(screen)}
            for k, panel in enumerate(panels, start=1):
                command = commands[f"Maximise the {panel.name}"]
                assert command.help == f"Key {k}" + (" (again, 0 or Esc: overview)" if k == 1
                                                    else ""), name
                command.callback()
                await pilot.pause()
                assert screen.solo_panel == panel.id and screen.has_class(f"-solo-{panel.id}")
                assert [p.id for p in panels if screen.has_class(f"-solo-{p.id}")] == [panel.id]
                # its widget fills the screen but for the status lines and the footer
                assert screen.query_one(panel.selector).region.height >= 40 - 5, (name, panel)
            await pilot.press("0")
            await pilot.pause()
            assert screen.solo_panel is None and not screen.has_class("-solo"), name
            await the_app.pop_screen()
            await pilot.pause()
    assert seen == {RunScreen, ObservationScreen, SearchScreen, SessionRunScreen, ExperimentScreen,
                    LoadTestResultsScreen, ObservationResultsScreen, SessionResultsScreen,
                    CompareScreen}


async def test_a_maximised_log_fills_a_short_screen_also_after_an_experiment_ended(tmp_path):
    """At 80x24 the finished experiment's log shrinks to 4 rows in the overview; key 3 must still
    give it the screen (its -short -ended height once won over the maximised one)."""
    down = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    the_app = app()
    async with the_app.run_test(size=(80, 24)) as pilot:
        screen = ExperimentScreen(ExperimentController(
            load_run_suite(WORKSPACE / "run.yml"), [Variant("fast", down), Variant("slow", down)],
            tmp_path / "ab", rounds=2))
        await the_app.push_screen(screen)
        screen.add_class("-ended")          # as when the experiment's finished message came
        await pilot.pause()
        log = screen.query_one(screen.panel("log").selector)
        assert log.region.height == 4
        await pilot.press(str(screen.panel_key("log")))
        await pilot.pause()
        assert screen.solo_panel == "log" and log.region.height >= 24 - 5
