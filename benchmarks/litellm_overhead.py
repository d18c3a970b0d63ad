"""What litellm adds to TTFT and e2e per request, against servers that record their own timing.

One request at a time (so queueing never enters the figures), after warm-up requests:
  - the built-in simulator (child process) through `client: openai` and `client: litellm`:
    the difference is what litellm adds over tokenflood's own HTTP client;
  - the provider protocol servers of tests/providers (each in a child process) through litellm:
    Azure OpenAI, Bedrock ConverseStream, SageMaker TGI and SageMaker Messages API.
For every request: client TTFT minus the server's (first token written - request received), and
client e2e minus the server's (last byte written - request received). Also the TTFT of the very
first litellm request of a process (lazy imports, session set-up), which warm-up absorbs.

    python benchmarks/litellm_overhead.py [--requests 100] [--output-tokens 16] [--ttft-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TESTS = str(ROOT / "tests")
MESSAGES = [{"role": "user", "content": " tell me a story about a lighthouse keeper"}]


def _serve(kind: str, ttft_ms: float, itl_ms: float, conn) -> None:
    """Child process: one provider test server; sends its URLs, then its truth when asked."""
    sys.path.insert(0, TESTS)
    from providers import AzureServer, BedrockServer, SageMakerServer

    server = {"azure": lambda: AzureServer(api_key="bench-key"),
              "bedrock": lambda: BedrockServer(),
              "sagemaker-tgi": lambda: SageMakerServer(container="tgi"),
              "sagemaker-messages": lambda: SageMakerServer(container="messages")}[kind]()
    server.ttft_ms, server.itl_ms = ttft_ms, itl_ms
    with server:
        conn.send({"root": server.root_url, "deployment": getattr(server, "deployment", None),
                   "model_id": getattr(server, "model_id", None),
                   "endpoint_name": getattr(server, "endpoint_name", None)})
        conn.recv()
        conn.send([asdict(t) for t in server.truth])


def spec_for(kind: str, info: dict):
    from tokenflood_tui.specs import EndpointSpec

    if kind == "azure":
        return EndpointSpec(provider="azure", model="gpt-4o", deployment=info["deployment"],
                            base_url=info["root"], api_version="2024-10-21",
                            api_key_env_var="BENCH_AZURE_KEY")
    if kind == "bedrock":
        return EndpointSpec(provider="bedrock", model=info["model_id"], base_url=info["root"],
                            litellm_params={"aws_region_name": "us-east-1"})
    provider = "sagemaker" if kind == "sagemaker-tgi" else "sagemaker_chat"
    return EndpointSpec(provider=provider, model=info["endpoint_name"], base_url=info["root"],
                        litellm_params={"aws_region_name": "us-west-2"})


async def measure(spec, requests: int, warmup: int, output_tokens: int):
    """(records, first request's TTFT ms, client CPU ms per measured request): warm-up requests
    first, then `requests` in turn."""
    from tokenflood_tui.clients import make_client
    from tokenflood_tui.metrics.records import RequestRecord

    client = make_client(spec)
    await client.start()
    records, first_ttft, cpu0 = [], None, 0.0
    try:
        for i in range(warmup + requests):
            if i == warmup:
                cpu0 = time.process_time()
            rec = RequestRecord(1, 1.0, 0, time.monotonic(), 0, 0, output_tokens)
            await client.send(client.prepare(MESSAGES, output_tokens), rec)
            if not rec.ok:
                raise RuntimeError(f"{spec.provider}: {rec.error_message}")
            if i == 0:
                first_ttft = rec.ttft_ms
            if i >= warmup:
                records.append(rec)
            await asyncio.sleep(0.01)
        cpu_ms = (time.process_time() - cpu0) * 1000 / requests
    finally:
        await client.close()
    return records, first_ttft, cpu_ms


def errors(records, truth: list[dict]) -> dict:
    """TTFT and e2e error (client minus server), matched in order (one request at a time)."""
    assert len(records) == len(truth), (len(records), len(truth))
    pairs = list(zip(records, truth, strict=True))
    ttft = [r.ttft_ms - (t["first_token"] - t["received"]) * 1000 for r, t in pairs]
    e2e = [r.e2e_ms - (t["end"] - t["received"]) * 1000 for r, t in pairs]
    return {"ttft_err_ms": pct(ttft), "e2e_err_ms": pct(e2e), "requests": len(records)}


def pct(values) -> dict:
    a = np.asarray(values, dtype=float)
    return {"p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean())}


async def against_simulator(args) -> dict:
    from tokenflood_tui.simulator import SimulatorProcess
    from tokenflood_tui.specs import EndpointSpec

    out = {}
    with SimulatorProcess("--ttft-ms", str(args.ttft_ms), "--itl-ms", str(args.itl_ms)) as sim:
        for client in ("openai", "litellm"):
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{sim.port}/sim/requests", method="DELETE")).close()
            spec = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url,
                                client=client)
            records, first, cpu = await measure(spec, args.requests, args.warmup, args.output_tokens)
            with urllib.request.urlopen(f"http://127.0.0.1:{sim.port}/sim/requests") as r:
                by_id = {t["request_id"]: t for t in json.load(r)["requests"]}
            truth = [{"received": t["received"], "first_token": t["first_token"],
                      "end": t["finished"]} for t in (by_id[rec.response_id] for rec in records)]
            out[f"simulator/{client}"] = {**errors(records, truth), "first_request_ttft_ms": first,
                                          "client_cpu_ms_per_request": cpu}
    return out


async def against_provider(kind: str, args) -> dict:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(kind, args.ttft_ms, args.itl_ms, child), daemon=True)
    proc.start()
    try:
        info = parent.recv()
        records, first, cpu = await measure(spec_for(kind, info), args.requests, args.warmup,
                                            args.output_tokens)
        parent.send("truth")
        truth = parent.recv()[args.warmup:]
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
    return {f"{kind}/litellm": {**errors(records, truth), "first_request_ttft_ms": first,
                                "client_cpu_ms_per_request": cpu}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--output-tokens", type=int, default=16)
    p.add_argument("--ttft-ms", type=float, default=50.0)
    p.add_argument("--itl-ms", type=float, default=2.0)
    p.add_argument("--providers", nargs="*",
                   default=["azure", "bedrock", "sagemaker-tgi", "sagemaker-messages"])
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    sys.path.insert(0, TESTS)
    from providers.aws import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ["HF_HUB_OFFLINE"] = "1"          # no Hugging Face retries for SageMaker
    os.environ.update(BENCH_AZURE_KEY="bench-key", AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
                      AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)

    results = asyncio.run(against_simulator(args))
    for kind in args.providers:
        results.update(asyncio.run(against_provider(kind, args)))

    print(f"{args.requests} requests one at a time after {args.warmup} warm-up, "
          f"{args.output_tokens} output tokens, server TTFT {args.ttft_ms:g} ms, ITL {args.itl_ms:g} ms; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'server/client':28} {'TTFT err p50 / p90 / p99 ms':>30} {'e2e err p50 / p90 / p99 ms':>30}"
          f" {'client CPU ms/req':>18} {'first request TTFT ms':>22}")
    for name, r in results.items():
        t, e = r["ttft_err_ms"], r["e2e_err_ms"]
        print(f"{name:28} {t['p50']:9.2f} / {t['p90']:6.2f} / {t['p99']:6.2f}"
              f" {e['p50']:11.2f} / {e['p90']:6.2f} / {e['p99']:6.2f}"
              f" {r['client_cpu_ms_per_request']:18.2f} {r['first_request_ttft_ms']:22.1f}")
    base, lit = results["simulator/openai"], results["simulator/litellm"]
    added = {k: {q: lit[k][q] - base[k][q] for q in ("p50", "p90", "p99", "mean")}
             for k in ("ttft_err_ms", "e2e_err_ms")}
    results["litellm_adds_over_openai_client"] = added
    print(f"litellm adds over the built-in client (simulator): TTFT p50 +{added['ttft_err_ms']['p50']:.2f} "
          f"ms (p90 +{added['ttft_err_ms']['p90']:.2f}), e2e p50 +{added['e2e_err_ms']['p50']:.2f} ms "
          f"(p90 +{added['e2e_err_ms']['p90']:.2f})")
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)},
                                        "loadavg": os.getloadavg(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
