"""A search's steps as they run: one row per phase, its rate, the figures and its verdict.

A search decides its rates as it goes, so rows are added as phases start (the load-test table
knows its rates in advance). The verdict and its figures come from the planner's SearchStep once
the phase is done; the running phase says so, and a phase cut short by a stop has no verdict.
The figures column gets what the other columns leave of the width and is cut with an ellipsis:
the log keeps each verdict whole.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ...metrics.summary import PhaseStats, SearchStep
from ...outputs.formats import number

COLUMNS = [("phase", "phase"), ("rate", "req/s"), ("achieved", "actual"),
           ("ttft", "TTFT p50"), ("e2e", "e2e p50"), ("verdict", "SLO"), ("why", "figures")]
WHY_MIN = 12        # the figures column never gets narrower than this


class SearchSteps(DataTable):
    """Rows keyed by phase number; cells updated in place as figures change."""

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.stats: dict[int, PhaseStats] = {}
        self.steps: dict[int, SearchStep] = {}
        self.running: int | None = None
        self.why_width = 40
        self._shown: dict[int, dict[str, str]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def verdict(self, phase: int) -> str:
        """'meets', 'fails', 'running' or 'stopped' (cut short, so never judged)."""
        step = self.steps.get(phase)
        if step is not None:
            return "meets" if step.meets else "fails"
        return "running" if phase == self.running else "stopped"

    def cells(self, phase: int) -> dict[str, str]:
        ph = self.stats[phase]
        step = self.steps.get(phase)
        why = step.why if step is not None else ""
        if len(why) > self.why_width:
            why = why[:self.why_width - 1] + "…"
        return {"phase": str(phase), "rate": f"{ph.target_rps:g}",
                "achieved": number(ph.achieved_rps, 1), "ttft": number(ph.ttft_ms.at(50), 0),
                "e2e": number(ph.e2e_ms.at(50), 0), "verdict": self.verdict(phase), "why": why}

    def show(self, phases: list[PhaseStats], steps: list[SearchStep], running: int | None,
             available: int) -> None:
        """New figures: a row for each phase started, its verdict once the planner has one."""
        for ph in phases:
            self.stats[ph.phase] = ph
        for step in steps:
            self.steps[step.phase] = step
        self.running = running
        self.fit(available)
        for phase in sorted(self.stats):
            cells = self.cells(phase)
            shown = self._shown.get(phase)
            if shown is None:
                self.add_row(*(self._styled(k, v) for k, v in cells.items()), key=str(phase))
                self._shown[phase] = cells
                self.move_cursor(row=self.row_count - 1, animate=False)   # the newest in view
                continue
            for key, value in cells.items():
                if shown.get(key) != value:
                    self.update_cell(str(phase), key, self._styled(key, value), update_width=True)
                    shown[key] = value

    def fit(self, available: int) -> None:
        """The figures column takes what the others leave (the others are narrow and fixed)."""
        others = sum(max(len(label), *(len(self.cells(p)[key]) for p in self.stats), 5)
                     + 2 * self.cell_padding for key, label in COLUMNS if key != "why")
        self.why_width = max(WHY_MIN, available - others - 2 * self.cell_padding)

    @staticmethod
    def _styled(key: str, value: str) -> str | Text:
        if key != "verdict":
            return value
        style = {"meets": "bold green", "fails": "bold red", "running": "yellow"}.get(value, "dim")
        return Text(value, style=style)

    def plain_rows(self) -> list[list[str]]:
        """The table as text, row by row (for tests and screenshots)."""
        return [[str(c) for c in self.get_row_at(i)] for i in range(self.row_count)]
