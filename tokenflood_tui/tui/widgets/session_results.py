"""A finished session run's tables (docs/metrics.md#sessions), as the results view shows them:
how each phase's sessions ended, its offered, achieved and completed sessions/s with the ramp
kept out, the sessions' durations and slowdown, the sessions in flight over each phase, and
every turn index with its percentiles (a finished run has them exactly, where the live view
groups turns into buckets).

Each table fits 80 columns with three percentiles: below 100 columns (`narrow`) the turns
table's headers are terse, and its section title says what they mean.
"""

from __future__ import annotations

from textual.widgets import DataTable

from ...metrics.summary import PhaseStats, pkey
from ...outputs.formats import number, percentiles, share
from .bars import BARS, columns, level

IN_FLIGHT_WIDTH = 40     # columns of a phase's in-flight sparkline
NARROW = 100             # below this many columns the turns table's headers are terse


def fill_ends(table: DataTable, phases: list[PhaseStats]) -> None:
    """How many sessions each phase planned and started, and how the ones that ended, ended."""
    table.clear(columns=True)
    table.add_columns("phase", "planned", "started", "completed", "context limit", "error",
                      "cut", "sub-agents")
    for ph in phases:
        s = ph.sessions
        if s is not None:
            table.add_row(str(ph.phase), str(s.planned), str(s.started), str(s.completed),
                          str(s.context_limit), str(s.error), str(s.cut), str(s.subagents),
                          key=str(ph.phase))


def fill_rates(table: DataTable, phases: list[PhaseStats]) -> None:
    """Sessions/s offered (the target), achieved (started per second of the phase) and completed
    (per second from the start until drained); the ramp its latencies leave out."""
    table.clear(columns=True)
    table.add_columns("phase", "offered/s", "achieved/s", "completed/s", "ramp s",
                      "ramp requests")
    for ph in phases:
        s = ph.sessions
        if s is not None:
            table.add_row(str(ph.phase), f"{ph.target_rps:g}", number(s.achieved_sps, 2),
                          number(s.completed_sps, 2), number(s.ramp_s, 1), str(s.ramp_requests),
                          key=str(ph.phase))


def fill_durations(table: DataTable, phases: list[PhaseStats], pcts: list[float]) -> None:
    """The sessions' durations and slowdown at the suite's percentiles, requests per session."""
    keys = "/".join(pkey(p) for p in pcts)
    table.clear(columns=True)
    table.add_columns("phase", f"duration s {keys}", f"slowdown {keys}", "turns/session")
    for ph in phases:
        s = ph.sessions
        if s is not None:
            table.add_row(str(ph.phase),
                          percentiles(s.duration_s, pcts, 1, keys=False, unit=False),
                          percentiles(s.slowdown, pcts, 2, keys=False, unit=False),
                          number(s.turns_mean, 1), key=str(ph.phase))


def turns_title(pcts: list[float], narrow: bool) -> str:
    keys = "/".join(pkey(p) for p in pcts)
    if narrow:
        return f"turns · TTFT, e2e {keys} ms · hist, cached: tokens (means)"
    return f"turns by index · TTFT, e2e {keys} ms · history, cached: tokens (means)"


def fill_turns(table: DataTable, phases: list[PhaseStats], pcts: list[float],
               narrow: bool) -> None:
    """Every phase's requests by turn index: TTFT and e2e percentiles, the expected history and
    the cached tokens (means), the cache hit (cached over the expected history)."""
    keys = "/".join(pkey(p) for p in pcts)
    table.clear(columns=True)
    if narrow:
        table.add_columns("ph", "turn", "req", "ok", "TTFT", "e2e", "hist", "cached", "hit")
    else:
        table.add_columns("phase", "turn", "requests", "ok", f"TTFT {keys}", f"e2e {keys}",
                          "history", "cached", "cache hit")
    for ph in phases:
        for t in ph.turns:
            table.add_row(str(ph.phase), str(t.turn), str(t.requests), str(t.ok),
                          percentiles(t.ttft_ms, pcts, keys=False, unit=False),
                          percentiles(t.e2e_ms, pcts, keys=False, unit=False),
                          number(t.context_tokens_mean, 0), number(t.cached_tokens_mean, 0),
                          share(t.cache_hit), key=f"{ph.phase}-{t.turn}")


def in_flight_lines(phases: list[PhaseStats], width: int = IN_FLIGHT_WIDTH) -> list[str]:
    """'phase 1  ▁▂▅▇█▇▅▂▁  peak 5 over 6.1 s': each phase's sessions in flight from its start
    until drained, from 0 to its peak."""
    lines = []
    for ph in phases:
        s = ph.sessions
        if s is None:
            continue
        points = s.in_flight_over_time
        if not points:
            lines.append(f"phase {ph.phase}  (no sessions in flight recorded)")
            continue
        counts = [float(n) for _, n in points]
        peak = max(counts)
        bars = "".join(BARS[level(v, peak)] for v in columns(counts, min(width, len(counts))))
        lines.append(f"phase {ph.phase}  {bars}  peak {peak:.0f} over {points[-1][0]:.1f} s")
    return lines
