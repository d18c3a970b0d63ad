"""Runs an A/B experiment from a thread of its own, as RunController runs one run: the variants'
requests are sent and timed in worker processes, the experiment's loop runs on this thread, and
the screen only receives messages (post_message is thread-safe) a few times a second.

Same interface as RunController where the app needs one (running, stop, wait, the quit and
signal handling), so the app treats a running experiment like a running run.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.message import Message

from ..specs.secrets import Scrubber, endpoint_secrets
from ..run.coordinator import RunSnapshot
from ..run.events import RunEvent, TurnStarted
from ..run.experiment import Experiment, ExperimentResult, Variant
from ..live.turn_feed import TurnFeed, TurnRow
from ..run.workers import choose_workers
from ..specs import LoadTestSuite
from .run_controller import SNAPSHOT_INTERVAL_S, ThreadedController


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


class ExperimentController(ThreadedController):
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
        super().__init__(self.experiment,
                         Scrubber([s for v in variants for s in endpoint_secrets(v.endpoint)]))
        self.started_at: float | None = None        # monotonic, when start() was called

    @property
    def estimate(self):
        return self.experiment.estimate

    @property
    def turns(self) -> int:
        return len(self.experiment.turns)

    def start(self) -> None:
        self.started_at = time.monotonic()
        super().start()

    def finished_message(self) -> Message:
        return ExperimentFinishedMessage(self.result, self.error, self.exit_code,
                                         self.feed.finished())

    # RunObserver: called on the experiment's thread
    def event(self, ev: RunEvent) -> None:
        super().event(ev)
        if isinstance(ev, TurnStarted):   # a turn began: the one before it has its figures
            self._post(ExperimentSnapshotMessage(None, self.feed.current(),
                                                 self.feed.finished()))

    def snapshot(self, snap: RunSnapshot) -> None:
        self._post(ExperimentSnapshotMessage(snap, self.feed.current(snap), self.feed.finished()))
