"""How long do cluster senders go on sending after their coordinator dies? (README "Past one
machine": a sender nobody collects from stops after run/cluster.py's ORPHAN_AFTER_S.)

Starts a scheduler and two Dask workers (Dask's default nanny, 2 threads) and the simulator on
127.0.0.1, runs a 60 s phase at 10 req/s with --cluster, SIGKILLs the coordinator's process group
once 50 rows are written, and counts the requests the simulator still receives after that; prints
for how long they kept arriving.

    python benchmarks/cluster_orphan.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.net import free_port
from support.tokenflood import TOKENFLOOD

DASK = str(Path(sys.executable).parent / "dask")


def served(port: int) -> int:
    return len(json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/sim/requests"))["requests"])


def once(address: str, sim, folder: Path) -> float:
    (folder / "run.yml").write_text(
        "name: orphan\nrequests_per_second_rates: [10]\ntest_length_in_seconds: 60\n"
        "arrival: constant\nload_types: [{prompt_length: 64, output_length: 4}]\n")
    (folder / "endpoint.yml").write_text(
        f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n")
    proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--yes", "--headless",
                             "--cluster", address], cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    while True:
        rows = list(folder.glob("results/*/requests.csv"))
        if rows and rows[0].read_text().count("\n") > 50:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    proc.wait()
    last, last_change = served(sim.port), killed
    while time.monotonic() - killed < 25:
        time.sleep(0.5)
        n = served(sim.port)
        if n != last:
            last, last_change = n, time.monotonic()
    return last_change - killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client

    from tokenflood_tui.simulator import SimulatorProcess

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "warning"}
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
             "start_new_session": True}
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], **quiet)]
    procs += [subprocess.Popen([DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "2",
                                "--no-dashboard", "--name", f"n{i}"], **quiet) for i in range(2)]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        with SimulatorProcess("--ttft-ms", "20") as sim:
            for i in range(args.repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    print(f"run {i + 1}: requests kept arriving for "
                          f"{once(address, sim, Path(tmp)):.1f} s after the coordinator's SIGKILL",
                          flush=True)
    finally:
        for proc in procs:
            proc.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
