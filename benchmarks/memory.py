"""Resident memory of a long run: 100,000 requests against the simulator, headless.

Samples the resident set (VmRSS) of the tokenflood process and its worker processes twice a
second and prints the peaks. Linux only (/proc).

    python benchmarks/memory.py [--requests 100000] [--rate 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenflood_tui.simulator import SimulatorProcess

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
TARGET_MB = 300


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out + [d for child in out for d in descendants(child)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    seconds = args.requests / args.rate / 2
    with SimulatorProcess("--ttft-ms", "5", "--itl-ms", "1") as sim, \
            tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "run.yml").write_text(
            f"name: memory\nrequests_per_second_rates: [{args.rate}, {args.rate}]\n"
            f"test_length_in_seconds: {seconds}\narrival: constant\n"
            "load_types:\n- {prompt_length: 64, prefix_length: 32, output_length: 8}\n")
        (folder / "endpoint.yml").write_text(
            f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n")
        env = {**os.environ, "TOKENFLOOD_MAX_INPUT_TOKENS": "100000000",
               "TOKENFLOOD_MAX_OUTPUT_TOKENS": "100000000"}
        started = time.monotonic()
        proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--headless", "--yes",
                                 "--results-dir", "results"], cwd=folder, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        peak_parent = peak_workers = peak_total = 0.0
        while proc.poll() is None:
            parent = rss_mb(proc.pid)
            workers = sum(rss_mb(p) for p in descendants(proc.pid))
            peak_parent, peak_workers = max(peak_parent, parent), max(peak_workers, workers)
            peak_total = max(peak_total, parent + workers)
            time.sleep(0.5)
        out = proc.stdout.read() if proc.stdout else ""
        run_dir = next((folder / "results").iterdir())
        rows = sum(1 for _ in run_dir.joinpath("requests.csv").open()) - 1
        summary = json.loads(run_dir.joinpath("summary.json").read_text())
    print(out.strip().splitlines()[-1] if out else "")
    print(f"run {summary['status']}, {summary['workers']} worker process(es); phases sent "
          f"{[p['sent'] for p in summary['phases']]}")
    print(f"requests recorded  {rows:,} in {time.monotonic() - started:.0f} s")
    print(f"peak RSS, tokenflood process          {peak_parent:7.1f} MB")
    print(f"peak RSS, its worker processes        {peak_workers:7.1f} MB")
    print(f"peak RSS, all together                {peak_total:7.1f} MB   (target < {TARGET_MB} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
