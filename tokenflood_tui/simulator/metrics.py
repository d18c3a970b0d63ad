"""The simulator's /metrics: what it is doing, in Prometheus' text format under vLLM's names
(docs/architecture.md#simulator), so tokenflood's server telemetry can be tested against it.

Running and waiting are its slots' (in service, queued); KV-cache usage is the share of its slots
in service (only with a slot limit: an unlimited simulator has no cache to fill); prefix-cache
queries and hits count prompt tokens; TTFT is the first token's due time since receipt and queue
time the wait for a slot, each observed when a request is admitted.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# vLLM's bucket bounds (seconds) for TTFT and queue time
BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
             7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)


@dataclass(slots=True)
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS_S))
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        i = bisect.bisect_left(BUCKETS_S, seconds)
        if i < len(BUCKETS_S):
            self.counts[i] += 1
        self.count += 1
        self.total += seconds

    def lines(self, name: str, labels: str) -> list[str]:
        out = [f"# TYPE {name} histogram"]
        cumulative = 0
        for bound, n in zip(BUCKETS_S, self.counts, strict=True):
            cumulative += n
            out.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
        out += [f'{name}_bucket{{{labels},le="+Inf"}} {self.count}',
                f"{name}_count{{{labels}}} {self.count}", f"{name}_sum{{{labels}}} {self.total}"]
        return out


class SimulatorMetrics:
    """The counters and histograms, updated as requests are admitted and finish."""

    def __init__(self, model: str, slots: int):
        self.labels = f'model_name="{model}"'
        self.slots = slots
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.prefix_queries = 0
        self.prefix_hits = 0
        self.ttft = _Histogram()
        self.queue = _Histogram()

    def admitted(self, prompt_tokens: int, cached: int, queued_s: float, ttft_s: float) -> None:
        """A request got its slot after `queued_s`; its first token is due `ttft_s` after receipt."""
        self.prompt_tokens += prompt_tokens
        self.prefix_queries += prompt_tokens
        self.prefix_hits += cached
        self.queue.observe(queued_s)
        self.ttft.observe(ttft_s)

    def generated(self, tokens: int) -> None:
        self.generation_tokens += tokens

    def exposition(self, running: int, waiting: int) -> str:
        """The text /metrics answers, for the slots' state now."""
        labels = self.labels
        lines = [
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{labels}}} {running}",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{labels}}} {waiting}",
        ]
        if self.slots:
            lines += ["# TYPE vllm:kv_cache_usage_perc gauge",
                      f"vllm:kv_cache_usage_perc{{{labels}}} {min(1.0, running / self.slots)}"]
        for name, value in (("vllm:prefix_cache_queries", self.prefix_queries),
                            ("vllm:prefix_cache_hits", self.prefix_hits),
                            ("vllm:num_preemptions", 0),
                            ("vllm:prompt_tokens", self.prompt_tokens),
                            ("vllm:generation_tokens", self.generation_tokens)):
            lines += [f"# TYPE {name} counter", f"{name}_total{{{labels}}} {value}"]
        lines += self.ttft.lines("vllm:time_to_first_token_seconds", labels)
        lines += self.queue.lines("vllm:request_queue_time_seconds", labels)
        return "\n".join(lines) + "\n"
