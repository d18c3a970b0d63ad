"""plotext charts of latency percentiles against request rate (load tests) and against time of
day (observations), shared by the TUI and the results folder.

Each chart gets its own plotext figure, so the run thread (results folder) and the UI thread
(live view) can draw at the same time. Latency is drawn from 0 (plotext would span the lowest to
the highest value, and a 2 ms wobble at 200 ms filled the whole height), and the key is a line
under the chart (plotext draws its legend over the plot's top left corner, on the lines there).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterable

from ..metrics.summary import PhaseStats, PollStats, pkey, reasoned

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# plotext's names of the basic colours: its "orange" is the terminal's yellow (a "yellow" is no
# plotext colour, and drew its line in none)
LINE_COLOURS = ["cyan", "orange", "magenta", "green", "red", "blue"]
POINT_MARKERS = ["•", "x", "+", "*", "o", "#"]   # tell percentiles apart without colour
# compared runs: each its own line style and its letter as the point marker, whatever the colours
RUN_LINES = ["braille", "dot", "hd"]
LINE_SAMPLES = {"braille": "⠒⠒", "dot": "••", "hd": "▀▀"}
TITLES = {"ttft_ms": "TTFT (ms)", "ttfa_ms": "TTFA: first answer token (ms)",
          "e2e_ms": "end-to-end latency (ms)"}


def charted(phases: Iterable[PhaseStats]) -> list[str]:
    """The metrics a saved chart draws: TTFT and e2e, and TTFA between them where a model
    reasoned."""
    return ["ttft_ms", "ttfa_ms", "e2e_ms"] if reasoned(phases) else ["ttft_ms", "e2e_ms"]
ROWS_PER_TICK = 3       # a y tick about every three rows
ROWS_OUTSIDE_PLOT = 5   # of a subplot's rows: title, frame top and bottom, x ticks, x label


def latency_ticks(top: float, rows: int) -> list[float]:
    """Round y ticks from 0 to `top` or just above it, one about every ROWS_PER_TICK rows of a
    plot `rows` high (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    top = top if top > 0 else 1.0
    raw = top / max(1, min(5, rows // ROWS_PER_TICK))
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    return [round(i * step, 9) for i in range(math.ceil(top / step - 1e-9) + 1)]


def _y_from_zero(plt, values: list[float], rows: int) -> None:
    """The subplot's y axis from 0 to a round value at or above the highest of `values`."""
    ticks = latency_ticks(max(values), rows - ROWS_OUTSIDE_PLOT)
    plt.ylim(0, ticks[-1])
    plt.yticks(ticks, [f"{t:g}" for t in ticks])


def _legend(entries: list[tuple[str, str | None]], width: int, colour: bool) -> list[str]:
    """The key under the chart: entries of (text, plotext colour or None), two spaces apart,
    wrapped to `width` and centred as plotext centres the x label."""
    from plotext._utility import colorize

    rows: list[list[tuple[str, str | None]]] = [[]]
    used = 0
    for text, col in entries:
        if rows[-1] and used + 2 + len(text) > width:
            rows.append([])
            used = 0
        used += len(text) + (2 if rows[-1] else 0)
        rows[-1].append((text, col))
    lines = []
    for row in rows:
        plain = "  ".join(text for text, _ in row)
        pad = " " * max(0, (width - len(plain)) // 2)
        drawn = "  ".join(colorize(text, col) if colour and col else text for text, col in row)
        lines.append(pad + drawn)
    return lines


def _percentile_key(percentiles: list[float]) -> list[tuple[str, str | None]]:
    """p50 •, p90 x, ...: each percentile's marker in its colour."""
    return [(f"{pkey(p)} {POINT_MARKERS[i % len(POINT_MARKERS)]}",
             LINE_COLOURS[i % len(LINE_COLOURS)]) for i, p in enumerate(percentiles)]


def _with_legend(draw, entries: list[tuple[str, str | None]], width: int, height: int,
                 colour: bool) -> str:
    """`draw(height)`'s figure built, then the key under it: width x height in all."""
    legend = _legend(entries, width, colour)
    out = draw(max(1, height - len(legend))).build().rstrip("\n")
    out += "\n" + "\n".join(legend)
    return out if colour else _ANSI.sub("", out)


def _series(phases: Iterable[PhaseStats], metric: str, percentile: float) -> tuple[list, list]:
    """(rates, values) of one percentile."""
    xs, ys = [], []
    for ph in phases:
        value = ph.metric(metric).at(percentile)
        if value is not None:
            xs.append(ph.target_rps)
            ys.append(value)
    return xs, ys


def _figure(phases: list[PhaseStats], percentiles: list[float], metrics: list[str], width: int,
            height: int):
    """Percentiles against the phases' target rates (of requests, or of sessions)."""
    rates = sorted({ph.target_rps for ph in phases})
    lines = {m: [(pkey(p), _series(phases, m, p)) for p in percentiles] for m in metrics}
    sessions = any(ph.sessions is not None for ph in phases)
    return _draw(lines, " by session rate" if sessions else " by request rate",
                 "target sessions/s" if sessions else "target req/s",
                 (rates, [f"{r:g}" for r in rates]) if rates else None, width, height)


def _new_figure(rows: int, width: int, height: int):
    """A private plotext figure of `rows` subplots at exactly width x height: plotext would
    shrink it to the terminal's size (80 columns without one, so a chart saved by a run under
    nohup, or drawn in the TUI's tests, came out narrower than asked)."""
    from plotext._figure import _figure_class

    fig = _figure_class()
    fig._limit_size(False, False)
    fig.subplots(rows, 1)
    fig.plotsize(width, height)
    return fig


def _draw(lines: dict[str, list[tuple[str, tuple[list, list]]]], title: str, xlabel: str,
          xticks: tuple[list, list[str]] | None, width: int, height: int):
    """A private plotext figure (plotext's module-level figure is shared state across threads):
    one subplot per metric, one line per percentile, latency from 0."""
    fig = _new_figure(len(lines), width, height)
    for row, (metric, series) in enumerate(lines.items(), start=1):
        plt = fig.subplot(row, 1)
        # "clear": no canvas colours, so the chart sits on the terminal's (or theme's) background;
        # lines use the 8 basic colours every terminal and theme has.
        plt.theme("clear")
        plt.title(TITLES.get(metric, metric) + title)
        plt.xlabel(xlabel)
        values: list[float] = []
        marks = []
        for i, (_, (xs, ys)) in enumerate(series):
            if xs:
                color = LINE_COLOURS[i % len(LINE_COLOURS)]
                plt.plot(xs, ys, marker="braille", color=color)
                marks.append((xs, ys, POINT_MARKERS[i % len(POINT_MARKERS)], color))
                values += ys
        for xs, ys, marker, color in marks:      # after every line: no line hides a point
            plt.scatter(xs, ys, marker=marker, color=color)
        if values:
            _y_from_zero(plt, values, height // len(lines))
        else:
            plt.text("no finished requests yet", 0.5, 0.5)
        if xticks is not None:
            plt.xticks(*xticks)
    return fig


# Tick spacings of the time axis: each divides a day, so ticks fall on round clock times (UTC)
# and midnight is always one of them.
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                43200, 86400)
TICK_GAP = 3            # columns between two tick labels at least
MARKER_EVERY_COLS = 4   # a poll's point marker at most every this many columns (long runs)
# a poll the provider throttled (any request rate_limited): a mark on the chart's 0 line, under
# the latencies (which are never 0), so a slow stretch can be told from a refused one
THROTTLED_MARKER = "▲"
THROTTLED_COLOUR = "red"
THROTTLED_KEY = (f"{THROTTLED_MARKER} throttled poll", THROTTLED_COLOUR)


def throttled(poll: PhaseStats) -> bool:
    """Whether the provider refused any of the poll's requests for its rate limits."""
    return poll.rate_limits is not None and poll.rate_limits.throttled > 0


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def time_ticks(start: datetime, end: datetime, width: int) -> tuple[list[datetime], list[str]]:
    """Round UTC clock times between `start` and `end`, as many as fit in `width` columns, and
    their labels: the clock time, with the date where a day begins (and on the first tick) when
    the run spans more than one day, so a three-day run reads "Dec 01 18:00, 00:00 ... Dec 02"."""
    span = (end - start).total_seconds()
    multi_day = start.date() != end.date()
    seconds = not multi_day and span < 600
    label_width = 6 if multi_day else 8 if seconds else 5     # "Dec 02", "10:15:30", "10:15"
    fit = max(2, width // (label_width + TICK_GAP))
    step = next((s for s in TICK_STEPS_S if span / s + 1 <= fit),
                86400 * (int(span / 86400 / fit) + 1))          # weeks: whole days
    first = -(-start.timestamp() // step) * step          # the first multiple of step at or after start
    ticks = []
    t = first
    while t <= end.timestamp() + 1e-6:
        ticks.append(datetime.fromtimestamp(t, UTC))
        t += step
    if not ticks:                                         # one poll, or a span shorter than a step
        ticks = [start]
    elif multi_day and span and (ticks[0] - start).total_seconds() / span * width >= 12 + TICK_GAP:
        ticks.insert(0, start)       # room before the first round time: say when the run began
    labels = []
    for i, tick in enumerate(ticks):
        midnight = tick.hour == tick.minute == tick.second == 0
        if not multi_day:
            labels.append(tick.strftime("%H:%M:%S" if seconds else "%H:%M"))
        elif i == 0 and not midnight:
            labels.append(tick.strftime("%b %d %H:%M"))
        elif midnight or step >= 86400:
            labels.append(tick.strftime("%b %d"))
        else:
            labels.append(tick.strftime("%H:%M"))
    return ticks, labels


def _segments(xs: list[float], values: list[float | None]) -> list[tuple[list, list]]:
    """Runs of consecutive polls with a value: a missed poll (or one where nothing succeeded)
    breaks the line, so a gap in the data is a gap in the chart."""
    runs: list[tuple[list, list]] = []
    current: tuple[list, list] | None = None
    for x, v in zip(xs, values, strict=True):
        if v is None:
            current = None
            continue
        if current is None:
            current = ([], [])
            runs.append(current)
        current[0].append(x)
        current[1].append(v)
    return runs


def over_time_figure(polls: list[PollStats], percentiles: list[float], metrics: list[str],
                     width: int, height: int):
    """Percentiles per poll against the time of day (UTC): x is hours since the first poll's
    slot, labelled with round clock times; missed polls leave gaps in the lines; latency from 0;
    a throttled poll is a THROTTLED_MARKER on the 0 line."""
    slots = [_utc(p.slot_utc) for p in polls]
    hours = [(t - slots[0]).total_seconds() / 3600.0 for t in slots] if slots else []
    fig = _new_figure(len(metrics), width, height)
    plot_width = width - 8                                # less the y axis labels
    marker_every = max(1, -(-len(polls) * MARKER_EVERY_COLS // max(plot_width, 1)))
    for row, metric in enumerate(metrics, start=1):
        plt = fig.subplot(row, 1)
        plt.theme("clear")                                # see _draw
        plt.title(TITLES.get(metric, metric) + " per poll")
        drawn: list[float] = []
        marks = []
        for i, p in enumerate(percentiles):
            values = [None if poll.missed else poll.metric(metric).at(p) for poll in polls]
            color = LINE_COLOURS[i % len(LINE_COLOURS)]
            for xs, ys in _segments(hours, values):
                plt.plot(xs, ys, marker="braille", color=color)
                drawn += ys
            # markers tell the percentiles apart without colour; on a long run only every few
            # polls get one, or they would cover the lines
            picked = [(x, v) for j, (x, v) in enumerate(zip(hours, values, strict=True))
                      if v is not None and j % marker_every == 0]
            if picked:
                marks.append(([x for x, _ in picked], [v for _, v in picked],
                              POINT_MARKERS[i % len(POINT_MARKERS)], color))
        for xs, ys, marker, color in marks:      # after every line: no line hides a point
            plt.scatter(xs, ys, marker=marker, color=color)
        refused = [x for x, poll in zip(hours, polls, strict=True) if throttled(poll)]
        if refused:
            plt.scatter(refused, [0.0] * len(refused), marker=THROTTLED_MARKER,
                        color=THROTTLED_COLOUR)
        if drawn:
            _y_from_zero(plt, drawn, height // len(metrics))
        else:
            plt.text("no finished requests yet", 0.5, 0.5)
        if slots:
            ticks, labels = time_ticks(slots[0], slots[-1], plot_width - 12)
            plt.xticks([(t - slots[0]).total_seconds() / 3600.0 for t in ticks], labels)
            if hours[-1] > 0:
                plt.xlim(0, hours[-1])
            day = "" if slots[0].date() != slots[-1].date() else f", {slots[0]:%Y-%m-%d}"
            plt.xlabel(f"poll slot (UTC{day})")
    return fig


def render(phases: list[PhaseStats], percentiles: list[float], metrics: list[str] | None = None,
           width: int = 100, height: int = 30, colour: bool = True) -> str:
    """The chart and its key under it, as a string (ANSI colours when `colour`)."""
    return _with_legend(lambda rows: _figure(phases, percentiles, metrics or charted(phases), width,
                                             rows),
                        _percentile_key(percentiles), width, height, colour)


def save(phases: list[PhaseStats], percentiles: list[float], folder: Path) -> None:
    """latency_quantiles.txt (plain text) in `folder`."""
    _write_text(render(phases, percentiles, width=100, height=40, colour=False), folder,
                "latency_quantiles")

def render_over_time(polls: list[PollStats], percentiles: list[float],
                     metrics: list[str] | None = None, width: int = 100, height: int = 30,
                     colour: bool = True) -> str:
    """Percentiles per poll against the time of day, the throttled polls marked, and the key."""
    key = _percentile_key(percentiles) + ([THROTTLED_KEY] if any(map(throttled, polls)) else [])
    return _with_legend(lambda rows: over_time_figure(polls, percentiles,
                                                      metrics or charted(polls), width, rows),
                        key, width, height, colour)


def save_over_time(polls: list[PollStats], percentiles: list[float], folder: Path) -> None:
    """latency_over_time.txt: TTFT (TTFA where a model reasoned) and e2e percentiles per poll
    against time of day, the polls the provider throttled marked."""
    _write_text(render_over_time(polls, percentiles, width=100, height=40, colour=False), folder,
                "latency_over_time")


def _write_text(chart: str, folder: Path, stem: str) -> None:
    """`stem`.txt: the chart in plain text (report.html has it as a real chart, with hover)."""
    (folder / f"{stem}.txt").write_text(_ANSI.sub("", chart) + "\n", encoding="utf-8")


def render_compare(comparison, metrics: list[str] | None = None, width: int = 100,
                   height: int = 30, colour: bool = True) -> str:
    """Each run's percentiles by rate (or hour of day) over one another, latency from 0. A run is
    told by its letter as the point marker (A, B, ...) and its own line style, so the runs stay
    apart without colour (NO_COLOR, a monochrome terminal, a print); a percentile by its colour,
    and within a run by order (p50 lowest). `comparison` is a compare.Comparison."""
    metrics = [m for m in (metrics or ["ttft_ms", "e2e_ms"]) if m in comparison.metrics]
    hours = bool(comparison.cells) and comparison.cells[0].group_kind == "hour"
    xs_all = sorted({c.group_value for c in comparison.cells})

    def draw(rows: int):
        fig = _new_figure(max(1, len(metrics)), width, rows)
        for row, metric in enumerate(metrics, start=1):
            plt = fig.subplot(row, 1)
            plt.theme("clear")
            plt.title(TITLES.get(metric, metric)
                      + (" by hour of day" if hours else " by request rate"))
            plt.xlabel("hour of day (UTC)" if hours else "target req/s")
            values: list[float] = []
            marks = []
            for r, _run in enumerate(comparison.runs):
                line, letter = RUN_LINES[r % len(RUN_LINES)], run_letter(r)[-1]
                for i, p in enumerate(comparison.percentiles):
                    points = sorted((c.group_value, c.runs[r].value_ms) for c in comparison.cells
                                    if c.metric == metric and c.percentile == p
                                    and c.runs[r].value_ms is not None)
                    if not points:
                        continue
                    color = LINE_COLOURS[i % len(LINE_COLOURS)]
                    xs, ys = [x for x, _ in points], [y for _, y in points]
                    plt.plot(xs, ys, marker=line, color=color)
                    marks.append((xs, ys, letter, color))
                    values += ys
            for xs, ys, letter, color in marks:   # after every line: no line hides a point
                plt.scatter(xs, ys, marker=letter, color=color)
            if values:
                _y_from_zero(plt, values, rows // max(1, len(metrics)))
            if xs_all:
                plt.xticks(xs_all, [f"{int(x):02d}" if hours else f"{x:g}" for x in xs_all])
        return fig

    return _with_legend(draw, compare_key(comparison), width, height, colour)


def compare_key(comparison) -> list[tuple[str, str | None]]:
    """The compare chart's key: each run's letter and line style, then the percentiles in their
    colours (without colour their order tells them: p50 is each run's lowest line)."""
    runs = [(f"{run_letter(r)} {LINE_SAMPLES[RUN_LINES[r % len(RUN_LINES)]]}", None)
            for r in range(len(comparison.runs))]
    return runs + [("│", None)] + [(pkey(p), LINE_COLOURS[i % len(LINE_COLOURS)])
                                   for i, p in enumerate(comparison.percentiles)]


def save_compare(comparison, folder: Path) -> None:
    """compare.txt: the overlay chart of TTFT and e2e percentiles."""
    _write_text(render_compare(comparison, width=100, height=40, colour=False), folder, "compare")


def run_letter(i: int) -> str:
    """A, B, ... Z, AA, AB: how tables and charts name the compared runs."""
    return chr(ord("A") + i) if i < 26 else run_letter(i // 26 - 1) + chr(ord("A") + i % 26)
