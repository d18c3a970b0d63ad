"""What the coordinator and a worker process say to each other over their pipe: typed messages,
one class each, pickled whole (never bare tuples, whose meaning a reader must guess)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import prompts
from ..metrics.records import RequestRecord, SessionRecord
from .sender import PhaseShare

# coordinator -> worker


@dataclass(frozen=True, slots=True)
class Start:
    factory: prompts.PromptFactory


@dataclass(frozen=True, slots=True)
class RunPhase:
    share: PhaseShare


@dataclass(frozen=True, slots=True)
class Stop:
    now: bool = False       # no grace: in-flight requests are cancelled at once


@dataclass(frozen=True, slots=True)
class Close:
    pass


# worker -> coordinator


@dataclass(frozen=True, slots=True)
class Ready:
    pass


@dataclass(frozen=True, slots=True)
class Records:
    records: list[RequestRecord]
    sessions: list[SessionRecord] = field(default_factory=list)   # the sessions that ended


@dataclass(frozen=True, slots=True)
class Status:
    """Sent so far in `phase` (tagged, so a count never lands on the wrong phase), CPU time."""

    phase: int
    sent: int
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class PhaseDone:
    phase: int
    sent: int


@dataclass(frozen=True, slots=True)
class Closed:
    pass


@dataclass(frozen=True, slots=True)
class Failed:
    message: str


