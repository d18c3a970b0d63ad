"""What reading the server's /metrics costs a run: CPU and client TTFT at 100 req/s against the
simulator, with the collector and with `metrics: off`, alternated; and one scrape's own cost.

    python benchmarks/server_metrics_cost.py [--rounds 2] [--length 10]

Each run is a `tokenflood run --headless` child (one sending process, as by default); its CPU is
the child's user + system time from getrusage. TTFT p50/p99 are the run's summary figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenflood_tui.simulator import SimulatorProcess
from tokenflood_tui.telemetry.engines import detect, sample
from tokenflood_tui.telemetry.prometheus import parse

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
RUN = ("name: cost\nrequests_per_second_rates: [100]\ntest_length_in_seconds: {length}\n"
       "arrival: constant\nload_types:\n- {{prompt_length: 64, output_length: 16}}\n")


def one_run(folder: Path, base_url: str, metrics: bool, length: float) -> dict:
    folder.mkdir(parents=True)
    (folder / "run.yml").write_text(RUN.format(length=length))
    (folder / "endpoint.yml").write_text(
        f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n"
        + ("" if metrics else "metrics: off\n"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes", "--headless",
                           "--results-dir", "results"], cwd=folder, capture_output=True,
                          text=True, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True",
                                          "TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000",
                                          "PATH": "/usr/bin:/bin"})
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    (result,) = (folder / "results").iterdir()
    summary = json.loads((result / "summary.json").read_text())
    phase = summary["phases"][0]
    return {"cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "wall_s": wall, "ttft_p50": phase["ttft_ms"]["p50"],
            "ttft_p99": phase["ttft_ms"]["p99"], "ok": phase["ok"],
            "scrapes": (summary.get("server") or {}).get("scrapes", 0)}


async def scrape_cost(url: str, n: int = 200) -> tuple[float, float, int]:
    """(ms of wall time, ms of this process's CPU) per scrape and parse, the body's size."""
    import aiohttp
    async with aiohttp.ClientSession() as http:
        cpu, start = time.process_time(), time.perf_counter()
        for _ in range(n):
            async with http.get(url) as r:
                text = await r.text()
            samples = parse(text)
            engine = detect(samples)
            assert engine is not None
            sample(engine, samples, time.monotonic())
        return ((time.perf_counter() - start) * 1000 / n, (time.process_time() - cpu) * 1000 / n,
                len(text))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--length", type=float, default=10.0)
    args = ap.parse_args()
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2") as sim, \
            tempfile.TemporaryDirectory() as tmp:
        figures: dict[bool, list[dict]] = {True: [], False: []}
        for r in range(args.rounds):
            for metrics in (True, False) if r % 2 == 0 else (False, True):
                figures[metrics].append(one_run(Path(tmp) / f"{r}-{metrics}", sim.base_url,
                                                metrics, args.length))
        wall_ms, cpu_ms, size = asyncio.run(scrape_cost(
            sim.base_url.removesuffix("/v1") + "/metrics"))
    print(f"100 req/s for {args.length:g} s against the simulator (TTFT 20 ms), "
          f"{args.rounds} run(s) each, alternated:")
    for metrics in (True, False):
        def mean(key: str, runs: list[dict] = figures[metrics]) -> float:
            return sum(run[key] for run in runs) / len(runs)
        print(f"  metrics {'on ' if metrics else 'off'}: CPU {mean('cpu_s'):.2f} s "
              f"(wall {mean('wall_s'):.1f} s), TTFT p50 {mean('ttft_p50'):.2f} ms, "
              f"p99 {mean('ttft_p99'):.2f} ms, ok {mean('ok'):.0f}, scrapes {mean('scrapes'):.0f}")
    print(f"one scrape + parse of the simulator's /metrics ({size} bytes): {wall_ms:.2f} ms wall, "
          f"{cpu_ms:.2f} ms CPU")


if __name__ == "__main__":
    main()
