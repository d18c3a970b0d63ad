"""What a session run's readers say (outputs/session_tables.py, printed, report, headless, the
saturation wording, the charts), from the summary.json of a real session run against the
simulator (2 and 4 sessions/s, chats of 3 turns and agents of 12 steps, 10% of requests failing
with `on_error: skip`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenflood_tui.headless import progress_line
from tokenflood_tui.metrics.saturation import SaturationPoint, phase_warning
from tokenflood_tui.metrics.summary import PhaseStats, RunSummary
from tokenflood_tui.outputs import charts, printed, report, session_tables
from tokenflood_tui.outputs.formats import sparkline
from tokenflood_tui.run.coordinator import RunSnapshot

SESSION_RUN = next((Path(__file__).parents[1] / "fixtures" / "session-run").iterdir())
REQUEST_RUN = next((Path(__file__).parents[1] / "tui" / "fixtures" / "workspace"
                    / "past-runs").iterdir())
SHORT = Path("results/run")


@pytest.fixture
def summary() -> RunSummary:
    return RunSummary.load(SESSION_RUN)


def test_a_summary_says_what_its_rates_count_and_older_ones_read_by_their_phases(tmp_path):
    assert RunSummary.load(SESSION_RUN).rate_unit == "sessions/s"
    assert RunSummary.load(REQUEST_RUN).rate_unit == "req/s"
    # a session run's summary.json written before the key: its phases have sessions
    data = json.loads((SESSION_RUN / "summary.json").read_text())
    del data["workload"]
    assert RunSummary.model_validate(data).workload == "sessions"
    older = json.loads((REQUEST_RUN / "summary.json").read_text())
    assert "workload" not in older and RunSummary.model_validate(older).workload == "requests"


def test_counts_become_bars_from_none_to_the_top_and_a_peak_survives_narrowing():
    assert sparkline([0, 1, 2, 4, 8], 5, top=8) == "·▁▂▄█"
    assert sparkline([0, 3, 6], 3) == "·▄█"                 # its own highest by default
    assert sparkline([0, 0, 5, 0, 0, 0], 3) == "·█·"        # each character the highest it covers
    assert sparkline([1, 2, 3, 4], 8, top=4) == "▂▄▆█"      # fewer points than width: one each
    assert sparkline([], 10) == ""


@pytest.mark.parametrize("width", [60, 80, 100, 120, 160])
def test_no_line_of_a_session_runs_summary_is_longer_than_the_terminal(summary, width):
    out = printed.text(summary, SHORT, width)
    assert [line for line in out.splitlines() if len(line) > width] == []
    for title in ("sessions", "turns", "sessions in flight"):
        assert f"\n{title}:\n" in out


def test_a_terminal_shows_the_first_turns_the_powers_of_two_and_the_last(summary):
    assert all([t.turn for t in ph.turns] == list(range(1, 13)) for ph in summary.phases)
    out = printed.text(summary, SHORT, 80)
    turns = out.split("\nturns:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = [line.split() for line in turns if line.split()[0].isdigit()]
    assert [(r[0], r[1]) for r in rows] == [(str(p), str(t)) for p in (1, 2)
                                            for t in (1, 2, 3, 4, 8, 12)]
    assert "turns 5-7, 9-11 of each phase not shown (summary.md has every turn)" in \
        " ".join(" ".join(turns).split())
    # summary.md and --format md: every turn of every phase
    for md, title in ((report.markdown(summary), "\n## Turns\n\n"),
                      (printed.markdown(summary, SHORT), "\nturns:\n")):
        body = md.split(title, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
        assert [tuple(c.strip() for c in line.strip("|").split("|")[:2]) for line in body] == \
            [(str(p), str(t)) for p in (1, 2) for t in range(1, 13)]


def test_a_request_runs_outputs_have_no_session_tables():
    s = RunSummary.load(REQUEST_RUN)
    assert session_tables.sections(s.phases, s.percentiles) == []
    out = printed.text(s, SHORT, 120) + report.markdown(s) + printed.markdown(s, SHORT)
    assert "session" not in out.lower()
    assert "| phase | target req/s | achieved req/s |" in report.markdown(s)


def _ramped(ph: PhaseStats, ramp_s: float, requests: int) -> PhaseStats:
    assert ph.sessions is not None
    return ph.model_copy(update={"sessions": ph.sessions.model_copy(
        update={"ramp_s": ramp_s, "ramp_requests": requests})})


def test_the_ramp_line_says_what_each_phase_kept_out(summary):
    one, two = summary.phases
    assert session_tables.ramp_line([one]) == (
        "ramp: the first 1 s of phase 1 (12 requests) kept out of its latency figures and goodput "
        "(its sessions were ramping up)")
    assert session_tables.ramp_line([one, two]) == (
        "ramp: the first 1 s of each phase (12 requests in phase 1, 16 requests in phase 2) kept "
        "out of their latency figures and goodput (their sessions were ramping up)")
    assert session_tables.ramp_line([_ramped(one, 11.73, 40), _ramped(two, 8, 1)]) == (
        "ramp: the first 11.7 s of phase 1 (40 requests), 8 s of phase 2 (1 request) kept out of "
        "their latency figures and goodput (their sessions were ramping up)")
    assert session_tables.ramp_line([_ramped(one, 0, 0)]) is None


def test_the_progress_line_of_a_session_phase_counts_sessions_and_requests(summary):
    one, two = summary.phases
    assert one.sessions is not None and two.sessions is not None
    live = [one.model_copy(update={"sessions": one.sessions.model_copy(update={"in_flight": 3})}),
            two.model_copy(update={"sessions": two.sessions.model_copy(
                update={"started": 7, "in_flight": 5}), "sent": 31, "in_flight": 2,
                "elapsed_s": 2.2})]
    snap = RunSnapshot("running", 2, 2, live, 6.4, 1.8)
    assert progress_line(snap).startswith(
        "phase 2/2 4 sessions/s 2/4 s | elapsed 6 s | sessions 7/16 started, in flight 5 (+3 of "
        "earlier phases) | requests sent 31, in flight 2 | done 152 | failed 13 | TTFT p50 ")


def test_saturation_is_worded_in_the_phases_unit(summary):
    one, two = summary.phases
    hot = two.model_copy(update={"saturated": True, "saturation": "TTFT p50 grew from 51 ms to "
                                                                  "3.5 s within the phase"})
    assert phase_warning(hot) == ("phase 2 (4 sessions/s): the server saturated: TTFT p50 grew "
                                  "from 51 ms to 3.5 s within the phase")
    assert SaturationPoint(hot, one).warning() == (
        "the server saturated at about 4 sessions/s (phase 2); the highest rate it held was "
        "2 sessions/s (phase 1)")
    s = summary.model_copy(update={"saturated_at_rps": 4.0, "held_rps": 2.0})
    assert report.saturation_line(s) == ("the server saturated at about 4 sessions/s; the "
                                         "highest rate it held was 2 sessions/s")


def test_the_latency_chart_of_a_session_run_is_by_session_rate(summary):
    chart = charts.render(summary.phases, [50], ["ttft_ms"], width=80, height=20, colour=False)
    assert "TTFT (ms) by session rate" in chart and "target sessions/s" in chart
    requests = RunSummary.load(REQUEST_RUN)
    chart = charts.render(requests.phases, [50], ["ttft_ms"], width=80, height=20, colour=False)
    assert "by request rate" in chart and "target req/s" in chart
