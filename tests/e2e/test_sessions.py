"""Session runs (docs/config.md#sessions) as a user runs them: `tokenflood run` headless against
the simulator, every figure read back from requests.csv, sessions.csv and summary.json."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.tokenflood import TOKENFLOOD, run_tokenflood, write

MIXED = """\
name: mixed
sessions_per_second_rates: [2]
test_length_in_seconds: 4
arrival: constant
history: echo
ramp_seconds: 0
session_types:
- name: chat
  weight: 2
  system_prompt_tokens: 64
  turns: 3
  user_tokens: 24
  output_tokens: 8
  think_seconds: 0.3
- name: agent
  weight: 1
  system_prompt_tokens: 128
  context_tokens: 40
  turns: 6
  user_tokens: 16
  output_tokens: 8
  think_seconds: 0.1
  tool_share: 0.5
  tool_call_tokens: 6
  tool_result_tokens: 30
  tool_seconds: 0.2
  subagents: {every: 3, count: 2, type: helper, result_tokens: 10}
- name: helper
  weight: 0.001
  turns: 2
  user_tokens: 12
  output_tokens: 6
"""


def endpoint(folder: Path, base_url: str) -> None:
    write(folder / "endpoint.yml", f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n")


def table(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / name, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """One echo-history run of chats and agents (tool steps, sub-agents) on a fast simulator."""
    cwd = tmp_path_factory.mktemp("mixed")
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2") as sim:
        write(cwd / "run.yml", MIXED)
        endpoint(cwd, sim.base_url)
        done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=cwd)
    assert done.code == 0, done.stderr
    folder = done.folder()
    return done, table(folder, "requests.csv"), table(folder, "sessions.csv"), done.summary()


def test_every_session_starts_on_schedule_and_runs_to_its_end(mixed):
    _, rows, sessions, summary = mixed
    top = [s for s in sessions if not s["parent"]]
    (phase,) = summary["phases"]
    assert len(top) == phase["sessions"]["planned"] == 8            # 2 sessions/s for 4 s
    assert phase["sessions"]["completed"] == 8 and phase["sessions"]["started"] == 8
    starts = sorted(float(s["t_start_s"]) for s in top)
    gaps = [b - a for a, b in pairwise(starts)]
    assert all(abs(g - 0.5) < 1e-3 for g in gaps), gaps            # constant arrivals, open loop
    assert all(s["end"] == "completed" and s["turns_done"] == s["turns_planned"] for s in sessions)
    by_session = defaultdict(list)
    for r in rows:
        by_session[r["session"]].append(r)
    for s in sessions:     # every request of a session is a row, turns 1..n in order
        turns = sorted(int(r["turn"]) for r in by_session[s["session"]])
        assert turns == list(range(1, int(s["turns_planned"]) + 1))
    assert len(rows) == phase["sent"] == phase["ok"]


def test_each_request_sends_exactly_the_history_and_its_new_segment(mixed):
    _, rows, _, _ = mixed
    assert rows
    for r in rows:
        # echo history: every segment is one-token words, so the server counts what was planned
        # (a tool step's too: the template renders the call's name and arguments, as real ones do)
        assert int(r["prompt_tokens"]) == int(r["prompt_tokens_target"]), r
    by_session = defaultdict(list)
    for r in rows:
        by_session[r["session"]].append(r)
    for turns in by_session.values():
        turns.sort(key=lambda r: int(r["turn"]))
        for before, after in pairwise(turns):
            # the history of a request is the previous prompt and its reply, as the server counted
            assert int(after["context_tokens_target"]) == \
                int(before["prompt_tokens"]) + int(before["output_tokens"])


def test_think_and_tool_times_hold_between_a_reply_and_the_next_request(mixed):
    _, rows, _, _ = mixed
    by_session = defaultdict(list)
    for r in rows:
        by_session[r["session"]].append(r)
    gaps = defaultdict(list)
    for turns in by_session.values():
        turns.sort(key=lambda r: int(r["turn"]))
        for before, after in pairwise(turns):
            if after["step"] == "subagent":
                continue
            gap = float(after["t_sched_s"]) - float(before["t_end_s"])
            gaps[(after["session_type"], after["step"])].append(gap)
            assert float(after["t_send_s"]) >= float(after["t_sched_s"])   # never early
    # rows keep 6 decimals: the scheduled gap is the think (or tool) time to the microsecond
    assert all(abs(g - 0.3) < 2e-6 for g in gaps[("chat", "user")]), gaps[("chat", "user")]
    assert all(abs(g - 0.1) < 2e-6 for g in gaps[("agent", "user")])
    assert gaps[("agent", "tool")] and all(abs(g - 0.2) < 2e-6 for g in gaps[("agent", "tool")])


def test_sub_agents_run_with_their_own_context_and_join_before_the_next_step(mixed):
    _, rows, sessions, _ = mixed
    children = [s for s in sessions if s["parent"]]
    assert children and all(s["session_type"] == "helper" for s in children)
    ends = defaultdict(list)
    for s in children:
        assert s["session"].startswith(s["parent"] + "-")
        ends[s["parent"]].append(float(s["t_start_s"]) + float(s["duration_s"]))
    joins = [r for r in rows if r["step"] == "subagent"]
    assert {r["session"] for r in joins} == set(ends)
    for r in joins:
        assert float(r["t_sched_s"]) >= max(ends[r["session"]]) - 1e-3   # waited for all of them
    first_child_turns = [r for r in rows if r["session"] in {s["session"] for s in children}
                         and r["turn"] == "1"]
    assert all(r["context_tokens_target"] == "0" for r in first_child_turns)   # fresh context


def test_tool_steps_reach_the_server_as_tool_calls_and_results(mixed):
    _, rows, _, _ = mixed
    tool = [r for r in rows if r["step"] == "tool"]
    assert tool and all(r["status"] == "ok" for r in tool)
    assert all(r["session_type"] == "agent" for r in tool)


def test_the_summary_has_the_turns_and_the_cache_measured_against_the_history(mixed):
    _, rows, _, summary = mixed
    (phase,) = summary["phases"]
    turns = {t["turn"]: t for t in phase["turns"]}
    assert set(turns) == {int(r["turn"]) for r in rows}
    assert sum(t["requests"] for t in turns.values()) == len(rows)
    # the simulator's prefix cache holds earlier prompts: later turns find most of their history
    assert turns[2]["cache_hit"] is not None and turns[2]["cache_hit"] > 0.5
    assert phase["sessions"]["turns_mean"] > 1
    assert phase["sessions"]["slowdown"]["p50"] >= 1.0


def test_a_live_history_finds_the_previous_prompt_and_reply_in_the_cache(tmp_path):
    """`history: live` re-sends the server's own replies: a server whose cache keeps what it
    generated (the simulator's, as vLLM's and llama.cpp's) finds every later turn's whole history
    but its last partial block."""
    with SimulatorProcess("--ttft-ms", "10", "--itl-ms", "1") as sim:
        write(tmp_path / "run.yml", "name: live\nsessions_per_second_rates: [2]\n"
              "test_length_in_seconds: 2\narrival: constant\nhistory: live\nramp_seconds: 0\n"
              "session_types:\n- {name: chat, system_prompt_tokens: 64, turns: 4, "
              "user_tokens: 24, output_tokens: 40, think_seconds: 0.05}\n")
        endpoint(tmp_path, sim.base_url)
        done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=tmp_path)
    assert done.code == 0, done.stderr
    rows = table(done.folder(), "requests.csv")
    by_session = defaultdict(list)
    for r in rows:
        by_session[r["session"]].append(r)
    assert len(by_session) == 4 and all(len(turns) == 4 for turns in by_session.values())
    for turns in by_session.values():
        turns.sort(key=lambda r: int(r["turn"]))
        for before, after in pairwise(turns):
            # the history as the server counted it, and the end of the reply's message
            history = int(before["prompt_tokens"]) + int(before["output_tokens"]) + 1
            assert int(after["cached_tokens"]) == 16 * (history // 16), (before, after)
    turns = {t["turn"]: t for t in done.summary()["phases"][0]["turns"]}
    assert all(turns[k]["cache_hit"] > 0.9 for k in (2, 3, 4)), turns


def test_compacted_agents_send_only_histories_the_server_accepts(tmp_path):
    """Tool steps past the context limit compact the history; the simulator validates tool
    histories as OpenAI does, so every request must still be well formed, and exact."""
    with SimulatorProcess("--ttft-ms", "10", "--itl-ms", "1") as sim:
        write(tmp_path / "run.yml", "name: compact\nsessions_per_second_rates: [1]\n"
              "test_length_in_seconds: 2\narrival: constant\nhistory: echo\nramp_seconds: 0\n"
              "session_types:\n- {name: agent, system_prompt_tokens: 64, turns: 8, "
              "user_tokens: 24, output_tokens: 8, think_seconds: 0.05, tool_share: 0.9, "
              "tool_call_tokens: 6, tool_result_tokens: 100, tool_seconds: 0.05, "
              "context_limit_tokens: 400, on_context_limit: compact, compact_to_tokens: 250}\n")
        endpoint(tmp_path, sim.base_url)
        done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=tmp_path)
    assert done.code == 0, done.stderr
    rows = table(done.folder(), "requests.csv")
    assert len(rows) == 16 and all(r["status"] == "ok" for r in rows), rows
    compacted = [r for r in rows if r["context_tokens_target"] == "250"]   # as the server counts
    assert compacted and any(r["step"] == "tool" for r in compacted)
    assert all(int(r["prompt_tokens"]) == int(r["prompt_tokens_target"]) for r in rows)


def test_open_loop_sessions_keep_arriving_while_the_server_falls_behind(tmp_path):
    """One slot and slow decoding: requests queue, sessions last longer, and new sessions still
    start on their schedule (a closed loop would have held them back)."""
    with SimulatorProcess("--ttft-ms", "30", "--itl-ms", "25", "--slots", "1") as sim:
        write(tmp_path / "run.yml", "name: slow\nsessions_per_second_rates: [4]\n"
              "test_length_in_seconds: 3\narrival: constant\nhistory: echo\nramp_seconds: 0\n"
              "session_types:\n- {name: chat, turns: 3, user_tokens: 20, output_tokens: 12, "
              "think_seconds: 0.2}\n")
        endpoint(tmp_path, sim.base_url)
        done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless",
                              cwd=tmp_path, timeout=180)
    assert done.code == 0, done.stderr
    rows = table(done.folder(), "requests.csv")
    firsts = sorted(float(r["t_sched_s"]) for r in rows if r["turn"] == "1")
    assert len(firsts) == 12                                      # 4 sessions/s for 3 s
    assert all(abs((b - a) - 0.25) < 1e-3 for a, b in pairwise(firsts))
    late = [float(r["t_send_s"]) - float(r["t_sched_s"]) for r in rows if r["turn"] == "1"]
    assert max(late) < 0.1                                        # sent on time, queued by the server
    sessions = done.summary()["phases"][0]["sessions"]
    assert sessions["achieved_sps"] == pytest.approx(4.0, rel=0.05)   # offered
    assert sessions["completed_sps"] < 3.0                            # what the server held
    assert sessions["slowdown"]["p90"] > 2.0
    # the slowdown's reference is the fastest the server served each turn in the run, not the
    # session's own fastest turn (all of a late session's turns queued): for the session that
    # ended last, every turn of the run had been served
    fastest = {turn: min(float(r["e2e_ms"]) / 1000 for r in rows if r["turn"] == str(turn))
               for turn in (1, 2, 3)}
    last = max(table(done.folder(), "sessions.csv"),
               key=lambda s: float(s["t_start_s"]) + float(s["duration_s"]))
    assert float(last["slowdown"]) == pytest.approx(
        float(last["duration_s"]) / (float(last["wait_s"]) + sum(fastest.values())), rel=1e-3)
    own = min(float(r["e2e_ms"]) / 1000 for r in rows if r["session"] == last["session"])
    own_slowdown = float(last["duration_s"]) / (float(last["wait_s"]) + 3 * own)
    assert float(last["slowdown"]) > 2 and float(last["slowdown"]) > 1.3 * own_slowdown, own_slowdown


def test_a_stop_cuts_the_sessions_and_keeps_every_request(tmp_path):
    with SimulatorProcess("--ttft-ms", "30", "--itl-ms", "5") as sim:
        write(tmp_path / "run.yml", "name: stop\nsessions_per_second_rates: [4]\n"
              "test_length_in_seconds: 20\nhistory: echo\nsession_types:\n"
              "- {name: chat, turns: 50, user_tokens: 20, output_tokens: 8, think_seconds: 0.3}\n")
        endpoint(tmp_path, sim.base_url)
        proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes",
                                 "--headless", "--results-dir", "results"], cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TOKENFLOOD_MAX_INPUT_TOKENS": "100000000",
                                     "TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = list((tmp_path / "results").glob("*/sessions.csv"))
            if found and len(table(found[0].parent, "requests.csv")) >= 20:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (folder,) = (tmp_path / "results").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    (phase,) = summary["phases"]
    sessions = table(folder, "sessions.csv")
    assert sessions and all(s["end"] == "cut" for s in sessions)
    assert len(sessions) == phase["sessions"]["started"] == phase["sessions"]["cut"]
    assert len(table(folder, "requests.csv")) == phase["sent"]
