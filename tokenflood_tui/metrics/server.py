"""What the server said about itself (docs/metrics.md#server): one set of signals
whatever the engine, per scrape (`ServerPoint`, a row of server_metrics.csv) and per phase
(`ServerPhaseStats`, in summary.json).

A signal the engine does not publish is None ("n/a"), never 0: a server without a KV-cache
gauge is not a server with an empty cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

SERVER_METRICS_FILE = "server_metrics.csv"
SERVER_SCRAPES_FILE = "server_scrapes.txt"     # the raw text at the baseline and phase edges
# A queue persists in a phase when at least this share of its scrapes saw a request waiting
# (and the phase had at least QUEUE_MIN_SCRAPES of them): one busy scrape is a burst, not a queue.
QUEUE_PERSISTS_SHARE = 0.5
QUEUE_MIN_SCRAPES = 2


@dataclass(frozen=True, slots=True)
class ServerPoint:
    """One scrape, normalised: gauges as read, rates from the counters' change since the scrape
    before over the wall time between them, percentiles from the histograms' bucket change."""

    t: float                                   # time.monotonic() of the scrape (the run's clock)
    phase: int                                 # the phase under way (0: none, e.g. warm-up)
    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None              # 0-1
    prefix_hit_ratio: float | None = None      # cached / looked-up prompt tokens in the window
    preemptions_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    generation_tokens_per_s: float | None = None
    ttft_p50_ms: float | None = None           # of the requests whose first token came in the
    ttft_p99_ms: float | None = None           # window (the server's own histogram)
    itl_p50_ms: float | None = None
    queue_p50_ms: float | None = None
    queue_p99_ms: float | None = None


# server_metrics.csv: t_s (seconds since the run's origin), then these fields of ServerPoint
POINT_COLUMNS = ("phase", "running", "waiting", "kv_usage", "prefix_hit_ratio",
                 "preemptions_per_s", "prompt_tokens_per_s", "generation_tokens_per_s",
                 "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "queue_p50_ms", "queue_p99_ms")


class ServerDistribution(BaseModel):
    """A server histogram's figures over a phase (ms): mean, and one key per suite percentile,
    interpolated within the buckets (as Prometheus' histogram_quantile)."""

    count: int = 0
    mean: float | None = None
    percentiles: dict[str, float | None] = Field(default_factory=dict)   # 'p50': ms


class ServerPhaseStats(BaseModel):
    """A phase as the server saw it (between the scrapes at its start and its end)."""

    scrapes: int                               # scrapes within the phase
    waiting_mean: float | None = None
    waiting_max: float | None = None
    running_mean: float | None = None
    running_max: float | None = None
    kv_usage_mean: float | None = None
    kv_usage_max: float | None = None
    prefix_hit_ratio: float | None = None
    preemptions: float | None = None           # in the phase
    preemptions_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    generation_tokens_per_s: float | None = None
    ttft_ms: ServerDistribution | None = None
    itl_ms: ServerDistribution | None = None
    queue_ms: ServerDistribution | None = None
    # the client's TTFT percentile minus the server's: time the server does not see (network,
    # the client, and the HTTP layer in front of the engine)
    ttft_gap_ms: dict[str, float | None] = Field(default_factory=dict)
    queue_persists: bool | None = None         # see QUEUE_PERSISTS_SHARE; None: no waiting gauge

    def get(self, name: str) -> float | None:
        """A figure by its threshold name: waiting.max, kv_usage.mean, ttft_ms.p99, ..."""
        head, _, stat = name.partition(".")
        if head in ("ttft_ms", "itl_ms", "queue_ms"):
            dist: ServerDistribution | None = getattr(self, head)
            if dist is None:
                return None
            return dist.mean if stat == "mean" else dist.percentiles.get(stat)
        value = getattr(self, f"{head}_{stat}" if stat else head, None)
        return value if isinstance(value, (int, float)) else None


class ServerInfo(BaseModel):
    """The run's server telemetry: where it was read, what answered, and what it said first."""

    url: str                                   # the metrics URL, without any password
    engine: str | None = None                  # vLLM, SGLang, TGI, llama.cpp, Dynamo
    engine_version: str | None = None          # as the engine tells it, where it does
    off: str | None = None                     # why it stopped (or never started) reading
    scrapes: int = 0
    failed_scrapes: int = 0
    baseline_running: float | None = None      # before the warm-up: someone else's load?
    baseline_waiting: float | None = None
    queue_from_phase: int | None = None        # the first phase whose queue persisted
    queue_from_rps: float | None = None


def queue_persists(waiting: list[float]) -> bool | None:
    """Whether a phase's scrapes show a standing queue (None: the engine publishes no queue)."""
    if not waiting:
        return None
    if len(waiting) < QUEUE_MIN_SCRAPES:
        return False
    return sum(1 for w in waiting if w >= 1) / len(waiting) >= QUEUE_PERSISTS_SHARE

