"""Does tokenflood measure right at any rate? Client-side figures against the simulator's truth.

For rising rates (64-token streams) this runs, one after another against the same simulator
process (fixed 50 ms TTFT, 5 ms per token):
  - tokenflood headless (built-in client, default workers),
  - a bare aiohttp reference loop (one session, one event loop, the same open-loop schedule),
  - tokenflood with `client: litellm`,
  - tokenflood with two senders on a local two-worker Dask cluster (`tokenflood_cluster2`: a
    scheduler and two `dask worker` processes on 127.0.0.1, started here, CPU counted for both),
and reports per rate: achieved vs target rate, dispatch delay p50/p99, TTFT and e2e error against
the server's own timestamps for the same request (matched by response id; p50/p99, ms and %),
client CPU and the simulator's CPU. Prints a table, says the highest rate that holds (>= 99% of
the rate, TTFT error p99 <= 2 ms) per client, writes JSON.

With two or more cores the simulator gets a core of its own and the clients the others, as a
server would be a machine of its own: the table then shows the client's error, not two processes
fighting over a core. `--shared-cores` lets them share. A simulator near 100% of its core is
itself late to take requests, which no client can measure around: such rows say "server-bound".

    python benchmarks/fidelity.py [--rates 10 50 100 200 400 800] [--seconds 10] [--out fidelity.json]
    python benchmarks/fidelity.py --clients tokenflood_w1 tokenflood_w2 tokenflood_cluster2   # --cluster
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
OUTPUT_TOKENS = 64
PROMPT = " ".join(["lorem"] * 60)
# tokenflood with its default worker count, then with --workers 1 and --workers 2
CLIENTS = ("tokenflood", "tokenflood_w1", "tokenflood_w2", "tokenflood_cluster2", "bare_loop",
           "litellm")
HOLD_SHARE, HOLD_TTFT_ERR_MS = 0.99, 2.0
SERVER_BOUND_CPU = 0.9


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin_simulator(sim_pid: int) -> str:
    """The last usable core to the simulator, the rest to us (and so to every client we start)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return "shared (fewer than 2 usable cores)"
    os.sched_setaffinity(sim_pid, {cores[-1]})
    os.sched_setaffinity(0, set(cores[:-1]))
    return f"simulator on core {cores[-1]}, clients on {','.join(map(str, cores[:-1]))}"


# ---------------------------------------------------------------------- the bare reference loop


async def bare_loop(base_url: str, rate: float, seconds: float) -> list[dict]:
    """The least a client can do: aiohttp, one session, arrivals on absolute deadlines."""
    import aiohttp

    body = json.dumps({"model": "sim-model", "messages": [{"role": "user", "content": PROMPT}],
                       "max_tokens": OUTPUT_TOKENS, "stream": True, "ignore_eos": True,
                       "stream_options": {"include_usage": True}}).encode()
    rows: list[dict] = []
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(t_sched: float) -> None:
            row = {"t_sched": t_sched, "t_send": time.monotonic(), "t_first": None, "id": None}
            async with session.post(f"{base_url}/chat/completions", data=body, headers=headers) as r:
                async for line in r.content:
                    if line.startswith(b"data:") and b'"content":"' in line.replace(b": ", b":"):
                        if row["t_first"] is None:
                            row["t_first"] = time.monotonic()
                            row["id"] = json.loads(line[5:])["id"]
            row["t_end"] = time.monotonic()
            rows.append(row)

        for _ in range(3):            # warm the connection pool, like tokenflood's warm-up
            await one(time.monotonic())
        rows.clear()
        start = time.monotonic() + 0.05
        tasks = []
        for k in range(int(np.ceil(rate * seconds))):
            deadline = start + k / rate
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(deadline)))
        await asyncio.gather(*tasks)
    return rows


# ---------------------------------------------------------------------- one measurement


def run_child(cmd: list[str], cwd: Path) -> float:
    """Run a command; return the CPU seconds it (and its children) used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                               "TOKENFLOOD_MAX_INPUT_TOKENS": "10000000000",
                               "TOKENFLOOD_MAX_OUTPUT_TOKENS": "10000000000"})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(client: str, base_url: str, rate: float, seconds: float,
            folder: Path, cluster=None) -> tuple[list[dict], float, float]:
    """Client rows (times in monotonic seconds), CPU seconds, wall seconds."""
    started = time.monotonic()
    remote_cpu = 0.0
    if client == "bare_loop":
        out = folder / "bare.json"
        cpu = run_child([sys.executable, __file__, "--bare-loop", base_url, str(rate), str(seconds),
                         str(out)], folder)
        return json.loads(out.read_text()), cpu, time.monotonic() - started
    (folder / "run.yml").write_text(
        f"name: fidelity\nrequests_per_second_rates: [{rate}]\ntest_length_in_seconds: {seconds}\n"
        f"arrival: constant\nwarmup_requests: 2\nload_types:\n"
        f"- {{prompt_length: 80, prefix_length: 0, output_length: {OUTPUT_TOKENS}}}\n")
    (folder / "endpoint.yml").write_text(
        f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {base_url}\n"
        + ("client: litellm\n" if client == "litellm" else ""))
    results = folder / f"results-{client}"
    # litellm: one worker process, so the figures are per core (the README's litellm limit)
    workers = {"litellm": ["--workers", "1"], "tokenflood_w1": ["--workers", "1"],
               "tokenflood_w2": ["--workers", "2"]}.get(client, [])
    if client == "tokenflood_cluster2":
        workers = ["--cluster", cluster.address]
        remote_cpu = -sum(process_cpu_seconds(p.pid) for p in cluster.workers)
    cpu = run_child([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--headless", "--yes",
                     "--results-dir", str(results), *workers], folder)
    if client == "tokenflood_cluster2":    # the senders are the Dask workers, not children
        cpu += remote_cpu + sum(process_cpu_seconds(p.pid) for p in cluster.workers)
    run_dir = sorted(results.iterdir())[-1]
    summary = json.loads((run_dir / "summary.json").read_text())
    with open(run_dir / "requests.csv", newline="") as f:
        table = list(csv.DictReader(f))
    origin = summary["monotonic_origin_s"]
    rows = []
    for r in table:
        rows.append({"t_sched_rel": float(r["t_sched_s"]),
                     "dispatch_ms": float(r["dispatch_delay_ms"] or "nan"),
                     "ttft_ms": float(r["ttft_ms"] or "nan"), "e2e_ms": float(r["e2e_ms"] or "nan"),
                     "t_send": origin + float(r["t_send_s"]),
                     "t_first": origin + float(r["t_first_s"]) if r["t_first_s"] else None,
                     "id": r["response_id"], "status": r["status"]})
    return [{"summary_workers": summary.get("workers"), **row} for row in rows], cpu, \
        time.monotonic() - started


def truth_by_id(sim_port: int) -> dict[str, dict]:
    data = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/sim/requests"))
    return {t["request_id"]: t for t in data["requests"]}


def clear_truth(sim_port: int) -> None:
    urllib.request.urlopen(urllib.request.Request(
        f"http://127.0.0.1:{sim_port}/sim/requests", method="DELETE")).read()


def figures(client: str, rows: list[dict], truth: dict[str, dict], rate: float, seconds: float,
            cpu: float, wall: float, sim_cpu: float) -> dict:
    if client == "bare_loop":
        for r in rows:
            r["dispatch_ms"] = (r["t_send"] - r["t_sched"]) * 1000
            r["ttft_ms"] = (r["t_first"] - r["t_send"]) * 1000 if r["t_first"] else float("nan")
            r["e2e_ms"] = (r["t_end"] - r["t_send"]) * 1000
            r["t_sched_rel"] = r["t_sched"] - rows[0]["t_sched"]
        sends = np.array([r["t_send"] for r in rows])
    ttft_err, e2e_err, ttft_true, intake, read_lag = [], [], [], [], []
    for r in rows:
        t = truth.get(r["id"] or "")
        if t is None or t.get("first_token") is None or np.isnan(r["ttft_ms"]):
            continue
        true_ttft = (t["first_token"] - t["received"]) * 1000
        true_e2e = (t["finished"] - t["received"]) * 1000
        # the TTFT error in two parts: until the server took the request, and from the server
        # writing the first token until the client read it
        intake.append((t["received"] - r["t_send"]) * 1000)
        read_lag.append((r["t_first"] - t["first_token"]) * 1000)
        ttft_true.append(true_ttft)
        ttft_err.append(r["ttft_ms"] - true_ttft)
        e2e_err.append(r["e2e_ms"] - true_e2e)
    planned = int(np.ceil(rate * seconds))
    if client == "bare_loop":
        span = max(seconds, sends.max() - sends.min() + 1 / rate)
    else:   # the last send relative to the schedule start
        last = max(r["t_sched_rel"] + r["dispatch_ms"] / 1000 for r in rows)
        span = max(seconds, last - min(r["t_sched_rel"] for r in rows) + 1 / rate)
    dispatch = np.array([r["dispatch_ms"] for r in rows])
    te, ee, tt = np.array(ttft_err), np.array(e2e_err), np.array(ttft_true)
    pct = lambda a, q: float(np.percentile(a, q)) if a.size else float("nan")  # noqa: E731
    return {
        "client": client, "target_rps": rate, "planned": planned, "sent": len(rows),
        "matched": int(te.size), "achieved_rps": len(rows) / span,
        "achieved_share": len(rows) / span / rate,
        "dispatch_p50_ms": pct(dispatch, 50), "dispatch_p99_ms": pct(dispatch, 99),
        "ttft_err_p50_ms": pct(te, 50), "ttft_err_p99_ms": pct(te, 99),
        "ttft_err_p50_pct": 100 * pct(te, 50) / pct(tt, 50) if tt.size else float("nan"),
        "ttft_err_p99_pct": 100 * pct(te, 99) / pct(tt, 50) if tt.size else float("nan"),
        "e2e_err_p50_ms": pct(ee, 50), "e2e_err_p99_ms": pct(ee, 99),
        "intake_p99_ms": pct(np.array(intake), 99), "read_lag_p99_ms": pct(np.array(read_lag), 99),
        # the simulator works only while load runs: its CPU per second of load
        "client_cpu_pct": 100 * cpu / wall, "sim_cpu_pct": 100 * sim_cpu / seconds,
        "server_bound": sim_cpu / seconds >= SERVER_BOUND_CPU,
        "workers": rows[0].get("summary_workers") if rows else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 50, 100, 200, 400, 800])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", nargs="+", default=["tokenflood", "bare_loop", "litellm"],
                        choices=CLIENTS)
    parser.add_argument("--litellm-max-rate", type=float, default=100,
                        help="skip the litellm path above this rate (one core saturates far below)")
    parser.add_argument("--shared-cores", action="store_true",
                        help="let the simulator and the clients share every core")
    parser.add_argument("--out", type=Path, default=Path("fidelity.json"))
    args = parser.parse_args()
    from contextlib import nullcontext

    from tokenflood_tui.simulator import SimulatorProcess

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.dask_cluster import DaskCluster

    results = []
    with SimulatorProcess("--ttft-ms", "50", "--itl-ms", "5") as sim, \
            tempfile.TemporaryDirectory() as tmp:
        assert sim.pid is not None
        cores = "shared" if args.shared_cores else pin_simulator(sim.pid)
        print(f"cores: {cores}", flush=True)
        # started after the pinning, so its workers run on the clients' cores
        with (DaskCluster(2) if "tokenflood_cluster2" in args.clients else nullcontext()) \
                as cluster:
            run_all(args, sim, Path(tmp), cluster, results)
    print()
    print(f"cores: {cores}")
    print(table(results))
    print()
    print(holding(results))
    args.out.write_text(json.dumps({"cores": cores, "results": results}, indent=2))
    print(f"\nwritten: {args.out}")
    return 0


def run_all(args: argparse.Namespace, sim, tmp: Path, cluster, results: list[dict]) -> None:
    for rate in args.rates:
        for client in args.clients:
            if client == "litellm" and rate > args.litellm_max_rate:
                continue
            clear_truth(sim.port)
            sim_cpu = process_cpu_seconds(sim.pid)
            rows, cpu, wall = measure(client, sim.base_url, rate, args.seconds, tmp, cluster)
            sim_cpu = process_cpu_seconds(sim.pid) - sim_cpu
            row = figures(client, rows, truth_by_id(sim.port), rate, args.seconds, cpu, wall,
                          sim_cpu)
            results.append(row)
            print(f"{rate:6g} req/s {client:>19}: achieved {row['achieved_share']:6.1%}, dispatch "
                  f"p99 {row['dispatch_p99_ms']:7.2f} ms, TTFT err p50 {row['ttft_err_p50_ms']:6.2f} "
                  f"p99 {row['ttft_err_p99_ms']:7.2f} ms, CPU {row['client_cpu_pct']:4.0f}%, "
                  f"simulator {row['sim_cpu_pct']:4.0f}%", flush=True)


def holds(row: dict) -> bool:
    return row["achieved_share"] >= HOLD_SHARE and row["ttft_err_p99_ms"] <= HOLD_TTFT_ERR_MS


def holding(results: list[dict]) -> str:
    """Per client, the highest rate that holds with every lower rate holding too."""
    lines = [f"highest rate that holds (>= {HOLD_SHARE:.0%} of the rate, TTFT error p99 <= "
             f"{HOLD_TTFT_ERR_MS:g} ms, every lower rate too):"]
    for client in dict.fromkeys(r["client"] for r in results):
        best = None
        for row in sorted((r for r in results if r["client"] == client), key=lambda r: r["target_rps"]):
            if not holds(row):
                break
            best = row["target_rps"]
        lines.append(f"  {client:>19}: {f'{best:g} req/s' if best else 'none'}")
    bound = sorted({r["target_rps"] for r in results if r["server_bound"]})
    if bound:
        lines.append(f"  server-bound (simulator >= {SERVER_BOUND_CPU:.0%} of its core) at: "
                     + ", ".join(f"{rate:g}" for rate in bound) + " req/s")
    return "\n".join(lines)


def table(results: list[dict]) -> str:
    head = ("| rate | client | workers | achieved | dispatch p50 / p99 ms | TTFT err p50 / p99 ms "
            "| TTFT err p99 % | of which p99 intake / read ms | e2e err p50 / p99 ms | client CPU "
            "| simulator CPU |")
    lines = [head, "|" + "---|" * 11]
    for r in results:
        lines.append(
            f"| {r['target_rps']:g} | {r['client']} | {r['workers'] if r['workers'] is not None else '-'} "
            f"| {r['achieved_share']:.1%} | {r['dispatch_p50_ms']:.2f} / {r['dispatch_p99_ms']:.2f} "
            f"| {r['ttft_err_p50_ms']:.2f} / {r['ttft_err_p99_ms']:.2f} | {r['ttft_err_p99_pct']:.1f}% "
            f"| {r['intake_p99_ms']:.2f} / {r['read_lag_p99_ms']:.2f} "
            f"| {r['e2e_err_p50_ms']:.2f} / {r['e2e_err_p99_ms']:.2f} | {r['client_cpu_pct']:.0f}% "
            f"| {r['sim_cpu_pct']:.0f}%{' server-bound' if r['server_bound'] else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare-loop":
        _, _, url, rate_s, seconds_s, out_path = sys.argv
        Path(out_path).write_text(json.dumps(asyncio.run(bare_loop(url, float(rate_s), float(seconds_s)))))
        raise SystemExit(0)
    raise SystemExit(main())
