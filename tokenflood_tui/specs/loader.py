"""The YAML reader every config file goes through (spec files, theme files, settings.yml), and
errors that say `file:line: key.path: message`.

Reading is strict where plain YAML is silent: aliases are refused (a few nested ones expand to
billions of values), so is nesting past MAX_YAML_DEPTH, a key given twice in one mapping (both
lines named) and a key that is a list or mapping; `1e9` is a number as in YAML 1.2. Validation is
pydantic's, over any model: one line per error, with the line of the key it is about, "did you
mean" for a misspelled key, and no value echoed from a secret-named key or a URL's password.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError
from .secrets import is_secret_name, redact_url

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

MAX_YAML_DEPTH = 64                  # nested mappings and lists; config files need four or five

Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    """A config file's model: a misspelled key is an error, and `true` is not silently the number 1."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class KeyedError(ValueError):
    """A validation error about a key other than the one the validator is attached to.

    Cross-field checks run where pydantic reports the whole model (or the whole dict); this
    carries the key path the user should look at, so the message gets that key's line.
    """

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class YamlDoc:
    """A file's data as YAML reads it, the line of every key path, and the name errors give it."""

    data: Any
    lines: dict[tuple, int]
    source: str


# ---------------------------------------------------------------------------------------------
# reading


def read_yaml(path: Path, source: str | None = None) -> YamlDoc:
    """Read a YAML file strictly; ConfigError names the file (as `source`, default the path)."""
    where = str(path) if source is None else source
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: is a folder, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from None
    return parse_yaml(text, where)


def parse_yaml(text: str, source: str) -> YamlDoc:
    """Read YAML text strictly (see the module docstring); ConfigError says `source:line: …`."""
    loader = None
    try:
        loader = _StrictLoader(text)   # raises on characters YAML forbids (NUL, ...)
        node = loader.get_single_node()
        lines: dict[tuple, int] = {}
        if node is not None:
            _index_lines(node, (), lines, source)
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise ConfigError(f"{source}:{exc.mark.line + 1}: {exc.message}") from None
    except yaml.YAMLError as exc:
        line = _error_line(exc, text)
        where = f":{line}" if line else ""
        raise ConfigError(f"{source}{where}: YAML syntax error: {_problem(exc)}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDoc(data, lines, source)


def salvage_yaml(text: str) -> tuple[Any, int | None]:
    """What an editor can still fill its form from when the file is refused, and how much of it.

    A key given twice keeps its last value, as plain YAML would read it (the strict reader's
    error names both lines); (data, None) then stands for the whole file. Past a syntax error,
    an alias or too deep nesting it is the mapping that the lines before it hold, and their
    count; (None, 0) when no line before it gives a mapping.
    """
    try:
        return _read_leniently(text), None
    except yaml.YAMLError as exc:
        line = _error_line(exc, text)
        lines = text.splitlines()
        end = min(line - 1 if line else len(lines), len(lines))
        for n in range(end, max(end - 20, 0), -1):   # a few tries: a line may end mid-block
            try:
                data = _read_leniently("\n".join(lines[:n]))
            except yaml.YAMLError:
                continue
            if isinstance(data, dict):
                return data, n
    return None, 0


def _read_leniently(text: str) -> Any:
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class _Refused(yaml.MarkedYAMLError):
    """A YAML construct config files do not accept (aliases, deep nesting), with where it is."""

    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(problem=message, problem_mark=mark)   # where salvage_yaml looks
        self.mark = mark
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and nesting past MAX_YAML_DEPTH while composing.

    Aliases are refused outright rather than counted: a config file has no need for them, and a
    handful of nested aliases expands to billions of values ("billion laughs"). The depth check
    runs before the recursive composer and constructor could hit Python's recursion limit.
    """

    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(event.start_mark, (
                f"alias *{event.anchor}: YAML aliases (&name / *name) are not allowed here; "
                "write the value out in full"))
        nests = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if nests:
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise _Refused(self.peek_event().start_mark, (
                    f"nested more than {MAX_YAML_DEPTH} levels deep: a config file needs a few "
                    "levels; flatten it"))
        try:
            return super().compose_node(parent, index)
        finally:
            if nests:
                self._depth -= 1


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes the strings _StrictLoader reads as numbers (so they load back equal)."""


# YAML 1.1 (PyYAML) reads 1e9 and 1.0e10 as strings; YAML 1.2 and every user read them as numbers.
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")
for _cls in (_StrictLoader, _Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def dump_yaml(data: Any, **options: Any) -> str:
    """YAML text that the strict reader loads back equal (options as for `yaml.dump`)."""
    return yaml.dump(data, Dumper=_Dumper, **{"allow_unicode": True, **options})


def _index_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int], source: str) -> None:
    """Record the line of every key path; refuse a key given twice in one mapping."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(f"{source}:{line}: {_dotted(path) or '(top level)'}: a key must "
                                  "be a name or a number, not a list or a mapping")
            key = key_node.value
            first = seen.get((key_node.tag, key))
            if first is not None:
                raise ConfigError(
                    f"{source}:{line}: key {_dotted(path + (key,))!r} appears twice (lines "
                    f"{first} and {line}): keep one; YAML would silently use the last")
            seen[(key_node.tag, key)] = line
            lines[path + (key,)] = line
            _index_lines(value_node, path + (key,), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines, source)


def _error_line(exc: yaml.YAMLError, text: str) -> int | None:
    """The 1-based line a YAML error is at, or None."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1
    if isinstance(exc, yaml.reader.ReaderError):   # a forbidden character: only its position
        return text.count("\n", 0, exc.position) + 1
    return None


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):   # a second line says the position: dropped
        return str(exc).splitlines()[0]
    return getattr(exc, "problem", None) or str(exc)


# ---------------------------------------------------------------------------------------------
# validating


def validate(doc: YamlDoc, model: type[Model], what: str) -> Model:
    """The model the file holds; ConfigError with one line per problem (`what`: "run suite")."""
    if doc.data is None:
        raise ConfigError(f"{doc.source}: the file is empty; expected a {what}")
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.source}:{doc.lines.get((), 1)}: expected a mapping of keys "
                          f"({what}), got {type(doc.data).__name__}")
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        # redact_url: a message may quote a URL, whose password must not reach the terminal
        raise ConfigError(redact_url("\n".join(_describe(err, doc.lines, doc.source, model)
                                                for err in exc.errors()))) from None


def describe_error(err: ErrorDetails, model: type[BaseModel]) -> str:
    """One pydantic error (from ValidationError.errors()) worded as file loading words it."""
    return redact_url(_describe(err, {}, "", model).removeprefix(": "))


def _describe(err: ErrorDetails, lines: dict[tuple, int], source: str, model: type[BaseModel]) -> str:
    keyed = (err.get("ctx") or {}).get("error")
    loc = keyed.loc if isinstance(keyed, KeyedError) else tuple(err["loc"])
    # pydantic appends the union member name for tagged unions/literals; keep the data path only.
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
    line = _line_for(loc, lines)
    where = f"{source}:{line}" if line else source
    key = _dotted(loc) or "(top level)"
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" — did you mean {close[0]!r}?" if close else (
            f" (allowed: {', '.join(known)})" if known else "")
        return f"{where}: unknown key {key!r}{hint}"
    if kind == "missing":
        return f"{where}: missing required key {key!r}"
    if kind in ("int_type", "float_type", "string_type", "bool_type", "list_type", "dict_type"):
        if any(isinstance(p, str) and is_secret_name(p) for p in loc):
            return f"{where}: {key}: {msg}"          # the value may be a secret: not echoed
        got = err.get("input")
        return f"{where}: {key}: {msg} (got {got!r})"
    return f"{where}: {key}: {msg}"


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the keys at `loc` (to suggest spellings)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
