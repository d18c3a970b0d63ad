"""Tables and prose for a terminal of a given width: what does not fit is left out or wrapped,
never cut mid-cell or wrapped by the terminal into fragments.

A table keeps its columns by rank (the ones that matter first) until the next would not fit;
units go in a label over the columns that share them ("TTFT ms" over p50 and p99), so the
headers stay as narrow as the figures under them.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

GAP = 2            # spaces between two columns
WRAP_MIN = 20      # a wrapped column gets at least this many characters when its text is longer


@dataclass(frozen=True, slots=True)
class Column:
    head: str
    cells: list[str]
    rank: int = 0          # which columns stay when not all fit: lower first, ties left to right
    group: str = ""        # a label over the adjacent kept columns that share it
    left: bool = False     # text, aligned left (figures align right)
    wrap: bool = False     # the last column: takes the width that is left, its cells wrapped

    @property
    def natural(self) -> int:
        return max(len(self.head), *(len(c) for c in self.cells)) if self.cells else len(self.head)

    @property
    def least(self) -> int:
        """The narrowest this column is drawn: a wrapped one down to WRAP_MIN."""
        return min(self.natural, max(WRAP_MIN, len(self.head))) if self.wrap else self.natural


@dataclass(frozen=True, slots=True)
class Fitted:
    lines: list[str]
    dropped: list[Column]      # left out, in their table order


def fit_table(columns: list[Column], width: int) -> Fitted:
    """The columns that fit `width`, drawn in their order."""
    return fit_tables([columns], width)[0]


def fit_tables(tables: list[list[Column]], width: int) -> list[Fitted]:
    """Tables of the same columns (a comparison's, one per metric) with one choice of columns
    and one width per column, so that they read alike and line up."""
    merged = [Column(c.head, [cell for table in tables for cell in table[i].cells], c.rank,
                     c.group, c.left, c.wrap) for i, c in enumerate(tables[0])]
    kept = _choose(merged, width)
    _, widths = _total([merged[i] for i in kept], width)
    return [Fitted(_draw([table[i] for i in kept], widths),
                   [c for i, c in enumerate(table) if i not in kept]) for table in tables]


def _choose(columns: list[Column], width: int) -> list[int]:
    """By rank, left to right among equals, each column that still fits; once one does not, no
    column of a later rank is tried (a narrow column of little weight does not take the place
    of one that matters). The first-ranked column always stays."""
    kept: list[int] = []
    full: int | None = None          # the rank at which a column no longer fitted
    for i in sorted(range(len(columns)), key=lambda i: columns[i].rank):
        if full is not None and columns[i].rank > full:
            break
        trial = sorted([*kept, i])
        if not kept or _total([columns[j] for j in trial], width)[0] <= width:
            kept = trial
        else:
            full = columns[i].rank
    return kept


def _total(columns: list[Column], width: int) -> tuple[int, list[int]]:
    """The width the columns take and each one's: a group's label widens its last column when
    longer than the columns under it; a wrapped column takes what is left (at least its least)."""
    widths = [c.least for c in columns]
    for start, end in _spans(columns):
        span = sum(widths[start:end]) + GAP * (end - start - 1)
        widths[end - 1] += max(0, len(columns[start].group) - span)
    total = sum(widths) + GAP * (len(widths) - 1)
    if columns and columns[-1].wrap and total < width:
        grow = min(width - total, columns[-1].natural - widths[-1])
        widths[-1] += max(0, grow)
        total += max(0, grow)
    return total, widths


def _spans(columns: list[Column]) -> list[tuple[int, int]]:
    """[start, end) of each run of adjacent columns with the same group label."""
    spans = []
    i = 0
    while i < len(columns):
        j = i + 1
        while j < len(columns) and columns[i].group and columns[j].group == columns[i].group:
            j += 1
        if columns[i].group:
            spans.append((i, j))
        i = j
    return spans


def _draw(columns: list[Column], widths: list[int]) -> list[str]:
    lines = []
    spans = _spans(columns)
    if spans:
        starts = {start: end for start, end in spans}
        parts = []
        i = 0
        while i < len(columns):
            end = starts.get(i, i + 1)
            span = sum(widths[i:end]) + GAP * (end - i - 1)
            parts.append(columns[i].group.center(span) if i in starts else " " * span)
            i = end
        lines.append((" " * GAP).join(parts).rstrip())
    lines.append(_row([c.head for c in columns], columns, widths))
    for r in range(len(columns[0].cells) if columns else 0):
        cells = [c.cells[r] for c in columns]
        last = columns[-1]
        if last.wrap and len(cells[-1]) > widths[-1]:
            pieces = wrap(cells[-1], widths[-1]) or [""]
            lines.append(_row([*cells[:-1], pieces[0]], columns, widths))
            blank = [""] * (len(columns) - 1)
            lines += [_row([*blank, piece], columns, widths) for piece in pieces[1:]]
        else:
            lines.append(_row(cells, columns, widths))
    return lines


def _row(cells: list[str], columns: list[Column], widths: list[int]) -> str:
    return (" " * GAP).join(cell.ljust(w) if c.left else cell.rjust(w)
                            for cell, c, w in zip(cells, columns, widths, strict=True)).rstrip()


def wrap(text: str, width: int, indent: str = "", hang: str | None = None) -> list[str]:
    """`text` in lines of at most `width` (a word longer than that, a path say, stands alone on
    its line, whole); `indent` before the first line, `hang` before the others (default: as
    many spaces as `indent`)."""
    hang = " " * len(indent) if hang is None else hang
    return textwrap.wrap(text, max(width, len(indent) + 1), initial_indent=indent,
                         subsequent_indent=hang, break_long_words=False,
                         break_on_hyphens=False) or [indent.rstrip()]


def dropped_note(dropped: list[Column], width: int, where: str) -> list[str]:
    """'not shown at 80 columns: sent, TTFT p90; summary.md has every column' (wrapped); none
    when every column fit."""
    if not dropped:
        return []
    names = ", ".join(dict.fromkeys(_name(c) for c in dropped))
    return wrap(f"not shown at {width} columns: {names}; {where} has every column", width)


def _name(column: Column) -> str:
    unit = column.group.split(" ")[0] if column.group else ""
    if unit and unit not in ("req/s", "requests") and not column.head.startswith(unit):
        return f"{unit} {column.head}"
    return column.head
