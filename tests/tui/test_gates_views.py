"""The live view and the results view of a run that saturates the server and fails a threshold:
the ⚠ mark, the checks column, the thresholds table, and exit code 4 from the app."""

from __future__ import annotations

import json

from textual.widgets import DataTable

from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.results import ResultsScreen
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.widgets.log_panel import LogPanel

from support.screens import screen_lines, wait_until
from support.simulators import simulator_fixture

# One slot, 30 ms + 7 × 3 ms a request: 19.6 req/s. Phase 1 (half that) holds; phase 2 sends 60
# req/s for 2 s, so its queue grows from empty to about 4 s.
SUITE = """\
name: gates-tui
requests_per_second_rates: [10, 60]
test_length_in_seconds: 2
arrival: constant
load_types:
- {prompt_length: 64, output_length: 8}
thresholds:
- ttft_ms.p50 < 500
- error_rate < 0.01
"""


one_slot = simulator_fixture("--ttft-ms", "30", "--itl-ms", "3", "--slots", "1")


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_live_and_results_views_show_saturation_and_thresholds_and_the_app_exits_4(
        tmp_path, one_slot):
    endpoint = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=one_slot.base_url)
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results",
                               suite=parse_run_suite(SUITE), endpoint=endpoint))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen))
        await wait_until(pilot, lambda: app.run_controller.finished)
        await pilot.pause(0.5)
        table = app.screen.query_one("#phases", DataTable)
        assert table.get_cell("1", "checks") == "✓ 2/2"
        assert table.get_cell("2", "checks") == "✗ 1/2"
        assert table.get_cell("1", "phase") == "1" and table.get_cell("2", "phase") == "2 ⚠"
        title = app.screen.query_one("#phases-panel").border_title
        # 120 columns take the compact set here (12 columns wide): there the column is "pass"
        assert table.mode == "compact" and "pass: thresholds passed" in title
        assert "⚠ server saturated" in title
        shown = "\n".join(screen_lines(app))
        # pinned (the pins show the newest few: a busy machine's client-bound warning may hide it)
        pinned = "\n".join(app.screen.query_one(LogPanel).pinned)
        assert "phase 2 (60 req/s): the server saturated: TTFT p50 grew from" in pinned, pinned
        assert "phase 2: threshold ttft_ms.p50 < 500 failed:" in shown
        assert app.exit_code == 4
        # the headline says the run fails, not just "completed" (it exits 4)
        status = str(app.screen.query_one("#run-status").render())
        assert status.startswith("completed — ✗ thresholds: 1 of 2 failed: ttft_ms.p50 < 500 "
                                 "(exit code 4); r: results"), status
        assert "completed, but thresholds failed (exit code 4); results in" in shown

        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen))
        await pilot.pause(0.3)
        screen = app.screen
        phases = screen.query_one("#results-phases", DataTable)
        assert phases.get_cell("2", "phase") == "2 ⚠" and phases.get_cell("2", "checks") == "✗ 1/2"
        thresholds = rows(screen.query_one("#results-thresholds", DataTable))
        assert [r[:3] for r in thresholds] == [["ttft_ms.p50 < 500", "✗ FAIL", "1 of 2"],
                                               ["error_rate < 0.01", "✓ pass", "2 of 2"]]
        assert thresholds[0][3].startswith("2: ") and thresholds[1][3] == "-"
        shown = "\n".join(screen_lines(app))
        assert "✗ thresholds: 1 of 2 failed: ttft_ms.p50 < 500 (exit code 4)" in shown
        assert "no warnings" not in shown          # a failed threshold is one
        assert "the server saturated at about 60 req/s; the highest rate it held was 10 req/s" in shown
        await pilot.press("q")
    assert app.return_code == 4
    (folder,) = (tmp_path / "results").iterdir()
    s = json.loads((folder / "summary.json").read_text())
    assert (s["saturated_at_rps"], s["held_rps"]) == (60.0, 10.0)
    assert [t["passed"] for t in s["thresholds"]] == [False, True]


def test_an_observations_poll_rows_say_which_thresholds_a_poll_failed():
    from tokenflood_tui.metrics.records import RequestRecord
    from tokenflood_tui.run.stats import PhaseAccumulator
    from tokenflood_tui.metrics.thresholds import parse_threshold
    from tokenflood_tui.tui.widgets.polls import PollTable

    def poll(n: int, ttft_s: float):
        checks = [parse_threshold("ttft_ms.p50 < 100"), parse_threshold("error_rate < 0.5")]
        acc = PhaseAccumulator(n, 1.0, 3.0, 3, [50.0, 99.0], None, checks)
        acc.t_start = 0.0
        for i in range(3):
            rec = RequestRecord(n, 1.0, 0, float(i), 64, 0, 4, t_send=float(i), output_tokens=4)
            rec.t_first, rec.t_end = i + ttft_s, i + ttft_s + 0.03
            acc.add(rec)
        acc.t_done = 4.0
        return acc.stats()

    table = PollTable([50.0, 99.0])
    assert table.row(1, 0.0, poll(1, 0.05)).endswith("  ✓")
    assert table.row(2, 0.0, poll(2, 0.25)).endswith("  ✗ ttft_ms.p50 < 100")
