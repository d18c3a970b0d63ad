"""The simulator as a child process with its own event loop (tests, demo, benchmarks)."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

_URL_LINE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+)/v1)")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class SimulatorProcess:
    """`python -m tokenflood_tui.simulator --port 0 *args` in a child process."""

    def __init__(self, *args: str, python: str = sys.executable):
        self.args = list(args)
        self.python = python
        self.base_url = ""
        self.port = 0
        self.returncode: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 15) -> str:
        """Spawn the child, wait for its URL line and a healthy /health; return the base URL."""
        if self._process is not None:
            raise RuntimeError("simulator process already started")
        # stderr goes to a file, not a pipe: nobody drains it while the child runs, and a full
        # pipe would block the child. Held open for the child's life, closed in stop().
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        env = dict(os.environ)
        paths = [str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        self._process = subprocess.Popen(
            [self.python, "-m", "tokenflood_tui.simulator", "--port", "0", *self.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        try:
            line = self._read_url_line(deadline)
            match = _URL_LINE.search(line)
            if match is None:
                raise RuntimeError(f"simulator printed an unexpected line: {line!r}")
            self.base_url, self.port = match.group(1), int(match.group(2))
            self._wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _read_url_line(self, deadline: float) -> str:
        process = self._process
        assert process is not None and process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    message = "simulator did not print its URL in time"
                    raise TimeoutError(message + self._stderr_tail())
                if selector.select(min(remaining, 0.5)):
                    line = process.stdout.readline()
                    if line:
                        return line
                    process.wait(timeout=5)  # EOF: the child is gone
                if process.poll() is not None:
                    raise RuntimeError(
                        f"simulator exited with code {process.returncode} before it was ready"
                        + self._stderr_tail()
                    )

    def _wait_healthy(self, deadline: float) -> None:
        url = f"http://127.0.0.1:{self.port}/health"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
        while True:
            try:
                with opener.open(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError("simulator exited while starting" + self._stderr_tail())
            if time.monotonic() > deadline:
                message = "simulator /health did not answer in time"
                raise TimeoutError(message + self._stderr_tail())
            time.sleep(0.05)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().strip()
        return f":\n{text[-4000:]}" if text else ""

    @property
    def stderr(self) -> str:
        """What the child has written to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self) -> None:
        """SIGTERM, wait up to 5 s, then kill."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
            self.returncode = process.returncode
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
