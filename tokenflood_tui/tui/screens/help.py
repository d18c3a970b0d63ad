"""`?` (or F1): every key of the screen underneath, its widgets' keys, and the keys that work
everywhere.

The list is read from the bindings themselves, so a key added to a screen shows up here without
anyone remembering to document it; only the keys every screen shares are written out by hand.
"""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

# (keys, what they do): the same on every screen.
EVERYWHERE = [
    ("? / f1", "this help (in a text field ? is typed: use f1)"),
    ("tab / shift+tab", "next / previous list, field or button"),
    ("← →", "in a dialog: the other button"),
    ("↑ ↓", "move the cursor in a list or table"),
    ("enter", "choose the highlighted item, or press the button"),
    ("esc", "back; in a dialog: the safe answer"),
    ("y / n", "in a yes/no question: yes / no"),
    ("ctrl+p", "command palette: every action, themes, screenshot"),
    ("ctrl+q", "quit (asks first mid-run or with unsaved edits)"),
]
OWN_PACKAGE = __name__.split(".")[0]


def _words(class_name: str) -> str:
    """'LoadTypesTable' -> 'load types table'."""
    name = re.sub(r"Screen$", "", class_name) or class_name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def _own_bindings(node: DOMNode) -> list[Binding]:
    """The bindings tokenflood's classes declare for a node (most derived first, one per key);
    Textual's own (tab, copy, ...) are the same everywhere and listed under Everywhere."""
    seen: set[str] = set()
    out = []
    for cls in type(node).__mro__:
        if not cls.__module__.startswith(OWN_PACKAGE):
            break
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            if binding.key in seen:
                continue
            seen.add(binding.key)
            out.append(binding)
    return out


KEY_NAMES = {"question_mark": "?", "escape": "esc", "left": "←", "right": "→", "up": "↑",
             "down": "↓"}


def key_name(binding: Binding) -> str:
    """'ctrl+s', 'f5', '?': as typed, the way the footer and the README spell keys."""
    return binding.key_display or KEY_NAMES.get(binding.key, binding.key)


def _enabled(node: DOMNode, binding: Binding) -> bool:
    """False for an action the node turns off (e.g. `y` on a budget modal over a limit)."""
    if "." in binding.action:
        return True
    action = binding.action.split("(", 1)[0]
    try:
        return node.check_action(action, ()) is not False
    except Exception:       # a check that needs parameters: show the key
        return True


def key_table(screen: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(section title, [(keys, description)])] for `screen`: its own keys, then each of its
    widgets' (only tokenflood's widgets: Textual's own list and table keys are under Everywhere)."""
    sections = []
    nodes = [screen] + [w for w in screen.query("*")
                        if type(w).__module__.startswith(OWN_PACKAGE)]
    done: set[type] = set()
    for node in nodes:
        if type(node) in done:
            continue
        done.add(type(node))
        by_action: dict[tuple[str, str], list[str]] = {}
        for binding in _own_bindings(node):
            if not binding.description or not _enabled(node, binding):
                continue
            keys = by_action.setdefault((binding.action, binding.description), [])
            keys.append(key_name(binding))
        if not by_action:
            continue
        rows = [(" / ".join(keys), description) for (_, description), keys in by_action.items()]
        title = "This screen" if node is screen else f"In the {_words(type(node).__name__)}"
        sections.append((title, rows))
    sections.append(("Everywhere", list(EVERYWHERE)))
    return sections


class HelpScreen(ModalScreen[None]):
    """The keys of `screen` (the one under this help), closed by Esc, q, ?, F1 or Enter."""

    BINDINGS = [
        Binding("escape,q,question_mark,f1,enter", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen #help-box { width: 76; }
    HelpScreen #help-title { text-style: bold; color: $accent; }
    HelpScreen #help-keys { height: auto; }
    HelpScreen #help-close { margin-top: 1; }
    """
    FIXED_ROWS = 6        # border 2, title 1, hint 1 + margin 1, one spare

    def __init__(self, screen: Screen):
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        name = _words(type(self.for_screen).__name__)
        with Vertical(id="help-box", classes="modal-box"):
            yield Static(f"Keys — {name}", id="help-title", markup=False)
            with VerticalScroll(id="help-keys", can_focus=True):
                yield Static(self.text(), id="help-text", markup=False)
            yield Static("↑/↓ scroll   esc, q or ? close", id="help-close", classes="muted",
                         markup=False)

    def text(self) -> str:
        lines: list[str] = []
        sections = key_table(self.for_screen)
        width = max(len(keys) for _, rows in sections for keys, _ in rows)
        for title, rows in sections:
            lines.append(("\n" if lines else "") + title)
            lines += [f"  {keys:<{width}}  {description}" for keys, description in rows]
        return "\n".join(lines)

    def on_mount(self) -> None:
        self._fit()
        self.query_one("#help-keys").focus()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        # The list scrolls inside the box (.modal-box may use 90% of the height), the title and
        # the closing hint stay on screen; the padding goes first on a short terminal.
        room = int(self.size.height * 0.9) - self.FIXED_ROWS
        self.query_one("#help-box").styles.padding = (1, 2) if room >= 30 else (0, 2)
        self.query_one("#help-keys").styles.max_height = max(3, room - (2 if room >= 30 else 0))

    def action_close(self) -> None:
        self.dismiss(None)
