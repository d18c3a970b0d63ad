"""The run-suite editor: rates, load types as a table, the optional keys, and a budget preview
that follows what is typed (docs/config.md, docs/architecture.md#tui)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from textual.app import ComposeResult
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Collapsible, Label, Select, Static

from ...run.budget import (DEFAULT_MAX_INPUT, DEFAULT_MAX_OUTPUT, MAX_INPUT_VAR, MAX_OUTPUT_VAR,
                           BudgetEstimate, estimate, read_limit)
from ...errors import TokenfloodError
from ...outputs.formats import duration
from ...run.schedule import plan_phases
from ...errors import ConfigError
from ...specs import EndpointSpec, LoadTestSuite, load_run_suite
from ..widgets.form import FieldRow, FormInput, Note, hint
from ..widgets.form_values import (ABSENT, list_text, number_list, number_or_text, number_text,
                                   plain_text, text_or_absent, without_absent)
from ..widgets.load_types import COLUMNS, NEW_ROW, LoadTypesTable
from .spec_editor import SpecEditorScreen

ADVANCED_KEYS = ("arrival", "seed", "max_concurrency", "warmup_requests",
                 "request_timeout_seconds", "error_limit", "slo")
NUMBER_KEYS = ("seed", "max_concurrency", "warmup_requests", "request_timeout_seconds",
               "error_limit")
SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")
FORM_KEYS = {"name", "requests_per_second_rates", "test_length_in_seconds", "load_types",
             "percentiles", "arrival", "slo", *NUMBER_KEYS}     # the keys the form edits
PLACEHOLDERS = {  # the model's defaults, so an empty field says what it means
    "seed": "0", "max_concurrency": "none: pure open loop", "warmup_requests": "2",
    "request_timeout_seconds": "120", "error_limit": "0.3", "ttft_ms": "none",
    "tpot_ms": "none", "e2e_ms": "none",
}
# A new suite starts runnable except for its name: one rate, a short phase, one load type.
NEW_SUITE = {"requests_per_second_rates": [1], "test_length_in_seconds": 10,
             "percentiles": [50, 90, 99]}
BUDGET_DEBOUNCE_S = 0.3
# Planning is exact but allocates per arrival; past this the preview estimates from the means.
PREVIEW_MAX_REQUESTS = 2_000_000
# Only for pricing-free previews when no endpoint is chosen: self-hosted, so cost says nothing.
_PLACEHOLDER_ENDPOINT = EndpointSpec(provider="hosted_vllm", model="-",
                                     base_url="http://127.0.0.1:8000/v1")


class SuiteEditor(SpecEditorScreen):
    """Edit `run.yml`: ctrl+s saves, esc leaves (asks if unsaved); ctrl+n/y/r edit load types.
    The budget preview prices the tokens at `endpoint`'s rates (None: it says to pick one)."""

    KIND = "run"
    WHAT = "run suite"
    MODEL = LoadTestSuite
    DEFAULT_FILE_NAME = "run.yml"

    DEFAULT_CSS = """
    SuiteEditor {
        FieldRow > .field-label { width: 26; }
        .block-label { color: $text-muted; margin-bottom: 0; }
        #f-load_types { margin-bottom: 1; }
        #advanced { padding: 0; margin-bottom: 1; background: transparent; border-top: none; }
        #advanced Contents { padding: 1 0 0 0; }
        &.-narrow #budget-note { display: none; }
        #budget-warnings { color: $warning; text-style: bold; margin-top: 1; }
        #budget-note { margin-top: 1; }
    }
    """

    def __init__(self, path: Path | None, workdir: Path, endpoint: EndpointSpec | None = None):
        super().__init__(path, workdir)
        self.endpoint = endpoint        # the endpoint chosen on the home screen prices the budget
        self.budget: BudgetEstimate | None = None
        self._budget_timer: Timer | None = None

    @staticmethod
    def load(path: Path) -> LoadTestSuite:
        suite = load_run_suite(path)
        if not isinstance(suite, LoadTestSuite):
            raise ConfigError(f"{path}: an observation suite (type: observation); this editor "
                              "edits load tests: change the file in a text editor")
        if suite.sessions:      # the app opens these as text (suite_text_editor.py)
            raise ConfigError(f"{path}: a session suite (session_types); this form edits load "
                              "tests of single requests: edit the file as text")
        return suite

    # ------------------------------------------------------------------ form

    def compose_form(self) -> ComposeResult:
        opened = self.path is not None and self.path.exists()
        raw = self.raw if opened else dict(NEW_SUITE)
        yield FieldRow("name", FormInput(plain_text(raw.get("name")), id="f-name",
                                         placeholder="e.g. ripple (used in result folder names)"))
        yield FieldRow("requests_per_second_rates",
                       FormInput(list_text(raw.get("requests_per_second_rates")),
                                 id="f-requests_per_second_rates", placeholder="e.g. 1, 2, 4.5"),
                       hint("rates-hint"))
        yield FieldRow("test_length_in_seconds",
                       FormInput(number_text(raw.get("test_length_in_seconds")),
                                 id="f-test_length_in_seconds", placeholder="seconds per phase"))
        yield Label("load_types   (ctrl+n add · ctrl+y duplicate · ctrl+r delete)",
                    classes="block-label")
        yield LoadTypesTable(self._raw_load_types(raw.get("load_types")), id="f-load_types")
        yield FieldRow("percentiles", FormInput(list_text(raw.get("percentiles")),
                                                id="f-percentiles", placeholder="50, 90, 99"))
        collapsed = not any(key in raw for key in ADVANCED_KEYS)
        with Collapsible(title="Advanced: arrival, seed, concurrency, timeouts, SLOs",
                         collapsed=collapsed, id="advanced"):
            yield FieldRow("arrival", self._arrival_select(raw.get("arrival")))
            for key in NUMBER_KEYS:
                yield FieldRow(key, FormInput(number_text(raw.get(key)), id=f"f-{key}",
                                              placeholder=PLACEHOLDERS[key]))
            slo = raw.get("slo")
            if not isinstance(slo, dict):
                slo = {}
            for key in SLO_KEYS:
                yield FieldRow(f"slo.{key}", FormInput(number_text(slo.get(key)), id=f"f-slo-{key}",
                                                       placeholder=PLACEHOLDERS[key]))

    @staticmethod
    def _raw_load_types(raw: Any) -> list[dict[str, str]]:
        if not isinstance(raw, list) or not raw:
            return [dict(NEW_ROW)]
        return [{name: number_text(item.get(name)) for name in COLUMNS}
                for item in raw if isinstance(item, dict)] or [dict(NEW_ROW)]

    @staticmethod
    def _arrival_select(raw_arrival: Any) -> Select:
        options = [("poisson (random gaps, seeded)", "poisson"),
                   ("constant (every 1/rate s)", "constant")]
        value = "poisson" if raw_arrival is None else plain_text(raw_arrival)
        if value not in ("poisson", "constant"):
            options.append((f"{value} (unknown)", value))
        return Select(options, value=value, allow_blank=False, id="f-arrival", compact=True)

    def compose_panel(self) -> ComposeResult:
        yield Static("Budget preview", classes="panel-title")
        yield Note(id="budget-lines")
        yield Note(id="budget-warnings")
        yield Static(f"Limits come from {MAX_INPUT_VAR} and {MAX_OUTPUT_VAR}.",
                     id="budget-note", classes="muted", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        # A file with a broken optional key: show the field, not only the message.
        advanced = self.query_one("#advanced", Collapsible)
        if any(w in advanced.query("*") for loc, msg in self.errors
               for w in self.widgets_for_error(loc, msg)):
            advanced.collapsed = False

    # ------------------------------------------------------------------ form → dict

    def form_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": text_or_absent(self._value("name")),
            "requests_per_second_rates": number_list(self._value("requests_per_second_rates")),
            "test_length_in_seconds": number_or_text(self._value("test_length_in_seconds")),
            "load_types": [without_absent({k: number_or_text(v) for k, v in row.items()})
                           for row in self._table().row_values],
            "percentiles": number_list(self._value("percentiles")),
            "arrival": self.query_one("#f-arrival", Select).value,
        }
        for key in NUMBER_KEYS:
            data[key] = number_or_text(self._value(key))
        slo = without_absent({key: number_or_text(self._value(f"slo-{key}")) for key in SLO_KEYS})
        data["slo"] = slo or ABSENT
        # a suite's keys the form has no field for (thresholds, reuse_prompts, ...): kept as
        # written; a key no suite has (a typo the file was opened with) is not
        for key, value in self.raw.items():
            if key not in FORM_KEYS and key in LoadTestSuite.model_fields:
                data[key] = value
        return without_absent(data)

    def widgets_for_error(self, loc: tuple, message: str) -> Iterable[Widget]:
        if not loc:
            if "phase" in message:     # "phase N would send no request": rate × length < 1
                yield self._input("requests_per_second_rates")
                yield self._input("test_length_in_seconds")
            return
        field = loc[0]
        if field == "load_types":
            rows = self._table().rows
            if len(loc) > 1 and isinstance(loc[1], int) and loc[1] < len(rows):
                row = rows[loc[1]]
                # The row-level check is "prefix_length must be smaller than prompt_length".
                name = loc[2] if len(loc) > 2 and loc[2] in row.inputs else "prefix_length"
                yield row.inputs[name]
            return
        if field == "slo":
            if len(loc) > 1:
                yield from self.query(f"#f-slo-{loc[1]}")
            return
        yield from self.query(f"#f-{field}")

    def _input(self, key: str) -> FormInput:
        return self.query_one(f"#f-{key}", FormInput)

    def _value(self, key: str) -> str:
        return self._input(key).value

    def _table(self) -> LoadTypesTable:
        return self.query_one("#f-load_types", LoadTypesTable)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        table = self._table()
        return super().palette_commands() + [
            ("Add load type", "A new row in the load-types table", table.action_add_row)]

    # ------------------------------------------------------------------ hints and budget

    def after_check(self) -> None:
        self._show_rates_hint()
        suite: LoadTestSuite | None = self.spec
        ok = self.query_one("#check-ok", Note)
        if self._budget_timer is not None:
            self._budget_timer.stop()
            self._budget_timer = None
        if suite is None:
            ok.say("")
            self.budget = None
            self.query_one("#budget-lines", Note).say(
                "Shown when the form is valid (see Check).")
            self.query_one("#budget-warnings", Note).say("")
            return
        ok.say("✓ valid")
        if not self.is_mounted or self._baseline is None:
            self._show_budget()          # opening: at once, so the first frame has it
        else:
            self._budget_timer = self.set_timer(BUDGET_DEBOUNCE_S, self._show_budget)

    def _show_rates_hint(self) -> None:
        rates = number_list(self._value("requests_per_second_rates"))
        widget = self.query_one("#rates-hint", Note)
        if rates is ABSENT or not all(isinstance(r, (int, float)) for r in rates):
            widget.say("")
            return
        phases = len(rates)
        shown = ", ".join(number_text(float(r)) for r in rates)
        widget.say(f"→ [{shown}] req/s: {phases} phase{'s' * (phases != 1)}")

    def _show_budget(self) -> None:
        self._budget_timer = None
        suite = self.spec
        if suite is None:
            return
        preview = budget_preview(suite, self.endpoint)
        self.budget = preview.estimate
        self.query_one("#budget-lines", Note).say("\n".join(preview.lines))
        self.query_one("#budget-warnings", Note).say(
            "\n".join(f"⚠ {w}" for w in preview.warnings))


@dataclass(frozen=True, slots=True)
class BudgetPreview:
    lines: list[str]
    warnings: list[str]                  # limits exceeded, or why there is no estimate
    estimate: BudgetEstimate | None      # None when rough (a huge suite) or impossible


def budget_preview(suite: LoadTestSuite, endpoint: EndpointSpec | None) -> BudgetPreview:
    """What `tokenflood run` will show before asking, and the limits it will refuse to pass."""
    expected = sum(rate * suite.test_length_in_seconds for rate in suite.requests_per_second_rates)
    try:
        if expected > PREVIEW_MAX_REQUESTS:
            return _rough_preview(suite, expected)
        est = estimate(suite, endpoint or _PLACEHOLDER_ENDPOINT, plan_phases(suite))
    except TokenfloodError as exc:       # e.g. TOKENFLOOD_MAX_INPUT_TOKENS=lots
        return BudgetPreview(["no estimate"], [str(exc)], None)
    lines = est.lines(compact=True)
    if endpoint is None:
        lines[-1] = "cost           pick an endpoint on the home screen"
    else:
        lines.append(f"endpoint       {endpoint.name or endpoint.model}")
    return BudgetPreview(lines, est.over_limits, est)


def _rough_preview(suite: LoadTestSuite, expected: float) -> BudgetPreview:
    """Counts from the weighted means when the exact plan would be too big to build as you type."""
    total = sum(lt.weight for lt in suite.load_types)
    mean_in = sum(lt.weight * lt.prompt_length for lt in suite.load_types) / total
    mean_out = sum(lt.weight * lt.output_length for lt in suite.load_types) / total
    input_tokens, output_tokens = expected * mean_in, expected * mean_out
    load_s = suite.test_length_in_seconds * len(suite.requests_per_second_rates)
    lines = [f"requests       about {expected:,.0f} (too many to plan exactly here)",
             f"input tokens   about {input_tokens:,.0f}",
             f"output tokens  about {output_tokens:,.0f}",
             f"duration       {duration(load_s)} of load",
             "cost           not estimated for a suite this large"]
    warnings = []
    for var, default, tokens in ((MAX_INPUT_VAR, DEFAULT_MAX_INPUT, input_tokens),
                                 (MAX_OUTPUT_VAR, DEFAULT_MAX_OUTPUT, output_tokens)):
        limit = read_limit(var, default)
        if tokens > limit:
            warnings.append(f"about {tokens:,.0f} tokens exceed {var}={limit:,}; raise {var} "
                            "to run this suite")
    return BudgetPreview(lines, warnings, None)
