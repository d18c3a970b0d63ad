"""Does tokenflood tell TTFT from TTFA? Its figures against the simulator's truth for a reasoning model.

The simulator streams 200 reasoning tokens at 10 ms each before a 32-token answer (TTFT 50 ms):
the server's truth is a first token 50 ms after receipt and a first answer token 2000 ms later.
tokenflood runs headless against it (the built-in client, a load type with
`reasoning_budget_tokens: 200`), and this prints per field the measured TTFT, TTFA and their
difference (reasoning_ms), p50 and p99, beside the server's own stamps for the same requests
(matched by response id) and the error of each measured figure against them.

    python benchmarks/reasoning.py [--rate 2] [--seconds 10] [--fields reasoning think-tags]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from tokenflood_tui.outputs.formats import ms
from tokenflood_tui.simulator import SimulatorProcess

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
REASONING_TOKENS, ITL_MS, TTFT_MS, ANSWER_TOKENS = 200, 10.0, 50.0, 32
FIELDS = ("reasoning", "reasoning_content", "think-tags")


def truth_by_id(port: int) -> dict[str, dict]:
    data = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/sim/requests"))
    return {entry["request_id"]: entry for entry in data["requests"]}


def run(field: str, rate: float, seconds: float) -> list[tuple[dict, dict]]:
    """(requests.csv row, the server's truth) of each request of one headless run."""
    with SimulatorProcess("--ttft-ms", f"{TTFT_MS:g}", "--itl-ms", f"{ITL_MS:g}",
                          "--reasoning-tokens", str(REASONING_TOKENS),
                          "--reasoning-field", field) as sim, \
            tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "endpoint.yml").write_text(
            f"provider: hosted_vllm\nmodel: sim-model\nbase_url: {sim.base_url}\n"
            + ("think_tags: true\n" if field == "think-tags" else ""))
        (folder / "run.yml").write_text(
            f"name: reasoning\nrequests_per_second_rates: [{rate:g}]\n"
            f"test_length_in_seconds: {seconds:g}\narrival: constant\nload_types:\n"
            f"- {{prompt_length: 64, output_length: {ANSWER_TOKENS}, "
            f"reasoning_budget_tokens: {REASONING_TOKENS}}}\n")
        subprocess.run([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--headless", "--yes",
                        "--results-dir", "results"], cwd=folder, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (results,) = (folder / "results").iterdir()
        with open(results / "requests.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["phase"] != "0"]
        truth = truth_by_id(sim.port)
    return [(r, truth[r["response_id"]]) for r in rows if r["response_id"] in truth]


def stats(values: list[float]) -> str:
    a = np.array(values)
    return (f"{ms(float(np.percentile(a, 50)), 1, unit=False):>9} "
            f"{ms(float(np.percentile(a, 99)), 1, unit=False):>9}")


def report(field: str, pairs: list[tuple[dict, dict]]) -> None:
    ok = [(r, t) for r, t in pairs if r["status"] == "ok"]
    measured = {
        "TTFT": [float(r["ttft_ms"]) for r, _ in ok],
        "TTFA": [float(r["ttfa_ms"]) for r, _ in ok],
        "TTFA - TTFT": [float(r["reasoning_ms"]) for r, _ in ok],
    }
    # the server's truth from receipt (its first token and first answer token, stamped after
    # their writes), and what it was set to
    truth = {
        "TTFT": [(t["first_token"] - t["received"]) * 1000 for _, t in ok],
        "TTFA": [(t["first_answer"] - t["received"]) * 1000 for _, t in ok],
        "TTFA - TTFT": [(t["first_answer"] - t["first_token"]) * 1000 for _, t in ok],
    }
    setting = {"TTFT": TTFT_MS, "TTFA": TTFT_MS + REASONING_TOKENS * ITL_MS,
               "TTFA - TTFT": REASONING_TOKENS * ITL_MS}
    tokens = {r["reasoning_tokens"] for r, _ in ok}
    print(f"\n{field}: {len(ok)} of {len(pairs)} ok, reasoning_tokens {sorted(tokens)}")
    pair = f"{'p50':>9} {'p99':>9}"
    print(f"{'':12} {'':>6} | {'measured':^19} | {'server truth':^19} | {'error':^19}")
    print(f"{'':12} {'set':>6} | {pair} | {pair} | {pair}")
    for name in measured:
        errors = [m - s for m, s in zip(measured[name], truth[name], strict=True)]
        print(f"{name:12} {ms(setting[name], unit=False):>6} | {stats(measured[name])} | "
              f"{stats(truth[name])} | {stats(errors)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fields", nargs="+", choices=FIELDS, default=list(FIELDS))
    args = parser.parse_args()
    print(f"simulator: TTFT {ms(TTFT_MS)}, {REASONING_TOKENS} reasoning tokens every "
          f"{ms(ITL_MS)}, then {ANSWER_TOKENS} answer tokens; {args.rate:g} req/s for "
          f"{args.seconds:g} s (all figures ms)")
    for field in args.fields:
        report(field, run(field, args.rate, args.seconds))


if __name__ == "__main__":
    main()
