"""A comparison as people read it: Markdown (stdout and compare.md), text fitted to a width, and
the tables report.html shows."""

from __future__ import annotations

import math

from ..outputs.charts import run_letter
from ..outputs.fit import Column, Fitted, dropped_note, fit_table, fit_tables, wrap
from ..outputs import report
from ..outputs.report import Table
from ..metrics.summary import pkey
from . import bootstrap
from .compare import Cell, Comparison
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
    lines += [verdict_line(c, i, by_turn=True) for i in range(1, len(c.runs)) if c.turn_cells]
    lines += ["", method(c)]
    if c.warnings:
        lines += ["", "Warnings:", *[f"- ⚠ {w}" for w in c.warnings]]
    group_head = "hour" if c.cells and c.cells[0].group_kind == "hour" else "rate"
    for metric in c.metrics:
        lines += ["", f"## {METRIC_NAMES[metric]} (ms)", ""]
        lines += _markdown_table(c, [x for x in c.cells if x.metric == metric], [group_head])
    for metric in c.metrics if c.turn_cells else []:
        lines += ["", f"## {METRIC_NAMES[metric]} by turn (ms)", ""]
        lines += _markdown_table(c, [x for x in c.turn_cells if x.metric == metric],
                                 ["rate", "turns"])
    server = server_table(c)
    if server is not None:
        lines += ["", f"## {SERVER_HEADING}", "", server.markdown(), "", SERVER_NOTE]
    return "\n".join(lines) + "\n"


SERVER_HEADING = "Server figures (each run's own /metrics)"
SERVER_NOTE = ("- : the engine publishes no such figure; n/a: the run read no server metrics; "
               "the TTFT gap is the client's TTFT minus the server's")


def server_table(c: Comparison) -> Table | None:
    """Per rate, each run's server figures in a row of its own (the columns of summary.md's
    server table, outputs/report.py); None when no run read its server's metrics."""
    if not c.server:
        return None
    pcols = report.server_percentiles(c.percentiles)
    head = ["rate", "run", "engine", *report.server_head(pcols), "queue"]
    rows = [[cell.group if i == 0 else "", run_letter(i), c.runs[i].server_engine or "n/a",
             *report.server_cells(sv, pcols, report.NOT_READ),
             report.queue_cell(sv, report.NOT_READ)]
            for cell in c.server for i, sv in enumerate(cell.runs)]
    return Table(head, rows, text=frozenset({0, 1, 2, len(head) - 1}))


def _markdown_table(c: Comparison, cells: list[Cell], groups: list[str]) -> list[str]:
    table = verdict_table(c, cells, groups)
    return ["| " + " | ".join(table.head) + " |",
            "|" + "|".join("---" if i in table.text_columns else "---:"
                           for i in range(len(table.head))) + "|",
            *("| " + " | ".join(row) + " |" for row in table.rows)]


def verdict_table(c: Comparison, cells: list[Cell], groups: list[str]) -> Table:
    """Cells of one metric: per group (`groups`: its head, and 'turns' for turn cells) and
    percentile, the baseline's value, then each other run's value, difference, interval and
    verdict (compare.md and report.html)."""
    head = [*groups, "pct", run_letter(0)]
    for i in range(1, len(c.runs)):
        x = run_letter(i)
        head += [x, f"{x} − {run_letter(0)}", "95% interval", "verdict"]
    rows = []
    for cell in cells:
        row = [cell.group, *([cell.turns or ""] if len(groups) > 1 else []),
               pkey(cell.percentile), _ms(cell.runs[0].value_ms)]
        for v in cell.runs[1:]:
            row += [_ms(v.value_ms), _diff(v.diff_ms, v.diff_pct),
                    _interval(v.ci_low_ms, v.ci_high_ms), v.verdict or "-"]
        rows.append(row)
    return Table(head, rows, text=frozenset(i for i, h in enumerate(head)
                                            if h in ("verdict", *groups)))


def text(c: Comparison, width: int) -> str:
    """The comparison in lines of at most `width`: the runs and verdicts as wrapped lines, a
    table per metric with the columns that fit (each run's value and verdict first, then its
    difference, then the interval); compare.md has every column."""
    lines = [f"Comparison: {' vs '.join(run_letter(i) for i in range(len(c.runs)))}", ""]
    for i, r in enumerate(c.runs):
        role = " (baseline)" if i == 0 else ""
        lines += wrap(f"{run_letter(i)}{role} = {r.name}: {r.run_name} on {r.model} "
                      f"({r.provider}), {r.status}, started {r.started_at}", width, hang="    ")
    lines.append("")
    lines += [piece for i in range(1, len(c.runs)) for piece in wrap(verdict_line(c, i), width)]
    lines += [piece for i in range(1, len(c.runs)) if c.turn_cells
              for piece in wrap(verdict_line(c, i, by_turn=True), width)]
    lines += ["", *wrap(method(c), width)]
    if c.warnings:
        lines += ["", "warnings:"] + [piece for w in c.warnings
                                      for piece in wrap(w, width, indent="  ⚠ ")]
    tables = [_columns(c, [x for x in c.cells if x.metric == metric]) for metric in c.metrics]
    fitted = fit_tables(tables, width) if tables else []
    for metric, table in zip(c.metrics, fitted, strict=True):
        lines += ["", f"{METRIC_NAMES[metric]} (ms)", *table.lines]
    if c.turn_cells:
        tables = [_columns(c, [x for x in c.turn_cells if x.metric == metric])
                  for metric in c.metrics]
        turned = fit_tables(tables, width)
        for metric, table in zip(c.metrics, turned, strict=True):
            lines += ["", f"{METRIC_NAMES[metric]} by turn (ms)", *table.lines]
        fitted += turned
    server = fitted_server_table(c, width)
    if server is not None:
        lines += ["", SERVER_HEADING, *server.lines, *wrap(SERVER_NOTE, width)]
        fitted.append(server)
    dropped = [column for f in fitted for column in f.dropped]    # named once each
    if dropped:
        lines += ["", *dropped_note(dropped, width, "compare.md")]
    return "\n".join(lines) + "\n"


def fitted_server_table(c: Comparison, width: int) -> Fitted | None:
    """`server_table` in `width` columns: the rate, the run, the queue and the gap first."""
    server = server_table(c)
    if server is None:
        return None
    return fit_table([Column(h, [r[i] for r in server.rows], report.SERVER_RANKS.get(h, 3),
                             left=i in server.text_columns)
                      for i, h in enumerate(server.head)], width)


def _columns(c: Comparison, cells: list[Cell]) -> list[Column]:
    """One metric's table: each run's value and verdict rank first, then its difference to the
    baseline, then the interval of that difference. Turn cells get a column of their turns."""
    group_head = "hour" if cells and cells[0].group_kind == "hour" else "rate"
    columns = [Column(group_head, [x.group for x in cells], left=True)]
    if cells and cells[0].turns is not None:
        columns.append(Column("turns", [x.turns or "" for x in cells], left=True))
    columns += [Column("pct", [pkey(x.percentile) for x in cells]),
                Column(f"{run_letter(0)} ms", [_ms(x.runs[0].value_ms) for x in cells])]
    for i in range(1, len(c.runs)):
        vs = f"{run_letter(i)} vs {run_letter(0)}"     # over each run's columns
        runs = [cell.runs[i] for cell in cells]
        columns += [
            Column(f"{run_letter(i)} ms", [_ms(v.value_ms) for v in runs], group=vs),
            Column("diff ms", [_diff(v.diff_ms, v.diff_pct) for v in runs], 2, vs),
            Column(f"{c.level:.0%} interval", [_interval(v.ci_low_ms, v.ci_high_ms)
                                               for v in runs], 3, vs),
            Column("verdict", [v.verdict or "-" for v in runs], 1, vs, left=True)]
    return columns


def printed(c: Comparison, fmt: str, width: int) -> str:
    """What `tokenflood compare` and `ab` print: `text` fitted to `width`, `md` every column
    (compare.md), `json` compare.json's content."""
    if fmt == "json":
        return c.to_json()
    if fmt == "text":
        return text(c, width)
    return markdown(c)


def method(c: Comparison) -> str:
    return (f"Differences are to {run_letter(0)}, with a {c.level:.0%} bootstrap interval "
            f"({c.resamples} resamples of the ok requests, seed {c.seed}); a verdict needs the "
            f"interval to exclude 0, and at least {bootstrap.MIN_SAMPLES} requests with "
            f"{bootstrap.MIN_TAIL:g} beyond the percentile (p99: {min_samples(99)}) in both runs.")


def verdict_line(c: Comparison, run: int, by_turn: bool = False) -> str:
    """'B vs A: slower in 8, no clear difference in 4 of 12 cells' ('B vs A by turn: …')."""
    counts = c.verdicts(run, by_turn)
    total = sum(counts.values())
    parts = [f"{verdict} in {counts[verdict]}" for verdict in VERDICT_ORDER if counts.get(verdict)]
    return (f"{run_letter(run)} vs {run_letter(0)}{' by turn' if by_turn else ''}: "
            + (", ".join(parts) or "nothing to compare") + f" of {total} cells")


def min_samples(p: float) -> int:
    """The fewest ok requests that get a verdict at percentile p."""
    tail = min(p, 100.0 - p) / 100.0
    return max(bootstrap.MIN_SAMPLES, math.ceil(bootstrap.MIN_TAIL / tail - 1e-9) if tail else 0)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _diff(ms: float | None, pct: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:+.1f}" + ("" if pct is None else f" ({pct:+.1f}%)")


def _interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:+.1f} … {high:+.1f}"
