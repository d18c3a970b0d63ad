"""Latency over time, one block per phase, the running phase on top and then the recent ones.
The bars are drawn from 0 (bars.LatencySpark). TTFA gets a line of its own, between TTFT and e2e,
once the phase saw a model reason."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label

from ...metrics.summary import PhaseStats
from .bars import LatencySpark

SPARK_POINTS = 120   # samples kept per phase (4 a second: the last 30 s)
NAMES = {"ttft": "TTFT", "ttfa": "TTFA", "e2e": "e2e"}


class PhaseSpark(Vertical):
    """One phase: a heading, then TTFT (TTFA) and e2e now (median of the most recent requests)."""

    DEFAULT_CSS = """
    PhaseSpark { height: 3; }
    PhaseSpark.-reasoning { height: 4; }
    PhaseSpark .-ttfa { display: none; }
    PhaseSpark.-reasoning .-ttfa { display: block; }
    PhaseSpark > .spark-head { height: 1; width: 1fr; text-style: bold; }
    PhaseSpark Horizontal { height: 1; }
    PhaseSpark .spark-label { width: 14; }
    PhaseSpark LatencySpark { width: 1fr; }
    """

    def __init__(self, phase: int, rate: float):
        super().__init__(id=f"spark-{phase}")
        self.phase = phase
        self.rate = rate
        self.state = ""
        self.series: dict[str, list[float]] = {name: [] for name in NAMES}
        self.display = False          # shown once the phase starts

    def compose(self) -> ComposeResult:
        yield Label(self._head(), classes="spark-head", id="spark-head", markup=False)
        for name in NAMES:
            with Horizontal(classes=f"-{name}"):
                yield Label(self._label(name, None), classes="spark-label", id=f"label-{name}",
                            markup=False)
                yield LatencySpark([], summary_function=max, id=f"line-{name}")

    def _head(self) -> str:
        return f"phase {self.phase} · {self.rate:g}/s" + (f" · {self.state}" if self.state else "")

    @staticmethod
    def _label(name: str, value: float | None) -> str:
        now = "     -   " if value is None else f"{value:6.0f} ms"
        return f"{NAMES[name]:<4} {now}"

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.query_one("#spark-head", Label).update(self._head())

    def add(self, ttft: float | None, e2e: float | None, ttfa: float | None = None) -> None:
        """The latest medians; TTFA shown once given (a phase that saw reasoning)."""
        if ttfa is not None and not self.has_class("-reasoning"):
            self.add_class("-reasoning")
        for name, value in (("ttft", ttft), ("ttfa", ttfa), ("e2e", e2e)):
            if value is None:
                continue
            values = self.series[name] = (self.series[name] + [value])[-SPARK_POINTS:]
            self.query_one(f"#line-{name}", LatencySpark).data = list(values)
            self.query_one(f"#label-{name}", Label).update(self._label(name, value))


class SparkPanel(VerticalScroll):
    """The phases that have started, newest first: the running phase is always the top block."""

    def __init__(self, rates: list[float], **kwargs):
        super().__init__(**kwargs)
        self.rates = rates

    def compose(self) -> ComposeResult:
        yield Label("no phase has started yet", id="sparks-waiting", classes="muted")
        for i, rate in enumerate(self.rates, start=1):
            yield PhaseSpark(i, rate)

    def order(self) -> list[int]:
        """The phases shown, top to bottom (for tests and the screen)."""
        return [w.phase for w in self.children if isinstance(w, PhaseSpark) and w.display]

    def show(self, phases: list[PhaseStats], stage: str, status: str | None) -> None:
        """`status`: None while the run goes as planned, else interrupted or aborted."""
        stopped = "stopped" if status == "interrupted" else status
        stopping = {"stopped": "stopping", "aborted": "aborting"}.get(stopped or "")
        for ph in phases:
            spark = self.query_one(f"#spark-{ph.phase}", PhaseSpark)
            if not spark.display:
                spark.display = True
                self.query_one("#sparks-waiting").display = False
                if self.children[0] is not spark:
                    self.move_child(spark, before=0)    # phases start in order: newest on top
                self.scroll_home(animate=False)
            cut = stopped and ph is phases[-1] and ph.sent < ph.planned   # cut short by the stop
            if ph.finished:
                spark.set_state(stopped if cut and stopped else "done")
            else:
                # a session phase drains beside the next one, which started on time
                spark.set_state(stopping if cut and stopping else
                                "draining" if stage == "draining" or ph is not phases[-1]
                                else "running")
                spark.add(ph.recent_ttft_ms, ph.recent_e2e_ms,
                          ph.recent_ttfa_ms if ph.reasoning else None)
