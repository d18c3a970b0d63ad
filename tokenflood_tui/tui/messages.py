"""Messages from the run thread and between screens. post_message is thread-safe."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from ..run.coordinator import RunSnapshot
from ..run.events import RunEvent
from ..run.runner import RunResult


class RunSnapshotMessage(Message):
    """How the run stands; only the newest of a queued run is handled (coalesced)."""

    bubble = False

    def __init__(self, snapshot: RunSnapshot):
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunSnapshotMessage)


class RunEventMessage(Message):
    """Something the run tells (run/events.py): a live view words it with `describe`."""

    bubble = False

    def __init__(self, event: RunEvent):
        super().__init__()
        self.event = event


class RunFinishedMessage(Message):
    """The run ended: `result` when it wrote its summary, else `error` (a user-facing message)."""

    bubble = False

    def __init__(self, result: RunResult | None, error: str | None, exit_code: int):
        super().__init__()
        self.result = result
        self.error = error
        self.exit_code = exit_code


class SpecSaved(Message):
    """An editor wrote a spec file; lists that show spec files refresh."""

    def __init__(self, path: Path, kind: str):
        super().__init__()
        self.path = path
        self.kind = kind


# ---------------------------------------------------------------------------------------------
# What a screen asks of the app. A screen posts these to itself and they bubble up to the app,
# so no screen imports the app (its screens, its run and its exit code stay the app's).

if TYPE_CHECKING:
    from textual.screen import Screen

    from ..run.resume import ResumePoint
    from ..specs import EndpointSpec, RunSuite


class StartRun(Message):
    """Run `suite` against `endpoint`: the budget modal, then the live view; `resume` goes on
    with an unfinished run's results folder."""

    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, resume: ResumePoint | None = None):
        super().__init__()
        self.suite = suite
        self.endpoint = endpoint
        self.resume = resume


class OpenEditor(Message):
    """Open the editor for the spec file at `path` (None: a new file) of `kind`, "endpoint" or
    "run" (None: told from the file's content)."""

    def __init__(self, path: Path | None, kind: str | None = None):
        super().__init__()
        self.path = path
        self.kind = kind


class EndpointChosen(Message):
    """The endpoint chosen on the home screen (None: none, or its file is invalid); the suite
    editor prices its budget preview with it."""

    def __init__(self, endpoint: EndpointSpec | None):
        super().__init__()
        self.endpoint = endpoint


class RunExitCode(Message):
    """A live view's run (or experiment) ended: the exit code quitting returns from now on."""

    def __init__(self, exit_code: int):
        super().__init__()
        self.exit_code = exit_code


class LeaveScreen(Message):
    """`screen` is done: back to the screen under it; the only screen (opened straight from the
    command line) quits with the exit code of the last run."""

    def __init__(self, screen: Screen):
        super().__init__()
        self.screen = screen
