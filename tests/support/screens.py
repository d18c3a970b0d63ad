"""A Textual app's screen as text, for Pilot tests: read as a person would."""

from __future__ import annotations

import html
import re


def screen_lines(app) -> list[str]:
    """What a Textual app shows right now, one terminal row a line (from its SVG screenshot)."""
    svg = app.export_screenshot()
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)),
                                                       html.unescape(m.group(3))))
    xs = sorted({x for r in rows.values() for x, _ in r})
    step = min((b - a for a, b in zip(xs, xs[1:], strict=False) if b - a > 0.5), default=12.2)
    lines = []
    for y in sorted(rows):
        line = ""
        for x, text in sorted(rows[y]):
            line = line.ljust(round(x / step)) + text
        lines.append(line.replace("\xa0", " "))
    return lines


async def until(pilot, check, what: str, timeout: float = 60.0) -> list[str]:
    """The screen (as lines) once `check(lines)` holds."""
    lines: list[str] = []
    for _ in range(int(timeout / 0.1)):
        lines = screen_lines(pilot.app)
        if check(lines):
            return lines
        await pilot.pause(0.1)
    raise AssertionError(f"{what} never appeared:\n" + "\n".join(lines))


async def wait_until(pilot, condition, timeout: float = 60.0) -> None:
    """Once `condition()` holds (the app's state rather than its screen)."""
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out waiting for the UI; the screen was:\n"
                         + "\n".join(screen_lines(pilot.app)))
