"""Server metrics of a real llama.cpp (SmolLM2-135M, 2 slots): its /metrics read as llama.cpp's,
its requests_deferred as the queue, and each response's `timings` turned into the time queued."""

from __future__ import annotations

import csv
import shutil

import pytest

from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
from tokenflood_tui.demo.localserver.protocol import unavailable_reason

from support.specs import endpoint_yml, run_yml
from support.tokenflood import write

pytestmark = [pytest.mark.llamacpp,
              pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]


@pytest.fixture(scope="module")
def llama():
    with LocalModelServer(LocalServerOptions(slots=2, ctx=4096)) as server:
        yield server


def test_six_requests_on_two_slots_queue_in_waves_the_metrics_and_the_timings_say_so(
        tmp_path, llama, tokenflood):
    # 6 requests within a second on 2 slots, each ~40 tokens at ~20 ms: three waves
    write(tmp_path / "endpoint.yml", endpoint_yml(llama.base_url, model=llama.model))
    write(tmp_path / "run.yml", run_yml(rates=[6], length=1, arrival="constant",
                                        percentiles=[10, 50, 90],
                                        load_types=[{"prompt_length": 64, "output_length": 40}],
                                        request_timeout_seconds=60))
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", timeout=240)
    assert done.code == 0, done.stderr
    s = done.summary()
    assert s["server"]["engine"] == "llama.cpp" and s["server"]["failed_scrapes"] == 0
    assert s["server"]["engine_version"]              # its /props build_info
    (phase,) = s["phases"]
    assert phase["ok"] == 6
    server = phase["server"]
    assert server["running_max"] == 2                 # requests_processing: its 2 slots
    assert server["waiting_max"] >= 1                 # requests_deferred: the later waves
    assert server["kv_usage_max"] is None and server["ttft_ms"] is None   # llama.cpp has none
    assert server["generation_tokens_per_s"] > 0 and server["prefix_hit_ratio"] is not None
    # the time queued from llama.cpp's timings: the first wave waited for (almost) nothing, the
    # last for the two waves before it, each of 40 tokens (well over a second on this CPU)
    queued = phase["queued_ms"]
    assert queued["p90"] > 1000 and queued["p10"] < queued["p90"] / 4
    with open(done.folder() / "server_metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["phase"] == "1"]
    assert rows and max(float(r["running"]) for r in rows) == 2
    assert all(r["kv_usage"] == "" for r in rows)     # n/a, not 0
    assert "## Server (llama.cpp metrics)" in (done.folder() / "summary.md").read_text()
    # compared (with a copy of itself: no second llama.cpp run), its figures side by side, the
    # signals llama.cpp lacks '-' on both sides
    twin = tmp_path / "twin"
    shutil.copytree(done.folder(), twin)
    compared = tokenflood("compare", str(done.folder()), str(twin), "--headless", "--format",
                          "md", "--out", str(tmp_path / "cmp"))
    assert compared.code == 0, compared.stderr
    table = compared.stdout.split("## Server figures (each run's own /metrics)")[1].splitlines()
    head = [h.strip() for h in table[2].strip("|").split("|")]
    rows = [[x.strip() for x in line.strip("|").split("|")] for line in table[4:6]]
    col = {h: i for i, h in enumerate(head)}
    assert [r[:3] for r in rows] == [["6 req/s", "A", "llama.cpp"], ["", "B", "llama.cpp"]]
    for r in rows:
        assert r[col["running max"]] == "2" and r[col["waiting max"]] == f"{server['waiting_max']:,.0f}"
        assert r[col["KV max"]] == "-" and r[col["server TTFT p50 ms"]] == "-"
        assert r[col["preempted"]] == "-"
