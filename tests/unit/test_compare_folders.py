"""What `compare` reads from results folders: the rows that count (ok, not superseded, whole),
groups by rate or by hour of day, and the warnings about what differs between runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tokenflood_tui.compare.compare import compare
from tokenflood_tui.compare.samples import GroupKey, load
from tokenflood_tui.errors import ConfigError
from tokenflood_tui.outputs.folder import CSV_COLUMNS

LOAD_TEST = """\
name: t
requests_per_second_rates: {rates}
test_length_in_seconds: 10
load_types: [{{prompt_length: {prompt}, output_length: 8}}]
"""
OBSERVATION = """\
type: observation
name: o
duration_hours: 3
polling_interval_minutes: 15
num_requests: 30
within_seconds: 60
load_type: {prompt_length: 64, output_length: 8}
"""


def folder(root: Path, name: str, rows: list[dict], kind: str = "load_test",
           suite: str | None = None, prompts: str = "fresh") -> Path:
    path = root / name
    path.mkdir()
    summary = {"type": kind, "status": "completed", "tool_version": "t", "client": "aiohttp",
               "started_at": "2026-12-01T10:00:00+00:00", "finished_at": "2026-12-01T13:00:00+00:00",
               "run_name": name, "model": "m", "provider": "hosted_vllm",
               "base_url": "http://127.0.0.1:1/v1", "percentiles": [50, 90, 99],
               "token_counter": "server", "template_tokens": 0, "prompts": prompts, "workers": 0,
               "phases": [], "results_dir": str(path),
               "budget": {"estimated_requests": 0, "estimated_input_tokens": 0,
                          "estimated_output_tokens": 0, "actual_input_tokens": 0,
                          "actual_output_tokens": 0, "estimated_cost_usd": None}}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "run.yml").write_text(suite or LOAD_TEST.format(rates="[4, 8]", prompt=64))
    with open(path / "requests.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            w.writerow([r.get(c, "") for c in CSV_COLUMNS])
    return path


def rows(rate: float, ttfts, status: str = "ok", superseded: str = "false", utc: str = "",
         phase: int = 1) -> list[dict]:
    return [{"phase": phase, "target_rps": rate, "status": status, "superseded": superseded,
             "ttft_ms": f"{t:.3f}" if status == "ok" else "", "e2e_ms": f"{t + 20:.3f}"
             if status == "ok" else "", "t_sched_utc": utc} for t in ttfts]


def test_only_ok_whole_rows_that_were_not_superseded_count(tmp_path):
    data = (rows(4, [10, 20, 30]) + rows(4, [1000] * 5, superseded="true")
            + rows(4, [0] * 2, status="timeout") + rows(8, [40, 50]))
    path = folder(tmp_path, "a", data)
    with open(path / "requests.csv", "a") as f:
        f.write("1,4,0,0.1")                      # a torn last line (a killed process)
    s = load(path)
    four, eight = GroupKey("rate", 4.0), GroupKey("rate", 8.0)
    assert list(s.groups) == [four, eight]
    assert list(s.groups[four]["ttft_ms"]) == [10, 20, 30]
    assert s.requests[four] == 5 and s.ok[four] == 3     # the timeouts count as requests
    assert list(s.groups[eight]["e2e_ms"]) == [60, 70] and len(s.groups[eight]["tpot_ms"]) == 0


def test_observations_are_compared_by_hour_of_day(tmp_path):
    rng = np.random.default_rng(1)
    def day(shift: float) -> list[dict]:
        return (rows(0.5, rng.normal(50 + shift, 3, 60), utc="2026-12-01T10:15:00.000Z")
                + rows(0.5, rng.normal(50, 3, 60), utc="2026-12-01T11:45:00.000Z"))
    a = folder(tmp_path, "a", day(0), kind="observation", suite=OBSERVATION)
    b = folder(tmp_path, "b", day(10), kind="observation", suite=OBSERVATION)
    c = compare([a, b])
    assert c.groups == ["10:00 UTC", "11:00 UTC"] and c.metrics == ["ttft_ms", "e2e_ms"]
    assert c.cell("10:00 UTC", "ttft_ms", 50).runs[1].verdict == "slower"
    assert c.cell("11:00 UTC", "ttft_ms", 50).runs[1].verdict == "no clear difference"
    assert c.cell("11:00 UTC", "ttft_ms", 99).runs[1].verdict == "too few samples"


def test_what_differs_between_the_runs_is_named(tmp_path):
    a = folder(tmp_path, "a", rows(4, range(30)) + rows(8, range(30)))
    b = folder(tmp_path, "b", rows(4, range(30)) + rows(16, range(30)),
               suite=LOAD_TEST.format(rates="[4, 16]", prompt=128), prompts="reused")
    warnings = compare([a, b]).warnings
    assert "load types (prompt/prefix/output) differ (B vs A): 128/0/8 tokens ×1 vs " \
           "64/0/8 tokens ×1" in warnings
    assert "rates differ (B vs A): [4, 16] req/s vs [4, 8] req/s" in warnings
    assert "B has no requests at 8 req/s" in warnings
    assert "A (the baseline) has no requests at 16 req/s" in warnings
    assert any(w.startswith("B replayed the seed's prompts") for w in warnings)


def test_runs_of_different_kinds_are_not_compared(tmp_path):
    a = folder(tmp_path, "a", rows(4, range(30)))
    b = folder(tmp_path, "b", rows(0.5, range(30), utc="2026-12-01T10:00:00Z"),
               kind="observation", suite=OBSERVATION)
    with pytest.raises(ConfigError, match="compare runs of one kind: a is a load test, b is an "
                                          "observation"):
        compare([a, b])
    (tmp_path / "c").mkdir()
    with pytest.raises(ConfigError, match="summary.json does not exist"):
        compare([a, tmp_path / "c"])


SESSIONS = """\
name: s
sessions_per_second_rates: [1]
test_length_in_seconds: 60
session_types:
- {{name: chat, turns: {turns}, think_seconds: {think}}}
"""


def session_rows(rate: float, ttft_by_turn: dict[int, list[float]]) -> list[dict]:
    return [{**row, "session": str(i), "session_type": "chat", "turn": turn, "step": "user"}
            for turn, ttfts in ttft_by_turn.items()
            for i, row in enumerate(rows(rate, ttfts))]


def test_session_runs_are_compared_by_turns_within_each_rate(tmp_path):
    rng = np.random.default_rng(2)
    # B's first turns are as fast as A's; its later turns 30 ms slower (a worse prefix cache)
    def run(later_shift: float) -> list[dict]:
        return session_rows(1, {1: rng.normal(100, 5, 80), 2: rng.normal(60 + later_shift, 5, 80),
                                3: rng.normal(60 + later_shift, 5, 40),
                                4: rng.normal(60 + later_shift, 5, 40),
                                5: rng.normal(60 + later_shift, 5, 3)})
    a = folder(tmp_path, "a", run(0), suite=SESSIONS.format(turns=5, think=1))
    b = folder(tmp_path, "b", run(30), suite=SESSIONS.format(turns=5, think=2))
    s = load(a)
    rate = GroupKey("rate", 1.0, "sessions/s")
    assert list(s.groups) == [rate] and s.requests[rate] == 243
    assert [(k.turns, s.requests[k]) for k in s.turn_groups] == [
        ((1, 1), 80), ((2, 2), 80), ((3, 4), 80), ((5, 8), 3)]
    c = compare([a, b])
    assert c.groups == ["1 sessions/s"]
    assert sorted({x.turns for x in c.turn_cells}) == ["turn 1", "turn 2", "turns 3-4",
                                                        "turns 5-8"]
    assert c.turn_cell("1 sessions/s", "turn 1", "ttft_ms", 50).runs[1].verdict == \
        "no clear difference"
    later = c.turn_cell("1 sessions/s", "turns 3-4", "ttft_ms", 50).runs[1]
    assert later.verdict == "slower" and later.ci_low_ms < 30 < later.ci_high_ms
    assert c.turn_cell("1 sessions/s", "turns 5-8", "ttft_ms", 50).runs[1].verdict == \
        "too few samples"
    assert c.verdicts(by_turn=True)["slower"] >= 4
    assert "session types differ (B vs A): chat (think_seconds)" in c.warnings
    from tokenflood_tui.compare import output
    md = output.markdown(c)
    assert "B vs A by turn: slower in" in md and "## TTFT by turn (ms)" in md
    assert "| rate | turns | pct | A | B | B − A | 95% interval | verdict |" in md
    assert "| 1 sessions/s | turns 3-4 | p50 |" in md
    text = output.text(c, 80)
    assert "TTFT by turn (ms)" in text and max(len(line) for line in text.splitlines()) <= 80
    # a load test's comparison has no turn cells
    plain = compare([folder(tmp_path, "c", rows(4, range(30))),
                     folder(tmp_path, "d", rows(4, range(30)))])
    assert plain.turn_cells == [] and "by turn" not in output.markdown(plain)
