"""The plain front end: progress on stderr about once a second, the summary table on stdout."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TextIO

from . import budget, report, stop_signals
from .run.coordinator import RunSnapshot
from .errors import BudgetRefused
from .redaction import Scrubber
from .run.resume import ResumePoint
from .run.runner import Run, RunResult
from .specs import EndpointSpec, RunSuite

ERROR_LINES_PER_PHASE = 5   # more failures are counted on the progress line and kept in errors.log


class HeadlessObserver:
    """Writes log lines and progress lines; never blocks the engine for long."""

    def __init__(self, out: TextIO = sys.stderr, verbose: bool = False,
                 scrubber: Scrubber | None = None):
        self.out = out
        self.verbose = verbose
        self.scrubber = scrubber or Scrubber()
        self._errors_shown: dict[str, int] = {}

    def log(self, level: str, message: str) -> None:
        if level == "error":
            key = message.split(":", 1)[0]
            shown = self._errors_shown.get(key, 0)
            self._errors_shown[key] = shown + 1
            if shown == ERROR_LINES_PER_PHASE and not self.verbose:
                self._write(f"error: {key}: more failures are counted below and kept in errors.log")
            if shown >= ERROR_LINES_PER_PHASE and not self.verbose:
                return
        prefix = "" if level == "info" else f"{level}: "
        self._write(prefix + message)

    def snapshot(self, snap: RunSnapshot) -> None:
        if not snap.phases or snap.stage == "finished":
            return
        self._write(progress_line(snap))

    def _write(self, line: str) -> None:
        line = self.scrubber.scrub(line)
        try:
            self.out.write(f"[tokenflood] {line}\n")
            self.out.flush()
        except OSError:      # the terminal hung up (SIGHUP follows): the run must go on to its results
            pass


def progress_line(snap: RunSnapshot) -> str:
    ph = snap.phases[-1]
    ttft = ph.ttft_ms["p50"]
    e2e = ph.e2e_ms["p50"]
    done = ph.ok + ph.failed
    clock = ("draining" if snap.stage == "draining"
             else f"{min(ph.elapsed_s, ph.length_s):.0f}/{ph.length_s:g} s")
    return (f"phase {ph.phase}/{snap.total_phases} {ph.target_rps:g} req/s {clock}"
            f" | elapsed {snap.elapsed_s:.0f} s | sent {ph.sent}/{ph.planned} | in flight {ph.in_flight}"
            f" | done {done} | failed {ph.failed}"
            f" | TTFT p50 {_ms(ttft)} | e2e p50 {_ms(e2e)}"
            + (f" | CLIENT-BOUND: {ph.client_bound_reason()}" if ph.client_bound else ""))


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} ms"


def confirm(est: budget.BudgetEstimate, assume_yes: bool, err: TextIO = sys.stderr,
            resume: list[str] | None = None) -> None:
    """Show the estimate; refuse over a limit; ask y/N on a terminal unless --yes. `resume`: the
    lines saying where a resumed run stands (ResumePoint.outline); the estimate is what remains."""
    if resume:
        err.write("[tokenflood] resume:\n")
        for line in resume:
            err.write(f"    {line}\n")
    err.write("[tokenflood] budget estimate" + (" of what remains" if resume else "") + ":\n")
    for line in est.lines():
        err.write(f"    {line}\n")
    err.flush()
    budget.enforce_limits(est)
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise BudgetRefused("not confirmed: stdin is not a terminal, so nobody can answer y/N; "
                            "pass --yes to start the run without asking")
    err.write(("Resume" if resume else "Start") + " the run? [y/N] ")   # on stderr: stdout may be piped
    err.flush()
    answer = sys.stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        raise BudgetRefused(("resume" if resume else "run") + " cancelled at the budget confirmation")


def run_headless(suite: RunSuite, endpoint: EndpointSpec, results_root: Path, assume_yes: bool,
                 verbose: bool = False, workers: int = 0, resume: ResumePoint | None = None) -> int:
    """Confirm, run, print; returns the exit code (docs/architecture.md#commands-and-exit-codes)."""
    observer = HeadlessObserver(verbose=verbose, scrubber=Scrubber.for_endpoint(endpoint))
    run = Run(suite, endpoint, results_root, observer, snapshot_interval_s=1.0, workers=workers,
              resume=resume)
    confirm(run.estimate, assume_yes,
            resume=resume.outline(len(run.missed_while_down)) if resume else None)
    result = asyncio.run(_execute(run))
    summary = result.summary
    if summary.status != "completed":
        observer.log("error" if summary.status == "aborted" else "warning",
                     f"run {summary.status}: {summary.message}")
    try:
        print_summary(result)
    except OSError:          # stdout's terminal hung up; the results folder has it all
        pass
    return result.exit_code


STOP_SIGNALS = (signal.SIGINT, *stop_signals.STOP_SIGNALS)    # Ctrl-C, SIGTERM, SIGHUP


async def _execute(run: Run) -> RunResult:
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _on_signal, run, sig)
    try:
        return await run.execute()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def _on_signal(run: Run, sig: int) -> None:
    if sig == signal.SIGHUP:
        stop_signals.detach_dead_terminal()    # an SSH session dropped: nobody reads stderr now
    try:
        sys.stderr.write(f"\n[tokenflood] {signal.Signals(sig).name}: stopping; in-flight requests "
                         "get a few seconds, then the results are written\n")
    except OSError:
        pass
    run.stop()


LAST_POLLS_PRINTED = 10    # a days-long observation has hundreds; summary.md and polls.csv have all


def print_summary(result: RunResult, out: TextIO = sys.stdout) -> None:
    """The phase table (an observation: hours of day and the last polls), failures and warnings,
    and where the results are (also after the TUI)."""
    s = result.summary
    kind = "observation" if s.type == "observation" else "run"
    out.write(f"\ntokenflood {kind} {s.run_name!r} on {s.model}: {s.status}"
              + (f" ({s.message})" if s.message else "") + "\n\n")
    if s.type == "observation":
        for line in report.observation_lines(s):
            out.write(line + "\n")
        out.write("\nby hour of day (UTC):\n" + report.hour_table(s.hours, s.percentiles) + "\n")
        shown = s.polls[-LAST_POLLS_PRINTED:]
        out.write("\npolls:\n" if len(shown) == len(s.polls) else
                  f"\nthe last {len(shown)} of {len(s.polls)} polls (every poll is in summary.md "
                  "and polls.csv):\n")
        out.write(report.poll_table(shown, s.percentiles, reasons=False) + "\n")
        missed = report.missed_lines(s.polls)
        if missed:
            out.write("\nmissed:\n" + "".join(f"  - {line}\n" for line in missed))
        errors = report.poll_failures(s.polls)
    else:
        out.write(report.phase_table(s.phases, s.percentiles) + "\n")
        errors = report.error_table(s.phases)
    if errors:
        out.write("\nfailures:\n" + errors + "\n")
    if s.resumed:
        out.write("\nresumed:\n" + "".join(
            f"  - {line}\n" for line in report.resume_lines(s.resumed, s.type == "observation")))
    if s.warnings:
        out.write("\nwarnings:\n" + "".join(f"  - {w}\n" for w in s.warnings))
    out.write(f"\nresults: {result.folder}\n")
    if result.unsaved:
        out.write(f"not saved (the disk did not take them): {', '.join(result.unsaved)}; "
                  "the table above is the only copy of the summary\n")
    out.flush()
