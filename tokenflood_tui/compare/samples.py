"""Each run's per-request latencies, grouped the way runs are compared: by target rate for a
load test, by hour of day (UTC) for an observation; a session run's also by turn index within
each rate (turn 1, turn 2, turns 3-4, 5-8, …: the cold first turn apart from the ones that re-send
a growing history). Only rows that count: ok, not superseded."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..outputs.folder import CSV_COLUMNS
from ..metrics.summary import RunSummary

# compared metric → its requests.csv column; ITL is each request's mean gap between chunks;
# TTFA (a reasoning model's first answer token) only where a run reasoned (compare.py)
METRIC_COLUMNS = {"ttft_ms": "ttft_ms", "ttfa_ms": "ttfa_ms", "e2e_ms": "e2e_ms",
                  "tpot_ms": "tpot_ms", "itl_ms": "itl_mean_ms"}
METRIC_NAMES = {"ttft_ms": "TTFT", "ttfa_ms": "TTFA", "e2e_ms": "e2e", "tpot_ms": "TPOT",
                "itl_ms": "ITL"}
# a session run's turns by index: (first, last), last 0 for "and later"; doubling widths keep
# the buckets of a long agent session few and each one's samples many
TURN_BUCKETS = ((1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (17, 32), (33, 0))


def turn_bucket(turn: int) -> tuple[int, int]:
    return next(b for b in TURN_BUCKETS if turn >= b[0] and (not b[1] or turn <= b[1]))


def turns_label(bucket: tuple[int, int]) -> str:
    """'turn 1', 'turns 3-4', 'turns 33+'."""
    first, last = bucket
    if first == last:
        return f"turn {first}"
    return f"turns {first}+" if not last else f"turns {first}-{last}"


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """What a cell compares like with like: a target rate (req/s, or sessions/s for a session
    run) or an hour of day (UTC); for a session run's turn groups, also a bucket of turns."""

    kind: str            # "rate" or "hour"
    value: float
    unit: str = "req/s"
    turns: tuple[int, int] = (0, 0)     # a TURN_BUCKETS entry; (0, 0): every turn

    @property
    def label(self) -> str:
        """'4 req/s', '0.5 sessions/s', '13:00 UTC' (the turns are not in it: `turns_label`)."""
        return f"{self.value:g} {self.unit}" if self.kind == "rate" else \
            f"{int(self.value):02d}:00 UTC"

    @property
    def by_turn(self) -> bool:
        return self.turns != (0, 0)

    @property
    def all_turns(self) -> GroupKey:
        return GroupKey(self.kind, self.value, self.unit)


@dataclass(slots=True)
class RunSamples:
    folder: Path
    summary: RunSummary
    # per group, per metric: the ok rows' values, sorted ascending (NaN-free)
    groups: dict[GroupKey, dict[str, np.ndarray]] = field(default_factory=dict)
    # a session run's: per rate and bucket of turns, as `groups`
    turn_groups: dict[GroupKey, dict[str, np.ndarray]] = field(default_factory=dict)
    requests: dict[GroupKey, int] = field(default_factory=dict)   # rows that count, ok or not
    ok: dict[GroupKey, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.name


def load(folder: Path) -> RunSamples:
    """A results folder's summary and rows; ConfigError says what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such results folder")
    summary = RunSummary.load(folder)
    path = folder / "requests.csv"
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if header is None or not set(CSV_COLUMNS[:22]) <= set(header):
        raise ConfigError(f"{path}: not a tokenflood requests.csv")
    col = {name: i for i, name in enumerate(header)}
    observation = summary.type == "observation"
    superseded = col.get("superseded")
    status = col["status"]
    turn = col.get("turn")
    width = len(header)
    by_group: dict[GroupKey, list[list[str]]] = {}
    by_turn: dict[GroupKey, list[list[str]]] = {}
    for row in rows:
        if len(row) != width or (superseded is not None and row[superseded] == "true"):
            continue                  # a torn last line, or a row a resume re-ran
        if observation:
            when = row[col["t_sched_utc"]] if "t_sched_utc" in col else ""
            if not when:
                continue
            key = GroupKey("hour", datetime.fromisoformat(when).astimezone(UTC).hour)
        elif turn is not None and row[turn]:            # a session's request
            key = GroupKey("rate", round(float(row[col["target_rps"]]), 6), "sessions/s")
            bucket = GroupKey(key.kind, key.value, key.unit, turn_bucket(int(row[turn])))
            by_turn.setdefault(bucket, []).append(row)
        else:
            key = GroupKey("rate", round(float(row[col["target_rps"]]), 6))
        by_group.setdefault(key, []).append(row)
    samples = RunSamples(folder, summary)
    for groups, into in ((by_group, samples.groups), (by_turn, samples.turn_groups)):
        for key in sorted(groups):
            group = groups[key]
            ok_rows = [r for r in group if r[status] == "ok"]
            samples.requests[key] = len(group)
            samples.ok[key] = len(ok_rows)
            into[key] = _metrics(ok_rows, col)
    return samples


def _metrics(ok_rows: list[list[str]], col: dict[str, int]) -> dict[str, np.ndarray]:
    """Each metric's values over the rows, sorted ascending, NaN-free."""
    metrics = {}
    for metric, column in METRIC_COLUMNS.items():
        i = col.get(column)
        values = np.array([float(r[i]) for r in ok_rows if i is not None and r[i]],
                          dtype=np.float64)
        metrics[metric] = np.sort(values[np.isfinite(values)])
    return metrics
