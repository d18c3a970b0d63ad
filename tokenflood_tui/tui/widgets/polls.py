"""An observation's recent polls: a timeline of sparklines (one cell per poll) and a table.

Both keep a fixed number of polls (a three-day run at 15 minutes has about 900; the widest
terminal shows a few hundred cells), and change only when a poll finishes or is missed: a
snapshot that brings no new poll costs them nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text
from textual.widget import Widget

from ...live.poll_feed import PollEvent
from ...metrics.summary import PhaseStats, pkey
from ...outputs.formats import ms
from .bars import BARS, level

TIMELINE_POLLS = 400     # cells kept: more than a 400-column terminal shows
TABLE_POLLS = 100        # rows kept: more than a maximised table shows
MISSED, NO_ANSWER = "×", "!"
LABEL_WIDTH = 10         # "TTFT p50  "
VALUE_WIDTH = 18         # "  53 ms  48–61 ms"


@dataclass(frozen=True, slots=True)
class Cell:
    """One poll on the timeline: its latencies, or why it has none."""

    poll: int
    values: tuple[float | None, ...]      # one per timeline row
    state: str                            # ok, missed, failed (no request answered)


class PollTimeline(Widget):
    """One row per series (TTFT at the suite's first two percentiles, e2e at the first), one
    cell per poll, the newest on the right. Each row is drawn from 0 to its highest value on
    screen (its range printed at its right): a slow afternoon stands out from a quiet night,
    and a few ms of noise stay a few ms."""

    DEFAULT_CSS = "PollTimeline { height: 4; text-wrap: nowrap; text-overflow: clip; }"

    def __init__(self, percentiles: list[float], **kwargs):
        super().__init__(**kwargs)
        ttft = percentiles[:2]
        self.rows: list[tuple[str, str, float]] = (
            [("TTFT", "ttft_ms", p) for p in ttft] + [("e2e", "e2e_ms", percentiles[0])])
        self.cells: deque[Cell] = deque(maxlen=TIMELINE_POLLS)
        self.renders = 0                  # for tests: work done per poll, not per snapshot

    def add(self, events: list[PollEvent]) -> None:
        if not events:
            return
        for e in events:
            ph = e.stats
            if ph is None:
                self.cells.append(Cell(e.poll, (None,) * len(self.rows), "missed"))
                continue
            values = tuple(ph.metric(metric).at(p) for _, metric, p in self.rows)
            self.cells.append(Cell(e.poll, values, "ok" if ph.ok else "failed"))
        self.refresh()

    def bars_width(self) -> int:
        return max(1, self.content_size.width - LABEL_WIDTH - VALUE_WIDTH)

    def shown_cells(self) -> list[Cell]:
        width = self.bars_width()
        return list(self.cells)[-width:]

    def render(self) -> Text:
        self.renders += 1
        cells = self.shown_cells()
        if not cells:
            return Text("no poll has finished yet", style="dim")
        out = Text(no_wrap=True, overflow="crop")
        for i, (name, _, p) in enumerate(self.rows):
            out.append(f"{name} {pkey(p)}".ljust(LABEL_WIDTH), style="bold")
            values: list[float] = [v for c in cells if (v := c.values[i]) is not None]
            lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
            for c in cells:
                v = c.values[i]
                if c.state == "missed":
                    out.append(MISSED, style="yellow")
                elif v is None:
                    out.append(NO_ANSWER, style="bold red")
                else:
                    out.append(BARS[level(v, hi)], style="cyan")
            last = next((c.values[i] for c in reversed(cells) if c.values[i] is not None), None)
            now = "     -" if last is None else f"{last:6.0f}"
            span = f"{lo:.0f}–{hi:.0f}" if values else ""
            out.append(f"{now} ms  {span}\n")
        first, last_poll = cells[0].poll, cells[-1].poll
        out.append(f"polls {first}–{last_poll}", style="dim")
        out.append(f" · {MISSED} missed · {NO_ANSWER} no answer · bars from 0 · right: last "
                   "value, range on screen", style="dim")
        return out


class PollTable(Widget):
    """The latest polls, newest first: slot, counts, TTFT and e2e, failures by kind; the poll
    under way on top."""

    DEFAULT_CSS = "PollTable { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, percentiles: list[float], days: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.percentiles = percentiles[:2]
        self.e2e_percentile = percentiles[0]
        self.days = days                   # a run over a day long shows the weekday
        self.polls: deque[PollEvent] = deque(maxlen=TABLE_POLLS)
        self.running: tuple[int, float | None, PhaseStats] | None = None
        self.renders = 0

    def add(self, events: list[PollEvent]) -> None:
        if events:
            self.polls.extend(events)
            self.refresh()

    def set_running(self, poll: int | None, slot_utc: float | None = None,
                    stats: PhaseStats | None = None) -> None:
        running = None if poll is None or stats is None else (poll, slot_utc, stats)
        if running is None and self.running is None:
            return
        self.running = running
        self.refresh()

    def _slot(self, t: float | None) -> str:
        if t is None:
            return "?"
        return datetime.fromtimestamp(t, UTC).strftime("%a %H:%M" if self.days else "%H:%M:%S")

    def header(self) -> str:
        pct = "/".join(pkey(p) for p in self.percentiles)
        return (f"{'poll':>4}  {'slot UTC':<9} {'sent':>4} {'ok':>3} {'fail':>4}  "
                f"{'TTFT ' + pct:>12}  {'e2e ' + pkey(self.e2e_percentile):>7}  failures")

    def row(self, poll: int, slot: float | None, ph: PhaseStats | None, note: str = "",
            failures: str = "") -> str:
        head = f"{poll:>4}  {self._slot(slot):<9} "
        if ph is None:
            return head + note
        ttft = "/".join(ms(ph.ttft_ms.at(p), unit=False) for p in self.percentiles)
        e2e = ms(ph.e2e_ms.at(self.e2e_percentile), unit=False)
        return (head + f"{ph.sent:>4} {ph.ok:>3} {ph.failed:>4}  {ttft:>12}  {e2e:>7}  "
                + (note or " ".join(t for t in (_checks(ph), failures) if t)))

    def lines(self, limit: int) -> list[tuple[str, str]]:
        """(text, style) of the rows shown, newest first."""
        out: list[tuple[str, str]] = []
        if self.running is not None:
            poll, slot, ph = self.running
            out.append((self.row(poll, slot, ph, f"▶ {ph.in_flight} in flight"), "bold"))
        for e in reversed(self.polls):
            if len(out) >= limit:
                break
            if e.missed is not None:
                out.append((self.row(e.poll, e.slot_utc, None, f"missed: {e.missed}"), "yellow"))
            else:
                failures = e.failures
                out.append((self.row(e.poll, e.slot_utc, e.stats,
                                     "stopped" if e.stopped else "", failures),
                            "red" if e.stats is not None and e.stats.failed else ""))
        return out

    def render(self) -> Text:
        self.renders += 1
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(self.header() + "\n", style="bold")
        rows = self.lines(max(1, self.content_size.height - 1))
        if not rows:
            out.append("no poll yet", style="dim")
        for i, (text, style) in enumerate(rows):
            out.append(text + ("\n" if i < len(rows) - 1 else ""), style=style)
        return out


def _checks(ph: PhaseStats) -> str:
    """A finished poll against the suite's thresholds: '✓', or '✗ ttft_ms.p99 < 500' naming the
    ones it failed; '' without thresholds."""
    bad = [c.threshold for c in ph.thresholds if not c.passed]
    if not ph.thresholds:
        return ""
    return f"✗ {', '.join(bad)}" if bad else "✓"
