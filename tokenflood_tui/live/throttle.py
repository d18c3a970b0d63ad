"""How many failure lines a live view shows: the one policy of headless and every TUI screen.

At 30% failures of 20 req/s a log would otherwise be nothing but the same error, and an
observation's outage of days would fill it with one line per request. So:

- a phase shows the first LINES_PER_KIND failures of each kind (http_error, timeout…) of each
  variant; the next one of that kind brings one line saying the rest are counted (where the
  front end counts them: the progress line, the phases table…) and kept in errors.log; the rest
  are not shown;
- a poll shows its first failure (the cause): its poll line (headless) or the last-poll panel
  (TUI) counts all of them by kind as soon as it ends. The first poll failure not shown brings
  that note once for the run, not once a poll, so a days-long outage stays two lines a poll;
- counts are kept for each variant's current phase or poll only (a variant's phases run one
  after the other, so a new number means the previous one's failures are over): memory stays
  bounded over days;
- `verbose` (headless --verbose) shows every failure.
"""

from __future__ import annotations

from ..run.events import FailuresCounted, RequestFailed, RunEvent, Unit, VariantEvent

LINES_PER_KIND = 5      # failure lines of one kind in a phase before they are only counted
LINES_PER_POLL = 1      # failure lines of a poll (of any kind) before they are only counted


class FailureThrottle:
    """`admit` each run event before showing it: failures past the policy's limits become one
    FailuresCounted event, then nothing; every other event passes unchanged.

    `phases_counted` / `polls_counted`: where this front end counts the failures it no longer
    shows ("on the progress line"; None: only errors.log has them)."""

    def __init__(self, phases_counted: str | None = None, polls_counted: str | None = None,
                 verbose: bool = False):
        self.where: dict[Unit, str | None] = {"phase": phases_counted, "poll": polls_counted}
        self.verbose = verbose
        # per variant (None outside an A/B experiment): its current phase or poll and the
        # failures seen in it, by kind (a poll's under None: they are counted together)
        self._current: dict[str | None, tuple[Unit, int]] = {}
        self._seen: dict[str | None, dict[str | None, int]] = {}
        self._poll_note_said = False

    def __len__(self) -> int:
        """How many counts it holds (bounded by variants × failure kinds)."""
        return sum(len(counts) for counts in self._seen.values())

    def admit(self, ev: RunEvent) -> RunEvent | None:
        variant, failure = (ev.variant, ev.event) if isinstance(ev, VariantEvent) else (None, ev)
        if not isinstance(failure, RequestFailed) or self.verbose:
            return ev
        where = (failure.unit, failure.number)
        if self._current.get(variant) != where:
            self._current[variant], self._seen[variant] = where, {}
        poll = failure.unit == "poll"
        kind = None if poll else failure.kind
        counts = self._seen[variant]
        seen = counts[kind] = counts.get(kind, 0) + 1
        limit = LINES_PER_POLL if poll else LINES_PER_KIND
        if seen <= limit:
            return ev
        if seen > limit + 1 or (poll and self._poll_note_said):
            return None
        self._poll_note_said = self._poll_note_said or poll
        note = FailuresCounted(failure.unit, failure.number, kind, self.where[failure.unit])
        return note if variant is None else VariantEvent(variant, note)
