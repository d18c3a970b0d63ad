"""The compare screen's table for session runs: under each rate, its rows over all turns, then
its rows by turns (turn 1, turn 2, turns 3-4), each with the value, difference, interval and
verdict the comparison has; the head counts the verdicts by turn too."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tokenflood_tui.compare import folder, output
from tokenflood_tui.compare.compare import Comparison, compare
from tokenflood_tui.outputs.folder import CSV_COLUMNS
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.widgets.compare_table import CompareTable

from support.screens import screen_lines

SUITE = ("name: s\nsessions_per_second_rates: [2]\ntest_length_in_seconds: 60\n"
         "session_types:\n- {name: chat, turns: 4, think_seconds: 1}\n")


def session_folder(root: Path, name: str, later_ms: float) -> Path:
    """A session run's results folder: 60 sessions of 4 turns, turn 1 at 100 ms TTFT, later
    turns at `later_ms`."""
    rng = np.random.default_rng(len(name))
    path = root / name
    path.mkdir()
    summary = {"type": "load_test", "status": "completed", "tool_version": "t",
               "client": "aiohttp", "started_at": "2026-12-01T10:00:00+00:00",
               "finished_at": "2026-12-01T10:02:00+00:00", "run_name": name, "model": "m",
               "provider": "hosted_vllm", "base_url": "http://127.0.0.1:1/v1",
               "percentiles": [50, 90, 99], "token_counter": "server", "template_tokens": 0,
               "prompts": "fresh", "workers": 0, "phases": [], "results_dir": str(path),
               "budget": {"estimated_requests": 0, "estimated_input_tokens": 0,
                          "estimated_output_tokens": 0, "actual_input_tokens": 0,
                          "actual_output_tokens": 0, "estimated_cost_usd": None}}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "run.yml").write_text(SUITE)
    with open(path / "requests.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for session in range(60):
            for turn in range(1, 5):
                ttft = rng.normal(100 if turn == 1 else later_ms, 4)
                row = {"phase": 1, "target_rps": 2, "status": "ok", "superseded": "false",
                       "ttft_ms": f"{ttft:.3f}", "e2e_ms": f"{ttft + 30:.3f}",
                       "session": session, "session_type": "chat", "turn": turn,
                       "step": "user"}
                w.writerow([row.get(c, "") for c in CSV_COLUMNS])
    return path


async def test_the_table_shows_each_rates_turns_under_it(tmp_path):
    a = session_folder(tmp_path, "a", 40)
    b = session_folder(tmp_path, "b", 70)          # later turns 30 ms slower
    c = compare([a, b])
    saved = folder.write(c, tmp_path / "cmp")
    c = Comparison.load(saved)
    page = (saved / "report.html").read_text()         # the page has the turns' verdicts too
    assert "<h2 id=\"ttft-by-turn--ms\">TTFT by turn (ms)</h2>" in page
    assert output.verdict_line(c, 1, by_turn=True) in page
    app = TokenfloodApp(Launch("compare", results_root=tmp_path, compare_dir=saved))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        lines = screen_lines(app)
        assert any(" ".join(line.split()) == output.verdict_line(c, 1, by_turn=True)
                   for line in lines)
        table = app.screen.query_one(CompareTable)
        head = [str(col.label) for col in table.columns.values()]
        assert head[:4] == ["sessions/s", "turns", "pct", "A"]
        rows = [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]
        # the group and the turns once, on their first row
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("2", "all", "p50"), ("", "", "p90"), ("", "", "p99"),
            ("", "turn 1", "p50"), ("", "", "p90"), ("", "", "p99"),
            ("", "turn 2", "p50"), ("", "", "p90"), ("", "", "p99"),
            ("", "turns 3-4", "p50"), ("", "", "p90"), ("", "", "p99")]
        verdicts = [r[-1] for r in rows]
        expected = [c.cell("2 sessions/s", "ttft_ms", p).runs[1].verdict for p in (50, 90, 99)]
        for turns in ("turn 1", "turn 2", "turns 3-4"):
            expected += [c.turn_cell("2 sessions/s", turns, "ttft_ms", p).runs[1].verdict
                         for p in (50, 90, 99)]
        assert verdicts == expected
        assert verdicts[3] == "no clear difference" and verdicts[6] == verdicts[9] == "slower"
        # the difference of turns 3-4 at p50 as the comparison has it (about +30 ms)
        diff = c.turn_cell("2 sessions/s", "turns 3-4", "ttft_ms", 50).runs[1].diff_ms
        assert 25 < diff < 35 and rows[9][5].startswith(f"+{diff:.1f}")
