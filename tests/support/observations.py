"""Observation results for tests: the fixture folder of a real short observation, and synthetic
long runs (days of polls) built from typed PollStats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tokenflood_tui.metrics.summary import Distribution, ErrorCount, ObservationInfo, PollStats, RunSummary

# A real observation against the simulator (6 polls 6 s apart, 3 requests within 2 s): poll 2 ran
# while the server was down (3 connection errors), the process was SIGKILLed after poll 3, and
# `tokenflood resume` went on at poll 6 (polls 4 and 5 missed). summary.json, polls.csv and the
# configs as run; the other files are left out to keep it small.
OBSERVATION = (Path(__file__).parents[1] / "tui" / "fixtures" / "observation"
               / "2026-12-01_13-52-00_watch-sim_sim-model")
NOT_RUNNING = "tokenflood was not running (the process had ended; resumed later)"
START = datetime(2026, 12, 1, 13, 45, tzinfo=UTC)


def poll(n: int, slot: datetime, ttft: float | None, missed: str | None = None,
         failed: int = 0, sent: int = 3) -> PollStats:
    """A poll whose TTFT percentiles are ttft, 1.2 ttft, 1.5 ttft (e2e three times those);
    None (or a missed poll, or one where all failed) for no latency figures."""
    ok = 0 if missed else sent - failed
    def dist(v: float | None) -> Distribution:
        if v is None or not ok:
            return Distribution(mean=None, p50=None, p90=None, p99=None)
        return Distribution(mean=v, p50=v, p90=v * 1.2, p99=v * 1.5)
    return PollStats(
        phase=n, target_rps=1.5, planned=sent, sent=0 if missed else sent, ok=ok,
        failed=0 if missed else failed, achieved_rps=None,
        output_tokens_per_s=17.0 if ok else None, goodput=None, prompt_tokens_mean=None,
        prompt_tokens_target_mean=None, output_tokens_mean=None, output_tokens_target_mean=None,
        cached_tokens_mean=None, cache_hit_rate=None, output_tokens_estimated=False,
        errors=[ErrorCount(status="http_error", http_status=503, count=failed)]
        if failed and not missed else [],
        ttft_ms=dist(ttft), e2e_ms=dist(None if ttft is None else ttft * 3),
        scheduled_latency_ms=dist(ttft), tpot_ms=dist(ttft), itl_ms=dist(ttft),
        dispatch_delay_ms=dist(ttft), slot_utc=slot.isoformat().replace("+00:00", "Z"),
        missed=missed)


def long_polls(n: int = 288, interval_min: float = 15, missed: range = range(101, 111),
               start: datetime = START) -> list[PollStats]:
    """Three days of 15-minute polls (288), TTFT 300 ms + the poll number's last two digits;
    polls 101-110 missed (the process was down); poll 150 all failed with 503s."""
    return [poll(k, start + timedelta(minutes=interval_min * (k - 1)), 300.0 + k % 100,
                 NOT_RUNNING if k in missed else None, failed=3 if k == 150 else 0)
            for k in range(1, n + 1)]


def long_summary(polls: list[PollStats] | None = None) -> RunSummary:
    """The fixture's summary with a three-day run's polls in place of its own."""
    polls = long_polls() if polls is None else polls
    base = RunSummary.load(OBSERVATION)
    return base.model_copy(update={
        "polls": polls, "resumed": [],
        "observation": ObservationInfo(interval_s=900, polls=len(polls), num_requests=3,
                                       within_seconds=2, duration_hours=len(polls) / 4,
                                       align=True)})
