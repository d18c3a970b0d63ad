"""`tokenflood demo --sessions`: the session demo suite (sample_configs/run_sessions.yml) run
headless against the built-in simulator, and against the real llama.cpp server it starts."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from tokenflood_tui.demo.localserver.protocol import unavailable_reason

from support.tokenflood import Completed, run_together


def table(folder, name: str) -> list[dict[str, str]]:
    with open(folder / name, newline="") as f:
        return list(csv.DictReader(f))


def check_demo(done) -> dict:
    """What any session demo run shows: both phases, chats and agents run to their end, the
    per-turn table and the session figures in summary.json, one sessions.csv row a session."""
    assert done.code == 0, done.stderr
    folder = done.folder()
    s = json.loads((folder / "summary.json").read_text())
    assert s["run_name"] == "demo-sessions" and s["status"] == "completed"
    requests, sessions = table(folder, "requests.csv"), table(folder, "sessions.csv")
    top = [x for x in sessions if not x["parent"]]
    assert [p["sessions"]["started"] for p in s["phases"]] == [
        sum(x["phase"] == str(k) for x in top) for k in (1, 2)]
    assert {x["session_type"] for x in top} == {"chat", "agent"}
    assert all(x["end"] == "completed" for x in top), Counter(x["end"] for x in top)
    assert len(requests) == sum(int(x["turns_planned"]) for x in top)
    agent = [x for x in top if x["session_type"] == "agent"]
    assert all(x["turns_done"] == "6" for x in agent)
    # turn 1 and later turns have their own figures; later turns re-send a history
    for phase in s["phases"]:
        turns = {t["turn"]: t for t in phase["turns"]}
        assert 1 in turns and all(t["context_tokens_mean"] for t in turns.values())
        if 2 in turns:
            assert turns[2]["context_tokens_mean"] > turns[1]["context_tokens_mean"]
    assert "demo-sessions" in done.stdout
    return s


LLAMACPP = unavailable_reason() is None


@pytest.fixture(scope="module")
def demos(request, tmp_path_factory) -> dict[str, Completed]:
    """The demo on the simulator and (when its test was selected) on llama.cpp, run at once
    (independent: the longer one's time instead of both)."""
    runs = {"simulator": ("demo", "--sessions", "--simulator", "--headless")}
    if LLAMACPP and any(item.get_closest_marker("llamacpp") for item in request.session.items
                        if item.module is request.module):
        runs["llamacpp"] = ("demo", "--sessions", "--headless")
    done = run_together(*((tmp_path_factory.mktemp(name), args) for name, args in runs.items()),
                        timeout=400)
    return dict(zip(runs, done, strict=True))


def test_the_session_demo_runs_against_the_simulator(demos):
    done = demos["simulator"]
    s = check_demo(done)
    assert "--simulator was given; using the built-in simulator" in done.stderr
    # the simulator's prefix cache holds each history: later turns hit it almost whole
    for phase in s["phases"]:
        later = [t["cache_hit"] for t in phase["turns"] if t["turn"] >= 2 and t["cache_hit"]]
        assert later and min(later) > 0.8, phase["turns"]


@pytest.mark.llamacpp
@pytest.mark.skipif(not LLAMACPP, reason=str(unavailable_reason()))
def test_the_session_demo_runs_against_llamacpp(demos):
    done = demos["llamacpp"]
    s = check_demo(done)
    assert "real llama.cpp server with SmolLM2-135M-Instruct" in done.stderr
    # llama.cpp's prompt cache serves later turns' histories (a slot keeps the last prompt it
    # served; a session whose slot another took meanwhile starts again cold)
    later = [t["cache_hit"] for p in s["phases"] for t in p["turns"]
             if t["turn"] >= 2 and t["cache_hit"] is not None]
    assert later and max(later) > 0.8, later
