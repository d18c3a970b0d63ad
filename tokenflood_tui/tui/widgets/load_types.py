"""The run suite's load types as an editable table: add, duplicate, delete; weights as shares."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Static

from .form import FormInput, Note
from .form_values import ABSENT, number_or_text

COLUMNS = ("prompt_length", "prefix_length", "output_length", "weight")
HEADINGS = {"prompt_length": "prompt tok", "prefix_length": "prefix tok",
            "output_length": "output tok", "weight": "weight"}
NEW_ROW = {"prompt_length": "512", "prefix_length": "0", "output_length": "64", "weight": "1"}

_TABLE_CSS_COLUMNS = """
    & > .lt-index { width: 4; color: $text-muted; }
    & > .lt-cell { width: 1fr; margin-right: 1; }
    & > .lt-share { width: 8; text-align: right; color: $text-muted; }
"""


class LoadTypeRow(Horizontal):
    """One load type: four numbers and its share of the total weight."""

    DEFAULT_CSS = "LoadTypeRow { height: 1; " + _TABLE_CSS_COLUMNS + " }"

    def __init__(self, values: dict[str, str]):
        super().__init__()
        self.inputs = {name: FormInput(values.get(name, ""), placeholder=NEW_ROW[name],
                                       classes=f"lt-cell lt-{name}")
                       for name in COLUMNS}
        self.index_label = Note("", classes="lt-index")
        self.share_label = Note("", classes="lt-share")

    def compose(self) -> ComposeResult:
        yield self.index_label
        yield from self.inputs.values()
        yield self.share_label

    @property
    def values(self) -> dict[str, str]:
        return {name: widget.value for name, widget in self.inputs.items()}


class LoadTypesTable(Vertical):
    """Rows of load types. At least one row always remains (a suite needs one)."""

    BINDINGS = [
        Binding("ctrl+n", "add_row", "Add load type"),
        Binding("ctrl+y", "duplicate_row", "Duplicate"),
        Binding("ctrl+r", "delete_row", "Delete"),
    ]

    DEFAULT_CSS = """
    LoadTypesTable {
        height: auto;
        & > #lt-header {
            height: 1; color: $text-muted; text-style: bold; """ + _TABLE_CSS_COLUMNS + """
        }
        & > .lt-add { width: auto; min-width: 0; margin-top: 1; }
    }
    """

    class RowsChanged(Message):
        """A row was added, duplicated or deleted (edits inside rows arrive as Input.Changed)."""

        def __init__(self, table: LoadTypesTable):
            super().__init__()
            self.table = table

        @property
        def control(self) -> LoadTypesTable:
            return self.table

    def __init__(self, rows: list[dict[str, str]], *, id: str | None = None):
        super().__init__(id=id)
        self._initial = rows or [dict(NEW_ROW)]

    def compose(self) -> ComposeResult:
        with Horizontal(id="lt-header"):
            yield Static("#", classes="lt-index")
            for name in COLUMNS:
                yield Static(HEADINGS[name], classes="lt-cell")
            yield Static("share", classes="lt-share")
        for values in self._initial:
            yield LoadTypeRow(values)
        yield Button("+ add load type  (ctrl+n)", classes="lt-add", compact=True)

    def on_mount(self) -> None:
        self._renumber()

    @property
    def rows(self) -> list[LoadTypeRow]:
        return list(self.query_children(LoadTypeRow))

    @property
    def row_values(self) -> list[dict[str, str]]:
        """Every row's raw text, in order."""
        return [row.values for row in self.rows]

    def focused_row(self) -> LoadTypeRow | None:
        focused = self.screen.focused
        return next((row for row in self.rows if focused is not None and focused in row.children),
                    None)

    async def action_add_row(self) -> None:
        await self._insert(LoadTypeRow(dict(NEW_ROW)), before=self.query_one(".lt-add"))

    async def action_duplicate_row(self) -> None:
        row = self.focused_row()
        if row is None:
            self.notify("Put the cursor in a load type to duplicate it.", severity="warning")
            return
        await self._insert(LoadTypeRow(row.values), after=row)

    async def action_delete_row(self) -> None:
        row = self.focused_row()
        rows = self.rows
        if row is None:
            self.notify("Put the cursor in a load type to delete it.", severity="warning")
            return
        if len(rows) == 1:
            self.notify("A suite needs at least one load type.", severity="warning")
            return
        index = rows.index(row)
        await row.remove()
        rows = self.rows
        rows[min(index, len(rows) - 1)].inputs["prompt_length"].focus()
        self._changed()

    async def _insert(self, row: LoadTypeRow, **where) -> None:
        await self.mount(row, **where)
        row.inputs["prompt_length"].focus()
        self._changed()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        await self.action_add_row()

    def on_input_changed(self, event: Input.Changed) -> None:
        # The event bubbles on to the editor (it revalidates); shares follow the weights here.
        if event.input.has_class("lt-weight"):
            self._update_shares()

    def _changed(self) -> None:
        self._renumber()
        self.post_message(self.RowsChanged(self))

    def _renumber(self) -> None:
        for i, row in enumerate(self.rows):
            row.index_label.say(str(i + 1))
        self._update_shares()

    def _update_shares(self) -> None:
        """Each row's weight as a % of the total; '–' while any weight is not a positive number."""
        rows = self.rows
        # An empty weight is the model's default, 1.
        weights = [number_or_text(row.inputs["weight"].value) for row in rows]
        weights = [1 if w is ABSENT else w for w in weights]
        usable = all(isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0
                     for w in weights)
        total = sum(weights) if usable else 0
        for row, weight in zip(rows, weights, strict=True):
            row.share_label.say(f"{100 * weight / total:.1f}%" if usable else "–")
