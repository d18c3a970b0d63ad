"""How close to its wall-clock slot does each observation poll start?

Runs an observation with a short interval against the built-in simulator (headless), then reads
requests.csv: a poll's first request is scheduled exactly on the slot, so its dispatch delay
(t_send − t_sched) is the poll's start error. Prints p50 / p99 / max of it per sender layout,
and how many polls were missed.

    .venv/bin/python benchmarks/observation_slots.py [--polls 120] [--interval 1.5] [--workers 0 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tokenflood_tui.simulator import SimulatorProcess

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")


def run(polls: int, interval: float, workers: int, base_url: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="tf-slots-") as tmp:
        work = Path(tmp)
        (work / "obs.yml").write_text(
            f"type: observation\nname: slots\nduration_hours: {polls * interval / 3600}\n"
            f"polling_interval_minutes: {interval / 60}\nnum_requests: 2\nwithin_seconds: "
            f"{interval / 3}\nload_type: {{prompt_length: 64, output_length: 4}}\n")
        (work / "endpoint.yml").write_text(f"provider: hosted_vllm\nmodel: sim-model\n"
                                           f"base_url: {base_url}\n")
        subprocess.run([TOKENFLOOD, "run", "obs.yml", "endpoint.yml", "--yes", "--headless",
                        "--workers", str(workers), "--results-dir", "results"], cwd=work,
                       check=True, capture_output=True,
                       env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        (folder,) = (work / "results").iterdir()
        with open(folder / "requests.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        summary = json.loads((folder / "summary.json").read_text())
    first: dict[str, tuple[str, float]] = {}
    for r in rows:
        if r["poll"] not in first or r["t_sched_utc"] < first[r["poll"]][0]:
            first[r["poll"]] = (r["t_sched_utc"], float(r["dispatch_delay_ms"]))
    errors = np.array([delay for _, delay in first.values()])
    return {"workers": workers, "polls": len(summary["polls"]),
            "missed": sum(1 for p in summary["polls"] if p["missed"]),
            "p50": float(np.percentile(errors, 50)), "p99": float(np.percentile(errors, 99)),
            "max": float(errors.max())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=120)
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between slots")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    print("| workers | polls | missed | start error p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2") as sim:
        for workers in args.workers:
            r = run(args.polls, args.interval, workers, sim.base_url)
            print(f"| {r['workers']} | {r['polls']} | {r['missed']} | {r['p50']:.2f} | "
                  f"{r['p99']:.2f} | {r['max']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
