"""The over-time chart of an observation (charts.render_over_time): round clock times on the
axis with the date where a day begins, gaps where polls were missed, the size it is asked for,
the polls the provider throttled marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tokenflood_tui.outputs import charts
from tokenflood_tui.metrics.summary import RateLimitStats, RunSummary
from tokenflood_tui.tui.widgets.over_time_chart import sample

from support.observations import NOT_RUNNING, OBSERVATION, START, long_polls, poll

PAST_RUN = OBSERVATION.parents[1] / "workspace" / "past-runs" / "2026-01-02_03-04-05_tmux-demo_sim-model"


def axis_labels(chart: str) -> list[str]:
    """The tick labels under the first subplot's x axis (apart by 2+ spaces; a label such as
    "Dec 02" holds one)."""
    lines = chart.splitlines()
    below = lines[next(i for i, line in enumerate(lines) if line.lstrip().startswith("└")) + 1]
    return [part.strip() for part in below.split("  ") if part.strip()]


def test_a_three_day_run_is_labelled_with_days_and_round_hours():
    polls = long_polls()                     # 288 polls, 15 min apart, Dec 01 13:45 .. Dec 04 13:30
    assert polls[-1].slot_utc == "2026-12-04T13:30:00Z"
    chart = charts.render_over_time(polls, [50, 90, 99], width=100, height=40, colour=False)
    assert axis_labels(chart) == ["Dec 02", "12:00", "Dec 03", "12:00", "Dec 04", "12:00"]
    assert "poll slot (UTC)" in chart          # no single date: the labels carry it
    # wider: 6-hour ticks, the first one with its date
    ticks, labels = charts.time_ticks(START, START + timedelta(hours=71.75), 200)
    assert labels == ["Dec 01 18:00", "Dec 02", "06:00", "12:00", "18:00", "Dec 03", "06:00",
                      "12:00", "18:00", "Dec 04", "06:00", "12:00"]
    assert all(t.minute == 0 and t.hour % 6 == 0 for t in ticks)
    # at 80 columns, one tick a day
    chart = charts.render_over_time(polls, [50], ["ttft_ms"], width=76, height=16, colour=False)
    assert axis_labels(chart) == ["Dec 02", "Dec 03", "Dec 04"]


def test_runs_within_a_day_are_labelled_with_the_clock_time_and_the_date_below():
    hour = [poll(k, datetime(2026, 12, 2, 10, tzinfo=UTC) + timedelta(minutes=5 * (k - 1)), 100.0)
            for k in range(1, 13)]            # 10:00 .. 10:55
    chart = charts.render_over_time(hour, [50], ["ttft_ms"], width=88, height=14, colour=False)
    assert axis_labels(chart) == ["10:00", "10:10", "10:20", "10:30", "10:40", "10:50"]
    assert "poll slot (UTC, 2026-12-02)" in chart
    fixture = RunSummary.load(OBSERVATION)     # 36 seconds: seconds on the axis
    chart = charts.render_over_time(fixture.polls, fixture.percentiles, width=100, height=30,
                                    colour=False)
    assert axis_labels(chart) == ["13:52:10", "13:52:15", "13:52:20", "13:52:25", "13:52:30",
                                  "13:52:35"]


def inked_runs(chart: str) -> int:
    """How many separate runs of columns the first subplot's lines and markers cover (the key is
    under the chart, not on the lines)."""
    lines = chart.splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    left = lines[top].index("┌")
    rows = [list(line[left + 1:]) for line in lines[top + 1:bottom]]
    width = max(len(r) for r in rows) - 1             # less the right frame
    inked = [any(c < len(r) and r[c] not in " │" for r in rows) for c in range(width)]
    return sum(1 for c in range(width) if inked[c] and (c == 0 or not inked[c - 1]))


def test_missed_polls_leave_a_gap_in_the_lines():
    slots = [START + timedelta(minutes=15 * k) for k in range(20)]
    whole = [poll(k + 1, t, 300.0 + k) for k, t in enumerate(slots)]
    gap = [poll(k + 1, t, 300.0 + k, NOT_RUNNING if 8 <= k + 1 <= 12 else None)
           for k, t in enumerate(slots)]
    draw = lambda polls: charts.render_over_time(polls, [50], ["ttft_ms"], width=60,  # noqa: E731
                                                 height=12, colour=False)
    assert inked_runs(draw(whole)) == 1
    assert inked_runs(draw(gap)) == 2
    # a poll where every request failed has no latency either: a gap too
    failed = [poll(k + 1, t, 300.0 + k, failed=3 if k + 1 == 10 else 0) for k, t in enumerate(slots)]
    assert inked_runs(draw(failed)) == 2


def test_charts_are_as_wide_as_asked_whatever_the_terminal(monkeypatch):
    # plotext shrinks a figure to the terminal (COLUMNS, or 80 without one): a chart saved by a
    # run under nohup, or drawn in a wide TUI widget, came out narrower than asked
    monkeypatch.setenv("COLUMNS", "60")
    over_time = charts.render_over_time(long_polls(), [50, 90, 99], width=130, height=30,
                                        colour=False)
    assert max(len(line) for line in over_time.splitlines()) == 130
    by_rate = charts.render(RunSummary.load(PAST_RUN).phases, [50, 99], width=118, height=20,
                            colour=False)
    assert max(len(line) for line in by_rate.splitlines()) == 118


def test_an_observation_of_a_reasoning_model_charts_ttfa_between_ttft_and_e2e():
    polls = [poll(k, datetime(2026, 12, 2, 10, tzinfo=UTC) + timedelta(minutes=5 * (k - 1)), 100.0)
             for k in range(1, 7)]
    plain = charts.render_over_time(polls, [50], width=88, height=30, colour=False)
    assert "TTFA" not in plain                       # a model that does not reason: as before
    for p in polls:
        p.reasoning = True
        p.ttfa_ms = p.ttft_ms.model_copy(update={"p50": 2100.0})
    chart = charts.render_over_time(polls, [50], width=88, height=45, colour=False)
    titles = [line.strip() for line in chart.splitlines() if "per poll" in line]
    assert titles == ["TTFT (ms) per poll", "TTFA: first answer token (ms) per poll",
                      "end-to-end latency (ms) per poll"]
    assert "2000┤" in chart.replace(" ", "")           # TTFA's own axis, from 0 up past 2100


def zero_line(chart: str) -> str:
    """The first subplot's row at 0 ms (where the throttled polls are marked), inside the frame."""
    row = next(line for line in chart.splitlines() if line.lstrip().startswith("0┤"))
    return row.split("┤", 1)[1]


def test_throttled_polls_are_marked_on_the_zero_line_with_a_key_and_survive_sampling():
    slots = [START + timedelta(minutes=15 * k) for k in range(20)]
    polls = [poll(k + 1, t, 300.0 + k) for k, t in enumerate(slots)]
    plain = charts.render_over_time(polls, [50], ["ttft_ms"], width=60, height=12, colour=False)
    assert "▲" not in plain and "throttled" not in plain
    for k in (4, 5, 15):                                   # polls 5, 6 and 16
        polls[k].rate_limits = RateLimitStats(throttled=2, throttled_by_kind={"requests": 2})
    chart = charts.render_over_time(polls, [50], ["ttft_ms"], width=60, height=12, colour=False)
    marks = zero_line(chart)
    assert marks.count("▲") == 3
    # left to right, where the polls are: 5 and 6 side by side, 16 three quarters along
    first, last = marks.index("▲"), marks.rindex("▲")
    assert 0.15 < first / len(marks) < 0.3 and 0.7 < last / len(marks) < 0.85
    assert chart.splitlines()[-1].strip() == "p50 •  ▲ throttled poll"
    # the TUI's chart draws at most two polls a column, the slowest of each stretch: a stretch
    # with a throttled poll is marked, whichever poll stands for it
    many = long_polls()                                    # 288 polls
    # poll 97 (TTFT 397 ms) is not the slowest of polls 97-100: poll 99 (399 ms) is
    many[96].rate_limits = RateLimitStats(throttled=1)
    shown = sample(many, "ttft_ms", 99.0, limit=72)
    assert len(shown) == 72
    (marked,) = [p for p in shown if charts.throttled(p)]
    assert (marked.phase, marked.rate_limits.throttled) == (99, 1)
    assert many[98].rate_limits is None                    # the poll itself is left as it was
    drawn = charts.render_over_time(shown, [50], ["ttft_ms"], width=40, height=12, colour=False)
    assert zero_line(drawn).count("▲") == 1
