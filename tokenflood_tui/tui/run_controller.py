"""Coordinates a run from a thread of its own; requests are sent and timed in worker processes.

The run thread only posts messages (thread-safe) to the screen that watches it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any
from pathlib import Path

from textual.message import Message
from textual.message_pump import MessagePump

from ..run.coordinator import RunSnapshot
from ..run.events import RunEvent, map_text
from ..errors import TokenfloodError
from ..specs.secrets import Scrubber
from ..run.resume import ResumePoint
from ..run.runner import Run
from ..specs import EndpointSpec, RunSuite
from ..run.workers import choose_workers
from .messages import RunEventMessage, RunFinishedMessage, RunSnapshotMessage

if TYPE_CHECKING:
    from ..run.cluster import ClusterTarget

SNAPSHOT_INTERVAL_S = 0.25
# Events kept for a screen that attaches later: a days-long observation tells every failure,
# so the list is cut back to the newest EVENTS_KEPT (errors.log keeps them all).
EVENTS_KEPT = 2000


class ThreadedController:
    """Runs a job (a Run, or an A/B Experiment: anything with `execute()` and `stop()`) on a
    thread of its own; the job's observer calls (event, snapshot) become messages to `target`."""

    thread_name = "tokenflood-run"

    def __init__(self, job, scrubber: Scrubber):
        self.job = job
        self.target: MessagePump | None = None      # who receives messages (the live screen)
        self.result: Any = None                     # the job's result once it ended
        self.error: str | None = None
        self.exit_code = 0
        self.events: list[RunEvent] = []            # kept for screens that attach later
        self.scrubber = scrubber                    # nothing shown may hold a secret
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._finished.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, reason: str = "stopped by the user", now: bool = False) -> None:
        """Stop sending; in-flight requests get a short grace (`now`: none); results are still
        written."""
        self.job.stop(reason, now)

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    async def wait_finished_async(self, timeout: float = 20.0) -> bool:
        return await asyncio.to_thread(self._finished.wait, timeout)

    def finished_message(self) -> Message:
        """What the screen receives when the job has ended."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the job's thread

    def _main(self) -> None:
        try:
            self.result = asyncio.run(self.job.execute())
            self.exit_code = self.result.exit_code
        except TokenfloodError as exc:
            self.error, self.exit_code = str(exc), exc.exit_code
        except Exception as exc:  # shown in the UI rather than lost in a thread
            self.error, self.exit_code = f"internal error: {exc!r}", 1
        finally:
            self.error = self.error and self.scrubber.scrub(self.error)
            self._finished.set()
            self._post(self.finished_message())

    def _post(self, message: Message) -> None:
        target = self.target
        if target is not None:
            target.post_message(message)

    # RunObserver: called on the job's thread
    def event(self, ev: RunEvent) -> None:
        ev = map_text(ev, self.scrubber.scrub)
        self.events.append(ev)
        if len(self.events) > 2 * EVENTS_KEPT:      # cut back now and then: O(1) an event
            del self.events[:-EVENTS_KEPT]
        self._post(RunEventMessage(ev))


class RunController(ThreadedController):
    """One run: started once, stopped from the UI, finished with a RunFinishedMessage."""

    def __init__(self, app, suite: RunSuite, endpoint: EndpointSpec, results_root: Path,
                 workers: int | None = None, resume: ResumePoint | None = None,
                 cluster: ClusterTarget | None = None):
        self.app = app
        self.suite = suite
        self.endpoint = endpoint
        # Requests are sent and timed in worker processes (or on a cluster): the UI thread
        # holding the GIL while it renders must never delay a response's timestamp.
        if cluster is not None:
            workers = len(cluster.workers)
        workers = choose_workers(workers, suite.peak_rps,
                                 endpoint.resolved_client, live_view=True)
        self.run = Run(suite, endpoint, results_root, observer=self,
                       snapshot_interval_s=SNAPSHOT_INTERVAL_S, workers=max(1, workers),
                       resume=resume, cluster=cluster)
        super().__init__(self.run, Scrubber.for_endpoint(endpoint))

    def finished_message(self) -> Message:
        return RunFinishedMessage(self.result, self.error, self.exit_code)

    def snapshot(self, snap: RunSnapshot) -> None:
        if snap.server_off is not None:     # shown in the server panel: scrubbed as events are
            snap.server_off = self.scrubber.scrub(snap.server_off)
        self._post(RunSnapshotMessage(snap))
