"""The endpoint and run-suite editors, driven by keys as a user drives them."""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input, Select, Static

import tokenflood_tui.tui as tui_package
from tokenflood_tui.quickstart import ENDPOINT_YML, RUN_YML
from tokenflood_tui.simulator import Simulator, SimulatorConfig
from tokenflood_tui.specs import (EndpointSpec, LoadType, load_endpoint, load_run_suite,
                                  parse_endpoint)
from tokenflood_tui.tui.messages import SpecSaved
from tokenflood_tui.tui.screens.confirm import ConfirmModal
from tokenflood_tui.tui.screens.endpoint_editor import EndpointEditor
from tokenflood_tui.tui.screens.save_as import SaveAsModal
from tokenflood_tui.tui.screens.suite_editor import SuiteEditor
from tokenflood_tui.tui.widgets.form_values import yaml_text, yaml_value

APP_TCSS = str(Path(tui_package.__file__).parent / "app.tcss")

AZURE_YML = """\
# Azure OpenAI through litellm
name: azure-4o
provider: azure
model: gpt-4o
deployment: my-gpt-4o-deployment
api_base: https://my-resource.openai.azure.com
api_version: "2024-10-21"
api_key_env_var: AZURE_API_KEY
extra_body: {temperature: 0.5, ignore_eos: false}
"""

CONSTANT_RUN_YML = """\
name: steady
requests_per_second_rates: [1, 2]
test_length_in_seconds: 10
arrival: constant
load_types:
- {prompt_length: 512, prefix_length: 128, output_length: 64, weight: 1.0}
"""


class EditorHost(App):
    """Stands in for TokenfloodApp: one editor pushed, and the files it says it saved."""

    CSS_PATH = APP_TCSS

    def __init__(self, make_screen):
        super().__init__()
        self.make_screen = make_screen
        self.saved: list[SpecSaved] = []

    def on_mount(self) -> None:
        self.push_screen(self.make_screen())

    def on_spec_saved(self, message: SpecSaved) -> None:
        self.saved.append(message)


@asynccontextmanager
async def editing(make_screen, size=(120, 40)):
    app = EditorHost(make_screen)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        yield app, pilot


async def type_text(pilot, text: str) -> None:
    await pilot.press(*text)


async def replace_text(pilot, app, selector: str, text: str) -> None:
    """Focus a field, clear it as a user would (end, ctrl+u), and type."""
    app.screen.query_one(selector, Input).focus()
    await pilot.press("end", "ctrl+u")
    await type_text(pilot, text)
    await pilot.pause()


async def set_field(pilot, app, selector: str, text: str) -> None:
    """Put text in a field at once (a key press costs ~60 ms under Pilot; typing is tested
    where typing is the point)."""
    field = app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    await pilot.pause()


async def save(pilot, app) -> None:
    await pilot.press("ctrl+s")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


# ---------------------------------------------------------------------------------------------
# endpoint editor


async def test_edit_existing_endpoint_changes_model_adds_header_keeps_the_rest(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text(AZURE_YML)
    before = load_endpoint(path)
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        assert not editor.has_unsaved_changes
        await replace_text(pilot, app, "#f-model", "gpt-4o-mini")
        editor.query_one("#f-extra_headers .kv-add").focus()
        await pilot.press("enter")
        await type_text(pilot, "X-Trace")
        await pilot.press("tab")
        await type_text(pilot, "on")
        await pilot.pause()
        assert editor.has_unsaved_changes
        assert "unsaved" in text_of(app, "#editor-title")
        await save(pilot, app)
        assert not editor.has_unsaved_changes
        assert [(m.path, m.kind) for m in app.saved] == [(path, "endpoint")]
    expected = before.model_copy(update={"model": "gpt-4o-mini",
                                         "extra_headers": {"X-Trace": "on"}})
    assert load_endpoint(path) == expected
    assert expected.extra_body == {"temperature": 0.5, "ignore_eos": False}   # YAML types kept
    assert expected.deployment == "my-gpt-4o-deployment"


async def test_new_endpoint_by_keyboard_only_saves_under_the_typed_name(tmp_path):
    async with editing(lambda: EndpointEditor(None, tmp_path)) as (app, pilot):
        editor = app.screen
        assert "new file" in text_of(app, "#editor-title")
        assert editor.focused is editor.query_one("#f-name")
        await type_text(pilot, "sim")
        await pilot.press("tab")                       # provider
        await type_text(pilot, "hosted")               # opens the list and searches
        await pilot.press("enter")
        await pilot.pause()
        assert editor.query_one("#f-provider", Select).value == "hosted_vllm"
        await pilot.press("tab")                       # model
        await type_text(pilot, "sim-model")
        await pilot.press("tab")                       # base_url
        await type_text(pilot, "http://gpu1/v1")
        await pilot.pause()
        assert editor.errors == []
        assert "client: openai" in text_of(app, "#check-ok")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveAsModal)
        await type_text(pilot, "sim-endpoint")         # replaces the suggested endpoint.yml
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is editor
        assert "sim-endpoint.yml" in text_of(app, "#editor-title")
    assert load_endpoint(tmp_path / "sim-endpoint.yml") == EndpointSpec(
        name="sim", provider="hosted_vllm", model="sim-model", base_url="http://gpu1/v1")


async def test_save_as_never_overwrites_without_asking(tmp_path):
    (tmp_path / "endpoint.yml").write_text("keep me")
    async with editing(lambda: EndpointEditor(None, tmp_path)) as (app, pilot):
        editor = app.screen
        editor.query_one("#f-provider", Select).value = "openai"
        await set_field(pilot, app, "#f-model", "gpt-4o-mini")
        await pilot.press("ctrl+s")
        await pilot.pause()
        name = app.screen.query_one("#save-as-name", Input)
        assert name.value == "endpoint-2.yml"          # the suggestion is a free name
        await pilot.press("ctrl+u", *"endpoint.yml", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")                          # choose another name
        await pilot.pause()
        assert isinstance(app.screen, SaveAsModal)
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is editor
    assert (tmp_path / "endpoint.yml").read_text() == "keep me"


async def test_invalid_endpoint_shows_the_models_message_and_is_not_saved(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text(ENDPOINT_YML)
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        await set_field(pilot, app, "#f-base_url", "localhost:8000")
        errors = text_of(app, "#check-errors")
        assert ("base_url: base_url must be an http:// or https:// URL, got 'localhost:8000'"
                in errors)
        assert editor.query_one("#f-base_url").has_class("-invalid")
        assert not editor.query_one("#f-model").has_class("-invalid")
        await save(pilot, app)
        await set_field(pilot, app, "#f-base_url", "")
        # A cross-field rule of the model, mapped back to the field it is about.
        assert "self-hosted server: set base_url" in text_of(app, "#check-errors")
        assert editor.query_one("#f-base_url").has_class("-invalid")
        await save(pilot, app)
        assert app.saved == []
    assert path.read_text() == ENDPOINT_YML


async def test_api_key_env_var_status_says_set_or_not_and_never_shows_the_value(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("TF_EDITOR_KEY", "sk-very-secret-value")
    monkeypatch.delenv("TF_EDITOR_MISSING", raising=False)
    path = tmp_path / "endpoint.yml"
    path.write_text("provider: openai\nmodel: gpt-4o-mini\napi_key_env_var: TF_EDITOR_KEY\n")
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        assert text_of(app, "#key-status") == "TF_EDITOR_KEY is set"
        assert "sk-very-secret-value" not in app.export_screenshot()
        await set_field(pilot, app, "#f-api_key_env_var", "TF_EDITOR_MISSING")
        assert text_of(app, "#key-status") == "TF_EDITOR_MISSING is not set in this shell"
        await set_field(pilot, app, "#f-api_key_env_var", "sk-abc123")
        assert "never the key itself" in text_of(app, "#check-errors")


async def test_test_endpoint_shows_ttft_from_the_simulator_and_a_connection_error(tmp_path):
    # 300 ms: long enough that "testing…" is on screen when the test looks
    async with Simulator(SimulatorConfig(ttft_ms=300)) as sim:
        path = tmp_path / "endpoint.yml"
        path.write_text(f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n")
        async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
            await pilot.press("ctrl+t")
            assert text_of(app, "#probe-result").startswith("testing")
            await app.workers.wait_for_complete()
            await pilot.pause()
            result = text_of(app, "#probe-result")
            assert "ok via openai client: TTFT" in result
            ttft = float(result.split("TTFT ")[1].split(" ms")[0])
            assert 295 <= ttft < 2000
            await set_field(pilot, app, "#f-base_url", "http://127.0.0.1:9/v1")
            await pilot.press("ctrl+t")
            await app.workers.wait_for_complete()
            await pilot.pause()
            result = text_of(app, "#probe-result")
            assert result.startswith("failed: cannot connect to http://127.0.0.1:9/v1")
            assert app.screen.query_one("#probe-result").has_class("-failed")
            await set_field(pilot, app, "#f-base_url", "nope")
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert text_of(app, "#probe-result").startswith("Cannot test yet")


async def test_leaving_asks_only_when_there_are_unsaved_changes(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text(ENDPOINT_YML)
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        await pilot.press("escape")                    # nothing changed: leaves at once
        await pilot.pause()
        assert not isinstance(app.screen, EndpointEditor)
        app.push_screen(EndpointEditor(path, tmp_path))
        await pilot.pause()
        editor = app.screen
        await set_field(pilot, app, "#f-model", "other-model")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is editor
        assert editor.query_one("#f-model", Input).value == "other-model"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not isinstance(app.screen, (EndpointEditor, ConfirmModal))
    assert path.read_text() == ENDPOINT_YML


async def test_typing_back_the_saved_value_is_not_an_unsaved_change(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML)
    async with editing(lambda: SuiteEditor(path, tmp_path)) as (app, pilot):
        await replace_text(pilot, app, "#f-name", "ripplex")
        assert app.screen.has_unsaved_changes
        await pilot.press("backspace")
        assert not app.screen.has_unsaved_changes


async def test_broken_endpoint_file_opens_with_its_values_and_errors(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text("provider: hosted_vlm\nmodle: llama\nbase_url: localhost:8000\n")
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        assert editor.query_one("#f-provider", Select).value == "hosted_vlm"
        assert editor.query_one("#f-base_url", Input).value == "localhost:8000"
        problem = text_of(app, "#file-problem")
        assert "line 2: unknown key 'modle' — did you mean 'model'?" in problem
        assert "Not kept when you save" in problem and "modle" in problem.splitlines()[-1]
        errors = text_of(app, "#check-errors")
        assert "provider: unknown provider 'hosted_vlm'; did you mean 'hosted_vllm'?" in errors
        assert "missing required key 'model'" in errors
        assert editor.query_one("#f-provider").has_class("-invalid")
        # Fix it in place and save: the problems of the old file go away.
        editor.query_one("#f-provider", Select).value = "hosted_vllm"
        await set_field(pilot, app, "#f-model", "llama")
        await set_field(pilot, app, "#f-base_url", "http://127.0.0.1:8080/v1")
        await save(pilot, app)
        assert not editor.query("#file-problem")
    assert load_endpoint(path).model == "llama"


async def test_a_file_that_is_not_yaml_opens_an_empty_form_with_the_error(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text("provider: [hosted_vllm\nmodel: x\n")
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        assert "YAML syntax error" in text_of(app, "#file-problem")
        assert app.screen.query_one("#f-model", Input).value == ""
        assert app.screen.query_one("#f-provider", Select).value == Select.NULL


@pytest.mark.parametrize("tail, problem, kept", [
    # an alias: refused as `tokenflood run` refuses it; the form holds the lines before it
    ("extra_body: &b {temperature: 0.5}\nlitellm_params: *b\n",
     "line 4: alias *b: YAML aliases (&name / *name) are not allowed here", 3),
    # used to crash the editor with a RecursionError while it opened the file
    ("extra_body: {a: " + "[" * 5000 + "]" * 5000 + "}\n",
     "line 3: nested more than 64 levels deep", 2),
    # used to say where only as "position 47" on a second line, and to open an empty form
    ("extra_body: {a: \x00}\n",
     "line 3: YAML syntax error: unacceptable character #x0000: special characters are not "
     "allowed", 2),
], ids=["alias", "deep", "nul"])
async def test_a_refused_file_opens_with_the_lines_before_the_problem(tmp_path, tail, problem,
                                                                      kept):
    path = tmp_path / "endpoint.yml"
    path.write_text("provider: openai\nmodel: gpt-4o-mini\n" + tail)
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        shown = text_of(app, "#file-problem").splitlines()
        assert len(shown) == 2 and shown[0].startswith(problem)
        assert shown[1] == (f"The form holds what lines 1-{kept} say; saving writes the form "
                            "over the whole file.")
        assert editor.query_one("#f-model", Input).value == "gpt-4o-mini"
        assert editor.query_one("#f-provider", Select).value == "openai"
        assert text_of(app, "#check-errors") == ""


async def test_a_key_given_twice_is_named_and_the_form_holds_the_last(tmp_path):
    path = tmp_path / "endpoint.yml"
    path.write_text("provider: openai\nmodel: gpt-4o-mini\nname: first\nmodel: gpt-4o\n")
    async with editing(lambda: EndpointEditor(path, tmp_path)) as (app, pilot):
        assert text_of(app, "#file-problem") == (
            "line 4: key 'model' appears twice (lines 2 and 4): keep one; YAML would silently use "
            "the last")
        assert app.screen.query_one("#f-model", Input).value == "gpt-4o"
        assert app.screen.query_one("#f-name", Input).value == "first"
        await save(pilot, app)
    assert load_endpoint(path).model == "gpt-4o"


@pytest.mark.parametrize("typed, value", [
    ("1e-3", 0.001),              # a number, as in the file (plain PyYAML: the text '1e-3')
    ("'1e-3'", "1e-3"),
    ("{a: 1, b: [x]}", {"a": 1, "b": ["x"]}),
    ("*ref", "*ref"),             # what the file reader refuses stays text
    ("{a: 1, a: 2}", "{a: 1, a: 2}"),
])
def test_a_row_value_reads_as_the_same_text_in_the_file_would(typed, value):
    assert yaml_value(typed) == value
    # a value from the file is shown as text that reads back the same
    assert yaml_value(yaml_text(value)) == value


# ---------------------------------------------------------------------------------------------
# run-suite editor


async def test_load_types_add_duplicate_delete_and_weights_are_saved(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML)
    async with editing(lambda: SuiteEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        table = editor.query_one("#f-load_types")
        table.rows[0].inputs["prompt_length"].focus()
        await pilot.press("ctrl+y")                    # duplicate row 1 → new row 2, focused
        await pilot.pause()
        assert len(table.rows) == 3
        assert editor.focused is table.rows[1].inputs["prompt_length"]
        await replace_text(pilot, app, ".lt-weight", "1")   # first match: row 1's weight
        table.rows[1].inputs["weight"].focus()
        await pilot.press("end", "ctrl+u", "2")
        await pilot.press("ctrl+n")                    # a default row at the end
        await pilot.pause()
        await pilot.press("tab", "end", "ctrl+u", "1", "0")   # its prefix_length: 10
        await pilot.pause()
        assert [str(r.share_label.content) for r in table.rows] == ["20.0%", "40.0%", "20.0%",
                                                                    "20.0%"]
        table.rows[0].inputs["output_length"].focus()
        await pilot.press("ctrl+r")                    # delete row 1
        await pilot.pause()
        assert len(table.rows) == 3
        assert [str(r.index_label.content) for r in table.rows] == ["1", "2", "3"]
        await save(pilot, app)
    assert load_run_suite(path).load_types == [
        LoadType(prompt_length=512, prefix_length=128, output_length=64, weight=2.0),
        LoadType(prompt_length=640, prefix_length=568, output_length=12, weight=1.0),
        LoadType(prompt_length=512, prefix_length=10, output_length=64, weight=1.0),
    ]


async def test_the_last_load_type_cannot_be_deleted(tmp_path):
    async with editing(lambda: SuiteEditor(None, tmp_path)) as (app, pilot):
        table = app.screen.query_one("#f-load_types")
        assert len(table.rows) == 1
        table.rows[0].inputs["weight"].focus()
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert len(table.rows) == 1


async def test_budget_preview_follows_the_rates(tmp_path, monkeypatch):
    monkeypatch.delenv("TOKENFLOOD_MAX_INPUT_TOKENS", raising=False)
    monkeypatch.setenv("TOKENFLOOD_MAX_OUTPUT_TOKENS", "3000")
    path = tmp_path / "run.yml"
    path.write_text(CONSTANT_RUN_YML)
    async with editing(lambda: SuiteEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        assert editor.budget.requests == math.ceil(1 * 10) + math.ceil(2 * 10)
        assert "requests       30 " in text_of(app, "#budget-lines")
        assert "cost           pick an endpoint on the home screen" in text_of(app, "#budget-lines")
        assert text_of(app, "#budget-warnings") == ""
        await set_field(pilot, app, "#f-requests_per_second_rates", "1.5, 2.5 4.25")
        assert text_of(app, "#rates-hint") == "→ [1.5, 2.5, 4.25] req/s: 3 phases"
        await pilot.pause(0.5)                         # the preview is debounced
        expected = sum(math.ceil(rate * 10) for rate in (1.5, 2.5, 4.25))
        assert editor.budget.requests == expected == 83
        assert f"requests       {expected} " in text_of(app, "#budget-lines")
        # 83 × 64 output tokens and the warm-ups are over the 3000 limit set above.
        warning = text_of(app, "#budget-warnings")
        assert "exceed TOKENFLOOD_MAX_OUTPUT_TOKENS=3,000" in warning


async def test_budget_preview_prices_the_selected_endpoint(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text(CONSTANT_RUN_YML)
    openai = EndpointSpec(provider="openai", model="gpt-4o-mini", name="mini")
    async with editing(lambda: SuiteEditor(path, tmp_path, openai)) as (app, pilot):
        lines = text_of(app, "#budget-lines")
        assert app.screen.budget.cost_usd is not None and app.screen.budget.cost_usd > 0
        assert "cost           $" in lines and "endpoint       mini" in lines


async def test_invalid_suite_shows_the_models_messages_and_is_not_saved(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML)
    async with editing(lambda: SuiteEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        await set_field(pilot, app, "#f-requests_per_second_rates", "1, 0")
        errors = text_of(app, "#check-errors")
        assert ("requests_per_second_rates: rate 2 is 0.0: every rate must be a number > 0 (req/s)"
                in errors)
        assert editor.query_one("#f-requests_per_second_rates").has_class("-invalid")
        assert editor.budget is None
        assert "Shown when the form is valid" in text_of(app, "#budget-lines")
        await set_field(pilot, app, "#f-requests_per_second_rates", "1")
        row = editor.query_one("#f-load_types").rows[1]
        row.inputs["prefix_length"].focus()
        await pilot.press("end", "ctrl+u", *"700")
        await pilot.pause()
        assert ("load_types[1]: prefix_length (700) must be smaller than prompt_length (640)"
                in text_of(app, "#check-errors"))
        assert row.inputs["prefix_length"].has_class("-invalid")
        await set_field(pilot, app, "#f-test_length_in_seconds", "ten")
        assert ("test_length_in_seconds: Input should be a valid number (got 'ten')"
                in text_of(app, "#check-errors"))
        await save(pilot, app)
        assert app.saved == []
    assert path.read_text() == RUN_YML


async def test_advanced_keys_round_trip_and_open_expanded(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML + "arrival: constant\nmax_concurrency: 8\nslo: {ttft_ms: 500}\n")
    async with editing(lambda: SuiteEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        assert not editor.query_one("#advanced").collapsed
        await set_field(pilot, app, "#f-max_concurrency", "")        # empty = none
        await set_field(pilot, app, "#f-slo-e2e_ms", "4000")
        await save(pilot, app)
    suite = load_run_suite(path)
    assert suite.max_concurrency is None and suite.arrival == "constant"
    assert suite.slo.ttft_ms == 500 and suite.slo.e2e_ms == 4000 and suite.slo.tpot_ms is None


async def test_saving_a_suite_keeps_the_keys_the_form_has_no_field_for(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML + "thresholds:\n- ttft_ms.p99 < 500\n- error_rate < 0.01\n"
                    "reuse_prompts: true\n")
    async with editing(lambda: SuiteEditor(path, tmp_path)) as (app, pilot):
        await set_field(pilot, app, "#f-test_length_in_seconds", "30")
        await save(pilot, app)
        assert len(app.saved) == 1
    suite = load_run_suite(path)
    assert suite.test_length_in_seconds == 30
    assert suite.thresholds == ["ttft_ms.p99 < 500", "error_rate < 0.01"]
    assert suite.reuse_prompts is True       # was dropped by saving before


async def test_broken_suite_opens_with_rows_filled_and_errors_shown(tmp_path):
    path = tmp_path / "run.yml"
    path.write_text("name: broken\nrequests_per_second_rates: [1, -2]\ntest_length_in_seconds: 10\n"
                    "arival: constant\nload_types:\n"
                    "- {prompt_length: 100, prefix_length: 100, output_length: 8}\n"
                    "seed: 1.5\n")
    async with editing(lambda: SuiteEditor(path, tmp_path)) as (app, pilot):
        editor = app.screen
        assert editor.query_one("#f-requests_per_second_rates", Input).value == "1, -2"
        assert editor.query_one("#f-load_types").row_values == [
            {"prompt_length": "100", "prefix_length": "100", "output_length": "8", "weight": ""}]
        problem = text_of(app, "#file-problem")
        assert "unknown key 'arival' — did you mean 'arrival'?" in problem
        errors = text_of(app, "#check-errors")
        assert "rate 2 is -2" in errors and "prefix_length (100) must be smaller" in errors
        assert "seed: Input should be a valid integer (got 1.5)" in errors
        assert not editor.query_one("#advanced").collapsed      # the broken seed is in there


async def test_new_suite_is_saved_as_run_yml_and_loads_back_equal(tmp_path):
    async with editing(lambda: SuiteEditor(None, tmp_path)) as (app, pilot):
        editor = app.screen
        assert not editor.has_unsaved_changes
        await type_text(pilot, "fresh")
        await pilot.pause()
        spec = editor.spec
        assert spec is not None
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("enter")                     # accept the suggested run.yml
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [(m.path.name, m.kind) for m in app.saved] == [("run.yml", "run")]
    assert load_run_suite(tmp_path / "run.yml") == spec


# ---------------------------------------------------------------------------------------------
# snapshots (fixed content, fixed size)


async def quiet_cursor(pilot) -> None:
    """A blinking cursor would make the frame depend on timing."""
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


SNAPSHOT_ENDPOINT_YML = """\
name: vllm-local
provider: hosted_vllm
model: Qwen/Qwen2.5-0.5B-Instruct
base_url: http://127.0.0.1:8000/v1
api_key_env_var: VLLM_API_KEY
extra_headers: {X-Team: perf}
extra_body: {ignore_eos: true, top_k: 1}
"""


@pytest.fixture
def fixed_env(monkeypatch):
    for var in ("VLLM_API_KEY", "TOKENFLOOD_MAX_INPUT_TOKENS", "TOKENFLOOD_MAX_OUTPUT_TOKENS"):
        monkeypatch.delenv(var, raising=False)


def test_endpoint_editor_snapshot(snap_compare, tmp_path, fixed_env):
    path = tmp_path / "endpoint.yml"
    path.write_text(SNAPSHOT_ENDPOINT_YML)
    app = EditorHost(lambda: EndpointEditor(path, tmp_path))
    assert snap_compare(app, terminal_size=(120, 40), run_before=quiet_cursor)


def test_suite_editor_snapshot(snap_compare, tmp_path, fixed_env):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML)
    app = EditorHost(lambda: SuiteEditor(path, tmp_path, parse_endpoint(ENDPOINT_YML)))
    assert snap_compare(app, terminal_size=(120, 40), run_before=quiet_cursor)


def test_suite_editor_snapshot_narrow(snap_compare, tmp_path, fixed_env):
    path = tmp_path / "run.yml"
    path.write_text(RUN_YML)
    app = EditorHost(lambda: SuiteEditor(path, tmp_path, parse_endpoint(ENDPOINT_YML)))
    assert snap_compare(app, terminal_size=(80, 24), run_before=quiet_cursor)
