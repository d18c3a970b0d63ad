"""The plain front end: progress on stderr about once a second (an observation: one line per
poll), the summary table on stdout."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .run import budget
from .outputs import formats, printed
from . import stop_signals
from .errors import BudgetRefused
from .live.poll_feed import PollEvent, PollFeed, hms_utc
from .live.limits import headroom_text, throttled_text
from .live.server import ServerFeed, server_line
from .live.throttle import FailureThrottle
from .run.events import (FailedShare, PhaseStarted, PollMissed, RunEvent, VariantEvent,
                         describe)
from .specs.secrets import Scrubber
from .metrics.summary import PhaseStats
from .run.coordinator import RunSnapshot
from .run.resume import ResumePoint
from .compare import output as compare_output
from .compare.compare import Comparison
from .run.experiment import Experiment, Variant
from .run.runner import Run, RunResult
from .specs import EndpointSpec, ObservationSuite, RunSuite

if TYPE_CHECKING:
    from .run.cluster import ClusterTarget

MISSED_RUN_LINE = 3         # this many consecutive missed polls or more are one line (a resume gap)


class HeadlessObserver:
    """Writes the run's events and progress lines; never blocks the coordinator for long.

    For an observation (`suite`), one line per poll when it finishes and one per missed poll,
    instead of the once-a-second progress lines: a run of days under nohup or systemd writes a
    few hundred lines a day, no carriage returns, no colour. `first_poll`: a resumed run's
    earlier polls were reported by the process that ran them."""

    def __init__(self, out: TextIO = sys.stderr, verbose: bool = False,
                 scrubber: Scrubber | None = None, suite: RunSuite | None = None,
                 first_poll: int = 1):
        self.out = out
        self.verbose = verbose
        self.scrubber = scrubber or Scrubber()
        # failures past a few per phase (or one a poll) are counted on the progress (poll) line
        self.throttle = FailureThrottle("on the progress line", "on its poll line",
                                        verbose=verbose)
        self.feed = (PollFeed(suite.interval_s, first_poll)
                     if isinstance(suite, ObservationSuite) else None)
        self.percentiles = suite.percentiles if suite is not None else [50.0]
        self.server = ServerFeed()       # the server's verdict, said when it changes

    def event(self, ev: RunEvent) -> None:
        if self.feed is not None and not self.verbose and said_by_poll_lines(ev):
            return
        shown = self.throttle.admit(ev)
        if shown is not None:
            self.say(*describe(shown))

    def say(self, level: str, text: str) -> None:
        """A line with its level in front (none for info)."""
        self._write(("" if level == "info" else f"{level}: ") + text)

    def snapshot(self, snap: RunSnapshot) -> None:
        if self.feed is not None:
            for line in poll_lines(self.feed, self.feed.update(snap), self.percentiles):
                self._write(line)
            return
        if not snap.phases or snap.stage == "finished":
            return
        self._write(progress_line(snap))
        verdict = self.server.update(snap)
        if verdict is not None:
            self._write(verdict.text)

    def _write(self, line: str) -> None:
        line = self.scrubber.scrub(line)
        try:
            self.out.write(f"[tokenflood] {line}\n")
            self.out.flush()
        except OSError:      # the terminal hung up (SIGHUP follows): the run must go on to its results
            pass


def said_by_poll_lines(ev: RunEvent) -> bool:
    """What an observation's poll lines already say (with the slot time): a poll's start, a
    missed poll, a poll's share of failures."""
    if isinstance(ev, VariantEvent):
        return said_by_poll_lines(ev.event)
    return ((isinstance(ev, PhaseStarted | FailedShare) and ev.unit == "poll")
            or isinstance(ev, PollMissed))


def poll_lines(feed: PollFeed, events: list[PollEvent], percentiles: list[float]) -> list[str]:
    """One line per finished poll, one per missed poll; a run of consecutive missed polls (the
    gap a resume records) is one line."""
    lines: list[str] = []
    i = 0
    while i < len(events):
        j = i
        if events[i].missed is not None:
            while (j + 1 < len(events) and events[j + 1].missed == events[i].missed
                   and events[j + 1].poll == events[j].poll + 1):
                j += 1
        run = events[i:j + 1]
        if run[0].missed is None:
            lines.append(poll_line(feed, run[0], percentiles))
        elif len(run) < MISSED_RUN_LINE:
            lines.extend(missed_line(feed, e.poll, e.poll, e.missed or "") for e in run)
        else:
            lines.append(missed_line(feed, run[0].poll, run[-1].poll, run[0].missed or ""))
        i = j + 1
    return lines


def poll_line(feed: PollFeed, event: PollEvent, percentiles: list[float]) -> str:
    """'poll 12/288 12:00:00 UTC done: sent 3, ok 3, failed 0 | TTFT p50/p90/p99 53.1/60.2/71.0
    ms | e2e p50/p90/p99 125.0/172.1/180.3 ms | next poll 12:15:00 UTC'"""
    ph = event.stats
    assert ph is not None
    done = "stopped" if event.stopped else "done"
    failed = f"failed {ph.failed}" + (f" ({event.failures})" if ph.failed else "")
    room = headroom_text(ph)
    sent = f"sent {ph.sent} of {ph.planned}" if event.stopped else f"sent {ph.sent}"
    return (f"poll {_where(feed, event.poll)} {done}: {sent}, ok {ph.ok}, {failed}"
            f" | TTFT {formats.percentiles(ph.ttft_ms, percentiles, 1, collapse=False)}"
            + (f" | TTFA {formats.percentiles(ph.ttfa_ms, percentiles, 1, collapse=False)}"
               if ph.reasoning else "")
            + f" | e2e {formats.percentiles(ph.e2e_ms, percentiles, 1, collapse=False)}"
            + (f" | {room}" if room else "")
            + ("" if event.stopped else _next(feed, event.poll)))


def missed_line(feed: PollFeed, first: int, last: int, reason: str) -> str:
    """'poll 13/288 12:15:00 UTC missed: …', or for a run of them 'polls 5-100/288
    12:00:00-11:45:00 UTC missed (96 slots): …'"""
    if first == last:
        return f"warning: poll {_where(feed, first)} missed: {reason}{_next(feed, last)}"
    start, end = feed.slot_utc(first), feed.slot_utc(last)
    slots = f" {hms_utc(start)}-{hms_utc(end)} UTC" if start is not None and end is not None else ""
    return (f"warning: polls {first}-{last}/{feed.total}{slots} missed ({last - first + 1} "
            f"slots): {reason}{_next(feed, last)}")


def _where(feed: PollFeed, poll: int) -> str:
    slot = feed.slot_utc(poll)
    return f"{poll}/{feed.total}" + (f" {hms_utc(slot)} UTC" if slot is not None else "")


def _next(feed: PollFeed, poll: int) -> str:
    if poll >= feed.total:
        return " | that was the last poll"
    slot = feed.slot_utc(poll + 1)
    return f" | next poll {hms_utc(slot)} UTC" if slot is not None else ""


def progress_line(snap: RunSnapshot) -> str:
    """'phase 1/3 10 req/s 4/10 s | elapsed 4 s | sent 40/100 | in flight 2 | done 38 | …'; a
    session phase says its sessions first: '… 2 sessions/s 4/10 s | elapsed 4 s | sessions 8/20
    started, in flight 5 | requests sent 31, in flight 2 | done 29 | …'; then the server's own
    figures where its metrics are read ('… | server: 2 running, 14 waiting, KV 100%, …')."""
    ph = snap.phases[-1]
    ttft = ph.ttft_ms["p50"]
    e2e = ph.e2e_ms["p50"]
    done = ph.ok + ph.failed
    clock = ("draining" if snap.stage == "draining"
             else f"{min(ph.elapsed_s, ph.length_s):.0f}/{ph.length_s:g} s")
    return ((f"{snap.label}: " if snap.label else "")
            + f"phase {ph.phase}/{snap.total_phases} {ph.target_rps:g} {ph.unit} {clock}"
            f" | elapsed {snap.elapsed_s:.0f} s | "
            + (_sessions_progress(snap, ph) if ph.sessions is not None else
               f"sent {ph.sent}/{ph.planned} | in flight {ph.in_flight}")
            + f" | done {done} | failed {ph.failed}"
            + (f" ({throttled})" if (throttled := throttled_text(ph)) else "")
            + f" | TTFT p50 {formats.ms(ttft, 1)}"
            + (f" | TTFA p50 {formats.ms(ph.ttfa_ms['p50'], 1)}" if ph.reasoning else "")
            + f" | e2e p50 {formats.ms(e2e, 1)}"
            + (f" | {server}" if (server := server_line(snap.server)) else "")
            + (f" | {room}" if (room := headroom_text(ph)) else "")
            + (f" | CLIENT-BOUND: {ph.client_bound_reason()}" if ph.client_bound else ""))


def _sessions_progress(snap: RunSnapshot, ph: PhaseStats) -> str:
    """The phase's sessions (started of planned, in flight; those of earlier phases still going
    on in brackets) and its requests (sent so far: a session's script is an upper bound)."""
    st = ph.sessions
    assert st is not None
    earlier = sum(p.sessions.in_flight for p in snap.phases[:-1] if p.sessions is not None)
    return (f"sessions {st.started}/{st.planned} started, in flight {st.in_flight}"
            + (f" (+{earlier} of earlier phases)" if earlier else "")
            + f" | requests sent {ph.sent}, in flight {ph.in_flight}")


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
                 verbose: bool = False, workers: int = 0, resume: ResumePoint | None = None,
                 cluster: ClusterTarget | None = None, fmt: str = "md") -> int:
    """Confirm, run, print (in `fmt`: text, md or json); returns the exit code
    (docs/architecture.md#commands-and-exit-codes)."""
    observer = HeadlessObserver(verbose=verbose, scrubber=Scrubber.for_endpoint(endpoint),
                                suite=suite, first_poll=resume.start if resume else 1)
    run = Run(suite, endpoint, results_root, observer, snapshot_interval_s=1.0, workers=workers,
              resume=resume, cluster=cluster)
    confirm(run.estimate, assume_yes,
            resume=resume.outline(len(run.missed_while_down)) if resume else None)
    result = asyncio.run(_execute(run))
    summary = result.summary
    if summary.status != "completed":
        observer.say("error" if summary.status == "aborted" else "warning",
                     f"run {summary.status}: {summary.message}")
    try:
        print_summary(result, fmt=fmt)
    except OSError:          # stdout's terminal hung up; the results folder has it all
        pass
    return result.exit_code


def run_ab_headless(suite: RunSuite, variants: list[Variant], results_root: Path,
                    assume_yes: bool, rounds: int, verbose: bool = False, workers: int = 0,
                    fmt: str = "md") -> int:
    """An A/B experiment: confirm the budget of every variant together, run the turns, print the
    comparison (the variants' own summaries are in their folders)."""
    from .specs.secrets import endpoint_secrets
    scrubber = Scrubber([s for v in variants for s in endpoint_secrets(v.endpoint)])
    observer = HeadlessObserver(verbose=verbose, scrubber=scrubber)
    experiment = Experiment(suite, variants, results_root, observer, rounds, workers)  # type: ignore[arg-type]
    sys.stderr.write(f"[tokenflood] A/B experiment: {len(variants)} variants "
                     f"({', '.join(v.name for v in variants)}), {rounds} round(s) per rate, "
                     f"{len(experiment.turns)} phases in turns\n")
    confirm(experiment.estimate, assume_yes)
    result = asyncio.run(_execute(experiment))
    try:
        print_experiment(result.comparison, result.folder, fmt)
    except OSError:
        pass
    return result.exit_code


def print_experiment(comparison: Comparison | None, folder: Path, fmt: str,
                     out: TextIO = sys.stdout) -> None:
    """An experiment's comparison (also after the TUI) in `fmt`, and where its folder is (on
    stderr with json, so stdout holds the JSON alone)."""
    if comparison is not None:
        out.write(compare_output.printed(comparison, fmt, shutil.get_terminal_size().columns))
    (sys.stderr if fmt == "json" else out).write(f"\nexperiment folder: {folder}\n")
    out.flush()


STOP_SIGNALS = (signal.SIGINT, *stop_signals.STOP_SIGNALS)    # Ctrl-C, SIGTERM, SIGHUP


async def _execute(run):
    """`run` is a Run or an Experiment: both execute once and stop on a signal (a second one:
    at once, without the grace for requests in flight)."""
    loop = asyncio.get_running_loop()
    signals: list[int] = []
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, _on_signal, run, sig, signals)
    try:
        return await run.execute()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


def _on_signal(run, sig: int, before: list[int]) -> None:
    if sig == signal.SIGHUP:
        stop_signals.detach_dead_terminal()    # an SSH session dropped: nobody reads stderr now
    again = bool(before)
    before.append(sig)
    name = signal.Signals(sig).name
    try:
        sys.stderr.write(
            f"\n[tokenflood] {name} again: stopping at once; requests in flight are recorded as "
            "cancelled, then the results are written\n" if again else
            f"\n[tokenflood] {name}: stopping; in-flight requests get a few seconds, then the "
            "results are written (again to stop at once)\n")
    except OSError:
        pass
    run.stop(stop_signals.reason(before[0]), now=again)


def print_summary(result: RunResult, out: TextIO = sys.stdout, fmt: str = "md",
                  width: int | None = None) -> None:
    """The run's summary (also after the TUI): `text` fitted to `width` (the terminal's by
    default), `md` every column as pipe tables, `json` summary.json's content; then where the
    results are, and what the disk did not take."""
    s = result.summary
    if fmt == "json":
        out.write(s.to_json())
    elif fmt == "text":
        out.write(printed.text(s, result.folder, width or shutil.get_terminal_size().columns))
    else:
        out.write(printed.markdown(s, result.folder))
    if result.unsaved:
        # with json on stdout, a script reads the summary there: the note goes to stderr
        (sys.stderr if fmt == "json" else out).write(
            f"not saved (the disk did not take them): {', '.join(result.unsaved)}; "
            "the table above is the only copy of the summary\n")
    out.flush()
