"""Observation runs against the simulator: polls on wall-clock slots, requests spread over the
window, a poll during an outage recorded with its failures, polls.csv and the over-time chart."""

from __future__ import annotations

import csv
import re
import threading
from datetime import datetime

import pytest

from support.journal import wait_for_journal
from support.proxies import TcpProxy
from support.specs import endpoint_yml
from support.tokenflood import run_tokenflood, write

INTERVAL_S = 6.0
POLLS = 4
WITHIN_S = 2.0
REQUESTS = 3


def observation(tmp_path, base_url: str, extra: str = "") -> None:
    write(tmp_path / "obs.yml", f"""\
type: observation
name: watch
duration_hours: {POLLS * INTERVAL_S / 3600}
polling_interval_minutes: {INTERVAL_S / 60}
num_requests: {REQUESTS}
within_seconds: {WITHIN_S}
load_type: {{prompt_length: 64, output_length: 4}}
{extra}""")
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url))


def utc(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_polls_start_on_their_slots_and_an_outage_is_one_poll_of_failures(tmp_path, sim, tokenflood):
    proxy = TcpProxy(sim.port)
    observation(tmp_path, f"http://127.0.0.1:{proxy.port}/v1")

    def outage() -> None:           # the server is away for the second poll only
        wait_for_journal(tmp_path, '"event":"phase_finished","phase":1,')
        proxy.down = True
        wait_for_journal(tmp_path, '"event":"phase_finished","phase":2,')
        proxy.down = False

    watcher = threading.Thread(target=outage, daemon=True)
    watcher.start()
    try:
        done = tokenflood("run", "obs.yml", "endpoint.yml", "--yes", "--headless", "--workers", "0",
                          timeout=90)
    finally:
        proxy.close()
    assert done.code == 0, done.stderr
    folder = done.folder()
    s = done.summary()
    assert s["type"] == "observation" and s["status"] == "completed" and s["phases"] == []
    polls = s["polls"]
    assert [p["phase"] for p in polls] == [1, 2, 3, 4] and not any(p["missed"] for p in polls)
    # slots on whole multiples of the interval in UTC, one interval apart
    slots = [utc(p["slot_utc"]) for p in polls]
    assert all(abs(t / INTERVAL_S - round(t / INTERVAL_S)) < 1e-6 for t in slots)
    assert [b - a for a, b in zip(slots, slots[1:], strict=False)] == [INTERVAL_S] * (POLLS - 1)
    # the outage: poll 2 all failed, and the poll after it went ahead
    assert [(p["sent"], p["ok"]) for p in polls] == [(3, 3), (3, 0), (3, 3), (3, 3)]
    assert {e["status"] for e in polls[1]["errors"]} <= {"connection_error", "stream_error"}

    with open(folder / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == POLLS * REQUESTS
    for k in range(1, POLLS + 1):
        poll_rows = sorted((r for r in rows if r["poll"] == str(k)), key=lambda r: float(r["t_sched_s"]))
        sched = [utc(r["t_sched_utc"]) for r in poll_rows]
        # spread evenly over within_seconds from the slot
        assert sched == pytest.approx([slots[k - 1] + i * WITHIN_S / REQUESTS for i in range(3)],
                                      abs=0.005)
        if k != 2:
            # each left on time: dispatch delay is what a slot's start error would show
            assert all(float(r["dispatch_delay_ms"]) < 100 for r in poll_rows)
    with open(folder / "polls.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["poll"], r["status"], r["sent"], r["ok"]) for r in table] == [
        ("1", "ok", "3", "3"), ("2", "ok", "3", "0"), ("3", "ok", "3", "3"), ("4", "ok", "3", "3")]
    chart = (folder / "latency_over_time.txt").read_text()
    assert "TTFT (ms) per poll" in chart and "end-to-end latency (ms) per poll" in chart
    assert (folder / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert max(len(line) for line in chart.splitlines()) == 100   # not cut to a missing terminal
    # summary.md and the table printed after the run: the polls, with the outage poll
    md = (folder / "summary.md").read_text()
    assert md.startswith("# tokenflood observation `watch") and "## Hours of day (UTC)" in md
    assert "- polls: 4 ran, 0 missed (4 of 4 recorded); requests: 12 sent, 9 ok, 3 failed" in md
    printed = done.stdout.split("\npolls:\n", 1)[1]
    assert [line.split("|")[3].strip() for line in printed.splitlines()[2:6]] == [
        "ok", "all failed", "ok", "ok"]
    assert "by hour of day (UTC):" in done.stdout and "failures:" in done.stdout
    # by hour of day: every request counted once, the failed ones not in the latencies
    assert sum(h["requests"] for h in s["hours"]) == 12 and sum(h["ok"] for h in s["hours"]) == 9
    assert all(h["ttft_ms"]["p50"] > 0 for h in s["hours"])


def test_a_slot_that_passes_while_the_previous_poll_drains_is_missed(tmp_path, sim):
    # Poll 1's three requests get no answer until their 9 s timeout: it drains after poll 2's
    # window (its slot + 2 s) has ended, so poll 2 is missed and poll 3 goes ahead on its slot.
    proxy = TcpProxy(sim.port, hold=lambda request: b'"max_tokens":5,' in request, limit=3)
    observation(tmp_path, f"http://127.0.0.1:{proxy.port}/v1", "request_timeout_seconds: 9\n")
    write(tmp_path / "obs.yml", (tmp_path / "obs.yml").read_text()
          .replace(f"duration_hours: {POLLS * INTERVAL_S / 3600}",
                   f"duration_hours: {3 * INTERVAL_S / 3600}")
          .replace("output_length: 4", "output_length: 5"))
    try:
        done = run_tokenflood("run", "obs.yml", "endpoint.yml", "--yes", "--headless",
                              "--workers", "0", cwd=tmp_path, timeout=120)
    finally:
        proxy.close()
    assert done.code == 0, done.stderr
    s = done.summary()
    polls = s["polls"]
    assert [p["phase"] for p in polls] == [1, 2, 3] and proxy.held == 3
    assert [e["status"] for e in polls[0]["errors"]] == ["timeout"], done.stderr
    assert polls[1]["sent"] == 0 and "its slot passed" in polls[1]["missed"]
    assert polls[2]["missed"] is None and polls[2]["ok"] == 3
    assert re.search(r"warning: poll 2/3 \d\d:\d\d:\d\d UTC missed: its slot passed", done.stderr)
    with open(done.folder() / "polls.csv", newline="") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok", "missed", "ok"]
