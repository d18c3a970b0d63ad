"""The real `tokenflood` in tmux under NO_COLOR and on 16-colour terminals (TERM=xterm, linux), in
each shipped theme: the screen as tmux holds it (`capture-pane -e`) has no text in its own
background's colour, the compare chart tells the runs apart by their marks, and `--theme` leaves
the settings file alone.

NO_COLOR with tokenflood-ansi drew every cell black on black (`38;5;16` on `48;5;16`), and a
one-off `--theme` became the theme of every later launch.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from support.compared_runs import Runs, shared_runs
from support.tokenflood import TOKENFLOOD
from support.terminal import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

SHIPPED = ["tokenflood-dark", "tokenflood-light", "tokenflood-ansi"]
TERMINALS = {"NO_COLOR": {"NO_COLOR": "1", "TERM": "xterm-256color"},
             "xterm": {"TERM": "xterm"}, "linux": {"TERM": "linux"},
             "NO_COLOR-linux": {"NO_COLOR": "1", "TERM": "linux"}}
SGR = re.compile(r"\x1b\[([0-9;]*)m")
SGR_PART = re.compile(r"(\x1b\[[0-9;]*m)")
# Borders are decoration (Textual draws the footer's palette separator in a faint colour that 16
# colours fold into the background); text is what must be readable.
FRAMES = {chr(c) for c in range(0x2500, 0x2580)} | set("▏▕▔▎▊▍▌▋▉▐")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return shared_runs(tmp_path_factory)


def cells(screen: str) -> list[tuple[int, str, tuple | None, tuple | None]]:
    """(row, character, foreground, background) of every cell tmux holds; a colour is
    ("i", index) for the 256 indexed colours (0-15 the terminal's own), ("rgb", r, g, b), or
    None for the terminal's default. tmux writes each change once: a colour set on one row
    holds on the next until changed."""
    out = []
    fg = bg = None
    reverse = False
    for row, line in enumerate(screen.split("\n")):
        for part in SGR_PART.split(line):
            if not (m := SGR.fullmatch(part)):
                out += [(row, ch, bg if reverse else fg, fg if reverse else bg) for ch in part]
                continue
            codes = [int(c or 0) for c in m.group(1).split(";")]
            i = 0
            while i < len(codes):
                code = codes[i]
                if code == 0:
                    fg = bg = None
                    reverse = False
                elif code in (7, 27):
                    reverse = code == 7
                elif code in (38, 48):
                    if codes[i + 1] == 5:
                        colour: tuple = ("i", codes[i + 2])
                        i += 2
                    else:
                        colour = ("rgb", *codes[i + 2:i + 5])
                        i += 4
                    fg, bg = (colour, bg) if code == 38 else (fg, colour)
                elif 30 <= code <= 37 or 90 <= code <= 97:
                    fg = ("i", code - 30 if code < 90 else code - 82)
                elif 40 <= code <= 47 or 100 <= code <= 107:
                    bg = ("i", code - 40 if code < 100 else code - 92)
                elif code == 39:
                    fg = None
                elif code == 49:
                    bg = None
                i += 1
    return out


def unreadable(screen: str) -> list[str]:
    """Each row's text drawn in its background's colour."""
    rows: dict[int, str] = {}
    for row, ch, fg, bg in cells(screen):
        if ch.strip() and ch not in FRAMES and fg is not None and fg == bg:
            rows[row] = rows.get(row, "") + ch
    return [f"row {row}: {text!r}" for row, text in rows.items()]


def settings_written(config: Path) -> bool:
    return (config / "settings.yml").exists()


@pytest.mark.parametrize("terminal", TERMINALS)
@pytest.mark.parametrize("theme", SHIPPED)
def test_every_theme_reads_on_every_terminal(runs, tmp_path, theme, terminal):
    config = tmp_path / "config"
    env = {"TOKENFLOOD_CONFIG_DIR": str(config), "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           **TERMINALS[terminal]}
    # one app for both screens: the home at 80x24, then the two results marked and compared
    # in a terminal made 120x40 (opening a comparison writes nothing to the results)
    term = Terminal(f"{TOKENFLOOD} --theme {theme} --results-dir {runs.results}", tmp_path, env,
                    size=(80, 24))
    try:
        term.wait_for("Recent results", timeout=30)
        term.wait_for("palette", timeout=10)              # the footer: drawn last
        time.sleep(0.5)
        assert unreadable(term.screen(escapes=True)) == [], term.screen()
        term.keys("Tab")
        term.keys("Tab")
        term.wait_for("space Mark")                        # the results list has the focus
        term.keys("space")
        term.keys("Down")
        term.keys("space")
        term.wait_for("c: compare the marked")
        term.resize(120, 40)
        term.keys("c")
        term.wait_for("t Metric", timeout=30)
        screen = term.wait_for("A ⠒⠒  B ••", timeout=20)   # the chart's key: chart drawn
        coloured = term.screen(escapes=True)
        assert unreadable(coloured) == [], screen
        # the runs apart by their marks whatever the colours: A's points on braille lines, B's
        # on dotted ones (the rows inside the chart's frame hold nothing else with a letter)
        lines = screen.splitlines()
        top = next(i for i, line in enumerate(lines) if "┌─" in line)
        bottom = next(i for i, line in enumerate(lines) if "└┬" in line)
        plot = "".join(lines[top + 1:bottom])
        assert re.search(r"A[⠀-⣿]|[⠀-⣿]A", plot) and re.search(r"B•|•B", plot), screen
        if TERMINALS[terminal].get("NO_COLOR") and theme == "tokenflood-ansi":
            # the terminal's own colours: no colour codes at all, cursor and marks by reverse
            assert not any(fg or bg for _, _, fg, bg in cells(coloured)), coloured[:400]
        term.keys("q")
        deadline = time.monotonic() + 15
        while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=0"
    finally:
        term.close()
    assert not settings_written(config)          # --theme is for this launch only
