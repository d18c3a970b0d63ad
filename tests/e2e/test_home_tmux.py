"""The home screen in a real terminal (tmux) at 80x24 and 120x40: every list item on its own
rows (names cut with …, never wrapped mid-word), a result's status and headline whole, the
footer whole, more than three results in view; `/` narrows the lists, Esc clears."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from support.tokenflood import TOKENFLOOD
from support.terminal import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

PAST_RUN = next((Path(__file__).parent.parent / "tui" / "fixtures" / "workspace"
                 / "past-runs").iterdir())
ENDPOINT = "provider: hosted_vllm\nmodel: sim-model\nbase_url: http://127.0.0.1:9/v1\n"
RUN = ("name: s\nrequests_per_second_rates: [5]\ntest_length_in_seconds: 2\n"
       "load_types:\n- {prompt_length: 64, output_length: 8}\n")


def crowded(folder: Path) -> None:
    (folder / "endpoint.yml").write_text(ENDPOINT)
    (folder / "endpoint_slow_anthropic_long_name.yml").write_text(ENDPOINT)
    (folder / "run.yml").write_text(RUN)
    for day in range(1, 8):
        shutil.copytree(PAST_RUN, folder / "results" /
                        f"2026-01-0{day}_10-00-00_soak-test-long-suite-name_sim-model")
    killed = folder / "results" / "2026-01-08_09-00-00_ripple_sim-model"
    shutil.copytree(PAST_RUN, killed)
    summary = json.loads((killed / "summary.json").read_text())
    (killed / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    (killed / "journal.jsonl").write_text("")


@pytest.mark.parametrize("size, in_view", [((80, 24), 5), ((120, 40), 8)])
def test_home_lists_fit_the_terminal_and_slash_filters(tmp_path, size, in_view):
    crowded(tmp_path)
    env = {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    term = Terminal(f"{TOKENFLOOD} --results-dir results", tmp_path, env, size=size)
    try:
        screen = term.wait_for("Recent results", timeout=30)
        screen = term.wait_until(lambda s: s.count("req/s") >= in_view and "palette" in s,
                                 "the results and the footer")
        lines = screen.splitlines()
        assert all(len(line) <= size[0] for line in lines)
        # every headline whole, on the row under its result's name; no name wrapped
        heads = [line for line in lines if "TTFT p50 51 ms @ 20 req/s" in line]
        assert len(heads) >= in_view, screen
        assert "[interrupted]" in screen and "↻" in screen and screen.count("[completed]") >= 4
        stripped = [line.strip(" │▊▎") for line in lines]
        assert not any(row in ("yml", "ml", "int_anthropic.", "ng_name.yml") for row in stripped)
        assert "endpoint_" in screen and "…" in screen
        (footer,) = [line for line in lines if "palette" in line]
        assert "? Keys" in footer and footer.rstrip().endswith("^p palette"), footer
        assert "/ Filter" in footer and "q Quit" in footer
        # two Tabs read at once: the details are the results list's, which has the focus (they
        # were the suites list's: its focus event came late)
        subprocess.run([*term.tmux, "send-keys", "-t", term.name, "Tab", "Tab"], check=True)
        term.wait_for("tmux-demo on sim-model: interrupted")       # the first result
        # / and words: the lists narrow as they are typed, with a count; Esc: all again
        term.keys("/")
        term.type("soak 03")
        screen = term.wait_for("1 of 8 results · 0 endpoints · 0 suites")
        assert "2026-01-03_10-00-00_soak" in screen and "2026-01-04" not in screen
        assert screen.count("no match (Esc: clear)") == 2
        term.keys("Escape")
        term.wait_gone("1 of 8 results")
        screen = term.wait_until(lambda s: s.count("req/s") >= in_view, "every result again")
        assert "● endpoint.yml" in screen
        term.keys("q")
        exit_code = tmp_path / "exit-code"
        deadline = time.monotonic() + 15
        while not exit_code.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_code.read_text().strip() == "EXIT=0"
    finally:
        term.close()
