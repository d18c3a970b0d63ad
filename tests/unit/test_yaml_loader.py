"""specs.loader: the strict YAML reader and its located errors, for any model (spec files,
theme files and settings.yml all go through it; test_specs.py has the spec files' cases)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, model_validator

from tokenflood_tui.errors import ConfigError
from tokenflood_tui.specs import parse_endpoint, to_yaml
from tokenflood_tui.specs.loader import (KeyedError, StrictModel, dump_yaml, parse_yaml,
                                         salvage_yaml, validate)

ENDPOINT = "provider: openai\nmodel: gpt-4o-mini\n"


def error_of(text: str, parse=parse_endpoint) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "endpoint.yml")
    return str(caught.value)


@pytest.mark.parametrize("text, line, where", [
    ("? [a, b]\n: 1\n" + ENDPOINT, 1, "(top level)"),
    (ENDPOINT + "extra_body: {? {a: 1} : 2}\n", 3, "extra_body"),
])
def test_a_key_that_is_a_list_or_mapping_is_a_located_error(text, line, where):
    # used to escape as "TypeError: unhashable type: 'list'" with a traceback
    assert error_of(text) == (f"endpoint.yml:{line}: {where}: a key must be a name or a number, "
                              "not a list or a mapping")


def test_a_forbidden_character_is_one_line_naming_its_line():
    # PyYAML words it on two lines and by character position only
    assert error_of(ENDPOINT + "name: a\x00b\n") == (
        "endpoint.yml:3: YAML syntax error: unacceptable character #x0000: special characters "
        "are not allowed")


def test_strings_that_read_as_numbers_are_quoted_so_a_saved_spec_loads_back_equal():
    spec = parse_endpoint(ENDPOINT + 'extra_body: {a: "1e9", b: "-2.5E-3", c: ".5e3", d: 1e9}\n')
    assert spec.extra_body == {"a": "1e9", "b": "-2.5E-3", "c": ".5e3", "d": 1e9}
    text = to_yaml(spec)
    assert "a: '1e9'" in text            # plain PyYAML writes 1e9, which reads back as a number
    assert parse_endpoint(text) == spec
    assert dump_yaml({"x": "1e3", "y": 1e3}, default_flow_style=True) == "{x: '1e3', y: 1000.0}\n"


class Tiny(StrictModel):
    """A model of no file of ours: the loader knows nothing about it."""

    colour: str
    api_key: str | None = None
    sizes: list[int] = []

    @model_validator(mode="after")
    def _two_sizes(self) -> Tiny:
        if len(self.sizes) > 2:
            raise KeyedError(("sizes", 2), "at most two sizes")   # a cross-field check's key
        return self


def test_validate_words_any_model_with_lines_hints_and_no_secret_echoed():
    doc = parse_yaml("colur: red\napi_key: 12345678\nsizes: [1, 2, 3]\n", "tiny.yml")
    with pytest.raises(ConfigError) as caught:
        validate(doc, Tiny, "tiny file")
    assert str(caught.value).splitlines() == [
        "tiny.yml:1: missing required key 'colour'",
        "tiny.yml:2: api_key: Input should be a valid string",         # 12345678 not echoed
        "tiny.yml:1: unknown key 'colur' — did you mean 'colour'?",
    ]
    doc = parse_yaml("colour: red\nsizes:\n- 1\n- 2\n- 3\n", "tiny.yml")
    with pytest.raises(ConfigError, match=r"^tiny\.yml:5: sizes\[2\]: at most two sizes$"):
        validate(doc, Tiny, "tiny file")
    assert validate(parse_yaml("colour: red\n", "tiny.yml"), Tiny, "tiny file").colour == "red"


@pytest.mark.parametrize("text, message", [
    ("", "tiny.yml: the file is empty; expected a tiny file"),
    ("- a\n", "tiny.yml:1: expected a mapping of keys (tiny file), got list"),
])
def test_validate_says_what_the_file_should_hold(text, message):
    with pytest.raises(ConfigError) as caught:
        validate(parse_yaml(text, "tiny.yml"), Tiny, "tiny file")
    assert str(caught.value) == message


class Loose(BaseModel):
    """Like settings.yml: unknown keys ignored, values coerced. Still read strictly."""

    model_config = ConfigDict(extra="ignore")
    theme: str | None = None


def test_a_loose_model_is_read_as_strictly():
    with pytest.raises(ConfigError, match=r"^s\.yml:2: key 'theme' appears twice \(lines 1 and 2\)"):
        validate(parse_yaml("theme: a\ntheme: b\n", "s.yml"), Loose, "settings")
    assert validate(parse_yaml("theme: a\nlater: 1\n", "s.yml"), Loose, "settings").theme == "a"


def test_salvage_keeps_what_a_form_can_show():
    # a key twice: the whole file as plain YAML reads it (the last value)
    assert salvage_yaml("a: 1\nb: 2\na: 3\n") == ({"a": 3, "b": 2}, None)
    # an alias, a syntax error, deep nesting: the lines before it
    assert salvage_yaml("a: &x 1\nb: 2\nc: *x\nd: 4\n") == ({"a": 1, "b": 2}, 2)
    assert salvage_yaml("a: 1\nb: [2\nc: 3\n") == ({"a": 1}, 1)
    assert salvage_yaml("a: 1\nb: " + "[" * 100 + "]" * 100 + "\n") == ({"a": 1}, 1)
    assert salvage_yaml("a: \x00\n") == (None, 0)
    assert salvage_yaml("a: 1e3\n") == ({"a": 1000.0}, None)   # read as the strict reader reads

