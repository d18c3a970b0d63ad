"""SIGTERM and SIGHUP stop a run as Ctrl-C does: sending stops, the results folder is still
written, and the exit code is 130 (docs/architecture.md#commands-and-exit-codes). SIGHUP is what
an SSH session that drops sends; its terminal is then gone, and every write to it fails, so output
is sent to /dev/null first.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
INTERRUPTED = 130


def detach_dead_terminal() -> bool:
    """Point stdout and stderr at /dev/null if their terminal has hung up; True if it had.

    A hung-up terminal fails every write with EIO, even an empty one; a live one accepts it.
    Without this, the first progress line or screen refresh after the hangup raises (or, in the
    TUI, its writer thread dies and the next write blocks) before the results are written.
    """
    detached = False
    for fd in (1, 2):
        try:
            os.write(fd, b"")
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
            detached = True
    return detached


def install(handler: Callable[[int], None]) -> Callable[[], None]:
    """Call `handler(signum)` on SIGTERM and SIGHUP; returns what restores the previous handlers.

    A plain signal handler, not the event loop's: it runs even while the loop is blocked (a TUI
    writing to a dead terminal). Only the main thread can install one; elsewhere it is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            detach_dead_terminal()
        handler(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return restore


def exit_when_finished(wait_finished: Callable[[float], bool], run_timeout_s: float = 60.0,
                       grace_s: float = 10.0) -> None:
    """A last resort for a front end that may not be able to exit on its own (its terminal is
    gone): once the run has finished — its results folder written — or `run_timeout_s` passed,
    give the front end `grace_s` more, then end the process with exit code 130."""
    def watch() -> None:
        wait_finished(run_timeout_s)
        threading.Event().wait(grace_s)
        os._exit(INTERRUPTED)

    threading.Thread(target=watch, name="tokenflood-exit-watchdog", daemon=True).start()
