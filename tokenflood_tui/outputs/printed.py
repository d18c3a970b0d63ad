"""A run's summary as printed on stdout after the run (headless, and the TUI on exit) and by
`tokenflood results`: `text` fits the terminal's width, the columns that matter first (the full
table is in summary.md); `markdown` is every column as pipe tables, for files and scripts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..metrics.saturation import judged
from ..metrics.summary import Distribution, HourStats, PhaseStats, PollStats, RunSummary, pkey, reasoned
from . import report, session_tables
from .fit import Column, dropped_note, fit_table, wrap

LAST_POLLS_PRINTED = 10    # a days-long observation has hundreds; summary.md and polls.csv have all
FULL_TABLE = "summary.md"


def headline(s: RunSummary) -> str:
    """'tokenflood run 'name' on model: completed (message)'"""
    kind = "run" if s.type == "load_test" else s.type
    return (f"tokenflood {kind} {s.run_name!r} on {s.model}: {s.status}"
            + (f" ({s.message})" if s.message else ""))


# ------------------------------------------------------------------------ fitted to a width


def text(s: RunSummary, folder: Path, width: int) -> str:
    """The summary in lines of at most `width` (a path longer than that stands whole)."""
    lines = ["", *wrap(headline(s), width, hang="  "), ""]
    lines += (_observation(s, width) if s.type == "observation" else _load_test(s, width))
    saturation = report.saturation_line(s)
    if saturation:
        lines += ["", *wrap(f"saturation: {saturation}", width, hang="  ")]
    queue = report.server_queue_line(s)
    if queue:
        lines += [*([] if saturation else [""]), *wrap(f"server queue: {queue}", width,
                                                       hang="  ")]
    if s.thresholds:
        word = "poll" if s.type == "observation" else "phase"
        cells = report.threshold_cells(s.thresholds, word)
        lines += ["", *wrap(report.threshold_verdict(s) or "", width, hang="  "), *_table([
            Column("threshold", [r.threshold for r in s.thresholds], left=True),
            Column("result", ["pass" if r.passed else "FAIL" for r in s.thresholds], left=True),
            Column(f"{word}s passed", [c[0] for c in cells], left=True),
            Column(f"failed {word}s (value)", [c[1] for c in cells], 1, left=True, wrap=True),
        ], width)]
    if s.resumed:
        lines += ["", "resumed:", *_bullets(
            report.resume_lines(s.resumed, s.type == "observation"), width)]
    if s.warnings:
        lines += ["", "warnings:", *_bullets(s.warnings, width)]
    lines += ["", f"results: {folder}"]       # whole, to be copied (a long path cannot be cut)
    return "\n".join(lines) + "\n"


def _load_test(s: RunSummary, width: int) -> list[str]:
    """A search's answer and steps, the phases and their failures."""
    lines: list[str] = []
    if s.search is not None:
        lines += [piece for line in report.search_lines(s.search, s.rate_unit)
                  for piece in wrap(line, width, hang="  ")] + [""]
        steps = s.search.steps
        lines += _table([
            Column("phase", [str(st.phase) for st in steps]),
            Column(s.rate_unit, [f"{st.target_rps:g}" for st in steps]),
            Column("SLO", ["meets" if st.meets else "fails" for st in steps], left=True),
            Column("figures", [st.why for st in steps], left=True, wrap=True),
        ], width) + [""]
    if not s.phases:
        return lines + ["no phase ran"]
    lines += _table(phase_columns(s.phases, s.percentiles, s.rate_unit), width)
    errors = [(ph, e) for ph in s.phases for e in ph.errors]
    if errors:
        lines += ["", "failures:", *_table([
            Column("phase", [str(ph.phase) for ph, _ in errors]),
            Column("status", [e.status for _, e in errors], left=True),
            Column("HTTP", [str(e.http_status or "-") for _, e in errors]),
            Column("requests", [str(e.count) for _, e in errors]),
            Column("share", [f"{e.count / (ph.ok + ph.failed):.1%}" for ph, e in errors]),
        ], width)]
    server = report.server_table(s.phases, s.percentiles)
    if server is not None:
        head, rows = server.head, server.rows
        lines += ["", f"{s.server.engine if s.server and s.server.engine else 'server'}'s own "
                      "figures (- : not published):", *_table([
                          Column(h, [r[i] for r in rows],
                                 report.SERVER_RANKS.get(h, 3),
                                 left=h == "queue")
                          for i, h in enumerate(head)], width)]
    return lines + _limits(s, s.phases, width) + _sessions(s, width)


def _limits(s: RunSummary, phases: Sequence[PhaseStats], width: int) -> list[str]:
    """The rate-limit table and line, where a provider announced limits or refused requests."""
    table = report.limits_table(phases, "poll" if s.type == "observation" else "phase")
    if table is None:
        return []
    columns = [Column(head, [row[i] for row in table.rows], left=i in table.text_columns)
               for i, head in enumerate(table.head)]
    line = report.limits_line(s)
    return (["", "rate limits:", *_table(columns, width)]
            + ([piece for piece in wrap(line, width, hang="  ")] if line else []))


def _sessions(s: RunSummary, width: int) -> list[str]:
    """A session run's tables: its sessions, its turns (a long session's picked), its sessions
    in flight as a sparkline as wide as the terminal leaves."""
    lines: list[str] = []
    spark = session_tables.spark_width(s.phases, width)
    for section in session_tables.sections(s.phases, s.percentiles, every_turn=False,
                                           spark=spark):
        lines += ["", f"{section.title}:",
                  *_table(session_tables.columns(section.table), width)]
        lines += [piece for note in section.notes for piece in wrap(note, width, hang="  ")]
    return lines


def _observation(s: RunSummary, width: int) -> list[str]:
    """What ran, the hours of day, the last polls, the missed ones and the failures."""
    lines = [piece for line in report.observation_lines(s) for piece in wrap(line, width, hang="  ")]
    if s.hours:
        lines += ["", "by hour of day (UTC):",
                  *_table(hour_columns(s.hours, s.percentiles), width)]
    shown = s.polls[-LAST_POLLS_PRINTED:]
    if not shown:
        return lines + ["", "no poll ran"]
    days = sorted({p.slot_utc[:10] for p in shown})
    slots = "slots UTC" + (f", {days[0]}" if len(days) == 1 else "")
    lines += ["", *wrap(f"polls ({slots}):" if len(shown) == len(s.polls) else
                        f"the last {len(shown)} of {len(s.polls)} polls ({slots}; every poll "
                        "is in summary.md and polls.csv):", width)]
    lines += _table(poll_columns(shown, s.percentiles), width)
    missed = report.missed_lines(s.polls)
    if missed:
        lines += ["", "missed:", *_bullets(missed, width)]
    failures = report.poll_failure_kinds(s.polls)
    if failures:
        lines += ["", "failures:", *_table([
            Column("status", [f.status for f in failures], left=True),
            Column("HTTP", [str(f.http_status or "-") for f in failures]),
            Column("requests", [str(f.requests) for f in failures]),
            Column("share", [f"{f.share:.1%}" for f in failures]),
            Column("polls", [str(f.polls) for f in failures]),
            Column("first (UTC)", [report.slot_text(f.first_slot_utc) for f in failures], 1),
            Column("last (UTC)", [report.slot_text(f.last_slot_utc) for f in failures], 1),
        ], width)]
    return lines + _limits(s, [p for p in s.polls if p.rate_limits is not None][
        -LAST_POLLS_PRINTED:], width)


def _table(columns: list[Column], width: int) -> list[str]:
    fitted = fit_table(columns, width)
    return fitted.lines + dropped_note(fitted.dropped, width, FULL_TABLE)


def _bullets(items: list[str], width: int) -> list[str]:
    return [line for item in items for line in wrap(item, width, indent="  - ")]


def phase_columns(phases: list[PhaseStats], percentiles: list[float],
                  unit: str = "req/s") -> list[Column]:
    """A load test's phases, the columns that matter ranked first: rates (in `unit`), counts of
    requests, TTFT (and TTFA beside it, where a model reasoned) and e2e at the first and the last
    percentile, the verdict; then the other percentiles and the rest. (Which phases failed a
    threshold, the thresholds' table says.)"""
    def col(head, cells, rank=0, group="", left=False):
        return Column(head, [cells(ph) for ph in phases], rank, group, left)
    reasoning = reasoned(phases)
    return [
        col("phase", lambda ph: str(ph.phase)),
        col("target", lambda ph: f"{ph.target_rps:g}", group=unit),
        col("achieved", lambda ph: _num(ph.achieved_rps, 2), group=unit),
        col("sent", lambda ph: str(ph.sent), 3, "requests"),
        col("ok", lambda ph: str(ph.ok), group="requests"),
        col("failed", lambda ph: str(ph.failed), group="requests"),
        *_latency_columns("TTFT", [ph.ttft_ms for ph in phases], percentiles),
        *(_latency_columns("TTFA", [ph.ttfa_ms for ph in phases], percentiles)
          if reasoning else []),
        *_latency_columns("e2e", [ph.e2e_ms for ph in phases], percentiles),
        col("p50", lambda ph: _num(ph.tpot_ms["p50"], 2), 4, "TPOT ms"),
        *([col("reasoning tok", report.reasoning_tokens, 4)] if reasoning else []),
        col("out tok/s", lambda ph: _num(ph.output_tokens_per_s, 1), 4),
        col("cache hit", lambda ph: _share(ph.cache_hit_rate), 5),
        *([col("goodput", lambda ph: _share(ph.goodput), 5)]
          if any(ph.goodput is not None for ph in phases) else []),
        col("verdict", verdict, 1, left=True),
    ]


def verdict(ph: PhaseStats) -> str:
    """'SATURATED', 'client-bound' (its latencies include the client's delay), both, 'ok', or
    '-' when too few requests to judge; 'unfinished' for a phase the process did not finish."""
    if not ph.finished:
        return "unfinished"
    said = (["SATURATED"] if ph.saturated else []) + (["client-bound"] if ph.client_bound else [])
    return ", ".join(said) or ("ok" if judged(ph) else "-")


def poll_columns(polls: list[PollStats], percentiles: list[float]) -> list[Column]:
    """An observation's polls: the slot (UTC; the time alone when they fall on one day), status,
    counts, TTFT and e2e."""
    one_day = len({p.slot_utc[:10] for p in polls}) == 1
    reasoning = reasoned(polls)
    slots = [report.slot_text(p.slot_utc)[11:] if one_day else report.slot_text(p.slot_utc)
             for p in polls]
    return [
        Column("poll", [str(p.phase) for p in polls]),
        Column("slot", slots, left=True),
        Column("status", [report.poll_status(p) for p in polls], left=True),
        Column("sent", [str(p.sent) for p in polls], 3, "requests"),
        Column("ok", [str(p.ok) for p in polls], group="requests"),
        Column("failed", [str(p.failed) for p in polls], group="requests"),
        *_latency_columns("TTFT", [p.ttft_ms for p in polls], percentiles),
        *(_latency_columns("TTFA", [p.ttfa_ms for p in polls], percentiles)
          if reasoning else []),
        *_latency_columns("e2e", [p.e2e_ms for p in polls], percentiles),
        Column("out tok/s", [_num(p.output_tokens_per_s, 1) for p in polls], 4),
    ]


def hour_columns(hours: list[HourStats], percentiles: list[float]) -> list[Column]:
    return [
        Column("hour", [f"{h.hour_utc:02d}:00" for h in hours], left=True),
        Column("requests", [str(h.requests) for h in hours]),
        Column("ok", [str(h.ok) for h in hours]),
        *_latency_columns("TTFT", [h.ttft_ms for h in hours], percentiles),
        *_latency_columns("e2e", [h.e2e_ms for h in hours], percentiles),
    ]


def _latency_columns(metric: str, dists: list[Distribution],
                     percentiles: list[float]) -> list[Column]:
    """One column per percentile under '<metric> ms': the first and the last rank 1, the ones
    between 3 (left out first)."""
    last = len(percentiles) - 1
    return [Column(pkey(p), [_num(d.at(p), 1) for d in dists], 1 if i in (0, last) else 3,
                   f"{metric} ms") for i, p in enumerate(percentiles)]


# ------------------------------------------------------------------------ every column


def markdown(s: RunSummary, folder: Path) -> str:
    """The phase table (an observation: hours of day and the last polls), failures and warnings,
    and where the results are, as pipe tables with every column."""
    out = [f"\n{headline(s)}\n\n"]
    if s.type == "observation":
        for line in report.observation_lines(s):
            out.append(line + "\n")
        out.append("\nby hour of day (UTC):\n" + report.hour_table(s.hours, s.percentiles).markdown() + "\n")
        shown = s.polls[-LAST_POLLS_PRINTED:]
        out.append("\npolls:\n" if len(shown) == len(s.polls) else
                   f"\nthe last {len(shown)} of {len(s.polls)} polls (every poll is in summary.md "
                   "and polls.csv):\n")
        out.append(report.poll_table(shown, s.percentiles, reasons=False).markdown() + "\n")
        missed = report.missed_lines(s.polls)
        if missed:
            out.append("\nmissed:\n" + "".join(f"  - {line}\n" for line in missed))
        errors = report.poll_failures(s.polls)
    else:
        if s.search is not None:
            out.append(report.search_table(s.search, s.rate_unit).markdown() + "\n\n")
            out.append("".join(f"{line}\n" for line in report.search_lines(
                s.search, s.rate_unit)) + "\n")
        out.append(report.phase_table(s.phases, s.percentiles, s.rate_unit).markdown() + "\n")
        errors = report.error_table(s.phases)
    if errors:
        out.append("\nfailures:\n" + errors.markdown() + "\n")
    limits = report.limits_table(s.polls if s.type == "observation" else s.phases,
                                 "poll" if s.type == "observation" else "phase")
    if limits is not None:
        said = report.limits_line(s)
        out.append("\nrate limits:\n" + limits.markdown() + "\n" + (f"{said}\n" if said else ""))
    for section in session_tables.sections(s.phases, s.percentiles):
        out.append(f"\n{section.title}:\n" + session_tables.markdown(section.table) + "\n"
                   + "".join(f"{note}\n" for note in section.notes))
    server = report.server_table(s.phases, s.percentiles) if s.type != "observation" else None
    if server is not None:
        out.append(f"\n{s.server.engine if s.server and s.server.engine else 'server'}'s own "
                   "figures (- : not published):\n" + server.markdown() + "\n")
    saturation = report.saturation_line(s)
    if saturation:
        out.append(f"\nsaturation: {saturation}\n")
    queue = report.server_queue_line(s)
    if queue:
        out.append(f"{'' if saturation else chr(10)}server queue: {queue}\n")
    if s.thresholds:
        out.append("\n" + report.threshold_table(
            s.thresholds, "poll" if s.type == "observation" else "phase").markdown() + "\n"
            + f"{report.threshold_verdict(s)}\n")
    if s.resumed:
        out.append("\nresumed:\n" + "".join(
            f"  - {line}\n" for line in report.resume_lines(s.resumed, s.type == "observation")))
    if s.warnings:
        out.append("\nwarnings:\n" + "".join(f"  - {w}\n" for w in s.warnings))
    out.append(f"\nresults: {folder}\n")
    return "".join(out)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
