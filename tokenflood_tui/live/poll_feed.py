"""What a live view of an observation reads from the run's snapshots: the polls that finished or
were missed since the last snapshot, their wall-clock slots and their time of day. Shared by the
headless lines and the TUI's observation view.

A snapshot carries every finished poll (about 900 over three days at 15 minutes); a feed keeps
only how many it has seen, so each snapshot costs the new polls, never the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..run.coordinator import RunSnapshot
from ..metrics.summary import PhaseStats


@dataclass(frozen=True, slots=True)
class PollEvent:
    """A poll that has just finished (stats) or was missed (reason)."""

    poll: int
    slot_utc: float | None
    stats: PhaseStats | None = None
    missed: str | None = None
    stopped: bool = False           # cut short by a stop: not all of its requests went out

    @property
    def failures(self) -> str:
        """Failures by kind and HTTP status ('connection_error ×3, http_error 503 ×1')."""
        return ", ".join(f"{e.label} ×{e.count}" for e in self.stats.errors) if self.stats else ""


class PollFeed:
    """Turns each snapshot into the poll events since the previous one, in poll order.

    `first_poll`: polls before it are not reported (a resumed run's earlier polls, which the
    first process reported)."""

    def __init__(self, interval_s: float, first_poll: int = 1):
        self.interval_s = interval_s
        self.first_poll = first_poll
        self.anchor_utc: float | None = None    # poll 1's slot, once a snapshot says
        self.total = 0
        self._finished_seen = 0       # snapshot.phases[:n] already reported (they never change)
        self._missed_seen = 0

    def update(self, snap: RunSnapshot) -> list[PollEvent]:
        self.total = snap.total_phases
        if snap.ends_utc is not None:
            # the planner's end is anchor + polls × interval
            self.anchor_utc = snap.ends_utc - snap.total_phases * self.interval_s
        phases = snap.phases
        done = len(phases) - (1 if phases and not phases[-1].finished else 0)
        events = []
        for ph in phases[self._finished_seen:done]:
            stopped = snap.status is not None and ph.sent < ph.planned
            events.append(PollEvent(ph.phase, self.slot_utc(ph.phase), stats=ph, stopped=stopped))
        self._finished_seen = max(self._finished_seen, done)
        for slot in snap.missed[self._missed_seen:]:
            events.append(PollEvent(slot.phase, slot.slot_utc, missed=slot.reason))
        self._missed_seen = len(snap.missed)
        return sorted((e for e in events if e.poll >= self.first_poll), key=lambda e: e.poll)

    def slot_utc(self, poll: int) -> float | None:
        return None if self.anchor_utc is None else self.anchor_utc + (poll - 1) * self.interval_s


def hms_utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")
