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
import struct
import subprocess
import termios
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenflood_tui.metrics.summary import RunSummary
from tokenflood_tui.outputs import printed
from tokenflood_tui.simulator import SimulatorProcess

from compared_runs import make_runs
from helpers import TOKENFLOOD, write

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
    assert head.split()[:6] == ["phase", "target", "achieved", "sent", "ok", "failed"]
    assert head.split()[-1] == "verdict"
    for row, ph in zip(rows_of(out), summary["phases"], strict=True):
        assert row[:6] == [str(ph["phase"]), f"{ph['target_rps']:g}", f"{ph['achieved_rps']:.2f}",
                           str(ph["sent"]), str(ph["ok"]), str(ph["failed"])]
        assert row[6] == f"{ph['ttft_ms']['p50']:,.1f}"
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
