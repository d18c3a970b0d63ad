"""The summary of a run that wrote none: its process was killed (or is still running).

A finished phase's statistics are in journal.jsonl, as the run computed them; the unfinished
phase's are built again from its rows in requests.csv (by the same PhaseAccumulator; the rows
keep no launch times and no chunk gaps, so it has no ITL and no sender lateness). The summary
is the one `build_summary` makes, marked `partial`, with a message that says so and how to go
on; it is only shown, never written (a summary.json would tell `resume` the run had ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import ConfigError
from ..metrics.records import RequestRecord
from ..metrics.summary import SUMMARY_FILE, PhaseStats, RunStatus, RunSummary
from ..outputs.folder import read_rows, record_from_row
from ..outputs.journal import (JOURNAL_FILE, Entry, PhaseFinished, Resumed, RunEnded, RunStarted,
                               SlotMissed, read_journal)
from ..specs import (EndpointSpec, LoadTestSuite, ObservationSuite, RunSuite, SearchSuite,
                     load_endpoint, load_run_suite)
from . import budget
from .coordinator import RunOutcome
from .plan import MissedSlot
from .resume import earlier_resumes
from .runner import build_summary
from .schedule import PhasePlan, plan_phases
from .stats import PhaseAccumulator

NEEDED = ("run.yml", "requests.csv", JOURNAL_FILE)
UNKNOWN_COUNTER = "unknown (the run wrote no summary)"
STATUSES: dict[str, RunStatus] = {"completed": "completed", "interrupted": "interrupted",
                                  "aborted": "aborted"}


def load_summary(folder: Path | str) -> RunSummary:
    """The folder's summary.json; for a run that wrote none, its partial summary. ConfigError
    says why neither can be had."""
    folder = Path(folder)
    if not (folder / SUMMARY_FILE).exists() and rebuildable(folder):
        return partial_summary(folder)
    return RunSummary.load(folder)


def rebuildable(folder: Path) -> bool:
    """A run's folder without a summary that a partial one can be built for."""
    return all((Path(folder) / name).is_file() for name in NEEDED)


def partial_summary(folder: Path) -> RunSummary:
    try:
        return _build(Path(folder))
    except OSError as exc:
        raise ConfigError(f"{exc.filename or folder}: cannot be read ({exc.strerror or exc}); "
                          "no summary can be built from this folder until it can") from None
    except (KeyError, ValueError) as exc:      # a requests.csv that is not ours
        raise ConfigError(f"{folder / 'requests.csv'}: not the requests.csv of this tokenflood "
                          f"version ({exc!r}); no summary can be built from it") from None


@dataclass(frozen=True, slots=True)
class _Folder:
    """A results folder as a finished run's summary describes it (runner.SummaryFolder)."""

    path: Path
    origin_utc: float | None
    t0: float | None = None          # the monotonic reading of a process that is gone
    unwritten: int = 0
    write_error: str | None = None


def _build(folder: Path) -> RunSummary:
    suite = load_run_suite(folder / "run.yml")
    endpoint = load_endpoint(folder / "endpoint.yml")
    entries = read_journal(folder)
    started = next((e for e in entries if isinstance(e, RunStarted)), None)
    done = {e.phase: e.stats for e in entries if isinstance(e, PhaseFinished)}
    rows = read_rows(folder)
    records: dict[int, list[RequestRecord]] = {}
    for row in rows:
        if int(row["phase"]) not in done:        # a finished phase's figures are journaled
            rec = record_from_row(row)
            records.setdefault(rec.phase, []).append(rec)
    plans = plan_phases(suite) if isinstance(suite, LoadTestSuite) else []
    unfinished = [_from_rows(suite, phase, recs, plans) for phase, recs in sorted(records.items())]
    phases = sorted([*done.values(), *unfinished], key=lambda ph: ph.phase)
    origin = started.at_utc if started is not None else None
    outcome = RunOutcome(
        _status(entries), _message(folder, suite, unfinished), phases,
        endpoint.resolved_client, UNKNOWN_COUNTER, 0, _senders(rows),
        missed=[MissedSlot(e.phase, e.slot_utc, e.reason) for e in entries
                if isinstance(e, SlotMissed)],
        anchor_utc=started.anchor_utc if started is not None else None)
    summary = build_summary(suite, endpoint, _estimate(suite, endpoint, plans), outcome,
                            _Folder(folder, origin), _started(started, folder),
                            earlier_resumes(entries, None))
    last = max((float(r["t_end_s"]) for r in rows if r["t_end_s"]), default=None)
    finished = (datetime.fromtimestamp(origin + last).astimezone() if origin is not None
                and last is not None else _last_change(folder))
    cut = {ph.phase for ph in unfinished}      # a poll is copied from its phase without this
    polls = [p.model_copy(update={"finished": False}) if p.phase in cut else p
             for p in summary.polls]
    return summary.model_copy(update={
        "partial": True, "finished_at": finished.isoformat(timespec="seconds"), "polls": polls})


def _from_rows(suite: RunSuite, phase: int, recs: list[RequestRecord],
               plans: list[PhasePlan]) -> PhaseStats:
    """A phase that did not finish, from the rows it wrote: counts, rates and latencies as far
    as it got (no verdicts: they judge a whole phase)."""
    acc = PhaseAccumulator(phase, recs[0].target_rps, _length(suite),
                           _planned(suite, phase, len(recs), plans), suite.percentiles, suite.slo)
    acc.t_start = min(r.t_sched for r in recs)
    for rec in recs:
        acc.add(rec)
    return acc.stats(now=max((r.t_end for r in recs if r.t_end is not None),
                             default=acc.t_start))


def _length(suite: RunSuite) -> float:
    if isinstance(suite, ObservationSuite):
        return suite.within_seconds
    if isinstance(suite, SearchSuite):
        return suite.phase_seconds
    return suite.test_length_in_seconds


def _planned(suite: RunSuite, phase: int, rows: int, plans: list[PhasePlan]) -> int:
    """The phase's arrivals as planned: the seeded schedule of a load test (`plans`), an
    observation's requests per poll; a search's phase depends on the ones before and its plan
    is not journaled: its rows stand in."""
    if isinstance(suite, ObservationSuite):
        return suite.num_requests
    return plans[phase - 1].requests if phase <= len(plans) else rows


def _estimate(suite: RunSuite, endpoint: EndpointSpec,
              plans: list[PhasePlan]) -> budget.BudgetEstimate:
    """What the budget estimated before the run, as far as it can be told again (a load test's
    from its seeded `plans`; the senders it counted for warm-up are not known)."""
    if isinstance(suite, LoadTestSuite):
        return budget.estimate(suite, endpoint, plans)
    if isinstance(suite, SearchSuite):
        return budget.search_estimate(suite, endpoint)
    return budget.minimum_estimate(suite, endpoint)      # exact: polls are not drawn


def _status(entries: list[Entry]) -> RunStatus:
    """How the last process ended when its journal says (it died writing the summary), else
    interrupted: it stopped before the end."""
    last_resume = max((i for i, e in enumerate(entries) if isinstance(e, Resumed)), default=-1)
    ended = [e for e in entries[last_resume + 1:] if isinstance(e, RunEnded)]
    return STATUSES.get(ended[-1].status, "interrupted") if ended else "interrupted"


def _message(folder: Path, suite: RunSuite, unfinished: list[PhaseStats]) -> str:
    word = "poll" if isinstance(suite, ObservationSuite) else "phase"
    cut = "".join(f"; {word} {ph.phase} unfinished, {ph.sent} rows" for ph in unfinished)
    go_on = ("a capacity search cannot be resumed: start it again with tokenflood run"
             if isinstance(suite, SearchSuite) else f"to go on: tokenflood resume {folder}")
    return (f"partial: no summary.json was written, the process was killed or is still running; "
            f"figures from journal.jsonl and requests.csv{cut}; {go_on}")


def _senders(rows: list[dict[str, str]]) -> int:
    """The sender processes the rows name (0: sent from the main process)."""
    return len({r["worker"] for r in rows if r.get("worker") not in (None, "", "local")})


def _started(started: RunStarted | None, folder: Path) -> datetime:
    if started is not None and started.started_at:
        return datetime.fromisoformat(started.started_at)
    if started is not None:
        return datetime.fromtimestamp(started.at_utc).astimezone()
    return _last_change(folder)


def _last_change(folder: Path) -> datetime:
    return datetime.fromtimestamp((folder / "requests.csv").stat().st_mtime).astimezone()
