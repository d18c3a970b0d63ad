"""`tokenflood ARGS` in a fresh child process forked from a warm one, for run_tokenflood and launch.

Each `tokenflood` command a test runs used to start a new interpreter and import the run stack
(numpy, pydantic, aiohttp, the specs and the runner: about a second of CPU), a few hundred times
a suite. Here one fork server per test process imports that stack once (multiprocessing's
"forkserver": single-threaded, nothing running, so forking it is safe), and each command runs in
a child forked from it: `cli.main` with the test's arguments, folder, environment, stdin, stdout
and stderr, exactly as the console script calls it, and its exit code. Nothing preloaded reads
the environment when imported (Textual and litellm are not preloaded: the child imports them
under the test's environment; preloading litellm saved 12 of 122 CPU-s of the provider tests).
The console script itself, signals and process groups are still exercised by the tests that
start `tokenflood` with subprocess (`start`, tmux, the wheel).
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# what every command imports before it reads its arguments, and none of it reads the environment
# when imported
PRELOAD = ["tokenflood_tui.cli", "tokenflood_tui.headless", "tokenflood_tui.run.runner",
           "tokenflood_tui.outputs.printed", "tokenflood_tui.compare.compare",
           "tokenflood_tui.clients.openai_http"]

_context: multiprocessing.context.ForkServerContext | None = None
_lock = threading.Lock()


def _forkserver() -> multiprocessing.context.ForkServerContext:
    global _context
    with _lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            _context = ctx
        return _context


class Launched:
    """`tokenflood ARGV` running in a child forked from the warm process: poll it while it runs
    (as subprocess.Popen's poll), then wait for its end."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None):
        self.argv = argv
        self._tmp = tempfile.TemporaryDirectory(prefix="tokenflood-cli-")
        self._files = [os.path.join(self._tmp.name, name) for name in ("stdin", "stdout", "stderr")]
        for path, text in zip(self._files, (stdin or "", "", ""), strict=True):
            Path(path).write_text(text)
        self._child = _forkserver().Process(target=_main, args=(argv, str(cwd), env,
                                                                stdin is not None, *self._files),
                                            daemon=False)
        self._child.start()

    def poll(self) -> int | None:
        """The exit code once the command has ended, else None."""
        return None if self._child.is_alive() else self._child.exitcode

    def wait(self, timeout: float) -> tuple[int, str, str]:
        """(exit code, stdout, stderr), as subprocess.run would give them; subprocess.TimeoutExpired
        after `timeout` seconds (the command killed)."""
        try:
            self._child.join(timeout)
            timed_out = self._child.is_alive()
            if timed_out:
                self._child.kill()
                self._child.join()
            out, err = (Path(path).read_text() for path in self._files[1:])
            if timed_out:
                raise subprocess.TimeoutExpired(self.argv, timeout, out, err)
            code = self._child.exitcode
            assert code is not None
            # a command killed by a signal reads as subprocess.run's -N
            return code, out, err
        finally:
            self._tmp.cleanup()


def _main(argv: list[str], cwd: str, env: dict[str, str], has_stdin: bool, stdin_path: str,
          stdout_path: str, stderr_path: str) -> None:
    """In the forked child: become the command's process, then run it as the console script."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    _redirect(0, stdin_path if has_stdin else os.devnull, os.O_RDONLY)
    _redirect(1, stdout_path, os.O_WRONLY | os.O_TRUNC)
    _redirect(2, stderr_path, os.O_WRONLY | os.O_TRUNC)
    # the command's own streams for the rest of this process's life: closed when it ends
    sys.stdin = open(0, encoding="utf-8", closefd=False)          # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)    # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)    # noqa: SIM115
    sys.argv = argv
    from tokenflood_tui.cli import main
    code = main(argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def _redirect(fd: int, path: str, flags: int) -> None:
    target = os.open(path, flags)
    os.dup2(target, fd)
    os.close(target)
