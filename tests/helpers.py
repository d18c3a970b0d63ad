"""Helpers for tests: run the real `tokenflood` command as a user would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str
    results: Path

    def folder(self) -> Path:
        """The single results folder this run wrote."""
        (folder,) = [p for p in self.results.iterdir() if p.is_dir()]
        return folder

    def summary(self) -> dict:
        return json.loads((self.folder() / "summary.json").read_text())


def run_tokenflood(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120,
                   stdin: str | None = None) -> Completed:
    results = cwd / "results"
    full_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})}
    proc = subprocess.run([TOKENFLOOD, *args, "--results-dir", str(results)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)
    return Completed(proc.returncode, proc.stdout, proc.stderr, results)


def free_port() -> int:
    """A port nothing listens on (now) on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def journal_has(cwd: Path, text: str) -> bool:
    """Whether the journal.jsonl of the run under cwd/results has `text` yet (a folder exists a
    moment before its journal does)."""
    journal = next((cwd / "results").glob("*/journal.jsonl"), None)
    return journal is not None and text in journal.read_text()


def wait_for_journal(cwd: Path, text: str, timeout: float = 120) -> None:
    """Until the run's journal has `text`: a test thread follows the run this way."""
    deadline = time.monotonic() + timeout
    while not journal_has(cwd, text):
        if time.monotonic() > deadline:
            raise AssertionError(f"the journal never had {text!r}")
        time.sleep(0.02)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path



def screen_lines(app) -> list[str]:
    """What a Textual app shows right now, one terminal row a line (from its SVG screenshot)."""
    import html
    import re

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


def other_than_lateness(warnings: list[str]) -> list[str]:
    """The warnings, less client-bound ones for a sender late by under 200 ms: a busy machine can
    make the sender wake some ms late (10 to 30 ms seen next to a CPU hog), and the run says so.
    Lateness of a second or more (slot waits counted, a stuck loop) still fails the caller."""
    out = []
    for warning in warnings:
        late = re.search(r"the client was the bottleneck \(requests left up to (\d+) ms late", warning)
        if late is None or int(late.group(1)) >= 200:
            out.append(warning)
    return out


async def until(pilot, check, what: str, timeout: float = 60.0) -> list[str]:
    """The screen (as lines) once `check(lines)` holds."""
    lines: list[str] = []
    for _ in range(int(timeout / 0.1)):
        lines = screen_lines(pilot.app)
        if check(lines):
            return lines
        await pilot.pause(0.1)
    raise AssertionError(f"{what} never appeared:\n" + "\n".join(lines))
