"""Every yes/no dialog and the budget modal: Enter presses the focused button (it is never bound
to "yes"), the safe button has the focus where work or money is at stake, and a run over a limit
cannot be started from the modal at all. Driven by keys against the real app and simulator."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from textual.app import App
from textual.widgets import Button, Input

from tokenflood_tui.quickstart import ENDPOINT_YML
from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.run_controller import RunController
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.confirm import ConfirmModal
from tokenflood_tui.tui.screens.endpoint_editor import EndpointEditor
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.screens.save_as import SaveAsModal

from support.screens import wait_until

SUITE = """\
name: dialogs
requests_per_second_rates: [5]
test_length_in_seconds: {length}
arrival: constant
load_types:
- {{prompt_length: 64, output_length: 8}}
"""


def suite(length: float = 1.0):
    return parse_run_suite(SUITE.format(length=length))


def endpoint(sim) -> EndpointSpec:
    return EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url)


def requests_seen(sim) -> int:
    """What the simulator received: the real proof that nothing was sent."""
    with urllib.request.urlopen(f"{sim.base_url.removesuffix('/v1')}/sim/requests") as resp:
        return len(json.load(resp)["requests"])


def clear_requests(sim) -> None:
    req = urllib.request.Request(f"{sim.base_url.removesuffix('/v1')}/sim/requests",
                                 method="DELETE")
    urllib.request.urlopen(req).close()


# ---------------------------------------------------------------------------------------------
# the yes/no dialog on its own


class Asker(App):
    """A bare app that asks one question and keeps the answer."""

    def __init__(self, **question):
        super().__init__()
        self.question = question
        self.answers: list[bool | None] = []

    def on_mount(self) -> None:
        self.push_screen(ConfirmModal("Discard?", **self.question), self.answers.append)


@pytest.mark.parametrize("keys, answer", [
    (["enter"], False),                  # the safe button has the focus
    (["tab", "enter"], True),            # Tab to the yes button, Enter presses it
    (["right", "enter"], True),
    (["tab", "tab", "enter"], False),    # round again to "no"
    (["y"], True), (["n"], False), (["escape"], False),
])
async def test_enter_presses_the_focused_button(keys, answer):
    app = Asker(yes="Discard", no="Keep editing")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.screen.focused.id == "no"
        await pilot.press(*keys)
        await pilot.pause()
    assert app.answers == [answer]


async def test_a_question_can_put_the_focus_on_yes():
    app = Asker(focus="yes")
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("tab", "enter")
        await pilot.pause()
    assert app.answers == [False]


# ---------------------------------------------------------------------------------------------
# the budget modal


async def test_budget_modal_tab_to_cancel_and_enter_sends_nothing(tmp_path, sim_process):
    clear_requests(sim_process)
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=suite(),
                               endpoint=endpoint(sim_process)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        assert app.screen.focused.id == "start"       # docs/architecture.md#tui: Enter confirms the budget
        await pilot.press("tab")
        assert app.screen.focused.id == "cancel"
        await pilot.press("enter")
        await pilot.pause(0.5)
    assert app.return_code == 3                         # `tokenflood run` cancelled: refused
    assert app.run_controller is None
    assert not (tmp_path / "results").exists()
    assert requests_seen(sim_process) == 0


async def test_budget_modal_shows_the_base_url_without_a_password(tmp_path, sim_process):
    ep = EndpointSpec(provider="hosted_vllm", model="sim-model",
                      base_url=sim_process.base_url.replace("http://", "http://me:s3cret@"))
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_run(suite(), ep)
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        lines = str(app.screen.query_one("#budget-lines").render())
        assert f"base URL       {sim_process.base_url}\n" in lines
        assert "s3cret" not in lines and "me@" not in lines
        await pilot.press("n")
        await pilot.pause()
    from tokenflood_tui.tui.screens.budget import display_url
    assert display_url(None) == "the provider's default URL"
    assert display_url("http://u:p@[::1]:8000/v1") == "http://[::1]:8000/v1"


async def test_over_a_limit_there_is_no_start_and_the_modal_says_how_to_raise_it(
        tmp_path, sim_process, monkeypatch):
    clear_requests(sim_process)
    monkeypatch.setenv("TOKENFLOOD_MAX_OUTPUT_TOKENS", "10")
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.start_run(suite(), endpoint(sim_process))
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        modal = app.screen
        est = modal.estimate
        assert est.output_tokens > 10
        assert [b.id for b in modal.query(Button)] == ["cancel"]
        assert "y" not in modal.active_bindings         # no key starts it either
        text = str(modal.query_one("#budget-over").render())
        assert (f"Cannot start: output tokens {est.output_tokens:,} estimated, over the limit of "
                f"10 by {est.output_tokens - 10:,}.") in text
        suggested = re.search(r"TOKENFLOOD_MAX_OUTPUT_TOKENS=(\d+) tokenflood", text)
        assert suggested, text
        await pilot.press("y")
        await pilot.pause(0.3)
        assert app.screen is modal and app.run_controller is None
        # the cancel button is on screen at 80x24, and Enter (its focus) presses it
        cancel = modal.query_one("#cancel", Button)
        assert cancel.region.bottom <= 24 and modal.focused is cancel
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
    assert not (tmp_path / "results").exists()
    assert requests_seen(sim_process) == 0
    # the advice works: with the suggested limit the same run is allowed
    monkeypatch.setenv("TOKENFLOOD_MAX_OUTPUT_TOKENS", suggested.group(1))
    controller = RunController(None, suite(), endpoint(sim_process), tmp_path / "results")
    assert controller.run.estimate.over_limits == []
    assert int(suggested.group(1)) >= est.output_tokens


def test_the_suggested_limit_rounds_up_to_two_digits():
    from tokenflood_tui.tui.screens.budget import ExceededLimit
    assert ExceededLimit("output tokens", "V", 12_345, 10_000).suggested == 13_000
    assert ExceededLimit("output tokens", "V", 86, 50).suggested == 86
    assert ExceededLimit("output tokens", "V", 1_000_001, 10).suggested == 1_100_000
    assert ExceededLimit("output tokens", "V", 5, 1).suggested == 5


# ---------------------------------------------------------------------------------------------
# dialogs that guard work: the editors and the live run


async def test_keep_editing_with_enter_keeps_the_edits(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text(ENDPOINT_YML)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.open_editor(path, "endpoint")
        await pilot.pause()
        editor = app.screen
        model = editor.query_one("#f-model", Input)
        model.focus()
        model.value = "other-model"
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")                      # "Keep editing" has the focus
        await pilot.pause()
        assert app.screen is editor and model.value == "other-model"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("tab", "enter")               # Tab to "Discard", Enter
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
    assert path.read_text() == ENDPOINT_YML


async def test_quit_with_unsaved_edits_enter_stays(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text(ENDPOINT_YML)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.open_editor(path, "endpoint")
        await pilot.pause()
        editor = app.screen
        editor.query_one("#f-model", Input).value = "other-model"
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is editor and app.is_running
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("tab", "enter")               # "Discard and quit"
        await pilot.pause(0.3)
    assert app.return_code == 0
    assert path.read_text() == ENDPOINT_YML


async def test_overwrite_question_enter_chooses_another_name(tmp_path):
    (tmp_path / "endpoint.yml").write_text("keep me")
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.open_editor(None, "endpoint")
        await pilot.pause()
        editor = app.screen
        assert isinstance(editor, EndpointEditor)
        editor.query_one("#f-provider").value = "openai"
        editor.query_one("#f-model", Input).value = "gpt-4o-mini"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+u", *"endpoint.yml", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")                      # "Choose another name"
        await pilot.pause()
        assert isinstance(app.screen, SaveAsModal)
        assert (tmp_path / "endpoint.yml").read_text() == "keep me"
        await pilot.press("enter")                      # the same name again
        await pilot.pause()
        await pilot.press("tab", "enter")               # "Overwrite" this time
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is editor
    assert "model: gpt-4o-mini" in (tmp_path / "endpoint.yml").read_text()


async def test_stop_run_question_enter_keeps_running_tab_enter_stops(tmp_path, sim_process):
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=suite(length=20),
                               endpoint=endpoint(sim_process), assume_yes=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen)
                         and app.run_controller.running)
        await pilot.press("s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")                      # "Keep running" has the focus
        await pilot.pause(0.5)
        assert isinstance(app.screen, RunScreen) and app.run_controller.running
        await pilot.press("s")
        await pilot.pause(0.3)
        await pilot.press("tab", "enter")               # "Stop run"
        await wait_until(pilot, lambda: app.run_controller.finished, timeout=15)
    (folder,) = (tmp_path / "results").iterdir()
    assert json.loads((folder / "summary.json").read_text())["status"] == "interrupted"
