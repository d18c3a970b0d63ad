"""Form text ↔ the values a spec file holds, and the model's errors as the editors show them.

The editors never validate anything themselves: they turn what was typed into the dict the YAML
would hold and let the pydantic model judge it. So a field that does not parse as a number is
passed through as text, and the model says "Input should be a valid integer (got 'abc')".
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from ...errors import ConfigError
from ...specs.loader import describe_error, dump_yaml, parse_yaml

ABSENT = object()
"""An empty field: the key is left out, so the model's default (or 'missing') applies."""

_LIST_SEPARATOR = re.compile(r"[,\s]+")


def text_or_absent(text: str) -> Any:
    """A free-text field: surrounding spaces are never meant, empty means absent."""
    text = text.strip()
    return text if text else ABSENT


def number_or_text(text: str) -> Any:
    """An int or float where the text is one, else the text itself for the model to refuse."""
    text = text.strip()
    if not text:
        return ABSENT
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    # "inf" and "nan" parse as floats but are never a meaningful length or rate.
    return number if math.isfinite(number) else text


def number_list(text: str) -> Any:
    """`1, 2, 4.5` or `1 2 4.5` → [1, 2, 4.5]; empty means absent."""
    parts = [p for p in _LIST_SEPARATOR.split(text.strip()) if p]
    if not parts:
        return ABSENT
    return [number_or_text(p) for p in parts]


def list_text(values: Any) -> str:
    """The inverse of `number_list` for values read from a file (raw, possibly wrong)."""
    if values is None:
        return ""
    if isinstance(values, (list, tuple)):
        return ", ".join(number_text(v) for v in values)
    return number_text(values)


def number_text(value: Any) -> str:
    """A number as a person types it: 10 not 10.0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (dict, list)):
        return yaml_text(value)
    return str(value)


def plain_text(value: Any) -> str:
    """A raw file value shown in a free-text field."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return yaml_text(value)
    return str(value)


def yaml_value(text: str) -> Any:
    """A key–value row's value as the spec file reader reads it: `true` → True, `0.5` → 0.5,
    `1e3` → 1000.0, `null` → None.

    Flow collections (`[a, b]`, `{x: 1}`) are accepted too; text that reader refuses (a syntax
    error, an alias, a key given twice) stays text.
    """
    if not text.strip():
        return ""
    try:
        return parse_yaml(text, "<value>").data
    except ConfigError:
        return text


def yaml_text(value: Any) -> str:
    """The inverse of `yaml_value`: quotes strings that would read back as something else."""
    if isinstance(value, str) and value and yaml_value(value) == value:
        return value
    dumped = dump_yaml(value, default_flow_style=True, width=10**6)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def without_absent(data: dict[str, Any]) -> dict[str, Any]:
    """Drop the absent keys."""
    return {k: v for k, v in data.items() if v is not ABSENT}


def model_errors(exc: ValidationError, model: type[BaseModel]) -> list[tuple[tuple, str]]:
    """(key path, message) per error, worded exactly as the file loader words them (no line)."""
    out = []
    for err in exc.errors():
        message = describe_error(err, model)
        out.append((tuple(err["loc"]), message))
    return out
