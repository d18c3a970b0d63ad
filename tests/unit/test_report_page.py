"""report.html built from typed summaries that no short real run gives: a three-day observation
(its size, its gaps), a reasoning model's phases, and text that must not break out of the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tokenflood_tui.metrics.summary import Distribution, RunSummary
from tokenflood_tui.report import run as report_page

from support.observations import long_summary

FAILURES = (Path(__file__).parents[1] / "tui" / "fixtures" / "results-failures"
            / "2026-01-03_10-00-00_flaky-503_sim-model")


def charts_of(html: str) -> list[dict]:
    data = re.search(r'<script type="application/json" id="tokenflood-charts">(.*?)</script>',
                     html, re.S)
    assert data is not None
    return json.loads(data.group(1))


def test_a_three_day_observation_page_stays_small_and_shows_missed_polls_as_gaps():
    summary = long_summary()
    html = report_page.page(summary, "three-days")
    assert len(html.encode()) < 300_000            # 288 polls: the table is most of it
    charts = charts_of(html)
    assert [c["title"] for c in charts[:2]] == ["TTFT per poll (ms)",
                                                 "end-to-end latency per poll (ms)"]
    ttft = charts[0]
    assert ttft["x"]["time"] and len(ttft["x"]["values"]) == 288
    assert ttft["x"]["values"][1] - ttft["x"]["values"][0] == 900     # 15 minutes
    p50 = ttft["series"][0]["values"]
    gaps = [i + 1 for i, v in enumerate(p50) if v is None]
    assert gaps == [*range(101, 111), 150]        # missed polls, and the one where all failed
    assert p50[0] == 301.0 and ttft["series"][2]["values"][0] == 301.0 * 1.5
    assert "10 polls (101-110): tokenflood was not running" in html


def test_a_reasoning_model_gets_its_reasoning_charts_and_table():
    base = RunSummary.load(FAILURES)
    phases = [ph.model_copy(update={
        "reasoning": True, "reasoning_tokens_mean": 120.0, "answer_tokens_mean": 30.0,
        "ttfa_ms": Distribution(mean=900.0, p50=800.0 + ph.phase, p90=950.0, p99=990.0),
        "reasoning_ms": Distribution(mean=700.0, p50=650.0, p90=800.0, p99=850.0)})
        for ph in base.phases]
    html = report_page.page(base.model_copy(update={"phases": phases}), FAILURES.name)
    titles = [c["title"] for c in charts_of(html)]
    assert titles[-2:] == ["TTFA (time to the first answer token) by target rate (ms)",
                           "time reasoning by target rate (ms)"]
    ttfa = charts_of(html)[-2]
    by_rate = sorted(phases, key=lambda ph: (ph.target_rps, ph.phase))
    assert ttfa["series"][0]["values"] == [800.0 + ph.phase for ph in by_rate]
    assert '<h2 id="reasoning">Reasoning</h2>' in html and "<td>120.0</td>" in html
    plain = report_page.page(base, FAILURES.name)
    assert "Reasoning" not in plain and len(charts_of(plain)) == len(titles) - 2


def test_text_from_a_summary_cannot_break_out_of_the_page():
    base = RunSummary.load(FAILURES)
    hostile = "</script><script>alert(1)</script><b>"
    html = report_page.page(base.model_copy(update={"run_name": hostile,
                                                    "warnings": [hostile]}), "x")
    assert hostile not in html and html.count("<script") == 3     # data, uPlot, the page's
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html
    assert charts_of(html)                                        # the data still parses
