"""The home screen: broken spec files stay listed and open in their editor, the chosen pair is
marked, every list shows its cursor when it gets the focus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from textual.widgets import Input, OptionList, Select, Static, TextArea

from tokenflood_tui import cli
from tokenflood_tui.specs import load_endpoint, load_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.endpoint_editor import EndpointEditor
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.suite_editor import SuiteEditor
from tokenflood_tui.tui.screens.suite_text_editor import SuiteTextEditor
from tokenflood_tui.workspace import find_specs

from support.screens import screen_lines, until

ENDPOINT = "provider: hosted_vllm\nmodel: sim-model\nbase_url: http://127.0.0.1:9/v1\n"
RUN = ("name: s\nrequests_per_second_rates: [5]\ntest_length_in_seconds: 2\n"
       "load_types:\n- {prompt_length: 64, output_length: 8}\n")
BROKEN_ENDPOINT = 'provider: hosted_vllm\nmodel: "oops\nbase_url: http://127.0.0.1:9/v1\n'
BROKEN_SUITE = "name: s\nrequests_per_second_rates: [5\ntest_length_in_seconds: 2\n"


def workspace(folder: Path) -> Path:
    (folder / "endpoint.yml").write_text(ENDPOINT)
    (folder / "run.yml").write_text(RUN)
    (folder / "a-broken.yml").write_text(BROKEN_ENDPOINT)        # kind from its keys
    (folder / "b-broken.yml").write_text(BROKEN_SUITE)
    (folder / "endpoint-prod.yml").write_text("[unclosed\n")      # kind from its name
    (folder / "mystery.yml").write_text("a: [1\n")               # kind unknown: both lists
    (folder / "compose.yml").write_text("services: {web: {}}\n")  # valid YAML, not a spec
    return folder


def prompts(home: HomeScreen, list_id: str) -> list[str]:
    return [str(o.prompt) for o in home.query_one(f"#{list_id}", OptionList).options
            if "sample/" not in str(o.prompt)]



async def test_a_file_with_a_yaml_syntax_error_is_listed_with_its_error(tmp_path):
    app = TokenfloodApp(Launch("home", folder=workspace(tmp_path),
                               results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        assert prompts(home, "endpoints") == ["⚠ a-broken.yml", "⚠ endpoint-prod.yml",
                                              "● endpoint.yml", "⚠ mystery.yml"]
        assert prompts(home, "suites") == ["⚠ b-broken.yml", "⚠ mystery.yml", "● run.yml"]
        # the first item (a broken file) is highlighted, and the details say what is wrong
        detail = str(home.query_one("#detail", Static).render())
        assert "a-broken.yml:4: YAML syntax error" in detail and "e: edit to fix it" in detail
        await pilot.press("down", "down", "down")        # mystery.yml
        await pilot.pause()
        detail = str(home.query_one("#detail", Static).render())
        assert "a-broken.yml" not in detail and "mystery.yml:2: YAML syntax error" in detail
        assert "listed as an endpoint and as a suite" in detail
        # a broken file cannot be chosen, only fixed; picking it leaves no endpoint chosen
        # (it used to keep the previous one, so r ran another pair than the one just picked)
        await pilot.press("enter")
        await pilot.pause()
        assert home.chosen_endpoint is None and home.chosen_suite.path.name == "run.yml"
    kinds = {f.path.name: f.kind for f in find_specs(tmp_path, include_samples=False)}
    assert kinds == {"a-broken.yml": "endpoint", "b-broken.yml": "run", "endpoint.yml": "endpoint",
                     "endpoint-prod.yml": "endpoint", "mystery.yml": None, "run.yml": "run"}


async def test_the_editor_opens_a_syntax_error_and_saving_fixes_it(tmp_path):
    app = TokenfloodApp(Launch("home", folder=workspace(tmp_path),
                               results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("e")                             # a-broken.yml is highlighted
        await pilot.pause(0.3)
        editor = app.screen
        assert isinstance(editor, EndpointEditor)
        problem = str(editor.query_one("#file-problem", Static).render())
        assert problem.startswith("line 4: YAML syntax error")
        assert "The form holds what line 1 says; saving writes the form over the whole file" \
            in problem
        assert editor.query_one("#f-provider", Select).value == "hosted_vllm"   # line 1 kept
        editor.query_one("#f-model", Input).value = "sim-model"
        editor.query_one("#f-base_url", Input).value = "http://127.0.0.1:9/v1"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause(0.3)
        home = app.screen
        assert isinstance(home, HomeScreen)
        assert "  a-broken.yml" in prompts(home, "endpoints")
        # unknown kind: from the suites list it opens as a suite
        await pilot.press("tab", "down")                   # b-broken.yml, then mystery.yml
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SuiteEditor) and app.screen.path.name == "mystery.yml"
    assert load_endpoint(tmp_path / "a-broken.yml").model == "sim-model"


async def test_the_chosen_pair_is_marked_and_lists_show_their_cursor(tmp_path):
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    (tmp_path / "other-endpoint.yml").write_text(ENDPOINT.replace("sim-model", "other"))
    (tmp_path / "run.yml").write_text(RUN)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        endpoints = home.query_one("#endpoints", OptionList)
        suites = home.query_one("#suites", OptionList)
        assert home.focused is endpoints and endpoints.highlighted == 0
        await pilot.press("tab")
        assert home.focused is suites and suites.highlighted == 0
        assert "run.yml" in str(home.query_one("#detail", Static).render())
        await pilot.press("shift+tab", "down", "enter")     # choose other-endpoint.yml
        await pilot.pause()
        assert prompts(home, "endpoints") == ["  endpoint.yml", "● other-endpoint.yml"]
        assert endpoints.highlighted == 1                    # the cursor stays where it was
        assert "● endpoint: other-endpoint.yml" in str(home.query_one("#selection").render())
        assert "● chosen" in str(home.query_one("#detail", Static).render())



def selection(home: HomeScreen) -> str:
    return str(home.query_one("#selection", Static).render())


async def test_the_chosen_pair_is_remembered_per_folder(tmp_path):
    """It used to reset to the first endpoint and suite on every launch."""
    here, there = tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        folder.mkdir()
        (folder / "endpoint.yml").write_text(ENDPOINT)
        (folder / "other-endpoint.yml").write_text(ENDPOINT.replace("sim-model", "other"))
        (folder / "run.yml").write_text(RUN)
        (folder / "soak.yml").write_text(RUN.replace("name: s", "name: soak"))

    def app(folder: Path) -> TokenfloodApp:
        return TokenfloodApp(Launch("home", folder=folder, results_root=tmp_path / "results"))

    first = app(here)
    async with first.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        assert "endpoint: endpoint.yml   suite: run.yml" in selection(first.screen)
        await pilot.press("down", "enter", "tab", "down", "enter")   # other-endpoint, soak
        await pilot.pause()
        assert "endpoint: other-endpoint.yml   suite: soak.yml" in selection(first.screen)
    for folder, pair in ((here, "endpoint: other-endpoint.yml   suite: soak.yml"),
                         (there, "endpoint: endpoint.yml   suite: run.yml")):
        again = app(folder)
        async with again.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.3)
            assert pair in selection(again.screen), folder
            assert again.selected_endpoint is not None
            assert again.selected_endpoint.model == ("other" if folder == here else "sim-model")


async def test_an_invalid_pick_clears_the_choice_and_says_why(tmp_path):
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    (tmp_path / "run.yml").write_text(RUN)
    (tmp_path / "b-broken.yml").write_text(BROKEN_SUITE)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        assert home.chosen_suite.path.name == "run.yml"
        await pilot.press("tab", "enter")                   # b-broken.yml, first in the list
        await pilot.pause()
        assert home.chosen_suite is None
        note = [n.message for n in app._notifications][-1]
        assert note.startswith("b-broken.yml is invalid, so no suite is chosen: line 3: "
                               "YAML syntax error"), note
        assert note.endswith("Press e to fix it.")
        assert "suite: (none: b-broken.yml is invalid)" in selection(home)
        assert "● run.yml" not in prompts(home, "suites")
        # r does not run run.yml: it says what is missing and why
        app.clear_notifications()
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert [n.message for n in app._notifications][-1] == (
            "Choose an endpoint and a run suite first (Enter on each): b-broken.yml is invalid.")
    # the next launch remembers that no suite is chosen, and why
    again = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with again.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert again.screen.chosen_suite is None
        assert "suite: (none: b-broken.yml is invalid)" in selection(again.screen)


async def test_the_suite_editor_prices_the_endpoint_chosen_on_home(tmp_path):
    """The home screen tells the app its choice (a message); the suite editor opened next gets it."""
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    (tmp_path / "other-endpoint.yml").write_text(ENDPOINT.replace("sim-model", "other"))
    (tmp_path / "run.yml").write_text(RUN)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert app.selected_endpoint is not None and app.selected_endpoint.model == "sim-model"
        await pilot.press("down", "enter")                  # choose other-endpoint.yml
        await pilot.pause()
        assert app.selected_endpoint is not None and app.selected_endpoint.model == "other"
        await pilot.press("tab", "e")                       # edit run.yml
        for _ in range(30):
            await pilot.pause(0.1)
            if isinstance(app.screen, SuiteEditor) and app.screen.budget is not None:
                break
        editor = app.screen
        assert isinstance(editor, SuiteEditor) and editor.path == tmp_path / "run.yml"
        assert "endpoint       other" in str(editor.query_one("#budget-lines", Static).render())

def test_edit_command_opens_a_broken_spec_and_refuses_other_files(tmp_path, monkeypatch, capsys):
    workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    # Without a terminal both stop, but at different points: a broken spec gets as far as the
    # terminal check (the editor would open it); a file that is no spec is refused first.
    assert cli.main(["edit", "a-broken.yml"]) == 2
    assert "needs a terminal" in capsys.readouterr().err
    assert cli.main(["edit", "compose.yml"]) == 2
    assert "neither an endpoint spec" in capsys.readouterr().err
    assert cli.main(["edit", "mystery.yml"]) == 2
    assert "mystery.yml:2: YAML syntax error" in capsys.readouterr().err


PAST_RUN = next((Path(__file__).parent / "fixtures" / "workspace" / "past-runs").iterdir())
LONG_ENDPOINT = "endpoint_slow_anthropic_long_name.yml"


def crowded(folder: Path) -> Path:
    """A folder with long names and eight results (one interrupted, resumable): the results."""
    (folder / "endpoint.yml").write_text(ENDPOINT)
    (folder / LONG_ENDPOINT).write_text(ENDPOINT)
    (folder / "run.yml").write_text(RUN)
    results = folder / "results"
    for day in range(1, 8):
        shutil.copytree(PAST_RUN, results / f"2026-01-0{day}_10-00-00_soak-test-long-suite-name_"
                                             f"sim-model")
    killed = results / "2026-01-08_09-00-00_ripple_sim-model"
    shutil.copytree(PAST_RUN, killed)
    summary = json.loads((killed / "summary.json").read_text())
    (killed / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    (killed / "journal.jsonl").write_text("")
    return results


def rows_of(lines: list[str], column: slice) -> list[str]:
    """The text in a column of the screen, row by row, frames and cursor bars stripped."""
    return [line[column].strip(" │▊▎▔▁╭╮╰╯─▆▄▂█▃▅▇") for line in lines]   # and scrollbars


async def test_lists_at_80x24_keep_each_item_on_its_rows_and_the_footer_whole(tmp_path):
    """At 80x24 names wrapped mid-word (sample/endpo / int_anthropic. / yml), the ✓ mark landed
    on a row of its own, headlines lost "req/s", the footer was cut and three results fit."""
    results = crowded(tmp_path)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=results))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        options = home.query_one("#results", OptionList)
        options.focus()
        await pilot.pause(0.2)
        await pilot.press("space")                            # mark the newest
        await pilot.pause(0.2)
        lines = screen_lines(app)
        assert all(len(line.rstrip()) <= 80 for line in lines)
        footer = lines[-1]
        assert "? Keys" in footer and footer.rstrip().endswith("^p palette"), footer
        assert "space Mark" in footer and "u Resume" in footer and "/ Filter" in footer
        # the results: two rows each, the name cut with … but its status and ↻ kept, the mark
        # on the name's row, the headline whole
        right = rows_of(lines, slice(32, 80))
        names = [row for row in right if row.startswith(("✓ ", "2026-"))]
        heads = [row for row in right if row.startswith("TTFT")]
        assert len(names) >= 5 and len(heads) == len(names), right      # it was three
        # (with no room for "↻ resumable", the status and ↻ alone)
        assert names[0].startswith("✓ 2026-01-08_09-00-00_") and \
            names[0].endswith("… [interrupted] ↻"), names[0]
        assert all(n.endswith("[completed]") and "…" in n for n in names[1:]), names
        assert all(h.endswith("req/s") for h in heads), heads
        # the spec lists: one row a file, cut in the middle (the end tells them apart)
        left = rows_of(lines, slice(0, 32))
        assert any(row.startswith("endpoint_") and row.endswith("name.yml") and "…" in row
                   for row in left), left
        assert not any(row in ("yml", "ml") or row.startswith(".yml") for row in left)
        # the full names are still the items' text (and the details pane says the whole path)
        labels = [str(o.prompt) for o in home.query_one("#endpoints", OptionList).options]
        assert f"  {LONG_ENDPOINT}" in labels


async def test_slash_filters_every_list_and_esc_clears_it(tmp_path):
    results = crowded(tmp_path)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=results))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        total = len(home.query_one("#results", OptionList).options)
        assert total == 8
        await pilot.press("slash")
        assert isinstance(home.focused, Input) and home.focused.id == "filter"
        await pilot.press(*"soak 03")
        await pilot.pause(0.2)
        shown = prompts(home, "results")
        assert len(shown) == 1 and shown[0].startswith("  2026-01-03_10-00-00_soak-test"), shown
        assert prompts(home, "endpoints") == ["no match (Esc: clear)"]
        lines = screen_lines(app)
        assert any(line.startswith(" / soak 03") and "1 of 8 results · 0 endpoints · 0 suites"
                   in line for line in lines), lines
        # Enter: to a list that has a match, the filter kept; Enter there opens the result
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert home.focused is home.query_one("#results", OptionList)
        await until(pilot, lambda lines: "esc Clear filter" in lines[-1], "the filter's key")
        # Esc clears it: every item again
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert len(home.query_one("#results", OptionList).options) == total
        assert "● endpoint.yml" in prompts(home, "endpoints")
        assert not any(" / soak" in line for line in screen_lines(app))
        # words match anywhere, case aside; Esc in the filter line clears it too
        await pilot.press("slash", *"ANTHROPIC")
        await pilot.pause(0.2)
        assert prompts(home, "endpoints") == [f"  {LONG_ENDPOINT}"]
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert home.filter_text == "" and len(prompts(home, "endpoints")) == 2


OBSERVATION = """\
# a day of polls at the top of the hour
type: observation
name: watch
duration_hours: 24
polling_interval_minutes: 60
num_requests: 3
within_seconds: 5
load_type: {prompt_length: 333, prefix_length: 20, output_length: 7}
"""


async def test_e_on_an_observation_suite_edits_the_files_own_values(tmp_path):
    """It opened the load-test form with default lengths: the form has no observation keys.
    An observation (or a search) opens as its text, checked as you type, saved as written."""
    (tmp_path / "endpoint.yml").write_text(ENDPOINT)
    (tmp_path / "watch.yml").write_text(OBSERVATION)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.3)
        await pilot.press("tab", "e")                      # watch.yml, first in the suites
        await pilot.pause(0.5)
        editor = app.screen
        assert isinstance(editor, SuiteTextEditor)
        lines = "\n".join(screen_lines(app))
        assert "observation suite (text) — watch.yml" in lines
        assert "load_type: {prompt_length: 333, prefix_length: 20, output_length: 7}" in lines
        assert "observation: 3 requests within 5 s every 60 min for 24 h (24 polls)" in lines
        # a mistake is named with its line, and not saved
        text = editor.query_one(TextArea)
        text.text = OBSERVATION.replace("num_requests: 3", "num_requests: many")
        await pilot.pause(0.5)
        assert "watch.yml:6: num_requests: Input should be a valid integer" in \
            " ".join("\n".join(screen_lines(app)).split())
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert (tmp_path / "watch.yml").read_text() == OBSERVATION
        # fixed: saved as typed (the comment kept), and it loads
        text.text = OBSERVATION.replace("num_requests: 3", "num_requests: 4")
        await pilot.pause(0.5)
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert (tmp_path / "watch.yml").read_text().startswith("# a day of polls")
        assert load_run_suite(tmp_path / "watch.yml").num_requests == 4
        await pilot.press("escape")                        # saved: leaves without asking
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
        assert "4 requests within 5 s" in str(app.screen.query_one("#detail", Static).render())
