"""A session run's own tables (docs/results.md#summarymd): its sessions, its requests by turn
index, and its sessions in flight over time, per phase.

Each table is defined once, as columns that carry both their head in summary.md (every column,
its unit in its head: 'TTFT p50 ms') and their short head on a terminal (under a group label:
'p50' under 'TTFT ms'), with a rank for what stays when a terminal is narrow (outputs/fit.py).
`markdown` draws every column as a pipe table; `columns` hands the short ones to `fit`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..metrics.summary import Distribution, PhaseStats, TurnStats, pkey
from .fit import Column
from .formats import number, ranges, share, sparkline

# On a terminal a phase's turns are shown up to this many; past it turns 1-4 (the cold first
# turn and the first re-sends), every power of two and the last: where the history has doubled,
# each an exact turn index of summary.json (percentiles of several turns cannot be merged from
# the summary's). summary.md has every turn.
TURNS_SHOWN = 8
FIRST_TURNS = 4


@dataclass(frozen=True, slots=True)
class SessionColumn:
    head: str               # in summary.md
    short: str              # on a terminal, under `group`
    cells: list[str]
    rank: int = 0           # outputs/fit.py: lower stays longer
    group: str = ""
    left: bool = False
    terminal: bool = True   # False: summary.md only (a line under the table says it)


def columns(table: list[SessionColumn]) -> list[Column]:
    """The terminal's columns, for fit.fit_table."""
    return [Column(c.short, c.cells, c.rank, c.group, c.left) for c in table if c.terminal]


def markdown(table: list[SessionColumn]) -> str:
    """Every column as a pipe table: figures right-aligned, text left."""
    widths = [max([len(c.head), *(len(x) for x in c.cells)]) for c in table]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(x.ljust(w) if c.left else x.rjust(w)
                                 for x, c, w in zip(cells, table, widths, strict=True)) + " |"
    sep = "|" + "|".join(":" + "-" * (w + 1) if c.left else "-" * (w + 1) + ":"
                         for c, w in zip(table, widths, strict=True)) + "|"
    rows = [line([c.cells[i] for c in table]) for i in range(len(table[0].cells))]
    return "\n".join([line([c.head for c in table]), sep, *rows])


def session_phases(phases: list[PhaseStats]) -> list[PhaseStats]:
    """The phases that sent sessions."""
    return [ph for ph in phases if ph.sessions is not None]


def _percentile_columns(name: str, unit: str, dists: list[Distribution], percentiles: list[float],
                        digits: int) -> list[SessionColumn]:
    """One column per percentile: the first and the last rank 1, those between 3."""
    last = len(percentiles) - 1
    return [SessionColumn(f"{name} {pkey(p)}" + (f" {unit}" if unit else ""), pkey(p),
                          [number(d.at(p), digits) for d in dists],
                          1 if i in (0, last) else 3, f"{name} {unit}".strip())
            for i, p in enumerate(percentiles)]


def session_table(phases: list[PhaseStats], percentiles: list[float]) -> list[SessionColumn]:
    """One row per session phase: its rates (offered: started per second; completed per second
    until it drained), how its sessions ended, their turns, durations and slowdown, its
    sub-agents and its ramp."""
    rows = session_phases(phases)
    st = [ph.sessions for ph in rows if ph.sessions is not None]
    unit = "sessions/s"
    return [
        SessionColumn("phase", "phase", [str(ph.phase) for ph in rows]),
        SessionColumn(f"target {unit}", "target", [f"{ph.target_rps:g}" for ph in rows], 3, unit),
        SessionColumn(f"offered {unit}", "offered", [number(s.achieved_sps, 2) for s in st], 0,
                      unit),
        SessionColumn(f"completed {unit}", "completed", [number(s.completed_sps, 2) for s in st],
                      0, unit),
        SessionColumn("planned", "planned", [str(s.planned) for s in st], 2, "sessions"),
        SessionColumn("started", "started", [str(s.started) for s in st], 0, "sessions"),
        SessionColumn("completed", "completed", [str(s.completed) for s in st], 0, "sessions"),
        SessionColumn("context limit", "ctx limit", [str(s.context_limit) for s in st], 2,
                      "sessions"),
        SessionColumn("error", "error", [str(s.error) for s in st], 1, "sessions"),
        SessionColumn("cut", "cut", [str(s.cut) for s in st], 1, "sessions"),
        SessionColumn("turns per session", "turns", [number(s.turns_mean, 1) for s in st], 2,
                      "mean"),
        *_percentile_columns("duration", "s", [s.duration_s for s in st], percentiles, 1),
        *_percentile_columns("slowdown", "", [s.slowdown for s in st], percentiles, 2),
        SessionColumn("sub-agents", "sub-agents", [str(s.subagents) for s in st], 3),
        SessionColumn("ramp s", "ramp s", [number(s.ramp_s, 1) for s in st], terminal=False),
        SessionColumn("ramp requests", "ramp requests", [str(s.ramp_requests) for s in st],
                      terminal=False),
    ]


def ramp_line(phases: list[PhaseStats]) -> str | None:
    """'ramp: the first 12 s of phase 1 (34 requests) kept out of its latency figures and
    goodput (its sessions were ramping up)'; None when no session phase had a ramp."""
    ramps = [(ph.phase, round(ph.sessions.ramp_s, 1), ph.sessions.ramp_requests)
             for ph in session_phases(phases) if ph.sessions is not None and ph.sessions.ramp_s]
    if not ramps:
        return None
    if len(ramps) == 1:
        (phase, ramp_s, n), = ramps
        return (f"ramp: the first {ramp_s:g} s of phase {phase} ({_requests(n)}) kept out of its "
                "latency figures and goodput (its sessions were ramping up)")
    if len({r for _, r, _ in ramps}) == 1:
        counts = ", ".join(f"{_requests(n)} in phase {p}" for p, _, n in ramps)
        where = f"{ramps[0][1]:g} s of each phase ({counts})"
    else:
        where = ", ".join(f"{r:g} s of phase {p} ({_requests(n)})" for p, r, n in ramps)
    return (f"ramp: the first {where} kept out of their latency figures and goodput (their "
            "sessions were ramping up)")


def _requests(n: int) -> str:
    return f"{n} request" if n == 1 else f"{n} requests"


def shown_turns(turns: list[TurnStats], every: bool) -> list[TurnStats]:
    """All of a phase's turns (`every`, or few), else 1-4, each power of two and the last."""
    if every or len(turns) <= TURNS_SHOWN:
        return turns
    last = turns[-1].turn
    return [t for t in turns if t.turn <= FIRST_TURNS or t.turn == last
            or t.turn & (t.turn - 1) == 0]


def turn_table(phases: list[PhaseStats], percentiles: list[float],
               every: bool = True) -> list[SessionColumn]:
    """One row per session phase and turn index: requests, TTFT and e2e, the history re-sent
    (context tokens, expected), the server's cached tokens and the cache hit against that
    history. Without `every`, a long session's turns are picked (`shown_turns`)."""
    rows = [(ph, t) for ph in session_phases(phases) for t in shown_turns(ph.turns, every)]
    turns = [t for _, t in rows]
    return [
        SessionColumn("phase", "phase", [str(ph.phase) for ph, _ in rows]),
        SessionColumn("turn", "turn", [str(t.turn) for t in turns]),
        SessionColumn("requests", "requests", [str(t.requests) for t in turns]),
        SessionColumn("ok", "ok", [str(t.ok) for t in turns], 2),
        *_percentile_columns("TTFT", "ms", [t.ttft_ms for t in turns], percentiles, 1),
        *_percentile_columns("e2e", "ms", [t.e2e_ms for t in turns], percentiles, 1),
        SessionColumn("context tokens", "context", [number(t.context_tokens_mean, 0)
                                                     for t in turns], 2, "tokens"),
        SessionColumn("cached tokens", "cached", [number(t.cached_tokens_mean, 0)
                                                   for t in turns], 4, "tokens"),
        SessionColumn("cache hit", "cache hit", [share(t.cache_hit) for t in turns], 1),
    ]


def turns_left_out(phases: list[PhaseStats]) -> str | None:
    """'turns 5-7, 9-11 of phase 1 …': what `shown_turns` left out on a terminal; None: none."""
    by_phase = {}
    for ph in session_phases(phases):
        shown = {t.turn for t in shown_turns(ph.turns, every=False)}
        out = [t.turn for t in ph.turns if t.turn not in shown]
        if out:
            by_phase[ph.phase] = ", ".join(ranges(out))
    if not by_phase:
        return None
    if len(set(by_phase.values())) == 1 and len(by_phase) == len(session_phases(phases)) > 1:
        where = f"{next(iter(by_phase.values()))} of each phase"
    else:
        where = "; ".join(f"{turns} of phase {phase}" for phase, turns in by_phase.items())
    return f"turns {where} not shown (summary.md has every turn)"


def in_flight_table(phases: list[PhaseStats], spark_width: int | None = None
                    ) -> list[SessionColumn]:
    """One row per session phase: the most sessions in flight at once and when, when it
    drained, and the count over time from its start to drained as a sparkline (60 points, one
    character each; `spark_width` fewer on a narrow terminal), every phase on one scale."""
    rows = [ph for ph in session_phases(phases)
            if ph.sessions is not None and ph.sessions.in_flight_over_time]
    series = [ph.sessions.in_flight_over_time for ph in rows if ph.sessions is not None]
    peaks = [max(n for _, n in points) for points in series]
    top = max(peaks, default=0)
    width = spark_width or max((len(p) for p in series), default=0)
    return [
        SessionColumn("phase", "phase", [str(ph.phase) for ph in rows]),
        SessionColumn("peak", "peak", [str(p) for p in peaks]),
        SessionColumn("peak at s", "at s", [
            number(next(t for t, n in points if n == peak), 1)
            for points, peak in zip(series, peaks, strict=True)], 2),
        SessionColumn("drained at s", "drained s", [number(points[-1][0], 1)
                                                    for points in series], 1),
        SessionColumn(f"in flight from the start to drained (· none, █ {top})",
                      f"from start to drained (█ {top})",
                      [sparkline([n for _, n in points], width, top) for points in series],
                      left=True),
    ]


SPARK_HEAD_GAP = 2     # outputs/fit.GAP: between the sparkline and the column before it


def spark_width(phases: list[PhaseStats], width: int) -> int:
    """How many characters the in-flight sparkline gets on a terminal `width` wide: what the
    other columns leave (at most one per point)."""
    others = columns(in_flight_table(phases, 1))[:-1]
    used = sum(c.natural for c in others) + SPARK_HEAD_GAP * len(others)
    return max(1, width - used)


@dataclass(frozen=True, slots=True)
class Section:
    """One of a session run's tables with its title and the lines said under it."""

    title: str                      # 'sessions', 'turns', 'sessions in flight'
    table: list[SessionColumn]
    notes: list[str]


def sections(phases: list[PhaseStats], percentiles: list[float],
             every_turn: bool = True, spark: int | None = None) -> list[Section]:
    """A session run's tables, in the order they are read; none for single requests.
    `every_turn` False and `spark`: as a terminal shows them (turns picked, the sparkline
    narrowed to `spark` characters)."""
    if not session_phases(phases):
        return []
    ramp = ramp_line(phases)
    left_out = None if every_turn else turns_left_out(phases)
    out = [Section("sessions", session_table(phases, percentiles), [ramp] if ramp else [])]
    turns = turn_table(phases, percentiles, every_turn)
    if turns[0].cells:             # none while every request so far fell in the ramp
        out.append(Section("turns", turns, [left_out] if left_out else []))
    flying = in_flight_table(phases, spark)
    if flying[0].cells:            # none before a phase drained (a live or partial summary)
        out.append(Section("sessions in flight", flying, []))
    return out
