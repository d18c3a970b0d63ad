"""Does the live view distort timing? The same suite against the simulator, headless and in the TUI.

The TUI runs for real: `tokenflood run` inside a tmux pane (a pseudo-terminal, as over SSH), so
every frame is rendered while requests are measured. Prints TTFT and e2e percentiles of both and
their difference; writes JSON next to it with --out.

    python benchmarks/tui_vs_headless.py [--rate 20] [--seconds 30] [--repeats 2]
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

from tokenflood_tui.simulator import SimulatorProcess

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")


def write_specs(folder: Path, base_url: str, rate: float, seconds: float) -> None:
    (folder / "run.yml").write_text(
        f"name: tui-vs-headless\nrequests_per_second_rates: [{rate}]\n"
        f"test_length_in_seconds: {seconds}\narrival: poisson\nseed: 7\n"
        "load_types:\n- {prompt_length: 256, prefix_length: 128, output_length: 32}\n"
        "percentiles: [50, 90, 99]\n")
    (folder / "endpoint.yml").write_text(
        f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n")


def newest_summary(results: Path) -> dict:
    folders = sorted(p for p in results.iterdir() if p.is_dir())
    for _ in range(50):        # the summary is written a moment after the run view says so
        if (folders[-1] / "summary.json").exists():
            break
        time.sleep(0.1)
    return json.loads((folders[-1] / "summary.json").read_text())


def run_headless(folder: Path) -> dict:
    subprocess.run([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--headless", "--yes",
                    "--results-dir", "results-headless"], cwd=folder, check=True,
                   capture_output=True, env=_env())
    return newest_summary(folder / "results-headless")


def run_tui(folder: Path, timeout: float) -> dict:
    session = f"tf-bench-{os.getpid()}"
    results = folder / "results-tui"
    before = set(results.iterdir()) if results.is_dir() else set()
    cmd = f"cd {folder} && {TOKENFLOOD} run run.yml endpoint.yml --yes --results-dir results-tui"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True, env={**_env(), "TERM": "xterm-256color"})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = set(results.iterdir()) - before if results.is_dir() else set()
            if any((p / "summary.md").exists() for p in new):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("the TUI run did not finish: " + _capture(session))
        screen = _capture(session)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=False)
        time.sleep(1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, capture_output=True)
    if "completed" not in screen:
        print("warning: the TUI did not show 'completed':\n" + screen, file=sys.stderr)
    return newest_summary(results)


def _capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                          text=True).stdout


def _env() -> dict:
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "TOKENFLOOD_MAX_OUTPUT_TOKENS": "10000000", "TOKENFLOOD_MAX_INPUT_TOKENS": "100000000"}


def figures(summary: dict) -> dict:
    (phase,) = summary["phases"]
    return {"sent": phase["sent"], "achieved_rps": phase["achieved_rps"],
            **{f"ttft_{k}": phase["ttft_ms"][k] for k in ("p50", "p99")},
            **{f"e2e_{k}": phase["e2e_ms"][k] for k in ("p50", "p99")},
            "dispatch_delay_p99": phase["dispatch_delay_ms"]["p99"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed to run the TUI in a real pseudo-terminal", file=sys.stderr)
        return 2
    rows = []
    with SimulatorProcess("--ttft-ms", "50", "--itl-ms", "5") as sim, \
            tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_specs(folder, sim.base_url, args.rate, args.seconds)
        for i in range(args.repeats):
            for front_end, run in (("headless", lambda: run_headless(folder)),
                                   ("tui", lambda: run_tui(folder, args.seconds + 60))):
                row = {"front_end": front_end, "repeat": i + 1, **figures(run())}
                rows.append(row)
                print(f"{front_end:>8} #{i + 1}: sent {row['sent']}, TTFT p50 {row['ttft_p50']:.2f} "
                      f"p99 {row['ttft_p99']:.2f} ms, e2e p50 {row['e2e_p50']:.2f} "
                      f"p99 {row['e2e_p99']:.2f} ms, dispatch p99 {row['dispatch_delay_p99']:.2f} ms",
                      flush=True)
    print("\nmean over repeats:")
    means = {}
    for front_end in ("headless", "tui"):
        sel = [r for r in rows if r["front_end"] == front_end]
        means[front_end] = {k: sum(r[k] for r in sel) / len(sel)
                            for k in ("ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99")}
    print("| metric | headless ms | TUI ms | TUI vs headless |\n|---|---:|---:|---:|")
    for k in ("ttft_p50", "ttft_p99", "e2e_p50", "e2e_p99"):
        h, t = means["headless"][k], means["tui"][k]
        print(f"| {k} | {h:.2f} | {t:.2f} | {100 * (t / h - 1):+.1f}% |")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "means": means}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
