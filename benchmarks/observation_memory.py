"""Memory of a long observation: thousands of polls at a short interval against the simulator,
headless and in the TUI (the real app in a tmux pane), so a three-day run at 15 minutes (288
polls) or at 3 minutes (1,440) is compressed into minutes.

Samples the resident set (VmRSS, /proc) of the tokenflood process and of its worker processes
every N polls (polls counted from the run's journal.jsonl as they finish or are missed) and prints
RSS against polls for both front ends and the growth per 100 polls (least squares over the
samples after the first 200 polls). Linux only; the TUI run needs tmux.

    python benchmarks/observation_memory.py [--polls 1200] [--interval 0.5] [--every 100]
        [--requests 2] [--front-ends headless,tui] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memory import descendants, rss_mb   # benchmarks/memory.py: RSS from /proc

from tokenflood_tui.simulator import SimulatorProcess

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
WARM_UP_POLLS = 200       # the slope is fitted after this: imports, first renders, caches


class Journal:
    """Counts the polls of the run in `results` that finished or were missed, reading only what
    was appended since the last look."""

    def __init__(self, results: Path):
        self.results = results
        self.path: Path | None = None
        self.offset = 0
        self.finished = 0
        self.missed = 0
        self.ended = False

    def polls(self) -> int:
        if self.path is None:
            self.path = next(iter(self.results.glob("*/journal.jsonl")), None)
            if self.path is None:
                return 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        cut = data.rfind(b"\n") + 1          # whole lines only
        self.offset += cut
        chunk = data[:cut]
        self.finished += chunk.count(b'"event":"phase_finished"')
        self.missed += chunk.count(b'"event":"slot_missed"')
        self.ended |= b'"event":"run_ended"' in chunk
        return self.finished + self.missed


def write_specs(folder: Path, base_url: str, polls: int, interval: float, requests: int) -> None:
    (folder / "obs.yml").write_text(f"""\
type: observation
name: long-watch
duration_hours: {polls * interval / 3600!r}
polling_interval_minutes: {interval / 60!r}
num_requests: {requests}
within_seconds: {interval * 0.4!r}
align: false
load_type: {{prompt_length: 64, output_length: 4}}
""")
    (folder / "endpoint.yml").write_text(
        f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n")


def env() -> dict[str, str]:
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "TOKENFLOOD_MAX_INPUT_TOKENS": "1000000000", "TOKENFLOOD_MAX_OUTPUT_TOKENS": "1000000000",
            "TOKENFLOOD_MAX_REQUESTS": "100000000"}


def follow(pid_of, journal: Journal, every: int, polls: int, timeout: float,
           label: str) -> list[dict]:
    """Samples at every `every` polls until the run ends (or `timeout`)."""
    samples: list[dict] = []
    started = time.monotonic()
    next_mark = 1          # from the first poll: before it the process is still importing
    while time.monotonic() - started < timeout:
        pid = pid_of()
        done = journal.polls()
        if pid and done >= next_mark:
            main, workers = rss_mb(pid), sum(rss_mb(p) for p in descendants(pid))
            if main:
                samples.append({"polls": done, "main_mb": round(main, 1),
                                "workers_mb": round(workers, 1),
                                "seconds": round(time.monotonic() - started, 1)})
                print(f"{label:>8}: {done:5d} polls  main {main:6.1f} MB  workers {workers:6.1f} MB",
                      flush=True)
                next_mark = (done // every + 1) * every
        if journal.ended or done >= polls:
            break
        time.sleep(0.5)
    return samples


def run_headless(folder: Path, args) -> list[dict]:
    results = folder / "results-headless"
    with open(folder / "headless.log", "w") as log:
        proc = subprocess.Popen([TOKENFLOOD, "run", "obs.yml", "endpoint.yml", "--headless", "--yes",
                                 "--results-dir", str(results)], cwd=folder, env=env(),
                                stdout=log, stderr=log)
        try:
            samples = follow(lambda: proc.pid if proc.poll() is None else None, Journal(results),
                             args.every, args.polls, args.polls * args.interval + 120, "headless")
        finally:
            if proc.poll() is None:
                proc.wait(60)
    lines = (folder / "headless.log").read_text().splitlines()
    poll_lines = sum(" UTC done: " in line for line in lines)
    print(f"headless: {len(lines)} log lines, {poll_lines} poll lines", flush=True)
    return samples


def run_tui(folder: Path, args) -> list[dict]:
    results = folder / "results-tui"
    session = f"tf-obsmem-{os.getpid()}"
    exports = " ".join(f"{k}={v}" for k, v in env().items() if k.startswith("TOKENFLOOD_MAX"))
    cmd = (f"cd {folder} && exec env -u COLUMNS -u LINES {exports} LITELLM_LOCAL_MODEL_COST_MAP=True "
           f"{TOKENFLOOD} run obs.yml endpoint.yml --yes --results-dir {results}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True, env={**env(), "TERM": "xterm-256color"})

    def pane_pid() -> int | None:
        out = subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"],
                             capture_output=True, text=True).stdout.strip()
        return int(out) if out.isdigit() else None

    try:
        samples = follow(pane_pid, Journal(results), args.every, args.polls,
                         args.polls * args.interval + 120, "tui")
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                text=True).stdout
        print("tui: the screen at the end:\n" + screen, flush=True)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=False)
        time.sleep(2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
    return samples


def slope_per_100(samples: list[dict], key: str) -> float | None:
    pts = [(s["polls"], s[key]) for s in samples if s["polls"] >= WARM_UP_POLLS]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return 100 * sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=1200)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    parser.add_argument("--requests", type=int, default=2, help="requests per poll")
    parser.add_argument("--every", type=int, default=100, help="sample every N polls")
    parser.add_argument("--front-ends", default="headless,tui")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    front_ends = args.front_ends.split(",")
    if "tui" in front_ends and shutil.which("tmux") is None:
        print("tmux is needed to run the TUI in a real pseudo-terminal", file=sys.stderr)
        return 2
    report: dict[str, dict] = {}
    with SimulatorProcess("--ttft-ms", "5", "--itl-ms", "1") as sim, \
            tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_specs(folder, sim.base_url, args.polls, args.interval, args.requests)
        for front_end in front_ends:
            samples = (run_headless if front_end == "headless" else run_tui)(folder, args)
            summary_path = next((folder / f"results-{front_end}").glob("*/summary.json"), None)
            polls = json.loads(summary_path.read_text())["polls"] if summary_path else []
            report[front_end] = {
                "samples": samples,
                "polls_ran": sum(1 for p in polls if not p["missed"]),
                "polls_missed": sum(1 for p in polls if p["missed"]),
                "main_mb_per_100_polls": slope_per_100(samples, "main_mb"),
                "workers_mb_per_100_polls": slope_per_100(samples, "workers_mb"),
            }
    print(f"\n{args.polls} polls every {args.interval:g} s, {args.requests} request(s) each\n")
    print("| front end | polls ran / missed | main RSS first → last sample | growth per 100 polls "
          "(after poll 200) | workers RSS first → last |\n|---|---:|---:|---:|---:|")
    for front_end, r in report.items():
        s = r["samples"]
        if not s:
            print(f"| {front_end} | no samples | | | |")
            continue
        slope = r["main_mb_per_100_polls"]
        print(f"| {front_end} | {r['polls_ran']} / {r['polls_missed']} | {s[0]['main_mb']:.1f} → "
              f"{s[-1]['main_mb']:.1f} MB (polls {s[0]['polls']} → {s[-1]['polls']}) | "
              + ("-" if slope is None else f"{slope:+.2f} MB") + f" | {s[0]['workers_mb']:.1f} → "
              f"{s[-1]['workers_mb']:.1f} MB |")
    if args.out:
        args.out.write_text(json.dumps({"polls": args.polls, "interval_s": args.interval,
                                        "requests": args.requests, **report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
