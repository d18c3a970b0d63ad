"""Runs side by side: for each group (target rate, or hour of day) and each metric at each
percentile, every run's value, its difference to the baseline (the first run) in ms and %, a 95%
bootstrap interval of that difference from the rows, and a verdict; for session runs the same
again by turn index within each rate (`turn_cells`); where a load test read its server's
metrics, each run's server figures per rate side by side (`server`). One typed `Comparison`,
written to compare.json and read back by every output and the TUI."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..outputs.charts import run_letter
from ..errors import ConfigError, TokenfloodError
from ..metrics.server import ServerPhaseStats
from ..metrics.summary import reasoned
from ..specs import LoadTestSuite, RunSuite, SearchSuite, load_run_suite
from . import bootstrap
from .bootstrap import Verdict
from .samples import METRIC_COLUMNS, GroupKey, RunSamples, load, turns_label

COMPARE_FILE = "compare.json"
DEFAULT_PERCENTILES = [50.0, 90.0, 99.0]
DEFAULT_SEED = 0


class ComparedRun(BaseModel):
    """One results folder in the comparison."""

    name: str                       # the folder's name
    folder: str
    run_name: str
    type: str
    status: str
    model: str
    provider: str
    base_url: str | None            # as saved: secrets redacted
    started_at: str
    prompts: str                    # fresh or reused
    server_engine: str | None = None    # the engine whose metrics it read (vLLM, llama.cpp, …)


class RunValue(BaseModel):
    """A run's value in one cell, and (not for the baseline) how it differs from the baseline's."""

    value_ms: float | None          # None: no ok request in this group
    samples: int
    diff_ms: float | None = None
    diff_pct: float | None = None
    ci_low_ms: float | None = None   # the interval of diff_ms at the comparison's level
    ci_high_ms: float | None = None
    verdict: Verdict | None = None


class Cell(BaseModel):
    group: str                      # "4 req/s", "0.5 sessions/s", "13:00 UTC"
    group_kind: str                 # "rate" or "hour"
    group_value: float
    metric: str                     # ttft_ms, ttfa_ms (a run reasoned), e2e_ms, tpot_ms, itl_ms
    percentile: float
    runs: list[RunValue]            # in the order of `Comparison.runs`; the first is the baseline
    turns: str | None = None        # a turn cell's turns: "turn 1", "turns 3-4", "turns 33+"


class ServerCell(BaseModel):
    """The server's own figures of each run's phase at one rate (docs/metrics.md#server)."""

    group: str                      # "4 req/s"
    group_value: float
    runs: list[ServerPhaseStats | None]   # in the order of `Comparison.runs`; None: not read


class Comparison(BaseModel):
    created_at: str                 # ISO 8601, local time with offset
    runs: list[ComparedRun]
    percentiles: list[float]
    metrics: list[str]
    groups: list[str]
    level: float = bootstrap.LEVEL
    resamples: int = bootstrap.RESAMPLES
    seed: int = DEFAULT_SEED
    cells: list[Cell]
    # session runs: the cells again, by turns within each rate (rate, turns, metric, percentile)
    turn_cells: list[Cell] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    # load tests: per rate, each run's server figures, where any run read its server's metrics
    server: list[ServerCell] = Field(default_factory=list)

    def cell(self, group: str, metric: str, percentile: float) -> Cell:
        for c in self.cells:
            if c.group == group and c.metric == metric and c.percentile == percentile:
                return c
        raise KeyError((group, metric, percentile))

    def turn_cell(self, group: str, turns: str, metric: str, percentile: float) -> Cell:
        for c in self.turn_cells:
            if (c.group, c.turns, c.metric, c.percentile) == (group, turns, metric, percentile):
                return c
        raise KeyError((group, turns, metric, percentile))

    def verdicts(self, run: int = 1, by_turn: bool = False) -> dict[str, int]:
        """How many cells (with `by_turn`, turn cells) got each verdict for run `run` against
        the baseline."""
        counts: dict[str, int] = {}
        for c in self.turn_cells if by_turn else self.cells:
            v = c.runs[run].verdict
            if v is not None:
                counts[v] = counts.get(v, 0) + 1
        return counts

    @classmethod
    def load(cls, folder: Path | str) -> Comparison:
        path = Path(folder) / COMPARE_FILE
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


def compare(folders: list[Path], seed: int = DEFAULT_SEED,
            resamples: int = bootstrap.RESAMPLES) -> Comparison:
    """Compare results folders; the first is the baseline. ConfigError for what cannot be."""
    if len(folders) < 2:
        raise ConfigError("compare needs at least two results folders (the first is the baseline)")
    runs = [load(f) for f in folders]
    return compare_samples(runs, seed, resamples)


def compare_samples(runs: list[RunSamples], seed: int = DEFAULT_SEED,
                    resamples: int = bootstrap.RESAMPLES) -> Comparison:
    kinds = {r.summary.type for r in runs}
    if len(kinds) > 1:
        raise ConfigError("compare runs of one kind: " + ", ".join(
            f"{r.name} is {'an observation' if r.summary.type == 'observation' else 'a load test'}"
            for r in runs))
    base = runs[0]
    percentiles = sorted(set(DEFAULT_PERCENTILES) | set(base.summary.percentiles))
    keys = sorted(set().union(*(r.groups for r in runs)))
    rng = np.random.default_rng(seed)
    # TTFA is TTFT's twin for a model that does not reason: compared only where one run reasoned
    reasoning = any(reasoned(r.summary.phases) or reasoned(r.summary.polls) for r in runs)
    compared = [m for m in METRIC_COLUMNS if m != "ttfa_ms" or reasoning]
    cells = []
    for key in keys:
        for metric in compared:
            for p in percentiles:
                cells.append(_cell(key, metric, p, runs, rng, resamples))
    # turn groups that more than one run has (a turn only one run reached compares nothing)
    turn_keys = sorted(k for k in set().union(*(r.turn_groups for r in runs))
                       if sum(k in r.turn_groups for r in runs) > 1)
    turn_cells = [_cell(key, metric, p, runs, rng, resamples) for key in turn_keys
                  for metric in compared for p in percentiles]
    # a metric no run has a value for (TPOT with one output token) is left out
    metrics = [m for m in compared
               if any(v.value_ms is not None for c in cells if c.metric == m for v in c.runs)]
    cells = [c for c in cells if c.metric in metrics]
    turn_cells = [c for c in turn_cells if c.metric in metrics]
    return Comparison(
        created_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        runs=[_compared_run(r) for r in runs], percentiles=percentiles, metrics=metrics,
        groups=[k.label for k in keys], seed=seed, resamples=resamples, cells=cells,
        turn_cells=turn_cells, warnings=differences(runs, keys),
        server=server_cells(runs, keys))


def server_cells(runs: list[RunSamples], keys: list[GroupKey]) -> list[ServerCell]:
    """Per rate, each run's server figures in the phase at that rate (its first, where a suite
    repeats a rate); none at all when no run read its server's metrics."""
    if not any(ph.server is not None for r in runs for ph in r.summary.phases):
        return []
    return [ServerCell(group=key.label, group_value=key.value, runs=[
        next((ph.server for ph in r.summary.phases
              if round(ph.target_rps, 6) == key.value), None)
        for r in runs]) for key in keys if key.kind == "rate"]


def _cell(key: GroupKey, metric: str, p: float, runs: list[RunSamples], rng: np.random.Generator,
          resamples: int) -> Cell:
    empty = np.empty(0)

    def group(run: RunSamples) -> dict[str, np.ndarray]:
        return (run.turn_groups if key.by_turn else run.groups).get(key, {})

    base = group(runs[0]).get(metric, empty)
    values = []
    for i, run in enumerate(runs):
        x = group(run).get(metric, empty)
        value = bootstrap.percentile(x, p) if len(x) else None
        rv = RunValue(value_ms=value, samples=len(x))
        if i > 0 and value is not None and len(base):
            b = bootstrap.percentile(base, p)
            rv.diff_ms = value - b
            rv.diff_pct = 100.0 * (value - b) / b if b else None
            if bootstrap.enough(len(x), p) and bootstrap.enough(len(base), p):
                rv.ci_low_ms, rv.ci_high_ms = bootstrap.difference_interval(base, x, p, rng,
                                                                            resamples)
                rv.verdict = bootstrap.verdict(rv.ci_low_ms, rv.ci_high_ms)
            else:
                rv.verdict = "too few samples"
        values.append(rv)
    return Cell(group=key.label, group_kind=key.kind, group_value=key.value, metric=metric,
                percentile=p, runs=values, turns=turns_label(key.turns) if key.by_turn else None)


def _compared_run(r: RunSamples) -> ComparedRun:
    s = r.summary
    return ComparedRun(name=r.name, folder=str(r.folder), run_name=s.run_name, type=s.type,
                       status=s.status, model=s.model, provider=s.provider, base_url=s.base_url,
                       started_at=s.started_at, prompts=s.prompts,
                       server_engine=s.server.engine if s.server is not None else None)


def differences(runs: list[RunSamples], keys: list[GroupKey]) -> list[str]:
    """What differs between the runs besides the setup under test, each naming the runs."""
    out = []
    base = runs[0]
    suites = [_suite(r) for r in runs]
    for i, run in enumerate(runs[1:], start=1):
        s, b = run.summary, base.summary
        vs = f"{run_letter(i)} vs {run_letter(0)}"
        setup = [f"{what} {theirs} vs {ours}" for what, theirs, ours in (
            ("model", s.model, b.model), ("provider", s.provider, b.provider),
            ("base_url", s.base_url, b.base_url)) if theirs != ours]
        if setup:
            warning = f"endpoints differ ({vs}): " + ", ".join(setup)
            out.append(warning)
        mine, theirs = suites[i], suites[0]
        if mine is not None and theirs is not None:
            out.extend(f"{what} differ ({vs}): {a}" + ("" if b_ is None else f" vs {b_}")
                       for what, a, b_ in _suite_differences(mine, theirs))
        missing = [k.label for k in keys if k in base.groups and k not in run.groups]
        extra = [k.label for k in keys if k in run.groups and k not in base.groups]
        if missing:
            out.append(f"{run_letter(i)} has no requests at {', '.join(missing)}")
        if extra:
            out.append(f"{run_letter(0)} (the baseline) has no requests at {', '.join(extra)}")
        if s.status != "completed":
            out.append(f"{run_letter(i)} did not complete ({s.status}): {run.name}")
    if base.summary.status != "completed":
        out.append(f"{run_letter(0)} did not complete ({base.summary.status}): {base.name}")
    reused = [run_letter(i) for i, r in enumerate(runs) if r.summary.prompts == "reused"]
    if reused and len(reused) < len(runs):
        out.append(f"{', '.join(reused)} replayed the seed's prompts (reuse_prompts): a server's "
                   "prefix cache may make it look faster than the runs with fresh prompts")
    return out


def _suite(run: RunSamples) -> RunSuite | None:
    try:
        return load_run_suite(run.folder / "run.yml")
    except (TokenfloodError, OSError):
        return None


def _suite_differences(a: RunSuite, b: RunSuite) -> list[tuple[str, str, str | None]]:
    """(what, a's, b's); b's None when a's says it all."""
    def shapes(s: RunSuite) -> str:
        return "; ".join(f"{lt.prompt_length}/{lt.prefix_length}/{lt.output_length} tokens"
                         f" ×{lt.weight:g}" for lt in s.load_types)
    out: list[tuple[str, str, str | None]] = []
    if shapes(a) != shapes(b):
        out.append(("load types (prompt/prefix/output)", shapes(a), shapes(b)))
    if isinstance(a, (LoadTestSuite, SearchSuite)) and isinstance(b, (LoadTestSuite, SearchSuite)):
        changed = _session_type_differences(a, b)
        if changed:
            out.append(("session types", changed, None))
        if a.sessions and b.sessions and a.history != b.history:
            out.append(("histories", a.history, b.history))
    if isinstance(a, LoadTestSuite) and isinstance(b, LoadTestSuite):
        if a.rates != b.rates or a.unit != b.unit:
            out.append(("rates", _rates(a), _rates(b)))
        if a.test_length_in_seconds != b.test_length_in_seconds:
            out.append(("phase lengths", f"{a.test_length_in_seconds:g} s",
                        f"{b.test_length_in_seconds:g} s"))
        if a.arrival != b.arrival:
            out.append(("arrivals", a.arrival, b.arrival))
    if a.max_concurrency != b.max_concurrency:
        out.append(("max_concurrency", str(a.max_concurrency), str(b.max_concurrency)))
    return out


def _session_type_differences(a: LoadTestSuite | SearchSuite,
                              b: LoadTestSuite | SearchSuite) -> str:
    """'chat (turns, think_seconds), agent only in B': the session types that differ, by name,
    with the keys that differ; empty when they are the same."""
    mine = {t.name: t.model_dump() for t in a.session_types}
    theirs = {t.name: t.model_dump() for t in b.session_types}
    parts = []
    for name in [*mine, *(n for n in theirs if n not in mine)]:
        if name not in theirs or name not in mine:
            parts.append(f"{name} in one run only")
        elif mine[name] != theirs[name]:
            keys = [k for k in mine[name] if mine[name][k] != theirs[name][k]]
            parts.append(f"{name} ({', '.join(keys)})")
    return ", ".join(parts)


def _rates(s: LoadTestSuite) -> str:
    return "[" + ", ".join(f"{r:g}" for r in s.rates) + f"] {s.unit}"


