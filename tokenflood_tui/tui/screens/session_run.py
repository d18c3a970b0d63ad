"""The live view of a session run: the load test's view (phases, latency, chart, log) with a
sessions panel under the phases (widgets/sessions.py) and rates in sessions/s.

A screen of its own on the load test's rather than a panel the load test's view shows only for
sessions: a screen's panels are declared once, in its class (their keys, palette entries, titles
and `?` help are made from that declaration), so a panel that is there for some runs and not
for others would need keys that come and go; a subclass declares five panels and inherits the
rest.

Keys: 1 phases, 2 sessions, 3 latency sparklines, 4 chart, 5 log, 6 server metrics (only
maximised: the overview has no rows left for it; the status line keeps the server's
figures). Below 32 rows the overview
keeps one line of the sessions panel (the sessions in flight, with their sparkline), so the chart
keeps its rows; key 2 shows the whole panel.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.events import Resize

from ...live.sessions import open_phases, sessions_in_flight
from ...metrics.summary import RunSummary
from ...run.coordinator import RunSnapshot
from ..widgets.sessions import SessionPanel
from .live import live_bindings
from .panels import Panel
from .run import TABLE_MARGIN, RunScreen


class SessionRunScreen(RunScreen):
    PANELS = (Panel("phases", "Phases", "phases table", "#phases-panel"),
              Panel("sessions", "Sessions", "sessions and turns", "#sessions-panel"),
              Panel("latency", "Latency sparklines", "latency sparklines", "#sparks"),
              Panel("chart", "Chart", "chart", "#chart"),
              Panel("log", "Log", "log", "#log-panel"),
              Panel("server", "Server metrics", "server metrics", "#server-panel"))
    BINDINGS = live_bindings("run", PANELS)
    DEFAULT_CSS = """
    SessionRunScreen #sessions-panel { height: auto; border-top: solid $primary; padding: 0 1; }
    SessionRunScreen #log-panel { height: 8; }
    /* below 32 rows: the in-flight line only */
    SessionRunScreen.-short #session-phases, SessionRunScreen.-short #turns-label,
    SessionRunScreen.-short #session-turns { display: none; }
    SessionRunScreen.-short #log-panel { height: 5; }
    SessionRunScreen #server-panel { display: none; }

    /* one panel maximised (keys 1-5) */
    SessionRunScreen.-solo #sessions-panel { display: none; }
    SessionRunScreen.-solo.-solo-sessions #sessions-panel { display: block; height: 1fr; }
    SessionRunScreen.-solo.-solo-sessions #session-phases,
    SessionRunScreen.-solo.-solo-sessions #turns-label,
    SessionRunScreen.-solo.-solo-sessions #session-turns { display: block; }
    SessionRunScreen.-solo.-solo-sessions #session-phases { max-height: 12; }
    """

    def compose_below_phases(self) -> ComposeResult:
        panel = SessionPanel(self.suite.rates, id="sessions-panel")
        panel.border_title = self.panel_title("sessions", "sessions")
        yield panel

    def on_resize(self, event: Resize) -> None:
        # (RunScreen's on_resize runs too: Textual calls each class's handler)
        self._show_sessions(sample=False)

    def _show_sessions(self, sample: bool = True) -> None:
        """The panel at this width; `sample`: a new snapshot (not a redraw) while running."""
        snap = self.snapshot
        result = self.controller.result if self.controller.finished else None
        phases = result.summary.phases if result is not None else snap.phases if snap else []
        panel = self.query_one(SessionPanel)
        panel.show(phases, self.size.width - TABLE_MARGIN, sample=sample and result is None,
                   ended=result is not None)
        panel.border_title = self.panel_title("sessions", panel.table_title())

    # ------------------------------------------------------------------ status and progress

    def sending_text(self, snap: RunSnapshot) -> str:
        """' · 4 sessions/s · 12 sessions in flight': the running phase's rate, every open
        phase's sessions."""
        current = snap.phases[-1] if snap.phases else None
        if current is None or current.sessions is None:
            return ""
        flying = sessions_in_flight(snap.phases)
        return (f" · {current.target_rps:g} sessions/s · {flying} session{'s' * (flying != 1)} "
                "in flight")

    def in_flight_text(self, snap: RunSnapshot) -> str:
        """', 12 sessions in flight': every open phase's (the ones draining too)."""
        if not open_phases(snap.phases):
            return ""
        flying = sessions_in_flight(snap.phases)
        return f", {flying} session{'s' * (flying != 1)} in flight"

    def ended_text(self, summary: RunSummary) -> str:
        text = super().ended_text(summary)
        started = sum(ph.sessions.started for ph in summary.phases if ph.sessions is not None)
        completed = sum(ph.sessions.completed for ph in summary.phases
                        if ph.sessions is not None)
        return text + f" ({completed} of {started} sessions completed)"

    # ------------------------------------------------------------------ what the run sends

    def show_snapshot(self, snap: RunSnapshot) -> None:
        super().show_snapshot(snap)
        self._show_sessions()

    def show_ended(self, summary: RunSummary | None) -> None:
        super().show_ended(summary)
        self._show_sessions(sample=False)
