"""journal.jsonl: what a run planned and what it finished, one line per event, written as it goes.

`tokenflood resume` reads it after any crash: which phases finished (with their statistics, so a
resumed summary is the same as an uninterrupted one would be), where an observation's slots are
anchored, and when the run was resumed before. Lines are whole or absent (AppendOnlyFile); a torn
last line of a killed process is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ..metrics.summary import PhaseStats

JOURNAL_FILE = "journal.jsonl"


class RunStarted(BaseModel):
    event: Literal["run_started"] = "run_started"
    kind: str                       # load_test | observation
    at_utc: float                   # when the first phase started: requests.csv's origin
    started_at: str | None = None   # when the run began (ISO 8601, local), for its summary
    phases: int                     # planned phases (polls)
    anchor_utc: float | None = None  # an observation's first slot


class PhaseStarted(BaseModel):
    event: Literal["phase_started"] = "phase_started"
    phase: int
    at_utc: float


class PhaseFinished(BaseModel):
    event: Literal["phase_finished"] = "phase_finished"
    phase: int
    at_utc: float
    stats: PhaseStats


class SlotMissed(BaseModel):
    event: Literal["slot_missed"] = "slot_missed"
    phase: int
    slot_utc: float
    reason: str


class Resumed(BaseModel):
    event: Literal["resumed"] = "resumed"
    at_utc: float
    from_phase: int
    superseded_rows: int


class RunEnded(BaseModel):
    event: Literal["run_ended"] = "run_ended"
    at_utc: float
    status: str


Entry = Annotated[RunStarted | PhaseStarted | PhaseFinished | SlotMissed | Resumed | RunEnded,
                  Field(discriminator="event")]
_ENTRY: TypeAdapter[Entry] = TypeAdapter(Entry)


def encode(entry: BaseModel) -> str:
    return json.dumps(entry.model_dump(mode="json"), separators=(",", ":")) + "\n"


def read_journal(folder: Path) -> list[Entry]:
    """Every whole entry of a results folder's journal (none when there is no journal)."""
    path = Path(folder) / JOURNAL_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entries.append(_ENTRY.validate_json(line))
        except ValidationError:
            continue          # the torn last line of a killed process
    return entries
