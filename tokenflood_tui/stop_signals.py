"""SIGTERM and SIGHUP stop a run as Ctrl-C does: sending stops, the results folder is still
written, and the exit code is 130 (docs/architecture.md#commands-and-exit-codes). SIGHUP is what
an SSH session that drops sends; its terminal is then gone, and every write to it fails, so output
is sent to /dev/null first.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from typing import Callable

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
INTERRUPTED = 130


def reason(signum: int) -> str:
    """What a run stopped by this signal says (summary.json's message)."""
    if signum == signal.SIGINT:
        return "stopped by the user (Ctrl-C)"
    if signum == signal.SIGHUP:
        return "stopped: the terminal hung up (SIGHUP: an SSH session dropped?)"
    return f"stopped by {signal.Signals(signum).name}"


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


def install(handler: Callable[[int], None],
            loop: asyncio.AbstractEventLoop | None = None) -> Callable[[], None]:
    """Call `handler(signum)` on SIGTERM and SIGHUP; returns what restores the previous handlers.

    A plain signal handler, not the event loop's: it runs even while the loop is blocked (a TUI
    writing to a dead terminal). Only the main thread can install one; elsewhere it is a no-op.
    `loop`: the main thread's event loop, woken by every signal (see `_wake_on_signal`).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            detach_dead_terminal()
        handler(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    unwake = _wake_on_signal(loop) if loop is not None else (lambda: None)

    def restore() -> None:
        unwake()
        for sig, old in previous.items():
            signal.signal(sig, old)
    return restore


def _wake_on_signal(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """The kernel hands a signal sent to the process to any of its threads. When that is not
    the main thread, Python runs the handler when the main thread next runs Python code — and a
    TUI idle at a dialog sleeps in its event loop's poll for as long as nothing happens (a
    SIGTERM taken by a helper thread at the budget dialog left it open for good). Python's own
    C-level handler writes the signal's number to the wakeup fd from whichever thread took it:
    make that a socket the loop watches, so the main thread wakes and runs the handler at once.
    Returns what undoes it; a no-op when a wakeup fd is set already (the loop's own, for its
    add_signal_handler, wakes it as well)."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    if previous != -1:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()
        return lambda: None

    def drain() -> None:
        try:
            while reader.recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    loop.add_reader(reader.fileno(), drain)

    def undo() -> None:
        signal.set_wakeup_fd(-1)
        loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()
    return undo


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
