"""A capacity search against the simulator with a known capacity: 2 slots, each request 20 ms to
the first token and 18 more tokens 10 ms apart — 200 ms a request, so 10 req/s at most. With
constant arrivals nothing queues below that rate, and above it the queue grows every second,
so any SLO on latency breaks just above 10 req/s. Two SLOs (a percentile bound and a
per-request bound with goodput) must each be bracketed within the tolerance; an SLO the server
cannot meet at all gets a clear answer."""

from __future__ import annotations

import contextlib
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tokenflood_tui.run import budget
from tokenflood_tui.simulator import SimulatorProcess
from tokenflood_tui.specs import parse_endpoint, parse_run_suite

from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.tokenflood import Completed, run_tokenflood, write

SLOTS, TTFT_MS, ITL_MS, OUTPUT = 2, 20, 10, 19
CAPACITY = SLOTS / ((TTFT_MS + (OUTPUT - 1) * ITL_MS) / 1000)      # 10 req/s
TOLERANCE = 0.15
MAX_PHASES = 8
LIMITS = {"TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000"}


def suite(slo: str, start: float = 3) -> str:
    return f"""\
type: search
name: capacity
slo: {slo}
start_rps: {start}
max_rps: 64
phase_seconds: 4
tolerance: {TOLERANCE}
max_phases: {MAX_PHASES}
arrival: constant
load_types: [{{prompt_length: 32, output_length: {OUTPUT}}}]
"""


SIM_ARGS = ("--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--slots", str(SLOTS))
sim = simulator_fixture(*SIM_ARGS)
BRACKETED = ["{ttft_ms: {p90: 300}}", "{e2e_ms: 500, goodput_min: 0.9}"]


def search(tmp_path, sim, slo: str, start: float = 3):
    write(tmp_path / "search.yml", suite(slo, start))
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    done = run_tokenflood("run", "search.yml", "endpoint.yml", "--headless", "--yes",
                          cwd=tmp_path, env=LIMITS, timeout=180)
    assert done.code == 0, done.stderr
    return done, done.summary()


@pytest.fixture(scope="module")
def searches(tmp_path_factory) -> dict[str, tuple[Completed, dict]]:
    """Both SLOs' searches, run at the same time, each against a capacity simulator of its own
    (a shared one would serve both loads): the module waits for one search instead of two."""
    with ThreadPoolExecutor(len(BRACKETED)) as pool, contextlib.ExitStack() as stack:
        sims = [stack.enter_context(SimulatorProcess(*SIM_ARGS)) for _ in BRACKETED]
        runs = [pool.submit(search, tmp_path_factory.mktemp("search"), s, slo)
                for s, slo in zip(sims, BRACKETED, strict=True)]
        return {slo: run.result() for slo, run in zip(BRACKETED, runs, strict=True)}


@pytest.mark.parametrize("slo", BRACKETED)
def test_the_search_brackets_the_capacity_within_the_tolerance(searches, slo):
    done, s = searches[slo]
    result = s["search"]
    lower, upper = result["lower_rps"], result["upper_rps"]
    assert s["type"] == "search" and lower is not None and upper is not None, result
    assert lower < upper and (upper - lower) / lower <= TOLERANCE
    assert lower <= CAPACITY * (1 + TOLERANCE) and upper >= CAPACITY * (1 - TOLERANCE), result
    assert len(s["phases"]) == len(result["steps"]) <= MAX_PHASES
    # ramps geometrically until it fails, then only rates inside the bracket
    rates = [st["target_rps"] for st in result["steps"]]
    first_fail = next(i for i, st in enumerate(result["steps"]) if not st["meets"])
    assert rates[:first_fail + 1] == [3 * 2 ** i for i in range(first_fail + 1)]
    assert all(rates[first_fail - 1] < r < rates[first_fail] for r in rates[first_fail + 1:])
    # every step is a normal phase of the folder, with its rows
    rows = (done.folder() / "requests.csv").read_text().splitlines()[1:]
    assert len(rows) == sum(ph["sent"] for ph in s["phases"])
    assert f"up to {lower:g} req/s (fails at {upper:g} req/s)" in result["answer"]
    assert result["output_tokens_per_s"] > 0 and result["knee_rps"] is not None
    # headless: one line per phase with its verdict, then the answer
    lines = [line for line in done.stderr.splitlines() if "search phase" in line]
    assert len(lines) == len(rates) and "done: the interval is within the tolerance" in lines[-1]
    assert "answer: meets the SLO" in done.stdout
    md = (done.folder() / "summary.md").read_text()
    assert "## Search" in md and result["answer"] in md


def test_an_slo_the_server_cannot_meet_gets_a_clear_answer(tmp_path, sim):
    done, s = search(tmp_path, sim, "{ttft_ms: {p50: 5}}")     # the first token takes 20 ms
    result = s["search"]
    assert result["lower_rps"] is None and result["upper_rps"] == 3
    assert result["answer"].startswith("does not meet the SLO (TTFT p50 ≤ 5 ms) even at "
                                       "start_rps 3 req/s")
    assert len(s["phases"]) == 1
    # the simulator's 20 ms (30 ms seen beside a CPU hog and five other test processes)
    why = re.fullmatch(r"TTFT p50 (\d+) ms > 5", result["steps"][0]["why"])
    assert why and 20 <= int(why[1]) < 100, result["steps"]
    again = run_tokenflood("resume", str(done.folder()), "--yes", "--headless", cwd=tmp_path)
    assert again.code == 2 and "completed" in again.stderr


def test_the_budget_is_an_upper_bound(tmp_path, sim):
    write(tmp_path / "search.yml", suite("{ttft_ms: {p90: 300}}"))
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    done = run_tokenflood("run", "search.yml", "endpoint.yml", "--headless", "--yes",
                          cwd=tmp_path)
    assert done.code == 3
    # the most the search can send: the ramp 3, 6, 12, 24, 48, 64 until it fails at max_rps, then
    # the phases left bisecting below 64, each for 4 s (constant), 19 output tokens each
    est = budget.search_estimate(parse_run_suite(suite("{ttft_ms: {p90: 300}}")),
                                 parse_endpoint(f"provider: hosted_vllm\nmodel: m\nbase_url: "
                                                f"{sim.base_url}\n"))
    worst = [3, 6, 12, 24, 48, 64] + [64] * (MAX_PHASES - 6)
    assert est.requests >= sum(rate * 4 for rate in worst) and est.at_most
    assert est.output_tokens >= est.requests * OUTPUT
    assert f"output tokens  at most {est.output_tokens:,}" in done.stderr
    assert "lower max_rps, phase_seconds or max_phases" in done.stderr
    assert "duration       at most 32 s of load (about" in done.stderr


def test_a_bad_search_suite_says_what_to_fix(tmp_path):
    write(tmp_path / "endpoint.yml", endpoint_yml("http://127.0.0.1:9/v1", model="m"))
    for text, expected in [
            (suite("{ttft_ms: {p99: 500}}").replace("max_rps: 64", "max_rps: 1"),
             "max_rps (1) is below start_rps"),
            (suite("{ttft_ms: {q99: 500}}"), "'q99' is not a percentile"),
            (suite("{goodput_min: 0.9}"), "give at least one of ttft_ms, tpot_ms, e2e_ms")]:
        write(tmp_path / "bad.yml", text)
        done = run_tokenflood("run", "bad.yml", "endpoint.yml", "--headless", "--yes",
                              cwd=tmp_path)
        assert done.code == 2 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
