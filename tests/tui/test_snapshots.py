"""SVG snapshots of the main screens at a fixed size, with fixed data (no clock, no network)."""

from __future__ import annotations

from pathlib import Path

from tokenflood_tui.metrics.server import ServerPoint
from tokenflood_tui.run.coordinator import RunSnapshot
from tokenflood_tui.specs import load_endpoint, load_run_suite
from tokenflood_tui.metrics.summary import Distribution, ErrorCount, PhaseStats
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.run.events import FailedShare, Note, PhaseStarted, RunWarning
from tokenflood_tui.tui.messages import RunEventMessage, RunSnapshotMessage
from tokenflood_tui.tui.run_controller import RunController
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.run import RunScreen

WORKSPACE = Path(__file__).parent / "fixtures" / "workspace"
RESULTS = WORKSPACE / "past-runs"
FAILED_RUN = (Path(__file__).parent / "fixtures" / "results-failures"
              / "2026-01-03_10-00-00_flaky-503_sim-model")
SIZE = (120, 40)
NARROW = (80, 24)


def app(**launch) -> TokenfloodApp:
    return TokenfloodApp(Launch(folder=WORKSPACE, results_root=RESULTS, theme="tokenflood-dark",
                                **launch))


def phase(n: int, rate: float, ttft: tuple, e2e: tuple, finished: bool, sent: int,
          failed: int = 0) -> PhaseStats:
    dist = lambda v: Distribution(mean=v[0], p50=v[0], p90=v[1], p99=v[2])  # noqa: E731
    in_flight = 0 if finished else 3
    return PhaseStats(
        phase=n, target_rps=rate, planned=int(rate * 8), sent=sent,
        ok=sent - in_flight - failed, failed=failed, in_flight=in_flight,
        errors=[ErrorCount(status="http_error", http_status=503, count=failed)] if failed else [],
        achieved_rps=rate * 0.98,
        output_tokens_per_s=rate * 11.5, goodput=None,
        ttft_ms=dist(ttft), e2e_ms=dist(e2e), scheduled_latency_ms=dist(e2e),
        tpot_ms=dist((8, 8.1, 8.4)), itl_ms=dist((8, 8.2, 9)),
        dispatch_delay_ms=dist((0.8, 1.2, 1.9)),
        prompt_tokens_mean=130.0, prompt_tokens_target_mean=130.0, output_tokens_mean=12.0,
        output_tokens_target_mean=12.0, cached_tokens_mean=48.0, cache_hit_rate=0.37,
        output_tokens_estimated=False, elapsed_s=8.0 if finished else 5.0, length_s=8.0,
        finished=finished, recent_ttft_ms=ttft[0], recent_e2e_ms=e2e[0])


async def show_live_run(pilot) -> None:
    the_app = pilot.app
    suite, endpoint = load_run_suite(WORKSPACE / "run.yml"), load_endpoint(WORKSPACE / "endpoint.yml")
    controller = RunController(the_app, suite, endpoint, RESULTS)
    screen = RunScreen(controller)
    await the_app.push_screen(screen)
    for event in (Note("info", "counting tokens with server /tokenize"),
                  Note("info", "warm-up: 2/2 ok; the chat template adds 7 tokens"),
                  PhaseStarted("phase", 1, 5, 8, 40), PhaseStarted("phase", 2, 10, 8, 80)):
        screen.post_message(RunEventMessage(event))
    for i in range(8):        # phase 1 runs: a few snapshots, so its sparklines have a history
        screen.post_message(RunSnapshotMessage(RunSnapshot(
            stage="running", phase=1, total_phases=3,
            phases=[phase(1, 5, (50 + i % 2, 52, 71), (104 + 3 * (i % 3), 172, 186), False,
                          5 * i, failed=i // 2)],
            elapsed_s=i, remaining_s=24.0 - i,
            server=ServerPoint(t=100.0 + i, phase=1, running=1 + i % 2, waiting=0, kv_usage=0.4,
                               preemptions_per_s=0, generation_tokens_per_s=57.5))))
        await pilot.pause()
    screen.post_message(RunEventMessage(RunWarning("phase 1: mean output tokens 11.4 differ from "
                                                   "the target 12.0 by -5.0%", "phase", 1)))
    screen.post_message(RunEventMessage(FailedShare("phase", 1, "phase 1: 10% of requests failed "
                                                                "(4 of 40: http_error 503 ×4); its "
                                                                "latency figures cover only the 36 "
                                                                "that succeeded")))
    for i in range(12):       # then phase 2, with 503s
        screen.post_message(RunSnapshotMessage(RunSnapshot(
            stage="running", phase=2, total_phases=3,
            phases=[phase(1, 5, (51, 52, 71), (108, 172, 186), True, 40, failed=4),
                    phase(2, 10, (51 + i % 3, 53 + i % 4, 60), (120 + 5 * (i % 5), 172, 180), False,
                          50, failed=15)],
            elapsed_s=13.0, remaining_s=11.0,
            server=ServerPoint(t=108.0 + i, phase=2, running=2, waiting=i, kv_usage=1.0,
                               preemptions_per_s=0, generation_tokens_per_s=80.0 + i))))
        await pilot.pause()
    await pilot.pause(0.7)     # the chart redraws on its 0.5 s timer


def test_home_screen(snap_compare):
    assert snap_compare(app(), terminal_size=SIZE)


def test_budget_modal(snap_compare):
    async def open_modal(pilot):
        suite, endpoint = load_run_suite(WORKSPACE / "run.yml"), load_endpoint(WORKSPACE / "endpoint.yml")
        controller = RunController(pilot.app, suite, endpoint, RESULTS)
        pilot.app.push_screen(BudgetModal(controller.run.estimate, suite, endpoint))
        await pilot.pause()
    assert snap_compare(app(), terminal_size=SIZE, run_before=open_modal)


def test_live_run_view(snap_compare):
    assert snap_compare(app(), terminal_size=SIZE, run_before=show_live_run)


def test_live_run_view_narrow(snap_compare):
    """80x24: compact table (TTFT and e2e both in view), running phase's sparklines on top."""
    assert snap_compare(app(), terminal_size=NARROW, run_before=show_live_run)


def test_live_run_chart_maximised_narrow(snap_compare):
    async def maximise_chart(pilot):
        await show_live_run(pilot)
        await pilot.press("3")
        await pilot.pause(0.7)
    assert snap_compare(app(), terminal_size=NARROW, run_before=maximise_chart)


def test_live_run_phases_maximised_narrow(snap_compare):
    async def maximise_phases(pilot):
        await show_live_run(pilot)
        await pilot.press("1")
        await pilot.pause()
    assert snap_compare(app(), terminal_size=NARROW, run_before=maximise_phases)


def test_results_view(snap_compare):
    folder = next(RESULTS.iterdir())
    async def settle(pilot):
        await pilot.pause(0.7)
    assert snap_compare(app(mode="results", results_dir=folder.relative_to(Path.cwd())
                            if folder.is_relative_to(Path.cwd()) else folder),
                        terminal_size=SIZE, run_before=settle)


def test_results_view_with_failures_narrow(snap_compare):
    async def settle(pilot):
        await pilot.pause(0.7)
    assert snap_compare(app(mode="results", results_dir=_relative(FAILED_RUN)), terminal_size=NARROW,
                        run_before=settle)


def _relative(folder: Path) -> Path:
    return folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder


def test_ansi_theme_live_run(snap_compare):
    the_app = app()
    the_app.launch.theme = "tokenflood-ansi"
    assert snap_compare(the_app, terminal_size=SIZE, run_before=show_live_run)


OBSERVATION = (Path(__file__).parent / "fixtures" / "observation"
               / "2026-12-01_13-52-00_watch-sim_sim-model")


def test_observation_results_view(snap_compare):
    """The over-time chart above the polls (newest first, missed ones marked) and failures."""
    async def settle(pilot):
        await pilot.pause(0.7)
    assert snap_compare(app(mode="results", results_dir=_relative(OBSERVATION)), terminal_size=SIZE,
                        run_before=settle)
