"""One run from specs to results folder; both front ends drive this and only watch it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from . import __version__, budget, preflight
from .engine import Engine, RunOutcome, RunSnapshot
from .errors import EndpointError, TokenfloodError
from .records import RequestRecord
from .results import ResultsFolder
from .schedule import PhasePlan
from .specs import EndpointSpec, RunSuite
from .summary import BudgetFigures, RunSummary

EXIT_CODES = {"completed": 0, "aborted": 1, "interrupted": 130}


class RunObserver(Protocol):
    """What a front end receives while a run goes."""

    def log(self, level: str, message: str) -> None: ...
    def snapshot(self, snap: RunSnapshot) -> None: ...


@dataclass(slots=True)
class RunResult:
    summary: RunSummary
    folder: Path
    exit_code: int
    unsaved: list[str] = field(default_factory=list)   # files a full disk did not take


class Run:
    """Plan, estimate, then execute once; `stop()` may be called from any thread."""

    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, results_root: Path,
                 observer: RunObserver, snapshot_interval_s: float = 1.0, workers: int = 0):
        self.suite = suite
        self.endpoint = endpoint
        self.results_root = Path(results_root)
        self.observer = observer
        # Config checks first (nothing created or sent), then the budget: a run over a limit
        # whatever its plan draws gets no plan at all (plans == [], estimate.at_least).
        preflight.check_run(endpoint, self.results_root)
        self.plans: list[PhasePlan]
        self.plans, self.estimate = budget.plan_and_estimate(suite, endpoint, senders=max(1, workers))
        self._sink = _Sink(observer)
        self.engine = Engine(suite, endpoint, self.plans, self._sink, snapshot_interval_s, workers)
        self._sink.engine = self.engine

    def stop(self) -> None:
        self.engine.stop("interrupted", "stopped by the user")

    async def execute(self) -> RunResult:
        """Run the suite and write the results folder, whatever happens on the way."""
        started = datetime.now().astimezone()
        folder = ResultsFolder(self.results_root, self.suite, self.endpoint, started)
        self._sink.folder = folder
        self.observer.log("info", f"results folder: {folder.path}")
        try:
            outcome = await self.engine.run()
        except TokenfloodError as exc:
            # The endpoint or config could not serve the run: no load was sent.
            folder.log_error(str(exc))
            outcome = self.engine.outcome()
            outcome.status, outcome.message = "aborted", str(exc)
            self._write(folder, outcome, started)
            if isinstance(exc, EndpointError):
                raise EndpointError(f"{exc}\n(results folder: {folder.path})") from None
            raise
        except BaseException as exc:
            outcome = self.engine.outcome()
            outcome.status, outcome.message = "aborted", f"internal error: {exc!r}"
            folder.log_error(outcome.message)
            self._write(folder, outcome, started)
            raise
        if outcome.message and outcome.status == "aborted":
            folder.log_error(f"run aborted: {outcome.message}")
        summary, unsaved = self._write(folder, outcome, started)
        return RunResult(summary, folder.path, EXIT_CODES[outcome.status], unsaved)

    def _write(self, folder: ResultsFolder, outcome: RunOutcome,
               started: datetime) -> tuple[RunSummary, list[str]]:
        summary = build_summary(self.suite, self.endpoint, self.estimate, outcome, folder, started)
        # messages and warnings may quote what a server echoed: scrubbed once, for the files and
        # for the front ends alike
        summary = RunSummary.model_validate(
            folder.scrubber.scrub_data(summary.model_dump(mode="json")))
        unsaved = folder.finish(summary)
        if unsaved:
            self.observer.log("error", f"could not write {', '.join(unsaved)} in {folder.path}: "
                                       f"{folder.write_error or 'the disk is full'}")
        return summary, unsaved


class _Sink:
    """Engine → results folder (every record, at once) and the front end (logs, snapshots)."""

    def __init__(self, observer: RunObserver):
        self.observer = observer
        self.folder: ResultsFolder | None = None
        self.engine: Engine | None = None

    def started(self, t0: float) -> None:
        if self.folder is not None:
            self.folder.t0 = t0

    def record(self, rec: RequestRecord) -> None:
        folder = self.folder
        if folder is None or folder.write_record(rec) or folder.unwritten > 1:
            return
        # The first row the disk did not take: stop the load, so nothing more is measured that
        # cannot be kept; the summary still counts every request that finished.
        message = (f"cannot write {folder.path / 'requests.csv'}: {folder.write_error}; stopped "
                   f"the load. requests.csv keeps the {folder.rows} rows written before; rows "
                   "measured after that are counted in the summary only")
        self.observer.log("error", message)
        if self.engine is not None:
            self.engine.stop("aborted", message)

    def log(self, level: str, message: str) -> None:
        self.observer.log(level, message)

    def snapshot(self, snap: RunSnapshot) -> None:
        self.observer.snapshot(snap)


def build_summary(suite: RunSuite, endpoint: EndpointSpec, est: budget.BudgetEstimate,
                  outcome: RunOutcome, folder: ResultsFolder, started: datetime) -> RunSummary:
    """summary.json (docs/results.md)."""
    message = outcome.message
    if folder.unwritten:
        message = (f"{message}; " if message else "") + (
            f"{folder.unwritten} finished request(s) could not be written to requests.csv "
            f"({folder.write_error}); they are counted here")
    return RunSummary(
        status=outcome.status,
        message=message,
        tool_version=__version__,
        client=outcome.client,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        run_name=suite.name,
        model=endpoint.model,
        provider=endpoint.provider,
        base_url=endpoint.base_url,
        percentiles=suite.percentiles,
        warnings=list(outcome.warnings),
        token_counter=outcome.token_counter,
        template_tokens=outcome.template_tokens,
        prompts="reused" if suite.reuse_prompts else "fresh",
        workers=outcome.workers,
        monotonic_origin_s=folder.t0,
        budget=BudgetFigures(
            estimated_requests=est.requests,
            estimated_input_tokens=est.input_tokens,
            estimated_output_tokens=est.output_tokens,
            actual_input_tokens=sum(ph.input_tokens for ph in outcome.phases),
            actual_output_tokens=sum(ph.output_tokens for ph in outcome.phases),
            estimated_cost_usd=est.cost_usd,
        ),
        client_bound=any(ph.client_bound for ph in outcome.phases),
        phases=outcome.phases,
        results_dir=str(folder.path),
    )
