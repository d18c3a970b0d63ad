"""A session run in the TUI, as a user runs it: the live view's sessions panel (key 2) and the
results view's sessions (key 2), driven by a real run against the simulator and read against the
run's own snapshots, summary.json and requests.csv; the budget modal, the suite form and home
with a session suite.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Label, Static, TextArea

from tokenflood_tui.errors import ConfigError

from tokenflood_tui.metrics.summary import (Distribution, PhaseStats, RunSummary, SessionStats,
                                            TurnStats)
from tokenflood_tui.run.budget import estimate
from tokenflood_tui.run.coordinator import RunSnapshot
from tokenflood_tui.run.events import PhaseStarted
from tokenflood_tui.run.experiment import Variant
from tokenflood_tui.run.schedule import plan_phases
from tokenflood_tui.specs import EndpointSpec, load_endpoint, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.messages import RunEventMessage, RunSnapshotMessage
from tokenflood_tui.tui.run_controller import RunController
from tokenflood_tui.tui.screens.budget import BudgetModal
from tokenflood_tui.tui.screens.home import HomeScreen
from tokenflood_tui.tui.screens.results import SessionResultsScreen
from tokenflood_tui.tui.screens.session_run import SessionRunScreen
from tokenflood_tui.tui.screens.suite_editor import SuiteEditor
from tokenflood_tui.tui.screens.suite_text_editor import SuiteTextEditor
from tokenflood_tui.tui.widgets.sessions import SessionTable, TurnTable

from support.screens import screen_lines, until, wait_until
from test_snapshots import NARROW, RESULTS, SIZE, WORKSPACE, app, phase

# Two phases of sessions; every session lasts at least 1.5 s of think and tool time, so the
# first phase's last sessions run on well into the second (the overlap the view must show).
# Chats of 5 to 10 turns fill the turn buckets up to 9-16. The ramp keeps out the first
# session's first request of each phase only (the next starts 0.25 s or more later).
SESSIONS = """\
name: pilot-sessions
sessions_per_second_rates: [2, 4]
test_length_in_seconds: 3
arrival: constant
history: echo
ramp_seconds: 0.1
session_types:
- name: chat
  weight: 2
  system_prompt_tokens: 64
  turns: {dist: uniform, min: 5, max: 10}
  user_tokens: 24
  output_tokens: 8
  think_seconds: 0.4
- name: agent
  weight: 1
  system_prompt_tokens: 128
  context_tokens: 40
  turns: 6
  user_tokens: 16
  output_tokens: 8
  think_seconds: 0.3
  tool_share: 0.5
  tool_call_tokens: 6
  tool_result_tokens: 30
  tool_seconds: 0.3
  subagents: {every: 3, count: 2, type: helper, result_tokens: 10}
- name: helper
  weight: 0.001
  turns: 2
  user_tokens: 12
  output_tokens: 6
"""
ENDS = ("completed", "context_limit", "error", "cut", "subagents")
TURN_ROWS = ("requests", "TTFT ms", "e2e ms", "history tok", "cache hit")   # the turns table
# a session run's summary.json (two phases of chats and agents with sub-agents, on the simulator)
SESSION_RESULTS = (Path(__file__).parent / "fixtures" / "sessions"
                   / "2026-12-07_13-58-40_chat-agent_sim-model")


def endpoint(sim) -> EndpointSpec:
    return EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url)


def find(lines: list[str], text: str) -> int:
    return next((i for i, line in enumerate(lines) if text in line), -1)


def check_sessions_table(table: SessionTable, phases: list[PhaseStats]) -> None:
    """Every session phase's row holds that phase's figures."""
    for ph in phases:
        s = ph.sessions
        assert s is not None
        row = str(ph.phase)
        assert table.get_cell(row, "started") == f"{s.started}/{s.planned}"
        assert table.get_cell(row, "in_flight") == ("-" if ph.finished else str(s.in_flight))
        for key in ENDS:
            assert table.get_cell(row, key) == str(getattr(s, key)), (row, key)
        assert table.get_cell(row, "target") == f"{ph.target_rps:g}"


def turn_column(table: TurnTable, label: str) -> dict[str, str]:
    return {row: str(table.get_cell(row, label))
            for row in ("requests", "ttft", "e2e", "context", "cache")}


def csv_buckets(folder: Path, phase: int, ramp_requests: int) -> dict[str, dict[str, float]]:
    """From requests.csv: a phase's rows outside its ramp (its earliest `ramp_requests`), by
    turn bucket: requests, mean TTFT and e2e of the ok ones, cached over expected history."""
    with open(folder / "requests.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["phase"] == str(phase)]
    rows.sort(key=lambda r: float(r["t_sched_s"]))
    rows = rows[ramp_requests:]
    out: dict[str, dict[str, float]] = {}
    for label, first, last in (("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4", 4, 4),
                               ("5-8", 5, 8), ("9-16", 9, 16)):
        inside = [r for r in rows if first <= int(r["turn"]) <= last]
        ok = [r for r in inside if r["status"] == "ok"]
        if not inside:
            continue
        cached = [r for r in ok if r["cached_tokens"]]
        out[label] = {
            "requests": len(inside),
            "ttft": sum(float(r["ttft_ms"]) for r in ok) / len(ok),
            "e2e": sum(float(r["e2e_ms"]) for r in ok) / len(ok),
            "context": sum(float(r["context_tokens_target"]) for r in ok) / len(ok),
            "cache": (sum(float(r["cached_tokens"]) for r in cached)
                      / sum(float(r["context_tokens_target"]) for r in cached)),
        }
    return out


async def test_a_session_run_live_and_in_its_results(tmp_path, sim_process):
    """The sessions panel follows the run's snapshots at 120x40 (every row, the in-flight line,
    the turn buckets), shows the first phase draining beside the second, reads whole at 80x24
    maximised; its last figures are the summary's and requests.csv's; the results view's
    sessions (key 2) are the summary's."""
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results",
                               suite=parse_run_suite(SESSIONS), endpoint=endpoint(sim_process),
                               assume_yes=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, SessionRunScreen))
        screen = app.screen
        assert isinstance(screen, SessionRunScreen)
        table = screen.query_one(SessionTable)
        checked, overlap, narrow = 0, False, False
        while not app.run_controller.finished:
            await pilot.pause(0.1)
            snap = screen.snapshot
            if app.run_controller.finished or snap is None or not snap.phases:
                continue
            # what the panel shows now against the snapshot it was drawn from
            check_sessions_table(table, snap.phases)
            open_now = [ph for ph in snap.phases if not ph.finished]
            flying = sum(ph.sessions.in_flight for ph in open_now if ph.sessions)
            label = str(screen.query_one("#in-flight-label", Label).render())
            assert label.startswith(f"{flying} session"), (label, flying)
            status = str(screen.query_one("#run-status", Static).render())
            assert (f"phase {snap.phase}/2 " in status
                    and f"· {snap.phases[-1].target_rps:g} sessions/s · {flying} session"
                    in status), status
            source = next((ph for ph in reversed(snap.phases) if ph.turns), None)
            if source is not None and source.turns[0].turn == 1:
                first = source.turns[0]
                column = turn_column(screen.query_one(TurnTable), "1")
                assert column["requests"] == str(first.requests)
                assert column["ttft"] == f"{first.ttft_ms.mean:,.0f}"
                assert column["cache"] == f"{first.cache_hit:.0%}"
            checked += 1
            if len(open_now) == 2:
                # phase 1's sessions go on while phase 2 starts its own
                if table.mode == "wide":
                    assert table.get_cell("1", "state") == "draining"
                    assert table.get_cell("2", "state") == "running"
                assert f"({open_now[0].sessions.in_flight} of phase 1)" in label or \
                    not open_now[0].sessions.in_flight
                overlap = True
                if not narrow and open_now[1].elapsed_s > 0.5:
                    lines = screen_lines(app)
                    for title in ("1 phases · sessions/s", "2 sessions by phase · sessions/s",
                                  "3 latency now", "4 TTFT percentiles", "5 log"):
                        assert find(lines, title) >= 0, (title, lines)
                    assert find(lines, "turns of phase") >= 0 and find(lines, "cache hit") >= 0
                    # 80x24: the overview keeps the in-flight line, key 2 the whole panel
                    await pilot.resize_terminal(80, 24)
                    await until(pilot, lambda lines: find(lines, "in flight (") >= 0
                                or find(lines, "in flight · peak") >= 0, "the in-flight line")
                    await pilot.press("2")
                    lines = await until(pilot, lambda lines: all(
                        find(lines, f"  {row}") >= 0 for row in TURN_ROWS), "the turns' rows")
                    assert max(len(line.rstrip()) for line in lines) <= 80
                    head = lines[find(lines, "phase  target  actual  started  in flight")]
                    assert "done  limit  error  cut  sub" in head
                    assert find(lines, "2 sessions · done: completed") >= 0
                    assert find(lines, "3 latency now") < 0          # the others are hidden
                    narrow = True
        # (a busy machine draws few frames: each check is one the run sent)
        assert checked >= 3 and overlap and narrow

        # the run has ended: the panel holds the summary's figures
        await pilot.pause(0.3)
        summary = app.run_controller.result.summary
        folder = app.run_controller.result.folder
        check_sessions_table(table, summary.phases)
        started = sum(ph.sessions.started for ph in summary.phases)
        assert started == 6 + 12 and all(ph.sessions.planned == ph.sessions.started
                                         for ph in summary.phases)
        assert (f"completed ({started} of {started} sessions completed)"
                in str(screen.query_one("#run-status", Static).render()))
        # turn buckets of the last phase, against requests.csv (means over the ok requests)
        last = summary.phases[-1]
        expected = csv_buckets(folder, last.phase, last.sessions.ramp_requests)
        turns = screen.query_one(TurnTable)
        assert [b.label for b in turns.buckets] == list(expected) == ["1", "2", "3", "4", "5-8",
                                                                      "9-16"]
        for label, want in expected.items():
            column = turn_column(turns, label)
            assert int(column["requests"]) == want["requests"], label
            for key in ("ttft", "e2e", "context"):
                assert abs(float(column[key].replace(",", "")) - want[key]) <= 0.51, (label, key)
            assert abs(float(column["cache"].rstrip("%")) - 100 * want["cache"]) <= 0.51, label
        assert "turns of phase 2" in str(screen.query_one("#turns-label", Label).render())

        # the results: key 2 holds the sessions, their rates, durations and every turn
        await pilot.resize_terminal(120, 40)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionResultsScreen))
        results = app.screen
        await pilot.pause(0.3)
        saved = RunSummary.load(folder)
        check_results(results, saved)
        await pilot.press("2")
        await pilot.pause(0.3)
        lines = screen_lines(app)
        assert find(lines, "2 sessions by phase · how they ended") >= 0
        assert find(lines, "1 phases ·") < 0                  # key 2 shows its sections only
        for ph in saved.phases:
            peak = max(n for _, n in ph.sessions.in_flight_over_time)
            assert find(lines, f"phase {ph.phase}  ") >= 0
            assert f"peak {peak} over" in lines[find(lines, f"phase {ph.phase}  ")]
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        lines = screen_lines(app)
        assert max(len(line.rstrip()) for line in lines) <= 80
        assert find(lines, "phase  planned  started  completed  context limit  error  cut  "
                           "sub-agents") >= 0
        turns_head = results.query_one("#results-turns", DataTable)
        assert [str(c.label) for c in turns_head.columns.values()][:4] == ["ph", "turn", "req",
                                                                           "ok"]
    summary_file = json.loads((folder / "summary.json").read_text())
    assert summary_file["phases"][0]["sessions"]["started"] == 6


def check_results(screen: SessionResultsScreen, s: RunSummary) -> None:
    """The sessions' tables hold summary.json's figures, every turn of every phase; every
    request is in a turn's count or its phase's ramp."""
    ends = screen.query_one("#results-session-ends", DataTable)
    rates = screen.query_one("#results-session-rates", DataTable)
    times = screen.query_one("#results-session-durations", DataTable)
    turns = screen.query_one("#results-turns", DataTable)
    assert ends.row_count == rates.row_count == times.row_count == len(s.phases)
    for i, ph in enumerate(s.phases):
        ss = ph.sessions
        assert ss is not None
        assert ends.get_row_at(i) == [str(ph.phase), str(ss.planned), str(ss.started),
                                      str(ss.completed), str(ss.context_limit), str(ss.error),
                                      str(ss.cut), str(ss.subagents)]
        assert rates.get_row_at(i) == [str(ph.phase), f"{ph.target_rps:g}",
                                       f"{ss.achieved_sps:.2f}", f"{ss.completed_sps:.2f}",
                                       f"{ss.ramp_s:.1f}", str(ss.ramp_requests)]
        p50, p99 = ss.duration_s.at(50), ss.duration_s.at(99)
        duration = times.get_row_at(i)[1]
        assert duration.startswith(f"{p50:.1f}/") and duration.endswith(f"/{p99:.1f}")
        assert sum(t.requests for t in ph.turns) + ss.ramp_requests == ph.sent
    assert turns.row_count == sum(len(ph.turns) for ph in s.phases)
    row = 0
    for ph in s.phases:
        for t in ph.turns:
            cells = turns.get_row_at(row)
            assert cells[:4] == [str(ph.phase), str(t.turn), str(t.requests), str(t.ok)]
            assert cells[4] == "/".join(f"{t.ttft_ms.at(p):.0f}" for p in s.percentiles)
            assert cells[8] == f"{t.cache_hit:.0%}"
            row += 1


async def test_the_budget_modal_of_a_session_suite_shows_its_ceiling_at_80x24(tmp_path,
                                                                            sim_process):
    """The estimate's lines, the sessions ceiling among them, and the start button in view."""
    app = TokenfloodApp(Launch("run", results_root=tmp_path / "results",
                               suite=parse_run_suite(SESSIONS), endpoint=endpoint(sim_process)))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, BudgetModal))
        modal = app.screen
        text = str(modal.query_one("#budget-lines").render())
        for line in modal.estimate.lines():
            assert line.split()[0] in text
        assert "with every length at its max" in text
        lines = screen_lines(app)
        assert find(lines, "Start run (y)") >= 0 and find(lines, "Cancel (n)") >= 0
        await pilot.press("n")
        await pilot.pause(0.3)
    assert not (tmp_path / "results").exists()


async def test_the_budget_modal_of_an_ab_session_suite_counts_its_rates(tmp_path, sim_process):
    """An A/B experiment of a session suite: its phases are its sessions_per_second_rates."""
    suite, ep = parse_run_suite(SESSIONS), endpoint(sim_process)
    modal = BudgetModal(estimate(suite, ep, plan_phases(suite)), suite, ep,
                        variants=[Variant("a", ep), Variant("b", ep)], rounds=2)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await app.push_screen(modal)
        await pilot.pause()
        text = str(modal.query_one("#budget-lines").render())
        assert "turns          8 (2 rates × 2 rounds × 2 variants)" in text, text
        assert "with every length at its max" in text


async def test_e_on_a_session_suite_opens_it_as_text(tmp_path):
    """Home lists a session suite and describes it in sessions/s; e opens it as text (the form
    holds load types only), checked as you type, and ctrl+s saves it as written."""
    (tmp_path / "endpoint.yml").write_text(
        "provider: hosted_vllm\nmodel: sim-model\nbase_url: http://127.0.0.1:9/v1\n")
    (tmp_path / "sessions.yml").write_text(SESSIONS)
    app = TokenfloodApp(Launch("home", folder=tmp_path, results_root=tmp_path / "results"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        assert isinstance(home, HomeScreen)
        suites = home.query_one("#suites")
        suites.focus()
        await pilot.pause()
        options = [str(o.prompt) for o in suites.options]
        suites.highlighted = next(i for i, o in enumerate(options) if "sessions.yml" in o)
        await pilot.pause()
        detail = str(home.query_one("#detail", Static).render())
        assert "rates 2, 4 sessions/s, 3 s each, constant, history echo" in detail
        assert "session types (mean turns × weight): chat 7.5 ×2; agent 6 ×1" in detail
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, SuiteTextEditor))
        editor = app.screen
        await pilot.pause(0.5)
        assert editor.text == SESSIONS
        assert str(editor.query_one("#editor-title").render()).startswith(
            "session suite (text) — sessions.yml")
        check = str(editor.query_one("#check-ok").render())
        assert ("load test: rates 2, 4 sessions/s, 3 s each\nsession types: chat, agent, helper"
                in check), check
        editor.query_one(TextArea).text = SESSIONS.replace("[2, 4]", "[2, 3]")
        await pilot.pause(0.5)
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
    assert (tmp_path / "sessions.yml").read_text() == SESSIONS.replace("[2, 4]", "[2, 3]")


def test_the_suite_form_refuses_a_session_suite_by_its_loader(tmp_path):
    """The form's loader refuses a session suite in words, should anything open it there."""
    path = tmp_path / "sessions.yml"
    path.write_text(SESSIONS)
    with pytest.raises(ConfigError, match="a session suite \\(session_types\\); this form "
                                          "edits load tests of single requests"):
        SuiteEditor.load(path)


# ------------------------------------------------------------------ fixed data: SVG snapshots

def canned_phase(n: int, rate: float, finished: bool, started: int, in_flight: int,
                 completed: int, elapsed_s: float, error: int = 0) -> PhaseStats:
    """A session phase as the engine sends it: sessions so far and ten turn indexes."""
    ph = phase(n, rate, (52, 60, 71), (118, 131, 140), finished, 40 * n)
    ph.elapsed_s, ph.length_s = elapsed_s, 3.0
    ph.achieved_rps = started / min(elapsed_s, 3.0)
    ph.sessions = SessionStats(planned=int(rate * 3), started=started, completed=completed,
                               error=error, subagents=2 * n, achieved_sps=ph.achieved_rps,
                               ramp_s=0.5, duration_s=Distribution(), slowdown=Distribution(),
                               in_flight=in_flight)
    ph.turns = [TurnStats(turn=k, requests=12 - k, ok=12 - k,
                          ttft_ms=Distribution(mean=48.0 + k), e2e_ms=Distribution(mean=110.0 + 2 * k),
                          context_tokens_mean=64.0 + 60 * k, cached_tokens_mean=60.0 + 57 * k,
                          cache_hit=1.0 if k == 1 else 0.9 + k / 200)
                for k in range(1, 11)]
    return ph


async def show_session_run(pilot) -> None:
    """Phase 1 starts its sessions, then drains beside phase 2."""
    the_app = pilot.app
    suite, ep = parse_run_suite(SESSIONS), load_endpoint(WORKSPACE / "endpoint.yml")
    screen = SessionRunScreen(RunController(the_app, suite, ep, RESULTS))
    await the_app.push_screen(screen)
    for event in (PhaseStarted("phase", 1, 2, 3, 53, 6), PhaseStarted("phase", 2, 4, 3, 106, 12)):
        screen.post_message(RunEventMessage(event))
    for i in range(1, 7):
        screen.post_message(RunSnapshotMessage(RunSnapshot(
            stage="running", phase=1, total_phases=2,
            phases=[canned_phase(1, 2, False, i, i, 0, i / 2)], elapsed_s=i / 2,
            remaining_s=6 - i / 2)))
        await pilot.pause()
    for i in range(1, 7):
        screen.post_message(RunSnapshotMessage(RunSnapshot(
            stage="running", phase=2, total_phases=2,
            phases=[canned_phase(1, 2, False, 6, 6 - i // 2, i // 2, 3 + i / 2, error=i // 4),
                    canned_phase(2, 4, False, int(1.6 * i) + 1, int(1.6 * i) + 1, 0, i * 0.4)],
            elapsed_s=3 + i / 2, remaining_s=3 - i / 2)))
        await pilot.pause()
    await pilot.pause(0.7)     # the chart redraws on its 0.5 s timer


def test_session_run_view_narrow(snap_compare):
    """80x24: the sessions panel keeps its in-flight line between the phases and the chart."""
    assert snap_compare(app(), terminal_size=NARROW, run_before=show_session_run)


def test_session_run_sessions_maximised_narrow(snap_compare):
    """80x24, key 2: the sessions by phase (compact), in flight, the turn buckets."""
    async def maximise(pilot):
        await show_session_run(pilot)
        await pilot.press("2")
        await pilot.pause()
    assert snap_compare(app(), terminal_size=NARROW, run_before=maximise)


def test_session_run_view_wide(snap_compare):
    """120x40: every column of the sessions table, the turn buckets under it."""
    assert snap_compare(app(), terminal_size=SIZE, run_before=show_session_run)


async def test_tokenflood_edit_opens_a_session_suite_as_text(tmp_path):
    (tmp_path / "sessions.yml").write_text(SESSIONS)
    app = TokenfloodApp(Launch("edit", folder=tmp_path, results_root=tmp_path / "results",
                               file=tmp_path / "sessions.yml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        assert isinstance(app.screen, SuiteTextEditor) and app.screen.text == SESSIONS
        assert "✓ valid" in str(app.screen.query_one("#check-ok").render())


def test_the_home_headline_of_a_session_run_says_sessions_per_second():
    from tokenflood_tui.workspace import headline
    s = RunSummary.load(SESSION_RESULTS)
    top = s.phases[-1]
    assert headline(s) == f"TTFT p50 {top.ttft_ms.at(50):.0f} ms @ 4 sessions/s"


def _relative(folder: Path) -> Path:
    return folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder


def test_session_results_sessions_narrow(snap_compare):
    """80x24, key 2: how the sessions ended, their rates, durations, in flight, every turn."""
    async def sessions(pilot):
        await pilot.pause(0.3)
        await pilot.press("2")
        await pilot.pause(0.3)
    assert snap_compare(app(mode="results", results_dir=_relative(SESSION_RESULTS)),
                        terminal_size=NARROW, run_before=sessions)


def test_session_results_view_wide(snap_compare):
    """120x40: the phases in sessions/s, then the sessions' sections under them."""
    async def settle(pilot):
        await pilot.pause(0.7)
    assert snap_compare(app(mode="results", results_dir=_relative(SESSION_RESULTS)),
                        terminal_size=SIZE, run_before=settle)
