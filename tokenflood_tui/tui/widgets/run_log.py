"""The run log: a RichLog that wraps its lines again when its width changes.

RichLog wraps a line once, at the width it has when the line is written. The live view hides
and maximises its log (keys 1-4), so lines written while it was hidden or narrow would stay
wrapped at that width; this one keeps its lines and writes them again at the new width.
"""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog


class RunLog(RichLog):
    def __init__(self, max_lines: int = 2000, **kwargs):
        super().__init__(markup=False, wrap=True, max_lines=max_lines, min_width=1, **kwargs)
        self.entries: deque[Text] = deque(maxlen=max_lines)
        self._wrapped_at = 0
        self._stale = False             # lines were added while hidden (width 0)

    def add(self, text: Text) -> None:
        self.entries.append(text)
        if self._wrapped_at and self.size.width == self._wrapped_at:
            self.write(text)
        else:                           # hidden: written when it is shown again
            self._stale = True

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        width = event.size.width
        if width and (width != self._wrapped_at or self._stale):
            self._wrapped_at, self._stale = width, False
            self.clear()
            for text in self.entries:
                self.write(text)

    def plain_lines(self) -> list[str]:
        """What the log holds, one entry a line (for tests and screenshots)."""
        return [t.plain for t in self.entries]
