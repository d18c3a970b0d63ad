"""`tokenflood compare A B` on a real terminal (tmux, as over SSH): the compare screen opens on
what it has just written, verdicts in colour, t switches the metric; after q the Markdown table
is printed as off a terminal. `--headless` on a terminal prints the table without the screen."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from support.compared_runs import Runs, shared_runs
from support.terminal import Terminal
from support.tokenflood import TOKENFLOOD

pytestmark = pytest.mark.tmux
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return shared_runs(tmp_path_factory)


def env(tmp_path: Path) -> dict[str, str]:
    return {"TOKENFLOOD_CONFIG_DIR": str(tmp_path / "config"), "TERM": "xterm-256color",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def wait_for_file(path: Path, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.read_text().strip()


def style_of(screen: str, word: str) -> str:
    """The colour codes written right before `word` in the table (after its header), on a screen
    captured with escapes: "" when it is drawn in the colours of the text around it."""
    at = screen.index(word, screen.index("verdict"))
    codes = re.search(r"(?:\x1b\[[0-9;]*m)*$", screen[:at])
    return codes.group(0) if codes else ""


def test_compare_opens_the_compare_screen_and_prints_the_table_after_q(runs, tmp_path):
    term = Terminal(f"{TOKENFLOOD} compare {runs.fast} {runs.slow} --results-dir results",
                    tmp_path, env(tmp_path), size=(80, 24))
    try:
        screen = term.wait_for(f"A = {runs.fast.name} (baseline)")
        (written,) = (tmp_path / "results").glob("compare_*")   # written before the screen
        screen = term.wait_for("t Metric")                # the footer: drawn last
        lines = screen.splitlines()
        assert lines[2] == f" B = {runs.slow.name}"
        assert "req/s  pct" in screen and "95% interval  verdict" in screen
        rows = [line for line in lines if re.match(r" (8|12)? +p(50|90|99) ", line)]
        assert len(rows) == 6, screen
        assert all(row.rstrip().endswith(("slower", "too few samples")) for row in rows), rows
        assert f"written to results/{written.name}/ (md, json, txt, html)" in screen
        assert "1 TTFT (ms)" in screen and "esc Back" in screen.rstrip().splitlines()[-1]
        # the verdicts stand out in colour, each in its own
        coloured = term.screen(escapes=True)
        slower, few = style_of(coloured, "slower"), style_of(coloured, "too few samples")
        assert "38;5;" in slower and "38;5;" in few and slower != few, (slower, few)
        term.keys("t")
        screen = term.wait_for("1 e2e (ms)")
        assert "t: TPOT" in screen
        term.keys("t")
        screen = term.wait_for("1 TPOT (ms)")
        assert "no clear difference" in screen
        term.keys("2")
        term.wait_for("2 TPOT percentiles by rate, runs A, B")
        screen = term.wait_for("A ⠒⠒  B ••")              # drawn at the panel's size
        assert "p50  p90  p99" in screen and "target req/s" in screen
        term.wait_for("esc Overview")
        term.keys("Escape")
        term.wait_for("1 TPOT (ms)")
        term.keys("q")
        assert wait_for_file(tmp_path / "exit-code") == "EXIT=0"
        after = term.history()
    finally:
        term.close()
    # after the screen: the comparison fitted to the 80 columns (no line wrapped)
    assert "Comparison: A vs B" in after
    assert [line for line in after.splitlines() if len(line) > 80] == []
    assert f"A (baseline) = {runs.fast.name}: fast on sim-model" in " ".join(after.split())
    assert re.search(r"\n12 req/s +p50 +[\d.]+ +[\d.]+ +\+[\d.]+ \(\+[\d.]+%\) +"
                     r"\+[\d.]+ … \+[\d.]+ +slower\n", after), after
    assert f"tokenflood: comparison written to results/{written.name}" in after
    assert (written / "compare.md").read_text().startswith("# Comparison: A vs B")


def test_compare_headless_on_a_terminal_prints_the_table_only(runs, tmp_path):
    term = Terminal(f"{TOKENFLOOD} compare {runs.fast} {runs.slow} --headless --out cmp",
                    tmp_path, env(tmp_path), size=(120, 40))
    try:
        assert wait_for_file(tmp_path / "exit-code") == "EXIT=0"
        after = term.history()
    finally:
        term.close()
    assert "Comparison: A vs B" in after and "\nITL (ms)\n" in after
    assert "tokenflood: comparison written to cmp" in after
    assert "t Metric" not in after and "1 TTFT (ms)" not in after      # no screen
    assert (tmp_path / "cmp" / "compare.json").is_file()
