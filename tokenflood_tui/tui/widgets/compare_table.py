"""The compare screen's table (one metric's cells, verdicts coloured by the theme) and its overlay
chart (every run's percentiles of that metric by rate or hour, drawn at the widget's size)."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from ...outputs import charts
from ...outputs.charts import run_letter
from ...outputs.formats import ms_compact
from ...compare.compare import Cell, Comparison
from ...compare.samples import METRIC_NAMES
from ...metrics.summary import pkey
from .chart import LatencyChart

# verdict → the component class that colours it (the theme's colours, so every theme works)
VERDICT_CLASSES = {"faster": "compare--faster", "slower": "compare--slower",
                   "no clear difference": "compare--unclear", "too few samples": "compare--few"}


class CompareTable(DataTable):
    """Rows: each group (rate or hour) at each percentile; columns: the baseline's value, then per
    other run its value, the difference to the baseline (ms and %), the 95% interval of that
    difference and the verdict. The group and percentile stay in view when it scrolls sideways.
    Session runs get a `turns` column: under each rate, its rows over all turns, then by turns
    (turn 1, turn 2, turns 3-4, …)."""

    COMPONENT_CLASSES = set(VERDICT_CLASSES.values())
    DEFAULT_CSS = """
    CompareTable > .compare--faster { color: $success; text-style: bold; }
    CompareTable > .compare--slower { color: $error; text-style: bold; }
    CompareTable > .compare--unclear { color: $text-muted; }
    CompareTable > .compare--few { color: $warning; }
    """

    def __init__(self, **kwargs):
        # no cursor: a cursor row would paint over its verdict's colour (nothing to select here)
        super().__init__(cursor_type="none", zebra_stripes=True, fixed_columns=2, **kwargs)
        self.comparison: Comparison | None = None
        self.metric: str | None = None

    def on_mount(self) -> None:
        # the verdict colours are the theme's: draw the rows again when it changes
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._refill())

    def show(self, comparison: Comparison, metric: str) -> None:
        self.comparison, self.metric = comparison, metric
        self._refill()

    def _refill(self) -> None:
        c, metric = self.comparison, self.metric
        if c is None or metric is None:
            return
        self.clear(columns=True)
        hours = bool(c.cells) and c.cells[0].group_kind == "hour"
        several = len(c.runs) > 2        # with one other run the headers need no letter
        turns = bool(c.turn_cells)
        unit = "sessions/s" if turns else "req/s"
        columns = ["hour UTC" if hours else unit, *(["turns"] if turns else []), "pct",
                   run_letter(0)]
        for i in range(1, len(c.runs)):
            x = run_letter(i)
            columns += [x, f"{x} − {run_letter(0)}", f"{x} 95% interval" if several else
                        "95% interval", f"{x} verdict" if several else "verdict"]
        self.fixed_columns = 3 if turns else 2
        # numbers right-aligned under right-aligned headers; words (group, pct, verdict) left
        words = 3 if turns else 2
        self.add_columns(*[Text(name, justify="left" if i < words or name.endswith("verdict")
                                else "right") for i, name in enumerate(columns)])
        styles = {v: self.get_component_rich_style(cls, partial=True)
                           for v, cls in VERDICT_CLASSES.items()}
        previous = previous_turns = None
        for cell in _rows(c, metric):
            group = f"{int(cell.group_value):02d}:00" if hours else f"{cell.group_value:g}"
            # the group once, on its first row: the percentiles under it read as one block
            row: list[Text] = [Text(group if group != previous else "")]
            if turns:
                label = cell.turns or "all"
                row.append(Text(label if (group, label) != previous_turns else ""))
                previous_turns = (group, label)
            row += [Text(pkey(cell.percentile)), _right(ms_compact(cell.runs[0].value_ms))]
            previous = group
            for v in cell.runs[1:]:
                row += [_right(ms_compact(v.value_ms)), _right(diff(v.diff_ms, v.diff_pct)),
                        _right(interval(v.ci_low_ms, v.ci_high_ms)),
                        Text(v.verdict or "-", style=styles.get(v.verdict or "", Style()))]
            self.add_row(*row, key=f"{cell.group}|{cell.turns or ''}|{cell.percentile:g}")

    def title(self) -> str:
        """What the panel's title says after its key."""
        if self.comparison is None or self.metric is None:
            return "table"
        following = METRIC_NAMES[next_metric(self.comparison, self.metric)]
        return (f"{METRIC_NAMES[self.metric]} (ms) · differences to {run_letter(0)} with a "
                f"{self.comparison.level:.0%} interval · t: {following}")


class CompareChart(LatencyChart):
    """The overlay chart of one metric: a colour per run, a marker per percentile."""

    def __init__(self, **kwargs):
        super().__init__([], **kwargs)
        self.comparison: Comparison | None = None

    def show(self, comparison: Comparison, metric: str) -> None:
        self.comparison = comparison
        self._dirty = True
        if self.metric == metric:
            self.border_title = self._title()
            self.redraw_if_needed()
        else:
            self.metric = metric                 # watch_metric retitles and redraws

    def _chart_text(self, width: int, height: int) -> str:
        if self.comparison is None:
            return ""
        return charts.render_compare(self.comparison, [self.metric], width=width, height=height,
                                     colour=True)

    def _title(self) -> str:
        c = getattr(self, "comparison", None)   # LatencyChart's on_mount asks before show()
        if c is None:
            return f"{self.title_prefix}chart"
        by = "hour of day" if c.cells and c.cells[0].group_kind == "hour" else "rate"
        runs = ", ".join(run_letter(i) for i in range(len(c.runs)))
        return (f"{self.title_prefix}{METRIC_NAMES.get(self.metric, self.metric)} percentiles by "
                f"{by}, runs {runs} · t: {METRIC_NAMES[next_metric(c, self.metric)]}")


def _rows(c: Comparison, metric: str) -> list[Cell]:
    """One metric's cells in table order: each group's cells over all turns, then (session
    runs) its cells by turns."""
    by_group: dict[str, list[Cell]] = {}
    for cell in c.turn_cells:
        if cell.metric == metric:
            by_group.setdefault(cell.group, []).append(cell)
    rows: list[Cell] = []
    for cell in (x for x in c.cells if x.metric == metric):
        rows.append(cell)
        if cell.percentile == c.percentiles[-1]:     # the group's last all-turns row
            rows += by_group.pop(cell.group, [])
    return rows + [cell for cells in by_group.values() for cell in cells]


def next_metric(c: Comparison, metric: str) -> str:
    """TTFT → e2e → TPOT → ITL → TTFT, over the metrics the comparison has."""
    metrics = c.metrics or [metric]
    if metric not in metrics:
        return metrics[0]
    return metrics[(metrics.index(metric) + 1) % len(metrics)]


def _right(text: str) -> Text:
    return Text(text, justify="right")


# One decimal below 100 ms, whole ms above (ms_compact): the table stays narrow at 80 columns.
def diff(ms_: float | None, pct: float | None) -> str:
    if ms_ is None:
        return "-"
    return ("+" if ms_ >= 0 else "") + ms_compact(ms_) + ("" if pct is None else f" ({pct:+.1f}%)")


def interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"{'+' if low >= 0 else ''}{ms_compact(low)} … {'+' if high >= 0 else ''}{ms_compact(high)}"
