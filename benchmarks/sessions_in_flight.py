"""How many sessions in flight one worker process holds with its turns sent on time.

Each step runs `tokenflood run --headless --workers 1` against the simulator (1-token-ish replies,
no prefix cache: the simulator's own CPU stays small): N chat sessions of `--turns` turns with
`--think` seconds between them, started evenly over one think time, so that from then until the
first ones end all N are in flight and their later turns come at N / think per second. From
requests.csv: the dispatch delay (send − due time) of the later turns, p50 / p99 / max; from
/proc: the worker process's resident memory when the sessions started and at the plateau, and
its growth per session in flight. The goal: p99 within 2 ms at 10,000 sessions per core.

    python benchmarks/sessions_in_flight.py [--sessions 1000 2500 5000 10000] [--think 20]
        [--turns 4] [--history echo|live]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tokenflood_tui.simulator import SimulatorProcess

from memory import rss_mb      # benchmarks/memory.py: a process's resident memory

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
GOAL_MS = 2.0


def cpu_s(pid: int) -> float:
    """The process's CPU time so far (user + system), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(parent: int) -> int | None:
    """The worker process: the child of tokenflood that multiprocessing spawned to send."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and "spawn_main" in cmdline:
            return int(entry.name)
    return None


def journal_has(folder: Path, text: str) -> bool:
    journal = next(folder.glob("results/*/journal.jsonl"), None)
    return journal is not None and text in journal.read_text()


def step(sim_url: str, sessions: int, think: float, turns: int, history: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # all sessions start within one think time: then every one is in flight until the
        # first ones end, (turns - 1) think times later
        (folder / "run.yml").write_text(f"""\
name: in-flight-{sessions}
sessions_per_second_rates: [{sessions / think}]
test_length_in_seconds: {think}
arrival: constant
history: {history}
ramp_seconds: 0
max_session_seconds: 3600
warmup_requests: 1
request_timeout_seconds: 60
session_types:
- {{name: chat, turns: {turns}, user_tokens: 8, output_tokens: 2, think_seconds: {think}}}
""")
        (folder / "endpoint.yml").write_text(
            f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim_url}\n")
        env = {**os.environ, "TOKENFLOOD_MAX_INPUT_TOKENS": "1000000000",
               "TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000000"}
        proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--headless",
                                 "--yes", "--workers", "1", "--results-dir", "results"],
                                cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        worker, at_start, plateau, t_start = None, 0.0, 0.0, None
        cpu_start = cpu_end = 0.0
        while proc.poll() is None:
            worker = worker or worker_pid(proc.pid)
            if worker is not None:
                rss = rss_mb(worker)
                cpu_end = cpu_s(worker) or cpu_end
                if t_start is None and journal_has(folder, '"event":"phase_started"'):
                    t_start, at_start, cpu_start = time.monotonic(), rss, cpu_end
                # the plateau: every session started, none ended yet
                elif t_start is not None and think * 1.05 < time.monotonic() - t_start < (
                        turns - 1) * think * 0.95:
                    plateau = max(plateau, rss)
            time.sleep(0.25)
        err = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != 0:
            raise SystemExit(f"run failed ({proc.returncode}): {err[-2000:]}")
        run_dir = next((folder / "results").iterdir())
        with open(run_dir / "requests.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        summary = json.loads((run_dir / "summary.json").read_text())
    later = np.array([float(r["dispatch_delay_ms"]) for r in rows
                      if r["turn"] and int(r["turn"]) >= 2 and r["dispatch_delay_ms"]])
    first = np.array([float(r["dispatch_delay_ms"]) for r in rows
                      if r["turn"] == "1" and r["dispatch_delay_ms"]])
    phase = summary["phases"][0]
    in_flight = max((n for _, n in phase["sessions"]["in_flight_over_time"]), default=0)
    return {
        "sessions": sessions, "requests": len(rows), "failed": phase["failed"],
        "in_flight_max": in_flight, "later_req_per_s": sessions / think,
        "later_p50": float(np.percentile(later, 50)), "later_p99": float(np.percentile(later, 99)),
        "later_max": float(later.max()), "first_p99": float(np.percentile(first, 99)),
        "client_cpu": phase.get("client_cpu"), "rss_start": at_start, "rss_plateau": plateau,
        "us_per_turn": (cpu_end - cpu_start) * 1e6 / max(1, len(rows)),
        "kb_per_session": (plateau - at_start) * 1024 / max(1, in_flight),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1000, 2500, 5000, 10000])
    parser.add_argument("--think", type=float, default=20.0)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--history", choices=("echo", "live"), default="echo")
    args = parser.parse_args()
    print(f"{args.turns}-turn sessions, {args.think:g} s think times, {args.history} history, "
          f"one worker process; dispatch delay of turns 2+ (ms)")
    print(f"{'sessions':>8} {'in flight':>9} {'turns 2+/s':>10} {'p50':>6} {'p99':>7} {'max':>7} "
          f"{'turn 1 p99':>10} {'worker CPU':>10} {'µs/turn':>7} {'RSS start':>9} {'plateau':>8} "
          f"{'KB/session':>10}")
    held = 0
    with SimulatorProcess("--ttft-ms", "1", "--itl-ms", "1", "--no-prefix-cache") as sim:
        for n in args.sessions:
            r = step(sim.base_url, n, args.think, args.turns, args.history)
            cpu = f"{r['client_cpu']:.0%}" if r["client_cpu"] is not None else "-"
            print(f"{n:>8,} {r['in_flight_max']:>9,} {r['later_req_per_s']:>10.0f} "
                  f"{r['later_p50']:>6.2f} {r['later_p99']:>7.2f} {r['later_max']:>7.1f} "
                  f"{r['first_p99']:>10.2f} {cpu:>10} {r['us_per_turn']:>7.0f} {r['rss_start']:>7.0f}MB "
                  f"{r['rss_plateau']:>6.0f}MB {r['kb_per_session']:>10.1f}"
                  + (f"  ({r['failed']} failed)" if r["failed"] else ""), flush=True)
            if r["later_p99"] <= GOAL_MS:
                held = max(held, r["in_flight_max"])
    print(f"held with turns 2+ within {GOAL_MS:g} ms at p99: {held:,} sessions in flight "
          f"(goal 10,000 per core)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
