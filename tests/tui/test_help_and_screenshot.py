"""`?` / F1 list every key of the screen underneath; the palette's Screenshot saves in the results
folder (there may be no ~/Downloads, e.g. over SSH on a server)."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.binding import Binding
from textual.widgets import Input, Static

from tokenflood_tui.quickstart import RUN_YML
from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.help import HelpScreen, key_name
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.results import ResultsScreen
from tokenflood_tui.tui.screens.suite_editor import SuiteEditor
from tokenflood_tui.tui.widgets.load_types import LoadTypesTable

PAST_RUN = next((Path(__file__).parent / "fixtures" / "workspace" / "past-runs").iterdir())


def help_text(app) -> str:
    return str(app.screen.query_one("#help-text", Static).render())


async def test_question_mark_lists_every_key_of_the_home_screen(tmp_path):
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = help_text(app)
        for binding in Binding.make_bindings(HomeScreen.BINDINGS):   # the hidden f5 too
            if binding.action == "clear_filter":
                continue                    # only while a filter is on (test_home)
            assert any(line.split()[:1] == [key_name(binding)] and binding.description in line
                       for line in text.splitlines()), (binding.key, text)
        for key in ("tab / shift+tab", "ctrl+p", "ctrl+q", "esc", "? / f1"):
            assert key in text
        await pilot.press("question_mark")                  # ? again closes it
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_f1_in_the_editor_lists_its_widgets_keys_and_question_mark_is_typed(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML)
    app = TokenfloodApp(Launch("edit", folder=tmp_path, results_root=tmp_path / "results",
                               file=path))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        editor = app.screen
        assert isinstance(editor, SuiteEditor) and isinstance(editor.focused, Input)
        before = editor.focused.value
        await pilot.press("end", "question_mark")
        await pilot.pause()
        assert app.screen is editor and editor.focused.value == before + "?"
        await pilot.press("f1")
        await pilot.pause()
        text = help_text(app)
        assert "ctrl+s" in text and "Save" in text and "esc" in text
        assert "In the load types table" in text
        for binding in Binding.make_bindings(LoadTypesTable.BINDINGS):
            assert f"{binding.key}" in text and binding.description in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is editor


async def test_help_over_a_budget_modal_over_a_limit_does_not_offer_y(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENFLOOD_MAX_OUTPUT_TOKENS", "10")
    suite = parse_run_suite(RUN_YML)
    endpoint = EndpointSpec(provider="hosted_vllm", model="m", base_url="http://127.0.0.1:9/v1")
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_run(suite, endpoint)
        for _ in range(50):
            await pilot.pause(0.1)
            if isinstance(app.screen, BudgetModal):
                break
        await pilot.press("f1")
        await pilot.pause()
        text = help_text(app)
        assert "Start run" not in text and "Cancel" in text


async def test_screenshot_from_the_palette_goes_to_the_results_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))       # no ~/Downloads there
    (tmp_path / "home").mkdir()
    results = tmp_path / "results"
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=results))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Screenshot")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.6)                                 # the palette waits 0.1 s
    (svg,) = results.iterdir()                                 # created when missing
    assert svg.suffix == ".svg" and "<svg" in svg.read_text()
    assert not (tmp_path / "home" / "Downloads").exists()


async def test_screenshot_of_a_results_view_goes_into_its_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "results" / PAST_RUN.name
    shutil.copytree(PAST_RUN, folder)
    app = TokenfloodApp(Launch("results", results_root=tmp_path / "results", results_dir=folder))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert isinstance(app.screen, ResultsScreen)
        saved = app.deliver_screenshot()
    assert Path(saved).parent == folder and Path(saved).is_file()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [p.name for p in PAST_RUN.iterdir()] + [Path(saved).name])


async def test_the_palette_offers_one_help_for_the_keys(tmp_path):
    """Textual's own "Keys" (its help panel) stood beside our "Help: every key" (? or f1)."""
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles.count("Help: every key") == 1 and "Keys" not in titles, titles
        assert {"Theme", "Screenshot", "Quit"} <= set(titles)      # Textual's others stay
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Help: every")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, HelpScreen)
