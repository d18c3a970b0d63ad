"""The live view's sparklines and the observation's poll timeline draw latency from 0: a few ms
of noise stay a few ms (scaling from the lowest to the highest value turned TTFT 51-53 ms into
`██▆▆▃▃▁▁`, and a poll timeline of 205.6-206.4 ms, "206–206", into full-height steps)."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App, ComposeResult

from tokenflood_tui.live.poll_feed import PollEvent
from tokenflood_tui.tui.widgets.polls import PollTimeline
from tokenflood_tui.tui.widgets.sparks import PhaseSpark

from support.observations import START, poll

BARS = "▁▂▃▄▅▆▇█"


def rendered_lines(app: App) -> list[str]:
    """The screen as text, one row a line, as the terminal receives it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system=None, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True,
                                                       screen_stack=app._background_screens))
    text = "".join(segment.text for segment in console._record_buffer if not segment.control)
    return text.splitlines()


def bars_after(lines: list[str], label: str) -> str:
    """The bar characters on the row that starts with `label`."""
    row = next(line for line in lines if line.lstrip().startswith(label))
    return "".join(ch for ch in row[row.index(label) + len(label):] if ch in BARS)


class SparkApp(App):
    def compose(self) -> ComposeResult:
        yield PhaseSpark(1, 5.0)

    def on_mount(self) -> None:
        self.query_one(PhaseSpark).display = True


async def spark_rows(ttft: list[float]) -> tuple[str, str]:
    """The TTFT and e2e bars of a phase after these medians (e2e twice TTFT)."""
    app = SparkApp()
    async with app.run_test(size=(60, 5)) as pilot:
        spark = app.query_one(PhaseSpark)
        for value in ttft:
            spark.add(value, 2 * value)
        await pilot.pause()
        lines = rendered_lines(app)
    return bars_after(lines, "TTFT"), bars_after(lines, "e2e")


async def test_a_sparkline_of_51_to_53_ms_stays_near_the_top():
    ttft, e2e = await spark_rows([51, 53, 52, 51, 53, 52, 51, 53])
    assert len(ttft) == 60 - 14 and set(ttft) <= set("▇█"), ttft
    assert set(e2e) <= set("▇█"), e2e


async def test_a_constant_sparkline_is_flat_at_the_top_and_a_real_change_shows():
    ttft, _ = await spark_rows([206.0] * 12)
    assert set(ttft) == {"█"}, ttft
    # from 200 ms to 100 ms: the second half drops to about half the height
    ttft, _ = await spark_rows([200.0] * 6 + [100.0] * 6)
    assert set(ttft[:20]) == {"█"} and set(ttft[-20:]) == {"▄"}, ttft


class TimelineApp(App):
    def compose(self) -> ComposeResult:
        yield PollTimeline([50, 90])


async def timeline_rows(ttft: list[float]) -> list[str]:
    app = TimelineApp()
    async with app.run_test(size=(80, 6)) as pilot:
        app.query_one(PollTimeline).add([PollEvent(k, None, poll(k, START, v))
                                         for k, v in enumerate(ttft, start=1)])
        await pilot.pause()
        return rendered_lines(app)


async def test_the_poll_timeline_draws_noise_flat_and_says_its_range():
    # "206–206 ms" on screen: six polls within 1 ms
    lines = await timeline_rows([205.6, 206.4, 205.9, 206.1, 205.7, 206.3])
    row = next(line for line in lines if line.startswith("TTFT p50"))
    assert bars_after(lines, "TTFT p50") == "██████" and "206 ms  206–206" in row
    assert bars_after(lines, "TTFT p90") == "██████"       # 1.2 times: the same scale from 0
    # 40 to 80 ms: the bars say "half", not "nothing" and "everything"
    lines = await timeline_rows([40, 80, 60])
    assert bars_after(lines, "TTFT p50") == "▄█▆"
    assert "bars from 0" in lines[-1] or any("bars from 0" in line for line in lines)
