"""What the commands print on a terminal fits it: at 80 and at 120 columns no line of a load
test's, an observation's, a search's, a comparison's or an A/B experiment's summary is longer
than the terminal (none wraps into fragments); the figures are the ones summary.json holds;
`--format md` keeps the Markdown tables and `--format json` prints summary.json.

Each command runs for real with stdout on a pseudo-terminal (as in a shell) whose own size is
wider than COLUMNS: COLUMNS is the width that counts, as for every terminal program."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenflood_tui.metrics.summary import RunSummary
from tokenflood_tui.outputs import printed
from tokenflood_tui.simulator import SimulatorProcess

from support.compared_runs import make_runs
from support.tokenflood import TOKENFLOOD, write

WIDTHS = [80, 120]
LOAD_TEST = """\
name: widths
requests_per_second_rates: [5, 10, 20]
test_length_in_seconds: 2
arrival: constant
load_types: [{prompt_length: 64, output_length: 8}]
"""
ONE_PHASE = LOAD_TEST.replace("[5, 10, 20]", "[10]")
OBSERVATION = """\
type: observation
name: watch
duration_hours: 0.0033333333
polling_interval_minutes: 0.1
num_requests: 3
within_seconds: 2
load_type: {prompt_length: 64, output_length: 4}
"""
SEARCH = """\
type: search
name: capacity
slo: {ttft_ms: {p90: 300}}
start_rps: 4
max_rps: 64
phase_seconds: 2
tolerance: 0.5
max_phases: 3
arrival: constant
load_types: [{prompt_length: 32, output_length: 8}]
"""
AB = """\
name: abw
requests_per_second_rates: [10, 20]
test_length_in_seconds: 2
seed: 7
load_types: [{prompt_length: 64, output_length: 4}]
"""
# chats of 3 turns and agents of 12 steps (tool steps, sub-agents): a phase has more turn
# indexes than a terminal shows; `skip` sends every turn of a script whatever fails
SESSIONS = """\
name: chats
sessions_per_second_rates: [2, 4]
test_length_in_seconds: 6      # phase 2: 24 first turns, 20 after the ramp: a saturation verdict
arrival: constant
history: echo
ramp_seconds: 1
on_error: skip
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
  turns: 12
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
BARS = "▁▂▃▄▅▆▇█"
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000"}


@dataclass
class Printed:
    code: int
    stdout: str            # what the terminal shows, \r\n as \n
    stderr: str

    def too_long(self, width: int) -> list[str]:
        return [line for line in self.stdout.splitlines() if len(line) > width]


def on_terminal(*args: str, cwd: Path, columns: int, timeout: float = 180) -> Printed:
    """`tokenflood ARGS --results-dir results` with stdout on a pseudo-terminal 200 columns
    wide and COLUMNS set (stdin is not a terminal: the commands run headless)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    with open(cwd / "stderr.txt", "w+") as err:
        proc = subprocess.Popen([TOKENFLOOD, *args, "--results-dir", "results"], cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=slave, stderr=err,
                                env={**os.environ, **ENV, "COLUMNS": str(columns)})
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:          # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        code = proc.wait(timeout=timeout)
        err.seek(0)
        return Printed(code, b"".join(chunks).decode().replace("\r\n", "\n"), err.read())


def only_folder(cwd: Path) -> Path:
    (folder,) = [p for p in (cwd / "results").iterdir() if p.is_dir()]
    return folder


def rows_of(text: str, first_cell: str = "phase") -> list[list[str]]:
    """The rows of the table whose header starts with `first_cell`, as cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_cell])
    out = []
    for line in lines[start + 1:]:
        if not line.strip() or not line.split()[0].isdigit():
            break
        out.append(line.split())
    return out


@pytest.fixture(scope="module")
def sim():
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2", "--error-rate", "503=0.1",
                          "--seed", "3") as s:
        yield s


def endpoint(base_url: str) -> str:
    return f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_load_test_prints_the_columns_that_fit_with_the_figures_of_summary_json(
        tmp_path, sim, width):
    write(tmp_path / "run.yml", LOAD_TEST)
    write(tmp_path / "endpoint.yml", endpoint(sim.base_url))
    done = on_terminal("run", "run.yml", "endpoint.yml", "--headless", "--yes", cwd=tmp_path,
                       columns=width)
    assert done.code == 0, done.stderr
    assert done.too_long(width) == []
    folder = only_folder(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    out = done.stdout
    assert "tokenflood run 'widths' on sim-model: completed" in out
    head = next(line for line in out.splitlines() if line.startswith("phase "))
    # the columns by rank: "sent" is the first to go when the figures are wide (a busy machine's
    # latencies of four digits at 80 columns), and then the note names it
    dropped = re.search(r"not shown at \d+ columns: (.*?); summary\.md", " ".join(out.split()))
    shown = [c for c in ("phase", "target", "achieved", "sent", "ok", "failed")
             if not (dropped and c in dropped[1].split(", "))]
    assert head.split()[:len(shown)] == shown and "ok" in shown
    assert head.split()[-1] == "verdict"
    for row, ph in zip(rows_of(out), summary["phases"], strict=True):
        cells = dict(zip(head.split(), row, strict=False))
        expected = {"phase": str(ph["phase"]), "target": f"{ph['target_rps']:g}",
                    "achieved": f"{ph['achieved_rps']:.2f}", "sent": str(ph["sent"]),
                    "ok": str(ph["ok"]), "failed": str(ph["failed"])}
        assert [cells[c] for c in shown] == [expected[c] for c in shown]
        assert row[len(shown)] == f"{ph['ttft_ms']['p50']:,.1f}"
    assert sum(ph["failed"] for ph in summary["phases"]) > 0 and "\nfailures:\n" in out
    # what did not fit is named, with where it is
    if width == 80:
        assert "summary.md has every column" in " ".join(out.split())
    assert f"results: results/{folder.name}" in out


def test_format_md_keeps_the_markdown_tables_and_json_prints_summary_json(tmp_path, sim):
    write(tmp_path / "run.yml", ONE_PHASE)
    write(tmp_path / "endpoint.yml", endpoint(sim.base_url))
    done = on_terminal("run", "run.yml", "endpoint.yml", "--headless", "--yes", "--format", "md",
                       cwd=tmp_path, columns=80)
    assert done.code == 0, done.stderr
    folder = only_folder(tmp_path)
    # the table as it was printed before on every terminal: every column, one row per phase
    assert ("| phase | target req/s | achieved req/s | sent | ok | failed | TTFT p50 ms | "
            "TTFT p90 ms | TTFT p99 ms | e2e p50 ms | e2e p90 ms | e2e p99 ms | TPOT p50 ms | "
            "out tok/s | cache hit | goodput | client | server |") in done.stdout
    summary = RunSummary.load(folder)
    assert done.stdout == printed.markdown(summary, Path("results") / folder.name)
    # results: summary.md as it is, and summary.json as it is
    md = on_terminal("results", folder.name, "--format", "md", cwd=tmp_path, columns=80)
    assert md.code == 0 and md.stdout == (folder / "summary.md").read_text()
    as_json = on_terminal("results", folder.name, "--format", "json", cwd=tmp_path, columns=80)
    assert as_json.code == 0 and as_json.stdout == (folder / "summary.json").read_text()
    # and the same run for a terminal of 80 columns, from summary.json
    text = on_terminal("results", folder.name, "--format", "text", cwd=tmp_path, columns=80)
    assert text.code == 0 and text.too_long(80) == []
    assert rows_of(text.stdout)[0][:6] == rows_of(printed.text(summary, folder, 80))[0][:6]


def test_run_json_on_stdout_is_summary_json(tmp_path, sim):
    write(tmp_path / "run.yml", ONE_PHASE)
    write(tmp_path / "endpoint.yml", endpoint(sim.base_url))
    done = on_terminal("run", "run.yml", "endpoint.yml", "--headless", "--yes", "--format",
                       "json", cwd=tmp_path, columns=80)
    assert done.code == 0, done.stderr
    assert done.stdout == (only_folder(tmp_path) / "summary.json").read_text()


def test_an_observation_prints_its_polls_at_80_and_120_columns(tmp_path, sim):
    write(tmp_path / "obs.yml", OBSERVATION)
    write(tmp_path / "endpoint.yml", endpoint(sim.base_url))
    done = on_terminal("run", "obs.yml", "endpoint.yml", "--headless", "--yes", cwd=tmp_path,
                       columns=80)
    assert done.code == 0, done.stderr
    assert done.too_long(80) == []
    folder = only_folder(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    polls = rows_of(done.stdout, "poll")
    assert [(r[0], r[3], r[4]) for r in polls] == [
        (str(p["phase"]), str(p["sent"]), str(p["ok"])) for p in summary["polls"]]
    assert "tokenflood observation 'watch' on sim-model: completed" in done.stdout
    wide = on_terminal("results", folder.name, "--format", "text", cwd=tmp_path, columns=120)
    assert wide.code == 0 and wide.too_long(120) == []
    assert [r[:5] for r in rows_of(wide.stdout, "poll")] == [r[:5] for r in polls]


def test_a_search_prints_its_answer_and_steps_at_80_and_120_columns(tmp_path, sim):
    write(tmp_path / "search.yml", SEARCH)
    write(tmp_path / "endpoint.yml", endpoint(sim.base_url))
    done = on_terminal("run", "search.yml", "endpoint.yml", "--headless", "--yes", cwd=tmp_path,
                       columns=80)
    assert done.code == 0, done.stderr
    assert done.too_long(80) == []
    folder = only_folder(tmp_path)
    search = json.loads((folder / "summary.json").read_text())["search"]
    assert f"answer: {search['answer']}" in " ".join(done.stdout.split())
    steps = rows_of(done.stdout)          # the steps' table comes first
    assert [(r[0], r[1], r[2]) for r in steps] == [
        (str(st["phase"]), f"{st['target_rps']:g}", "meets" if st["meets"] else "fails")
        for st in search["steps"]]
    wide = on_terminal("results", folder.name, "--format", "text", cwd=tmp_path, columns=120)
    assert wide.code == 0 and wide.too_long(120) == []
    assert f"answer: {search['answer']}" in " ".join(wide.stdout.split())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_runs(tmp_path_factory.mktemp("compared"))


@pytest.mark.parametrize("width", WIDTHS)
def test_a_comparison_prints_each_metric_with_its_verdicts(runs, tmp_path, width):
    done = on_terminal("compare", str(runs.fast), str(runs.slow), "--headless", "--out",
                       str(tmp_path / "cmp"), cwd=tmp_path, columns=width)
    assert done.code == 0, done.stderr
    assert done.too_long(width) == []
    out = done.stdout
    assert out.startswith("Comparison: A vs B\n")
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    ttft = [c for c in compared["cells"] if c["metric"] == "ttft_ms"]
    table = out.split("\nTTFT (ms)\n", 1)[1].split("\n\n", 1)[0].splitlines()
    body = [line for line in table if line.split()[0].isdigit()]
    assert len(body) == len(ttft)
    for line, cell in zip(body, ttft, strict=True):
        assert line.startswith(f"{cell['group']:<8}") and \
            line.rstrip().endswith(cell["runs"][1]["verdict"])
    assert "slower" in out      # 30 ms slower to the first token


@pytest.mark.parametrize("width", WIDTHS)
def test_an_ab_experiment_prints_its_comparison(tmp_path, width):
    write(tmp_path / "run.yml", AB)
    with SimulatorProcess("--ttft-ms", "20", "--seed", "3") as a, \
            SimulatorProcess("--ttft-ms", "40", "--seed", "3") as b:
        write(tmp_path / "a.yml", endpoint(a.base_url))
        write(tmp_path / "b.yml", endpoint(b.base_url))
        done = on_terminal("ab", "run.yml", "a.yml", "b.yml", "--rounds", "1", "--headless",
                           "--yes", cwd=tmp_path, columns=width)
    assert done.code == 0, done.stderr
    assert done.too_long(width) == []
    folder = only_folder(tmp_path)
    verdict = next(line for line in (folder / "compare.md").read_text().splitlines()
                   if line.startswith("B vs A: "))
    assert verdict in " ".join(done.stdout.split())
    assert f"experiment folder: results/{folder.name}" in done.stdout


# ------------------------------------------------------------------------ a session run


def section(text: str, title: str) -> str:
    """The lines under '<title>:' (printed text or md) up to the next blank line."""
    return text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]


def md_rows(text: str) -> list[dict[str, str]]:
    """The rows of the first pipe table in `text`, by its header."""
    lines = text.lstrip("\n").split("\n\n", 1)[0].splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, [c.strip() for c in line.strip("|").split("|")], strict=True))
            for line in lines[2:]]


def picked_turns(turns: list[dict]) -> list[int]:
    """The turn indexes a terminal shows: every one up to 8 of them, else 1-4, the powers of
    two and the last."""
    numbers = [t["turn"] for t in turns]
    if len(numbers) <= 8:
        return numbers
    return [n for n in numbers if n <= 4 or n == numbers[-1] or n & (n - 1) == 0]


def fixed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


@pytest.fixture(scope="module")
def session_run(tmp_path_factory, sim):
    """One session run against the simulator (10% of requests fail), headless on a terminal
    80 columns wide: (the printed summary, the cwd, the results folder, summary.json)."""
    cwd = tmp_path_factory.mktemp("sessions")
    write(cwd / "run.yml", SESSIONS)
    write(cwd / "endpoint.yml", endpoint(sim.base_url))
    done = on_terminal("run", "run.yml", "endpoint.yml", "--headless", "--yes", cwd=cwd,
                       columns=80)
    assert done.code == 0, done.stderr
    folder = only_folder(cwd)
    return done, cwd, folder, json.loads((folder / "summary.json").read_text())


def test_a_session_run_says_its_rates_in_sessions_per_second(session_run):
    done, _, _, summary = session_run
    assert summary["workload"] == "sessions"
    out = done.stdout
    assert done.too_long(80) == []
    groups = next(line for line in out.splitlines() if "sessions/s" in line)
    assert groups.split()[0] == "sessions/s" and "req/s" not in out
    for row, ph in zip(rows_of(out), summary["phases"], strict=True):
        assert row[:6] == [str(ph["phase"]), f"{ph['target_rps']:g}", f"{ph['achieved_rps']:.2f}",
                           str(ph["sent"]), str(ph["ok"]), str(ph["failed"])]
        assert ph["achieved_rps"] == ph["sessions"]["achieved_sps"]
    top = max(ph["target_rps"] for ph in summary["phases"])
    assert f"rates up to {top:g} sessions/s" in " ".join(out.split())
    # the progress lines on stderr: each phase's sessions, started of planned and in flight
    first = summary["phases"][0]
    assert (f"phase 1: {first['target_rps']:g} sessions/s for 6 s "
            f"({first['sessions']['planned']} sessions, at most ") in done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith(
        f"[tokenflood] phase 1/2 {first['target_rps']:g} sessions/s ")]
    assert progress and all(f"/{first['sessions']['planned']} started, in flight " in line
                            for line in progress)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_session_run_prints_its_sessions_turns_and_sessions_in_flight(session_run, width):
    done, cwd, folder, summary = session_run
    if width == 80:        # as the run printed it
        out = done.stdout
    else:                  # and as `results` prints it from summary.json
        shown = on_terminal("results", folder.name, "--format", "text", cwd=cwd, columns=width)
        assert shown.code == 0, shown.stderr
        out = shown.stdout
    assert [line for line in out.splitlines() if len(line) > width] == []
    phases = summary["phases"]
    sessions = rows_of(section(out, "sessions"))
    head = next(line for line in section(out, "sessions").splitlines()
                if line.startswith("phase")).split()
    assert head[:5] == (["phase", "offered", "completed", "started", "completed"] if width == 80
                        else ["phase", "target", "offered", "completed", "planned"])
    for row, ph in zip(sessions, phases, strict=True):
        st = ph["sessions"]
        rates, counts = [fixed(st["achieved_sps"], 2), fixed(st["completed_sps"], 2)], [
            str(st["started"]), str(st["completed"])]
        assert row[:5] == ([str(ph["phase"]), *rates, *counts] if width == 80 else
                           [str(ph["phase"]), f"{ph['target_rps']:g}", *rates, str(st["planned"])])
        if width == 120:
            assert row[5:7] == counts
    ramp = " ".join(section(out, "sessions").split())
    assert (f"ramp: the first 1 s of each phase ({phases[0]['sessions']['ramp_requests']} "
            f"requests in phase 1, {phases[1]['sessions']['ramp_requests']} requests in phase 2) "
            "kept out of their latency figures and goodput") in ramp
    # turns: the picked turn indexes of each phase, their requests, TTFT and cache hit
    turns = rows_of(section(out, "turns"))
    expected = [(ph, t) for ph in phases for t in ph["turns"]
                if t["turn"] in picked_turns(ph["turns"])]
    assert any(len(ph["turns"]) > 8 for ph in phases)       # long sessions were picked from
    assert len(turns) == len(expected)
    for row, (ph, t) in zip(turns, expected, strict=True):
        assert row[:5] == [str(ph["phase"]), str(t["turn"]), str(t["requests"]), str(t["ok"]),
                           fixed(t["ttft_ms"]["p50"], 1)]
        assert row[-1] == ("-" if t["cache_hit"] is None else f"{t['cache_hit']:.0%}")
    assert "not shown (summary.md has every turn)" in " ".join(section(out, "turns").split())
    # sessions in flight: the peak, when it drained, a sparkline within the width
    flying = rows_of(section(out, "sessions in flight"))
    for row, ph in zip(flying, phases, strict=True):
        points = ph["sessions"]["in_flight_over_time"]
        assert row[:2] == [str(ph["phase"]), str(max(n for _, n in points))]
        assert row[3] == fixed(points[-1][0], 1)
        assert set(row[4]) <= set("·▁▂▃▄▅▆▇█") and len(row[4]) <= len(points)
    assert f"(█ {max(n for ph in phases for _, n in ph['sessions']['in_flight_over_time'])})" \
        in section(out, "sessions in flight")


def test_a_session_runs_summary_md_has_every_turn_and_the_figures_of_summary_json(session_run):
    _, cwd, folder, summary = session_run
    md = (folder / "summary.md").read_text()
    shown = on_terminal("results", folder.name, "--format", "md", cwd=cwd, columns=80)
    assert shown.code == 0 and shown.stdout == md
    phases = summary["phases"]
    assert "| phase | target sessions/s | achieved sessions/s | sent |" in md
    sessions = md_rows(md.split("\n## Sessions\n", 1)[1])
    for row, ph in zip(sessions, phases, strict=True):
        st = ph["sessions"]
        assert row == {
            "phase": str(ph["phase"]), "target sessions/s": f"{ph['target_rps']:g}",
            "offered sessions/s": fixed(st["achieved_sps"], 2),
            "completed sessions/s": fixed(st["completed_sps"], 2),
            "planned": str(st["planned"]), "started": str(st["started"]),
            "completed": str(st["completed"]), "context limit": str(st["context_limit"]),
            "error": str(st["error"]), "cut": str(st["cut"]),
            "turns per session": fixed(st["turns_mean"], 1),
            **{f"duration {p} s": fixed(st["duration_s"][p], 1) for p in ("p50", "p90", "p99")},
            **{f"slowdown {p}": fixed(st["slowdown"][p], 2) for p in ("p50", "p90", "p99")},
            "sub-agents": str(st["subagents"]), "ramp s": fixed(st["ramp_s"], 1),
            "ramp requests": str(st["ramp_requests"])}
    turns = md_rows(md.split("\n## Turns\n", 1)[1])
    every = [(ph, t) for ph in phases for t in ph["turns"]]
    assert len(turns) == len(every) == sum(len(ph["turns"]) for ph in phases)
    for row, (ph, t) in zip(turns, every, strict=True):
        assert row == {
            "phase": str(ph["phase"]), "turn": str(t["turn"]), "requests": str(t["requests"]),
            "ok": str(t["ok"]),
            **{f"TTFT {p} ms": fixed(t["ttft_ms"][p], 1) for p in ("p50", "p90", "p99")},
            **{f"e2e {p} ms": fixed(t["e2e_ms"][p], 1) for p in ("p50", "p90", "p99")},
            "context tokens": fixed(t["context_tokens_mean"], 0),
            "cached tokens": fixed(t["cached_tokens_mean"], 0),
            "cache hit": "-" if t["cache_hit"] is None else f"{t['cache_hit']:.0%}"}
    # a request failed in some turn: its row says so
    assert any(t["ok"] < t["requests"] for _, t in every)
    flying = md_rows(md.split("\n## Sessions in flight\n", 1)[1])
    top = max(n for ph in phases for _, n in ph["sessions"]["in_flight_over_time"])
    assert f"(· none, █ {top})" in md
    for row, ph in zip(flying, phases, strict=True):
        points = ph["sessions"]["in_flight_over_time"]
        peak = max(n for _, n in points)
        spark = row.pop(next(k for k in row if k.startswith("in flight")))
        assert row == {"phase": str(ph["phase"]), "peak": str(peak),
                       "peak at s": fixed(next(t for t, n in points if n == peak), 1),
                       "drained at s": fixed(points[-1][0], 1)}
        # one character a point: none, or a bar from the lowest to the run's highest peak
        assert spark == "".join("·" if n == 0 else BARS[max(1, min(8, round(n / top * 8))) - 1]
                                for _, n in points)
