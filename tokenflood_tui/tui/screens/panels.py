"""Screens whose panels a number key maximises (as AIPerf's dashboard does): the same key, 0 or
Esc bring back the overview. The screen's CSS shows one panel under `-solo -solo-<name>`."""

from __future__ import annotations

from typing import ClassVar

from textual.screen import Screen

from ..widgets.chart import LatencyChart


class PanelScreen(Screen):
    PANELS: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.solo_panel: str | None = None       # the panel a number key maximised, or None

    def action_panel(self, name: str) -> None:
        """Maximise a panel; its own key again brings back the overview."""
        if self.solo_panel == name:
            self.action_overview()
            return
        for other in self.PANELS:
            self.remove_class(f"-solo-{other}")
        self.add_class("-solo", f"-solo-{name}")
        self.solo_panel = name
        self._panels_changed()

    def action_overview(self) -> None:
        if self.solo_panel is None:
            return
        self.remove_class("-solo", f"-solo-{self.solo_panel}")
        self.solo_panel = None
        self._panels_changed()

    def _panels_changed(self) -> None:
        # redraw the chart at its new size as soon as the layout has it, not on the next tick
        for chart in self.query(LatencyChart):
            self.call_after_refresh(chart.redraw_if_needed)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Esc restores a maximised panel before it means "back"; the footer shows which.
        if action == "overview":
            return self.solo_panel is not None
        if action == "leave":
            return self.solo_panel is None
        return True
