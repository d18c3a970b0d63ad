"""The A/B experiment's turns as a table, a row added as each turn ends; and the verdicts of
the comparison, compact enough for 80 columns: per rate, TTFT and e2e at p50 and p90."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ...outputs.charts import run_letter
from ...compare.compare import Comparison
from ...compare.output import verdict_line
from ...live.turn_feed import TurnRow
from ...metrics.summary import pkey
from ...outputs.formats import ms

COLUMNS = [("turn", "turn"), ("variant", "variant"), ("round", "round"), ("rate", "rate/s"),
           ("ok", "ok/sent"), ("ttft", "TTFT"), ("e2e", "e2e")]


class TurnTable(DataTable):
    """One row per finished turn, keyed by its number; the newest row stays in view."""

    def __init__(self, percentile: float, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.percentile = percentile
        self.shown = 0

    def on_mount(self) -> None:
        p = pkey(self.percentile)
        for key, label in COLUMNS:
            label = f"{label} {p} ms" if key in ("ttft", "e2e") else label
            self.add_column(label, key=key)

    def show(self, rows: list[TurnRow]) -> None:
        """Add the rows not yet shown (rows only ever grow: turns end in order)."""
        if len(rows) <= self.shown:
            return
        follow = self._following()
        for row in rows[self.shown:]:
            self.add_row(*cells(row), key=str(row.number))
        self.shown = len(rows)
        if follow:
            self.call_after_refresh(self.move_cursor, row=self.row_count - 1)

    def _following(self) -> bool:
        """The cursor is on the newest row (or there is none): the user has not moved back."""
        return self.row_count == 0 or self.cursor_row >= self.row_count - 1

    def on_resize(self) -> None:
        # the panel shrinks when the verdicts appear: keep the newest row in view
        if self.row_count and self._following():
            self.call_after_refresh(self.move_cursor, row=self.row_count - 1)


def cells(row: TurnRow) -> list[str]:
    ok = f"{row.ok}/{row.sent}" + (f" (stopped, of {row.planned})" if row.stopped else "")
    return [f"{row.number}/{row.total}", row.variant, f"{row.round}/{row.rounds}",
            f"{row.target_rps:g}", ok, ms(row.ttft_ms, 1, unit=False), ms(row.e2e_ms, 1, unit=False)]


# What the compact table shows of each rate; compare.md has every metric and percentile.
VERDICT_COLUMNS = [("ttft_ms", 50.0, "TTFT p50"), ("ttft_ms", 90.0, "TTFT p90"),
                   ("e2e_ms", 50.0, "e2e p50"), ("e2e_ms", 90.0, "e2e p90")]
# ... where a variant reasoned: the first answer is what its users wait for (still 80 columns)
REASONING_VERDICT_COLUMNS = [("ttft_ms", 50.0, "TTFT p50"), ("ttfa_ms", 50.0, "TTFA p50"),
                             ("ttfa_ms", 90.0, "TTFA p90"), ("e2e_ms", 50.0, "e2e p50")]
WORDS = {"faster": "faster", "slower": "slower", "no clear difference": "unclear",
         "too few samples": "too few"}
STYLES = {"faster": "bold green", "slower": "bold red", "no clear difference": "",
          "too few samples": "dim"}
CELL = 15
GROUP = 11


def verdict_text(c: Comparison, names: list[str]) -> Text:
    """Each verdict line, then per rate (and variant, when more than two) the verdict and the
    difference to A of TTFT and e2e at p50 and p90 (where a variant reasoned: TTFT p50, TTFA p50
    and p90, e2e p50); which letter is which variant last."""
    text = Text()
    for i in range(1, len(c.runs)):
        text.append(verdict_line(c, i) + "\n", style="bold")
    several = len(c.runs) > 2
    head = ("   " if several else "") + "rate".ljust(GROUP)
    columns = REASONING_VERDICT_COLUMNS if "ttfa_ms" in c.metrics else VERDICT_COLUMNS
    text.append(head + "".join(label.ljust(CELL) for _, _, label in columns).rstrip()
                + "\n", style="underline")
    for group in c.groups:
        for i in range(1, len(c.runs)):
            line = Text((f"{run_letter(i)}  " if several else "") + group.ljust(GROUP))
            for metric, p, _ in columns:
                try:
                    value = c.cell(group, metric, p).runs[i]
                except KeyError:
                    line.append("-".ljust(CELL))
                    continue
                verdict = value.verdict
                word = WORDS.get(verdict or "", "-")
                diff = "" if value.diff_ms is None else f" {value.diff_ms:+.1f}"
                line.append((word + diff).ljust(CELL), style=STYLES.get(verdict or "", ""))
            line.rstrip()
            text.append_text(line)
            text.append("\n")
    letters = ", ".join(f"{run_letter(i)} = {name}" + (" (baseline)" if i == 0 else "")
                        for i, name in enumerate(names))
    text.append(f"{letters} · ms vs A · unclear: no clear difference", style="dim")
    return text
