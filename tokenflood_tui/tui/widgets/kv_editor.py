"""Key–value rows (`extra_headers`, `extra_body`, `litellm_params`): add and delete by keyboard."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Static

from ...specs.secrets import is_secret_name
from .form import FormInput


class KeyValueRow(Horizontal):
    """One `key: value` pair."""

    DEFAULT_CSS = """
    KeyValueRow {
        height: 1;
        & > .kv-key { width: 2fr; }
        & > .kv-sep { width: 3; color: $text-muted; }
        & > .kv-value { width: 3fr; }
    }
    """

    def __init__(self, key: str = "", value: str = "", *, key_placeholder: str = "key",
                 value_placeholder: str = "value", mask_secret: bool = False):
        super().__init__()
        self.key_input = FormInput(key, placeholder=key_placeholder, classes="kv-key")
        self.value_input = FormInput(value, placeholder=value_placeholder, classes="kv-value",
                                     password=mask_secret and is_secret_name(key))

    def compose(self) -> ComposeResult:
        yield self.key_input
        yield Static(" : ", classes="kv-sep")
        yield self.value_input

    @property
    def pair(self) -> tuple[str, str]:
        return self.key_input.value, self.value_input.value


class KeyValueEditor(Vertical):
    """Editable rows of key and value text. Rows with neither are ignored by the editors."""

    BINDINGS = [
        Binding("ctrl+n", "add_row", "Add row"),
        Binding("ctrl+r", "delete_row", "Delete row"),
    ]

    DEFAULT_CSS = """
    KeyValueEditor {
        height: auto;
        & > .kv-add { margin-top: 0; min-width: 0; width: auto; }
    }
    """

    class RowsChanged(Message):
        """A row was added or deleted (edits inside rows arrive as Input.Changed)."""

        def __init__(self, editor: KeyValueEditor):
            super().__init__()
            self.editor = editor

        @property
        def control(self) -> KeyValueEditor:
            return self.editor

    def __init__(self, pairs: list[tuple[str, str]] | None = None, *, add_label: str = "+ add",
                 key_placeholder: str = "key", value_placeholder: str = "value",
                 mask_secrets: bool = False, id: str | None = None):
        super().__init__(id=id)
        self._initial = list(pairs or [])
        self.add_label = add_label
        self.key_placeholder = key_placeholder
        self.value_placeholder = value_placeholder
        # Header values named like secrets (Authorization, X-Api-Key) are masked on screen.
        self.mask_secrets = mask_secrets

    def compose(self) -> ComposeResult:
        for key, value in self._initial:
            yield self._new_row(key, value)
        yield Button(f"{self.add_label}  (ctrl+n)", classes="kv-add", compact=True)

    def _new_row(self, key: str = "", value: str = "") -> KeyValueRow:
        return KeyValueRow(key, value, key_placeholder=self.key_placeholder,
                           value_placeholder=self.value_placeholder, mask_secret=self.mask_secrets)

    @property
    def rows(self) -> list[KeyValueRow]:
        return list(self.query_children(KeyValueRow))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every row's raw (key, value) text, in order."""
        return [row.pair for row in self.rows]

    def row_for_key(self, key: str) -> KeyValueRow | None:
        return next((row for row in self.rows if row.key_input.value.strip() == key), None)

    def _focused_row(self) -> KeyValueRow | None:
        focused = self.screen.focused
        return next((row for row in self.rows if focused is not None and focused in row.children),
                    None)

    async def action_add_row(self) -> None:
        row = self._new_row()
        await self.mount(row, before=self.query_one(".kv-add"))
        row.key_input.focus()
        self.post_message(self.RowsChanged(self))

    async def action_delete_row(self) -> None:
        row = self._focused_row()
        if row is None:
            self.notify("Put the cursor in a row to delete it.", severity="warning")
            return
        rows = self.rows
        after = rows[rows.index(row) + 1] if rows.index(row) + 1 < len(rows) else None
        await row.remove()
        if after is not None:
            after.key_input.focus()
        else:
            self.query_one(".kv-add", Button).focus()
        self.post_message(self.RowsChanged(self))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        await self.action_add_row()

    def on_input_changed(self, event: Input.Changed) -> None:
        # Let the event bubble on to the editor (it revalidates); only adjust masking here.
        if self.mask_secrets and event.input.has_class("kv-key"):
            row = event.input.parent
            if isinstance(row, KeyValueRow):
                row.value_input.password = is_secret_name(event.value)
