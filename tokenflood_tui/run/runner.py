"""One run from specs to results folder; both front ends drive this and only watch it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from .. import __version__
from . import budget, preflight
from ..errors import BudgetRefused, EndpointError, TokenfloodError
from ..metrics.records import RequestRecord, SessionRecord
from ..outputs.folder import ResultsFolder, mark_superseded, read_rows, utc_iso
from ..outputs.state import recall_limits
from ..metrics.saturation import first_queue, saturation_point
from ..metrics.server import ServerPoint
from ..specs import EndpointSpec, ObservationSuite, RunSuite, SearchSuite
from .stats import PhaseAccumulator, hours_table
from ..metrics.thresholds import EXIT_THRESHOLD_FAILED, failed, threshold_results
from ..metrics.summary import (BudgetFigures, ObservationInfo, PhaseStats, PollStats, ResumeInfo, RunSummary,
                               SearchResult)
from . import search
from .search import SearchPlanner
from .coordinator import (Coordinator, RunOutcome, RunSnapshot, Spend, TokenLimit,
                          start_lead_s)
from ..outputs.journal import PhaseFinished, PhaseStarted, RunEnded, RunStarted, SlotMissed
from .plan import (LoadTestPlanner, MissedSlot, NoPlan, ObservationPlanner, Planner,
                   first_slot)
from .events import FolderOpened, Note, Resuming, RunEvent
from .resume import NOT_RUNNING, ResumePoint, resume_entry
from .schedule import PhasePlan

if TYPE_CHECKING:
    from .cluster import ClusterTarget

EXIT_CODES = {"completed": 0, "aborted": 1, "interrupted": 130}


class RunObserver(Protocol):
    """What a front end receives while a run goes."""

    def event(self, ev: RunEvent) -> None: ...       # what happened (run/events.py)
    def snapshot(self, snap: RunSnapshot) -> None: ...


@dataclass(slots=True)
class RunResult:
    summary: RunSummary
    folder: Path
    exit_code: int
    unsaved: list[str] = field(default_factory=list)   # files a full disk did not take


class Run:
    """Plan, estimate, then execute once; `stop()` may be called from any thread.

    `resume`: go on with the run in that results folder (run/resume.py) instead of a new one."""

    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, results_root: Path,
                 observer: RunObserver, snapshot_interval_s: float = 1.0, workers: int = 0,
                 resume: ResumePoint | None = None,
                 planner: Callable[[], Planner] | None = None, folder_name: str | None = None,
                 cluster: ClusterTarget | None = None):
        self.suite = suite
        self.folder_name = folder_name      # instead of <time>_<run>_<model> (an A/B variant)
        self.endpoint = endpoint
        self.results_root = Path(results_root)
        self.observer = observer
        self.resume = resume
        # Config checks first (nothing created or sent), then the budget: a run over a limit
        # whatever its plan draws gets no plan at all (planner None, estimate.at_least).
        preflight.check_run(endpoint, resume.folder.parent if resume else self.results_root)
        lead = start_lead_s(workers, cluster is not None)
        now = time.time()
        # the rate limits this endpoint announced last: the budget holds the plan against them
        # before anything is sent (the warm-up reads them again, and warns again)
        seen = recall_limits(endpoint)
        self.planner, self.estimate = budget.plan_and_estimate(
            suite, endpoint, planner or (lambda: make_planner(
                suite, now, lead, resume.anchor_utc if resume else None,
                resume.start if resume else 1)),
            senders=max(1, workers), lower_bound_first=resume is None, seen=seen)
        self.missed_while_down: list[MissedSlot] = []
        if resume is not None and isinstance(self.planner, ObservationPlanner):
            self.missed_while_down = self.planner.skip_until(now, NOT_RUNNING)
            self.estimate = budget.estimate(
                suite, endpoint, self.planner.remaining, max(1, workers),
                load_seconds=max(0.0, (self.planner.ends_utc(now) or now) - now),
                ends_utc=self.planner.ends_utc(now), seen=seen)
        self._sink = _Sink(observer, resume)
        self.coordinator = Coordinator(
            suite, endpoint, self.planner or NoPlan(), self._sink,
            snapshot_interval_s, workers, done=resume.done if resume else None, cluster=cluster,
            spend=spend_of(self.estimate))
        if resume is not None:
            self.coordinator.missed += resume.missed
        self._sink.coordinator = self.coordinator

    @property
    def plans(self) -> list[PhasePlan]:
        """What the run has still to send (empty when its budget refused it before planning)."""
        return self.planner.remaining if self.planner else []

    def stop(self, reason: str = "stopped by the user", now: bool = False) -> None:
        """Stop the run (`reason`: what the summary says; `now`: no grace for the requests in
        flight). Safe from any thread."""
        self.coordinator.stop("interrupted", reason, now)

    async def execute(self) -> RunResult:
        """Run the suite and write the results folder, whatever happens on the way."""
        started = datetime.now().astimezone()
        folder = self._open_folder(started)
        self._sink.folder, self._sink.started_at = folder, started
        self.observer.event(FolderOpened(folder.path))
        for slot in self.missed_while_down:
            self.coordinator.missed.append(slot)
            self._sink.missed(slot)
        try:
            outcome = await self.coordinator.run()
        except TokenfloodError as exc:
            # The endpoint or config could not serve the run: no load was sent. A new run's
            # folder would hold nothing measured ("aborted, resumable" with no row): it goes.
            if self.resume is None and not folder.measured:
                folder.discard()
                raise type(exc)(f"{exc}\n(nothing was sent: no results folder kept)") from None
            folder.log_error(str(exc))
            outcome = self.coordinator.outcome()
            outcome.status, outcome.message = "aborted", str(exc)
            self._write(folder, outcome, started)
            if isinstance(exc, EndpointError):
                raise EndpointError(f"{exc}\n(results folder: {folder.path})") from None
            raise
        except BaseException as exc:
            outcome = self.coordinator.outcome()
            outcome.status, outcome.message = "aborted", f"internal error: {exc!r}"
            folder.log_error(outcome.message)
            self._write(folder, outcome, started)
            raise
        if outcome.message and outcome.status == "aborted":
            folder.log_error(f"run aborted: {outcome.message}")
        summary, unsaved = self._write(folder, outcome, started)
        return RunResult(summary, folder.path, exit_code(summary), unsaved)

    def _open_folder(self, started: datetime) -> ResultsFolder:
        resume = self.resume
        if resume is None:
            return ResultsFolder(self.results_root, self.suite, self.endpoint, started,
                                 name=self.folder_name)
        superseded = mark_superseded(resume.folder, lambda phase: phase in resume.superseded)
        folder = ResultsFolder(self.results_root, self.suite, self.endpoint, started,
                               existing=resume.folder)
        folder.journal(resume_entry(resume, time.time(), superseded))
        self._sink.resumed = ResumeInfo(
            at=started.isoformat(timespec="seconds"), from_phase=resume.start,
            superseded_rows=superseded, missed_polls=len(self.missed_while_down))
        self.observer.event(Resuming(resume.folder.name,
                                     "poll" if resume.observation else "phase", resume.start,
                                     superseded))
        return folder

    def _write(self, folder: ResultsFolder, outcome: RunOutcome,
               started: datetime) -> tuple[RunSummary, list[str]]:
        folder.journal(RunEnded(at_utc=time.time(), status=outcome.status))
        summary = build_summary(self.suite, self.endpoint, self.estimate, outcome, folder,
                                self._sink.first_started(started), self._sink.all_resumes(),
                                self._search_answer(outcome, folder))
        # messages and warnings may quote what a server echoed: scrubbed once, for the files and
        # for the front ends alike
        summary = RunSummary.model_validate(
            folder.scrubber.scrub_data(summary.model_dump(mode="json")))
        unsaved = folder.finish(summary)
        # imported here: the page's code stays out of start-up (tests/unit/test_import_hygiene.py)
        from ..report import run as report_page
        try:
            report_page.write(folder.path, summary, folder.scrubber.scrub)
        except OSError:
            unsaved.append(report_page.REPORT_FILE)
            (folder.path / report_page.REPORT_FILE).unlink(missing_ok=True)
        except Exception as exc:       # a bug in the page must not cost the run its exit code
            self.observer.event(Note("error", f"report.html not written (internal error: "
                                              f"{exc!r}); `tokenflood report {folder.path}` "
                                              "tries again"))
        if unsaved:
            self.observer.event(Note("error", f"could not write {', '.join(unsaved)} in "
                                              f"{folder.path}: "
                                              f"{folder.write_error or 'the disk is full'}"))
        return summary, unsaved


    def _search_answer(self, outcome: RunOutcome, folder: ResultsFolder) -> SearchResult | None:
        planner = self.planner
        if not isinstance(planner, SearchPlanner) or not isinstance(self.suite, SearchSuite):
            return None
        price = budget.lookup_price(self.endpoint)
        return search.answer(
            self.suite, outcome.phases, planner.steps,
            planner.stopped_because or (f"the run was {outcome.status}"
                                        if outcome.status != "completed" else None),
            read_rows(folder.path),
            (price.input_per_token, price.output_per_token) if price else None,
            f"litellm's price for {price.source}" if price else None)


def make_planner(suite: RunSuite, now_utc: float, lead_s: float, anchor_utc: float | None = None,
                 start: int = 1) -> Planner:
    """The planner for a suite's kind; `anchor_utc` and `start` continue a resumed run."""
    if isinstance(suite, ObservationSuite):
        anchor = anchor_utc if anchor_utc is not None else first_slot(suite, now_utc, lead_s)
        return ObservationPlanner(suite, anchor, start)
    if isinstance(suite, SearchSuite):
        return SearchPlanner(suite)
    return LoadTestPlanner(suite, start)


class _Sink:
    """Coordinator → results folder (every record at once, the journal) and the front end
    (events, snapshots)."""

    def __init__(self, observer: RunObserver, resume: ResumePoint | None):
        self.observer = observer
        self.resume_point = resume
        self.resumed: ResumeInfo | None = None
        self.folder: ResultsFolder | None = None
        self.coordinator: Coordinator | None = None
        self.started_at: datetime | None = None

    def first_started(self, started: datetime) -> datetime:
        """When the run began: this process's start, or the first one's on a resume."""
        if self.resume_point is not None and self.resume_point.started_at:
            return datetime.fromisoformat(self.resume_point.started_at)
        return started

    def all_resumes(self) -> list[ResumeInfo]:
        earlier = self.resume_point.resumed if self.resume_point else []
        return [*earlier, *([self.resumed] if self.resumed else [])]

    def started(self, t0: float) -> None:
        folder, resume = self.folder, self.resume_point
        if folder is None or self.coordinator is None:
            return
        now_utc = time.time()
        if resume is not None and resume.origin_utc is not None:
            # the first run's origin, so requests.csv times go on across the gap
            folder.set_origin(t0 - (now_utc - resume.origin_utc), resume.origin_utc)
            return
        folder.set_origin(t0, now_utc)
        planner = self.coordinator.planner
        folder.journal(RunStarted(
            kind=planner.kind, at_utc=now_utc, phases=len(planner.plans),
            anchor_utc=getattr(planner, "anchor_utc", None),
            started_at=self.started_at.isoformat(timespec="seconds") if self.started_at else None))

    def phase_started(self, plan: PhasePlan, t_start: float) -> None:
        if self.folder is not None:
            self.folder.journal(PhaseStarted(phase=plan.phase, at_utc=time.time()))

    def phase_finished(self, stats: PhaseStats) -> None:
        if self.folder is not None:
            self.folder.journal(PhaseFinished(phase=stats.phase, at_utc=time.time(), stats=stats))

    def missed(self, slot: MissedSlot) -> None:
        if self.folder is not None:
            self.folder.journal(SlotMissed(phase=slot.phase, slot_utc=slot.slot_utc,
                                           reason=slot.reason))

    def record(self, rec: RequestRecord) -> None:
        folder = self.folder
        if folder is None or folder.write_record(rec) or folder.unwritten > 1:
            return
        # The first row the disk did not take: stop the load, so nothing more is measured that
        # cannot be kept; the summary still counts every request that finished.
        message = (f"cannot write {folder.path / 'requests.csv'}: {folder.write_error}; stopped "
                   f"the load. requests.csv keeps the {folder.rows} rows written before; rows "
                   "measured after that are counted in the summary only")
        self.observer.event(Note("error", message))
        if self.coordinator is not None:
            self.coordinator.stop("aborted", message)

    def session(self, session: SessionRecord) -> None:
        if self.folder is not None:
            self.folder.write_session(session)

    def event(self, ev: RunEvent) -> None:
        self.observer.event(ev)

    def snapshot(self, snap: RunSnapshot) -> None:
        self.observer.snapshot(snap)

    def server_point(self, point: ServerPoint) -> None:
        if self.folder is not None:
            self.folder.write_server_point(point)

    def server_scrape(self, t: float, text: str) -> None:
        if self.folder is not None:
            self.folder.write_server_scrape(t, text)


def spend_of(estimate: budget.BudgetEstimate) -> Spend:
    """What a run (or an A/B experiment, all its variants) may spend: the estimate's limits."""
    return Spend((TokenLimit(budget.MAX_INPUT_VAR, estimate.max_input_tokens,
                             estimate.input_tokens),
                  TokenLimit(budget.MAX_OUTPUT_VAR, estimate.max_output_tokens,
                             estimate.output_tokens)))


def exit_code(summary: RunSummary) -> int:
    """0, 1 or 130 by how the run ended; 4 for a completed run that failed a threshold (an
    aborted or interrupted one keeps its own code)."""
    if summary.budget.stopped_at_limit:
        return BudgetRefused.exit_code        # the spend reached a limit: as a refused budget
    code = EXIT_CODES[summary.status]
    if code == 0 and failed(summary.thresholds):
        return EXIT_THRESHOLD_FAILED
    return code


class SummaryFolder(Protocol):
    """What a summary says of its folder: a run's ResultsFolder, or one on disk that a killed
    run left (run/partial.py)."""

    @property
    def path(self) -> Path: ...
    @property
    def t0(self) -> float | None: ...
    @property
    def origin_utc(self) -> float | None: ...
    @property
    def unwritten(self) -> int: ...
    @property
    def write_error(self) -> str | None: ...


def build_summary(suite: RunSuite, endpoint: EndpointSpec, est: budget.BudgetEstimate,
                  outcome: RunOutcome, folder: SummaryFolder, started: datetime,
                  resumed: list[ResumeInfo] | None = None,
                  search_result: SearchResult | None = None) -> RunSummary:
    """summary.json (docs/results.md)."""
    message = outcome.message
    if folder.unwritten:
        message = (f"{message}; " if message else "") + (
            f"{folder.unwritten} finished request(s) could not be written to requests.csv "
            f"({folder.write_error}); they are counted here")
    observation = isinstance(suite, ObservationSuite)
    polls = poll_list(suite, outcome) if isinstance(suite, ObservationSuite) else []
    # a load test's saturation verdict (its phases'), and the thresholds over phases or polls
    point = None if observation else saturation_point(outcome.phases)
    warnings = list(outcome.warnings) + ([point.warning()] if point is not None else [])
    thresholds = threshold_results(suite.threshold_checks, polls if observation else outcome.phases)
    return RunSummary(
        type="observation" if observation else "search" if isinstance(suite, SearchSuite)
        else "load_test",
        workload="requests" if isinstance(suite, ObservationSuite) or not suite.sessions
        else "sessions",
        status=outcome.status,
        message=message,
        stopped_by_throttle=outcome.stopped_by_throttle,
        first_throttled=next((ph.phase for ph in outcome.phases
                              if ph.rate_limits is not None and ph.rate_limits.throttled), None),
        tool_version=__version__,
        client=outcome.client,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        run_name=suite.name,
        model=endpoint.model,
        provider=endpoint.provider,
        base_url=endpoint.base_url,
        percentiles=suite.percentiles,
        warnings=warnings,
        token_counter=outcome.token_counter,
        template_tokens=outcome.template_tokens,
        prompts="reused" if suite.reuse_prompts else "fresh",
        workers=outcome.workers,
        monotonic_origin_s=folder.t0,
        origin_utc=folder.origin_utc,
        budget=BudgetFigures(
            estimated_requests=est.requests,
            estimated_input_tokens=est.input_tokens,
            estimated_output_tokens=est.output_tokens,
            actual_input_tokens=sum(ph.input_tokens for ph in outcome.phases),
            actual_output_tokens=sum(ph.output_tokens for ph in outcome.phases),
            estimated_cost_usd=est.cost_usd,
            stopped_at_limit=outcome.stopped_at_limit,
        ),
        client_bound=any(ph.client_bound for ph in outcome.phases),
        saturated_at_rps=point.saturated.target_rps if point is not None else None,
        held_rps=point.held.target_rps if point is not None and point.held is not None else None,
        thresholds=thresholds,
        phases=[] if observation else outcome.phases,
        polls=polls,
        hours=hours_table(read_rows(folder.path), suite.percentiles) if observation else [],
        observation=ObservationInfo(
            interval_s=suite.interval_s, polls=suite.polls, num_requests=suite.num_requests,
            within_seconds=suite.within_seconds, duration_hours=suite.duration_hours,
            align=suite.align) if isinstance(suite, ObservationSuite) else None,
        resumed=resumed or [],
        search=search_result,
        cluster=outcome.cluster,
        server=first_queue(outcome.server, outcome.phases) if not observation else outcome.server,
        results_dir=str(folder.path),
    )


def poll_list(suite: ObservationSuite, outcome: RunOutcome) -> list[PollStats]:
    """Every poll that ran or was missed, in slot order; a missed one has zero counts."""
    anchor = outcome.anchor_utc
    polls = [PollStats(**ph.model_dump(), slot_utc=utc_iso(
        anchor + (ph.phase - 1) * suite.interval_s, "seconds")) for ph in outcome.phases] \
        if anchor is not None else []
    ran = {p.phase for p in polls}
    for slot in outcome.missed:
        if slot.phase in ran:
            continue
        empty = PhaseAccumulator(slot.phase, suite.num_requests / suite.within_seconds,
                                 suite.within_seconds, suite.num_requests, suite.percentiles).stats()
        polls.append(PollStats(**empty.model_dump(), slot_utc=utc_iso(slot.slot_utc, "seconds"),
                               missed=slot.reason))
    return sorted(polls, key=lambda p: p.phase)
