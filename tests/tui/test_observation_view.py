"""The observation live view at 80x24 and 120x40: the timeline of polls, the countdown while
waiting, missed polls, the last poll's failures, the clock in UTC and local time, and that nothing
in it grows over a days-long run.

Canned snapshots (the shapes the coordinator sends) drive the view, except where a real run
against the simulator is the point (stopping). Assertions read the screen as text.
"""

from __future__ import annotations

import re
import time

import pytest

from tokenflood_tui.run.coordinator import RunSnapshot
from tokenflood_tui.run.plan import MissedSlot
from tokenflood_tui.specs import EndpointSpec, load_endpoint, parse_run_suite
from tokenflood_tui.metrics.summary import Distribution, ErrorCount, PhaseStats
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.run.events import FailedShare, PhaseStarted, RequestFailed
from tokenflood_tui.tui.messages import RunEventMessage, RunSnapshotMessage
from tokenflood_tui.tui.run_controller import EVENTS_KEPT, RunController
from tokenflood_tui.tui.screens.observation import LOG_LINES, PINNED_WARNINGS, ObservationScreen
from tokenflood_tui.tui.widgets.over_time_chart import OverTimeChart
from tokenflood_tui.tui.widgets.polls import TABLE_POLLS, TIMELINE_POLLS, PollTable, PollTimeline
from tokenflood_tui.tui.widgets.log_panel import LogPanel
from tokenflood_tui.tui.widgets.run_log import RunLog

from support.screens import screen_lines
from test_snapshots import RESULTS, WORKSPACE, app

SIZES = [(80, 24), (120, 40)]
INTERVAL_S = 900.0
TOTAL = 288            # three days at 15 minutes
MISSED = "its slot passed before tokenflood was ready"
SUITE = f"""\
type: observation
name: watch
duration_hours: 72
polling_interval_minutes: {INTERVAL_S / 60}
num_requests: 3
within_seconds: 10
load_type: {{prompt_length: 64, output_length: 4}}
"""


def poll(k: int, ttft: float = 50.0, ok: int = 3, errors: tuple = (), finished: bool = True,
         sent: int = 3) -> PhaseStats:
    dist = lambda v: Distribution(mean=v, p50=v, p90=v * 1.2, p99=v * 1.4)  # noqa: E731
    none = Distribution(mean=None, p50=None, p90=None, p99=None)
    failed = sum(n for _, _, n in errors)
    return PhaseStats(
        phase=k, target_rps=0.3, planned=3, sent=sent, ok=ok, failed=failed,
        in_flight=0 if finished else sent - ok - failed,
        errors=[ErrorCount(status=s, http_status=code, count=n) for s, code, n in errors],
        achieved_rps=0.3, output_tokens_per_s=10.0, goodput=None,
        ttft_ms=dist(ttft) if ok else none, e2e_ms=dist(ttft * 2) if ok else none,
        scheduled_latency_ms=dist(ttft * 2) if ok else none, tpot_ms=none, itl_ms=none,
        dispatch_delay_ms=Distribution(mean=1.0, p50=1.0, p90=1.5, p99=2.0),
        prompt_tokens_mean=64.0, prompt_tokens_target_mean=64.0, output_tokens_mean=4.0,
        output_tokens_target_mean=4.0, cached_tokens_mean=None, cache_hit_rate=None,
        output_tokens_estimated=False, elapsed_s=10.0 if finished else 4.0, length_s=10.0,
        finished=finished)


class Run:
    """A canned observation: anchored so that poll `polls + 1` is due `next_in_s` from now."""

    def __init__(self, polls: int = 0, next_in_s: float = 272.0):
        self.anchor = time.time() + next_in_s - polls * INTERVAL_S
        self.phases: list[PhaseStats] = []
        self.missed: list[MissedSlot] = []

    def slot(self, k: int) -> float:
        return self.anchor + (k - 1) * INTERVAL_S

    def miss(self, k: int) -> None:
        self.missed.append(MissedSlot(k, self.slot(k), MISSED))

    def snapshot(self, stage: str = "waiting", next_poll: int | None = None, **kw) -> RunSnapshot:
        last = max([p.phase for p in self.phases] + [m.phase for m in self.missed] + [0])
        if stage == "waiting":
            kw.setdefault("next_slot_utc", self.slot(next_poll or last + 1))
        return RunSnapshot(stage=stage, phase=last, total_phases=TOTAL, phases=list(self.phases),
                           elapsed_s=0.0, remaining_s=0.0, missed=list(self.missed),
                           ends_utc=self.anchor + TOTAL * INTERVAL_S, **kw)


async def observation_screen(pilot) -> ObservationScreen:
    """The observation view over a controller that is never started: it shows what it is sent."""
    suite, endpoint = parse_run_suite(SUITE), load_endpoint(WORKSPACE / "endpoint.yml")
    screen = ObservationScreen(RunController(pilot.app, suite, endpoint, RESULTS))
    await pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


async def send(pilot, screen, snap: RunSnapshot) -> list[str]:
    screen.post_message(RunSnapshotMessage(snap))
    await pilot.pause()
    return screen_lines(pilot.app)


def find(lines: list[str], text: str) -> int:
    return next((i for i, line in enumerate(lines) if text in line), -1)


def hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


@pytest.fixture
def berlin(monkeypatch):
    """Local time two hours (or one) off UTC, so the view shows both."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("size", SIZES)
async def test_the_timeline_and_table_show_each_poll_with_a_missed_one_marked(size):
    the_app = app()
    async with the_app.run_test(size=size) as pilot:
        screen = await observation_screen(pilot)
        lines = screen_lines(the_app)
        assert find(lines, "warming up and calibrating") >= 0
        assert find(lines, "no poll has finished yet") >= 0
        run = Run(polls=6)
        for k, ttft in zip(range(1, 7), (50, 60, 70, 0, 80, 40), strict=True):
            if k == 4:
                run.miss(4)
            else:
                run.phases.append(poll(k, ttft))
            lines = await send(pilot, screen, run.snapshot())
        row = lines[find(lines, "TTFT p50  ")]
        # one cell per poll, from 0 to the highest on screen (80 ms): 50 60 70 missed 80 40
        assert "▅▆▇×█▄" in row and "40 ms  40–80" in row
        assert "▅▆▇×█▄" in lines[find(lines, "TTFT p90  ")]
        assert find(lines, "polls 1–6 · × missed") >= 0
        # the table: newest first, the missed poll in its place
        head = find(lines, "poll  slot UTC")
        assert "TTFT p50/p90" in lines[head] and "e2e p50" in lines[head]
        # a run over a day long: the weekday with the slot
        assert f"   6  {time.strftime('%a %H:%M', time.gmtime(run.slot(6)))}" in lines[head + 1]
        assert "3   3    0" in lines[head + 1] and "40/48" in lines[head + 1]
        assert "5  " in lines[head + 2] and "80/96" in lines[head + 2]
        assert "4  " in lines[head + 3] and f"missed: {MISSED}"[:30] in lines[head + 3]
        # the last poll that ran, and that the poll after it was missed is said when it is newest
        assert find(lines, f"poll 6/{TOTAL} {hms(run.slot(6))} UTC: 3 sent, 3 ok, 0 failed") >= 0
        assert find(lines, "TTFT p50/p90/p99 40/48/56 ms · e2e p50/p90/p99 80/96/112 ms") >= 0
        assert find(lines, "✓ no failures in this poll") >= 0
        assert max(len(line.rstrip()) for line in lines) <= size[0]
        run.miss(7)
        lines = await send(pilot, screen, run.snapshot())
        assert find(lines, "then poll 7 missed") >= 0 and "▅▆▇×█▄×" in lines[find(lines, "TTFT p50  ")]
        assert find(lines, "5 done, 2 missed") >= 0


@pytest.mark.parametrize("size", SIZES)
async def test_the_countdown_to_the_next_poll_and_the_time_left(size, berlin):
    the_app = app()
    async with the_app.run_test(size=size) as pilot:
        screen = await observation_screen(pilot)
        run = Run(polls=4, next_in_s=272.4)
        run.phases += [poll(k) for k in range(1, 5)]
        lines = await send(pilot, screen, run.snapshot())
        status = lines[find(lines, f"/{TOTAL} in ")]
        assert re.search(rf"poll 5/{TOTAL} in 4:3[12] \(at {hms(run.slot(5))} UTC\) · 4 done", status)
        before = int(re.search(r" in 4:(\d\d)", status).group(1))
        # now, in UTC and local time, and what is left of the run (284 polls of 15 min)
        clock = lines[find(lines, " left · ends ")]
        local = time.strftime("%H:%M", time.localtime())
        assert re.search(rf"\d\d:\d\d:\d\d UTC, {local}:\d\d CES?T · 2d 23:", clock), clock
        ends = run.anchor + TOTAL * INTERVAL_S
        assert time.strftime("%H:%M", time.gmtime(ends)) + " UTC, " in clock
        if size[0] >= 120:
            assert time.strftime("%H:%M", time.localtime(ends)) + " CE" in clock
        await pilot.pause(2.2)                 # the countdown moves with the clock, not snapshots
        status = screen_lines(the_app)[find(lines, f"/{TOTAL} in ")]
        after = int(re.search(rf"poll 5/{TOTAL} in 4:(\d\d) ", status).group(1))
        assert 1 <= before - after <= 3, status


@pytest.mark.parametrize("size", SIZES)
async def test_the_last_polls_failures_by_kind_and_the_poll_under_way(size):
    the_app = app()
    async with the_app.run_test(size=size) as pilot:
        screen = await observation_screen(pilot)
        run = Run(polls=3)
        run.phases += [poll(1), poll(2),
                       poll(3, ok=0, errors=(("connection_error", None, 2), ("http_error", 503, 1)))]
        lines = await send(pilot, screen, run.snapshot())
        assert find(lines, "✗ 3 of 3 failed: connection_error ×2, http_error 503 ×1") >= 0
        assert find(lines, f"poll 3/{TOTAL} {hms(run.slot(3))} UTC: 3 sent, 0 ok, 3 failed") >= 0
        row = lines[find(lines, "poll  slot UTC") + 1]
        assert "3   0    3" in row and "-/-" in row and "connection_er" in row   # cut short: key 3
        assert "!" in lines[find(lines, "TTFT p50  ")]          # a poll without an answer
        run.phases.append(poll(4, ok=1, sent=2, finished=False))
        lines = await send(pilot, screen, run.snapshot(stage="running"))
        assert lines[find(lines, "running:")].lstrip().startswith(
            f"poll 4/{TOTAL} running: 2 of 3 sent, 1 in flight · 3 done")
        head = find(lines, "poll  slot UTC")
        assert "▶ 1 in flight" in lines[head + 1] and "connection_error" in lines[head + 2]
        # the last finished poll stays on the last-poll panel while the next one runs
        assert find(lines, "✗ 3 of 3 failed: connection_error ×2, http_error 503 ×1") >= 0


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("key,panel,text", [
    ("1", "last", "✓ no failures"), ("2", "timeline", "polls 1–12"), ("3", "polls", "poll  slot UTC"),
    ("4", "chart", "TTFT (ms) per poll"), ("5", "log", "poll 12: 0.3 req/s")])
async def test_each_number_key_maximises_its_panel_and_restores(size, key, panel, text):
    the_app = app()
    async with the_app.run_test(size=size) as pilot:
        screen = await observation_screen(pilot)
        run = Run(polls=12)
        run.phases += [poll(k, 50 + k) for k in range(1, 13)]
        screen.post_message(RunEventMessage(PhaseStarted("poll", 12, 0.3, 10, 3)))
        await send(pilot, screen, run.snapshot())
        for restore in (key, "0", "escape"):
            await pilot.press(key)
            for _ in range(30):                   # the chart draws once the layout has it
                lines = screen_lines(the_app)
                if find(lines, text) >= 0:
                    break
                await pilot.pause(0.1)
            assert find(lines, text) >= 0, "\n".join(lines)
            widget = screen.query_one(ObservationScreen.panel(panel).selector)
            assert widget.region.height >= size[1] - 5          # the whole screen but 5 rows
            assert find(lines, f"poll 13/{TOTAL} in ") >= 0       # the status line stays
            await pilot.press(restore)
            await pilot.pause()
            assert screen.solo_panel is None and the_app.screen is screen
        lines = screen_lines(the_app)
        # the overview: the chart only where it has room (120x40), else behind its key
        assert (find(lines, "4 TTFT percentiles per poll") >= 0) == (size == (120, 40))
        assert all(find(lines, t) >= 0 for t in ("1 last poll", "2 timeline", "3 latest polls",
                                                 "5 log"))


async def test_after_1400_polls_the_widgets_hold_a_bounded_number_of_items():
    """A three-day run at 15 minutes has 288 polls; at 3 minutes, 1440: nothing on screen may
    keep one item per poll, per log line or per warning forever. 1400 polls are over every
    bound below (the controller's events: 3 a poll, 4200 > 2 × EVENTS_KEPT, so trimmed once)."""
    polls = 1400
    assert 3 * polls > 2 * EVENTS_KEPT and polls > TIMELINE_POLLS
    the_app = app()
    async with the_app.run_test(size=(120, 40)) as pilot:
        screen = await observation_screen(pilot)
        run = Run(polls=polls)
        run.phases.append(poll(1))
        await send(pilot, screen, run.snapshot())
        await pilot.pause(0.6)
        nodes = len(list(screen.walk_children()))
        for k in range(2, polls + 1):
            if k % 10 == 0:
                run.miss(k)
            else:
                run.phases.append(poll(k, 50 + k % 17, errors=(("timeout", None, 1),), ok=2))
            # as the run thread logs: through the controller, which keeps lines for late screens
            screen.controller.event(PhaseStarted("poll", k, 0.3, 10, 3))
            screen.controller.event(RequestFailed("poll", k, "timeout", None, "no first token"))
            screen.controller.event(FailedShare("poll", k, f"phase {k}: 33% of requests failed"))
            screen.post_message(RunSnapshotMessage(run.snapshot()))
            if k % 50 == 0:
                await pilot.pause()
        await pilot.pause(0.6)
        lines = screen_lines(the_app)
        timeline, table = screen.query_one(PollTimeline), screen.query_one(PollTable)
        assert len(timeline.cells) == TIMELINE_POLLS and timeline.cells[-1].poll == polls
        assert len(table.polls) == TABLE_POLLS and table.polls[-1].poll == polls
        log = screen.query_one(RunLog)
        assert len(log.entries) == LOG_LINES and len(log.lines) <= LOG_LINES + 10
        log_panel = screen.query_one(LogPanel)
        assert len(log_panel.pinned) == PINNED_WARNINGS and log_panel.warning_count == polls - 1
        assert EVENTS_KEPT <= len(screen.controller.events) <= 2 * EVENTS_KEPT
        assert screen.controller.events[-1] == FailedShare("poll", polls,
                                                           f"phase {polls}: 33% of requests failed")
        assert len(screen.throttle) == 1 and len(log_panel.seen) <= 1
        assert len(list(screen.walk_children())) == nodes          # nothing mounted per poll
        assert screen.polls_done == 1260 and screen.polls_missed == 140
        assert find(lines, "polls 13") >= 0 and find(lines, f"–{polls} · × missed") >= 0
        assert find(lines, "1260 done, 140 missed") >= 0
        assert find(lines, f"5 log · ⚠ {polls - 1} warnings") >= 0


async def test_snapshots_without_a_new_poll_redo_none_of_the_history():
    """Snapshots come four times a second; the chart over every poll is drawn again only when a
    poll has finished (or was missed)."""
    the_app = app()
    async with the_app.run_test(size=(120, 40)) as pilot:
        screen = await observation_screen(pilot)
        run = Run(polls=300)
        run.phases += [poll(k, 50 + k % 7) for k in range(1, 301)]
        await send(pilot, screen, run.snapshot())
        chart = screen.query_one(OverTimeChart)
        for _ in range(30):                       # until the 300 polls are drawn
            await pilot.pause(0.1)
            if "per poll" in str(chart.render()):
                break
        # and drawn for the size the layout settled on (a busy machine once drew a third time,
        # the layout's last change coming after the first draw that showed the polls)
        draws = -1
        for _ in range(10):
            if chart.draws == draws:
                break
            draws = chart.draws
            await pilot.pause(0.6)                # over the chart's redraw interval
        cells = list(screen.query_one(PollTimeline).cells)
        run.phases.append(poll(301, finished=False, ok=0, sent=1))
        for _ in range(8):                        # 2 s of snapshots of poll 301 under way
            await send(pilot, screen, run.snapshot(stage="running"))
            await pilot.pause(0.25)
        assert chart.draws == draws and list(screen.query_one(PollTimeline).cells) == cells
        run.phases[-1] = poll(301, 90)
        await send(pilot, screen, run.snapshot())
        for _ in range(30):
            await pilot.pause(0.1)
            if chart.draws > draws:
                break
        assert chart.draws == draws + 1
        assert screen.query_one(PollTimeline).cells[-1].poll == 301


def short_observation(interval_s: float, polls: int):
    return parse_run_suite(f"""\
type: observation
name: stopped-watch
duration_hours: {interval_s * polls / 3600}
polling_interval_minutes: {interval_s / 60}
num_requests: 2
within_seconds: 1
load_type: {{prompt_length: 64, output_length: 4}}
""")


async def test_stopping_a_real_observation_asks_and_keeps_the_results(tmp_path, sim_process):
    """Against the simulator: a poll runs, `s` asks while the view counts down to the next, `y`
    stops; the run ends interrupted with that poll kept, and the view says so."""
    the_app = TokenfloodApp(Launch("run", results_root=tmp_path / "results",
                                   suite=short_observation(10.0, 6), assume_yes=True,
                                   endpoint=EndpointSpec(provider="hosted_vllm", model="sim-model",
                                                         base_url=sim_process.base_url)))
    async with the_app.run_test(size=(80, 24)) as pilot:
        for _ in range(300):
            screen = the_app.screen
            if isinstance(screen, ObservationScreen) and screen.polls_done >= 1 \
                    and screen.snapshot is not None and screen.snapshot.stage == "waiting":
                break
            await pilot.pause(0.1)
        lines = screen_lines(the_app)
        # (the first slot may pass while the worker process starts: then poll 2 is the first)
        assert re.search(r"poll \d/6 in 0:0\d \(at \d\d:\d\d:\d\d UTC\) · 1 done", lines[0]), lines[0]
        await pilot.press("escape")               # leaving mid-run asks too; "Stay" stays
        await pilot.pause(0.3)
        assert find(screen_lines(the_app), "Leave and stop the run?") >= 0
        await pilot.press("n")
        await pilot.pause(0.3)
        assert the_app.screen is screen and the_app.run_controller.running
        await pilot.press("s")
        await pilot.pause(0.3)
        assert find(screen_lines(the_app), "Stop the run?") >= 0
        await pilot.press("y")
        for _ in range(300):
            if the_app.run_controller.finished:
                break
            await pilot.pause(0.1)
        await pilot.pause(0.5)
        lines = screen_lines(the_app)
        summary = the_app.run_controller.result.summary
        assert summary.status == "interrupted"
        ran = [p for p in summary.polls if not p.missed]
        assert [p.ok for p in ran] == [2]
        missed = len(summary.polls) - 1
        assert lines[0].lstrip().startswith(
            f"interrupted: 1 done{f', {missed} missed' if missed else ''} of 6 polls (stopped by "
            "the user); r: results, q: quit"), lines[0]
        assert (the_app.run_controller.result.folder / "polls.csv").exists()


async def test_the_help_lists_the_observation_views_keys():
    the_app = app()
    async with the_app.run_test(size=(80, 24)) as pilot:
        await observation_screen(pilot)
        await pilot.press("f1")
        await pilot.pause(0.3)
        lines = screen_lines(the_app)
        for keys, what in (("1-5", "Panels"), ("t", "TTFT/e2e"), ("s / ctrl+c", "Stop run"),
                           ("r", "Results"), ("q", "Quit")):
            assert any(keys in line and what in line for line in lines), (keys, lines)
