"""The A/B experiment in the app, at 80x24 and 120x40, driven by real short experiments against
two simulators (TTFT 50 and 80 ms): the budget modal counts every variant and round, the live
view says which variant and round sends at what rate, fills the turns table as turns end, and
ends with the verdicts and the folder; stopping and quitting ask first.

Assertions read the screen as text, as a person would.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tokenflood_tui.run.experiment import Variant
from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.simulator import SimulatorProcess
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.experiment_controller import ExperimentController
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.choose import ChooseModal
from tokenflood_tui.tui.screens.compare import CompareScreen
from tokenflood_tui.tui.screens.results import ResultsScreen
from tokenflood_tui.tui.screens.experiment import ExperimentScreen

from support.screens import screen_lines, until, wait_until

SIZES = [(80, 24), (120, 40)]
SUITE = """\
name: abview
requests_per_second_rates: {rates}
test_length_in_seconds: {length}
arrival: constant
seed: 11
load_types: [{{prompt_length: 64, output_length: 4}}]
"""


@pytest.fixture(scope="module")
def sims():
    with SimulatorProcess("--ttft-ms", "50", "--jitter", "0.2", "--seed", "3") as fast, \
            SimulatorProcess("--ttft-ms", "80", "--jitter", "0.2", "--seed", "3") as slow:
        yield fast, slow


def variants(*urls: str) -> list[Variant]:
    names = ["fast", "slow", "third"]
    return [Variant(names[i], EndpointSpec(provider="hosted_vllm", model="sim-model",
                                           base_url=url)) for i, url in enumerate(urls)]


def experiment_app(root: Path, urls: tuple[str, ...], rates: str = "[10, 20]",
                   length: float = 2.0, rounds: int = 2,
                   assume_yes: bool = True) -> tuple[TokenfloodApp, ExperimentController]:
    suite = parse_run_suite(SUITE.format(rates=rates, length=length))
    vs = variants(*urls)
    controller = ExperimentController(suite, vs, root, rounds)
    app = TokenfloodApp(Launch("ab", results_root=root, suite=suite, endpoint=vs[0].endpoint,
                               assume_yes=assume_yes, experiment=controller))
    return app, controller


def find(lines: list[str], text: str) -> int:
    return next((i for i, line in enumerate(lines) if text in line), -1)


TURN_LINE = re.compile(r"turn (\d)/8: (fast|slow), round (\d)/2 at (10|20) req/s · "
                       r"(running|draining) \d/2 s")
def status(lines: list[str]) -> re.Match | None:
    """The status line (the first, under the header at 120x40) when it names a sending turn."""
    return next((m for m in map(TURN_LINE.match, (line.strip() for line in lines[:2])) if m),
                None)


FIGURES = re.compile(r"TTFT p50 ([\d.]+ ms|-) · e2e p50 ([\d.]+ ms|-)")
ROW = re.compile(r"(\d)/8\s+(fast|slow)\s+(\d)/2\s+(10|20)\s+(\d+)/(\d+)\s+([\d.]+)\s+([\d.]+)")


async def test_the_view_follows_a_real_experiment_to_its_verdict(tmp_path, sims):
    """One real experiment, seen at both sizes: while a turn sends at each, then its end at
    each (the size it ended at first, as a run at that size alone would show it)."""
    fast, slow = sims
    app, controller = experiment_app(tmp_path / "results", (fast.base_url, slow.base_url))
    turns = controller.experiment.turns         # the seeded interleaved order
    names = ["fast", "slow"]
    async with app.run_test(size=SIZES[-1]) as pilot:
        for size in reversed(SIZES):
            await pilot.resize_terminal(*size)
            # while a turn sends: who, which round, what rate, and its phase's figures so far
            lines = await until(pilot, lambda ls: status(ls) and
                                find(ls, "sent ") > 0 and find(ls, "in flight") > 0
                                and any(FIGURES.search(line) for line in ls),
                                "a turn sending")
            assert isinstance(app.screen, ExperimentScreen)
            n, name, rnd, rate = status(lines).groups()[:4]
            turn = turns[int(n) - 1]
            assert (name, int(rnd), int(rate)) == (names[turn.variant], turn.round,
                                                   [10, 20][turn.rate_index])
            now = lines[find(lines, "in flight")]
            sent, planned = map(int, re.search(r"sent (\d+)/(\d+)", now).groups())
            assert planned == 2 * int(rate) and 0 <= sent <= planned
            assert any(FIGURES.search(line) for line in lines), lines
            assert find(lines, " A/B 'abview': fast (baseline) vs slow · 2 rounds · ") >= 0

        # the end: every turn in the table, the verdicts, the folder
        lines = await until(pilot, lambda ls: find(ls, "completed: all 8 turns ran") >= 0,
                            "the end", timeout=90)
        for size in SIZES:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.5)
            lines = screen_lines(app)
            assert max(len(line.rstrip()) for line in lines) <= size[0]
            folder = controller.result.folder
            at = find(lines, "results:")        # a long path wraps: read on across the lines
            assert f"results:{folder}(" in "".join(line.strip() for line in lines[at:at + 3]) \
                .replace(" ", "")
            # TTFT and e2e at p50 and p90 at both rates at least (the TPOT and ITL cells of two
            # simulators with the same decode speed can land either way, "faster" included)
            verdicts = re.search(r"B vs A: (faster in \d+, )?slower in (\d+)",
                                 " ".join(line.strip() for line in lines))   # as it wraps at 80
            assert verdicts and int(verdicts[2]) >= 8, lines
            head = lines[find(lines, "TTFT p50       TTFT p90       e2e p50        e2e p90")]
            assert head.lstrip().startswith("rate")
            for rate in ("10 req/s", "20 req/s"):        # 30 ms slower: TTFT and e2e, p50 and p90
                row = lines[find(lines, rate + "  ")]
                cells = re.findall(r"slower \+([\d.]+)", row)
                assert len(cells) == 4, row
                assert all(15 < float(ms) < 50 for ms in cells), row   # jitter ±20% of 80 ms
            assert find(lines, "A = fast (baseline), B = slow") > 0
            assert find(lines, "8/8 ") > 0       # the turns table keeps its newest row in view
            assert app.exit_code == 0

            # the turns table, in the order they ran, whole (maximised where 80x24 has no room)
            await pilot.press("2")
            await pilot.pause(0.3)
            rows = [ROW.search(line) for line in screen_lines(app)]
            rows = [r.groups() for r in rows if r]
            assert [(int(r[0]), r[1], int(r[2]), int(r[3])) for r in rows] == [
                (i + 1, names[t.variant], t.round, [10, 20][t.rate_index])
                for i, t in enumerate(turns)]
            assert all(int(ok) == int(sent) == 2 * int(rate) for _, _, _, rate, ok, sent, _, _ in rows)
            ttft = {name: [float(r[6]) for r in rows if r[1] == name] for name in names}
            assert max(ttft["fast"]) < min(ttft["slow"]), ttft
            await pilot.press("2")                    # the overview again
            await pilot.pause(0.3)

        # the end offers the comparison (c) and each variant's results (r)
        footer = (await until(pilot, lambda lines: "r Results" in lines[-1], "the footer"))[-1]
        assert "c Comparison" in footer, footer
        view = app.screen
        await pilot.press("c")
        await pilot.pause(0.5)
        assert isinstance(app.screen, CompareScreen) and app.screen.folder == folder
        assert app.screen.comparison is not None
        assert app.screen.comparison.cells == controller.result.comparison.cells
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert app.screen is view
        await pilot.press("r")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ChooseModal)
        assert find(screen_lines(app), "2 B slow (baseline)") < 0
        assert find(screen_lines(app), "1 A fast (baseline) · completed") >= 0
        await pilot.press("2")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ResultsScreen) and app.screen.folder == folder / "slow"
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert app.screen is view
    assert (folder / "compare.md").is_file()
    assert {p.name for p in folder.iterdir()} >= {"fast", "slow", "experiment.json"}


async def test_stopping_and_quitting_ask_and_the_safe_answer_keeps_it_running(tmp_path, sims):
    """s and q mid-experiment ask; Enter (the focused, safe answer) and n keep it running; s, y
    stops every variant: the turn under way is kept, cut short, no other turn starts, exit 130."""
    fast, slow = sims
    app, controller = experiment_app(tmp_path / "results", (fast.base_url, slow.base_url),
                                     rates="[10]", length=5.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda ls: find(ls, "1 of 4 turns done") >= 0
                    and re.search(r"turn 2/4: \w+, round 1/2 at 10 req/s · running", ls[0]),
                    "the second turn sending")
        await pilot.press("f1")                     # the help lists this view's keys
        lines = await until(pilot, lambda ls: find(ls, "Keys — experiment") >= 0, "the help")
        for keys, what in (("1-3", "Panels"), ("s / ctrl+c", "Stop run"), ("q", "Quit")):
            assert any(keys in line and what in line for line in lines), (keys, lines)
        await pilot.press("escape")
        await pilot.pause(0.3)
        await pilot.press("s")
        await until(pilot, lambda ls: find(ls, "Stop the run?") >= 0, "the stop question")
        await pilot.press("enter")                  # the focused button: "Keep running"
        await pilot.pause(0.3)
        assert isinstance(app.screen, ExperimentScreen) and controller.running
        await pilot.press("q")
        await until(pilot, lambda ls: find(ls, "A run is going. Stop it and quit?") >= 0,
                    "the quit question")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ExperimentScreen) and controller.running
        await pilot.press("s")
        await until(pilot, lambda ls: find(ls, "Stop the run?") >= 0, "the stop question")
        await pilot.press("y")
        lines = await until(pilot, lambda ls: find(ls, "interrupted: ") >= 0, "the stopped end")
        # the turn under way when it was stopped (the second, or a later one on a slow machine)
        cut = int(re.search(r"interrupted: (\d) of 4 turns ran \(the last cut short\)",
                            lines[0]).group(1))
        assert cut >= 2
        row = lines[find(lines, f"{cut}/4 ")]
        assert re.search(r"(\d+)/(\d+) \(stopped, of 50\)", row), row
        # no turn after the one cut short was announced (that one's line may come just after
        # the stop's own, which is written before the stop reaches the run's thread)
        log = app.screen.query_one("#log").plain_lines()
        announced = [int(m.group(1)) for line in log if (m := re.match(r"turn (\d)/4:", line))]
        assert announced and max(announced) <= cut, log
        assert app.exit_code == 130
    assert controller.result is not None and controller.result.exit_code == 130


async def test_the_budget_modal_covers_every_variant_and_round(tmp_path):
    """Nothing is sent before the modal is answered, so no endpoint needs to answer."""
    urls = ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v2", "http://127.0.0.1:9/v3")
    app, controller = experiment_app(tmp_path / "results", urls, rounds=3, assume_yes=False)
    one = controller.experiment.runs[0].estimate
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda ls: isinstance(app.screen, BudgetModal), "the modal")
        lines = await until(pilot, lambda ls: find(ls, "Start run (y)") >= 0, "the buttons")
        text = "\n".join(lines)
        assert "Run 'abview' as an A/B experiment of 3 variants?" in text
        assert "variants       fast (baseline): sim-model (hosted_vllm)" in text
        assert "slow: sim-model (hosted_vllm)" in text and "third: sim-model" in text
        assert "turns          18 (2 rates × 3 rounds × 3 variants), interleaved, seed 11" \
            in text
        assert "the estimate covers all 3 variants × 3 rounds:" in text
        assert f"requests       {3 * one.requests:,} (+" in text
        await pilot.press("n")
        await pilot.pause(0.3)
    assert app.return_code == 3 and not controller.running
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


async def test_over_a_limit_together_there_is_no_start_and_enter_cancels(tmp_path, monkeypatch):
    """Each variant fits the output-token limit, the three together do not: no Start button,
    `y` does nothing, Enter presses Cancel; budget refused (3)."""
    urls = ("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v2", "http://127.0.0.1:9/v3")
    _, probe = experiment_app(tmp_path / "probe", urls)
    one = probe.experiment.runs[0].estimate.output_tokens
    monkeypatch.setenv("TOKENFLOOD_MAX_OUTPUT_TOKENS", str(one + 10))
    app, controller = experiment_app(tmp_path / "results", urls, assume_yes=True)
    assert controller.estimate.output_tokens == 3 * one
    async with app.run_test(size=(80, 24)) as pilot:
        lines = await until(pilot, lambda ls: find(ls, "Cancel (n)") >= 0, "the modal")
        text = "\n".join(lines)
        assert f"output tokens {3 * one:,} estimated, over the limit of {one + 10:,}" in text
        assert "Start run (y)" not in text
        await pilot.press("y")
        await pilot.pause(0.3)
        assert isinstance(app.screen, BudgetModal)
        await pilot.press("enter")
        await pilot.pause(0.3)
    assert app.return_code == 3 and not controller.running
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


async def test_a_variant_that_cannot_be_reached_ends_it_and_the_view_says_which(tmp_path, sims):
    fast, _ = sims
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}/v1"     # nothing listens there
    app, controller = experiment_app(tmp_path / "results", (fast.base_url, down))
    async with app.run_test(size=(80, 24)) as pilot:
        lines = await until(pilot, lambda ls: find(ls, "failed (see the log); q: quit") >= 0,
                            "the failed end", timeout=90)
        text = " ".join(line.strip() for line in lines)
        assert "1 how it ended" in text
        assert "variant slow: cannot reach the endpoint at " in text
        assert "0 of 8 turns done" in text
        # the view tells the app its exit code by a message: handled after this frame
        await wait_until(pilot, lambda: app.exit_code == 1)
    assert controller.error is not None and "Traceback" not in controller.error
