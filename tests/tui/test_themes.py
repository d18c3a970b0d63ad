"""Themes from YAML files, the settings file, and installing both into a running app."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from rich.terminal_theme import MONOKAI, TerminalTheme
from textual._ansi_theme import ALABASTER
from textual.app import App, ComposeResult
from textual.theme import BUILTIN_THEMES, ThemeProvider
from textual.widgets import Button, DataTable, Footer, Input, Sparkline

from tokenflood_tui.tui import settings as settings_mod
from tokenflood_tui.tui.settings import Settings, load_settings, read_settings, save_settings
from tokenflood_tui.tui.themes import (
    DEFAULT_THEME, install, load_theme_file, load_themes, shipped_themes_dir, theme_dirs,
)

SHIPPED = {"tokenflood-dark", "tokenflood-light", "tokenflood-ansi"}

GOOD_THEME = """\
name: sample-good
primary: "#3366cc"
background: "#101010"
variables:
  footer-key-foreground: "#88aaff"
  input-selection-background: "#3366cc 40%"
  block-cursor-text-style: bold reverse
"""


@pytest.fixture
def config_dir(tmp_path, monkeypatch) -> Path:
    """A fresh config folder; the real user config is never touched."""
    folder = tmp_path / "config"
    monkeypatch.setenv("TOKENFLOOD_CONFIG_DIR", str(folder))
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


class ThemedApp(App):
    """A small app with the widgets whose looks depend on the theme; records notifications."""

    def __init__(self, requested: str | None = None):
        super().__init__()
        self.requested = requested
        self.notes: list[tuple[str, str, bool]] = []

    def compose(self) -> ComposeResult:
        yield Input(placeholder="rate")
        table = DataTable()
        table.add_columns("phase", "p50 ms")
        table.add_row("1", "120")
        yield table
        yield Button("Run", variant="primary")
        yield Sparkline([1, 3, 2, 5, 4])
        yield Footer()

    def on_mount(self) -> None:
        install(self, self.requested)

    def notify(self, message, *, title="", severity="information", timeout=None, markup=True):
        self.notes.append((message, severity, markup))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def notes_of(self, severity: str) -> list[str]:
        return [message for message, sev, _ in self.notes if sev == severity]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two sRGB colours."""
    def luminance(rgb):
        def channel(c):
            c /= 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def worst_text(app: App, terminal: TerminalTheme) -> tuple[float, str]:
    """The lowest text/background contrast on screen, and that text.

    ANSI colours are resolved with `terminal`'s palette. Box and block characters (borders,
    sparkline bars) are decoration, not text. Uses the compositor like `export_screenshot`.
    """
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True,
                                                       screen_stack=app._background_screens))
    worst = (99.0, "")
    for segment in console._record_buffer:
        style = segment.style
        if style is None or not any(ch.strip() and not "\u2500" <= ch <= "\u259f"
                                    for ch in segment.text):
            continue
        fg = (style.color.get_truecolor(terminal, True) if style.color
              else terminal.foreground_color)
        bg = (style.bgcolor.get_truecolor(terminal, False) if style.bgcolor
              else terminal.background_color)
        if style.reverse:
            fg, bg = bg, fg
        worst = min(worst, (contrast(tuple(fg), tuple(bg)), segment.text.strip()))
    return worst


def saved_theme(config_dir: Path) -> str | None:
    path = config_dir / "settings.yml"
    return yaml.safe_load(path.read_text())["theme"] if path.exists() else None


# ---------------------------------------------------------------------------- theme files


def test_shipped_themes_load_with_their_flags():
    themes, errors = load_themes([shipped_themes_dir()])
    assert errors == []
    by_name = {theme.name: theme for theme in themes}
    assert set(by_name) == SHIPPED
    assert (by_name["tokenflood-dark"].dark, by_name["tokenflood-dark"].ansi) == (True, False)
    assert (by_name["tokenflood-light"].dark, by_name["tokenflood-light"].ansi) == (False, False)
    assert by_name["tokenflood-ansi"].ansi is True
    assert by_name["tokenflood-ansi"].primary.startswith("ansi_")


def test_theme_dirs_are_the_shipped_folder_then_the_user_folder(config_dir):
    assert theme_dirs() == [shipped_themes_dir(), config_dir / "themes"]
    assert (shipped_themes_dir() / "tokenflood-dark.yml").is_file()


def test_broken_theme_files_are_reported_and_the_others_still_load(tmp_path):
    folder = tmp_path / "themes"
    write(folder, "good.yml", GOOD_THEME)
    write(folder, "bad_colour.yml", "name: bad-colour\nprimary: blu\n")
    write(folder, "unknown_key.yml", 'name: unknown-key\nprimary: "#123456"\nprimry: red\n')
    write(folder, "syntax.yml", 'name: syntax\nprimary: "#123456\nsecondary: red\n')
    write(folder, "unquoted_hash.yml", "name: unquoted\nprimary: #123456\n")
    write(folder, "ansi_without_flag.yml", "name: half-ansi\nprimary: ansi_blue\n")
    write(folder, "bad_variable.yml",
          'name: bad-var\nprimary: "#123456"\nvariables:\n  block-cursor-text-style: blod\n')
    write(folder, "missing_primary.yml", "name: no-primary\n")
    write(folder, "notes.txt", "not a theme")   # ignored: not .yml/.yaml

    themes, errors = load_themes([folder])

    assert [theme.name for theme in themes] == ["sample-good"]
    assert len(errors) == 7
    by_file = {next(name for name in ("bad_colour", "unknown_key", "syntax", "unquoted_hash",
                                      "ansi_without_flag", "bad_variable", "missing_primary")
                    if f"{name}.yml" in message): message for message in errors}
    # worded as spec file errors are: file:line: key: message
    assert ("bad_colour.yml:2: primary: 'blu' is not a colour (did you mean 'blue'?)"
            in by_file["bad_colour"])
    assert ("unknown_key.yml:3: unknown key 'primry' — did you mean 'primary'?"
            in by_file["unknown_key"])
    assert "syntax.yml:4: YAML syntax error" in by_file["syntax"]
    assert "unquoted_hash.yml:2: primary: has no value" in by_file["unquoted_hash"]
    assert "must be quoted" in by_file["unquoted_hash"]
    assert ("ansi_without_flag.yml:2: primary: 'ansi_blue' is a terminal colour; set 'ansi: true'"
            in by_file["ansi_without_flag"])
    assert ("bad_variable.yml:4: variables.block-cursor-text-style: 'blod' is not a text style"
            in by_file["bad_variable"])
    assert "missing_primary.yml:1: missing required key 'primary'" in by_file["missing_primary"]
    assert all(len(message.splitlines()) == 1 for message in errors)


@pytest.mark.parametrize("text, expected", [
    ('name: twice\nprimary: "#123456"\nname: again\n',
     "3: key 'name' appears twice (lines 1 and 3): keep one"),
    ('name: alias\nprimary: &blue "#3366cc"\nsecondary: *blue\n',
     "3: alias *blue: YAML aliases (&name / *name) are not allowed"),
    ('name: deep\nprimary: "#123456"\nvariables: ' + "[" * 5000 + "]" * 5000 + "\n",
     "3: nested more than 64 levels deep"),
], ids=["duplicate", "alias", "deep"])
def test_theme_files_are_read_as_strictly_as_spec_files(tmp_path, text, expected):
    # YAML alone takes the last of two keys and expands aliases; the deep one used to crash the
    # app with a RecursionError while it started.
    folder = tmp_path / "themes"
    write(folder, "strict.yml", text)
    write(folder, "good.yml", GOOD_THEME)
    themes, errors = load_themes([folder])
    assert [theme.name for theme in themes] == ["sample-good"]
    [error] = errors
    assert f"strict.yml:{expected}" in error and len(error.splitlines()) == 1


def test_a_theme_file_becomes_a_textual_theme(tmp_path):
    theme = load_theme_file(write(tmp_path, "good.yml", GOOD_THEME))
    assert theme.name == "sample-good"
    assert theme.primary == "#3366cc"
    assert theme.dark is True and theme.ansi is False
    assert theme.variables["input-selection-background"] == "#3366cc 40%"


def test_later_folders_override_themes_of_the_same_name(tmp_path):
    first = write(tmp_path / "a", "x.yml", 'name: same\nprimary: "#111111"\n').parent
    second = write(tmp_path / "b", "y.yml", 'name: same\nprimary: "#222222"\n').parent
    themes, errors = load_themes([first, second, tmp_path / "missing"])
    assert errors == []
    assert [(theme.name, theme.primary) for theme in themes] == [("same", "#222222")]


@pytest.mark.parametrize("name, terminals, minimum", [
    ("tokenflood-dark", [MONOKAI], 4.0),
    ("tokenflood-light", [MONOKAI], 3.5),
    # the terminal's palette decides; only catch the unreadable (e.g. black on black)
    ("tokenflood-ansi", [MONOKAI, ALABASTER], 2.5),
])
async def test_shipped_themes_keep_text_readable(config_dir, name, terminals, minimum):
    app = ThemedApp(name)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.notify("themes/x.yml: primary: 'blu' is not a colour", severity="error",
                   title="Theme file skipped")
        app.notify("Unknown theme 'x'", severity="warning", title="Unknown theme")
        for focus in ("Input", "DataTable", "Button"):
            app.screen.query_one(focus).focus()
            await pilot.pause()
            for terminal in terminals:
                ratio, text = worst_text(app, terminal)
                assert ratio >= minimum, f"{name}, {focus} focused: {text!r} at {ratio:.2f}:1"


# ---------------------------------------------------------------------------- settings


def test_config_dir_follows_the_environment_variable(config_dir):
    assert settings_mod.config_dir() == config_dir
    assert settings_mod.settings_path() == config_dir / "settings.yml"


def test_missing_settings_give_defaults_without_warning(config_dir):
    assert read_settings() == (Settings(), None)


@pytest.mark.parametrize("text", ["theme: [unclosed\n", "- a list\n", "theme: [1, 2]\n",
                                  "\xff\xfe not utf-8"])
def test_corrupt_settings_give_defaults_and_a_warning(config_dir, text):
    path = config_dir / "settings.yml"
    config_dir.mkdir(parents=True)
    path.write_bytes(text.encode("latin-1"))
    settings, warning = read_settings()
    assert settings == Settings()
    assert warning is not None and "settings.yml" in warning
    assert load_settings() == Settings()


SETTINGS_REFUSED = [
    ("theme: nord\ntheme: tokenflood-light\n",
     "settings.yml:2: key 'theme' appears twice (lines 1 and 2): keep one"),
    ("base: &t nord\ntheme: *t\n",
     "settings.yml:2: alias *t: YAML aliases (&name / *name) are not allowed"),
    ("theme: nord\nx: " + "[" * 5000 + "]" * 5000 + "\n",
     "settings.yml:2: nested more than 64 levels deep"),
    ("theme: [1, 2]\n", "settings.yml:1: theme: Input should be a valid string (got [1, 2])"),
]


@pytest.mark.parametrize("text, expected", SETTINGS_REFUSED,
                         ids=["duplicate", "alias", "deep", "not-a-string"])
def test_settings_are_read_as_strictly_as_spec_files(config_dir, text, expected):
    write(config_dir, "settings.yml", text)
    settings, warning = read_settings()
    assert settings == Settings()
    assert warning is not None and len(warning.splitlines()) == 1
    assert warning.startswith(str(config_dir / expected))
    assert warning.endswith("; using defaults.")


@pytest.mark.parametrize("text, expected", SETTINGS_REFUSED[:3], ids=["duplicate", "alias", "deep"])
async def test_refused_settings_warn_the_app_uses_the_default_and_a_switch_replaces_them(
        config_dir, text, expected):
    write(config_dir, "settings.yml", text)
    app = ThemedApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        [warning] = app.notes_of("warning")
        assert expected in warning and warning.endswith("; using defaults.")
        app.theme = "tokenflood-light"      # saving reads the old file too: it must not crash
        await pilot.pause()
        assert app.is_running
    assert (config_dir / "settings.yml").read_text() == "theme: tokenflood-light\n"


def test_save_settings_creates_the_folder_and_keeps_unknown_keys(config_dir, monkeypatch):
    config_dir.mkdir(parents=True)
    (config_dir / "settings.yml").write_text("future_option: 3\ntheme: nord\n")
    assert load_settings() == Settings(theme="nord")   # unknown keys ignored on read
    save_settings(Settings(theme="tokenflood-light"))
    data = yaml.safe_load((config_dir / "settings.yml").read_text())
    assert data == {"future_option": 3, "theme": "tokenflood-light"}
    assert sorted(p.name for p in config_dir.iterdir()) == ["settings.yml"]   # no temp files

    nested = config_dir / "deeper"
    monkeypatch.setenv("TOKENFLOOD_CONFIG_DIR", str(nested))
    save_settings(Settings(theme="nord"))
    assert load_settings().theme == "nord"


def test_settings_module_does_not_import_textual():
    code = ("import sys, tokenflood_tui.tui.settings; "
            "sys.exit(1 if 'textual' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------------------- installing


async def test_default_theme_is_tokenflood_dark_and_nothing_is_saved(config_dir):
    app = ThemedApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        assert app.notes == []
        assert not (config_dir / "settings.yml").exists()
        # ours and Textual's built-in themes are all offered by the palette's theme switcher
        offered = {name for name, _ in ThemeProvider(app.screen).commands}
        assert SHIPPED | set(BUILTIN_THEMES) <= offered


async def test_theme_flag_is_for_this_session_only(config_dir):
    # a one-off --theme used to become the permanent default
    app = ThemedApp("tokenflood-light")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "tokenflood-light"
        assert app.current_theme.dark is False
    assert not (config_dir / "settings.yml").exists()
    write(config_dir, "settings.yml", "theme: nord\n")
    app = ThemedApp("tokenflood-ansi")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "tokenflood-ansi"
        assert app.notes == []
    assert saved_theme(config_dir) == "nord"
    again = ThemedApp()
    async with again.run_test() as pilot:
        await pilot.pause()
        assert again.theme == "nord"


async def test_a_switch_after_the_theme_flag_is_remembered(config_dir):
    app = ThemedApp("tokenflood-light")
    async with app.run_test() as pilot:
        await pilot.pause()
        app.theme = "tokenflood-ansi"       # as the command palette's theme switch does
        await pilot.pause()
    assert saved_theme(config_dir) == "tokenflood-ansi"


async def test_switching_theme_is_remembered_for_the_next_start(config_dir):
    app = ThemedApp()
    async with app.run_test() as pilot:
        app.theme = "tokenflood-ansi"
        await pilot.pause()
        assert saved_theme(config_dir) == "tokenflood-ansi"
        app.theme = "nord"   # built-in themes are remembered too
        await pilot.pause()
        assert saved_theme(config_dir) == "nord"
        app.theme = "tokenflood-ansi"
        await pilot.pause()

    again = ThemedApp()
    async with again.run_test() as pilot:
        await pilot.pause()
        assert again.theme == "tokenflood-ansi"
        assert again.current_theme.ansi is True
        assert again.notes == []


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    """Pause until `condition()` holds (the palette searches in the background)."""
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached")


def palette_first_hit(app: App) -> str:
    from textual.command import CommandPalette
    from textual.widgets import OptionList
    if not isinstance(app.screen, CommandPalette):
        return ""
    options = app.screen.query_one(OptionList)
    if options.option_count == 0 or options.highlighted is None:
        return ""
    return str(options.get_option_at_index(options.highlighted).prompt)


async def test_switching_theme_from_the_command_palette_is_remembered(config_dir):
    app = ThemedApp()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")   # the command palette, then its built-in "Theme" command
        await pilot.press(*"theme")
        await wait_for(pilot, lambda: palette_first_hit(app).startswith("Theme"))
        await pilot.press("enter")
        await pilot.press(*"tokenflood-light")
        await wait_for(pilot, lambda: "tokenflood-light" in palette_first_hit(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: saved_theme(config_dir) is not None)
        assert app.theme == "tokenflood-light"
    assert saved_theme(config_dir) == "tokenflood-light"


async def test_unknown_theme_flag_warns_and_falls_back(config_dir):
    app = ThemedApp("no-such-theme")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        [warning] = app.notes_of("warning")
        assert "'no-such-theme'" in warning
        assert all(name in warning for name in SHIPPED)
    assert not (config_dir / "settings.yml").exists()


async def test_unknown_remembered_theme_warns_and_keeps_the_setting(config_dir):
    write(config_dir, "settings.yml", "theme: gone-theme\n")
    app = ThemedApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        [warning] = app.notes_of("warning")
        assert "'gone-theme'" in warning
    # kept, in case the theme file comes back
    assert saved_theme(config_dir) == "gone-theme"


async def test_broken_user_theme_notifies_and_the_app_keeps_running(config_dir):
    write(config_dir / "themes", "mine.yml", "name: mine\nprimary: [not, a, colour\n")
    write(config_dir / "themes", "tokenflood-dark.yml", "name: tokenflood-dark\nprimary: blu\n")
    write(config_dir / "themes", "ok.yml", GOOD_THEME)
    app = ThemedApp("mine")
    async with app.run_test() as pilot:
        await pilot.pause()
        errors = app.notes_of("error")
        assert len(errors) == 2
        assert any("mine.yml" in message and "YAML syntax error" in message for message in errors)
        assert any("tokenflood-dark.yml" in message and "'blu'" in message for message in errors)
        # error messages may contain brackets: they are shown without markup
        assert all(not markup for _, severity, markup in app.notes if severity == "error")
        # the shipped dark theme is still there; the valid user theme is registered
        assert app.theme == DEFAULT_THEME
        assert "sample-good" in app.available_themes
        await pilot.press("tab", "x")
        assert app.is_running


async def test_a_user_theme_overrides_a_shipped_one(config_dir):
    write(config_dir / "themes", "custom-dark.yml", 'name: tokenflood-dark\nprimary: "#ff00ff"\n')
    app = ThemedApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        assert app.current_theme.primary == "#ff00ff"


async def test_corrupt_settings_file_warns_and_uses_the_default(config_dir):
    write(config_dir, "settings.yml", "theme: [unclosed\n")
    app = ThemedApp()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        [warning] = app.notes_of("warning")
        assert "settings.yml" in warning


async def test_no_color_still_works(config_dir, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = ThemedApp("tokenflood-light")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.no_color
        assert app.theme == "tokenflood-light"
