"""Themes from YAML files, and installing them (plus the remembered choice) into the app.

One file = one theme. Shipped themes are package data in `tokenflood_tui/themes/`; users add or
override themes in `<config dir>/themes` (see `settings.config_dir`). A broken file is reported
and skipped; it never stops the app.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from rich.segment import Segment
from textual.app import App
from textual.color import Color, ColorParseError
from textual.css.constants import VALID_STYLE_FLAGS
from textual.filter import LineFilter, Monochrome, NoColor
from textual.theme import BUILTIN_THEMES, Theme

from ..errors import ConfigError
from ..specs.loader import KeyedError, read_yaml, validate
from . import settings as settings_mod

DEFAULT_THEME = "tokenflood-dark"
FALLBACK_THEME = "textual-dark"   # only if tokenflood-dark.yml itself is broken or missing

COLOUR_KEYS = ("primary", "secondary", "accent", "warning", "error", "success",
               "foreground", "background", "surface", "panel", "boost")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_VARIABLE_RE = re.compile(r"^[a-z][a-z0-9-]*$")
# A colour in a theme variable may carry an alpha percentage, as in Textual's "#81a1c1 35%".
_ALPHA_RE = re.compile(r"^(?P<colour>.+?)\s+(?P<alpha>\d{1,3}(?:\.\d+)?)%$")


def _colour_problem(value: str) -> str | None:
    """Why `value` is not a colour Textual accepts, or None if it is one."""
    try:
        Color.parse(value)
    except ColorParseError as exc:
        hint = f" (did you mean {exc.suggested_color!r}?)" if exc.suggested_color else ""
        return f"{value!r} is not a colour{hint}"
    return None


def _is_ansi(value: str) -> bool:
    return value.strip().lower().startswith("ansi_")


def _variable_problem(name: str, value: str) -> str | None:
    """Why `value` is not valid for the theme variable `name`, or None."""
    if name.endswith("style") or "-style-" in name:
        # text styles such as "bold", "b reverse", "not underline"
        unknown = [word for word in value.split() if word not in VALID_STYLE_FLAGS]
        if unknown or not value.split():
            return (f"{value!r} is not a text style (use words from: "
                    f"{', '.join(sorted(VALID_STYLE_FLAGS))})")
        return None
    if value == "auto" or re.fullmatch(r"auto\s+\d{1,3}%", value):
        # "auto" picks black or white for contrast: only where Textual uses it, for text
        if name in ("text", "text-muted", "text-disabled") or name.endswith(
                ("-foreground", "-color", "-color-hover")):
            return None
        return f"{value!r} is only allowed for text colours (text-*, *-foreground, *-color)"
    if value == "initial":
        if name.endswith("background"):
            return None
        return f"{value!r} is only allowed for *-background variables"
    colour = value
    if match := _ALPHA_RE.match(value):
        colour = match["colour"]
        if float(match["alpha"]) > 100:
            return f"{value!r}: alpha must be at most 100%"
    return _colour_problem(colour)


class ThemeFile(BaseModel):
    """The contents of one theme file (read like spec files: errors name the key's line)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    dark: bool = True
    primary: str
    secondary: str | None = None
    accent: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    ansi: bool = False
    variables: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _no_empty_colours(cls, data: Any) -> Any:
        # `primary: #5fa8d3` is a YAML comment, so the key arrives empty; say so plainly.
        if isinstance(data, dict):
            for key in COLOUR_KEYS:
                if key in data and data[key] is None:
                    raise KeyedError((key,), (
                        "has no value (a colour starting with '#' must be quoted, "
                        f"e.g. {key}: \"#5fa8d3\")"))
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"{value!r} must be letters, digits, '-' or '_'")
        return value

    @field_validator(*COLOUR_KEYS)
    @classmethod
    def _check_colour(cls, value: str | None) -> str | None:
        if value is not None and (problem := _colour_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("variables")
    @classmethod
    def _check_variables(cls, variables: dict[str, str]) -> dict[str, str]:
        problems = []
        for name, value in variables.items():
            if not _VARIABLE_RE.match(name):
                problems.append((name, "not a variable name (lower-case words joined by '-')"))
            elif problem := _variable_problem(name, value):
                problems.append((name, problem))
        if len(problems) == 1:    # at the variable's own line
            [(name, problem)] = problems
            raise KeyedError(("variables", name), problem)
        if problems:
            raise ValueError("; ".join(f"{name}: {problem}" for name, problem in problems))
        return variables

    @model_validator(mode="after")
    def _ansi_colours_need_ansi(self) -> ThemeFile:
        # Textual derives shades from RGB colours; a terminal colour there would be a fixed
        # guess at the terminal's palette, so `ansi_*` is only allowed in ANSI themes.
        if self.ansi:
            return self
        used: list[tuple[tuple, str]] = [
            ((key,), getattr(self, key)) for key in COLOUR_KEYS
            if getattr(self, key) is not None and _is_ansi(getattr(self, key))]
        used += [(("variables", name), value) for name, value in self.variables.items()
                 if _is_ansi(value)]
        if used:
            loc, value = used[0]
            raise KeyedError(loc, (
                f"{value!r} is a terminal colour; set 'ansi: true' to build the theme on the "
                "terminal's own colours"))
        return self

    def to_theme(self) -> Theme:
        """The Textual theme."""
        return Theme(
            name=self.name, dark=self.dark, ansi=self.ansi, variables=dict(self.variables),
            **{key: getattr(self, key) for key in COLOUR_KEYS},
        )


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the file and the problem."""


def _display(path: Path) -> str:
    """A short form of the path for messages: relative to the working folder or to ~."""
    path = path.resolve()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def load_theme_file(path: Path) -> Theme:
    """Read and validate one theme file; raises `ThemeFileError` with a readable message.

    Read as spec files are (specs.loader): aliases, deep nesting and a key given twice are
    refused, and every problem is a line `file:line: key: message`.
    """
    try:
        doc = read_yaml(path, source=_display(path))
        if doc.data is None:
            raise ThemeFileError(f"{doc.source}: the file is empty (a theme needs at least name "
                                 "and primary)")
        return validate(doc, ThemeFile, "theme: name, primary, ...").to_theme()
    except ConfigError as exc:
        raise ThemeFileError(str(exc)) from None


def shipped_themes_dir() -> Path:
    """The shipped themes: the `themes/` package data folder (in a clone and in an installed wheel)."""
    # An installed package is unpacked on disk, so the resource folder is a real path.
    return Path(str(resources.files("tokenflood_tui") / "themes"))


def user_themes_dir() -> Path:
    """The user's own themes: `<config dir>/themes`."""
    return settings_mod.config_dir() / "themes"


def theme_dirs() -> list[Path]:
    """Folders themes are read from, in order; later ones override earlier ones by name."""
    return [shipped_themes_dir(), user_themes_dir()]


def load_themes(dirs: list[Path]) -> tuple[list[Theme], list[str]]:
    """The valid themes from every `*.yml`/`*.yaml` file in `dirs`, and one message per broken file.

    Missing folders are skipped. A later file with the same theme name replaces an earlier one.
    """
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for folder in dirs:
        if not folder.is_dir():
            continue
        try:
            files = sorted(p for p in folder.iterdir()
                           if p.suffix in (".yml", ".yaml") and not p.name.startswith("."))
        except OSError as exc:
            errors.append(f"{_display(folder)}: cannot list theme files: {exc}")
            continue
        for path in files:
            try:
                theme = load_theme_file(path)
            except ThemeFileError as exc:
                errors.append(str(exc))
                continue
            themes[theme.name] = theme
    return list(themes.values()), errors


def _available_message(app: App) -> str:
    names = set(app.available_themes)
    ours = sorted(names - set(BUILTIN_THEMES))
    builtin = sorted(names & set(BUILTIN_THEMES))
    return f"Available: {', '.join(ours)}; built in: {', '.join(builtin)}."


class NoColourForTheme(LineFilter):
    """NO_COLOR for the theme in effect now, not the one the app started with.

    Textual picks its NO_COLOR filter once, in `App.__init__`, from the theme of that moment
    (textual-dark): `Monochrome`, which greys a colour from its RGB value. A terminal colour
    (`ansi_*`, `ansi_default`) has no RGB value (0, 0, 0), so after a switch to an ANSI theme
    every colour, text and background alike, became black: black text on black. This filter
    decides at each draw: the terminal's own colours (`NoColor`) under an ANSI theme, greys
    (`Monochrome`) under an RGB one.
    """

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        self._terminal = NoColor()
        self._greys = Monochrome()

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        chosen = self._terminal if self.app.native_ansi_color else self._greys
        return chosen.apply(segments, background)


def _follow_theme_under_no_color(app: App) -> None:
    """Put `NoColourForTheme` in place of the NO_COLOR filter Textual chose at start-up."""
    if not app.no_color:
        return
    # `_filters` is Textual's list of line filters (`App.get_line_filters` reads it); the test
    # of every theme under NO_COLOR fails if a Textual upgrade moves it.
    app._filters = [NoColourForTheme(app) if isinstance(f, (Monochrome, NoColor)) else f
                    for f in app._filters]


def install(app: App, requested: str | None) -> None:
    """Register the file themes, apply the chosen one and remember later switches.

    Call from the app's `on_mount`. The theme is `requested` (the --theme flag) if given, else
    the settings file's, else tokenflood-dark. An unknown name gives a warning and the theme the
    app would have had without it. A --theme choice is for this session only (a flag does not
    change settings); a switch made in the app (the command palette) is remembered.
    Broken theme files or settings give a notification each; nothing here raises.
    """
    _follow_theme_under_no_color(app)
    themes, errors = load_themes(theme_dirs())
    for theme in themes:
        app.register_theme(theme)
    for message in errors:
        app.notify(message, title="Theme file skipped", severity="error", markup=False,
                   timeout=15)

    settings, warning = settings_mod.read_settings()
    if warning:
        app.notify(warning, title="Settings", severity="warning", markup=False, timeout=10)

    default = DEFAULT_THEME if DEFAULT_THEME in app.available_themes else FALLBACK_THEME
    chosen = default
    saved = settings.theme
    if saved is not None:
        if saved in app.available_themes:
            chosen = saved
        else:
            app.notify(f"The remembered theme {saved!r} is not available; using {default!r}. "
                       f"{_available_message(app)}",
                       title="Unknown theme", severity="warning", markup=False, timeout=10)
    if requested is not None:
        if requested in app.available_themes:
            chosen = requested
        else:
            app.notify(f"Unknown theme {requested!r} (from --theme); using {chosen!r}. "
                       f"{_available_message(app)}",
                       title="Unknown theme", severity="warning", markup=False, timeout=10)

    app.theme = chosen
    remember = _Rememberer(app, chosen)
    # The signal is Textual's public "theme changed" hook: published after every change of
    # `app.theme` (command palette, code, anywhere), once the new theme is applied.
    app.theme_changed_signal.subscribe(app, remember.on_theme_changed)


class _Rememberer:
    """Saves the theme to the settings file whenever it changes."""

    def __init__(self, app: App, current: str) -> None:
        self.app = app
        self.current = current   # the theme already in effect (not saved again)
        self.failed = False

    def on_theme_changed(self, theme: Theme) -> None:
        if theme.name == self.current:
            return   # the change `install` itself made
        self.save(theme.name)

    def save(self, name: str) -> None:
        self.current = name
        try:
            settings_mod.save_settings(settings_mod.load_settings().model_copy(update={"theme": name}))
        except OSError as exc:
            if not self.failed:   # one warning per session is enough
                self.failed = True
                self.app.notify(f"Cannot remember the theme: {exc}", title="Settings",
                                severity="warning", markup=False)


__all__: list[str] = ["ThemeFile", "ThemeFileError", "load_theme_file", "load_themes",
                      "theme_dirs", "shipped_themes_dir", "user_themes_dir", "install",
                      "DEFAULT_THEME"]
