"""A headless observation against the simulator writes one line per poll, with the poll's own
figures, and no once-a-second progress: what a days-long run under nohup or systemd leaves in its
log. A resumed run reports only the polls it ran itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime

from support.journal import journal_has, wait_for_journal
from support.proxies import TcpProxy
from support.specs import endpoint_yml
from support.tokenflood import TOKENFLOOD, other_than_lateness, run_tokenflood, write

INTERVAL_S = 6.0       # over the client's 4 s idle limit: each poll opens new connections
WITHIN_S = 2.0
REQUESTS = 3
POLL_LINE = re.compile(
    r"^\[tokenflood\] poll (?P<poll>\d+)/(?P<total>\d+) (?P<slot>\d\d:\d\d:\d\d) UTC done: "
    r"sent (?P<sent>\d+), ok (?P<ok>\d+), failed (?P<failed>\d+)(?: \((?P<kinds>[^)]*)\))?"
    r" \| TTFT p50/p90/p99 (?P<ttft>\S+) ms \| e2e p50/p90/p99 (?P<e2e>\S+) ms"
    r" \| (?:next poll (?P<next>\d\d:\d\d:\d\d) UTC|that was the last poll)$")


def observation(tmp_path, base_url: str, polls: int) -> None:
    write(tmp_path / "obs.yml", f"""\
type: observation
name: journal
duration_hours: {polls * INTERVAL_S / 3600}
polling_interval_minutes: {INTERVAL_S / 60}
num_requests: {REQUESTS}
within_seconds: {WITHIN_S}
load_type: {{prompt_length: 64, output_length: 4}}
""")
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url))


def hms(iso: str) -> str:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).strftime("%H:%M:%S")


def figures(dist: dict) -> str:
    return "/".join("-" if dist[k] is None else f"{dist[k]:.1f}" for k in ("p50", "p90", "p99"))


def test_one_line_per_poll_with_its_figures_and_no_progress_lines(tmp_path, sim, tokenflood):
    proxy = TcpProxy(sim.port)
    observation(tmp_path, f"http://127.0.0.1:{proxy.port}/v1", polls=3)

    def outage() -> None:           # the server is away for the second poll only
        wait_for_journal(tmp_path, '"event":"phase_finished","phase":1,')
        proxy.down = True
        wait_for_journal(tmp_path, '"event":"phase_finished","phase":2,')
        proxy.down = False

    threading.Thread(target=outage, daemon=True).start()
    try:
        done = tokenflood("run", "obs.yml", "endpoint.yml", "--yes", "--headless", "--workers", "0",
                          timeout=90)
    finally:
        proxy.close()
    assert done.code == 0, done.stderr
    err = done.stderr
    assert "\r" not in err and "\x1b" not in err        # no carriage returns, no colour
    lines = err.splitlines()
    polls = [m for line in lines if (m := POLL_LINE.match(line))]
    assert [int(m["poll"]) for m in polls] == [1, 2, 3], err
    assert all(m["total"] == "3" for m in polls)
    # no per-second progress, no line per poll start: the poll lines say it
    assert not any("| elapsed " in line or re.search(r"phase \d+/\d+ ", line) for line in lines)
    assert not any(re.search(r"\] poll \d+: [\d.]+ req/s for ", line) for line in lines)
    # each line carries that poll's figures as summary.json has them
    summary = done.summary()
    for m, p in zip(polls, summary["polls"], strict=True):
        assert m["slot"] == hms(p["slot_utc"])
        assert (int(m["sent"]), int(m["ok"]), int(m["failed"])) == (p["sent"], p["ok"], p["failed"])
        assert m["ttft"] == figures(p["ttft_ms"]) and m["e2e"] == figures(p["e2e_ms"])
    assert [m["next"] for m in polls] == [hms(summary["polls"][1]["slot_utc"]),
                                          hms(summary["polls"][2]["slot_utc"]), None]
    # the outage: its failures by kind on its line, one error line for the poll, not three
    assert polls[0]["failed"] == "0" and polls[0]["kinds"] is None
    assert polls[1]["sent"] == "3" and polls[1]["ok"] == "0" and polls[1]["failed"] == "3"
    kinds = {e["status"] for e in summary["polls"][1]["errors"]}
    assert kinds <= {"connection_error", "stream_error"}
    assert all(re.fullmatch(r"(connection_error|stream_error) ×\d", k)
               for k in polls[1]["kinds"].split(", "))
    assert polls[1]["ttft"] == "-/-/-" and polls[1]["e2e"] == "-/-/-"
    assert sum(line.startswith("[tokenflood] error: poll 2: ") for line in lines) == 2
    assert "[tokenflood] error: poll 2: only the first failure of each poll is shown; the others " \
           "are counted on its poll line and kept in errors.log" in lines
    # every line the run wrote after the load began: the three poll lines, that one error and,
    # once for the run, where the others are counted
    first = next(i for i, line in enumerate(lines) if POLL_LINE.match(line))
    # (less a sender some ms late, which a busy machine causes and the run rightly says)
    assert len(other_than_lateness(lines[first:])) <= 5, "\n".join(lines[first:])


def test_a_resumed_observation_reports_only_the_polls_it_ran(tmp_path, sim):
    observation(tmp_path, sim.base_url, polls=4)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.Popen([TOKENFLOOD, "run", "obs.yml", "endpoint.yml", "--yes", "--headless",
                             "--results-dir", "results"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not journal_has(tmp_path, '"event":"phase_finished","phase":1,'):
        assert time.monotonic() < deadline, "poll 1 never finished"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    first_err = proc.communicate(timeout=10)[1]
    assert [m["poll"] for line in first_err.splitlines() if (m := POLL_LINE.match(line))] \
        in (["1"], [])                   # killed a moment after poll 1 finished
    folder = next((tmp_path / "results").glob("*"))
    time.sleep(INTERVAL_S)               # poll 2's slot passes while nothing runs
    done = run_tokenflood("resume", str(folder), "--yes", "--headless", cwd=tmp_path, timeout=90)
    assert done.code == 0, done.stderr
    lines = done.stderr.splitlines()
    ran = [int(m["poll"]) for line in lines if (m := POLL_LINE.match(line))]
    missed = [line for line in lines if " missed" in line and "] warning: poll" in line]
    assert 1 not in ran and ran and ran[-1] == 4, done.stderr
    # a late start is not that (a sender some ms late on a busy machine is, and is said)
    assert not [line for line in other_than_lateness(lines) if "the client was the bottleneck" in line]
    # poll 2 (and 3 if the resume was slow) missed while down: a line each, slot and next poll
    assert missed, done.stderr
    assert all(re.search(r"warning: poll \d/4 \d\d:\d\d:\d\d UTC missed: .* \| next "
                         r"poll \d\d:\d\d:\d\d UTC$", line) for line in missed), missed
    reported = sorted(ran + [int(re.search(r"poll (\d)/4", line)[1]) for line in missed])
    assert reported == [2, 3, 4]
