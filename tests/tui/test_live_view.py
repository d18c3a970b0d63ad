"""The live run view at 80x24 and 120x40: what is on screen, panel keys, failures, stopped runs.

Canned snapshots (the shapes the engine sends) drive the view, except where a real run against the
simulator is the point (stopping). Assertions read the screen as text, as a person would.
"""

from __future__ import annotations

import json
import shutil

import pytest
from textual.widgets import ProgressBar

from tokenflood_tui.metrics.summary import LimitSeen, RateLimitStats
from tokenflood_tui.run.coordinator import RunSnapshot
from tokenflood_tui.specs import EndpointSpec, load_endpoint, load_run_suite, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.run.events import FailedShare, RequestFailed
from tokenflood_tui.tui.messages import RunEventMessage, RunSnapshotMessage
from tokenflood_tui.tui.run_controller import RunController
from tokenflood_tui.tui.screens.results import ResultsScreen
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.widgets.run_log import RunLog
from tokenflood_tui.tui.widgets.sparks import SparkPanel

from support.screens import screen_lines
from test_snapshots import FAILED_RUN, RESULTS, WORKSPACE, app, phase

SIZES = [(80, 24), (120, 40)]
TITLES = {"phases": "1 phases", "latency": "2 latency now", "chart": "3 TTFT percentiles",
          "log": "4 log"}


async def run_screen(pilot) -> RunScreen:
    """The run view over a controller that is never started: it only shows what it is sent."""
    suite, endpoint = load_run_suite(WORKSPACE / "run.yml"), load_endpoint(WORKSPACE / "endpoint.yml")
    screen = RunScreen(RunController(pilot.app, suite, endpoint, RESULTS))
    await pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


async def send(pilot, screen: RunScreen, running: int, **snapshot) -> None:
    """Phases 1..running-1 finished, `running` under way with 503s (as test_snapshots does)."""
    phases = [phase(n, rate, (51, 52, 71), (108, 172, 186), True, 40, failed=4)
              for n, rate in zip(range(1, running), (5, 10, 20), strict=False)]
    phases.append(phase(running, (5, 10, 20)[running - 1], (53, 56, 60), (125, 172, 180), False,
                        50, failed=15))
    screen.post_message(RunSnapshotMessage(RunSnapshot(**{
        "stage": "running", "phase": running, "total_phases": 3, "phases": phases,
        "elapsed_s": 13.0, "remaining_s": 11.0, **snapshot})))
    await pilot.pause()


async def shown(pilot, text: str, tries: int = 50) -> list[str]:
    """The screen once it shows `text` (the chart draws after the layout settles)."""
    for _ in range(tries):
        lines = screen_lines(pilot.app)
        if find(lines, text) >= 0:
            return lines
        await pilot.pause(0.1)
    raise AssertionError(f"{text!r} never appeared:\n" + "\n".join(lines))


def find(lines: list[str], text: str) -> int:
    """The row showing `text` (-1 if nowhere on screen)."""
    return next((i for i, line in enumerate(lines) if text in line), -1)


@pytest.mark.parametrize("size", SIZES)
async def test_the_running_phase_sparklines_come_first(size):
    the_app = app()
    async with the_app.run_test(size=size) as pilot:
        screen = await run_screen(pilot)
        sparks = screen.query_one(SparkPanel)
        assert sparks.order() == [] and find(screen_lines(the_app), "no phase has started yet") > 0
        for running, order in ((1, [1]), (2, [2, 1]), (3, [3, 2, 1])):
            await send(pilot, screen, running)
            assert sparks.order() == order
        lines = screen_lines(the_app)
        now = find(lines, "phase 3 · 20/s · running")
        before = find(lines, "phase 2 · 10/s · done")
        assert 0 < now < before               # both on screen, the running phase on top
        assert "TTFT     53 ms" in lines[now + 1] and "e2e     125 ms" in lines[now + 2]


@pytest.mark.parametrize("size", SIZES)
async def test_the_table_shows_ttft_e2e_and_cache_on_screen(size):
    the_app = app()
    async with the_app.run_test(size=size) as pilot:
        screen = await run_screen(pilot)
        await send(pilot, screen, 2)
        lines = screen_lines(the_app)
        header = lines[find(lines, "phase  target")]
        row = lines[find(lines, "  2      10 ")]
        assert "TTFT" in header and "e2e" in header and "cache" in header
        if size[0] == 80:                     # compact: the first and last percentile
            assert "53/60" in row and "125/180" in row
            assert find(lines, "TTFT, e2e p50/p99 ms") >= 0      # the panel title says so
        else:
            assert "TTFT p50/p90/p99" in header and "in flight" in header
            assert "53/56/60" in row and "125/172/180" in row
        assert "15 32%" in row and "37%" in row
        assert max(len(line.rstrip()) for line in lines) <= size[0]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("key,panel", [("1", "phases"), ("2", "latency"), ("3", "chart"),
                                       ("4", "log")])
async def test_each_number_key_maximises_its_panel_and_restores(size, key, panel):
    the_app = app()
    async with the_app.run_test(size=size) as pilot:
        screen = await run_screen(pilot)
        screen.post_message(RunEventMessage(FailedShare("phase", 1, "phase 1: 10% of requests "
                                                                "failed")))
        await send(pilot, screen, 2)
        overview = await shown(pilot, "TTFT (ms) by request rate")
        assert all(find(overview, title) >= 0 for title in TITLES.values())
        for restore in (key, "0", "escape"):
            await pilot.press(key)
            lines = await shown(pilot, {"phases": "✗ phase 1", "latency": "phase 1 · 5/s",
                                        "chart": "target req/s", "log": "4 log"}[panel])
            visible = [name for name, title in TITLES.items() if find(lines, title) >= 0]
            assert visible == [panel]
            assert lines[0].startswith(" phase 2/3 running")       # the status line stays
            widget = screen.query_one(RunScreen.panel(panel).selector)
            assert widget.region.height >= size[1] - 5          # the whole screen but 5 rows
            if panel == "phases":                 # every phase's failures, not only the newest
                assert find(lines, "✗ phase 2: 15 of 47 failed (32%): http_error 503 ×15") >= 0
                assert find(lines, "✗ phase 1: 4 of 40 failed (10%): http_error 503 ×4") >= 0
            if panel == "chart":
                assert find(lines, "TTFT (ms) by request rate") >= 0
                assert find(lines, "target req/s") >= 0
            await pilot.press(restore)
            await pilot.pause()
            lines = screen_lines(the_app)
            assert all(find(lines, title) >= 0 for title in TITLES.values()), restore
            assert the_app.screen is screen       # Esc restored the overview; it did not leave


async def test_failures_warnings_and_cache_hits_show_live_at_80x24():
    the_app = app()
    async with the_app.run_test(size=(80, 24)) as pilot:
        screen = await run_screen(pilot)
        for i in range(8):
            screen.post_message(RunEventMessage(RequestFailed(
                "phase", 2, "http_error", 503,
                f"HTTP 503: Simulated error 503 Service Unavailable. {i}")))
        screen.post_message(RunEventMessage(RequestFailed("phase", 2, "timeout", None,
                                                          "no first token within 60 s")))
        screen.post_message(RunEventMessage(FailedShare(
            "phase", 1, "phase 1: 31% of requests failed (12 of 39: http_error 503 ×12); its "
                        "latency figures cover only the 27 that succeeded")))
        await send(pilot, screen, 2)
        lines = screen_lines(the_app)
        assert find(lines, "✗ phase 2: 15 of 47 failed (32%): http_error 503 ×15") >= 0
        assert find(lines, "4 log · ⚠ 1 warning") >= 0
        assert find(lines, "⚠ phase 1: 31% of requests failed") >= 0
        assert "37%" in lines[find(lines, "  2      10 ")]          # cache hit rate
        log = screen.query_one(RunLog).plain_lines()
        # the same failure is logged five times, then counted; another kind still gets its line
        assert sum("http_error: HTTP 503" in line for line in log) == 5
        assert log.count("error: phase 2: http_error: further failures of this kind are counted "
                         "under the phases table (key 1) and kept in errors.log") == 1
        assert any("phase 2: timeout" in line for line in log)


async def test_a_stopping_run_says_where_it_stopped():
    the_app = app()
    async with the_app.run_test(size=(80, 24)) as pilot:
        screen = await run_screen(pilot)
        await send(pilot, screen, 2, remaining_s=0.0, status="aborted",
                   message="error limit: 17 of the last 30 requests failed", stopped_at_s=13.0)
        lines = screen_lines(the_app)
        assert lines[0].startswith(" aborting at 13 s of 24 s (error limit: 17 of the last")
        assert ("error: aborted at 13 s of 24 s: error limit: 17 of the last 30 requests failed"
                in screen.query_one(RunLog).plain_lines())
        assert find(lines, "stopped at 13 s of 24 s") >= 0 and find(lines, "54%") >= 0
        assert find(lines, "0 s of load left") < 0 and find(lines, "100%") < 0
        assert find(lines, "phase 2 · 10/s · aborting") >= 0


async def test_a_completed_run_shows_all_of_its_load_sent():
    """The last arrival of a poisson phase comes before the phase's end: a drained phase has
    still sent all of its load (the bar showed 99% after a completed run)."""
    the_app = app()
    async with the_app.run_test(size=(80, 24)) as pilot:
        screen = await run_screen(pilot)
        phases = [phase(n, rate, (51, 52, 71), (108, 172, 186), True, 40)
                  for n, rate in ((1, 5), (2, 10), (3, 20))]
        for ph in phases:
            ph.elapsed_s = ph.length_s - 0.4
        screen.post_message(RunSnapshotMessage(RunSnapshot(
            stage="finished", phase=3, total_phases=3, phases=phases, elapsed_s=23.0,
            remaining_s=0.0)))
        await pilot.pause()
        assert screen.query_one("#run-progress", ProgressBar).percentage == 1.0
        assert find(screen_lines(the_app), "100%") >= 0


def short_suite(length: float):
    return parse_run_suite(f"""\
name: stopped
requests_per_second_rates: [5, 10]
test_length_in_seconds: {length}
arrival: constant
load_types:
- {{prompt_length: 120, output_length: 8}}
""")


async def test_a_run_stopped_mid_way_shows_interrupted_at_its_time(tmp_path, sim_process):
    """Stopped in phase 1 of 2 x 20 s: 'interrupted at N s of 40 s', the bar where it stopped."""
    the_app = TokenfloodApp(Launch("run", results_root=tmp_path / "results",
                                   suite=short_suite(20), assume_yes=True,
                                   endpoint=EndpointSpec(provider="hosted_vllm", model="sim-model",
                                                         base_url=sim_process.base_url)))
    async with the_app.run_test(size=(80, 24)) as pilot:
        for _ in range(300):
            screen = the_app.screen
            snap = getattr(screen, "snapshot", None)
            if snap is not None and snap.phases and snap.phases[0].ok >= 10:
                break
            await pilot.pause(0.1)
        await pilot.press("s")
        await pilot.pause(0.3)
        await pilot.press("y")
        for _ in range(300):
            if the_app.run_controller.finished:
                break
            await pilot.pause(0.1)
        await pilot.pause(0.5)
        snap = screen.snapshot
        assert snap.status == "interrupted" and snap.message == "stopped by the user"
        at = round(snap.stopped_at_s)
        assert 1 <= at < 20                       # mid phase 1, by the engine's own clock
        lines = screen_lines(the_app)
        assert lines[0].startswith(f" interrupted at {at} s of 40 s: stopped by the user")
        assert find(lines, f"stopped at {at} s of 40 s") >= 0
        assert find(lines, "phase 1 · 5/s · stopped") >= 0
        bar = screen.query_one("#run-progress", ProgressBar)
        assert bar.percentage == pytest.approx(snap.stopped_at_s / 40, abs=0.01) and bar.percentage < 0.5
        assert find(lines, "100%") < 0 and find(lines, "of load left") < 0
        assert the_app.run_controller.result.summary.status == "interrupted"


async def test_results_view_at_80x24_shows_failures_and_warnings():
    the_app = app(mode="results", results_dir=FAILED_RUN)
    async with the_app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        assert isinstance(the_app.screen, ResultsScreen)
        lines = screen_lines(the_app)
        header = lines[find(lines, "phase  target")]
        assert "TTFT" in header and "e2e" in header and "cache" in header
        assert find(lines, "failures by kind and HTTP status") >= 0
        assert find(lines, "3      http_error  503   24        28.6%") >= 0
        await pilot.press("1")                # maximised: every warning, down to the last phase
        await pilot.pause()
        lines = screen_lines(the_app)
        assert find(lines, "⚠ phase 3: 29% of requests failed (24 of 84: http_error 503 ×24)") >= 0
        await pilot.press("3")
        lines = await shown(pilot, "TTFT (ms) by request rate")
        assert find(lines, "failures by") < 0
        await pilot.press("escape")
        await pilot.pause()
        assert find(screen_lines(the_app), "failures by kind") >= 0


async def test_a_providers_headroom_is_on_the_status_line_and_its_refusals_beside_the_failures():
    the_app = app()
    limits = RateLimitStats(
        limits=[LimitSeen(kind="requests", limit=12, lowest_remaining=0, lowest_share=0.0,
                          reset_s=57.6),
                LimitSeen(kind="tokens", limit=30_000, lowest_remaining=24_000,
                          lowest_share=0.8, reset_s=12.0)],
        throttled=15, throttled_by_kind={"requests": 15}, throttled_share=15 / 47)
    async with the_app.run_test(size=(160, 40)) as pilot:
        screen = await run_screen(pilot)
        running = phase(2, 10, (53, 56, 60), (125, 172, 180), False, 50, failed=15)
        screen.post_message(RunSnapshotMessage(RunSnapshot(
            stage="running", phase=2, total_phases=3, elapsed_s=13.0, remaining_s=11.0,
            phases=[running.model_copy(update={"rate_limits": limits})])))
        await pilot.pause()
        lines = screen_lines(the_app)
        status = lines[find(lines, "phase 2/3 running")]
        assert ("headroom requests 0/12 (0%) resets in 58 s, tokens 24,000/30,000 (80%) resets "
                "in 12 s") in status
        assert find(lines, "✗ phase 2: 15 of 47 failed (32%): http_error 503 ×15 (throttled 15: "
                           "requests 15)") >= 0


async def test_results_view_shows_a_providers_rate_limits(tmp_path):
    folder = tmp_path / FAILED_RUN.name
    shutil.copytree(FAILED_RUN, folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary["first_throttled"] = 3
    summary["phases"][2]["rate_limits"] = RateLimitStats(
        limits=[LimitSeen(kind="requests", limit=60, lowest_remaining=0, lowest_share=0.0,
                          reset_s=41.0)],
        throttled=24, throttled_by_kind={"requests": 24}, throttled_share=24 / 84,
        offered_rps=20.0, admitted_rps=14.3, retry_after_s=41.0).model_dump(mode="json")
    (folder / "summary.json").write_text(json.dumps(summary))
    the_app = app(mode="results", results_dir=folder)
    async with the_app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        assert isinstance(the_app.screen, ResultsScreen)
        await pilot.press("1")                # the summary panel maximised
        lines = await shown(pilot, "rate limits: phase 3 was the first the provider throttled")
        row = lines[find(lines, "requests        0/60")]
        assert row.split()[:9] == ["3", "requests", "0/60", "0%", "24", "29%", "20.00", "14.30",
                                   "41"]
