"""The observation live view of the real `tokenflood` in tmux (a pseudo-terminal, as over SSH):
a short observation against the simulator, read from the screen as a person would."""

from __future__ import annotations

import json
import re
import time

import pytest

from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD

pytestmark = pytest.mark.tmux
INTERVAL_S = 4.0
POLLS = 3


sim = simulator_fixture("--ttft-ms", "30", "--itl-ms", "3")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_a_short_observation_in_the_live_view(tmp_path, sim, size):
    (tmp_path / "obs.yml").write_text(f"""\
type: observation
name: tmux-watch
duration_hours: {POLLS * INTERVAL_S / 3600}
polling_interval_minutes: {INTERVAL_S / 60}
num_requests: 2
within_seconds: 1
load_type: {{prompt_length: 64, output_length: 4}}
""")
    (tmp_path / "endpoint.yml").write_text(endpoint_yml(sim.base_url))
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} run obs.yml endpoint.yml --results-dir results", tmp_path,
                    env, size=size)
    try:
        term.wait_for("Run 'tmux-watch' against sim-model")
        term.keys("y")
        # a poll has run: the countdown to the next, its figures, the timeline and the table
        screen = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = term.screen()
            if re.search(rf"poll \d/{POLLS} in 0:0\d \(at \d\d:\d\d:\d\d UTC\) · [12] done", screen):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no countdown to a next poll:\n" + screen)
        assert re.search(r"\d\d:\d\d:\d\d UTC \(= local\) · 0:\d\d left · ends \d\d:\d\d:\d\d UTC",
                         screen), screen
        assert re.search(rf"poll \d/{POLLS} \d\d:\d\d:\d\d UTC: 2 sent, 2 ok, 0 failed", screen)
        assert "✓ no failures in this poll" in screen
        assert re.search(r"TTFT p50 +[▁▂▃▄▅▆▇█×]+ +\d+ ms", screen), screen
        assert "poll  slot UTC" in screen and "TTFT p50/p90" in screen
        assert ("4 TTFT percentiles per poll" in screen) == (size == (120, 40))   # the chart where it fits
        assert all(len(line) <= size[0] for line in screen.splitlines())
        # quitting mid-run asks; "Keep running" keeps it going
        term.keys("q")
        term.wait_for("A run is going. Stop it and quit?")
        term.keys("n")
        term.wait_gone("A run is going")
        done = term.wait_for(f"of {POLLS} polls; r: results, q: quit", timeout=60)
        assert re.search(rf"completed: \d done(, \d missed)? of {POLLS} polls", done), done
        assert " · ended" in done
        term.keys("4")                               # the chart of every poll, maximised
        # redrawn at the maximised size: the plot's frame spans most of the screen's width
        chart = term.wait_until(lambda screen: "TTFT (ms) per poll" in screen and any(
            "└" in line and line.rstrip().rfind("┘") - line.find("└") > size[0] * 0.7
            for line in screen.splitlines()), "the maximised chart")
        # the slots' clock times under the x axis (the "Run finished" toast may cover one label)
        assert re.search(r"└┬[─┬]*.*\n.*\d\d:\d\d:\d\d", chart), chart
        term.keys("q")
        deadline = time.monotonic() + 10
        while not (tmp_path / "exit-code").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "exit-code").read_text().strip() == "EXIT=0"
    finally:
        term.close()
    (folder,) = (tmp_path / "results").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["type"] == "observation" and summary["status"] == "completed"
    assert len(summary["polls"]) == POLLS
    ran = [p for p in summary["polls"] if not p["missed"]]
    assert ran and all(p["ok"] == 2 for p in ran)
    assert re.search(rf"completed: {len(ran)} done", done)
