"""The live view of a run the spend stop ended (tests/e2e/test_spend_limit.py has the headless
side): the status line and the log say which limit the server's counts reached and how to raise
it; quitting returns exit code 3."""

from __future__ import annotations

import re

from tokenflood_tui.simulator import SimulatorProcess
from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.widgets.run_log import RunLog

from support.screens import screen_lines

SUITE = """\
name: spend
requests_per_second_rates: [10, 20]
test_length_in_seconds: 2
arrival: constant
load_types:
- {prompt_length: 400, prefix_length: 0, output_length: 20}
"""


async def test_a_run_stopped_at_the_output_limit_says_so_and_exits_3(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENFLOOD_MAX_OUTPUT_TOKENS", "3000")
    with SimulatorProcess("--ttft-ms", "10", "--itl-ms", "2",
                          "--usage-extra-completion-tokens", "100") as sim:
        the_app = TokenfloodApp(Launch(
            "run", results_root=tmp_path / "results", suite=parse_run_suite(SUITE),
            assume_yes=True, endpoint=EndpointSpec(provider="hosted_vllm", model="sim-model",
                                                   base_url=sim.base_url)))
        async with the_app.run_test(size=(120, 40)) as pilot:
            for _ in range(600):
                if the_app.run_controller is not None and the_app.run_controller.finished:
                    break
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            lines = screen_lines(the_app)
            log = the_app.screen.query_one(RunLog).plain_lines()
            summary = the_app.run_controller.result.summary
            await pilot.press("q")
            await pilot.pause(0.3)
    assert summary.status == "aborted"
    assert summary.budget.stopped_at_limit == "TOKENFLOOD_MAX_OUTPUT_TOKENS"
    # the status line, under the title, leads with the limit (a narrow terminal cuts its end)
    # (the 25th request reaches the limit, a quarter of a second into phase 2; its record
    # reaches the coordinator up to a phase later on a busy machine: 4 s beside the hog)
    assert re.match(r" aborted at [234] s of 4 s: the load's spend reached "
                    r"TOKENFLOOD_MAX_OUTPUT_TOKENS=3,000: the server's usage", lines[1]), lines[1]
    stop = [line for line in log if "the load's spend reached" in line]
    assert len(stop) == 1 and re.match(r"error: aborted at [234] s of 4 s: ", stop[0])
    assert "the server's usage counts 3,000 output tokens, where 1,214 were estimated" in stop[0]
    assert stop[0].endswith("raise TOKENFLOOD_MAX_OUTPUT_TOKENS to go further")
    assert the_app.return_code == 3
