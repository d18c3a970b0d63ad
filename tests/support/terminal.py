"""A tmux session as a terminal for tests: keys in, the screen out as text (as over SSH)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path


class Terminal:
    """One tmux session (120x40 unless told) running a command, on a tmux server of its own:
    test processes start and end sessions at once, and on one shared server the end of its last
    session takes the server down while another test's new-session connects to it ("server
    exited unexpectedly", seen in CI)."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str], size: tuple[int, int] = (120, 40)):
        self.name = f"tf-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        self.started = time.monotonic()
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(size[0]),
                        "-y", str(size[1]),
                        # COLUMNS/LINES from the test runner would override the pane size
                        f"cd {cwd} && env -u COLUMNS -u LINES {exports} {command}; "
                        "echo EXIT=$? > exit-code; sleep 60"],
                       check=True)

    def resize(self, columns: int, rows: int) -> None:
        """As a person drags the terminal's window to another size."""
        subprocess.run([*self.tmux, "resize-window", "-t", self.name, "-x", str(columns),
                        "-y", str(rows)], check=True)

    def screen(self, escapes: bool = False) -> str:
        """The pane as text (with colours and focus highlights as escape codes if asked)."""
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name]
                              + (["-e"] if escapes else []), capture_output=True, text=True).stdout

    def history(self) -> str:
        """Everything the terminal shows and scrolled past, wrapped lines joined: what a
        person reads after the app has exited."""
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        for key in keys:
            args = [*self.tmux, "send-keys", "-t", self.name] + (["-l"] if literal else []) + [key]
            self._send(args, settle=0.15 if literal else 1.0)

    def type(self, text: str) -> None:
        """At typing speed: a select's type-to-search, like a person, sees one key at a time."""
        for char in text:
            self._send([*self.tmux, "send-keys", "-t", self.name, "-l", char], settle=0.3)
        time.sleep(0.15)

    def _send(self, args: list[str], settle: float) -> None:
        """Send a key and wait (up to `settle` s) until the screen shows it was handled. On a
        busy machine Textual handles a Tab's focus move, or a Select's taking the focus back
        after Enter, later than the next keys arrive: those keys then land in the old field."""
        before = self.screen(escapes=True)
        subprocess.run(args, check=True)
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and self.screen(escapes=True) == before:
            time.sleep(0.02)
        time.sleep(0.03)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")

    def wait_until(self, check, what: str, timeout: float = 20.0) -> str:
        """The first screen for which `check(screen)` is true."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{what} never appeared; the screen was:\n{screen}")

    def wait_gone(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} stayed on the screen:\n{self.screen()}")
            time.sleep(0.1)

    def tokenflood_pid(self, timeout: float = 10.0) -> int:
        """The process the pane's shell runs: tokenflood."""
        shell = subprocess.run([*self.tmux, "display-message", "-p", "-t", self.name,
                                "#{pane_pid}"], capture_output=True, text=True, check=True).stdout
        children = Path(f"/proc/{int(shell)}/task/{int(shell)}/children")
        deadline = time.monotonic() + timeout
        while not children.read_text().split():
            if time.monotonic() > deadline:
                raise AssertionError("tokenflood did not start")
            time.sleep(0.05)
        (pid,) = children.read_text().split()
        return int(pid)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        # the server leaves its socket file behind
        tmp = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(tmp, f"tmux-{os.getuid()}", self.name).unlink(missing_ok=True)
