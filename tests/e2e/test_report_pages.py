"""report.html of real runs against the simulator — a load test, an observation, a search, a
session run — and of a comparison, each made once for the module: checked for content (every
phase's figures, failures, thresholds, the search's steps, the sessions' turns), for being
self-contained (nothing loaded from a network, no secret of the endpoint's env var), and opened in
headless Chromium: the charts drawn by uPlot with the right series and points, hover values in
the legend, no request but the page's own file. `tokenflood report` rewrites pages for any
folder, a killed run's and an earlier version's too."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tokenflood_tui.metrics.summary import RunSummary, pkey
from tokenflood_tui.outputs.formats import number
from tokenflood_tui.simulator import SimulatorProcess

from support.browser import find_browser, open_page, MISSING
from support.compared_runs import shared_runs
from support.specs import endpoint_yml, run_yml
from support.tokenflood import run_together, run_tokenflood, write

SECRET = "sk-report-page-0123456789abcdef"
KEY_VAR = "TOKENFLOOD_REPORT_TEST_KEY"
ENV = {KEY_VAR: SECRET, "TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000"}
RATES = [2, 4, 6, 8, 10]
THRESHOLDS = "thresholds:\n- ttft_ms.p99 < 5000\n- error_rate < 0.01\n"
OBSERVATION = """\
type: observation
name: watch
duration_hours: {hours}
polling_interval_minutes: 0.05
num_requests: 3
within_seconds: 1
load_type: {{prompt_length: 64, output_length: 4}}
"""
POLLS = 3
# against a server of 10 req/s (2 slots, 200 ms a request: as tests/e2e/test_search.py's)
SEARCH = """\
type: search
name: capacity
slo: {ttft_ms: {p90: 300}}
start_rps: 4
max_rps: 32
phase_seconds: 1
max_phases: 4
tolerance: 0.3
arrival: constant
load_types: [{prompt_length: 32, output_length: 19}]
"""
CAPACITY_SIM = ("--ttft-ms", "20", "--itl-ms", "10", "--slots", "2", "--api-key", SECRET)
SESSIONS = """\
name: chat
sessions_per_second_rates: [1, 2]
test_length_in_seconds: 2
arrival: constant
ramp_seconds: 0
session_types:
- {name: chat, system_prompt_tokens: 64, turns: 3, user_tokens: 24, output_tokens: 8, think_seconds: 0.05}
"""
KINDS = ("load_test", "observation", "search", "sessions")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One real run of each kind, all at once against a simulator that wants an API key (from
    the env var the endpoint names) and fails a tenth of its requests with a 503 (the search: one
    of a known capacity, without failures, so it takes several steps)."""
    root = tmp_path_factory.mktemp("report-runs")
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2", "--api-key", SECRET,
                          "--error-rate", "503=0.1", "--seed", "3") as sim, \
            SimulatorProcess(*CAPACITY_SIM) as capacity:
        runs = []
        for kind in KINDS:
            cwd = root / kind
            cwd.mkdir()
            url = (capacity if kind == "search" else sim).base_url
            write(cwd / "endpoint.yml", endpoint_yml(url, f"api_key_env_var: {KEY_VAR}\n"))
            suite = {"load_test": run_yml("five", rates=RATES, length=1, extra=THRESHOLDS),
                     "observation": OBSERVATION.format(hours=POLLS * 3 / 3600),
                     "search": SEARCH, "sessions": SESSIONS}[kind]
            write(cwd / "run.yml", suite)
            runs.append((cwd, ["run", "run.yml", "endpoint.yml", "--headless", "--yes"]))
        done = run_together(*runs, env=ENV, timeout=180)
    for kind, run in zip(KINDS, done, strict=True):
        assert run.code in (0, 4), (kind, run.stderr)      # 4: a threshold failed
    return {kind: run.folder() for kind, run in zip(KINDS, done, strict=True)}


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> Path:
    runs = shared_runs(tmp_path_factory)
    out = tmp_path_factory.mktemp("report-compare") / "cmp"
    done = run_tokenflood("compare", str(runs.fast), str(runs.slow), "--out", str(out),
                          "--headless", cwd=out.parent)
    assert done.code == 0, done.stderr
    return out


class Tables(HTMLParser):
    """The page's tables as rows of cell texts, each under the h2 (and h3) before it."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list[list[list[str]]]] = {}
        self._heading: list[str] = []
        self._in: str | None = None
        self._text = ""
        self._row: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "h3", "td", "th"):
            self._in, self._text = tag, ""
        elif tag == "table":
            self.tables.setdefault(" / ".join(self._heading), []).append([])
        elif tag == "tr":
            self._row = []

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "h2":
            self._heading = [self._text]
        elif tag == "h3":
            self._heading = self._heading[:1] + [self._text]
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(self._text)
        elif tag == "tr" and self._row is not None:
            list(self.tables.values())[-1][-1].append(self._row)
            self._row = None
        if tag == self._in:
            self._in = None

    def table(self, heading: str, index: int = 0) -> list[dict[str, str]]:
        head, *rows = self.tables[heading][index]
        return [dict(zip(head, row, strict=True)) for row in rows]


def page_of(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------------ the files


@pytest.mark.parametrize("kind", KINDS)
def test_each_run_writes_a_self_contained_page_without_the_secret(folders, kind):
    html = page_of(folders[kind])
    assert html.startswith("<!DOCTYPE html>") and "default-src 'none'" in html
    # nothing to fetch: no external script, stylesheet, image, font or frame
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//"""
                         r"|<link\b|<iframe\b|@import", html, re.I)
    assert SECRET not in html and SECRET not in (folders[kind] / "summary.json").read_text()
    assert "uPlot 1.6.32 (MIT" in html and 40_000 < len(html.encode()) < 250_000


def test_the_load_test_page_has_every_phase_its_failures_and_thresholds(folders):
    summary = RunSummary.load(folders["load_test"])
    html = page_of(folders["load_test"])
    tables = Tables(html)
    phases = tables.table("Phases")
    assert [row["phase"] for row in phases] == [str(ph.phase) for ph in summary.phases] \
        == ["1", "2", "3", "4", "5"]
    for row, ph in zip(phases, summary.phases, strict=True):
        assert row["target req/s"] == f"{ph.target_rps:g}" and row["sent"] == str(ph.sent)
        assert row["ok"] == str(ph.ok) and row["failed"] == str(ph.failed)
        for p in summary.percentiles:
            assert row[f"TTFT {pkey(p)} ms"] == number(ph.ttft_ms.at(p), 1)
            assert row[f"e2e {pkey(p)} ms"] == number(ph.e2e_ms.at(p), 1)
    failures = tables.table("Failures by kind")
    assert sum(int(r["requests"]) for r in failures) == sum(ph.failed for ph in summary.phases) > 0
    assert {(r["status"], r["HTTP"]) for r in failures} == {("http_error", "503")}
    thresholds = tables.table("Thresholds")
    assert [(r["threshold"], r["result"]) for r in thresholds] == [
        (t.threshold, "pass" if t.passed else "FAIL") for t in summary.thresholds]
    assert [r["threshold"] for r in thresholds] == ["ttft_ms.p99 < 5000", "error_rate < 0.01"]
    header = re.search(r'<dl class="facts">(.*?)</dl>', html).group(1)
    assert "sim-model (hosted_vllm, client openai) at http://127.0.0.1:" in header
    assert summary.started_at in header and "how it ended</dt><dd>completed" in header


def test_the_observation_page_has_its_polls_hours_and_failures(folders):
    summary = RunSummary.load(folders["observation"])
    tables = Tables(page_of(folders["observation"]))
    polls = tables.table("Polls")
    assert len(polls) == len(summary.polls) == POLLS
    assert [(r["poll"], r["sent"], r["ok"]) for r in polls] == [
        (str(p.phase), str(p.sent), str(p.ok)) for p in summary.polls]
    hours = tables.table("Hours of day (UTC)")
    assert [r["requests"] for r in hours] == [str(h.requests) for h in summary.hours]
    assert sum(int(r["requests"]) for r in hours) == sum(p.sent for p in summary.polls)


def test_the_search_page_has_its_answer_and_steps(folders):
    summary = RunSummary.load(folders["search"])
    assert summary.search is not None and len(summary.search.steps) >= 3
    html = page_of(folders["search"])
    steps = Tables(html).table("Search")
    assert [(r["target req/s"], r["SLO"]) for r in steps] == [
        (f"{st.target_rps:g}", "meets" if st.meets else "fails") for st in summary.search.steps]
    assert f"answer: {summary.search.answer}" in html.replace("&#x27;", "'")


def test_the_session_page_has_its_sessions_and_turns(folders):
    summary = RunSummary.load(folders["sessions"])
    tables = Tables(page_of(folders["sessions"]))
    sessions = tables.table("Sessions / Sessions")
    assert [r["started"] for r in sessions] == [str(ph.sessions.started) for ph in summary.phases]
    turns = tables.table("Sessions / Turns")
    assert [(r["phase"], r["turn"], r["requests"]) for r in turns] == [
        (str(ph.phase), str(t.turn), str(t.requests)) for ph in summary.phases for t in ph.turns]
    assert {r["turn"] for r in turns} == {"1", "2", "3"}


def test_the_comparison_page_has_the_runs_verdicts_and_warnings(comparison):
    compared = json.loads((comparison / "compare.json").read_text())
    tables = Tables(page_of(comparison))
    runs = tables.table("Runs")
    assert [r["results folder"] for r in runs] == [r["name"] for r in compared["runs"]]
    ttft = tables.table("TTFT (ms)")
    cells = [c for c in compared["cells"] if c["metric"] == "ttft_ms"]
    assert [(r["rate"], r["pct"], r["verdict"]) for r in ttft] == [
        (c["group"], pkey(c["percentile"]), c["runs"][1]["verdict"]) for c in cells]
    assert "slower" in {r["verdict"] for r in ttft}


# ------------------------------------------------------------------------ in a browser

CHARTS = """Array.from(document.querySelectorAll('.uplot')).map(u => ({
    title: u.closest('figure').querySelector('figcaption').textContent,
    series: u.querySelectorAll('.u-legend tr.u-series').length - 1,
    canvas: u.querySelector('canvas') !== null}))"""
POINTS = "window.tokenfloodCharts.map(u => u.data.slice(1).map(s => s.filter(v => v != null).length))"


def hover(chart: int, point: int) -> str:
    """Move the mouse over a chart at its `point`-th x value; the legend's values then."""
    return f"""new Promise(done => {{
        const u = window.tokenfloodCharts[{chart}], box = u.over.getBoundingClientRect();
        const x = box.left + u.valToPos(u.data[0][{point}], 'x'), y = box.top + box.height / 2;
        for (const type of ['mouseenter', 'mousemove'])
            u.over.dispatchEvent(new MouseEvent(type, {{clientX: x, clientY: y, bubbles: true}}));
        requestAnimationFrame(() => done(Array.from(
            u.root.querySelectorAll('.u-legend .u-value')).map(e => e.textContent)));
    }})"""


def opened(folder: Path, *questions: str, shot: str | None = None):
    """The answers to CHARTS, POINTS and `questions` once the page loaded in Chromium, which
    fetched nothing but the page and met no error; a screenshot named `shot` beside the folder,
    or in $TOKENFLOOD_SCREENSHOTS (to keep one for a note)."""
    if find_browser() is None:
        pytest.fail(MISSING)
    page = folder / "report.html"
    shots = Path(os.environ.get("TOKENFLOOD_SCREENSHOTS") or folder.parent)
    result = open_page(page, [CHARTS, POINTS, *questions], shots / shot if shot else None)
    assert result.requests == [page.resolve().as_uri()]      # nothing else was fetched
    assert result.errors == []
    return result.answers


def test_the_load_test_page_draws_its_charts_in_a_browser(folders):
    summary = RunSummary.load(folders["load_test"])
    charts, points, legend = opened(folders["load_test"], hover(0, 2), shot="load_test.png")
    n = len(summary.percentiles)
    assert [c["title"] for c in charts] == [
        "TTFT by target rate (ms)", "end-to-end latency by target rate (ms)",
        "TPOT by target rate (ms)"]
    assert all(c["series"] == n and c["canvas"] for c in charts)
    # a point per phase with a value (a phase whose few requests all failed has none)
    assert points == [[sum(ph.metric(m).at(p) is not None for ph in summary.phases)
                       for p in summary.percentiles] for m in ("ttft_ms", "e2e_ms", "tpot_ms")]
    assert points[0][0] >= len(RATES) - 1
    third = summary.phases[2]        # 6 req/s: the hover shows its rate and its percentiles
    assert legend == ["6"] + [f"{third.ttft_ms.at(p):,.1f}" for p in summary.percentiles]


def test_the_observation_page_draws_its_polls_over_time_in_a_browser(folders):
    summary = RunSummary.load(folders["observation"])
    charts, points = opened(folders["observation"], shot="observation.png")
    n = len(summary.percentiles)
    assert [c["title"] for c in charts] == [
        "TTFT per poll (ms)", "end-to-end latency per poll (ms)", "TTFT by hour of day (ms)",
        "end-to-end latency by hour of day (ms)"]
    with_ttft = sum(1 for p in summary.polls if p.ttft_ms.at(50) is not None)
    assert points[:2] == [[with_ttft] * n] * 2 and points[2:] == [[len(summary.hours)] * n] * 2


def test_the_search_page_draws_its_steps_in_a_browser(folders):
    summary = RunSummary.load(folders["search"])
    steps = summary.search.steps
    charts, points = opened(folders["search"], shot="search.png")
    assert charts[0]["title"] == "the rate of each step (req/s)" and charts[0]["series"] == 4
    met = sum(st.meets for st in steps)
    assert points[0] == [len(steps), len(steps), met, len(steps) - met]
    assert len(charts) == 4 and [c["series"] for c in charts[1:]] == [3, 3, 3]


def test_the_session_page_draws_turns_and_sessions_in_flight_in_a_browser(folders):
    summary = RunSummary.load(folders["sessions"])
    charts, points = opened(folders["sessions"], shot="sessions.png")
    titles = [c["title"] for c in charts]
    assert titles[3:] == ["phase 1 (1 sessions/s): TTFT by turn (ms)", "phase 1: sessions in flight",
                          "phase 2 (2 sessions/s): TTFT by turn (ms)", "phase 2: sessions in flight"]
    for i, ph in enumerate(summary.phases):
        # a turn index whose requests all failed (or fell in the ramp) has no point
        assert points[3 + 2 * i] == [sum(t.ttft_ms.at(p) is not None for t in ph.turns)
                                     for p in summary.percentiles]
        assert points[4 + 2 * i] == [len(ph.sessions.in_flight_over_time)]


def test_the_comparison_page_overlays_the_runs_in_a_browser(comparison):
    compared = json.loads((comparison / "compare.json").read_text())
    charts, points, legend = opened(comparison, hover(0, 0), shot="comparison.png")
    metrics, percentiles = compared["metrics"], compared["percentiles"]
    assert len(charts) == len(metrics) * len(percentiles)
    assert all(c["series"] == 2 for c in charts)           # A and B in every chart
    assert points == [[len(compared["groups"])] * 2] * len(charts)
    first = next(c for c in compared["cells"] if c["metric"] == metrics[0]
                 and c["percentile"] == percentiles[0])
    assert legend == [first["group"].removesuffix(" req/s")] + [
        f"{r['value_ms']:,.1f}" for r in first["runs"]]


# ------------------------------------------------------------------------ tokenflood report


def test_report_rewrites_pages_for_old_killed_and_other_folders(folders, tmp_path):
    # a session run's folder of an earlier version (summary.json alone), a killed run's (its
    # summary.json gone: the page is built from the journal and the rows), and a stray folder
    old = shutil.copytree(Path(__file__).parents[1] / "tui" / "fixtures" / "sessions"
                          / "2026-12-07_13-58-40_chat-agent_sim-model", tmp_path / "old")
    killed = shutil.copytree(folders["load_test"], tmp_path / "killed")
    (killed / "summary.json").unlink()
    (killed / "report.html").unlink()
    stray = tmp_path / "stray"
    stray.mkdir()
    done = run_tokenflood("report", str(old), str(stray), str(killed), cwd=tmp_path, env=ENV)
    assert done.code == 2
    assert done.stdout.split() == [str(old / "report.html"), str(killed / "report.html")]
    assert done.stderr == (f"tokenflood: error: {stray}: not a results folder, comparison or "
                           "A/B experiment (it has no summary.json, compare.json or "
                           "experiment.json)\n")
    assert "TTFT by turn" in page_of(old) and "Sessions in flight" in page_of(old)
    partial = page_of(killed)
    assert "(partial)" in partial and SECRET not in partial
    assert len(Tables(partial).table("Phases")) == len(RATES)

    out = tmp_path / "one.html"
    done = run_tokenflood("report", str(folders["search"]), "--out", str(out), cwd=tmp_path)
    assert done.code == 0 and done.stdout.strip() == str(out) and "Search" in out.read_text()
    done = run_tokenflood("report", str(old), str(killed), "--out", str(out), cwd=tmp_path)
    assert done.code == 2 and done.stderr.startswith("tokenflood: error: --out names one file")


def test_report_rewrites_a_comparison_page(comparison, tmp_path):
    out = tmp_path / "again.html"
    done = run_tokenflood("report", str(comparison), "--out", str(out), cwd=tmp_path)
    assert done.code == 0 and done.stdout.strip() == str(out)
    again, first = Tables(out.read_text()), Tables(page_of(comparison))
    assert again.tables == first.tables and len(again.tables["TTFT (ms)"][0]) > 1
