"""Where a run whose process ended early stands, read from its results folder
(docs/architecture.md#resume).

The folder holds what is needed: the configs as run, the rows (kept), and the journal of what was
planned and what finished. A load test goes on at the first phase that did not finish (a half-done
phase runs again in full; its rows stay, marked `superseded`); an observation goes on at the next
wall-clock slot, and the slots that passed while nothing ran are recorded as missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..redaction import REDACTED
from ..specs import EndpointSpec, ObservationSuite, RunSuite, load_endpoint, load_run_suite
from ..summary import SUMMARY_FILE, PhaseStats, ResumeInfo, RunSummary
from .journal import (JOURNAL_FILE, PhaseFinished, PhaseStarted, Resumed, RunEnded, RunStarted,
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

    @property
    def observation(self) -> bool:
        return isinstance(self.suite, ObservationSuite)


def find_resume_point(folder: Path, endpoint_file: Path | None = None) -> ResumePoint:
    """What is left of the run in `folder`; ConfigError says why it cannot be resumed."""
    folder = Path(folder)
    if not (folder / "run.yml").is_file():
        raise ConfigError(f"{folder}: not a results folder (no run.yml); give the folder a run "
                          "wrote, e.g. results/2026-12-01_10-00-00_name_model")
    previous = _previous_summary(folder)
    entries = read_journal(folder)
    if not (folder / JOURNAL_FILE).exists():
        raise ConfigError(f"{folder}: no {JOURNAL_FILE}: this run was made by an older tokenflood "
                          "and cannot be resumed; start it again with tokenflood run")
    if (previous is not None and previous.status == "completed") or any(
            isinstance(e, RunEnded) and e.status == "completed" for e in entries):
        raise ConfigError(f"{folder}: this run completed; there is nothing to resume (start a new "
                          "one with tokenflood run)")
    suite = load_run_suite(folder / "run.yml")
    endpoint = _endpoint(folder, endpoint_file)
    started = next((e for e in entries if isinstance(e, RunStarted)), None)
    done = {e.phase: e.stats for e in entries if isinstance(e, PhaseFinished)}
    begun = {e.phase for e in entries if isinstance(e, PhaseStarted)}
    missed = [MissedSlot(e.phase, e.slot_utc, e.reason) for e in entries
              if isinstance(e, SlotMissed)]
    resumed = list(previous.resumed) if previous is not None else []
    if isinstance(suite, ObservationSuite):
        cut = sorted(begun - set(done))            # a poll the process died in: not re-run
        missed += [MissedSlot(k, started.anchor_utc + (k - 1) * suite.interval_s, INTERRUPTED_POLL)
                   for k in cut if started is not None and started.anchor_utc is not None]
        last = max([*done, *begun, *(m.phase for m in missed)], default=0)
        start, superseded = last + 1, set(cut)
    else:
        start = next((k for k in range(1, len(suite.requests_per_second_rates) + 1)
                      if k not in done), len(suite.requests_per_second_rates) + 1)
        superseded = {k for k in begun if k >= start}
    return ResumePoint(folder, suite, endpoint, [done[k] for k in sorted(done)], missed, start,
                       superseded, started.anchor_utc if started else None,
                       started.at_utc if started else None,
                       previous.started_at if previous else (started.started_at if started else None),
                       resumed)


def resume_entry(point: ResumePoint, at_utc: float, superseded_rows: int) -> Resumed:
    return Resumed(at_utc=at_utc, from_phase=point.start, superseded_rows=superseded_rows)


def _previous_summary(folder: Path) -> RunSummary | None:
    if not (folder / SUMMARY_FILE).exists():
        return None                       # killed: no summary was written
    return RunSummary.load(folder)


def _endpoint(folder: Path, endpoint_file: Path | None) -> EndpointSpec:
    """The endpoint as run: the saved copy, unless it had literal secrets (redacted there)."""
    if endpoint_file is not None:
        return load_endpoint(endpoint_file)
    saved = folder / "endpoint.yml"
    if REDACTED in saved.read_text(encoding="utf-8"):
        raise ConfigError(f"{saved} has secrets redacted (the run gave them literally); give the "
                          "original endpoint file: tokenflood resume DIR --endpoint ENDPOINT.yml "
                          "(or give secrets by env var, e.g. Authorization: Bearer ${TOKEN})")
    return load_endpoint(saved)
