"""A comparison as Markdown (stdout and compare.md), compare.json and the overlay chart."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from ..outputs import charts
from ..outputs.charts import run_letter
from ..errors import ConfigError
from ..outputs.folder import unique_path
from ..metrics.summary import pkey
from . import bootstrap
from .compare import COMPARE_FILE, Comparison
from .samples import METRIC_NAMES

VERDICT_ORDER = ["faster", "slower", "no clear difference", "too few samples"]


def markdown(c: Comparison) -> str:
    lines = [f"# Comparison: {' vs '.join(run_letter(i) for i in range(len(c.runs)))}", ""]
    lines += ["| | results folder | run | model | provider | started | status |",
              "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(c.runs):
        role = " (baseline)" if i == 0 else ""
        lines.append(f"| {run_letter(i)}{role} | {r.name} | {r.run_name} | {r.model} | "
                     f"{r.provider} | {r.started_at} | {r.status} |")
    lines.append("")
    lines += [verdict_line(c, i) for i in range(1, len(c.runs))]
    lines += ["", f"Differences are to {run_letter(0)}, with a {c.level:.0%} bootstrap interval "
              f"({c.resamples} resamples of the ok requests, seed {c.seed}); a verdict needs the "
              f"interval to exclude 0, and at least {bootstrap.MIN_SAMPLES} requests with "
              f"{bootstrap.MIN_TAIL:g} beyond the percentile (p99: "
              f"{min_samples(99)}) in both runs."]
    if c.warnings:
        lines += ["", "Warnings:", *[f"- ⚠ {w}" for w in c.warnings]]
    group_head = "hour" if c.cells and c.cells[0].group_kind == "hour" else "rate"
    for metric in c.metrics:
        lines += ["", f"## {METRIC_NAMES[metric]} (ms)", ""]
        head = [group_head, "pct", run_letter(0)]
        for i in range(1, len(c.runs)):
            x = run_letter(i)
            head += [x, f"{x} − {run_letter(0)}", "95% interval", "verdict"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" if h in ("verdict", group_head) else "---:"
                                    for h in head) + "|")
        for cell in (x for x in c.cells if x.metric == metric):
            row = [cell.group, pkey(cell.percentile), _ms(cell.runs[0].value_ms)]
            for v in cell.runs[1:]:
                row += [_ms(v.value_ms), _diff(v.diff_ms, v.diff_pct),
                        _interval(v.ci_low_ms, v.ci_high_ms), v.verdict or "-"]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def verdict_line(c: Comparison, run: int) -> str:
    counts = c.verdicts(run)
    total = sum(counts.values())
    parts = [f"{verdict} in {counts[verdict]}" for verdict in VERDICT_ORDER if counts.get(verdict)]
    return (f"{run_letter(run)} vs {run_letter(0)}: " + (", ".join(parts) or "nothing to compare")
            + f" of {total} cells")


def min_samples(p: float) -> int:
    """The fewest ok requests that get a verdict at percentile p."""
    tail = min(p, 100.0 - p) / 100.0
    return max(bootstrap.MIN_SAMPLES, math.ceil(bootstrap.MIN_TAIL / tail - 1e-9) if tail else 0)


def write(c: Comparison, out: Path) -> Path:
    """compare.md, compare.json, compare.txt and compare.html in `out` (made if missing)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(markdown(c), encoding="utf-8")
        (out / COMPARE_FILE).write_text(c.to_json(), encoding="utf-8")
        charts.save_compare(c, out)
    except OSError as exc:
        raise ConfigError(f"cannot write the comparison to {out}: {exc.strerror or exc}") from None
    return out


def default_folder(results_dir: Path) -> Path:
    """compare_<time> under the results dir; -2, -3 ... when one of that second exists."""
    return unique_path(results_dir / f"compare_{datetime.now():%Y-%m-%d_%H-%M-%S}")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _diff(ms: float | None, pct: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:+.1f}" + ("" if pct is None else f" ({pct:+.1f}%)")


def _interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:+.1f} … {high:+.1f}"
