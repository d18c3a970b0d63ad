"""Does every sent request end in exactly one row, whatever goes wrong? (issue 8, "rows == sent")

Runs `tokenflood run --headless --yes` once per fault case and sender layout against the built-in
simulator and against llmock (a third-party mock, if installed), then checks, per phase, that
summary.json's sent equals the rows in requests.csv, ok and failed equal the rows' statuses, and
the exit code matches the status. Prints one line per case and a verdict.

    .venv/bin/python benchmarks/fault_matrix.py [--workers 0 2] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tokenflood_tui.simulator import SimulatorProcess

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
LLMOCK = str(Path(sys.executable).parent / "llmock")
SUITE = """\
name: faults
requests_per_second_rates: [20, 10]
test_length_in_seconds: 3
arrival: constant
request_timeout_seconds: {timeout}
error_limit: {error_limit}
{extra}load_types:
- {{prompt_length: 48, prefix_length: 16, output_length: 8}}
"""
EXIT = {"completed": 0, "aborted": 1, "interrupted": 130}


@dataclass
class Case:
    name: str
    server: list[str] = field(default_factory=list)    # simulator options, or ["llmock", ...]
    timeout: float = 10
    error_limit: float = 1.0
    extra: str = ""
    signal_after: tuple[int, float] | None = None      # (signal, seconds into the load)
    kill_server_after: float | None = None
    kill_worker_after: float | None = None
    workers: tuple[int, ...] = (0, 2)


CASES = [
    Case("clean"),
    Case("http 503 x20%", ["--error-rate", "503=0.2"]),
    Case("http 429 x50%, error limit", ["--error-rate", "429=0.5"], error_limit=0.3),
    Case("streams cut x20%", ["--cut-rate", "0.2"]),
    Case("malformed chunks x20%", ["--malformed-rate", "0.2"]),
    # (a seed whose first streams do not stall: two stalled calibration probes abort, by design)
    Case("stalls past the timeout", ["--stall-rate", "0.2", "--stall-seconds", "4", "--seed", "3"],
         timeout=1.5),
    Case("queueing: 2 slots, max_concurrency 4", ["--slots", "2", "--itl-ms", "20"],
         extra="max_concurrency: 4\n"),
    Case("server killed mid-run", kill_server_after=2.0, error_limit=0.3),
    Case("SIGINT mid-run", signal_after=(signal.SIGINT, 2.0)),
    Case("SIGTERM mid-run", signal_after=(signal.SIGTERM, 2.0)),
    Case("SIGHUP mid-run", signal_after=(signal.SIGHUP, 2.0)),
    Case("a sender process SIGKILLed", ["--ttft-ms", "300"], kill_worker_after=1.5, workers=(2,)),
    Case("llmock: 500s and broken streams",
         ["llmock", "--error-rate", "500=0.15", "--stream-fault", "disconnect=0.1",
          "--stream-fault", "truncate=0.1", "--stream-fault", "malformed=0.1"]),
    Case("llmock: stalls past the timeout",
         ["llmock", "--stream-fault", "stall=0.2", "--stream-stall-seconds", "4"], timeout=1.5),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Llmock:
    def __init__(self, args: list[str]):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen([LLMOCK, "serve", "--host",
                                      "127.0.0.1", "--port", str(self.port), "--log-level",
                                      "warning", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("llmock did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def sender_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
    pids = []
    for pid in map(int, out.split()):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            pass
    return pids


def load_started(results: Path) -> bool:
    return any(len(f.read_text().splitlines()) > 3 for f in results.glob("*/requests.csv"))


def run_case(case: Case, workers: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="tf-faults-"))
    server = None
    try:
        if case.server[:1] == ["llmock"]:
            server = Llmock(case.server[1:])
            model = "gpt-4o-mini"
        else:
            server = SimulatorProcess("--ttft-ms", "30", "--itl-ms", "3", "--seed", "7", *case.server)
            server.start()
            model = "sim-model"
        (work / "run.yml").write_text(SUITE.format(timeout=case.timeout, error_limit=case.error_limit,
                                                   extra=case.extra))
        (work / "endpoint.yml").write_text(f"provider: hosted_vllm\nmodel: {model}\n"
                                           f"base_url: {server.base_url}\n")
        results = work / "results"
        proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes", "--headless",
                                 "--workers", str(workers), "--results-dir", str(results)],
                                cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
        after = case.signal_after[1] if case.signal_after else (
            case.kill_server_after or case.kill_worker_after)
        if after is not None:
            deadline = time.monotonic() + 60
            while not load_started(results) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(after)
            if case.signal_after:
                proc.send_signal(case.signal_after[0])
            elif case.kill_server_after:
                os.kill(server.pid, signal.SIGKILL)
            else:
                os.kill(sender_pids(proc.pid)[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=180)
        (folder,) = results.iterdir()
        summary = json.loads((folder / "summary.json").read_text())
        with open(folder / "requests.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        per_phase = Counter(int(r["phase"]) for r in rows)
        ok_rows = Counter(int(r["phase"]) for r in rows if r["status"] == "ok")
        statuses = Counter(r["status"] for r in rows)
        consistent = all(p["sent"] == per_phase[p["phase"]] and p["ok"] == ok_rows[p["phase"]]
                         and p["failed"] == per_phase[p["phase"]] - ok_rows[p["phase"]]
                         for p in summary["phases"]) and len(rows) == sum(per_phase.values())
        return {"case": case.name, "workers": workers, "status": summary["status"],
                "exit": proc.returncode, "exit_ok": proc.returncode == EXIT[summary["status"]],
                "sent": sum(p["sent"] for p in summary["phases"]), "rows": len(rows),
                "statuses": dict(statuses), "consistent": consistent,
                "traceback": "Traceback" in err}
    finally:
        if isinstance(server, Llmock):
            server.stop()
        elif server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=None)
    parser.add_argument("--only", nargs="+", help="case names containing these words")
    args = parser.parse_args()
    have_llmock = Path(LLMOCK).exists()
    results = []
    print("| case | workers | status | exit | sent | rows | statuses | rows == sent, counts agree |")
    print("|---|---|---|---|---|---|---|---|")
    for case in CASES:
        if args.only and not any(w in case.name for w in args.only):
            continue
        if case.server[:1] == ["llmock"] and not have_llmock:
            print(f"| {case.name} | - | skipped: llmock not installed | | | | | |")
            continue
        for workers in args.workers or case.workers:
            r = run_case(case, workers)
            results.append(r)
            verdict = "yes" if r["consistent"] and r["exit_ok"] and not r["traceback"] else "NO"
            statuses = ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items()))
            print(f"| {r['case']} | {workers} | {r['status']} | {r['exit']} | {r['sent']} | "
                  f"{r['rows']} | {statuses} | {verdict} |", flush=True)
    bad = [r for r in results if not (r["consistent"] and r["exit_ok"] and not r["traceback"])]
    print(f"\n{len(results) - len(bad)} of {len(results)} runs: every sent request has exactly one "
          "row, summary counts equal the rows, exit code matches the status")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
