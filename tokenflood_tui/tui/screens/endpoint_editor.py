"""The endpoint editor: a field per key of `endpoint.yml`, checked by the model as you type, and
a one-request test of the endpoint (docs/config.md, docs/architecture.md#tui)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any, Iterable

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Select, Static

from ...run.probe import ProbeResult, probe_endpoint
from ...specs.providers import LITELLM_PROVIDERS
from ...specs.secrets import is_secret_name
from ...specs import EndpointSpec, load_endpoint
from ..widgets.form import FieldRow, FormInput, Note, hint
from ..widgets.form_values import (ABSENT, plain_text, text_or_absent, without_absent, yaml_text,
                                   yaml_value)
from ..widgets.kv_editor import KeyValueEditor
from .spec_editor import ErrorList, SpecEditorScreen

TEXT_FIELDS = ("name", "model", "base_url", "api_key_env_var", "deployment", "api_version")
KV_FIELDS = ("extra_headers", "extra_body", "litellm_params")
PLACEHOLDERS = {
    "name": "optional, for result folder names",
    "model": "e.g. gpt-4o-mini",
    "base_url": "e.g. http://127.0.0.1:8000/v1",
    "api_key_env_var": "env var NAME, e.g. OPENAI_API_KEY",
    "deployment": "azure and others",
    "api_version": "azure, e.g. 2024-10-21",
}
CLIENTS = [("auto", "auto"), ("openai (built-in HTTP client)", "openai"), ("litellm", "litellm")]
ADD_LABELS = {"extra_headers": "+ add header", "extra_body": "+ add body field",
              "litellm_params": "+ add parameter"}
_ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ProviderSelect(Select[str]):
    """litellm's providers; typing while it is closed opens it and starts the search."""

    def on_key(self, event: events.Key) -> None:
        # Space keeps its usual meaning (open the list); letters also start a search.
        if not self.expanded and event.is_printable and event.character not in (None, " "):
            event.stop()
            event.prevent_default()
            self.action_show_overlay()
            # The overlay (a private Textual class, hence the query by name) owns the search.
            overlay = self.query_one("SelectOverlay")
            overlay.post_message(events.Key(event.key, event.character))


class EndpointEditor(SpecEditorScreen):
    """Edit `endpoint.yml`: ctrl+s saves, ctrl+t tests, esc leaves (asks if unsaved)."""

    KIND = "endpoint"
    WHAT = "endpoint spec"
    MODEL = EndpointSpec
    DEFAULT_FILE_NAME = "endpoint.yml"
    ALIASES = {"api_base"}

    BINDINGS = [Binding("ctrl+t", "test_endpoint", "Test endpoint", id="editor-test")]

    DEFAULT_CSS = """
    EndpointEditor {
        #probe-result.-ok { color: $success; }
        #probe-result.-failed { color: $error; }
    }
    """

    @staticmethod
    def load(path: Path) -> EndpointSpec:
        return load_endpoint(path)

    # ------------------------------------------------------------------ form

    def compose_form(self) -> ComposeResult:
        raw = dict(self.raw)
        if "base_url" not in raw and "api_base" in raw:
            raw["base_url"] = raw["api_base"]
        for key in TEXT_FIELDS:
            field = FormInput(plain_text(raw.get(key)), placeholder=PLACEHOLDERS[key],
                              id=f"f-{key}")
            if key == "api_key_env_var":
                yield FieldRow(key, field, hint("key-status"))
            else:
                yield FieldRow(key, field)
            if key == "name":
                yield FieldRow("provider", self._provider_select(raw.get("provider")),
                               hint("provider-hint", "type to search litellm's providers"))
        yield FieldRow("client", self._client_select(raw.get("client")),
                       hint("client-hint"))
        for key, mask, value_hint in (("extra_headers", True, "header value"),
                                      ("extra_body", False, "YAML value: true, 0.5, text"),
                                      ("litellm_params", False, "YAML value: true, 0.5, text")):
            pairs = self._raw_pairs(raw.get(key), as_yaml=key != "extra_headers")
            yield FieldRow(key, KeyValueEditor(pairs, id=f"f-{key}", mask_secrets=mask,
                                               add_label=ADD_LABELS[key],
                                               value_placeholder=value_hint))

    @staticmethod
    def _provider_select(raw_provider: Any) -> ProviderSelect:
        options = [(name, name) for name in sorted(LITELLM_PROVIDERS)]
        value: Any = Select.NULL
        if isinstance(raw_provider, str) and raw_provider:
            if raw_provider not in LITELLM_PROVIDERS:
                # A typo in the file: keep it selectable so the model's "did you mean" shows.
                options.insert(0, (f"{raw_provider} (not a litellm provider)", raw_provider))
            value = raw_provider
        return ProviderSelect(options, value=value, prompt="choose a provider (type to search)",
                              id="f-provider", compact=True)

    @staticmethod
    def _client_select(raw_client: Any) -> Select:
        options = list(CLIENTS)
        value = "auto"
        if raw_client is not None:
            value = plain_text(raw_client)
            if value not in {v for _, v in CLIENTS}:
                options.append((f"{value} (unknown)", value))
        return Select(options, value=value, allow_blank=False, id="f-client", compact=True)

    @staticmethod
    def _raw_pairs(raw: Any, as_yaml: bool) -> list[tuple[str, str]]:
        if not isinstance(raw, dict):
            return []
        return [(str(k), yaml_text(v) if as_yaml else plain_text(v)) for k, v in raw.items()]

    def compose_panel(self) -> ComposeResult:
        yield Static("Test endpoint", classes="panel-title")
        yield Note("ctrl+t sends one short request and shows the time to first token.",
                   id="probe-result", classes="muted")

    # ------------------------------------------------------------------ form → dict

    def form_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {key: text_or_absent(self._input(key).value) for key in TEXT_FIELDS}
        provider = self.query_one("#f-provider", Select).value
        data["provider"] = ABSENT if provider == Select.NULL else provider
        data["client"] = self.query_one("#f-client", Select).value
        for key in KV_FIELDS:
            convert = (lambda v: v) if key == "extra_headers" else yaml_value
            data[key] = {k.strip(): convert(v) for k, v in self._kv(key).pairs if k.strip()}
        return without_absent(data)

    def form_problems(self) -> ErrorList:
        problems: ErrorList = []
        for key in KV_FIELDS:
            seen: set[str] = set()
            for i, (k, v) in enumerate(self._kv(key).pairs):
                k = k.strip()
                if not k and v.strip():
                    problems.append(((key,), f"{key}: row {i + 1} has a value but no key"))
                elif k in seen:
                    problems.append(((key, k), f"{key}: key {k!r} appears twice"))
                seen.add(k)
        return problems

    def widgets_for_error(self, loc: tuple, message: str) -> Iterable[Widget]:
        if not loc:
            # Cross-field checks of the model (self-hosted needs base_url, client: openai ...).
            if "base_url" in message:
                yield self._input("base_url")
            if message.startswith("client"):
                yield self.query_one("#f-client")
            return
        field = loc[0]
        if field in KV_FIELDS:
            row = self._kv(field).row_for_key(str(loc[1])) if len(loc) > 1 else None
            if row is not None:
                yield row.value_input
            return
        yield from self.query(f"#f-{field}")

    def _input(self, key: str) -> FormInput:
        return self.query_one(f"#f-{key}", FormInput)

    def _kv(self, key: str) -> KeyValueEditor:
        return self.query_one(f"#f-{key}", KeyValueEditor)

    # ------------------------------------------------------------------ status lines

    def after_check(self) -> None:
        self._show_key_status()
        spec: EndpointSpec | None = self.spec
        ok = self.query_one("#check-ok", Note)
        client_hint = self.query_one("#client-hint", Note)
        if spec is None:
            ok.say("")
            client_hint.say("")
            return
        client = spec.resolved_client
        how = ("openai (built-in HTTP) at " + spec.http_base_url if client == "openai"
               else f"litellm, model {spec.litellm_model}")
        lines = ["✓ valid", f"client: {how}"]
        secrets = [k.strip() for k, _ in self._kv("extra_headers").pairs if is_secret_name(k)]
        if secrets:
            lines.append(f"note: header {', '.join(secrets)} is saved in plain text; "
                         "prefer api_key_env_var for keys")
        ok.say("\n".join(lines))
        auto = spec.client == "auto"
        client_hint.say(f"auto picks {client} for this provider" if auto else "")

    def _show_key_status(self) -> None:
        """Whether the named variable is set in this shell; never its value."""
        name = self._input("api_key_env_var").value.strip()
        status = self.query_one("#key-status", Note)
        if not name:
            status.say("no API key is sent")
        elif not _ENV_VAR_NAME.match(name):
            status.say("")
        elif os.environ.get(name):
            status.say(f"{name} is set")
        elif name in os.environ:
            status.say(f"{name} is set but empty in this shell")
        else:
            status.say(f"{name} is not set in this shell")

    # ------------------------------------------------------------------ test endpoint

    def action_test_endpoint(self) -> None:
        result = self.query_one("#probe-result", Note)
        result.set_classes("")
        if self.spec is None:
            result.say("Cannot test yet: fix the errors under Check first.")
            result.add_class("-failed")
            return
        result.say("testing… one short request")
        self._probe(self.spec)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return super().palette_commands() + [
            ("Test endpoint", "Send one short request and show TTFT (ctrl+t)",
             self.action_test_endpoint)]

    @work(exclusive=True, group="probe", exit_on_error=False)
    async def _probe(self, spec: EndpointSpec) -> None:
        if spec.resolved_client == "litellm":
            # litellm takes seconds to import: do it off the UI loop so keys keep working.
            from ...clients.litellm_client import import_litellm
            try:
                await asyncio.to_thread(import_litellm)
            except Exception as exc:         # e.g. litellm missing or broken in this install
                self._show_probe(ProbeResult(False, f"cannot load litellm: {exc}"))
                return
        self._show_probe(await probe_endpoint(spec))

    def _show_probe(self, result: ProbeResult) -> None:
        widget = self.query_one("#probe-result", Note)
        widget.set_classes("-ok" if result.ok else "-failed")
        widget.say(result.message if result.ok else f"failed: {result.message}")
