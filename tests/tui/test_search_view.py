"""The search live view at 80x24 and 120x40, driven by a real short search against the simulator.

The simulator has 2 slots of 200 ms a request (20 ms to the first token, 18 more 10 ms apart):
10 req/s at most. From 4 req/s doubling, 4 and 8 meet the SLO and 16 fails (the queue grows by 6
requests a second); the fourth and last phase, 12 req/s, is judged as it comes. The view must
show what the planner decided: every step with its verdict, the bracket as it narrows, and at the
end the answer of summary.json.
"""

from __future__ import annotations

import json

from textual.widgets import Static

from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.results import ResultsScreen
from tokenflood_tui.tui.screens.search import SearchScreen
from tokenflood_tui.tui.widgets.chart import LatencyChart
from tokenflood_tui.tui.widgets.search_steps import SearchSteps

from support.screens import screen_lines
from support.simulators import simulator_fixture

SLOTS, TTFT_MS, ITL_MS, OUTPUT = 2, 20, 10, 19
SLO = "TTFT p90 ≤ 300 ms"
SIZES = [(80, 24), (120, 40)]
SEARCH = f"""\
type: search
name: capacity
slo: {{ttft_ms: {{p90: 300}}}}
start_rps: 4
max_rps: 40
phase_seconds: 2.5
tolerance: 0.3
max_phases: 4
arrival: constant
load_types: [{{prompt_length: 32, output_length: {OUTPUT}}}]
"""


capacity_sim = simulator_fixture("--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--slots", str(SLOTS))


def find(lines: list[str], text: str) -> int:
    return next((i for i, line in enumerate(lines) if text in line), -1)


async def test_a_real_search_shows_its_steps_the_bracket_and_the_answer(tmp_path, capacity_sim,
                                                                         monkeypatch):
    """One real search, seen at both sizes: at 80x24 until phase 2 runs, at 120x40 from there
    (the budget line of phase 2 at both), then its end at each."""
    monkeypatch.setenv("TOKENFLOOD_MAX_OUTPUT_TOKENS", "1000000")
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", assume_yes=True,
                               suite=parse_run_suite(SEARCH),
                               endpoint=EndpointSpec(provider="hosted_vllm", model="sim-model",
                                                     base_url=capacity_sim.base_url)))
    brackets: list[str] = []        # every bracket line the view showed, in order
    running_seen = False
    async with app.run_test(size=SIZES[0]) as pilot:
        for _ in range(900):
            if isinstance(app.screen, SearchScreen):
                lines = screen_lines(app)
                bracket = next((line.strip() for line in lines if f"— SLO {SLO}" in line), None)
                assert bracket is not None, lines
                if not brackets or brackets[-1] != bracket:
                    brackets.append(bracket)
                if not running_seen and find(lines, "phase 2 running: 8 req/s") >= 0:
                    running_seen = True
                    budget = lines[find(lines, "phase 2 of at most 4 · ")]
                    assert " of at most 10 s of load · at most " in budget, budget
                    await pilot.resize_terminal(*SIZES[1])    # the rest of the run at 120x40
                    lines = screen_lines(app)
                    budget = lines[find(lines, "phase 2 of at most 4 · ")]
                    assert " of at most 10 s of load · at most " in budget, budget
                    await pilot.press("s")            # stopping asks; "Keep running" keeps on
                    await pilot.pause(0.3)
                    assert find(screen_lines(app), "Stop the run?") >= 0
                    await pilot.press("n")
                    await pilot.pause(0.3)
                    assert isinstance(app.screen, SearchScreen) and app.run_controller.running
                if app.run_controller.finished:
                    break
            await pilot.pause(0.1)
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, SearchScreen) and app.run_controller.finished
        result = app.run_controller.result
        summary = result.summary
        search = summary.search
        assert summary.status == "completed" and search is not None
        # the planner's steps, one table row each, in order: 4 and 8 meet, 16 fails
        steps = search.steps
        assert [st.target_rps for st in steps[:3]] == [4, 8, 16] and len(steps) == 4
        assert [st.meets for st in steps[:3]] == [True, True, False]
        rows = screen.query_one(SearchSteps).plain_rows()
        assert [(r[0], r[1], r[5]) for r in rows] == [
            (str(st.phase), f"{st.target_rps:g}", "meets" if st.meets else "fails") for st in steps]
        for row, st in zip(rows, steps, strict=True):     # the figures, cut to fit
            assert st.why.startswith(row[6].removesuffix("…")) and row[6], (row, st)
        assert rows[2][6].startswith("TTFT p90 ") and " ms > 300" in steps[2].why
        # the bracket narrowed as the phases were judged, and ended at the answer's
        assert brackets[0] == f"no phase judged yet — SLO {SLO}", brackets
        assert f"meets up to 8 req/s · no rate tried fails yet — SLO {SLO}" in brackets
        assert f"meets up to 8 req/s · fails at 16 req/s — SLO {SLO}" in brackets
        final = f"meets up to {search.lower_rps:g} req/s · fails at {search.upper_rps:g} req/s"
        assert brackets[-1] == f"{final} — SLO {SLO}", brackets
        assert running_seen
        for size in SIZES:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.3)
            # the answer replaces the budget line; everything on screen at this size
            lines = screen_lines(app)
            text = "\n".join(lines)
            assert find(lines, "completed after 4 phases; r: results, q: quit") >= 0, text
            shown = " ".join(" ".join(lines).split())      # the answer wraps at word boundaries
            assert f"answer: {search.answer}" in shown, text
            assert "stopped: max_phases (4) reached" in shown
            assert f"{search.output_tokens_per_s:,.1f} output tokens/s at {search.lower_rps:g} req/s" \
                in shown
            assert find(lines, "at most 4 phases") < 0          # the budget line has gone
            # the bracket the run ended at, at this size too
            assert next(line.strip() for line in lines if f"— SLO {SLO}" in line) == brackets[-1]
            assert find(lines, "1 steps") >= 0 and find(lines, "3 log") >= 0
            chart = screen.query_one(LatencyChart)
            assert sorted(ph.target_rps for ph in chart._phases) == sorted(st.target_rps for st in steps)
            # key 1 maximises the steps, 0 brings the overview back
            await pilot.press("1")
            await pilot.pause(0.3)
            assert screen.has_class("-solo-steps") and not screen.query_one("#search-middle").display
            assert find(screen_lines(app), "  4      12 ") >= 0
            await pilot.press("0")
            await pilot.pause(0.3)
            assert not screen.has_class("-solo")
        # the results view of the finished search leads with its answer
        await pilot.press("r")
        for _ in range(50):
            if isinstance(app.screen, ResultsScreen):
                break
            await pilot.pause(0.1)
        head = str(app.screen.query_one("#results-head", Static).render())
        assert head.splitlines()[1] == f"answer: {search.answer}", head
    saved = json.loads((result.folder / "summary.json").read_text())
    assert saved["search"]["answer"] == search.answer and app.exit_code == 0


async def test_the_home_screen_describes_a_search_suite(tmp_path):
    (tmp_path / "endpoint.yml").write_text(
        "provider: hosted_vllm\nmodel: sim-model\nbase_url: http://127.0.0.1:9/v1\n")
    (tmp_path / "search.yml").write_text(SEARCH)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("tab")                    # the run suites list: search.yml first
        await pilot.pause()
        detail = str(app.screen.query_one("#detail", Static).render())
        assert ("search: SLO TTFT p90 ≤ 300 ms, from 4 up to 40 req/s, 2.5 s phases, at most 4 "
                "phases") in detail, detail
        assert "load types (prompt/prefix/output × weight): 32/0/19 ×1" in detail, detail
