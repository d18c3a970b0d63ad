"""The budget modal holds the plan against the rate limits an endpoint announced last, before
anything is sent: the endpoint editor's test reads them from the simulator's headers, the modal
(at 80x24) shows when they were seen and warns of the phase that must exceed one; confirming is
still the user's, and nothing reaches the endpoint until then."""

from __future__ import annotations

import asyncio
import json
import urllib.request

from textual.widgets import Button

from tokenflood_tui.outputs.state import ENDPOINT_TEST, recall_limits
from tokenflood_tui.simulator import Simulator, SimulatorConfig
from tokenflood_tui.simulator.limits import RateLimitConfig
from tokenflood_tui.specs import load_endpoint, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.endpoint_editor import EndpointEditor
from tokenflood_tui.tui.screens.home import HomeScreen

RPM = 12
# phase 1 sends 4 requests, phase 2 sends 16: above the 12 a minute the simulator allows
SUITE = """\
name: limited
requests_per_second_rates: [2, 8]
test_length_in_seconds: 2
arrival: constant
load_types:
- {prompt_length: 64, output_length: 4}
"""


def requests_seen(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url.removesuffix('/v1')}/sim/requests") as resp:
        return len(json.load(resp)["requests"])


async def until(pilot, condition, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out")


async def test_the_limits_the_endpoint_test_read_are_held_against_each_phase_in_the_modal(
        tmp_path):
    config = SimulatorConfig(ttft_ms=20, itl_ms=2, rate_limit=RateLimitConfig(rpm=RPM))
    async with Simulator(config) as sim:
        path = tmp_path / "endpoint.yml"
        # a hosted provider's API (the simulator answers as OpenAI would)
        path.write_text(f"provider: openai\nmodel: sim-model\nbase_url: {sim.base_url}\n")
        endpoint = load_endpoint(path)
        app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            # before any limit was seen, the modal still gives each phase's minute and says the
            # warm-up will read them
            app.start_run(parse_run_suite(SUITE), endpoint)
            await until(pilot, lambda: isinstance(app.screen, BudgetModal))
            lines = str(app.screen.query_one("#budget-lines").render())
            assert "  phase 2      16 requests, 1,088 tokens" in lines
            assert "rate limits    none seen for this endpoint yet: the warm-up reads them" in lines
            assert not app.screen.query("#budget-rate-limits")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, HomeScreen))

            app.open_editor(path, "endpoint")
            await until(pilot, lambda: isinstance(app.screen, EndpointEditor))
            await pilot.press("ctrl+t")
            await until(pilot, lambda: "ok via" in str(
                app.screen.query_one("#probe-result").render()))
            result = str(app.screen.query_one("#probe-result").render())
            assert f"; rate limits: requests {RPM - 1}/{RPM} (" in result
            seen = recall_limits(endpoint)
            assert seen is not None and seen.by == ENDPOINT_TEST
            assert [(lim.kind, lim.limit) for lim in seen.limits] == [("requests", RPM)]
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, HomeScreen))

            app.start_run(parse_run_suite(SUITE), endpoint)
            await until(pilot, lambda: isinstance(app.screen, BudgetModal))
            modal = app.screen
            warning = modal.query_one("#budget-rate-limits")
            said = str(warning.render())
            assert said.startswith("Warning: phase 2 must exceed the provider's rate limit: it "
                                   f"sends 16 requests in its busiest minute, above the limit "
                                   f"of {RPM}")
            assert "phase 1 must" not in said
            # on screen at 80x24 without scrolling, as are the buttons; Start keeps the focus
            # (Enter or y confirms), and nothing starts until then
            assert 0 < warning.region.height and warning.region.bottom <= 24
            start = modal.query_one("#start", Button)
            assert start.region.bottom <= 24 and modal.focused is start
            lines = str(modal.query_one("#budget-lines").render())
            assert (" s ago, by the endpoint test): requests 12 per minute; the warm-up reads "
                    "them again before any load") in lines
            # the estimate below scrolls within the box to its last line
            body = modal.query_one("#budget-body")
            body.scroll_end(animate=False)
            await pilot.pause()
            assert body.max_scroll_y > 0 and body.scroll_y == body.max_scroll_y
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, HomeScreen))
        # the endpoint test's one request, and nothing else: no run was started
        assert await asyncio.to_thread(requests_seen, sim.base_url) == 1
    assert not (tmp_path / "results").exists()
