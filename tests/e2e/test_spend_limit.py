"""The spend stop (docs/architecture.md#budget-and-limits): the estimate passes the token
limits, then the server's usage counts more than it said, and the run stops where the load's
spend reaches a limit: exit 3, the results kept, the variable named. The simulator's usage
faults stand for such a server."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tokenflood_tui.simulator import SimulatorProcess

from support.tokenflood import run_tokenflood, write

SESSIONS = """\
name: spend
sessions_per_second_rates: [2]
test_length_in_seconds: 3
arrival: constant
history: echo
ramp_seconds: 0
session_types:
- {name: chat, system_prompt_tokens: 64, turns: 3, user_tokens: 24, output_tokens: 8,
   think_seconds: 0.1}
"""

LOAD = """\
name: spend
requests_per_second_rates: [10, 20]
test_length_in_seconds: 2
arrival: constant
load_types:
- {prompt_length: 400, prefix_length: 0, output_length: 20}
"""


def endpoint(folder: Path, name: str, base_url: str) -> str:
    write(folder / name, f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n")
    return name


def rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def spend_line(var: str, limit: str) -> str:
    return f"error: run aborted: the load's spend reached {var}={limit}: the server's usage counts"


def assert_stopped_at(summary: dict, folder: Path, var: str, limit: int, column: str) -> None:
    """Stopped at the limit, with every request sent in requests.csv and counted in the spend."""
    budget = summary["budget"]
    assert summary["status"] == "aborted" and budget["stopped_at_limit"] == var
    message = summary["message"]
    assert message.startswith(f"the load's spend reached {var}={limit:,}: ")
    assert message.endswith(f"raise {var} to go further")
    kind = "input" if column == "prompt_tokens" else "output"
    estimated = budget[f"estimated_{kind}_tokens"]
    assert estimated < limit <= budget[f"actual_{kind}_tokens"]    # the estimate passed
    assert f"where {estimated:,} were estimated" in message
    written = rows(folder)
    assert len(written) == sum(p["sent"] for p in summary["phases"])
    assert sum(int(r[column]) for r in written) == budget[f"actual_{kind}_tokens"]
    # it stopped there: once the requests that ended before it had reached the limit, nothing
    # more was sent but what the sender had under way when the stop reached it
    ended = sorted(written, key=lambda r: float(r["t_end_s"]))
    total, crossing = 0, None
    for r in ended:
        total += int(r[column])
        if total >= limit:
            crossing = float(r["t_end_s"])
            break
    assert crossing is not None
    late = [r for r in written if float(r["t_send_s"]) > crossing + 0.3]
    assert not late, late


def test_a_session_run_stops_when_the_servers_prompt_counts_reach_the_input_limit(tmp_path):
    """Each request is counted 300 prompt tokens over what was sent: the session budget (the
    drawn scripts, before any calibration) cannot know, and the run stops at the limit."""
    with SimulatorProcess("--ttft-ms", "10", "--itl-ms", "2",
                          "--usage-extra-prompt-tokens", "300") as sim:
        write(tmp_path / "run.yml", SESSIONS)
        name = endpoint(tmp_path, "endpoint.yml", sim.base_url)
        done = run_tokenflood("run", "run.yml", name, "--yes", "--headless", cwd=tmp_path,
                              env={"TOKENFLOOD_MAX_INPUT_TOKENS": "4000"})
    assert done.code == 3, done.stderr
    assert spend_line("TOKENFLOOD_MAX_INPUT_TOKENS", "4,000") in done.stderr
    assert "Traceback" not in done.stderr
    folder = done.folder()
    summary = done.summary()
    assert_stopped_at(summary, folder, "TOKENFLOOD_MAX_INPUT_TOKENS", 4000, "prompt_tokens")
    (phase,) = summary["phases"]
    sessions = phase["sessions"]
    assert sessions["started"] < sessions["planned"] == 6       # the rest never started
    with open(folder / "sessions.csv", newline="") as f:
        ended = list(csv.DictReader(f))
    assert len(ended) == sessions["started"]
    assert sessions["completed"] + sessions["cut"] == sessions["started"] and sessions["cut"] >= 1


def test_a_load_test_stops_when_the_servers_completion_counts_reach_the_output_limit(tmp_path):
    """A load test's prompts are calibrated on the server's counts (a constant surplus of prompt
    tokens is taken for the chat template's), so its spend follows the estimate; its output is
    what the server bills: 100 hidden tokens a reply here, as a reasoning model's thinking."""
    with SimulatorProcess("--ttft-ms", "10", "--itl-ms", "2",
                          "--usage-extra-completion-tokens", "100") as sim:
        write(tmp_path / "run.yml", LOAD)
        name = endpoint(tmp_path, "endpoint.yml", sim.base_url)
        done = run_tokenflood("run", "run.yml", name, "--yes", "--headless", cwd=tmp_path,
                              env={"TOKENFLOOD_MAX_OUTPUT_TOKENS": "3000"})
    assert done.code == 3, done.stderr
    assert spend_line("TOKENFLOOD_MAX_OUTPUT_TOKENS", "3,000") in done.stderr
    summary = done.summary()
    assert_stopped_at(summary, done.folder(), "TOKENFLOOD_MAX_OUTPUT_TOKENS", 3000,
                      "output_tokens")
    # 120 tokens counted a request: the 25th reaches the limit, in phase 2 of 2
    assert summary["phases"][0]["sent"] == 20 and len(summary["phases"]) == 2
    assert 25 <= sum(p["sent"] for p in summary["phases"]) < 40


def test_an_ab_experiments_variants_share_one_spend(tmp_path):
    """The limits hold for the experiment, as its budget is confirmed: variant b's requests
    reach the limit the two variants spent together, and both stop (each alone stays below)."""
    with SimulatorProcess("--ttft-ms", "10", "--itl-ms", "2",
                          "--usage-extra-completion-tokens", "100") as sim:
        write(tmp_path / "run.yml", LOAD)
        a = endpoint(tmp_path, "a.yml", sim.base_url)
        b = endpoint(tmp_path, "b.yml", sim.base_url)
        done = run_tokenflood("ab", "run.yml", a, b, "--rounds", "1", "--yes", "--headless",
                              cwd=tmp_path, env={"TOKENFLOOD_MAX_OUTPUT_TOKENS": "3000"})
    assert done.code == 3, done.stderr
    assert "the load's spend reached TOKENFLOOD_MAX_OUTPUT_TOKENS=3,000" in done.stderr
    (experiment,) = [p for p in done.results.iterdir() if p.is_dir()]
    summaries = {v: json.loads((experiment / v / "summary.json").read_text()) for v in "ab"}
    spent = [s["budget"]["actual_output_tokens"] for s in summaries.values()]
    assert all(s < 3000 for s in spent) and 3000 <= sum(spent) < 3000 + 5 * 120
    assert all(s["status"] == "aborted" for s in summaries.values())
    assert all(s["budget"]["stopped_at_limit"] == "TOKENFLOOD_MAX_OUTPUT_TOKENS"
               for s in summaries.values())
    for v, s in summaries.items():
        assert len(rows(experiment / v)) == sum(p["sent"] for p in s["phases"])
