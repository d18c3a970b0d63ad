"""From raw samples to the normalised signals: a point per scrape (rates over the wall time since
the scrape before) and a phase's figures (between the scrapes at its start and its end)."""

from __future__ import annotations

from ..metrics.server import (ServerDistribution, ServerPhaseStats, ServerPoint,
                              queue_persists)
from ..metrics.summary import Distribution, pkey
from .engines import ServerSample
from .prometheus import Histogram


def point(before: ServerSample | None, now: ServerSample, phase: int) -> ServerPoint:
    """`now` normalised; its rates and window percentiles need the scrape `before` it."""
    ratio = now.prefix_hit_ratio
    rates: dict[str, float | None] = {}
    ttft = itl = queue = None
    if before is not None and now.t > before.t:
        wall = now.t - before.t
        rates = {name: _rate(getattr(before, field), getattr(now, field), wall)
                 for name, field in (("preemptions_per_s", "preemptions"),
                                     ("prompt_tokens_per_s", "prompt_tokens"),
                                     ("generation_tokens_per_s", "generation_tokens"))}
        if ratio is None:
            ratio = _ratio(before, now)
        ttft, itl, queue = (_since(getattr(before, h), getattr(now, h))
                            for h in ("ttft", "itl", "queue"))
    return ServerPoint(
        t=now.t, phase=phase, running=now.running, waiting=now.waiting, kv_usage=now.kv_usage,
        prefix_hit_ratio=ratio, **rates,
        ttft_p50_ms=_ms(ttft, 0.5), ttft_p99_ms=_ms(ttft, 0.99), itl_p50_ms=_ms(itl, 0.5),
        queue_p50_ms=_ms(queue, 0.5), queue_p99_ms=_ms(queue, 0.99))


def phase_figures(start: ServerSample | None, end: ServerSample | None,
                  points: list[ServerPoint], percentiles: list[float],
                  client_ttft: Distribution) -> ServerPhaseStats:
    """A phase's server figures: gauges over the scrapes within it, counters and histograms
    between the scrape at its start and the one at its end."""
    def spread(name: str) -> tuple[float | None, float | None]:
        values = [v for p in points if (v := getattr(p, name)) is not None]
        return (sum(values) / len(values), max(values)) if values else (None, None)

    waiting = spread("waiting")
    running = spread("running")
    kv = spread("kv_usage")
    figures: dict = {}
    if start is not None and end is not None and end.t > start.t:
        wall = end.t - start.t
        preempted = _delta(start.preemptions, end.preemptions)
        ratio = end.prefix_hit_ratio if end.prefix_hit_ratio is not None else _ratio(start, end)
        if end.prefix_hit_ratio is not None:       # a gauge: its mean over the phase
            gauge = [p.prefix_hit_ratio for p in points if p.prefix_hit_ratio is not None]
            ratio = sum(gauge) / len(gauge) if gauge else ratio
        figures = dict(
            prefix_hit_ratio=ratio, preemptions=preempted,
            preemptions_per_s=None if preempted is None else preempted / wall,
            prompt_tokens_per_s=_rate(start.prompt_tokens, end.prompt_tokens, wall),
            generation_tokens_per_s=_rate(start.generation_tokens, end.generation_tokens, wall),
            ttft_ms=_distribution(_since(start.ttft, end.ttft), percentiles),
            itl_ms=_distribution(_since(start.itl, end.itl), percentiles),
            queue_ms=_distribution(_since(start.queue, end.queue), percentiles))
    stats = ServerPhaseStats(
        scrapes=len(points), waiting_mean=waiting[0], waiting_max=waiting[1],
        running_mean=running[0], running_max=running[1], kv_usage_mean=kv[0], kv_usage_max=kv[1],
        queue_persists=queue_persists([p.waiting for p in points if p.waiting is not None]),
        **figures)
    server_ttft = stats.ttft_ms
    if server_ttft is not None and server_ttft.count:
        for p in percentiles:
            key = pkey(p)
            client, server = client_ttft[key], server_ttft.percentiles.get(key)
            stats.ttft_gap_ms[key] = (None if client is None or server is None
                                      else client - server)
    return stats


def _rate(before: float | None, now: float | None, wall: float) -> float | None:
    change = _delta(before, now)
    return None if change is None or wall <= 0 else change / wall


def _delta(before: float | None, now: float | None) -> float | None:
    """A counter's change; None when either is missing or it fell (the server restarted)."""
    if before is None or now is None or now < before:
        return None
    return now - before


def _ratio(before: ServerSample, now: ServerSample) -> float | None:
    hits = _delta(before.prefix_hits, now.prefix_hits)
    queries = _delta(before.prefix_queries, now.prefix_queries)
    if hits is None or not queries:
        return None
    return hits / queries


def _since(before: Histogram | None, now: Histogram | None) -> Histogram | None:
    if before is None or now is None:
        return None
    return now.minus(before)


def _ms(hist: Histogram | None, q: float) -> float | None:
    value = hist.quantile(q) if hist is not None else None
    return None if value is None else value * 1000.0


def _distribution(hist: Histogram | None, percentiles: list[float]) -> ServerDistribution | None:
    if hist is None:
        return None
    count = int(round(hist.count))
    return ServerDistribution(
        count=count, mean=hist.total / hist.count * 1000.0 if hist.count > 0 else None,
        percentiles={pkey(p): _ms(hist, p / 100.0) for p in percentiles})
