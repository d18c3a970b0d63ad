"""Figures for `tokenflood compare`: how often samples from one distribution get a verdict
(the false-verdict rate, 5% expected at a 95% level), how often an interval covers a known 6 ms
difference, and how long `compare` takes on two runs of 100,000 rows each.

    python benchmarks/compare_figures.py [--trials 1000] [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tokenflood_tui.compare import bootstrap
from tokenflood_tui.outputs.folder import CSV_COLUMNS

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")


def rates(trials: int) -> None:
    print(f"false verdicts on samples from one lognormal (median 50 ms, sigma 0.3), {trials} "
          "pairs per cell; coverage of a +6 ms shift")
    print("| rows per run | percentile | false verdicts | interval covers +6 ms | finds +6 ms |")
    print("|---:|---:|---:|---:|---:|")
    for n in (20, 60, 200, 1000, 5000):
        for p in (50.0, 90.0, 99.0):
            if not bootstrap.enough(n, p):
                print(f"| {n} | p{p:g} | too few samples | | |")
                continue
            rng = np.random.default_rng(n * 100 + int(p))
            false = covered = found = 0
            for _ in range(trials):
                a = np.sort(rng.lognormal(np.log(50), 0.3, n))
                b = np.sort(rng.lognormal(np.log(50), 0.3, n))
                low, high = bootstrap.difference_interval(a, b, p, rng, resamples=2000)
                false += bootstrap.verdict(low, high) != "no clear difference"
                low, high = bootstrap.difference_interval(a, b + 6.0, p, rng, resamples=2000)
                covered += low <= 6.0 <= high
                found += low > 0
            print(f"| {n} | p{p:g} | {false / trials:.1%} | {covered / trials:.1%} | "
                  f"{found / trials:.1%} |")


def large_run(template: Path, dest: Path, rows: int, ttft_ms: float, seed: int) -> None:
    """A results folder of `rows` rows over five rates, cloned from a real one's summary."""
    shutil.copytree(template, dest)
    rng = np.random.default_rng(seed)
    rate_list = [10.0, 20.0, 50.0, 100.0, 200.0]
    col = {c: i for i, c in enumerate(CSV_COLUMNS)}
    with open(dest / "requests.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for k in range(rows):
            rate = rate_list[k * len(rate_list) // rows]
            ttft = rng.lognormal(np.log(ttft_ms), 0.3)
            e2e = ttft + rng.lognormal(np.log(200), 0.2)
            row = [""] * len(CSV_COLUMNS)
            row[col["phase"]] = str(rate_list.index(rate) + 1)
            row[col["target_rps"]] = f"{rate:g}"
            row[col["status"]] = "ok"
            row[col["ttft_ms"]] = f"{ttft:.3f}"
            row[col["e2e_ms"]] = f"{e2e:.3f}"
            row[col["tpot_ms"]] = f"{(e2e - ttft) / 63:.3f}"
            row[col["itl_mean_ms"]] = f"{(e2e - ttft) / 63:.3f}"
            row[col["superseded"]] = "false"
            w.writerow(row)


def timing(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "run.yml").write_text("name: big\nrequests_per_second_rates: [10, 20, 50, 100, 200]"
                                      "\ntest_length_in_seconds: 1\nload_types: [{prompt_length: "
                                      "64, output_length: 64}]\n")
        template = root / "template"
        template.mkdir()
        summary = {"status": "completed", "tool_version": "bench", "client": "aiohttp",
                   "started_at": "2026-12-01T00:00:00+00:00", "finished_at": "2026-12-01T01:00:00+00:00",
                   "run_name": "big", "model": "m", "provider": "hosted_vllm",
                   "percentiles": [50, 90, 99], "token_counter": "server", "template_tokens": 0,
                   "prompts": "fresh", "workers": 0, "phases": [], "results_dir": str(template),
                   "budget": {"estimated_requests": rows, "estimated_input_tokens": 0,
                              "estimated_output_tokens": 0, "actual_input_tokens": 0,
                              "actual_output_tokens": 0, "estimated_cost_usd": None}}
        (template / "summary.json").write_text(json.dumps(summary))
        shutil.copy(root / "run.yml", template / "run.yml")
        large_run(template, root / "a", rows, 50.0, 1)
        large_run(template, root / "b", rows, 51.0, 2)
        for attempt in range(3):
            started = time.perf_counter()
            done = subprocess.run([TOKENFLOOD, "compare", str(root / "a"), str(root / "b"),
                                   "--out", str(root / f"out{attempt}")],
                                  capture_output=True, text=True)
            took = time.perf_counter() - started
            assert done.returncode == 0, done.stderr
            print(f"tokenflood compare on two runs of {rows:,} rows (5 rates): {took:.2f} s "
                  f"(the whole command, imports included)")
        verdicts = [line for line in done.stdout.splitlines() if line.startswith("B vs A")]
        print(verdicts[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    rates(args.trials)
    print()
    timing(args.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
