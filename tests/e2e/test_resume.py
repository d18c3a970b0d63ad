"""`tokenflood resume` after a SIGKILL: no row lost or duplicated, finished phases not re-run, the
summary complete; completed runs and folders that cannot be resumed get a clear message."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import Counter

import pytest

from support.journal import wait_for_journal
from support.proxies import TcpProxy
from support.specs import endpoint_yml
from support.tokenflood import run_tokenflood, start, write
from support.unfinished import PHASE_2_STARTED, PHASE_3_STARTED, THREE_PHASES, rows, stop_when


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_killed_load_test_resumes_at_its_unfinished_phase(tmp_path, sim, workers):
    write(tmp_path / "run.yml", THREE_PHASES)
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    proc = start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", workers)
    # killed in phase 2, after phase 1 finished and while phase 2 is under way
    stop_when(proc, tmp_path, PHASE_2_STARTED)
    (folder,) = (tmp_path / "results").iterdir()
    assert not (folder / "summary.json").exists()
    before = rows(folder)
    assert Counter(r["phase"] for r in before)["1"] == 20

    done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", workers,
                          cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert "resuming" in done.stderr and "phase 2" in done.stderr
    after = rows(folder)
    # every row written before is still there, as it was (the half-done phase's now superseded)
    assert [{k: v for k, v in r.items() if k != "superseded"} for r in after[:len(before)]] == [
        {k: v for k, v in r.items() if k != "superseded"} for r in before]
    kept = [r for r in after if r["superseded"] == "false"]
    assert Counter(r["phase"] for r in kept) == {"1": 20, "2": 20, "3": 20}
    assert all(r["superseded"] == "true" for r in after[:len(before)] if r["phase"] == "2")
    # phase 1 was not sent again; no arrival is counted twice
    assert len({r["seq"] for r in kept}) == 60
    assert sum(r["phase"] == "1" for r in after) == 20
    s = json.loads((folder / "summary.json").read_text())
    assert s["status"] == "completed" and [(p["phase"], p["sent"]) for p in s["phases"]] == [
        (1, 20), (2, 20), (3, 20)]
    (resumed,) = s["resumed"]
    assert resumed["from_phase"] == 2 and resumed["superseded_rows"] == sum(
        r["phase"] == "2" for r in before)
    # times go on from the first run's origin, across the gap
    assert float(kept[-1]["t_sched_s"]) > float(before[-1]["t_sched_s"])

    again = run_tokenflood("resume", folder.name, "--yes", "--headless", cwd=tmp_path)
    assert again.code == 2 and "this run completed; there is nothing to resume" in again.stderr


def test_a_killed_observation_resumes_at_the_next_slot_and_records_the_gap(tmp_path, sim):
    interval = 4.0
    write(tmp_path / "obs.yml", f"""\
type: observation
name: watch
duration_hours: {6 * interval / 3600}
polling_interval_minutes: {interval / 60}
num_requests: 2
within_seconds: 1
load_type: {{prompt_length: 64, output_length: 4}}
""")
    proxy = TcpProxy(sim.port)         # down for poll 1: its failures must be warned about still
    write(tmp_path / "endpoint.yml", endpoint_yml(f"http://127.0.0.1:{proxy.port}/v1"))

    def outage() -> None:
        wait_for_journal(tmp_path, '"event":"run_started"')     # before poll 1's slot
        proxy.down = True
        wait_for_journal(tmp_path, '"event":"phase_finished","phase":1,')
        proxy.down = False

    threading.Thread(target=outage, daemon=True).start()
    proc = start(tmp_path, "run", "obs.yml", "endpoint.yml", "--workers", "0")
    stop_when(proc, tmp_path, '"event":"phase_finished","phase":2,')
    (folder,) = (tmp_path / "results").iterdir()
    before = rows(folder)
    time.sleep(2 * interval)                  # down for about two slots
    try:
        done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", "0",
                              cwd=tmp_path, timeout=120)
    finally:
        proxy.close()
    assert done.code == 0, done.stderr
    s = json.loads((folder / "summary.json").read_text())
    assert any(w.startswith("phase 1: 100% of requests failed") for w in s["warnings"])
    polls = s["polls"]
    assert [p["phase"] for p in polls] == [1, 2, 3, 4, 5, 6]
    missed = [p for p in polls if p["missed"]]
    ran = [p for p in polls if not p["missed"]]
    assert 1 <= len(missed) <= 4 and all(p["sent"] == 0 for p in missed)
    # down, cut short by the kill, or passed while the resume warmed up
    assert all(any(why in p["missed"] for why in ("not running", "interrupted",
                                                  "before tokenflood was ready"))
               for p in missed), missed
    assert polls[0]["ok"] == 0 and all(p["ok"] == 2 for p in ran[1:])
    assert {1, 2} <= {p["phase"] for p in ran}
    after = rows(folder)
    # polls 1 and 2 finished before the kill: their rows are kept as they were
    finished = [r for r in before if r["poll"] in ("1", "2")]
    assert [r for r in after if r["poll"] in ("1", "2")] == finished and len(finished) == 4
    kept = [r for r in after if r["superseded"] == "false"]
    assert len(kept) == 2 * len(ran) and len({r["seq"] for r in kept}) == len(kept)
    assert s["resumed"][0]["missed_polls"] >= 1
    with open(folder / "polls.csv", newline="") as f:
        assert [r["status"] for r in csv.DictReader(f)] == [
            "missed" if p["missed"] else "ok" for p in polls]


def test_a_folder_without_a_journal_or_with_redacted_secrets_says_what_to_do(tmp_path, sim):
    folder = tmp_path / "results" / "2026-01-01_00-00-00_old_m"
    folder.mkdir(parents=True)
    write(folder / "run.yml", "name: old\nrequests_per_second_rates: [1]\ntest_length_in_seconds: 2\n"
          "load_types:\n- {prompt_length: 64, output_length: 4}\n")
    done = run_tokenflood("resume", folder.name, "--yes", "--headless", cwd=tmp_path)
    assert done.code == 2 and "no journal.jsonl" in done.stderr and "Traceback" not in done.stderr
    write(folder / "journal.jsonl", "")
    write(folder / "endpoint.yml", "provider: hosted_vllm\nmodel: m\nbase_url: http://127.0.0.1:9/v1\n"
          "extra_headers: {Authorization: '***redacted***'}\n")
    done = run_tokenflood("resume", folder.name, "--yes", "--headless", cwd=tmp_path)
    assert done.code == 2 and "--endpoint ENDPOINT.yml" in done.stderr


def table(folder, name: str) -> list[dict]:
    with open(folder / name, newline="") as f:
        return list(csv.DictReader(f))


SESSIONS = """\
name: chats
sessions_per_second_rates: [3, 3, 3]
test_length_in_seconds: 3
arrival: constant
history: echo
ramp_seconds: 0
session_types:
- {name: chat, system_prompt_tokens: 32, turns: 3, user_tokens: 16, output_tokens: 4,
   think_seconds: 0.5}
"""


def test_a_killed_session_run_reruns_every_phase_from_its_first_unfinished_one(tmp_path, sim):
    """Sessions last about 1.1 s past their start, so a phase drains while the next one sends:
    killed as phase 3 starts, phase 1 has finished and phase 2 is draining, its last sessions
    in flight. Phases 2 and 3 run again in full; every row before stays, theirs superseded."""
    write(tmp_path / "run.yml", SESSIONS)
    write(tmp_path / "endpoint.yml",
          f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n")
    proc = start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0")
    stop_when(proc, tmp_path, PHASE_3_STARTED)
    (folder,) = (tmp_path / "results").iterdir()
    journal = (folder / "journal.jsonl").read_text()
    assert '"phase_finished","phase":1,' in journal
    assert '"phase_finished","phase":2,' not in journal        # draining when killed
    before, sessions_before = table(folder, "requests.csv"), table(folder, "sessions.csv")
    assert Counter(r["phase"] for r in before)["1"] == 9 * 3
    # sessions of phase 2 were in flight: some of its requests have rows, not all its sessions
    assert 0 < sum(r["phase"] == "2" for r in before) < 9 * 3
    assert sum(s["phase"] == "2" for s in sessions_before) < 9

    done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", "0",
                          cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert "phase 2" in done.stderr
    after, sessions_after = table(folder, "requests.csv"), table(folder, "sessions.csv")
    # every row written before is there, as it was, but for its superseded mark
    def unmarked(rows):
        return [{k: v for k, v in r.items() if k != "superseded"} for r in rows]
    assert unmarked(after[:len(before)]) == unmarked(before)
    assert unmarked(sessions_after[:len(sessions_before)]) == unmarked(sessions_before)
    assert all((r["superseded"] == "true") == (r["phase"] != "1") for r in after[:len(before)])
    assert all((s["superseded"] == "true") == (s["phase"] != "1")
               for s in sessions_after[:len(sessions_before)])
    # what counts: each phase's 9 sessions of 3 requests, once; phase 1 never sent again
    kept = [r for r in after if r["superseded"] == "false"]
    assert Counter(r["phase"] for r in kept) == {"1": 27, "2": 27, "3": 27}
    assert len({(r["session"], r["turn"]) for r in kept}) == 81
    assert sum(r["phase"] == "1" for r in after) == 27
    kept_sessions = [s for s in sessions_after if s["superseded"] == "false"]
    assert len(kept_sessions) == 27 and len({s["session"] for s in kept_sessions}) == 27
    assert {s["end"] for s in kept_sessions} == {"completed"}
    assert {s["session"] for s in kept_sessions} == {r["session"] for r in kept}
    # a re-run session has the ids and scripts it had: the same requests, turn by turn
    first = {(r["session"], r["turn"]): r["prompt_tokens_target"] for r in before
             if r["phase"] == "2"}
    again = {(r["session"], r["turn"]): r["prompt_tokens_target"] for r in kept
             if (r["session"], r["turn"]) in first}
    assert again == first
    s = json.loads((folder / "summary.json").read_text())
    assert s["status"] == "completed"
    assert [(p["phase"], p["sessions"]["started"], p["sessions"]["completed"], p["sent"])
            for p in s["phases"]] == [(1, 9, 9, 27), (2, 9, 9, 27), (3, 9, 9, 27)]
    (resumed,) = s["resumed"]
    assert resumed["from_phase"] == 2 and resumed["superseded_rows"] == sum(
        r["phase"] != "1" for r in before)
