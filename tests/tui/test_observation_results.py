"""Pilot tests of an observation's results view at 120x40 and 80x24: the over-time chart, the
polls newest first with the missed ones marked, hours of day, failures; number-key panels."""

from __future__ import annotations

import shutil

from textual.widgets import DataTable

from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.results import (LoadTestResultsScreen, ObservationResultsScreen,
                                                ResultsScreen)
from tokenflood_tui.tui.widgets.over_time_chart import OverTimeChart

from support.observations import OBSERVATION, long_summary
from support.screens import screen_lines

PAST_RUN = OBSERVATION.parents[1] / "workspace" / "past-runs" / "2026-01-02_03-04-05_tmux-demo_sim-model"


def results_app(folder) -> TokenfloodApp:
    return TokenfloodApp(Launch("results", results_root=folder.parent, results_dir=folder,
                                theme="tokenflood-dark"))


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def chart_lines(chart: OverTimeChart) -> list[str]:
    return str(chart.render()).splitlines()


async def test_at_120x40_the_chart_polls_hours_and_failures_are_all_in_view():
    app = results_app(OBSERVATION)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.8)                   # the chart draws on its 0.5 s timer
        screen = app.screen
        assert isinstance(screen, ObservationResultsScreen) and isinstance(screen, ResultsScreen)
        chart = screen.query_one(OverTimeChart)
        assert chart.display and chart.border_title == "3 TTFT percentiles per poll · t: e2e"
        lines = chart_lines(chart)
        assert "TTFT (ms) per poll" in lines[0]
        assert any("13:52:10" in line and "13:52:35" in line for line in lines)
        # drawn at the widget's size, not plotext's default 80 columns
        assert max(len(line) for line in lines) == chart.content_size.width
        polls = rows(screen.query_one("#obs-polls", DataTable))
        assert [r[0] for r in polls] == ["6", "5", "4", "3", "2", "1"]          # newest first
        assert polls[0] == ["6", "13:52:36", "3/3", "43/43/43", "63/63/63", "17.2"]
        assert polls[1][:3] == ["5", "13:52:30", "✗ missed"] and polls[2][2] == "✗ missed"
        assert polls[4][:5] == ["2", "13:52:12", "0/3 ✗", "-", "-"]
        assert rows(screen.query_one("#obs-hours", DataTable)) == [
            ["13:00", "12", "9", "42/43/43", "63/64/64"]]
        assert rows(screen.query_one("#obs-failures", DataTable)) == [
            ["connection_error", "-", "3", "25.0%", "1", "2026-12-01 13:52:12"]]
        shown = "\n".join(screen_lines(app))
        assert "4 ran, 2 missed · 9 of 12 requests ok" in shown
        assert "✗ 2 polls (4-5): tokenflood was not running" in shown
        assert "↻ 2026-12-01T13:52:33+00:00: went on at poll 4" in shown
        assert "failures over all polls, by kind and HTTP status" in shown
        await pilot.press("t")
        await pilot.pause(0.2)
        assert "end-to-end latency (ms) per poll" in chart_lines(chart)[0]
        assert chart.border_title == "3 e2e percentiles per poll · t: TTFT"


async def test_at_80x24_the_tables_come_first_and_number_keys_show_one_panel():
    app = results_app(OBSERVATION)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.8)
        screen = app.screen
        chart = screen.query_one(OverTimeChart)
        assert not chart.display                 # below 32 rows the chart is on key 3
        lines = screen_lines(app)
        assert max(len(line.rstrip()) for line in lines) <= 80
        polls = next(i for i, line in enumerate(lines) if "poll  slot (UTC)" in line)
        assert lines[polls + 1].split()[:3] == ["6", "13:52:36", "3/3"]
        assert lines[polls + 2].split()[:4] == ["5", "13:52:30", "✗", "missed"]
        await pilot.press("3")
        await pilot.pause(0.7)
        assert chart.display and screen.solo_panel == "chart"
        assert chart.outer_size.width == 80 and chart.outer_size.height >= 20
        drawn = chart_lines(chart)
        assert max(len(line) for line in drawn) == chart.content_size.width
        assert "TTFT (ms) per poll" in drawn[0]
        await pilot.press("2")                   # hours of day alone
        await pilot.pause(0.2)
        hours = screen.query_one("#obs-hours", DataTable)
        assert hours.display and not screen.query_one("#obs-polls", DataTable).display
        assert not chart.display
        assert any(line.split()[:3] == ["13:00", "12", "9"] for line in screen_lines(app))
        await pilot.press("escape")              # back to the overview, then out
        await pilot.pause(0.1)
        assert screen.solo_panel is None and screen.query_one("#obs-polls", DataTable).display
        await pilot.press("escape")
        await pilot.pause(0.1)
    assert app.return_code == 0


async def test_a_three_day_observation_reads_at_120x40(tmp_path):
    folder = tmp_path / "2026-12-01_13-45-00_long_sim-model"
    folder.mkdir()
    warning = "poll 150: 100% of requests failed (3 of 3: http_error 503 ×3)"
    (folder / "summary.json").write_text(
        long_summary().model_copy(update={"warnings": [warning]}).to_json())
    app = results_app(folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.8)
        screen = app.screen
        lines = chart_lines(screen.query_one(OverTimeChart))
        axis = next(line for line in lines if "Dec 02" in line)
        assert axis.split() == ["Dec", "02", "12:00", "Dec", "03", "12:00", "Dec", "04", "12:00"]
        polls = rows(screen.query_one("#obs-polls", DataTable))
        assert len(polls) == 288 and polls[0][:3] == ["288", "12-04 13:30:00", "3/3"]
        assert polls[288 - 105][:3] == ["105", "12-02 15:45:00", "✗ missed"]
        assert polls[288 - 150][2] == "0/3 ✗"
        await pilot.press("1")                   # the polls panel: the table, failures, warnings
        await pilot.pause(0.2)
        shown = "\n".join(screen_lines(app))
        assert f"⚠ {warning}" in shown and "✗ 10 polls (101-110)" in shown
        assert any(line.split()[:6] == ["http_error", "503", "3", "0.4%", "1", "2026-12-03"]
                   for line in shown.splitlines())


async def test_a_load_test_folder_still_opens_the_load_test_view(tmp_path):
    folder = tmp_path / PAST_RUN.name
    shutil.copytree(PAST_RUN, folder)
    app = results_app(folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert type(app.screen) is LoadTestResultsScreen
        assert isinstance(app.screen, ResultsScreen)
        assert not app.screen.query(OverTimeChart)
