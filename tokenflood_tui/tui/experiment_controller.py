"""Runs an A/B experiment from a thread of its own, as RunController runs one run: the variants'
requests are sent and timed in worker processes, the experiment's loop runs on this thread, and
the screen only receives messages (post_message is thread-safe) a few times a second.

Same interface as RunController where the app needs one (running, stop, wait, the quit and
signal handling), so the app treats a running experiment like a running run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from textual.message import Message
from textual.message_pump import MessagePump

from ..errors import TokenfloodError
from ..redaction import Scrubber, endpoint_secrets
from ..run.coordinator import RunSnapshot
from ..run.experiment import Experiment, ExperimentResult, Variant
from ..run.turn_feed import TurnFeed, TurnRow
from ..run.workers import choose_workers
from ..specs import LoadTestSuite
from .messages import RunLogMessage
from .run_controller import LOG_LINES_KEPT, SNAPSHOT_INTERVAL_S


class ExperimentSnapshotMessage(Message):
    """How the experiment stands: the sending variant's snapshot, the turn under way and every
    finished turn (all of them, so that coalescing never drops a finished one)."""

    bubble = False

    def __init__(self, snapshot: RunSnapshot | None, current: TurnRow | None,
                 finished: list[TurnRow]):
        super().__init__()
        self.snapshot = snapshot
        self.current = current
        self.finished = finished

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ExperimentSnapshotMessage)


class ExperimentFinishedMessage(Message):
    """The experiment ended: `result` when its folder was written, else `error`."""

    bubble = False

    def __init__(self, result: ExperimentResult | None, error: str | None, exit_code: int,
                 finished: list[TurnRow]):
        super().__init__()
        self.result = result
        self.error = error
        self.exit_code = exit_code
        self.finished = finished


class ExperimentController:
    """One experiment: built (and its budget estimated) before the app starts, started once
    after the budget modal, stopped from the UI."""

    def __init__(self, suite: LoadTestSuite, variants: list[Variant], results_root: Path,
                 rounds: int, workers: int | None = None):
        self.suite = suite
        self.variants = variants
        self.rounds = rounds
        # a live view always sends from other processes: rendering must never delay a request
        workers = choose_workers(workers, suite.peak_rps, variants[0].endpoint.resolved_client,
                                 live_view=True)
        self.experiment = Experiment(suite, variants, results_root, observer=self,
                                     rounds=rounds, workers=max(1, workers),
                                     snapshot_interval_s=SNAPSHOT_INTERVAL_S)
        self.feed = TurnFeed(self.experiment)
        self.target: MessagePump | None = None      # the screen that watches it
        self.result: ExperimentResult | None = None
        self.error: str | None = None
        self.exit_code = 0
        self.log_lines: list[tuple[str, str]] = []
        self.scrubber = Scrubber([s for v in variants for s in endpoint_secrets(v.endpoint)])
        self.started_at: float | None = None        # monotonic, when start() was called
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()

    @property
    def estimate(self):
        return self.experiment.estimate

    @property
    def turns(self) -> int:
        return len(self.experiment.turns)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._finished.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._main, name="tokenflood-ab", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every variant; in-flight requests get a short grace; folders are still written."""
        self.experiment.stop()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    async def wait_finished_async(self, timeout: float = 20.0) -> bool:
        return await asyncio.to_thread(self._finished.wait, timeout)

    # ------------------------------------------------------------------ the experiment's thread

    def _main(self) -> None:
        try:
            self.result = asyncio.run(self.experiment.execute())
            self.exit_code = self.result.exit_code
        except TokenfloodError as exc:
            self.error, self.exit_code = str(exc), exc.exit_code
        except Exception as exc:  # shown in the UI rather than lost in a thread
            self.error, self.exit_code = f"internal error: {exc!r}", 1
        finally:
            self.error = self.error and self.scrubber.scrub(self.error)
            self._finished.set()
            self._post(ExperimentFinishedMessage(self.result, self.error, self.exit_code,
                                                 self.feed.finished()))

    def _post(self, message: Message) -> None:
        target = self.target
        if target is not None:
            target.post_message(message)

    # RunObserver: called on the experiment's thread
    def log(self, level: str, message: str) -> None:
        message = self.scrubber.scrub(message)
        self.log_lines.append((level, message))
        if len(self.log_lines) > 2 * LOG_LINES_KEPT:
            del self.log_lines[:-LOG_LINES_KEPT]
        self._post(RunLogMessage(level, message))
        if message.startswith("turn "):   # a turn began: the one before it has its figures
            self._post(ExperimentSnapshotMessage(None, self.feed.current(),
                                                 self.feed.finished()))

    def snapshot(self, snap: RunSnapshot) -> None:
        self._post(ExperimentSnapshotMessage(snap, self.feed.current(snap), self.feed.finished()))
