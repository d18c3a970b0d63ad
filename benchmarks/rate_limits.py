"""The figures of a hosted provider's rate limits, per shape (../shared/notes/
server-metrics-and-rate-limits.md; docs/metrics.md#rate-limits): the built-in simulator with
limits set for each header shape (OpenAI, Azure, Anthropic), and the provider test servers'
Gemini and Bedrock 429 bodies (tests/providers, through litellm).

For each shape, with `tokenflood run --headless` as a user types it:
- the budget prompt before any limit was seen, then the run: the warning before the phase that
  must exceed a limit (and that it came before any load), the headroom seen per phase;
- the throttled count and share per phase, and the latency percentiles kept to the answered
  requests (the e2e p50 of every row, refusals included, beside it: what mixing them in would say);
- the next budget prompt (nobody answers y/N: nothing is sent), with the limits seen;
- a run into an exhausted quota (or Gemini's per-day quota): how it stopped and how long it took
  from the first refusal.

    python benchmarks/rate_limits.py
"""

from __future__ import annotations

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

# the provider test servers (tests/providers) are a package of the tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from providers import BedrockServer, Faults, GeminiThinkingServer, Reply
from providers.aws import ACCESS_KEY_ID, SECRET_ACCESS_KEY

TOKENFLOOD = str(Path(sys.executable).parent / "tokenflood")
RPM, TPM, QUOTA = 12, 1000, 7
PROMPT, OUTPUT = 64, 4
# phase 1 sends 2 req/s for 2 s (4 requests, 272 tokens), phase 2 8 req/s (16, 1,088): over 12 a
# minute and over 1,000 tokens
SUITE = (f"name: limits\nrequests_per_second_rates: [2, 8]\ntest_length_in_seconds: 2\n"
         f"arrival: constant\nload_types:\n- {{prompt_length: {PROMPT}, output_length: {OUTPUT}}}\n")
# the provider servers': one phase of 12 requests, the first 6 of them refused
PROVIDER_OUTPUT = 12
PROVIDER_SUITE = ("name: limits\nrequests_per_second_rates: [8]\ntest_length_in_seconds: 1.5\n"
                  "arrival: constant\nwarmup_requests: 1\nerror_limit: 0.9\nload_types:\n"
                  f"- {{prompt_length: 60, output_length: {PROVIDER_OUTPUT}}}\n")
REFUSED = 6
KEY = "sk-rate-limit-benchmark-key"
SHAPES = {"openai": f"rpm={RPM}", "azure": f"tpm={TPM}", "anthropic": f"rpm={RPM}"}


def tokenflood(folder: Path, *args: str, env: dict | None = None) -> tuple[int, str, float]:
    """`tokenflood run run.yml endpoint.yml --headless ARGS` in `folder`: (exit code, stderr,
    seconds)."""
    started = time.monotonic()
    proc = subprocess.run([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--headless", *args,
                           "--results-dir", "results"], cwd=folder, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=300,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                               "HF_HUB_OFFLINE": "1",
                               "TOKENFLOOD_CONFIG_DIR": str(folder / "config"), **(env or {})})
    return proc.returncode, proc.stderr, time.monotonic() - started


def newest(folder: Path) -> Path:
    return max((p for p in (folder / "results").iterdir() if p.is_dir()),
               key=lambda p: p.stat().st_mtime)


def rows(run: Path) -> list[dict]:
    with open(run / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def prompt_lines(stderr: str) -> list[str]:
    """The budget prompt's rate-limit lines."""
    return [line.strip() for line in stderr.splitlines()
            if line.strip().startswith(("per minute", "phase ", "rate limits    ", "warning   "))]


def say(text: str = "") -> None:
    print(text, flush=True)


def report_run(stderr: str, run: Path) -> None:
    lines = stderr.splitlines()
    first_load = next((i for i, line in enumerate(lines) if "phase 1: " in line and "req/s" in line),
                      len(lines))
    warned = [(i, line) for i, line in enumerate(lines) if "must exceed the provider's rate limit"
              in line and line.startswith("[tokenflood] warning")]
    if warned:
        i, line = warned[0]
        where = "before any load" if i < first_load else "AFTER the load began"
        say(f"  warning at the warm-up ({where}): {line.split('warning: ', 1)[1][:150]}…")
    else:
        say("  warning at the warm-up: none (the provider announced no limits before refusing)")
    seen = [line for line in lines if "rate limits at the warm-up:" in line]
    if seen:
        say(f"  {seen[0].split('] ', 1)[1]}")
    live = [line for line in lines if "| headroom " in line]
    if live:
        say(f"  live, last progress line: …{live[-1].split('| headroom ', 1)[1]}")
    summary = json.loads((run / "summary.json").read_text())
    all_rows = rows(run)
    for ph in summary["phases"]:
        lim = ph.get("rate_limits") or {}
        low = (lim.get("limits") or [None])[0]
        room = (f"{low['kind']} {low['lowest_remaining']:,}"
                + (f"/{low['limit']:,}" if low.get("limit") else " left") if low else "none announced")
        mine = [r for r in all_rows if r["phase"] == str(ph["phase"])]
        e2e_all = [float(r["e2e_ms"]) for r in mine if r["e2e_ms"]]
        share = lim.get("throttled_share")
        retry = lim.get("retry_after_s")
        say(f"  phase {ph['phase']}: sent {ph['sent']}, ok {ph['ok']}, throttled "
            f"{lim.get('throttled', 0)} ({share if share is None else f'{share:.0%}'}) by "
            f"{lim.get('throttled_by_kind') or {}}; lowest headroom {room}; retry-after "
            f"{'-' if retry is None else f'{retry:.1f} s'}; TTFT p50 {ph['ttft_ms']['p50']:.1f} "
            f"ms and e2e p50 "
            f"{ph['e2e_ms']['p50']:.1f} ms of the answered (e2e p50 of every row, refusals in: "
            f"{np.percentile(e2e_all, 50):.1f} ms)")
    say(f"  first throttled: phase {summary.get('first_throttled')}")


def report_stop(code: int, stderr: str, seconds: float, run: Path, planned_s: float) -> None:
    summary = json.loads((run / "summary.json").read_text())
    all_rows = rows(run)
    refused = [r for r in all_rows if r["status"] == "rate_limited"]
    if not refused:
        say(f"  no refusal: status {summary['status']}")
        return
    first = min(float(r["t_end_s"]) for r in refused)
    last_send = max(float(r["t_send_s"]) for r in all_rows)
    last_end = max(float(r["t_end_s"]) for r in all_rows if r["t_end_s"])
    say(f"  exit {code}, status {summary['status']}, stopped by {summary['stopped_by_throttle']}: "
        f"{(summary['message'] or '')[:160]}…")
    say(f"  {len(all_rows)} rows kept ({len(refused)} refused); last send "
        f"{(last_send - first) * 1000:+.0f} ms and last answer {(last_end - first) * 1000:+.0f} ms "
        f"from the first refusal; the process took {seconds:.1f} s for {planned_s:g} s of "
        "planned load")


def simulator_shape(shape: str, limit: str, root: Path) -> None:
    say(f"== {shape} headers (simulator --rate-limit {limit} --limit-headers {shape})")
    folder = root / shape
    folder.mkdir()
    sim = SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2", "--model", "gpt-4o-mini",
                           "--rate-limit", limit, "--limit-headers", shape)
    url = sim.start()
    try:
        (folder / "endpoint.yml").write_text(f"provider: openai\nmodel: gpt-4o-mini\n"
                                             f"base_url: {url}\n")
        (folder / "run.yml").write_text(SUITE)
        _, before, _ = tokenflood(folder)
        say("  budget prompt, nothing seen yet:")
        for line in prompt_lines(before):
            say(f"    {line}")
        code, stderr, seconds = tokenflood(folder, "--yes")
        say(f"  the run: exit {code} in {seconds:.1f} s")
        report_run(stderr, newest(folder))
        code, again, _ = tokenflood(folder)
        say(f"  the next budget prompt (exit {code}, nothing sent):")
        for line in prompt_lines(again):
            say(f"    {line[:200]}")
    finally:
        sim.stop()
    quota = SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2", "--model", "gpt-4o-mini",
                             "--rate-limit", f"rpm=1000,quota={QUOTA}", "--limit-headers", shape)
    url = quota.start()
    try:
        stop = root / f"{shape}-quota"
        stop.mkdir()
        (stop / "endpoint.yml").write_text(f"provider: openai\nmodel: gpt-4o-mini\n"
                                           f"base_url: {url}\n")
        (stop / "run.yml").write_text(SUITE)
        code, stderr, seconds = tokenflood(stop, "--yes")
        say(f"  quota of {QUOTA} requests:")
        report_stop(code, stderr, seconds, newest(stop), 4.0)
    finally:
        quota.stop()
    say()


def provider_shape(name: str, root: Path, make, endpoint, env: dict, quota=None) -> None:
    say(f"== {name} (tests/providers, through litellm: the first {REFUSED} load requests "
        "refused)")
    folder = root / name
    folder.mkdir()
    with make(Faults([429] * REFUSED, PROVIDER_OUTPUT)) as server:
        (folder / "endpoint.yml").write_text(endpoint(server))
        (folder / "run.yml").write_text(PROVIDER_SUITE)
        _, before, _ = tokenflood(folder, env=env)
        code, stderr, seconds = tokenflood(folder, "--yes", env=env)
        say(f"  the run: exit {code} in {seconds:.1f} s")
        report_run(stderr, newest(folder))
        _, again, _ = tokenflood(folder, env=env)
        seen = [line for line in prompt_lines(again) if line.startswith("rate limits")]
        say(f"  the next budget prompt: {seen[0] if seen else '(no rate-limit lines)'}")
    if quota is not None:
        stop = root / f"{name}-quota"
        stop.mkdir()
        with quota(Faults([429], PROVIDER_OUTPUT)) as server:
            (stop / "endpoint.yml").write_text(endpoint(server))
            (stop / "run.yml").write_text(PROVIDER_SUITE)
            code, stderr, seconds = tokenflood(stop, "--yes", env=env)
            say("  a per-day quota (QuotaFailure GenerateRequestsPerDayPerProjectPerModel):")
            report_stop(code, stderr, seconds, newest(stop), 1.5)
    say()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tokenflood-rate-limits-") as tmp:
        root = Path(tmp)
        for shape, limit in SHAPES.items():
            simulator_shape(shape, limit, root)
        gemini_env = {"RATE_LIMIT_TEST_KEY": KEY}
        provider_shape(
            "gemini", root,
            lambda faults: GeminiThinkingServer(Reply(reasoning=0), api_key=KEY, faults=faults),
            lambda s: (f"provider: gemini\nmodel: gemini-2.5-flash\nbase_url: {s.base_url}\n"
                       "api_key_env_var: RATE_LIMIT_TEST_KEY\n"),
            gemini_env,
            quota=lambda faults: GeminiThinkingServer(
                Reply(reasoning=0), api_key=KEY, faults=faults,
                quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier"))
        aws_env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEDROCK_RUNTIME_ENDPOINT"):
            os.environ.pop(name, None)
        provider_shape(
            "bedrock", root, lambda faults: BedrockServer(faults=faults),
            lambda s: (f"provider: bedrock\nmodel: {s.model_id}\nbase_url: {s.base_url}\n"
                       "litellm_params:\n  aws_region_name: us-east-1\n"),
            aws_env)


if __name__ == "__main__":
    main()
