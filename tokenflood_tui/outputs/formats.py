"""Numbers as people read them, in one place for both front ends and the written tables.

Every function writes '-' for a missing value (a percentile without a sample, a rate not known
yet), so a row or a line reads the same way whether or not it has its figure. Where two views
write the same quantity differently (a compact table cell, a status line), the difference is a
parameter here, not a second copy of the function.

Here, below `live/`, and not in it: summary.md (`outputs/report.py`) and the budget lines
(`run/budget.py`) write these numbers too, and the layers let them import only downwards.
"""

from __future__ import annotations

from ..metrics.summary import Distribution, pkey

MISSING = "-"


def ms(value: float | None, digits: int = 0, unit: bool = True) -> str:
    """A latency: '53 ms' (digits 0), '53.1 ms' (1); '53' without the unit (a table whose header
    says ms)."""
    if value is None:
        return MISSING
    return f"{value:.{digits}f}" + (" ms" if unit else "")


def ms_compact(value: float | None, one_decimal_below: float = 100.0) -> str:
    """A latency in as few digits as still say it: one decimal below `one_decimal_below` ms
    ('8.4', '-12.5'), whole ms from there on ('153'); no unit."""
    if value is None:
        return MISSING
    return f"{value:.1f}" if abs(value) < one_decimal_below else f"{value:.0f}"


def number(value: float | None, digits: int, grouped: bool = True) -> str:
    """A figure with `digits` decimals, thousands grouped ('1,234.5') unless `grouped` is False
    (a cell joined with others by '/')."""
    if value is None:
        return MISSING
    return f"{value:,.{digits}f}" if grouped else f"{value:.{digits}f}"


def share(value: float | None) -> str:
    """A fraction as a whole percentage: 0.37 as '37%'."""
    return MISSING if value is None else f"{value:.0%}"


def percentiles(dist: Distribution, at: list[float], digits: int = 0, *, keys: bool = True,
                unit: bool = True, collapse: bool = True) -> str:
    """A distribution's percentiles on one line: 'p50/p90/p99 53/60/71 ms' ('53.1/60.2/71.0' with
    digits 1). `keys` and `unit` leave out the 'p50/p90/p99 ' and ' ms' where a header says them;
    a percentile without a sample is '-'. `collapse`: when none has a sample (every request
    failed), just '-'; without it the line keeps its shape ('p50/p90 -/- ms')."""
    values = [dist.at(p) for p in at]
    if collapse and all(v is None for v in values):
        return MISSING
    text = "/".join(MISSING if v is None else f"{v:.{digits}f}" for v in values)
    if keys:
        text = "/".join(pkey(p) for p in at) + " " + text
    return text + (" ms" if unit else "")


def headroom(kind: str, remaining: int, limit: int | None, reset_s: float | None) -> str:
    """What is left of a provider's limit: 'tokens 9,000/10,000 (90%) resets in 6 s'; without
    a limit (Azure may send only what remains) 'requests 12 left'."""
    text = (f"{kind} {remaining:,}/{limit:,} ({share(remaining / limit)})" if limit
            else f"{kind} {remaining:,} left")
    return text + (f" resets in {reset_s:.3g} s" if reset_s is not None else "")


def clock(seconds: float) -> str:
    """A duration as a clock, for a countdown or the time left: '4:32', '1:04:32', '2d 23:49:32'."""
    s = max(0, int(seconds + 0.5))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}:{s:02d}"
    return f"{hours}:{minutes:02d}:{s:02d}" if hours else f"{minutes}:{s:02d}"


def span(seconds: float) -> str:
    """A configured duration as a person says it: '6 s', '15 min', '3 h', '1 h 30 min', '2 d 6 h'
    (an observation's interval and length)."""
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    days, rest = divmod(round(seconds / 60), 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = ([f"{days} d"] if days else []) + ([f"{hours} h"] if hours else []) + (
        [f"{minutes} min"] if minutes else [])
    return " ".join(parts)


def duration(seconds: float) -> str:
    """A measured or estimated duration to the second, in its two largest units: '45 s',
    '3 min 05 s', '2 h 10 min', '3 d 02 h' (from 48 hours on)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours // 24} d {hours % 24:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def ranges(numbers: list[int]) -> list[str]:
    """Whole numbers as runs: [4, 5, 6, 9] as ['4-6', '9'] (polls, turns)."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return [f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]


BARS = "▁▂▃▄▅▆▇█"
NONE_BAR = "·"          # a count of 0: nothing, which the lowest bar (some) must not look like


def sparkline(counts: list[int], width: int, top: int | None = None) -> str:
    """Counts (sessions in flight over time) as one bar each, from 0 to `top` (default their
    highest): '·' for none, '▁' to '█' for some to `top`. With more counts than `width`, each
    character is the highest of its share, so a peak is never averaged away."""
    n = len(counts)
    if not n or width <= 0:
        return ""
    if n > width:
        counts = [max(counts[i * n // width:max(i * n // width + 1, (i + 1) * n // width)])
                  for i in range(width)]
    top = max(counts) if top is None else top
    levels = len(BARS)
    return "".join(NONE_BAR if c <= 0 else
                   BARS[max(1, min(levels, round(c / top * levels))) - 1] if top > 0 else BARS[-1]
                   for c in counts)
