"""A live view's log panel: the run's lines, with its warnings pinned above them.

A warning matters after its line has scrolled away (the output tokens differ from the target,
a share of a phase failed), so the run's warnings stay above the log, newest first, and the
border title counts them: '4 log · ⚠ 2 warnings'. Both the log and the pinned warnings hold a
bounded number of items when asked (an observation runs for days); errors.log keeps every line.

The panel fills the screen when the screen maximises its `log` panel (class -solo-log) and gives
the warnings one row on a short terminal (class -short), as every live view does.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from .run_log import RunLog

STYLES = {"error": "bold red", "warning": "yellow", "info": ""}


class LogPanel(Vertical):
    """`title`: the border title ('4 log'); `max_lines`: lines the log keeps; `pinned`: warnings
    kept above it (None: all of them; 0: none pinned, the log only)."""

    # Not scoped: the rules follow the screen's classes (-short, -solo-log). The solo rule has
    # one class more than the -short one, so a maximised log wins on a short terminal too.
    SCOPED_CSS = False
    DEFAULT_CSS = """
    LogPanel { border: round $panel; }
    LogPanel #warnings { height: auto; max-height: 3; color: $warning; }
    .-short LogPanel #warnings { max-height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    .-solo.-solo-log LogPanel #warnings { max-height: 50%; }
    LogPanel #log { height: 1fr; }
    """

    def __init__(self, title: str, max_lines: int = 2000, pinned: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.heading = title
        self.border_title = title
        self.max_lines = max_lines
        self.pins = pinned != 0
        self.pinned: deque[str] = deque(maxlen=pinned)   # the newest last
        self.warning_count = 0                           # every warning pinned, also those gone
        self.seen: set[str] = set()                     # pinned since forget_seen (bounded by it)

    def compose(self) -> ComposeResult:
        warnings = Static("", id="warnings", markup=False)
        warnings.display = False
        yield warnings
        yield RunLog(max_lines=self.max_lines, id="log")

    def add(self, level: str, text: str, pin: bool = True) -> None:
        """A line ('warning: …' in yellow, 'error: …' in red); a warning with `pin` is also pinned
        above the log, once (the view's own notes, such as how the run stopped, are not)."""
        if level == "warning" and pin and self.pins and text not in self.seen:
            self.seen.add(text)
            self.pinned.append(text)
            self.warning_count += 1
            warnings = self.query_one("#warnings", Static)
            warnings.display = True
            warnings.update("\n".join(f"⚠ {w}" for w in reversed(self.pinned)))
            count = self.warning_count
            self.border_title = f"{self.heading} · ⚠ {count} warning{'s' if count > 1 else ''}"
        prefix = "" if level == "info" else f"{level}: "
        self.query_one(RunLog).add(Text(prefix + text, style=STYLES.get(level, "")))

    def forget_seen(self) -> None:
        """Pin a warning again even if its text was pinned before (an observation: each poll's
        own warnings, while the memory of texts stays that of one poll)."""
        self.seen.clear()

    def lines(self) -> list[str]:
        return self.query_one(RunLog).plain_lines()
