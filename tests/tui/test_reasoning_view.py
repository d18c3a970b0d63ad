"""A reasoning model's run in the TUI (the simulator's reasoning mode): TTFA beside TTFT in the live
phases table, at 80x24 (compact) and at 120x40 (wide), then in the results view; `t` in the chart
goes through TTFA."""

from __future__ import annotations

from textual.widgets import DataTable

from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.results import ResultsScreen
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.widgets.chart import LatencyChart

from support.screens import screen_lines, wait_until
from support.simulators import simulator_fixture

TTFT_MS, ITL_MS, REASONING = 30, 3, 20
# a fifth of the replies reason through max_tokens and never answer (seeded)
reasoning_sim = simulator_fixture("--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS),
                                  "--reasoning-tokens", str(REASONING), "--no-answer-share", "0.2",
                                  "--seed", "2")

SUITE = f"""\
name: pilot-reasoning
requests_per_second_rates: [5, 10]
test_length_in_seconds: 1.5
arrival: constant
error_limit: 1          # replies without an answer are failures: never abort on them
load_types:
- {{prompt_length: 64, output_length: 8, reasoning_budget_tokens: {REASONING}}}
"""


def p50s(cell: str) -> int:
    return int(cell.split("/")[0])


async def test_ttfa_stands_beside_ttft_live_and_in_the_results(tmp_path, reasoning_sim):
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results",
                               suite=parse_run_suite(SUITE), assume_yes=True,
                               endpoint=EndpointSpec(provider="hosted_vllm", model="sim-model",
                                                     base_url=reasoning_sim.base_url)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        table = app.screen.query_one("#phases", DataTable)
        keys = lambda: [c.key.value for c in table.ordered_columns]  # noqa: E731
        # compact at 80 columns: TTFA takes the cache hit rate's place, right after TTFT
        await wait_until(pilot, lambda: "ttfa" in keys())
        assert keys()[keys().index("ttft") + 1] == "ttfa" and "cache" not in keys()
        lines = screen_lines(app)
        assert any("TTFT, TTFA, e2e p50/p99 ms" in line for line in lines)
        header = next(line for line in lines if " TTFT " in line)
        assert header.index(" TTFT ") < header.index(" TTFA ") < header.index(" e2e ")
        await wait_until(pilot, lambda: app.run_controller.finished)
        await pilot.pause(0.3)
        # the latency-now panel: a TTFA line between TTFT and e2e, on screen for the top phase
        lines = screen_lines(app)
        spark = next(i for i, line in enumerate(lines) if "phase 2 · 10/s · done" in line)
        assert [lines[spark + k].split("│")[1].split()[0] for k in (1, 2, 3)] \
            == ["TTFT", "TTFA", "e2e"]
        failures = str(app.screen.query_one("#failures").render())
        assert "failed" in failures and "no_answer ×" in failures
        # the server's pace is the floor (a late read delays, never hastens); 1 ms: its clock
        for phase in ("1", "2"):
            ttft, ttfa = p50s(table.get_cell(phase, "ttft")), p50s(table.get_cell(phase, "ttfa"))
            assert ttft >= TTFT_MS - 1 and ttfa >= TTFT_MS + REASONING * ITL_MS - 1
        # wide at 120 columns: every percentile of both
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        await wait_until(pilot, lambda: table.mode == "wide")
        assert keys()[keys().index("ttft") + 1] == "ttfa" and "cache" in keys()
        lines = screen_lines(app)
        assert any("TTFT, TTFA, e2e p50/p90/p99 ms" in line for line in lines)
        assert len(table.get_cell("1", "ttfa").split("/")) == 3
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen))
        phases = app.screen.query_one("#results-phases", DataTable)
        await wait_until(pilot, lambda: "ttfa" in [c.key.value for c in phases.ordered_columns])
        assert p50s(phases.get_cell("1", "ttfa")) >= TTFT_MS + REASONING * ITL_MS - 1
        errors = app.screen.query_one("#results-errors", DataTable)
        assert {errors.get_row_at(i)[1] for i in range(errors.row_count)} == {"no_answer"}
        metrics = app.screen.query_one("#results-metrics", DataTable)
        named = {metrics.get_row_at(i)[1] for i in range(metrics.row_count)}
        assert {"ttfa_ms", "reasoning_ms", "answer_tpot_ms", "answer_itl_ms"} <= named
        chart = app.screen.query_one(LatencyChart)
        assert chart.border_title.endswith("TTFT percentiles by rate · t: TTFA")
        chart.toggle_metric()
        assert (chart.metric, chart.border_title.endswith("· t: e2e")) == ("ttfa_ms", True)
