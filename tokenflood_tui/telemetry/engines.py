"""Each engine's metric names for the one set of signals (docs/metrics.md#server), and the
sample a scrape makes of them.

Names per engine from their sources (shared notes, December 2026). Where an engine renamed a
metric, the new name comes first and the old one is the fallback (vLLM before 0.11). A signal an
engine does not publish stays None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .prometheus import Histogram, Samples, histogram, mean, total


@dataclass(frozen=True, slots=True)
class Engine:
    """Where one engine publishes each signal: sample names, the first one present wins."""

    name: str                                  # as people write it
    prefix: str                                # its metrics' names start with this
    running: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    kv_usage: tuple[str, ...] = ()             # a 0-1 gauge
    prefix_hits: tuple[str, ...] = ()          # counters of prompt tokens found in the cache...
    prefix_queries: tuple[str, ...] = ()       # ...and looked up
    # llama.cpp counts cached prompt tokens apart from the ones it computed: looked up = both
    queries_exclude_hits: bool = False
    prefix_hit_ratio: tuple[str, ...] = ()     # a gauge instead of counters (SGLang)
    preemptions: tuple[str, ...] = ()          # a counter
    prompt_tokens: tuple[str, ...] = ()        # counters
    generation_tokens: tuple[str, ...] = ()
    ttft: tuple[str, ...] = ()                 # histograms in seconds (the family name)
    itl: tuple[str, ...] = ()
    queue: tuple[str, ...] = ()
    enable: str = ""                           # how to turn its metrics on
    version: tuple[str, str] | None = None     # where it tells its version: (path, JSON key)

    @property
    def names(self) -> frozenset[str]:
        """Every sample (or histogram family) name it reads."""
        return frozenset(n for group in (
            self.running, self.waiting, self.kv_usage, self.prefix_hits, self.prefix_queries,
            self.prefix_hit_ratio, self.preemptions, self.prompt_tokens, self.generation_tokens,
            self.ttft, self.itl, self.queue) for n in group)


VLLM = Engine(
    "vLLM", "vllm:",
    running=("vllm:num_requests_running",), waiting=("vllm:num_requests_waiting",),
    kv_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    prefix_hits=("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    prefix_queries=("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    preemptions=("vllm:num_preemptions_total",),
    prompt_tokens=("vllm:prompt_tokens_total",), generation_tokens=("vllm:generation_tokens_total",),
    ttft=("vllm:time_to_first_token_seconds",),
    itl=("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    queue=("vllm:request_queue_time_seconds",),
    enable="vLLM publishes /metrics on its API port by default",
    version=("/version", "version"))
SGLANG = Engine(
    "SGLang", "sglang:",
    running=("sglang:num_running_reqs",), waiting=("sglang:num_queue_reqs",),
    kv_usage=("sglang:token_usage",), prefix_hit_ratio=("sglang:cache_hit_rate",),
    # (its preemptions are a gauge of retracted requests, not a count: left n/a)
    prompt_tokens=("sglang:prompt_tokens_total",),
    generation_tokens=("sglang:generation_tokens_total",),
    ttft=("sglang:time_to_first_token_seconds",), itl=("sglang:inter_token_latency_seconds",),
    queue=("sglang:queue_time_seconds",),
    enable="start SGLang with --enable-metrics",
    version=("/get_server_info", "version"))
TGI = Engine(
    "TGI", "tgi_",
    running=("tgi_batch_current_size",), waiting=("tgi_queue_size",),
    # token counts are histograms of finished requests: their sums count the tokens
    prompt_tokens=("tgi_request_input_length_sum",),
    generation_tokens=("tgi_request_generated_tokens_sum",),
    itl=("tgi_request_mean_time_per_token_duration",),
    queue=("tgi_request_queue_duration",),
    enable="TGI publishes /metrics by default",
    version=("/info", "version"))
LLAMACPP = Engine(
    "llama.cpp", "llamacpp:",
    running=("llamacpp:requests_processing",), waiting=("llamacpp:requests_deferred",),
    prefix_hits=("llamacpp:prompt_tokens_cached_total",),
    prefix_queries=("llamacpp:prompt_tokens_total",), queries_exclude_hits=True,
    # never llamacpp:*_tokens_seconds: reading /metrics resets them
    prompt_tokens=("llamacpp:prompt_tokens_total",),
    generation_tokens=("llamacpp:tokens_predicted_total",),
    enable="start llama-server with --metrics",
    version=("/props", "build_info"))
DYNAMO = Engine(
    "Dynamo", "dynamo_frontend_",
    running=("dynamo_frontend_inflight_requests",), waiting=("dynamo_frontend_queued_requests",),
    ttft=("dynamo_frontend_time_to_first_token_seconds",),
    itl=("dynamo_frontend_inter_token_latency_seconds",),
    enable="the Dynamo frontend publishes /metrics by default")
ENGINES = (VLLM, SGLANG, TGI, LLAMACPP, DYNAMO)
# one line for a server whose engine is not known yet (its /metrics answered 404)
HOW_TO_ENABLE = ("llama.cpp: --metrics; SGLang: --enable-metrics; vLLM, TGI and the Dynamo "
                 "frontend publish /metrics by default")


@dataclass(frozen=True, slots=True)
class ServerSample:
    """One scrape's signals as the server published them (counters cumulative, histograms
    cumulative), stamped on the run's monotonic clock."""

    t: float
    engine: str
    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None
    prefix_hit_ratio: float | None = None      # an engine's own ratio gauge
    prefix_hits: float | None = None
    prefix_queries: float | None = None
    preemptions: float | None = None
    prompt_tokens: float | None = None
    generation_tokens: float | None = None
    ttft: Histogram | None = None              # seconds
    itl: Histogram | None = None
    queue: Histogram | None = None


def detect(names: Iterable[str]) -> Engine | None:
    """The engine whose metrics these are (the one with most sample names under its prefix)."""
    names = list(names)
    counts = {engine: sum(1 for name in names if name.startswith(engine.prefix))
              for engine in ENGINES}
    best = max(counts, key=lambda e: counts[e])
    return best if counts[best] else None


def sample(engine: Engine, samples: Samples, t: float) -> ServerSample:
    """The signals of one scrape under `engine`'s names."""
    hits = _first(samples, engine.prefix_hits, total)
    queries = _first(samples, engine.prefix_queries, total)
    if engine.queries_exclude_hits and queries is not None and hits is not None:
        queries += hits
    return ServerSample(
        t=t, engine=engine.name,
        running=_first(samples, engine.running, total),
        waiting=_first(samples, engine.waiting, total),
        kv_usage=_first(samples, engine.kv_usage, mean),
        prefix_hit_ratio=_first(samples, engine.prefix_hit_ratio, mean),
        prefix_hits=hits, prefix_queries=queries,
        preemptions=_first(samples, engine.preemptions, total),
        prompt_tokens=_first(samples, engine.prompt_tokens, total),
        generation_tokens=_first(samples, engine.generation_tokens, total),
        ttft=_first_histogram(samples, engine.ttft),
        itl=_first_histogram(samples, engine.itl),
        queue=_first_histogram(samples, engine.queue))


def _first(samples: Samples, names: tuple[str, ...], read) -> float | None:
    for name in names:
        value = read(samples, name)
        if value is not None:
            return value
    return None


def _first_histogram(samples: Samples, names: tuple[str, ...]) -> Histogram | None:
    for name in names:
        found = histogram(samples, name)
        if found is not None:
            return found
    return None
