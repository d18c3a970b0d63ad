"""report.html of a results folder, from its summary alone (so any folder, of any earlier version
or of a run that was killed, gets one): what ran and how it ended, its charts, tables, failures,
verdicts and warnings. Built with the same table and line functions as summary.md."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

from .. import __version__
from ..metrics.summary import HourStats, PhaseStats, PollStats, RunSummary, pkey
from ..outputs import report, session_tables
from ..outputs.formats import duration, number
from ..outputs.report import Table
from ..outputs.charts import throttled
from ..specs.secrets import redact_url
from .page import Chart, Page, Series

REPORT_FILE = "report.html"
KINDS = {"load_test": "load test", "observation": "observation", "search": "capacity search"}
METRIC_TITLES = {"ttft_ms": "TTFT", "e2e_ms": "end-to-end latency", "tpot_ms": "TPOT",
                 "itl_ms": "ITL", "ttfa_ms": "TTFA (time to the first answer token)",
                 "reasoning_ms": "time reasoning", "answer_tpot_ms": "answer TPOT",
                 "answer_itl_ms": "answer ITL"}
BY_RATE = ("ttft_ms", "e2e_ms", "tpot_ms")
FOLD_ROWS = 24          # a table longer than this (an observation's polls) is folded
REASONING_BY_RATE = ("ttfa_ms", "reasoning_ms")


def write(folder: Path, summary: RunSummary, scrub: Callable[[str], str] | None = None,
          out: Path | None = None) -> Path:
    """report.html in `folder` (or at `out`); `scrub` takes the endpoint's secrets out of the
    page, the last line of defence as for every file of the folder. OSError when it cannot be
    written."""
    path = out or Path(folder) / REPORT_FILE
    text = page(summary, Path(folder).name)
    path.write_text(scrub(text) if scrub else text, encoding="utf-8")
    return path


def page(s: RunSummary, folder_name: str) -> str:
    """The whole page as HTML."""
    kind = KINDS[s.type] + (" of sessions" if s.workload == "sessions" else "")
    doc = Page(f"tokenflood {kind} {s.run_name} on {s.model} ({s.status})")
    doc.h1(f"tokenflood {kind} “{s.run_name}” on {s.model}"
           + (" (partial)" if s.partial else ""), s.status)
    doc.facts(_header(s, folder_name))
    doc.lines(_verdicts(s), "verdicts")
    if s.type == "observation":
        _observation(doc, s)
    else:
        _phases(doc, s)
    doc.h2("Warnings")
    if s.warnings:
        doc.lines(s.warnings, "warnings")
    else:
        doc.note("none")
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return doc.html(f"tokenflood {__version__}: written {made} from {folder_name}/summary.json "
                    f"(run by tokenflood {s.tool_version})")


def _header(s: RunSummary, folder_name: str) -> list[tuple[str, str]]:
    b = s.budget
    cost = "unknown" if b.estimated_cost_usd is None else f"${b.estimated_cost_usd:.4f}"
    facts = [
        ("suite", s.run_name),
        ("endpoint", f"{s.model} ({s.provider}, client {s.client})"
         + (f" at {redact_url(s.base_url)}" if s.base_url else "")),
        ("when", f"{s.started_at} to {s.finished_at}" + _took(s)),
        ("how it ended", s.status + (f": {s.message}" if s.message else "")),
        ("sent", f"{_what(s)} from {s.workers or 'the main process'}"
         + (" worker processes" if s.workers else "")),
        ("prompts", ("fresh for this run" if s.prompts == "fresh" else "reused from the seed")
         + ("" if s.partial else f"; tokens counted by {s.token_counter}, the chat template "
                                 f"adds {s.template_tokens}")),
        ("tokens", f"input {b.actual_input_tokens:,} (estimated {b.estimated_input_tokens:,}), "
                   f"output {b.actual_output_tokens:,} (estimated "
                   f"{b.estimated_output_tokens:,}); cost estimate {cost}"),
        ("results folder", folder_name),
    ]
    if s.cluster is not None:
        facts.append(("Dask cluster", report.cluster_line(s.cluster)))
    return facts


def _what(s: RunSummary) -> str:
    if s.type == "observation":
        return "polls"
    return "sessions" if s.workload == "sessions" else "requests"


def _took(s: RunSummary) -> str:
    try:
        seconds = (datetime.fromisoformat(s.finished_at)
                   - datetime.fromisoformat(s.started_at)).total_seconds()
    except ValueError:
        return ""
    return f" ({duration(seconds)})" if seconds >= 0 else ""


def _verdicts(s: RunSummary) -> list[str]:
    lines = []
    if s.search is not None:
        lines.append(f"answer: {s.search.answer}")
    saturation = report.saturation_line(s)
    if saturation:
        lines.append(f"saturation: {saturation}")
    verdict = report.threshold_verdict(s)
    if verdict:
        lines.append(verdict)
    bound = [f"phase {ph.phase}: {ph.client_bound_reason()}" for ph in s.phases
             if ph.client_bound]
    if bound:
        lines.append("the client was the bottleneck (its latencies include client-side delay) "
                     "in " + "; ".join(bound))
    return lines


# ------------------------------------------------------------------------ load tests, searches


def _phases(doc: Page, s: RunSummary) -> None:
    pct, unit = s.percentiles, s.rate_unit
    phases = sorted(s.phases, key=lambda ph: (ph.target_rps, ph.phase))
    if s.search is not None:
        _search(doc, s)
    doc.h2("Latency by rate")
    if not phases:
        doc.note("no phase finished: nothing was measured")
    for metric in BY_RATE:
        doc.chart(by_rate(phases, pct, metric, unit))
    doc.h2("Phases")
    doc.table(report.phase_table(s.phases, pct, unit))
    if s.thresholds:
        doc.h2("Thresholds")
        doc.table(report.threshold_table(s.thresholds))
        doc.table(report.threshold_matrix(s.thresholds, s.phases, unit))
    doc.h2("Failures by kind")
    errors = report.error_table(s.phases)
    if errors is None:
        doc.note("no request failed")
    else:
        doc.table(errors)
    limits = report.limits_table(s.phases)
    if limits is not None:
        doc.h2("Rate limits")
        doc.table(limits)
        line = report.limits_line(s)
        if line:
            doc.note(line)
    server = report.server_table(s.phases, pct)
    if server is not None:       # the server's own /metrics, beside the client's figures
        doc.h2(f"Server ({s.server.engine if s.server else 'its'} metrics)")
        doc.table(server)
        queue = report.server_queue_line(s)
        doc.note((queue + "; " if queue else "") + "- : the engine publishes no such figure; "
                 "the TTFT gap is the client's TTFT minus the server's, as coarse as its "
                 "histogram's buckets")
    reasoning = [ph for ph in phases if ph.reasoning]
    if reasoning:
        doc.h2("Reasoning")
        for metric in REASONING_BY_RATE:
            doc.chart(by_rate(reasoning, pct, metric, unit))
        doc.table(reasoning_table(reasoning, pct))
    _sessions(doc, s)
    doc.h2("Tokens")
    doc.table(report.token_table(s.phases))
    if s.resumed:
        doc.h2("Resumed")
        doc.lines(report.resume_lines(s.resumed, False))
    doc.h2("All metrics")
    doc.table(report.detail_table(s.phases, pct), folded=f"every metric of every phase "
                                                         f"({len(s.phases)})")


def by_rate(phases: list[PhaseStats], percentiles: list[float], metric: str,
            unit: str) -> Chart:
    """One metric's percentiles against the phases' target rates (`phases` sorted by rate)."""
    return Chart(f"{METRIC_TITLES[metric]} by target rate (ms)", f"target {unit}", "ms",
                 [ph.target_rps for ph in phases],
                 [Series(pkey(p), [ph.metric(metric).at(p) for ph in phases], i)
                  for i, p in enumerate(percentiles)],
                 x_ticks=[f"{ph.target_rps:g}" for ph in phases])


def reasoning_table(phases: list[PhaseStats], percentiles: list[float]) -> Table:
    pcols = [pkey(p) for p in percentiles]
    head = (["phase", "target rate"] + [f"TTFA {c} ms" for c in pcols]
            + [f"reasoning {c} ms" for c in pcols]
            + ["answer TPOT p50 ms", "reasoning tokens", "answer tokens"])
    rows = [[str(ph.phase), f"{ph.target_rps:g}"]
            + [number(ph.ttfa_ms[c], 1) for c in pcols]
            + [number(ph.reasoning_ms[c], 1) for c in pcols]
            + [number(ph.answer_tpot_ms["p50"], 2),
               number(ph.reasoning_tokens_mean, 1)
               + (" est." if ph.reasoning_tokens_estimated else ""),
               number(ph.answer_tokens_mean, 1)]
            for ph in phases]
    return Table(head, rows)


def _search(doc: Page, s: RunSummary) -> None:
    assert s.search is not None
    result, unit = s.search, s.rate_unit
    doc.h2("Search")
    doc.lines(report.search_lines(result, unit) + [f"SLO: {result.slo}"])
    steps = result.steps
    if steps:
        n = list(range(1, len(steps) + 1))
        doc.chart(Chart(f"the rate of each step ({unit})", "step", unit, [float(i) for i in n], [
            Series("target", [st.target_rps for st in steps], 0),
            Series("achieved", [st.achieved_rps for st in steps], 3),
            # last, so their markers lie on top
            Series("met the SLO", [st.target_rps if st.meets else None for st in steps], 2,
                   line=False),
            Series("failed the SLO", [None if st.meets else st.target_rps for st in steps], 1,
                   line=False),
        ], x_ticks=[f"{i}" for i in n], digits=2))
    doc.table(report.search_table(result, unit))


def _sessions(doc: Page, s: RunSummary) -> None:
    """A session run's sessions, turns and sessions in flight: tables and, per phase, TTFT by
    turn and the sessions in flight over time."""
    sections = session_tables.sections(s.phases, s.percentiles)
    if not sections:
        return
    doc.h2("Sessions")
    for phase in session_tables.session_phases(s.phases):
        if phase.turns:
            turns = phase.turns
            doc.chart(Chart(f"phase {phase.phase} ({phase.target_rps:g} sessions/s): TTFT by "
                            "turn (ms)", "turn", "ms", [float(t.turn) for t in turns],
                            [Series(pkey(p), [t.ttft_ms.at(p) for t in turns], i)
                             for i, p in enumerate(s.percentiles)],
                            x_ticks=[str(t.turn) for t in turns]))
        points = phase.sessions.in_flight_over_time if phase.sessions else []
        if points:
            doc.chart(Chart(f"phase {phase.phase}: sessions in flight", "seconds since the "
                            "phase began", "sessions", [t for t, _ in points],
                            [Series("in flight", [float(n) for _, n in points], 0)], digits=0))
    for section in sections:
        doc.h3(section.title.capitalize())
        table = [c for c in section.table if not c.head.startswith("in flight from")]
        doc.table(Table([c.head for c in table],
                        [[c.cells[i] for c in table] for i in range(len(table[0].cells))]))
        doc.lines(section.notes)


# ------------------------------------------------------------------------ observations


def _observation(doc: Page, s: RunSummary) -> None:
    pct = s.percentiles
    doc.lines(report.observation_lines(s))
    doc.h2("Latency over time")
    polls = s.polls
    if polls:
        for metric in ("ttft_ms", "e2e_ms"):
            doc.chart(over_time(polls, pct, metric))
    else:
        doc.note("no poll ran")
    missed = report.missed_lines(polls)
    if missed:
        doc.h3("Missed polls")
        doc.lines(missed)
    limits = report.limits_table([p for p in polls if p.rate_limits is not None], "poll")
    if limits is not None:
        doc.h3("Rate limits")
        line = report.limits_line(s)
        if line:
            doc.note(line)
        doc.table(limits, folded=f"every poll with limits ({len(limits.rows)})"
                  if len(limits.rows) > FOLD_ROWS else None)
    doc.h2("Hours of day (UTC)")
    if s.hours:
        for metric in ("ttft_ms", "e2e_ms"):
            doc.chart(by_hour(s.hours, pct, metric))
    doc.table(report.hour_table(s.hours, pct))
    if s.thresholds:
        doc.h2("Thresholds")
        doc.table(report.threshold_table(s.thresholds, "poll"))
    doc.h2("Failures by kind")
    errors = report.poll_failures(polls)
    if errors is None:
        doc.note("no request failed")
    else:
        doc.table(errors)
    if s.resumed:
        doc.h2("Resumed")
        doc.lines(report.resume_lines(s.resumed, True))
    doc.h2("Polls")
    doc.table(report.poll_table(polls, pct),
              folded=f"every poll ({len(polls)})" if len(polls) > FOLD_ROWS else None)


# the throttled polls' marks: style 20 is a triangle (20 % 6 shapes) in black (20 % 7 colours),
# which no percentile's line of the first six has
THROTTLED_STYLE = 20


def over_time(polls: list[PollStats], percentiles: list[float], metric: str) -> Chart:
    """A metric's percentiles per poll against its slot (UTC); a missed poll is a gap; a poll
    the provider throttled is a mark on the 0 line (as in latency_over_time.txt)."""
    xs = [_epoch(p.slot_utc) for p in polls]
    series = [Series(pkey(p), [None if poll.missed else poll.metric(metric).at(p)
                               for poll in polls], i) for i, p in enumerate(percentiles)]
    if any(map(throttled, polls)):
        series.append(Series("throttled poll (on the 0 line)",
                             [0.0 if throttled(poll) else None for poll in polls],
                             THROTTLED_STYLE, line=False))
    return Chart(f"{METRIC_TITLES[metric]} per poll (ms)", "poll slot (UTC)", "ms", xs, series,
                 time=True)


def by_hour(hours: list[HourStats], percentiles: list[float], metric: str) -> Chart:
    return Chart(f"{METRIC_TITLES[metric]} by hour of day (ms)", "hour of day (UTC)", "ms",
                 [float(h.hour_utc) for h in hours],
                 [Series(pkey(p), [getattr(h, metric).at(p) for h in hours], i)
                  for i, p in enumerate(percentiles)],
                 x_ticks=[f"{h.hour_utc:02d}:00" for h in hours])


def _epoch(slot_utc: str) -> float:
    return datetime.fromisoformat(slot_utc.replace("Z", "+00:00")).timestamp()

