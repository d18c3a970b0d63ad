"""Screens whose panels a number key maximises (as AIPerf's dashboard does): the same key, 0 or
Esc bring back the overview. The screen's CSS shows one panel under `-solo -solo-<id>`.

A screen declares its panels once, in key order (PANELS); the number keys with their footer and
`?` help lines (`panel_bindings`), the palette's "Maximise the …" commands (`panel_commands`) and
the number that starts each panel's title (`panel_title`) are made from that declaration, so a
key and what the screen says about it cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, ClassVar, Sequence

from textual.binding import Binding, BindingType
from textual.screen import Screen

from ..widgets.chart import LatencyChart

Command = tuple[str, str, Callable[[], object]]     # the palette's title, help and callback


@dataclass(frozen=True)
class Panel:
    """One panel of a screen. Its key is its place in the screen's PANELS: 1, 2, …"""

    id: str             # the action's argument, and the screen's class -solo-<id> when maximised
    label: str          # its key in the `?` help ("Latency sparklines"; key 1 reads "Panels")
    name: str           # what the palette maximises: "Maximise the <name>"
    selector: str       # the widget that fills the screen when it is maximised


def panel_bindings(prefix: str, panels: Sequence[Panel]) -> list[BindingType]:
    """1 to N maximise the panels (one footer entry: '1-N Panels'), 0 brings the overview back;
    `prefix` makes the footer entry's binding id."""
    first, *rest = panels
    keys: list[BindingType] = [Binding("1", f"panel('{first.id}')", "Panels",
                                       key_display=f"1-{len(panels)}", id=f"{prefix}-panels")]
    keys += [Binding(str(key), f"panel('{panel.id}')", panel.label, show=False)
             for key, panel in enumerate(rest, start=2)]
    keys.append(Binding("0", "overview", "Overview", show=False))
    return keys


def back_bindings(prefix: str) -> list[BindingType]:
    """Esc: the overview when a panel is maximised, else back; q: quit."""
    return [Binding("escape", "overview", "Overview", id=f"{prefix}-overview"),
            Binding("escape", "leave", "Back", id=f"{prefix}-back"),
            Binding("q", "app.quit", "Quit", id=f"{prefix}-quit")]


class PanelScreen(Screen):
    PANELS: ClassVar[tuple[Panel, ...]] = ()
    # Any screen with a maximised panel gives the header's row to it.
    DEFAULT_CSS = """
    PanelScreen.-solo Header { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.solo_panel: str | None = None       # the panel a number key maximised, or None

    # ------------------------------------------------------------------ the declaration

    @classmethod
    def panel(cls, panel_id: str) -> Panel:
        return next(p for p in cls.PANELS if p.id == panel_id)

    @classmethod
    def panel_key(cls, panel_id: str) -> int:
        return cls.PANELS.index(cls.panel(panel_id)) + 1

    @classmethod
    def panel_title(cls, panel_id: str, text: str = "") -> str:
        """'3 chart …': a panel's title starts with its key ('3 ' alone without `text`)."""
        return f"{cls.panel_key(panel_id)} {text}"

    def panel_commands(self) -> list[Command]:
        """The palette's 'Maximise the …', one per panel."""
        return [(f"Maximise the {panel.name}",
                 f"Key {key}" + (" (again, 0 or Esc: overview)" if key == 1 else ""),
                 partial(self.action_panel, panel.id))
                for key, panel in enumerate(self.PANELS, start=1)]

    def palette_commands(self) -> list[Command]:
        return self.panel_commands()

    # ------------------------------------------------------------------ the keys

    def action_panel(self, name: str) -> None:
        """Maximise a panel; its own key again brings back the overview."""
        if self.solo_panel == name:
            self.action_overview()
            return
        for other in self.PANELS:
            self.remove_class(f"-solo-{other.id}")
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
