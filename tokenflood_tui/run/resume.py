"""Where a run whose process ended early stands, read from its results folder
(docs/architecture.md#resume).

The folder holds what is needed: the configs as run, the rows (kept), and the journal of what was
planned and what finished. A load test goes on at the first phase that did not finish (a half-done
phase runs again in full; its rows stay, marked `superseded`); an observation goes on at the next
wall-clock slot, and the slots that passed while nothing ran are recorded as missed.

Sessions: a phase finishes when its last session ended, so a killed session run may leave phase
k draining and k+1 started (or even finished). Phase k and every later one run again in full,
their sessions drawn again from the seed (the same scripts and ids); their rows in requests.csv
and sessions.csv stay, marked `superseded`. A session in flight at the kill has only its finished
requests' rows (no sessions.csv row): superseded with the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError
from ..specs.secrets import REDACTED
from ..specs import (EndpointSpec, LoadTestSuite, ObservationSuite, RunSuite, SearchSuite,
                     load_endpoint, load_run_suite)
from ..metrics.summary import SUMMARY_FILE, PhaseStats, ResumeInfo, RunSummary
from ..outputs.journal import (JOURNAL_FILE, PhaseFinished, PhaseStarted, Resumed, RunEnded, RunStarted,
                               SlotMissed, read_journal)
from .plan import MissedSlot

NOT_RUNNING = "tokenflood was not running (the process had ended; resumed later)"
INTERRUPTED_POLL = "interrupted: the process ended during this poll (its rows are kept, superseded)"


@dataclass(slots=True)
class ResumePoint:
    folder: Path
    suite: RunSuite
    endpoint: EndpointSpec
    done: list[PhaseStats]                 # phases (polls) that finished, with their statistics
    missed: list[MissedSlot]               # polls missed so far
    start: int                             # the first phase (poll) still to run
    superseded: set[int]                   # phases whose rows a re-run replaces
    anchor_utc: float | None               # an observation's first slot
    origin_utc: float | None               # when the run's first phase started
    started_at: str | None                 # the first run's start, from its summary
    resumed: list[ResumeInfo] = field(default_factory=list)   # earlier resumes
    ended: str = "no summary"              # how the last process ended: its summary's status
    ended_message: str | None = None       # ... and why, when its summary says

    @property
    def observation(self) -> bool:
        return isinstance(self.suite, ObservationSuite)

    @property
    def total(self) -> int:
        """The run's phases (polls), as planned."""
        suite = self.suite
        if isinstance(suite, ObservationSuite):
            return suite.polls
        if isinstance(suite, SearchSuite):
            return suite.max_phases
        return len(suite.rates)

    def passed_while_down(self, now_utc: float) -> int:
        """Polls from `start` whose window is over at `now_utc`: the ones a resume now records
        as missed (the rule of ObservationPlanner.skip_until, without building the plan)."""
        suite = self.suite
        if not isinstance(suite, ObservationSuite) or self.anchor_utc is None:
            return 0
        # poll k's window ends at anchor + (k-1) × interval + within
        over = math.ceil((now_utc - self.anchor_utc - suite.within_seconds) / suite.interval_s)
        return max(0, min(self.total, over) - self.start + 1)

    def outline(self, missed_while_down: int) -> list[str]:
        """Where the run stands and where it goes on, for the budget prompt and the home screen:
        lines of at most 70 columns (the budget modal at 80x24 shows them and the estimate
        unscrolled); `missed_while_down`: the polls a resume now records as missed, their slots
        having passed while nothing ran."""
        ended = "killed or crashed: no summary was written" if self.ended == "no summary" \
            else self.ended
        lines = [f"resuming       {self.folder.name}", f"it ended       {ended}"]
        if not self.observation:
            again = ", in full (rows so far kept as superseded)" if self.start in self.superseded \
                else ""
            return lines + [f"finished       {len(self.done)} of {self.total} phases",
                            f"goes on at     phase {self.start} of {self.total}{again}"]
        assert isinstance(self.suite, ObservationSuite)
        missed = len(self.missed) + missed_while_down
        lines.append(f"finished       {len(self.done)} of {self.total} polls"
                     + (f"; {missed} missed" if missed else "")
                     + (f", {missed_while_down} of them while down" if missed_while_down else ""))
        following = self.start + missed_while_down
        if following > self.total:
            lines.append("goes on at     no poll: every slot left has passed")
        elif self.anchor_utc is None:     # stopped before its first poll: slots anchored anew
            lines.append(f"goes on at     poll 1 of {self.total}, at the next slot")
        else:
            slot = self.anchor_utc + (following - 1) * self.suite.interval_s
            lines.append(f"goes on at     poll {following} of {self.total}, its slot "
                         f"{datetime.fromtimestamp(slot, UTC):%H:%M:%S} UTC")
        return lines


def find_resume_point(folder: Path, endpoint_file: Path | None = None) -> ResumePoint:
    """What is left of the run in `folder`; ConfigError says why it cannot be resumed."""
    folder = Path(folder)
    try:
        return _read_resume_point(folder, endpoint_file)
    except OSError as exc:       # unreadable (permissions, a vanished disk): say which file
        raise ConfigError(f"{exc.filename or folder}: cannot be read ({exc.strerror or exc}); "
                          "this run cannot be resumed until it can") from None


def _read_resume_point(folder: Path, endpoint_file: Path | None) -> ResumePoint:
    if not (folder / "run.yml").is_file():
        raise ConfigError(f"{folder}: not a results folder (no run.yml); give the folder a run "
                          "wrote, e.g. results/2026-12-01_10-00-00_name_model")
    previous = _previous_summary(folder)
    if not (folder / JOURNAL_FILE).exists():
        raise ConfigError(f"{folder}: no {JOURNAL_FILE}: this run was made by an older tokenflood "
                          "and cannot be resumed; start it again with tokenflood run")
    entries = read_journal(folder)
    if (previous is not None and previous.status == "completed") or any(
            isinstance(e, RunEnded) and e.status == "completed" for e in entries):
        raise ConfigError(f"{folder}: this run completed; there is nothing to resume (start a new "
                          "one with tokenflood run)")
    suite = load_run_suite(folder / "run.yml")
    if isinstance(suite, SearchSuite):
        raise ConfigError(f"{folder}: a capacity search cannot be resumed (its next phases "
                          "depend on the ones it lost); start it again with tokenflood run — the "
                          "phases it finished are in this folder")
    endpoint = _endpoint(folder, endpoint_file)
    started = next((e for e in entries if isinstance(e, RunStarted)), None)
    done = finished_phases(entries)
    begun = {e.phase for e in entries if isinstance(e, PhaseStarted)}
    missed = [MissedSlot(e.phase, e.slot_utc, e.reason) for e in entries
              if isinstance(e, SlotMissed)]
    resumed = earlier_resumes(entries, previous)
    if isinstance(suite, ObservationSuite):
        cut = sorted(begun - set(done))            # a poll the process died in: not re-run
        missed += [MissedSlot(k, started.anchor_utc + (k - 1) * suite.interval_s, INTERRUPTED_POLL)
                   for k in cut if started is not None and started.anchor_utc is not None]
        last = max([*done, *begun, *(m.phase for m in missed)], default=0)
        start, superseded = last + 1, set(cut)
    else:
        assert isinstance(suite, LoadTestSuite)
        start = next((k for k in range(1, len(suite.rates) + 1)
                      if k not in done), len(suite.rates) + 1)
        # Every phase from the first unfinished one runs again, one that finished too: session
        # phases overlap (a phase drains while the next sends), so the next may have finished
        # before it; its figures were measured beside a phase that is now measured again.
        done = {k: stats for k, stats in done.items() if k < start}
        superseded = {k for k in begun if k >= start}
    return ResumePoint(folder, suite, endpoint, [done[k] for k in sorted(done)], missed, start,
                       superseded, started.anchor_utc if started else None,
                       started.at_utc if started else None,
                       previous.started_at if previous else (started.started_at if started else None),
                       resumed, *_how_it_ended(entries, previous))


def finished_phases(entries: list) -> dict[int, PhaseStats]:
    """The phases (polls) that finished and still count: a resume from phase k supersedes the
    finishes of k and later journaled before it (their rows were marked, they run again)."""
    done: dict[int, PhaseStats] = {}
    for entry in entries:
        if isinstance(entry, PhaseFinished):
            done[entry.phase] = entry.stats
        elif isinstance(entry, Resumed):
            done = {k: stats for k, stats in done.items() if k < entry.from_phase}
    return done


def resume_entry(point: ResumePoint, at_utc: float, superseded_rows: int) -> Resumed:
    return Resumed(at_utc=at_utc, from_phase=point.start, superseded_rows=superseded_rows)


def earlier_resumes(entries: list, previous: RunSummary | None) -> list[ResumeInfo]:
    """Every earlier resume: the last summary's list, and after it the journal's `resumed` lines
    that no summary lists (a resume that was itself killed wrote no summary)."""
    listed = list(previous.resumed) if previous is not None else []
    found: list[ResumeInfo] = []
    for entry in entries:
        if isinstance(entry, Resumed):
            found.append(ResumeInfo(
                at=datetime.fromtimestamp(entry.at_utc).astimezone().isoformat(timespec="seconds"),
                from_phase=entry.from_phase, superseded_rows=entry.superseded_rows))
        elif isinstance(entry, SlotMissed) and entry.reason == NOT_RUNNING and found:
            found[-1].missed_polls += 1      # the slots a resume found passed are journaled next
    return listed + found[len(listed):]


def _how_it_ended(entries: list, previous: RunSummary | None) -> tuple[str, str | None]:
    """The last process's status and message; "no summary" when it wrote none (the summary on
    disk, if any, is then an earlier process's: a resume after it was killed)."""
    last_end = max((i for i, e in enumerate(entries) if isinstance(e, RunEnded)), default=-1)
    last_resume = max((i for i, e in enumerate(entries) if isinstance(e, Resumed)), default=-1)
    if previous is None or last_resume > last_end:
        return "no summary", None
    return previous.status, previous.message


def _previous_summary(folder: Path) -> RunSummary | None:
    if not (folder / SUMMARY_FILE).exists():
        return None                       # killed: no summary was written
    return RunSummary.load(folder)


def _endpoint(folder: Path, endpoint_file: Path | None) -> EndpointSpec:
    """The endpoint as run: the saved copy, unless it had literal secrets (redacted there)."""
    saved = folder / "endpoint.yml"
    if endpoint_file is not None:
        given = load_endpoint(endpoint_file)
        _same_model(given, Path(endpoint_file), saved)
        return given
    if REDACTED in saved.read_text(encoding="utf-8"):
        raise ConfigError(f"{saved} has secrets redacted (the run gave them literally); give the "
                          "original endpoint file: tokenflood resume DIR --endpoint ENDPOINT.yml "
                          "(or give secrets by env var, e.g. Authorization: Bearer ${TOKEN})")
    return load_endpoint(saved)


def _same_model(given: EndpointSpec, given_file: Path, saved: Path) -> None:
    """--endpoint may move the server (another port after a reboot), not change what is measured:
    one results folder holds one model's figures."""
    try:
        run_with = load_endpoint(saved)
    except ConfigError:
        return                   # nothing to compare with: the given file is all there is
    for key in ("provider", "model"):
        if getattr(given, key) != getattr(run_with, key):
            raise ConfigError(f"{given_file}: {key} is {getattr(given, key)!r}, but this run was "
                              f"made with {key} {getattr(run_with, key)!r} ({saved}); give the "
                              "endpoint file the run was made with (one results folder holds one "
                              "model's figures)")
