"""A results folder: summary tables, the chart, warnings and where it is on disk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from ...errors import ConfigError
from ...summary import METRICS, RunSummary, pkey
from ..widgets.chart import LatencyChart

if TYPE_CHECKING:
    from textual import getters

    from ..app import TokenfloodApp


class ResultsScreen(Screen):
    if TYPE_CHECKING:   # for the type checker only: self.app is the TokenfloodApp
        app = getters.app(TokenfloodApp)

    BINDINGS = [
        Binding("t", "toggle_metric", "TTFT/e2e chart", id="results-toggle-chart"),
        Binding("escape", "leave", "Back", id="results-back"),
        Binding("q", "app.quit", "Quit", id="results-quit"),
    ]
    DEFAULT_CSS = """
    ResultsScreen #results-head { height: auto; padding: 0 1; }
    ResultsScreen #results-body { height: 1fr; }
    ResultsScreen #results-tables { width: 3fr; }
    ResultsScreen #results-body { layout: horizontal; }
    ResultsScreen #results-tables DataTable { height: auto; max-height: 14; margin-bottom: 1; }
    ResultsScreen #chart { width: 2fr; border: round $primary; }
    ResultsScreen #results-warnings { height: auto; padding: 0 1; }
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
                yield DataTable(id="results-phases", cursor_type="row", zebra_stripes=True)
                if any(ph.errors for ph in s.phases):
                    yield DataTable(id="results-errors", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="results-metrics", cursor_type="row", zebra_stripes=True)
                warnings = s.warnings
                yield Static("warnings:\n" + "\n".join(f"  • {w}" for w in warnings) if warnings
                             else "no warnings", id="results-warnings",
                             classes="warning-text" if warnings else "muted", markup=False)
            yield LatencyChart(s.percentiles, id="chart")
        yield Footer()

    def on_mount(self) -> None:
        s = self.summary
        if s is None:
            return
        pct = [pkey(p) for p in s.percentiles]
        both = "/".join(pct)
        phases = self.query_one("#results-phases", DataTable)
        phases.add_columns("phase", "target/s", "achieved/s", "sent", "ok", "failed",
                           f"TTFT {both} ms", f"e2e {both} ms", "TPOT p50", "out tok/s",
                           "cache hit", "goodput")
        for ph in s.phases:
            phases.add_row(str(ph.phase), f"{ph.target_rps:g}", _f(ph.achieved_rps, 2),
                           str(ph.sent), str(ph.ok), str(ph.failed),
                           " / ".join(_f(ph.ttft_ms[p], 0) for p in pct),
                           " / ".join(_f(ph.e2e_ms[p], 0) for p in pct),
                           _f(ph.tpot_ms["p50"], 1), _f(ph.output_tokens_per_s, 1),
                           _share(ph.cache_hit_rate), _share(ph.goodput))
        if any(ph.errors for ph in s.phases):
            errors = self.query_one("#results-errors", DataTable)
            errors.add_columns("phase", "failed as", "HTTP", "requests", "share")
            for ph in s.phases:
                for e in ph.errors:
                    errors.add_row(str(ph.phase), e.status, str(e.http_status or "-"),
                                   str(e.count), f"{e.count / (ph.ok + ph.failed):.1%}")
        metrics = self.query_one("#results-metrics", DataTable)
        metrics.add_columns("phase", "metric", "mean", *pct)
        for ph in s.phases:
            for m in METRICS:
                dist = ph.metric(m)
                metrics.add_row(str(ph.phase), m, _f(dist.mean, 2), *[_f(dist[p], 2) for p in pct])
        self.query_one(LatencyChart).set_phases(s.phases)

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


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
