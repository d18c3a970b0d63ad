"""`tokenflood run` as a subprocess against the simulator: measured numbers against its config."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time

import pytest

from tokenflood_tui.results import CSV_COLUMNS
from tokenflood_tui.simulator import SimulatorProcess

from helpers import TOKENFLOOD, write

TTFT_MS, ITL_MS = 80.0, 10.0


@pytest.fixture(scope="module")
def sim():
    with SimulatorProcess("--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS)) as s:
        yield s


def endpoint(tmp_path, base_url: str, extra: str = "") -> str:
    write(tmp_path / "endpoint.yml",
          f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n{extra}")
    return "endpoint.yml"


def suite(tmp_path, rates="[5, 20]", length=3, arrival="constant", extra="",
          load_types="- {prompt_length: 300, prefix_length: 200, output_length: 16}\n") -> str:
    write(tmp_path / "run.yml",
          f"name: e2e\nrequests_per_second_rates: {rates}\ntest_length_in_seconds: {length}\n"
          f"arrival: {arrival}\nload_types:\n{load_types}{extra}")
    return "run.yml"


def rows(folder) -> list[dict]:
    with open(folder / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_measured_latency_matches_the_simulator_and_counts_match_the_rate(tmp_path, sim, tokenflood):
    done = tokenflood("run", suite(tmp_path), endpoint(tmp_path, sim.base_url), "--yes", "--headless")
    assert done.code == 0, done.stderr
    s = done.summary()
    assert s["status"] == "completed" and s["client"] == "openai"
    phases = s["phases"]
    assert [p["sent"] for p in phases] == [15, 60]          # constant: rate x length exactly
    assert [p["ok"] for p in phases] == [15, 60]
    for p in phases:
        # The simulator sends its role-only chunk at once; TTFT must wait for the first token.
        assert TTFT_MS <= p["ttft_ms"]["p50"] <= TTFT_MS + 5
        assert p["ttft_ms"]["p99"] <= TTFT_MS + 15
        expected_e2e = TTFT_MS + 15 * ITL_MS
        assert expected_e2e <= p["e2e_ms"]["p50"] <= expected_e2e + 8
        assert p["itl_ms"]["p50"] == pytest.approx(ITL_MS, abs=1.5)
        assert p["achieved_rps"] == pytest.approx(p["target_rps"], rel=0.02)
        assert p["dispatch_delay_ms"]["p99"] < 5
        assert p["prompt_tokens_mean"] == 300 and p["output_tokens_mean"] == 16
        assert p["cached_tokens_mean"] >= 192            # the 200-token prefix, in 16-token blocks
    assert s["warnings"] == []
    # the table on stdout, progress on stderr
    assert "| phase |" in done.stdout and "TTFT p50" in done.stderr

    folder = done.folder()
    assert sorted(p.name for p in folder.iterdir()) == [
        "endpoint.yml", "errors.log", "latency_quantiles.html", "latency_quantiles.txt",
        "requests.csv", "run.yml", "summary.json", "summary.md"]
    with open(folder / "requests.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[:22] == CSV_COLUMNS[:22]
    table = rows(folder)
    assert len(table) == 75 and {r["status"] for r in table} == {"ok"}
    first = table[0]
    assert (float(first["t_sched_s"]) <= float(first["t_send_s"]) < float(first["t_first_s"])
            < float(first["t_end_s"]))
    assert (folder / "errors.log").read_text() == ""
    assert "TTFT (ms) by request rate" in (folder / "latency_quantiles.txt").read_text()
    assert "<html" in (folder / "latency_quantiles.html").read_text().lower()
    assert "| phase |" in (folder / "summary.md").read_text()


def test_poisson_phase_counts_are_near_rate_times_length(tmp_path, sim, tokenflood):
    done = tokenflood("run", suite(tmp_path, rates="[40]", length=5, arrival="poisson"),
                      endpoint(tmp_path, sim.base_url), "--yes")
    assert done.code == 0, done.stderr
    (phase,) = done.summary()["phases"]
    assert abs(phase["sent"] - 200) < 4 * 200 ** 0.5
    assert phase["ttft_ms"]["p50"] == pytest.approx(TTFT_MS, abs=5)


def test_litellm_client_measures_the_same_server(tmp_path, sim, tokenflood):
    done = tokenflood("run", suite(tmp_path, rates="[4]", length=3),
                      endpoint(tmp_path, sim.base_url, "client: litellm\n"), "--yes")
    assert done.code == 0, done.stderr
    s = done.summary()
    assert s["client"] == "litellm"
    (phase,) = s["phases"]
    assert phase["ok"] == 12 and phase["output_tokens_mean"] == 16
    assert TTFT_MS <= phase["ttft_ms"]["p50"] <= TTFT_MS + 20


def test_max_concurrency_queues_and_the_wait_shows_in_scheduled_latency(tmp_path, sim, tokenflood):
    done = tokenflood("run", suite(tmp_path, rates="[20]", length=2, extra="max_concurrency: 1\n"),
                      endpoint(tmp_path, sim.base_url), "--yes")
    assert done.code == 0, done.stderr
    (phase,) = done.summary()["phases"]
    # one at a time, each ~230 ms: 40 requests cannot leave on a 50 ms schedule
    assert phase["dispatch_delay_ms"]["p99"] > 1000
    assert phase["scheduled_latency_ms"]["p50"] > phase["e2e_ms"]["p50"] + 500
    assert phase["e2e_ms"]["p50"] == pytest.approx(TTFT_MS + 150, abs=10)


def test_sigint_stops_sending_and_keeps_every_finished_row(tmp_path, sim):
    suite(tmp_path, rates="[10]", length=30)
    endpoint(tmp_path, sim.base_url)
    proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes",
                             "--results-dir", "results"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    (folder,) = (tmp_path / "results").iterdir()
    import json
    s = json.loads((folder / "summary.json").read_text())
    assert s["status"] == "interrupted"
    (phase,) = s["phases"]
    table = rows(folder)
    assert 10 <= len(table) < 300 and len(table) == phase["sent"]
    assert phase["ok"] + phase["failed"] == len(table)
    assert "interrupted" in out


def test_sigterm_is_handled_like_ctrl_c(tmp_path, sim):
    suite(tmp_path, rates="[10]", length=30)
    endpoint(tmp_path, sim.base_url)
    proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes",
                             "--results-dir", "results"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.5)
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err
    (folder,) = (tmp_path / "results").iterdir()
    assert '"status": "interrupted"' in (folder / "summary.json").read_text()


def test_a_client_that_cannot_keep_up_says_so(tmp_path, sim, tokenflood):
    # 1500 req/s of 64-token streams from one event loop saturates it on this kind of machine
    done = tokenflood("run", suite(tmp_path, rates="[1500]", length=3,
                                   load_types="- {prompt_length: 64, output_length: 64}\n"),
                      endpoint(tmp_path, sim.base_url), "--yes", "--workers", "0",
                      env={"TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000"}, timeout=120)
    assert done.code == 0, done.stderr
    s = done.summary()
    (phase,) = s["phases"]
    assert s["client_bound"] is True and phase["client_bound"] is True
    assert phase["client_cpu"] >= 0.9 or phase["dispatch_delay_ms"]["p99"] > 10
    assert any("the client was the bottleneck" in w for w in s["warnings"])
    assert "CLIENT-BOUND" in done.stderr and "BOUND" in done.stdout


def test_a_comfortable_run_is_not_client_bound(tmp_path, sim, tokenflood):
    done = tokenflood("run", suite(tmp_path, rates="[20]", length=2, extra="max_concurrency: 1\n"),
                      endpoint(tmp_path, sim.base_url), "--yes")
    s = done.summary()
    # max_concurrency makes requests wait for a slot (by design): that is not the client's fault
    assert s["phases"][0]["dispatch_delay_ms"]["p99"] > 1000
    assert s["client_bound"] is False and "CLIENT-BOUND" not in done.stderr


def test_request_times_line_up_with_the_servers_clock(tmp_path, sim, tokenflood):
    import json
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{sim.port}/sim/requests",
                                                  method="DELETE")).read()
    done = tokenflood("run", suite(tmp_path, rates="[10]", length=1), endpoint(tmp_path, sim.base_url),
                      "--yes", "--headless")
    assert done.code == 0, done.stderr
    origin = done.summary()["monotonic_origin_s"]
    truth = {t["request_id"]: t for t in json.load(urllib.request.urlopen(
        f"http://127.0.0.1:{sim.port}/sim/requests"))["requests"]}
    table = rows(done.folder())
    assert len(table) == 10
    for row in table:
        server = truth[row["response_id"]]
        sent, first = origin + float(row["t_send_s"]), origin + float(row["t_first_s"])
        # sent before the server took it, and not long before; read after it was written
        assert 0 < server["received"] - sent < 0.02
        assert -0.005 < first - server["first_token"] < 0.02
