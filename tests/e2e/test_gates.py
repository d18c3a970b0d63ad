"""Thresholds and the saturation verdict, as `tokenflood run` gives them against the simulator.

The saturating simulator has a computable capacity: 4 slots, each request holding one for its
TTFT and 19 more tokens (50 + 19 × 10 = 240 ms), so it serves 4 / 0.24 ≈ 16.7 req/s and queues
FIFO beyond.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.tokenflood import TOKENFLOOD, run_together, run_tokenflood, write

TTFT_MS, ITL_MS, SLOTS, OUTPUT = 50.0, 10.0, 4, 20
CAPACITY_RPS = SLOTS / ((TTFT_MS + (OUTPUT - 1) * ITL_MS) / 1000)      # 16.7 req/s
SIM_ARGS = ("--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--slots", str(SLOTS), "--jitter", "0.3")
sim = simulator_fixture(*SIM_ARGS)


def files(tmp_path, base_url: str, rates: str, length: float = 4, extra: str = "") -> tuple[str, str]:
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url))
    write(tmp_path / "run.yml",
          f"name: gates\nrequests_per_second_rates: {rates}\ntest_length_in_seconds: {length}\n"
          f"load_types:\n- {{prompt_length: 64, output_length: {OUTPUT}}}\n{extra}")
    return "run.yml", "endpoint.yml"


def test_thresholds_that_pass_exit_0_with_each_phase_in_summary_json(tmp_path, sim, tokenflood):
    done = tokenflood("run", *files(tmp_path, sim.base_url, "[2, 5]", extra="""\
slo: {ttft_ms: 200}
thresholds:
- ttft_ms.p95 < 200
- e2e_ms.p50 < 1000
- tpot_ms.p90 <= 20
- error_rate < 0.01
- goodput > 0.8
- achieved_ratio > 0.99
"""), "--yes", "--headless")
    assert done.code == 0, done.stderr
    s = done.summary()
    assert [(t["threshold"], t["passed"]) for t in s["thresholds"]] == [
        ("ttft_ms.p95 < 200", True), ("e2e_ms.p50 < 1000", True), ("tpot_ms.p90 <= 20", True),
        ("error_rate < 0.01", True), ("goodput > 0.8", True), ("achieved_ratio > 0.99", True)]
    for t in s["thresholds"]:
        assert [p["phase"] for p in t["phases"]] == [1, 2]
        assert all(p["passed"] and p["value"] is not None for p in t["phases"])
    # each phase's value is its own figure: the TTFT p95 of its ok rows, the simulator's 50 ms ±30%
    for phase in s["phases"]:
        (ttft,) = [c for c in phase["thresholds"] if c["threshold"] == "ttft_ms.p95 < 200"]
        assert 35 <= ttft["value"] < 200
        assert [c["value"] for c in phase["thresholds"] if c["threshold"] == "error_rate < 0.01"] == [0.0]
    assert "thresholds: all 6 passed" in done.stdout
    folder = done.folder()
    assert "- thresholds: all 6 passed" in (folder / "summary.md").read_text()


def test_a_threshold_that_fails_exits_4_after_writing_the_results(tmp_path, sim, tokenflood):
    done = tokenflood("run", *files(tmp_path, sim.base_url, "[2, 5]", extra="""\
thresholds:
- ttft_ms.p50 < 20
- error_rate < 0.01
"""), "--yes", "--headless")
    assert done.code == 4, done.stderr
    s = done.summary()
    assert s["status"] == "completed"
    ttft, errors = s["thresholds"]
    assert ttft["threshold"] == "ttft_ms.p50 < 20" and ttft["passed"] is False
    assert [(p["phase"], p["passed"]) for p in ttft["phases"]] == [(1, False), (2, False)]
    assert all(35 <= p["value"] <= 80 for p in ttft["phases"])      # the simulator's 50 ms
    assert errors["passed"] is True
    # stderr as each phase ends, the table on stdout, summary.md: all say which and why
    value = ttft["phases"][0]["value"]
    assert f"warning: phase 1: threshold ttft_ms.p50 < 20 failed: {value:.4g}" in done.stderr
    assert "thresholds: 1 of 2 failed: ttft_ms.p50 < 20 (exit code 4)" in done.stdout
    md = (done.folder() / "summary.md").read_text()
    assert "## Thresholds" in md
    assert re.search(r"^\| ttft_ms\.p50 < 20 +\| FAIL +\| 0 of 2 +\| 1: [\d.]+, 2: [\d.]+ +\|$",
                     md, re.M)
    # and every phase's value against each threshold
    assert re.search(r"^\| +1 \| +2 \| +[\d.]+ ✗ \| +0 ✓ \|$", md, re.M)
    assert (done.folder() / "requests.csv").read_text().count("\n") > 20


def test_a_bad_threshold_exits_2_naming_the_item_and_what_is_allowed(tmp_path, sim, tokenflood):
    done = tokenflood("run", *files(tmp_path, sim.base_url, "[2]", extra="""\
thresholds:
- ttft_ms.p99 < 500
- ttft_ms.p99 => 500
"""), "--yes", "--headless")
    assert done.code == 2
    assert done.stderr.strip() == (
        "tokenflood: error: run.yml:8: thresholds[1]: 'ttft_ms.p99 => 500': operator '=>' is not "
        "allowed; use <, <=, > or >=")
    assert not done.results.exists() or not any(done.results.iterdir())
    done = tokenflood("run", *files(tmp_path, sim.base_url, "[2]", extra="""\
thresholds: [p99 < 500]
"""), "--yes", "--headless")
    assert done.code == 2 and "Traceback" not in done.stderr
    assert "thresholds[0]: 'p99 < 500': unknown metric 'p99'" in done.stderr


def test_a_threshold_on_an_observation_is_checked_per_poll(tmp_path, sim, tokenflood):
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    write(tmp_path / "obs.yml", f"""\
type: observation
name: watch
duration_hours: {2 * 3 / 3600}
polling_interval_minutes: {3 / 60}
num_requests: 3
within_seconds: 1
align: false
load_type: {{prompt_length: 64, output_length: 4}}
thresholds:
- error_rate < 0.5
- e2e_ms.p50 < 60
""")
    done = tokenflood("run", "obs.yml", "endpoint.yml", "--yes", "--headless")
    # e2e is 50 ms TTFT + 3 × 10 ms (±30%): about 80 ms, so the second threshold fails every poll
    assert done.code == 4, done.stderr
    s = done.summary()
    assert s["type"] == "observation" and len(s["polls"]) == 2
    errors, e2e = s["thresholds"]
    assert errors["passed"] and [p["phase"] for p in errors["phases"]] == [1, 2]
    assert not e2e["passed"] and [(p["phase"], p["passed"]) for p in e2e["phases"]] == [
        (1, False), (2, False)]
    assert re.search(r"^\| threshold +\| result +\| polls passed +\| failed polls \(value\) +\|$",
                     done.stdout, re.M)
    assert re.search(r"^\| e2e_ms\.p50 < 60 +\| FAIL +\| 0 of 2 +\| 1: [\d.]+, 2: [\d.]+ +\|$",
                     done.stdout, re.M)
    assert s["saturated_at_rps"] is None


def test_the_saturation_verdict_on_a_saturating_run_and_not_on_a_healthy_one(tmp_path, sim,
                                                                             start_simulator):
    # both runs at once, each against a saturating simulator of its own
    healthy, over = tmp_path / "healthy", tmp_path / "over"
    healthy.mkdir()
    over.mkdir()
    healthy_done, over_done = run_together(
        (healthy, ("run", *files(healthy, sim.base_url, "[5, 8]", length=6), "--yes", "--headless")),
        (over, ("run", *files(over, start_simulator(*SIM_ARGS).base_url, "[5, 40]", length=5),
                "--yes", "--headless")))
    done = healthy_done
    assert done.code == 0, done.stderr
    s = done.summary()
    assert [p["saturated"] for p in s["phases"]] == [False, False]
    # 8 req/s is half the capacity: TTFT stays at one level through the phase (the seeded
    # schedule gives each third of a phase 10 or more requests, enough for a verdict)
    assert all(0.6 < p["latency_growth"] < 1.5 for p in s["phases"]), [
        p["latency_growth"] for p in s["phases"]]
    assert s["saturated_at_rps"] is None and s["held_rps"] is None
    assert not [w for w in s["warnings"] if "saturated" in w]
    assert "no phase saturated the server (rates up to 8 req/s)" in done.stdout

    done = over_done
    assert done.code == 0, done.stderr         # a verdict, not a threshold: the run succeeded
    s = done.summary()
    low, high = s["phases"]
    assert 40 > 2 * CAPACITY_RPS
    assert not low["saturated"] and high["saturated"] and 0.6 < low["latency_growth"] < 1.5
    # the queue grows from empty at 40 − 16.7 req/s: its wait in the last third is several
    # times the first third's
    assert high["latency_growth"] > 3
    assert high["saturation"].startswith("TTFT p50 grew from ")
    assert high["saturation"].endswith(" within the phase")
    assert (s["saturated_at_rps"], s["held_rps"]) == (40.0, 5.0)
    # (a loaded machine may add a client-bound warning for a sender some ms late between them)
    assert f"phase 2 (40 req/s): the server saturated: {high['saturation']}" in s["warnings"]
    assert s["warnings"][-1] == (
        "the server saturated at about 40 req/s (phase 2); the highest rate it held was 5 req/s "
        "(phase 1)")
    assert "SATURATED" in done.stdout
    assert ("the server saturated at about 40 req/s; the highest rate it held was 5 req/s"
            in (done.folder() / "summary.md").read_text())


def test_an_interrupted_run_keeps_130_though_a_threshold_failed(tmp_path, sim):
    run_yml, endpoint_yml = files(tmp_path, sim.base_url, "[5]", length=30,
                                  extra="thresholds: [ttft_ms.p50 < 1]\n")
    results = tmp_path / "results"
    proc = subprocess.Popen([TOKENFLOOD, "run", run_yml, endpoint_yml, "--yes", "--headless",
                             "--results-dir", str(results)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            f.stat().st_size > 400 for f in results.glob("*/requests.csv")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (folder,) = results.iterdir()
    s = json.loads((folder / "summary.json").read_text())
    assert s["status"] == "interrupted" and s["thresholds"][0]["passed"] is False
    assert "thresholds: 1 of 1 failed: ttft_ms.p50 < 1\n" in out       # no "exit code 4"


def test_an_ab_experiment_whose_variants_fail_a_threshold_runs_every_turn_and_exits_4(tmp_path, sim,
                                                                                    start_simulator):
    """A variant that finished its turns with a failed threshold has not ended early: the
    other variants' turns still run."""
    files(tmp_path, sim.base_url, "[5]", length=2, extra="thresholds: [ttft_ms.p50 < 10]\n")
    write(tmp_path / "other.yml", endpoint_yml(start_simulator("--ttft-ms", "30").base_url))
    done = run_tokenflood("ab", "run.yml", "endpoint.yml", "other.yml", "--rounds", "2",
                          "--yes", cwd=tmp_path, timeout=180)
    assert done.code == 4, done.stderr
    assert "ended early" not in done.stderr
    (folder,) = done.results.iterdir()
    for name in ("endpoint", "other"):
        s = json.loads((folder / name / "summary.json").read_text())
        assert s["status"] == "completed", (name, s["message"])
        assert s["thresholds"][0]["passed"] is False
        assert len(s["thresholds"][0]["phases"]) == 2          # both rounds were checked
