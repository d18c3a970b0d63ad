"""Form building blocks shared by the spec editors: a one-line input and a labelled field row."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Input, Label, Static


class FormInput(Input):
    """A one-line Input. Its `-invalid` class is set only by the editor, from the model's errors.

    Input's own validation (none here) would clear `-invalid` on every change and blur, so it is
    switched off; the editor revalidates the whole form instead.
    """

    DEFAULT_CSS = """
    FormInput {
        width: 1fr;
        &.-invalid { background-tint: $error 35%; }
    }
    """

    def __init__(self, value: str = "", *, placeholder: str = "", id: str | None = None,
                 classes: str | None = None, password: bool = False):
        super().__init__(value, placeholder=placeholder, id=id, classes=classes, compact=True,
                         validate_on=(), password=password)


class FieldRow(Horizontal):
    """`label  [field]` on one line, with an optional hint line under the field."""

    DEFAULT_CSS = """
    FieldRow {
        height: auto;
        margin-bottom: 1;
        & > .field-label { width: 18; color: $text-muted; }
        &:focus-within > .field-label { color: $accent; text-style: bold; }
        & > .field-body { width: 1fr; height: auto; }
        & .field-hint { color: $text-muted; }
    }
    """

    def __init__(self, label: str, field: Widget, hint: Static | None = None, *,
                 id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.label = label
        self.field = field
        self.hint = hint

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="field-label", markup=False)
        with Vertical(classes="field-body"):
            yield self.field
            if self.hint is not None:
                self.hint.add_class("field-hint")
                yield self.hint


class Note(Static):
    """A line of status text: plain (it may quote what was typed or a server's error, brackets
    and all), hidden while empty, and redrawn only when its text changes (it is set on every
    key press)."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None):
        super().__init__(text, id=id, classes=classes, markup=False)
        self.text = text
        self.display = bool(text)

    def say(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.update(text)
            self.display = bool(text)


def hint(id: str, text: str = "") -> Note:
    """A hint line under a field."""
    return Note(text, id=id)
