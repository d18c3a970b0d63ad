"""Each run's per-request latencies, grouped the way runs are compared: by target rate for a
load test, by hour of day (UTC) for an observation. Only rows that count: ok, not superseded."""

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


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    """What a cell compares like with like: a target rate (req/s) or an hour of day (UTC)."""

    kind: str            # "rate" or "hour"
    value: float

    @property
    def label(self) -> str:
        return f"{self.value:g} req/s" if self.kind == "rate" else f"{int(self.value):02d}:00 UTC"


@dataclass(slots=True)
class RunSamples:
    folder: Path
    summary: RunSummary
    # per group, per metric: the ok rows' values, sorted ascending (NaN-free)
    groups: dict[GroupKey, dict[str, np.ndarray]] = field(default_factory=dict)
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
    width = len(header)
    keys: list[GroupKey] = []
    kept: list[list[str]] = []
    for row in rows:
        if len(row) != width or (superseded is not None and row[superseded] == "true"):
            continue                  # a torn last line, or a row a resume re-ran
        if observation:
            when = row[col["t_sched_utc"]] if "t_sched_utc" in col else ""
            if not when:
                continue
            key = GroupKey("hour", datetime.fromisoformat(when).astimezone(UTC).hour)
        else:
            key = GroupKey("rate", round(float(row[col["target_rps"]]), 6))
        keys.append(key)
        kept.append(row)
    samples = RunSamples(folder, summary)
    by_group: dict[GroupKey, list[list[str]]] = {}
    for key, row in zip(keys, kept, strict=True):
        by_group.setdefault(key, []).append(row)
    for key in sorted(by_group):
        group = by_group[key]
        ok_rows = [r for r in group if r[status] == "ok"]
        samples.requests[key] = len(group)
        samples.ok[key] = len(ok_rows)
        metrics = {}
        for metric, column in METRIC_COLUMNS.items():
            i = col.get(column)
            values = np.array([float(r[i]) for r in ok_rows if i is not None and r[i]],
                              dtype=np.float64)
            metrics[metric] = np.sort(values[np.isfinite(values)])
        samples.groups[key] = metrics
    return samples
