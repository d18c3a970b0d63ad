"""One run from specs to results folder; both front ends drive this and only watch it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from . import __version__, budget, report
from .engine import Engine, RunOutcome, RunSnapshot
from .errors import EndpointError, TokenfloodError
from .records import RequestRecord
from .results import ResultsFolder
from .schedule import PhasePlan, plan_phases
from .specs import EndpointSpec, RunSuite

EXIT_CODES = {"completed": 0, "aborted": 1, "interrupted": 130}


class RunObserver(Protocol):
    """What a front end receives while a run goes."""

    def log(self, level: str, message: str) -> None: ...
    def snapshot(self, snap: RunSnapshot) -> None: ...


@dataclass(slots=True)
class RunResult:
    summary: dict
    folder: Path
    exit_code: int


class Run:
    """Plan, estimate, then execute once; `stop()` may be called from any thread."""

    def __init__(self, suite: RunSuite, endpoint: EndpointSpec, results_root: Path,
                 observer: RunObserver, snapshot_interval_s: float = 1.0, workers: int = 0):
        self.suite = suite
        self.endpoint = endpoint
        self.results_root = Path(results_root)
        self.observer = observer
        self.plans: list[PhasePlan] = plan_phases(suite)
        self.estimate = budget.estimate(suite, endpoint, self.plans, senders=max(1, workers))
        self._sink = _Sink(observer)
        self.engine = Engine(suite, endpoint, self.plans, self._sink, snapshot_interval_s, workers)

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
        summary = self._write(folder, outcome, started)
        return RunResult(summary, folder.path, EXIT_CODES[outcome.status])

    def _write(self, folder: ResultsFolder, outcome: RunOutcome, started: datetime) -> dict:
        summary = build_summary(self.suite, self.endpoint, self.estimate, outcome, folder, started)
        folder.finish(summary, outcome.phases)
        return summary


class _Sink:
    """Engine → results folder (every record, at once) and the front end (logs, snapshots)."""

    def __init__(self, observer: RunObserver):
        self.observer = observer
        self.folder: ResultsFolder | None = None

    def started(self, t0: float) -> None:
        if self.folder is not None:
            self.folder.t0 = t0

    def record(self, rec: RequestRecord) -> None:
        if self.folder is not None:
            self.folder.write_record(rec)

    def log(self, level: str, message: str) -> None:
        self.observer.log(level, message)

    def snapshot(self, snap: RunSnapshot) -> None:
        self.observer.snapshot(snap)


def build_summary(suite: RunSuite, endpoint: EndpointSpec, est: budget.BudgetEstimate,
                  outcome: RunOutcome, folder: ResultsFolder, started: datetime) -> dict:
    """summary.json (docs/results.md#summaryjson-keys)."""
    return {
        "status": outcome.status,
        "message": outcome.message,
        "tool_version": __version__,
        "client": outcome.client,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "run_name": suite.name,
        "model": endpoint.model,
        "provider": endpoint.provider,
        "base_url": endpoint.base_url,
        "percentiles": suite.percentiles,
        "warnings": list(outcome.warnings),
        "token_counter": outcome.token_counter,
        "template_tokens": outcome.template_tokens,
        "workers": outcome.workers,
        # requests.csv times are seconds since this time.monotonic() reading: system-wide on
        # Linux, so they line up with a server's own monotonic timestamps on the same machine
        "monotonic_origin_s": folder.t0,
        "budget": {
            "estimated_requests": est.requests,
            "estimated_input_tokens": est.input_tokens,
            "estimated_output_tokens": est.output_tokens,
            "actual_input_tokens": folder.input_tokens,
            "actual_output_tokens": folder.output_tokens,
            "estimated_cost_usd": est.cost_usd,
        },
        "client_bound": any(ph.client_bound for ph in outcome.phases),
        "phases": report.phase_dicts(outcome.phases),
        "results_dir": str(folder.path),
    }
