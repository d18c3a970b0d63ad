"""The Prometheus text exposition format, read into samples by name (prometheus_client's parser)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Labels = dict[str, str]
Samples = dict[str, list[tuple[Labels, float]]]     # sample name -> (labels, value) per series


class NotPrometheus(ValueError):
    """The answer is not Prometheus' text format (an HTML page, JSON, nothing)."""


HISTOGRAM_PARTS = ("_bucket", "_count", "_sum")


def names(text: str) -> set[str]:
    """The sample names of an exposition, read cheaply (no labels, no values)."""
    found = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            found.add(line.split("{", 1)[0].split(" ", 1)[0])
    return found


def parse(text: str, keep: frozenset[str] | None = None) -> Samples:
    """The samples of an exposition by sample name (`…_total`, `…_bucket` as written); with
    `keep`, only those whose name (or histogram family's name) is in it. An engine's page runs to
    hundreds of kilobytes of histograms nobody reads here: leaving them out before the parser
    keeps a scrape at a few milliseconds of CPU instead of tens."""
    if keep is not None:
        text = "\n".join(line for line in text.splitlines() if _kept(line, keep)) + "\n"
    samples: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, float(sample.value)))
    except (ValueError, TypeError, IndexError) as exc:
        raise NotPrometheus(str(exc)[:80]) from None
    if not samples and keep is None:
        raise NotPrometheus("no samples")
    return samples


def _kept(line: str, keep: frozenset[str]) -> bool:
    if line.startswith("#"):
        parts = line.split(" ", 3)             # '# TYPE name type', '# HELP name text'
        return len(parts) > 2 and parts[2] in keep
    name = line.split("{", 1)[0].split(" ", 1)[0]
    if name in keep:
        return True
    for part in HISTOGRAM_PARTS:
        if name.endswith(part) and name[:-len(part)] in keep:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Histogram:
    """A cumulative histogram summed over its series: upper bounds ascending (+Inf last), the
    cumulative count at each, the total count and sum (in the metric's unit)."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    count: float
    total: float

    def minus(self, before: Histogram) -> Histogram | None:
        """What was observed since `before`; None when the buckets changed or a count fell (the
        server restarted)."""
        if before.bounds != self.bounds or self.count < before.count:
            return None
        counts = tuple(a - b for a, b in zip(self.counts, before.counts, strict=True))
        if any(c < 0 for c in counts):
            return None
        return Histogram(self.bounds, counts, self.count - before.count, self.total - before.total)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0-1), linear within its bucket as histogram_quantile; the highest
        finite bound for the +Inf bucket; None without observations."""
        if self.count <= 0 or not self.counts:
            return None
        if self.total == 0 and self.bounds[0] >= 0:   # every observation was 0 (no queueing)
            return 0.0
        rank = q * self.counts[-1]
        lower, below = 0.0, 0.0
        for bound, cumulative in zip(self.bounds, self.counts, strict=True):
            if cumulative >= rank and cumulative > below:
                if bound == float("inf"):
                    return lower
                return lower + (bound - lower) * (rank - below) / (cumulative - below)
            if bound != float("inf"):
                lower = bound
            below = cumulative
        return lower


def total(samples: Samples, name: str) -> float | None:
    """The sum of a sample over its series (e.g. engines, models); None when absent."""
    series = samples.get(name)
    if not series:
        return None
    return sum(value for _, value in series)


def mean(samples: Samples, name: str) -> float | None:
    """The mean of a sample over its series (a ratio gauge such as KV-cache usage)."""
    series = samples.get(name)
    if not series:
        return None
    return sum(value for _, value in series) / len(series)


def histogram(samples: Samples, name: str) -> Histogram | None:
    """Histogram `name` (its `_bucket`, `_count`, `_sum` samples), summed over its series."""
    buckets = samples.get(f"{name}_bucket")
    if not buckets:
        return None
    by_bound: dict[float, float] = {}
    for labels, value in buckets:
        try:
            bound = float(labels.get("le", "nan"))
        except ValueError:
            continue
        by_bound[bound] = by_bound.get(bound, 0.0) + value
    bounds = tuple(sorted(b for b in by_bound if b == b))     # NaN (no `le`) left out
    if not bounds:
        return None
    counts = tuple(by_bound[b] for b in bounds)
    count = total(samples, f"{name}_count")
    return Histogram(bounds, counts, counts[-1] if count is None else count,
                     total(samples, f"{name}_sum") or 0.0)
