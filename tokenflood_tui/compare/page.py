"""report.html of a comparison (`tokenflood compare`, the end of `tokenflood ab`): the runs,
the verdicts, the warnings, and for each metric and percentile the runs overlaid by rate (or
hour of day). A run keeps its colour, dash and marker in every chart, so the runs stay apart in
print and for colour-blind readers."""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import quote

from .. import __version__
from ..metrics.summary import pkey
from ..outputs.charts import run_letter
from ..outputs.experiment import ExperimentInfo, is_experiment
from ..outputs.report import Table
from ..report.page import Chart, Page, Series
from ..report.run import REPORT_FILE
from ..specs.secrets import redact_url
from .compare import Comparison
from .output import SERVER_HEADING, SERVER_NOTE, method, server_table, verdict_line, verdict_table
from .samples import METRIC_NAMES


def write(c: Comparison, folder: Path, scrub: Callable[[str], str] | None = None,
          out: Path | None = None) -> Path:
    """report.html in the comparison's folder (or at `out`); OSError when it cannot be written."""
    path = out or Path(folder) / REPORT_FILE
    text = page(c, Path(folder))
    path.write_text(scrub(text) if scrub else text, encoding="utf-8")
    return path


def page(c: Comparison, folder: Path) -> str:
    letters = [run_letter(i) for i in range(len(c.runs))]
    experiment = ExperimentInfo.load(folder) if is_experiment(folder) else None
    title = (f"A/B experiment {experiment.suite}: {' vs '.join(letters)}" if experiment
             else f"comparison: {' vs '.join(letters)}")
    doc = Page(f"tokenflood {title}")
    doc.h1(f"tokenflood {title}", experiment.outcome if experiment else None)
    if experiment is not None:
        doc.facts([("suite", experiment.suite),
                   ("when", f"{experiment.started_at} to {experiment.finished_at or '-'}"),
                   ("rounds", f"{experiment.rounds} per rate, in a seeded interleaved order "
                              f"(seed {experiment.seed})")])
    doc.h2("Runs")
    doc.table(Table(["run", "results folder", "suite", "model", "provider", "endpoint",
                     "started", "status", "prompts"],
                    [[letters[i] + (" (baseline)" if i == 0 else ""), r.name, r.run_name,
                      r.model, r.provider, redact_url(r.base_url) if r.base_url else "-",
                      r.started_at, r.status, r.prompts] for i, r in enumerate(c.runs)],
                    text=frozenset(range(9))))
    if experiment is not None:
        doc.links([(f"{letters[i]} {v.name}: its results folder's report.html",
                    f"{quote(v.name)}/{REPORT_FILE}")
                   for i, v in enumerate(experiment.variants)
                   if (folder / v.name / REPORT_FILE).is_file()])
    doc.h2("Verdicts")
    doc.lines([verdict_line(c, i) for i in range(1, len(c.runs))]
              + [verdict_line(c, i, by_turn=True) for i in range(1, len(c.runs))
                 if c.turn_cells], "verdicts")
    doc.note(method(c))
    doc.h2("Warnings")
    if c.warnings:
        doc.lines(c.warnings, "warnings")
    else:
        doc.note("none")
    group = "hour" if c.cells and c.cells[0].group_kind == "hour" else "rate"
    for metric in c.metrics:
        doc.h2(f"{METRIC_NAMES[metric]} (ms)")
        for p in c.percentiles:
            doc.chart(overlay(c, metric, p))
        doc.table(verdict_table(c, [x for x in c.cells if x.metric == metric], [group]),
                  bad=("slower",))
    for metric in c.metrics if c.turn_cells else []:
        doc.h2(f"{METRIC_NAMES[metric]} by turn (ms)")
        doc.table(verdict_table(c, [x for x in c.turn_cells if x.metric == metric],
                                ["rate", "turns"]), bad=("slower",))
    server = server_table(c)
    if server is not None:       # each run's own /metrics, as its report.html shows them
        doc.h2(SERVER_HEADING)
        doc.table(server)
        doc.note(SERVER_NOTE)
    return doc.html(f"tokenflood {__version__}: written from {folder.name}/compare.json "
                    f"(made {c.created_at})")


def run_names(c: Comparison) -> list[str]:
    """What a chart's key calls each run: its suite's name where those tell the runs apart, else
    its folder's (an A/B experiment's variants share the suite; their folders are the variants'
    names)."""
    suites = [r.run_name for r in c.runs]
    return suites if len(set(suites)) == len(suites) else [r.name for r in c.runs]


def overlay(c: Comparison, metric: str, percentile: float) -> Chart:
    """Each run's value of one metric at one percentile, by group: one series per run."""
    cells = sorted((x for x in c.cells if x.metric == metric and x.percentile == percentile),
                   key=lambda x: x.group_value)
    hours = bool(cells) and cells[0].group_kind == "hour"
    # '4 req/s', '0.5 sessions/s': the rate's unit after its number
    unit = cells[0].group.partition(" ")[2] if cells and not hours else "req/s"
    return Chart(f"{METRIC_NAMES[metric]} {pkey(percentile)} by "
                 + ("hour of day (ms)" if hours else "target rate (ms)"),
                 "hour of day (UTC)" if hours else f"target {unit}", "ms",
                 [x.group_value for x in cells],
                 [Series(f"{run_letter(r)} {name}", [x.runs[r].value_ms for x in cells], r)
                  for r, name in enumerate(run_names(c))],
                 x_ticks=[x.group.removesuffix(" UTC") if hours else f"{x.group_value:g}"
                          for x in cells])
