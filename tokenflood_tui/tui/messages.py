"""Messages from the run thread and between screens. post_message is thread-safe."""

from __future__ import annotations

from pathlib import Path

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
