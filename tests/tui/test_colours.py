"""Every shipped theme on every kind of terminal: no text drawn in its own background's colour.

NO_COLOR with tokenflood-ansi drew black on black (Textual chose its NO_COLOR filter for the
theme the app starts with, textual-dark: greys computed from RGB, and a terminal colour has none,
so every one became black). A 16-colour terminal (TERM=xterm, TERM=linux) folds near colours into
one. The screens are drawn as the terminal receives them (after Textual's filters) and their
colours reduced as Rich reduces them for 16 and 256 colours.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.color import Color, ColorSystem, ColorType
from rich.console import Console
from textual.app import App

from tokenflood_tui.tui.app import Launch, TokenfloodApp

from support.comparisons import saved_two_runs

FIXTURES = Path(__file__).parent / "fixtures"
WORKSPACE = FIXTURES / "workspace"
RESULTS = WORKSPACE / "past-runs"
SHIPPED = ["tokenflood-dark", "tokenflood-light", "tokenflood-ansi"]
SYSTEMS = {"16 colours": ColorSystem.STANDARD, "256 colours": ColorSystem.EIGHT_BIT,
           "truecolor": ColorSystem.TRUECOLOR}
# Borders and frames: Textual draws some (the footer's palette separator) in a faint colour that
# a 16-colour terminal folds into the background; decoration, not something to read.
FRAMES = {chr(c) for c in range(0x2500, 0x2580)} | set("▏▕▔▎▊▍▌▋▉▐")


def key(color: Color | None, system: ColorSystem) -> tuple | None:
    """What the terminal is told for this colour on `system` (None: its default colour)."""
    if color is None or color.type == ColorType.DEFAULT:
        return None
    reduced = color.downgrade(system)
    if reduced.type in (ColorType.STANDARD, ColorType.WINDOWS):
        return ("ansi", reduced.number)
    return ("rgb", tuple(reduced.get_truecolor()))


def clashes(app: App, system: ColorSystem) -> list[str]:
    """The text on screen whose colour is its background's once reduced to `system`."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True,
                                                       screen_stack=app._background_screens))
    found = []
    for segment in console._record_buffer:
        if segment.control or segment.style is None:
            continue
        if not any(ch.strip() and ch not in FRAMES for ch in segment.text):
            continue
        fg, bg = key(segment.style.color, system), key(segment.style.bgcolor, system)
        if fg is not None and fg == bg:
            found.append(f"{segment.text.strip()!r} in {fg}")
    return found


def screens(tmp_path: Path) -> dict[str, Launch]:
    compared = saved_two_runs(tmp_path / "compared")
    return {
        "home": Launch("home", folder=WORKSPACE, results_root=RESULTS),
        "results": Launch("results", results_dir=next(RESULTS.iterdir())),
        "failures": Launch("results", results_dir=next((FIXTURES / "results-failures").iterdir())),
        "observation": Launch("results", results_dir=next((FIXTURES / "observation").iterdir())),
        "compare": Launch("compare", results_root=tmp_path, compare_dir=compared),
    }


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "colours"])
@pytest.mark.parametrize("theme", SHIPPED)
async def test_no_text_is_drawn_in_its_background_colour(theme, no_color, tmp_path,
                                                         monkeypatch):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    for name, launch in screens(tmp_path).items():
        launch.theme = theme
        app = TokenfloodApp(launch)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.7)                   # the charts draw on their timer
            assert app.theme == theme and app.no_color is no_color
            for system_name, system in SYSTEMS.items():
                found = clashes(app, system)
                assert not found, f"{theme}, {name}, {system_name}: {found[:5]}"


async def test_a_switch_to_an_ansi_theme_under_no_color_keeps_text_readable(monkeypatch,
                                                                            tmp_path):
    """The palette's theme switch (not only the start): from an RGB theme to an ANSI one, and
    Textual's own ANSI themes too."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = TokenfloodApp(screens(tmp_path)["compare"])
    async with app.run_test(size=(100, 30)) as pilot:
        for theme in ("tokenflood-light", "tokenflood-ansi", "ansi-dark", "tokenflood-dark",
                      "ansi-light"):
            app.theme = theme
            await pilot.pause(0.7)
            assert not clashes(app, ColorSystem.EIGHT_BIT), theme
