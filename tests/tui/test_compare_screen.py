"""The compare screen, on two real runs against simulators 30 ms apart in TTFT: the verdicts and
values of every cell as the comparison has them, `t` through the metrics, the overlay chart, both
terminal sizes; and on the home screen the headline figure of each result, marking with space
and `c` (with one mark a hint, with two the compare screen, computed and written)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rich.style import Style
from textual.color import Color
from textual.widgets import OptionList

from tokenflood_tui.compare.compare import Comparison, compare
from tokenflood_tui.metrics.summary import RunSummary
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.compare import CompareScreen
from tokenflood_tui.tui.screens.help import HelpScreen
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.widgets.compare_table import CompareTable

from support.compared_runs import FAST_TTFT, Runs, SLOW_TTFT, shared_runs
from support.screens import screen_lines, until
from support.tokenflood import run_tokenflood

NAMES = {"ttft_ms": "TTFT", "e2e_ms": "e2e", "tpot_ms": "TPOT", "itl_ms": "ITL"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return shared_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def saved(runs: Runs) -> Path:
    """The comparison as `tokenflood compare` writes it off a terminal (fast = A, the baseline)."""
    out = runs.results.parent / "compared"
    done = run_tokenflood("compare", str(runs.fast), str(runs.slow), "--out", str(out),
                          cwd=runs.results.parent)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("# Comparison: A vs B")     # off a terminal: Markdown, no TUI
    return out


def squash(text: str) -> str:
    """Text without any whitespace: a long path wraps at any character, words at spaces."""
    return "".join(text.split())


def num(v: float) -> str:
    """How the table writes a number of ms: one decimal below 100, whole ms from there."""
    return f"{v:.1f}" if abs(v) < 100 else f"{v:.0f}"


def signed(v: float) -> str:
    return ("+" if v >= 0 else "") + num(v)


def expected_rows(c: Comparison, metric: str) -> list[list[str]]:
    """Each cell's row as words on the screen: group (first row of a group), pct, A, B, B − A with
    %, the interval (or -), the verdict."""
    rows, previous = [], None
    for cell in (x for x in c.cells if x.metric == metric):
        a, b = cell.runs
        group = f"{cell.group_value:g}"
        row = ([group] if group != previous else []) + [f"p{cell.percentile:g}", num(a.value_ms),
                                                       num(b.value_ms)]
        previous = group
        row += [signed(b.diff_ms) + f" ({b.diff_pct:+.1f}%)"]
        row += ["-"] if b.ci_low_ms is None else [f"{signed(b.ci_low_ms)} … {signed(b.ci_high_ms)}"]
        rows.append(row + [b.verdict])
    return rows


def table_lines(app) -> list[str]:
    lines = screen_lines(app)
    title = next(i for i, line in enumerate(lines) if line.startswith(" 1 ") and "(ms)" in line)
    return lines[title:]


def assert_table_shows(app, c: Comparison, metric: str) -> None:
    lines = table_lines(app)
    assert lines[0].startswith(f" 1 {NAMES[metric]} (ms) · differences to A with a 95% interval")
    rows = [" ".join(line.split()) for line in lines[2:]]
    for row, words in zip(rows, expected_rows(c, metric), strict=False):
        assert row == " ".join(words), "\n".join(lines)
    assert len(expected_rows(c, metric)) == 6        # 2 rates x p50, p90, p99, all in view


async def table_shows(pilot, c: Comparison, metric: str, timeout: float = 10.0) -> None:
    """assert_table_shows once the table has settled: after a change of metric its columns are
    laid out a frame or more later (on a busy machine, "72.9" read "7" 0.8 s after the key)."""
    for _ in range(int(timeout / 0.1)):
        try:
            assert_table_shows(pilot.app, c, metric)
            return
        except (AssertionError, StopIteration):
            await pilot.pause(0.1)
    assert_table_shows(pilot.app, c, metric)


async def test_the_compare_screen_at_80x24(saved, runs):
    c = Comparison.load(saved)
    # the truth of the simulators: B is 30 ms slower to the first token, decodes as fast
    ttft = [cell for cell in c.cells if cell.metric == "ttft_ms" and cell.percentile == 50]
    assert all(SLOW_TTFT - FAST_TTFT - 10 < cell.runs[1].diff_ms < SLOW_TTFT - FAST_TTFT + 10
               for cell in ttft)
    app = TokenfloodApp(Launch("compare", results_root=runs.results, compare_dir=saved))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        lines = screen_lines(app)
        assert lines[1] == f" A = {runs.fast.name} (baseline)"
        assert lines[2] == f" B = {runs.slow.name}"
        head = "\n".join(lines[:10])
        counts = c.verdicts(1)
        # the TPOT and ITL cells of two simulators that decode alike may land "faster" too
        said = ", ".join(f"{verdict} in {counts[verdict]}" for verdict in (
            "faster", "slower", "no clear difference", "too few samples") if counts.get(verdict))
        assert counts["slower"] >= 8 and f"B vs A: {said} of 24" in " ".join(head.split())
        assert squash(f"written to {saved}/ (md, json, txt, html)") in squash(head)
        assert "1 warning (3: in full):" in head and "⚠ endpoints differ (" in head
        # TTFT: the table, every value and verdict; the chart is left out below 32 rows
        await table_shows(pilot, c, "ttft_ms")
        text = "\n".join(table_lines(app))
        assert "slower" in text and "too few samples" in text
        assert "percentiles by rate" not in "\n".join(screen_lines(app))
        # t: e2e, TPOT, ITL, then TTFT again
        for metric in ("e2e_ms", "tpot_ms", "itl_ms", "ttft_ms"):
            await pilot.press("t")
            await pilot.pause(0.2)
            await table_shows(pilot, c, metric)
        assert "no clear difference" in [cell.runs[1].verdict for cell in c.cells
                                          if cell.metric == "tpot_ms"]
        # 2: the overlay chart of that metric, every run and every percentile in its key
        await pilot.press("2")
        await pilot.pause(0.8)
        chart = "\n".join(screen_lines(app))
        assert "2 TTFT percentiles by rate, runs A, B · t: e2e" in chart
        assert "A ⠒⠒  B ••  │  p50  p90  p99" in chart
        assert "target req/s" in chart and " 1 TTFT (ms)" not in chart
        await pilot.press("t")
        await pilot.pause(0.8)
        assert "2 e2e percentiles by rate, runs A, B · t: TPOT" in "\n".join(screen_lines(app))
        # 3: the runs and every warning in full, how verdicts are reached
        await pilot.press("3")
        await pilot.pause(0.3)
        full = squash("".join(screen_lines(app)))
        assert squash(f"A (baseline) {runs.fast} 'fast' on sim-model (hosted_vllm,") in full
        assert squash("at least 20 requests with 2 beyond the percentile (p99: 200)") in full
        await pilot.press("end")                         # it scrolls: the last lines
        await pilot.pause(0.3)
        assert squash(f"⚠ {c.warnings[0]}") in squash("".join(screen_lines(app)))
        # Esc: the overview, then back (here: the app ends, as `tokenflood compare` opened it)
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert screen.solo_panel is None
        await table_shows(pilot, c, "e2e_ms")              # the metric chosen stays
        await pilot.press("escape")
        await pilot.pause(0.3)
    assert app.return_code == 0


async def test_the_compare_screen_at_120x40_shows_table_and_chart(saved, runs):
    c = Comparison.load(saved)
    app = TokenfloodApp(Launch("compare", results_root=runs.results, compare_dir=saved))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.8)
        await table_shows(pilot, c, "ttft_ms")
        screen = "\n".join(screen_lines(app))
        assert "2 TTFT percentiles by rate, runs A, B · t: e2e" in screen
        assert "A ⠒⠒  B ••  │  p50  p90  p99" in screen and "target req/s" in screen
        # a warning is one line here, whole if it fits
        assert f"⚠ {c.warnings[0]}"[:110] in screen
        await pilot.press("t")
        await pilot.pause(0.8)
        await table_shows(pilot, c, "e2e_ms")
        assert "2 e2e percentiles by rate" in "\n".join(screen_lines(app))


async def test_verdicts_take_the_colours_of_the_theme(saved, runs):
    app = TokenfloodApp(Launch("compare", results_root=runs.results, compare_dir=saved,
                               theme="tokenflood-dark"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)

        def colours() -> dict[str, tuple]:
            table = app.screen.query_one(CompareTable)
            out = {}
            for i in range(table.row_count):
                verdict = table.get_row_at(i)[-1]
                out[verdict.plain] = verdict.style.color.triplet if isinstance(
                    verdict.style, Style) and verdict.style.color else None
            return out

        def theme(name: str) -> tuple:
            return tuple(Color.parse(app.theme_variables[name]).rgb)

        await pilot.press("t", "t")                          # TPOT: all three verdicts
        await pilot.pause(0.2)
        got = colours()
        assert got["too few samples"] == theme("warning")
        # $text-muted is the text colour faded into the background ("auto 60%"): its own colour
        muted = got["no clear difference"]
        assert muted is not None and muted not in (theme("warning"), theme("error"),
                                                   theme("success"))
        await pilot.press("t", "t", "t")                     # TTFT: slower
        await pilot.pause(0.2)
        dark_red = theme("error")
        assert colours()["slower"] == dark_red
        app.theme = "tokenflood-light"
        await pilot.pause(0.3)
        assert theme("error") != dark_red
        assert colours()["slower"] == theme("error")         # the light theme's red now


def home_app(folder: Path, results: Path) -> TokenfloodApp:
    return TokenfloodApp(Launch("home", folder=folder, results_root=results))


async def focus_results(app, pilot) -> OptionList:
    results = app.screen.query_one("#results", OptionList)
    results.focus()
    await pilot.pause()
    return results


async def highlight(pilot, results: OptionList, folder: Path) -> None:
    results.highlighted = [o.id for o in results.options].index(str(folder))
    await pilot.pause()


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_home_marks_results_and_c_compares_them(runs, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(runs.results, results)
    fast, slow = results / runs.fast.name, results / runs.slow.name
    app = home_app(tmp_path, results)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        options = await focus_results(app, pilot)

        def prompts() -> dict[str, str]:
            return {str(o.id): str(o.prompt) for o in options.options}

        # each result shows its headline: TTFT p50 at the highest rate
        for folder in (fast, slow):
            top = RunSummary.load(folder).phases[-1]
            assert top.target_rps == 12
            assert prompts()[str(folder)] == (f"  {folder.name}  [completed]\n    TTFT p50 "
                                              f"{top.ttft_ms.at(50):.0f} ms @ 12 req/s")
        # the footer has the results list's keys while it has the focus
        footer = (await until(pilot, lambda lines: "q Quit" in lines[-1], "the footer"))[-1]
        assert "space Mark" in footer and "c Compare" in footer
        # one mark: c says what to do
        await highlight(pilot, options, slow)
        await pilot.press("space")
        await pilot.pause(0.2)
        assert prompts()[str(slow)].startswith(f"✓ {slow.name}")
        assert prompts()[str(fast)].startswith(f"  {fast.name}")
        assert "✓ marked as A (the baseline)   mark another, then c compares" in \
            "\n".join(screen_lines(app))
        await pilot.press("c")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen)
        assert notes(app)[-1] == ("Mark two results folders with space (in Recent results), "
                                  "then c compares them; the first marked is the baseline "
                                  "(1 marked).")
        # space again unmarks; marking in another order makes that one the baseline
        await pilot.press("space")
        await pilot.pause(0.2)
        assert home.marked == [] and prompts()[str(slow)].startswith("  ")
        await pilot.press("space")                      # slow: A
        await highlight(pilot, options, fast)
        await pilot.press("space")                      # fast: B
        await pilot.pause(0.2)
        assert home.marked == [slow, fast]
        assert sum(p.startswith("✓ ") for p in prompts().values()) == 2
        assert "✓ marked as B   c: compare the marked" in "\n".join(screen_lines(app))
        app.clear_notifications()                       # the hint's toast would cover the table
        await pilot.press("c")
        for _ in range(100):                            # computed in a thread
            await pilot.pause(0.1)
            if isinstance(app.screen, CompareScreen) and app.screen.comparison is not None:
                break
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.comparison is not None
        await pilot.pause(0.3)
        lines = screen_lines(app)
        assert lines[1] == f" A = {slow.name} (baseline)" and lines[2] == f" B = {fast.name}"
        # the same figures as comparing the folders directly; B (fast) is the faster one
        await table_shows(pilot, compare([slow, fast]), "ttft_ms")
        assert "faster" in "\n".join(table_lines(app))
        # opening a comparison writes nothing (it used to leave a compare_<time>/ each time);
        # w writes it to a compare folder under the results dir, as `tokenflood compare` does
        assert not list(results.glob("compare_*")) and screen.folder is None
        assert "not written; w writes it (md, json, txt, html)" in "\n".join(lines)
        assert "w Write files" in lines[-1]
        await pilot.press("w")
        for _ in range(50):
            await pilot.pause(0.1)
            if screen.folder is not None:
                break
        (written,) = results.glob("compare_*")
        assert screen.folder == written
        assert sorted(p.name for p in written.iterdir()) == [
            "compare.json", "compare.md", "compare.txt", "report.html"]
        assert Comparison.load(written).cells == screen.comparison.cells
        await pilot.pause(0.2)
        lines = screen_lines(app)
        assert squash(f"written to {written}/ (md, json, txt, html)") in squash("".join(lines))
        assert "w Write files" not in lines[-1]         # once on disk, nothing more to write
        await pilot.press("w")
        await pilot.pause(0.3)
        assert len(list(results.glob("compare_*"))) == 1
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert app.screen is home
        # the compare folder is not a run: the list still has the two results, both marked
        assert set(prompts()) == {str(fast), str(slow)} and home.marked == [slow, fast]
        # elsewhere space only says where marking happens; c still compares from any list
        app.screen.query_one("#endpoints", OptionList).focus()
        await pilot.pause()
        await pilot.press("space")
        await pilot.pause(0.2)
        assert notes(app)[-1].startswith("Tab to Recent results: space marks")
        assert home.marked == [slow, fast]


async def test_comparing_a_folder_that_cannot_be_read_says_why(runs, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(runs.results, results)
    killed = results / "2026-01-01_00-00-00_killed_sim-model"
    shutil.copytree(runs.fast, killed)
    (killed / "summary.json").unlink()             # as a SIGKILLed run leaves it
    app = home_app(tmp_path, results)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause(0.3)
        options = await focus_results(app, pilot)
        for folder in (results / runs.fast.name, killed):
            await highlight(pilot, options, folder)
            await pilot.press("space")
        await pilot.press("c")
        for _ in range(100):
            await pilot.pause(0.1)
            if isinstance(app.screen, CompareScreen) and app.screen.error is not None:
                break
        await pilot.pause(0.2)
        lines = screen_lines(app)
        assert squash(f"Cannot compare: {killed}/summary.json does not exist: not a finished "
                      "results folder Esc: back") in squash("".join(lines)), "\n".join(lines)
        assert "chart" not in "\n".join(lines)              # no empty table nor chart
        footer = lines[-1]
        assert "esc Back" in footer and "t Metric" not in footer and "Panels" not in footer
        assert not list(results.glob("compare_*"))      # nothing written
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)


async def test_help_lists_the_compare_keys(saved, runs, tmp_path):
    app = home_app(tmp_path, runs.results)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await focus_results(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "In the results list" in text
        assert "space" in text and "Mark a result to compare (in Recent results)" in text
        assert "Compare the marked results (the first is the baseline)" in text
    app = TokenfloodApp(Launch("compare", results_root=runs.results, compare_dir=saved))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        text = str(app.screen.query_one("#help-text").render())
        for keys, what in (("t", "Metric"), ("1-3", "Panels"), ("2", "Chart"),
                           ("3", "Runs and warnings"), ("q", "Quit")):
            assert any(line.split()[:1] == [keys] and what in line for line in text.splitlines()
                       ), (keys, text)
