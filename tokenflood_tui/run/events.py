"""What a run tells the front ends while it goes: typed events, and `describe`, the one place
that words them for people.

The coordinator, the calibration, the planners, the runner and an A/B experiment emit these
through the observer (`RunObserver.event`); headless and the TUI's live views render them. A front
end decides what to do with an event by its type and fields, never by reading its text: rewording
a line here changes no behaviour anywhere.

`unit` says whether a number is a phase (a rate step of a load test or a search) or a poll (of an
observation). The texts of warnings (RunWarning, FailedShare) are also the run's summary.json
warnings, so they are carried as the run wrote them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from ..metrics.summary import PhaseCheck
from ..metrics.thresholds import failed_line

Unit = Literal["phase", "poll"]
Level = Literal["info", "warning", "error"]


@dataclass(frozen=True, slots=True)
class PhaseStarted:
    """A phase (or a poll) begins sending: its rate, length and number of requests; a session
    phase its sessions too (its rate is theirs, its requests those their scripts send at most)."""

    unit: Unit
    number: int
    rate_rps: float
    length_s: float
    requests: int
    sessions: int | None = None


@dataclass(frozen=True, slots=True)
class PollMissed:
    """A poll's slot passed without it (the previous poll overran, the process was down…)."""

    poll: int
    reason: str


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """One request of a phase or poll failed: its status kind (http_error, timeout…), the HTTP
    status when the server answered, and the message (as scrubbed as errors.log's)."""

    unit: Unit
    number: int
    kind: str
    http_status: int | None
    message: str | None


@dataclass(frozen=True, slots=True)
class RunWarning:
    """A warning the run keeps (summary.json `warnings`) and the live views pin above the log;
    `unit`/`number` when it is about one phase or poll."""

    text: str
    unit: Unit | None = None
    number: int | None = None


@dataclass(frozen=True, slots=True)
class FailedShare:
    """A finished phase or poll had more failures than its figures can be read without (also a
    summary warning). Its own type: an observation's poll line already says it."""

    unit: Unit
    number: int
    text: str


@dataclass(frozen=True, slots=True)
class ThresholdFailed:
    """A finished phase or poll failed one of the suite's thresholds (the summary has them all)."""

    unit: Unit
    number: int
    check: PhaseCheck


@dataclass(frozen=True, slots=True)
class SearchVerdict:
    """A search phase judged against the SLO, and what the search does next: the next rate, or
    why it stopped."""

    phase: int
    rate_rps: float
    meets: bool
    why: str
    next_rps: float | None
    stopped_because: str | None = None


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """An A/B experiment's turn `n` of `total` begins: a variant's phase in a round at a rate."""

    n: int
    total: int
    variant: str
    round: int
    rounds: int
    rate_rps: float


@dataclass(frozen=True, slots=True)
class VariantEnded:
    """An A/B variant ended early; the experiment stops the other variants."""

    variant: str
    why: str


@dataclass(frozen=True, slots=True)
class FolderOpened:
    """Where the run's results go."""

    path: Path


@dataclass(frozen=True, slots=True)
class Resuming:
    """A resumed run goes on in `folder` at phase or poll `number`; `superseded` rows of a
    half-done phase are kept, marked superseded."""

    folder: str
    unit: Unit
    number: int
    superseded: int = 0


@dataclass(frozen=True, slots=True)
class FailuresCounted:
    """Not from the run: a front end's failure throttle (live/throttle.py) says that further
    failures of `kind` in this phase (`kind` None: of any poll after its first) are no longer
    shown line by line, but counted `where` (None: only kept in errors.log)."""

    unit: Unit
    number: int
    kind: str | None
    where: str | None


@dataclass(frozen=True, slots=True)
class ServerBusy:
    """The server was already running or queueing requests before the run's first one (its
    baseline scrape): someone else's load is in its metrics, and in the latencies. Also a
    summary warning, as `text`."""

    running: float
    waiting: float

    @property
    def text(self) -> str:
        return (f"the server was busy before the first request ({self.running:g} running, "
                f"{self.waiting:g} waiting): someone else's load is in its metrics and in "
                "these latencies")


@dataclass(frozen=True, slots=True)
class ServerMetricsOff:
    """The server's metrics are not read in this run, and how to have them (one line)."""

    text: str


@dataclass(frozen=True, slots=True)
class Note:
    """Progress nobody acts on: calibration, where requests are sent from, clock offsets, a
    file that could not be written."""

    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class ThrottleStop:
    """The provider refused a request with a throttle no wait ends (quota exhausted, spend limit,
    request too large): the run stops at once, keeping what it measured. `advice` says what to
    do; `message` is the provider's (scrubbed)."""

    unit: Unit
    number: int
    kind: str
    advice: str
    message: str | None

    @property
    def text(self) -> str:
        said = f" ({self.message})" if self.message else ""
        return (f"{self.unit} {self.number}: the provider refused a request: {self.kind}{said}; "
                f"the run stopped and kept what it measured: {self.advice}")


@dataclass(frozen=True, slots=True)
class VariantEvent:
    """An event of one A/B variant's run."""

    variant: str
    event: RunEvent


RunEvent = (PhaseStarted | PollMissed | RequestFailed | RunWarning | FailedShare | ThresholdFailed
            | SearchVerdict | TurnStarted | VariantEnded | FolderOpened | Resuming
            | FailuresCounted | ServerBusy | ServerMetricsOff | Note | ThrottleStop | VariantEvent)


def describe(ev: RunEvent) -> tuple[Level, str]:
    """How bad it is (info, warning or error) and the line people read."""
    match ev:
        case PhaseStarted() if ev.sessions is not None:
            return "info", (f"{ev.unit} {ev.number}: {ev.rate_rps:g} sessions/s for "
                            f"{ev.length_s:g} s ({ev.sessions} sessions, at most {ev.requests} "
                            "requests)")
        case PhaseStarted():
            return "info", (f"{ev.unit} {ev.number}: {ev.rate_rps:g} req/s for {ev.length_s:g} s "
                            f"({ev.requests} requests)")
        case PollMissed():
            return "warning", f"poll {ev.poll} missed: {ev.reason}"
        case RequestFailed():
            return "error", f"{ev.unit} {ev.number}: {ev.kind}" + (
                f": {ev.message}" if ev.message else "")
        case RunWarning() | FailedShare():
            return "warning", ev.text
        case ThresholdFailed():
            return "warning", failed_line(ev.unit, ev.number, ev.check)
        case SearchVerdict():
            head = (f"search phase {ev.phase}: {ev.rate_rps:g} req/s "
                    + ("meets the SLO" if ev.meets else "fails the SLO") + f" ({ev.why})")
            if ev.next_rps is not None:
                return "info", head + f"; next {ev.next_rps:g} req/s"
            return "info", head + f"; done: {ev.stopped_because}"
        case TurnStarted():
            return "info", (f"turn {ev.n}/{ev.total}: {ev.variant}, round {ev.round}/{ev.rounds} "
                            f"at {ev.rate_rps:g} req/s")
        case VariantEnded():
            return "error", f"{ev.variant} ended early ({ev.why}); stopping the other variants"
        case FolderOpened():
            return "info", f"results folder: {ev.path}"
        case Resuming():
            return "info", (f"resuming {ev.folder} at {ev.unit} {ev.number}"
                            + (f"; {ev.superseded} row(s) of a half-done phase kept, marked "
                               "superseded" if ev.superseded else ""))
        case FailuresCounted():
            kept = (f"counted {ev.where} and " if ev.where else "") + "kept in errors.log"
            if ev.kind is None:
                return "error", (f"{ev.unit} {ev.number}: only the first failure of each "
                                 f"{ev.unit} is shown; the others are {kept}")
            return "error", (f"{ev.unit} {ev.number}: {ev.kind}: further failures of this kind "
                             f"are {kept}")
        case ServerBusy():
            return "warning", ev.text
        case ThrottleStop():
            return "error", ev.text
        case ServerMetricsOff():
            return "info", ev.text
        case Note():
            return ev.level, ev.text
        case VariantEvent():
            level, text = describe(ev.event)
            return level, f"{ev.variant}: {text}"
    raise TypeError(f"not a run event: {ev!r}")


def subject(ev: RunEvent) -> tuple[Unit, int] | None:
    """The phase or poll an event is about, if one (a variant's event: its inner event's)."""
    match ev:
        case VariantEvent():
            return subject(ev.event)
        case PollMissed():
            return "poll", ev.poll
        case SearchVerdict():
            return "phase", ev.phase
        case (PhaseStarted() | RequestFailed() | FailedShare() | ThresholdFailed()
              | FailuresCounted() | ThrottleStop()):
            return ev.unit, ev.number
        case RunWarning() if ev.unit is not None and ev.number is not None:
            return ev.unit, ev.number
    return None


CODES = {"unit", "level", "kind"}     # fields that hold a code, not text


def map_text(ev: RunEvent, f: Callable[[str], str]) -> RunEvent:
    """The event with `f` applied to every text it carries (to scrub secrets a server echoed
    before an event is kept or shown)."""
    changes: dict[str, object] = {}
    for field in dataclasses.fields(ev):
        value = getattr(ev, field.name)
        if isinstance(value, str) and field.name not in CODES:
            changes[field.name] = f(value)
        elif isinstance(ev, VariantEvent) and field.name == "event":
            changes[field.name] = map_text(value, f)
    return dataclasses.replace(ev, **changes)  # type: ignore[arg-type]
