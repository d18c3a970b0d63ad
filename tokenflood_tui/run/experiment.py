"""An A/B experiment: one load-test suite against several endpoints ("variants") as
one experiment. For every rate, each variant's phase runs in turn, in a seeded order over N
rounds — a random order, then its reverse (ABBA blocks) — so drift of the server, the network or
the provider over the hour falls on every variant alike.

Each variant is an ordinary run (runner.Run) with a results folder of its own under the
experiment's folder; its planner (TurnPlanner) waits for its turn from the experiment's
Conductor. A variant's suite is the suite with each rate repeated once per round, so its folder
reads as a normal load test; the arrival schedule of a rate's round is the same for every variant.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from . import budget
from ..compare import folder as compare_folder
from ..compare.compare import Comparison, compare
from ..errors import ConfigError, TokenfloodError
from ..outputs.experiment import EXPERIMENT_FILE
from ..outputs.folder import unique_path
from ..specs import EndpointSpec, LoadTestSuite, slugify
from ..metrics.summary import PhaseStats
from .coordinator import RunSnapshot
from .events import RunEvent, TurnStarted, VariantEnded, VariantEvent
from .plan import LoadTestPlanner
from .runner import Run, RunObserver, RunResult, spend_of
from .schedule import PhasePlan

DEFAULT_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Turn:
    """One phase of one variant: the rate's index, the round (1-based), the variant's index and
    the phase's number in the variant's own folder."""

    rate_index: int
    round: int
    variant: int
    phase: int


def interleave(rates: int, variants: int, rounds: int, seed: int) -> list[Turn]:
    """Every turn of the experiment in order: per rate, per round, the variants in a seeded
    random order, reversed in every second round."""
    rng = np.random.default_rng([seed, 0xAB])
    turns: list[Turn] = []
    for i in range(rates):
        order: list[int] = []
        for r in range(rounds):
            order = [int(v) for v in rng.permutation(variants)] if r % 2 == 0 else order[::-1]
            turns += [Turn(i, r + 1, v, i * rounds + r + 1) for v in order]
    return turns


def variant_suite(suite: LoadTestSuite, rounds: int) -> LoadTestSuite:
    """The suite as one variant runs it: each rate once per round, in a row."""
    rates = [rate for rate in suite.rates for _ in range(rounds)]
    return suite.model_copy(update={suite.rate_key: rates})


class Conductor:
    """Hands out the turns in order: a variant's phase starts when the previous turn has
    finished, and the first once every variant has warmed up and calibrated (so no variant's
    setup traffic lands in another's measurement)."""

    def __init__(self, turns: list[Turn], variants: int,
                 on_turn=None):
        self.turns = turns
        self.index = 0
        self._waiting: set[int] = set()
        self._variants = variants
        self._go = [asyncio.Event() for _ in range(variants)]
        self._on_turn = on_turn or (lambda turn: None)
        self.stopped = False

    @property
    def current(self) -> Turn | None:
        return self.turns[self.index] if self.index < len(self.turns) else None

    async def wait_turn(self, variant: int, phase: int) -> None:
        self._waiting.add(variant)
        if self.index == 0 and len(self._waiting) == self._variants:
            self._release()
        while True:
            await self._go[variant].wait()
            self._go[variant].clear()
            turn = self.current
            if self.stopped or (turn is not None and turn.variant == variant
                                and turn.phase == phase):
                return

    def done(self, variant: int, phase: int) -> None:
        turn = self.current
        if turn is None or turn.variant != variant or turn.phase != phase:
            return
        self.index += 1
        self._release()

    def stop(self) -> None:
        self.stopped = True
        for go in self._go:
            go.set()

    def _release(self) -> None:
        turn = self.current
        # after a stop the turn cut short still ends (done), but no next turn begins: it must
        # not be announced (a "turn n/N" line after the stop would say it ran)
        if turn is not None and not self.stopped:
            self._on_turn(turn)
            self._go[turn.variant].set()


class TurnPlanner(LoadTestPlanner):
    """A variant's phases, each started when the conductor says it is its turn."""

    takes_turns = True
    judges_each_phase = True

    def __init__(self, suite: LoadTestSuite, conductor: Conductor, variant: int):
        super().__init__(suite)
        self.conductor = conductor
        self.variant = variant

    async def wait_turn(self, plan: PhasePlan) -> None:
        await self.conductor.wait_turn(self.variant, plan.phase)

    def phase_done(self, plan: PhasePlan, stats: PhaseStats) -> RunEvent | None:
        self.conductor.done(self.variant, plan.phase)
        return None


@dataclass(frozen=True, slots=True)
class Variant:
    name: str                 # from the endpoint file's name: a.yml → a
    endpoint: EndpointSpec


def variant_names(paths: list[Path]) -> list[str]:
    """Folder-safe names from the endpoint files' names, made unique (a, b, b-2)."""
    names: list[str] = []
    for path in paths:
        base = slugify(path.stem) or "variant"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


class _VariantObserver:
    """A variant's events, each wrapped with its name; snapshots only while it has the turn, so a
    front end shows the phase that is sending."""

    def __init__(self, experiment: Experiment, index: int):
        self.experiment = experiment
        self.index = index

    def event(self, ev: RunEvent) -> None:
        self.experiment.observer.event(VariantEvent(self.experiment.variants[self.index].name, ev))

    def snapshot(self, snap: RunSnapshot) -> None:
        turn = self.experiment.conductor.current
        if snap.stage == "waiting" or (turn is not None and turn.variant != self.index):
            return
        label = self.experiment.variants[self.index].name
        if turn is not None:
            label += f" round {turn.round}/{self.experiment.rounds}"
        self.experiment.observer.snapshot(replace(snap, label=label))


@dataclass(slots=True)
class ExperimentResult:
    folder: Path
    exit_code: int
    variants: list[RunResult]
    comparison: Comparison | None


class Experiment:
    """Plan, estimate, then execute once; `stop()` may be called from any thread."""

    def __init__(self, suite: LoadTestSuite, variants: list[Variant], results_root: Path,
                 observer: RunObserver, rounds: int = DEFAULT_ROUNDS, workers: int = 0,
                 snapshot_interval_s: float = 1.0):
        if not isinstance(suite, LoadTestSuite):
            raise ConfigError("ab runs a load-test suite (rates and phases); an observation "
                              "cannot be interleaved: run one observation per endpoint and "
                              "`tokenflood compare` them")
        if len(variants) < 2:
            raise ConfigError("ab needs at least two endpoint files (the first is the baseline)")
        if rounds < 1:
            raise ConfigError(f"--rounds is {rounds}: give 1 or more")
        self.suite = suite
        self.variants = variants
        self.rounds = rounds
        self.observer = observer
        started = datetime.now().astimezone()
        self.started_at = started
        self.folder = unique_path(Path(results_root) / f"{started:%Y-%m-%d_%H-%M-%S}_ab_"
                              f"{slugify(suite.name) or 'experiment'}")
        self.turns = interleave(len(suite.rates), len(variants), rounds,
                                suite.seed)
        self.turn_log: list[dict] = []
        self.conductor = Conductor(self.turns, len(variants), on_turn=self._turn_started)
        vsuite = variant_suite(suite, rounds)
        self.runs = [
            Run(vsuite, v.endpoint, self.folder, _VariantObserver(self, i), snapshot_interval_s,
                workers, planner=self._planner(vsuite, i), folder_name=v.name)
            for i, v in enumerate(variants)]
        self.estimate = budget.combine([r.estimate for r in self.runs])
        # The limits hold for the experiment, as its budget was confirmed: every variant's load
        # counts toward one spend, and the variant whose request reaches a limit stops them all.
        spend = spend_of(self.estimate)
        for run in self.runs:
            run.coordinator.spend = spend
        self._loop: asyncio.AbstractEventLoop | None = None

    def _planner(self, suite: LoadTestSuite, variant: int) -> Callable[[], TurnPlanner]:
        return lambda: TurnPlanner(suite, self.conductor, variant)

    def stop(self, reason: str = "stopped by the user", now: bool = False) -> None:
        """Safe from any thread: no turn starts after this; the one under way is cut short."""
        self.conductor.stopped = True
        for run in self.runs:
            run.stop(reason, now)
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self.conductor.stop)   # asyncio events: on their loop
        else:
            self.conductor.stop()

    def _turn_started(self, turn: Turn) -> None:
        rate = self.suite.rates[turn.rate_index]
        n = len(self.turn_log) + 1
        self.turn_log.append({**asdict(turn), "variant_name": self.variants[turn.variant].name,
                              "target_rps": rate, "at_utc": time.time()})
        self.observer.event(TurnStarted(n, len(self.turns), self.variants[turn.variant].name,
                                        turn.round, self.rounds, rate))

    async def execute(self) -> ExperimentResult:
        """Every variant's run, in turns; then the comparison. A variant that ends early
        (aborted, or stopped) ends the experiment: the others' turns would no longer
        interleave with it."""
        self._loop = asyncio.get_running_loop()
        made_root = not self.folder.parent.exists()
        self.folder.mkdir(parents=True, exist_ok=False)
        tasks = [asyncio.ensure_future(run.execute()) for run in self.runs]
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                i = tasks.index(task)
                # a failed threshold (4) is a finished variant, not one that ended early
                if task.exception() is not None or (
                        task.result().exit_code not in (0, 4)
                        and self.conductor.current is not None):
                    why = (str(task.exception()) if task.exception() is not None
                           else task.result().summary.message or task.result().summary.status)
                    self._stop_others(i, why)
        results = [t.result() for t in tasks if t.exception() is None]
        if not self.turn_log and any(t.exception() is not None for t in tasks):
            # a variant failed before the first turn: no load was sent, nothing to keep
            self._discard(made_root)
        else:
            self._write_experiment(results)
        for variant, task in zip(self.variants, tasks, strict=True):
            exc = task.exception()
            if isinstance(exc, TokenfloodError):
                # the same kind of error (and exit code), saying which variant could not run
                raise type(exc)(f"variant {variant.name}: {exc}") from None
            if exc is not None:
                raise exc
        comparison = None
        if all(r.summary.phases for r in results):
            comparison = compare([r.folder for r in results], seed=self.suite.seed)
            compare_folder.write(comparison, self.folder)
        codes = {r.exit_code for r in results}
        code = 1 if 1 in codes else 130 if 130 in codes else max(codes)
        return ExperimentResult(self.folder, code, results, comparison)

    def _stop_others(self, index: int, why: str) -> None:
        if self.conductor.stopped:
            return
        name = self.variants[index].name
        self.observer.event(VariantEnded(name, why))
        for j, run in enumerate(self.runs):
            if j != index:
                run.coordinator.stop("aborted", f"variant {name} ended early: {why}")
        self.conductor.stop()

    def _discard(self, made_root: bool) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        if made_root:
            try:
                self.folder.parent.rmdir()      # only when empty
            except OSError:
                pass

    def _write_experiment(self, results: list[RunResult]) -> None:
        info = {
            "type": "ab", "suite": self.suite.name, "rounds": self.rounds, "seed": self.suite.seed,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "variants": [{"name": v.name, "folder": str(self.folder / v.name),
                          "model": v.endpoint.model, "provider": v.endpoint.provider}
                         for v in self.variants],
            "turns": self.turn_log, "planned_turns": len(self.turns),
            "status": [r.summary.status for r in results],
        }
        (self.folder / EXPERIMENT_FILE).write_text(json.dumps(info, indent=2) + "\n",
                                                   encoding="utf-8")
