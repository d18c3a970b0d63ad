"""A results folder: summary tables, failures by kind and HTTP status, warnings, the chart.

Number keys as in the live view: 1 the phases (with failures and warnings), 2 every metric,
3 the chart; the same key, 0 or Esc bring back the overview. Below 150 columns the overview
leaves the chart out, so the tables get the whole width (key 3 shows the chart).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.events import Resize
from textual.widgets import DataTable, Footer, Header, Static

from ...errors import ConfigError
from ...summary import METRICS, RunSummary, pkey
from ..widgets.chart import LatencyChart
from .panels import PanelScreen
from ..widgets.phase_table import PhaseTable

TABLE_MARGIN = 2   # the scrollbar of the tables

if TYPE_CHECKING:
    from textual import getters

    from ..app import TokenfloodApp


class ResultsScreen(PanelScreen):
    PANELS = ("summary", "metrics", "chart")
    if TYPE_CHECKING:   # for the type checker only: self.app is the TokenfloodApp
        app = getters.app(TokenfloodApp)

    BINDINGS = [
        Binding("1", "panel('summary')", "Panels", key_display="1-3", id="results-panels"),
        Binding("2", "panel('metrics')", "All metrics", show=False),
        Binding("3", "panel('chart')", "Chart", show=False),
        Binding("0", "overview", "Overview", show=False),
        Binding("t", "toggle_metric", "TTFT/e2e", id="results-toggle-chart"),
        Binding("escape", "overview", "Overview", id="results-overview"),
        Binding("escape", "leave", "Back", id="results-back"),
        Binding("q", "app.quit", "Quit", id="results-quit"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    DEFAULT_CSS = """
    ResultsScreen #results-head { height: auto; padding: 0 1; }
    ResultsScreen #results-body { height: 1fr; }
    ResultsScreen #results-tables { width: 3fr; }
    ResultsScreen #results-tables > * { margin-bottom: 1; }
    ResultsScreen #results-tables DataTable { height: auto; max-height: 14; }
    ResultsScreen #results-tables .section { height: 1; margin-bottom: 0; text-style: bold;
                                             color: $accent; padding: 0 1; }
    ResultsScreen #chart { width: 2fr; border: round $primary; }
    ResultsScreen.-narrow #chart { display: none; }
    ResultsScreen #results-warnings { height: auto; padding: 0 1; }

    ResultsScreen.-solo #results-tables > *, ResultsScreen.-solo #results-head,
    ResultsScreen.-solo Header { display: none; }
    ResultsScreen.-solo-summary #results-tables > .summary { display: block; }
    ResultsScreen.-solo-metrics #results-tables > .metrics { display: block; }
    ResultsScreen.-solo-metrics #results-metrics { max-height: 100%; }
    ResultsScreen.-solo-chart #results-tables { display: none; }
    ResultsScreen.-solo-chart #chart { display: block; width: 1fr; }
    ResultsScreen.-solo-summary #chart, ResultsScreen.-solo-metrics #chart { display: none; }
    """

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = Path(folder)
        self.summary: RunSummary | None = None
        self.error: str | None = None
        try:
            self.summary = RunSummary.load(self.folder)
        except ConfigError as exc:
            self.error = str(exc)

    def compose(self) -> ComposeResult:
        yield Header()
        s = self.summary
        if s is None:
            yield Static(self.error or "", classes="error-text", markup=False)
            yield Footer()
            return
        b = s.budget
        cost = "unknown" if b.estimated_cost_usd is None else f"${b.estimated_cost_usd:.4f}"
        head = [f"{s.run_name} on {s.model} ({s.provider}, client {s.client}) — "
                f"{s.status}" + (f": {s.message}" if s.message else ""),
                f"{s.started_at} → {s.finished_at}   input {b.actual_input_tokens:,} tokens, "
                f"output {b.actual_output_tokens:,} tokens, estimated cost {cost}",
                f"folder: {self.folder}"]
        yield Static("\n".join(head), id="results-head", markup=False)
        with Horizontal(id="results-body"):
            with VerticalScroll(id="results-tables"):
                yield Static("1 phases", id="results-phases-title", classes="section summary")
                yield PhaseTable([ph.target_rps for ph in s.phases], s.percentiles, final=True,
                                 id="results-phases", classes="summary")
                failed = any(ph.errors for ph in s.phases)
                yield Static("failures by kind and HTTP status" if failed else "no failures",
                             classes="section summary")
                if failed:
                    yield DataTable(id="results-errors", cursor_type="row", zebra_stripes=True,
                                    classes="summary")
                warnings = s.warnings
                yield Static("warnings:\n" + "\n".join(f"  ⚠ {w}" for w in warnings) if warnings
                             else "no warnings", id="results-warnings",
                             classes="summary " + ("warning-text" if warnings else "muted"),
                             markup=False)
                yield Static("2 every metric (ms)", classes="section metrics")
                yield DataTable(id="results-metrics", cursor_type="row", zebra_stripes=True,
                                classes="metrics")
            yield LatencyChart(s.percentiles, title_prefix="3 ", id="chart")
        yield Footer()

    def on_mount(self) -> None:
        s = self.summary
        if s is None:
            return
        phases = self.query_one("#results-phases", PhaseTable)
        phases.show(s.phases, None, self._table_width())
        self.query_one("#results-phases-title", Static).update("1 " + phases.title())
        if any(ph.errors for ph in s.phases):
            errors = self.query_one("#results-errors", DataTable)
            errors.add_columns("phase", "failed as", "HTTP", "requests", "share")
            for ph in s.phases:
                for e in ph.errors:
                    errors.add_row(str(ph.phase), e.status, str(e.http_status or "-"),
                                   str(e.count), f"{e.count / (ph.ok + ph.failed):.1%}")
        pct = [pkey(p) for p in s.percentiles]
        metrics = self.query_one("#results-metrics", DataTable)
        metrics.add_columns("phase", "metric", "mean", *pct)
        for ph in s.phases:
            for m in METRICS:
                dist = ph.metric(m)
                metrics.add_row(str(ph.phase), m, _f(dist.mean, 2), *[_f(dist[p], 2) for p in pct])
        self.query_one(LatencyChart).set_phases(s.phases)

    def on_resize(self, event: Resize) -> None:
        if self.summary is not None:
            self.call_after_refresh(self._refit)

    def _table_width(self) -> int:
        """Columns the phases table has: all of them, or the tables' share beside the chart."""
        width = self.size.width
        if self.has_class("-wide") and self.solo_panel is None:
            width = width * 3 // 5
        return width - TABLE_MARGIN

    def _refit(self) -> None:
        table = self.query_one("#results-phases", PhaseTable)
        if table.fit(self._table_width()):
            self.query_one("#results-phases-title", Static).update("1 " + table.title())

    # ------------------------------------------------------------------ panels

    def action_panel(self, name: str) -> None:
        if self.summary is not None:
            super().action_panel(name)

    def _panels_changed(self) -> None:
        super()._panels_changed()
        self._refit()

    def action_toggle_metric(self) -> None:
        if self.summary is not None:
            self.query_one(LatencyChart).toggle_metric()

    def action_leave(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit(self.app.exit_code, return_code=self.app.exit_code)


def _f(value, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
