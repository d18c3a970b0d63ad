"""The tables a person reads (summary.md, the terminal), from the typed summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from ..metrics.summary import (METRICS, REASONING_METRICS, ClusterInfo, HourStats, PhaseStats, PollStats,
                               ResumeInfo, RunSummary, SearchResult, ThresholdResult, pkey, reasoned)
from ..metrics.saturation import UNJUDGED_BELOW, judged, ran_below
from ..metrics.thresholds import value_text
from ..metrics.server import ServerPhaseStats
from . import session_tables
from .formats import number, ranges, share, span

RANGES_SHOWN = 8     # a missed reason lists this many runs of poll numbers, then how many more


@dataclass(frozen=True, slots=True)
class Table:
    """A table of cells as read: its head, its rows, and which columns are text (left-aligned;
    the others are figures): its last `left`, and any in `text`. summary.md and the terminal
    draw it as a pipe table (`markdown`), report.html as HTML."""

    head: list[str]
    rows: list[list[str]]
    left: int = 0
    text: frozenset[int] = frozenset()

    @property
    def text_columns(self) -> frozenset[int]:
        return self.text | frozenset(range(len(self.head) - self.left, len(self.head)))

    def markdown(self) -> str:
        return _pipe_table(self.head, self.rows, self.text_columns)


def phase_table(phases: list[PhaseStats], percentiles: list[float], unit: str = "req/s") -> Table:
    """One row per phase: rates (in `unit`: req/s, sessions/s), counts of requests, TTFT and e2e
    percentiles, tokens/s; where a model reasoned, TTFA beside TTFT and the reasoning tokens
    (their mean)."""
    pcols = [pkey(p) for p in percentiles]
    reasoning = reasoned(phases)
    head = (["phase", f"target {unit}", f"achieved {unit}", "sent", "ok", "failed"]
            + [f"TTFT {c} ms" for c in pcols]
            + ([f"TTFA {c} ms" for c in pcols] + ["reasoning tokens"] if reasoning else [])
            + [f"e2e {c} ms" for c in pcols]
            + ["TPOT p50 ms", "out tok/s", "cache hit", "goodput", "client", "server"])
    rows = []
    for ph in phases:
        rows.append([str(ph.phase), f"{ph.target_rps:g}", number(ph.achieved_rps, 2),
                     str(ph.sent), str(ph.ok), str(ph.failed)]
                    + [number(ph.ttft_ms[c], 1) for c in pcols]
                    + ([number(ph.ttfa_ms[c], 1) for c in pcols]
                       + [reasoning_tokens(ph)] if reasoning else [])
                    + [number(ph.e2e_ms[c], 1) for c in pcols]
                    + [number(ph.tpot_ms["p50"], 2), number(ph.output_tokens_per_s, 1),
                       share(ph.cache_hit_rate), share(ph.goodput),
                       "BOUND" if ph.client_bound else "ok", server_verdict(ph)])
    return Table(head, rows)


def reasoning_tokens(ph: PhaseStats) -> str:
    """The mean reasoning tokens of a phase's requests: '200.0', '200.0 est.' when counted from
    the reasoning chunks (the server's usage did not say)."""
    return number(ph.reasoning_tokens_mean, 1) + (
        " est." if ph.reasoning_tokens_estimated and ph.reasoning_tokens_mean is not None else "")


def server_verdict(ph: PhaseStats) -> str:
    """'SATURATED', 'ok', or '-': too few requests to judge, or a worker busy at a full core."""
    if ph.saturated:
        return "SATURATED"
    return "ok" if judged(ph) else "-"


def server_queue_line(summary: RunSummary) -> str | None:
    """Where the server's own queue began to persist (its metrics), beside the saturation
    verdict; None when its metrics were not read."""
    server = summary.server
    if server is None or summary.type == "observation":
        return None
    if server.engine is None:
        return server.off
    if server.queue_from_phase is None:
        return f"no phase left requests waiting in the server's queue ({server.engine} metrics)"
    return (f"requests waited in the server's queue from phase {server.queue_from_phase} "
            f"({server.queue_from_rps:g} {summary.rate_unit}; {server.engine} metrics)")


# which server columns a fitted table keeps first (lower first): the queue and the gap, then
# the rest as the width allows
SERVER_RANKS = {"phase": 0, "rate": 0, "run": 0, "waiting max": 0, "queue": 0,
                "server TTFT p50 ms": 1, "TTFT gap p50 ms": 1, "KV max": 1, "running max": 2}
NOT_READ = "n/a"          # a run whose server figures were not read at all


def server_percentiles(percentiles: list[float]) -> list[str]:
    """The percentiles the server's tables show: p50 and p99 where the run has them."""
    return [pkey(p) for p in percentiles if pkey(p) in ("p50", "p99")] or [pkey(percentiles[0])]


def server_head(pcols: list[str]) -> list[str]:
    """The heads of `server_cells`."""
    return (["waiting mean", "waiting max", "running mean", "running max", "KV mean", "KV max",
             "prefix hit", "preempted"] + [f"server TTFT {c} ms" for c in pcols]
            + [f"TTFT gap {c} ms" for c in pcols])


def server_cells(sv: ServerPhaseStats | None, pcols: list[str], missing: str = "-") -> list[str]:
    """A phase's server figures (docs/metrics.md#server): '-' where its engine publishes no such
    signal; every cell `missing` without any (a run that read none says n/a)."""
    if sv is None:
        return [missing] * len(server_head(pcols))
    ttft = sv.ttft_ms.percentiles if sv.ttft_ms is not None else {}
    return ([number(sv.waiting_mean, 1), number(sv.waiting_max, 0),
             number(sv.running_mean, 1), number(sv.running_max, 0),
             share(sv.kv_usage_mean), share(sv.kv_usage_max), share(sv.prefix_hit_ratio),
             number(sv.preemptions, 0)]
            + [number(ttft.get(c), 0) for c in pcols]
            + [number(sv.ttft_gap_ms.get(c), 0) for c in pcols])


def queue_cell(sv: ServerPhaseStats | None, missing: str = "-") -> str:
    """Whether the phase's queue persisted: 'PERSISTS', 'ok', or '-' without a waiting gauge."""
    if sv is None:
        return missing
    return "-" if sv.queue_persists is None else "PERSISTS" if sv.queue_persists else "ok"


def server_table(phases: list[PhaseStats], percentiles: list[float]) -> Table | None:
    """The server's own figures per phase (docs/metrics.md#server); '-' where its engine
    publishes no such signal. None when no phase has them."""
    if not any(ph.server is not None or ph.queued_ms.mean is not None for ph in phases):
        return None
    pcols = server_percentiles(percentiles)
    head = (["phase", *server_head(pcols)] + [f"queued {c} ms" for c in pcols] + ["queue"])
    rows = []
    for ph in phases:
        sv = ph.server or ServerPhaseStats(scrapes=0)
        rows.append([str(ph.phase), *server_cells(sv, pcols)]
                    + [number(ph.queued_ms[c], 0) for c in pcols] + [queue_cell(sv)])
    return Table(head, rows)


def saturation_line(summary: RunSummary) -> str | None:
    """What a load test's phases say of the server's capacity; None for an observation, and
    when no phase had enough requests to judge (or the summary predates the verdict)."""
    s = summary
    if s.type == "observation" or not s.phases:
        return None
    if s.saturated_at_rps is None:
        if all(ph.latency_growth is None for ph in s.phases):
            return None
        return (f"no phase saturated the server (rates up to "
                f"{max(ph.target_rps for ph in s.phases):g} {s.rate_unit})")
    held = (f"; the highest rate it held was {s.held_rps:g} {s.rate_unit}" if s.held_rps is not None
            else f"; {UNJUDGED_BELOW}" if ran_below(s.phases, s.saturated_at_rps)
            else "; it held no lower rate tried")
    return f"the server saturated at about {s.saturated_at_rps:g} {s.rate_unit}{held}"


def threshold_table(results: list[ThresholdResult], word: str = "phase") -> Table:
    """One row per threshold: PASS or FAIL, how many phases (polls) passed it, and the ones that
    failed with their value (or why they had none)."""
    rows = [[r.threshold, "pass" if r.passed else "FAIL", *cells]
            for r, cells in zip(results, threshold_cells(results, word), strict=True)]
    return Table(["threshold", "result", f"{word}s passed", f"failed {word}s (value)"], rows,
                  left=4)


def threshold_cells(results: list[ThresholdResult], word: str = "phase") -> list[list[str]]:
    """Per threshold: how many phases passed ('2 of 3'), and the failed ones with their value."""
    rows = []
    for r in results:
        bad = [p for p in r.phases if not p.passed]
        shown = ", ".join(f"{p.phase}: " + (value_text(p.value) if p.value is not None
                                            else f"no value ({p.reason})")
                          for p in bad[:RANGES_SHOWN])
        if len(bad) > RANGES_SHOWN:
            shown += f" and {len(bad) - RANGES_SHOWN} more"
        checked = (f"{len(r.phases) - len(bad)} of {len(r.phases)}" if r.phases
                   else f"no {word} checked")
        rows.append([checked, shown or "-"])
    return rows


def threshold_matrix(results: list[ThresholdResult], phases: list[PhaseStats],
                     unit: str = "req/s") -> Table:
    """A load test's phases against its thresholds: each phase's value, ✓ or ✗."""
    by = {(r.threshold, p.phase): p for r in results for p in r.phases}
    rows = []
    for ph in phases:
        cells = []
        for r in results:
            p = by.get((r.threshold, ph.phase))
            cells.append("" if p is None else
                         ("-" if p.value is None else value_text(p.value))
                         + (" ✓" if p.passed else " ✗"))
        rows.append([str(ph.phase), f"{ph.target_rps:g}", *cells])
    return Table(["phase", f"target {unit}", *(r.threshold for r in results)], rows)


def threshold_verdict(summary: RunSummary) -> str | None:
    """'thresholds: all 3 passed' / 'thresholds: 1 of 3 failed: ttft_ms.p99 < 500 (exit code
    4)'; None without thresholds."""
    results = summary.thresholds
    if not results:
        return None
    bad = [r.threshold for r in results if not r.passed]
    if not bad:
        return f"thresholds: all {len(results)} passed"
    code = " (exit code 4)" if summary.status == "completed" else ""
    return f"thresholds: {len(bad)} of {len(results)} failed: {', '.join(bad)}{code}"


def detail_table(phases: list[PhaseStats], percentiles: list[float]) -> Table:
    """Every metric of every phase: mean and percentiles."""
    pcols = [pkey(p) for p in percentiles]
    head = ["phase", "metric", "mean"] + pcols
    rows = []
    metrics = (*METRICS, *REASONING_METRICS) if reasoned(phases) else METRICS
    for ph in phases:
        for metric in metrics:
            dist = ph.metric(metric)
            rows.append([str(ph.phase), metric, number(dist.mean, 2)]
                        + [number(dist[c], 2) for c in pcols])
    return Table(head, rows)


def token_table(phases: list[PhaseStats]) -> Table:
    """Mean tokens per request against their targets; where a model reasoned, the output split
    into reasoning and answer (the answer is what output_length asks for)."""
    reasoning = reasoned(phases)
    head = (["phase", "prompt tokens (target)", "output tokens (target)"]
            + (["reasoning tokens", "answer tokens"] if reasoning else [])
            + ["prefix (target)", "cached tokens", "cache hit rate"])
    rows = [[str(ph.phase),
             f"{number(ph.prompt_tokens_mean, 1)} ({number(ph.prompt_tokens_target_mean, 1)})",
             f"{number(ph.output_tokens_mean, 1)} ({number(ph.output_tokens_target_mean, 1)})"
             + (" est." if ph.output_tokens_estimated else "")]
            + ([reasoning_tokens(ph), number(ph.answer_tokens_mean, 1)] if reasoning else [])
            + [number(ph.prefix_tokens_target_mean, 1), number(ph.cached_tokens_mean, 1),
               share(ph.cache_hit_rate)]
            for ph in phases]
    return Table(head, rows)


def error_table(phases: list[PhaseStats]) -> Table | None:
    """Failures by phase, kind and HTTP status; None when nothing failed."""
    rows = [[str(ph.phase), e.status, str(e.http_status or "-"), str(e.count),
             f"{e.count / (ph.ok + ph.failed):.1%}"]
            for ph in phases for e in ph.errors]
    if not rows:
        return None
    return Table(["phase", "status", "HTTP", "requests", "share"], rows)


def limits_table(phases: Sequence[PhaseStats], word: str = "phase") -> Table | None:
    """A hosted provider's rate limits per phase (or poll): the tightest limit at its lowest, the
    requests refused and by which kind, offered and admitted rates (docs/metrics.md#rate_limits).
    None where no phase saw a limit or a refusal."""
    rows = []
    for ph in phases:
        rl = ph.rate_limits
        if rl is None:
            continue
        low = rl.lowest
        rows.append([
            str(ph.phase), low.kind if low else "-",
            "-" if low is None else (f"{low.lowest_remaining:,}/{low.limit:,}" if low.limit
                                     else f"{low.lowest_remaining:,} left"),
            share(low.lowest_share) if low else "-", str(rl.throttled), share(rl.throttled_share),
            number(rl.offered_rps, 2), number(rl.admitted_rps, 2),
            number(rl.retry_after_s, 0),
            ", ".join(f"{kind} {n}" for kind, n in rl.throttled_by_kind.items()) or "-"])
    if not rows:
        return None
    return Table([word, "tightest limit", "lowest remaining", "headroom", "throttled", "share",
                  "offered req/s", "admitted req/s", "retry-after s", "by kind"], rows, left=1,
                 text=frozenset({1}))


def limits_line(s: RunSummary) -> str | None:
    """'phase 2 was the first the provider throttled; the run stopped: quota_exhausted' (an
    observation: 'polls 3, 7-9 were throttled, …'), or None when nothing was throttled."""
    word = "poll" if s.type == "observation" else "phase"
    parts = []
    throttled = [p.phase for p in s.polls if p.rate_limits is not None and p.rate_limits.throttled]
    if throttled:
        parts.append(f"poll{'s' if len(throttled) > 1 else ''} {', '.join(ranges(throttled))} "
                     f"{'were' if len(throttled) > 1 else 'was'} throttled")
    elif s.first_throttled is not None:
        parts.append(f"{word} {s.first_throttled} was the first the provider throttled")
    if s.stopped_by_throttle is not None:
        parts.append(f"the run stopped at its first {s.stopped_by_throttle} refusal")
    return "; ".join(parts) or None


def poll_status(poll: PollStats) -> str:
    """'ok', 'missed', 'all failed' or '<n> failed'; 'unfinished' for the poll a killed
    process was in (a partial summary's)."""
    if poll.missed:
        return "missed"
    if not poll.finished:
        return "unfinished"
    if not poll.failed:
        return "ok"
    return "all failed" if not poll.ok else f"{poll.failed} failed"


def poll_table(polls: list[PollStats], percentiles: list[float], reasons: bool = True) -> Table:
    """One row per poll in slot order, missed ones too; with `reasons` a last
    column says why a poll was missed (it is long, so the terminal leaves it out)."""
    pcols = [pkey(p) for p in percentiles]
    reasoning = reasoned(polls)
    head = (["poll", "slot (UTC)", "status", "sent", "ok", "failed"]
            + [f"TTFT {c} ms" for c in pcols]
            + ([f"TTFA {c} ms" for c in pcols] if reasoning else [])
            + [f"e2e {c} ms" for c in pcols] + ["out tok/s"]
            + (["missed because"] if reasons else []))
    rows = []
    for poll in polls:
        rows.append([str(poll.phase), slot_text(poll.slot_utc), poll_status(poll), str(poll.sent),
                     str(poll.ok), str(poll.failed)]
                    + [number(poll.ttft_ms[c], 1) for c in pcols]
                    + ([number(poll.ttfa_ms[c], 1) for c in pcols] if reasoning else [])
                    + [number(poll.e2e_ms[c], 1) for c in pcols]
                    + [number(poll.output_tokens_per_s, 1)]
                    + ([poll.missed or ""] if reasons else []))
    return Table(head, rows, left=1 if reasons else 0)


def hour_table(hours: list[HourStats], percentiles: list[float]) -> Table:
    """One row per hour of day (UTC) that had requests."""
    pcols = [pkey(p) for p in percentiles]
    head = (["hour (UTC)", "requests", "ok"] + [f"TTFT {c} ms" for c in pcols]
            + [f"e2e {c} ms" for c in pcols])
    rows = [[f"{h.hour_utc:02d}:00", str(h.requests), str(h.ok)]
            + [number(h.ttft_ms[c], 1) for c in pcols] + [number(h.e2e_ms[c], 1) for c in pcols]
            for h in hours]
    return Table(head, rows)


@dataclass(frozen=True, slots=True)
class PollFailures:
    """One kind of failure over all of an observation's polls."""

    status: str
    http_status: int | None
    requests: int
    share: float               # of every request that finished, in every poll
    polls: int                 # polls that had it
    first_slot_utc: str
    last_slot_utc: str


def poll_failure_kinds(polls: list[PollStats]) -> list[PollFailures]:
    """Failures over all polls by kind and HTTP status, the most frequent first."""
    kinds: dict[tuple[str, int | None], list[tuple[PollStats, int]]] = {}
    for poll in polls:
        for e in poll.errors:
            kinds.setdefault((e.status, e.http_status), []).append((poll, e.count))
    done = sum(p.ok + p.failed for p in polls)
    out = [PollFailures(status, http, sum(c for _, c in hits),
                        sum(c for _, c in hits) / done, len(hits), hits[0][0].slot_utc,
                        hits[-1][0].slot_utc)
           for (status, http), hits in kinds.items()]
    return sorted(out, key=lambda f: -f.requests)


def poll_failures(polls: list[PollStats]) -> Table | None:
    """Failures over all polls by kind and HTTP status: how many, their share of every request,
    how many polls had them and the first and last such poll's slot; None when none failed."""
    kinds = poll_failure_kinds(polls)
    if not kinds:
        return None
    rows = [[f.status, str(f.http_status or "-"), str(f.requests), f"{f.share:.1%}", str(f.polls),
             slot_text(f.first_slot_utc), slot_text(f.last_slot_utc)] for f in kinds]
    return Table(["status", "HTTP", "requests", "share", "polls", "first (UTC)", "last (UTC)"],
                  rows)


def missed_lines(polls: list[PollStats]) -> list[str]:
    """The missed polls grouped by reason: '2 polls (4-5): <reason>'."""
    by_reason: dict[str, list[int]] = {}
    for poll in polls:
        if poll.missed:
            by_reason.setdefault(poll.missed, []).append(poll.phase)
    lines = []
    for reason, numbers in by_reason.items():
        runs = ranges(numbers)
        shown = ", ".join(runs[:RANGES_SHOWN]) + (
            f" and {len(runs) - RANGES_SHOWN} more runs" if len(runs) > RANGES_SHOWN else "")
        lines.append(f"{_polls(len(numbers))} ({shown}): {reason}")
    return lines


def resume_lines(resumed: list[ResumeInfo], observation: bool) -> list[str]:
    """One line per `tokenflood resume` of the run."""
    lines = []
    for r in resumed:
        if observation:
            lines.append(f"{r.at}: went on at poll {r.from_phase}; {_polls(r.missed_polls)} "
                         "missed while tokenflood was not running"
                         + (f"; {r.superseded_rows} row(s) of an interrupted poll superseded"
                            if r.superseded_rows else ""))
        else:
            lines.append(f"{r.at}: re-ran from phase {r.from_phase}"
                         + (f"; {r.superseded_rows} row(s) of the unfinished phase kept in "
                            "requests.csv, marked superseded" if r.superseded_rows else ""))
    return lines


def observation_lines(summary: RunSummary) -> list[str]:
    """What an observation ran and how far it got, for the head of summary.md and the terminal."""
    polls = summary.polls
    obs = summary.observation
    lines = []
    if obs is not None:
        lines.append(f"observation: {obs.polls} polls, one every {span(obs.interval_s)}, "
                     f"over {span(obs.duration_hours * 3600)}; {obs.num_requests} requests "
                     f"per poll spread over {obs.within_seconds:g} s; slots "
                     + ("aligned to whole multiples of the interval (UTC)" if obs.align
                        else "from the start (not aligned)"))
    missed = sum(1 for p in polls if p.missed)
    planned = f" of {obs.polls}" if obs is not None else ""
    lines.append(f"polls: {len(polls) - missed} ran, {missed} missed ({len(polls)}{planned} "
                 f"recorded); requests: {sum(p.sent for p in polls)} sent, "
                 f"{sum(p.ok for p in polls)} ok, {sum(p.failed for p in polls)} failed")
    if polls:
        lines.append(f"slots: {slot_text(polls[0].slot_utc)} to {slot_text(polls[-1].slot_utc)} UTC")
    return lines


def markdown(summary: RunSummary) -> str:
    """summary.md: what ran, how it ended, and the tables."""
    s = summary
    pct = s.percentiles
    b = s.budget
    cost = "unknown" if b.estimated_cost_usd is None else f"${b.estimated_cost_usd:.4f}"
    observation = s.type == "observation"
    lines = [
        f"# tokenflood {'observation' if observation else 'search' if s.search else 'run'} "
        f"`{s.run_name}` — {s.status}" + (" (partial)" if s.partial else ""),
        "",
        f"- model: `{s.model}` ({s.provider}, client {s.client})"
        + (f" at {s.base_url}" if s.base_url else ""),
        f"- started {s.started_at}, finished {s.finished_at}",
    ]
    if observation:
        lines += [f"- {line}" for line in observation_lines(s)]
    counting = ("- token counting: not known (the run wrote no summary); " if s.partial else
                f"- token counting: {s.token_counter}; chat template adds {s.template_tokens} "
                "tokens; ")
    lines += [
        counting + f"prompts {'fresh for this run' if s.prompts == 'fresh' else 'reused from the seed'}",
        f"- tokens: input {b.actual_input_tokens:,} (estimated {b.estimated_input_tokens:,}), "
        f"output {b.actual_output_tokens:,} (estimated {b.estimated_output_tokens:,}); "
        f"cost estimate {cost}",
    ]
    if s.message:
        lines.append(f"- {s.status}: {s.message}")
    saturation = saturation_line(s)
    if saturation:
        lines.append(f"- saturation: {saturation}")
    queue = server_queue_line(s)
    if queue:
        lines.append(f"- server queue: {queue}")
    throttled = limits_line(s)
    if throttled:
        lines.append(f"- rate limits: {throttled}")
    verdict = threshold_verdict(s)
    if verdict:
        lines.append(f"- {verdict}")
    if s.resumed:
        lines += ["", "## Resumed", ""] + [f"- {line}" for line in resume_lines(s.resumed,
                                                                             observation)]
    if s.thresholds:
        lines += ["", "## Thresholds", "", threshold_table(
            s.thresholds, "poll" if observation else "phase").markdown()]
        if not observation:
            lines += ["", threshold_matrix(s.thresholds, s.phases, s.rate_unit).markdown()]
    if observation:
        lines += ["", "## Polls", "", poll_table(s.polls, pct).markdown(), ""]
        missed = missed_lines(s.polls)
        if missed:
            lines += ["## Missed polls", ""] + [f"- {line}" for line in missed] + [""]
        lines += ["## Hours of day (UTC)", "", hour_table(s.hours, pct).markdown(), ""]
        errors = poll_failures(s.polls)
        if errors:
            lines += ["## Failures", "", errors.markdown(), ""]
        limits = limits_table(s.polls, "poll")
        if limits is not None:
            lines += ["## Rate limits", "", limits.markdown(), ""]
    else:
        if s.search is not None:
            lines += ["", "## Search", ""] + [f"- {line}" for line in search_lines(
                s.search, s.rate_unit)]
            lines += ["", search_table(s.search, s.rate_unit).markdown()]
        lines += ["", "## Phases", "", phase_table(s.phases, pct, s.rate_unit).markdown(), ""]
        for section in session_tables.sections(s.phases, pct):
            lines += [f"## {section.title.capitalize()}", "",
                      session_tables.markdown(section.table), ""]
            lines += [*section.notes, ""] if section.notes else []
        server = server_table(s.phases, pct)
        if server is not None:
            lines += [f"## Server ({s.server.engine if s.server else 'its'} metrics)", "",
                      server.markdown(), "",
                      "(- : the engine publishes no such figure; the TTFT gap is the "
                      "client's TTFT minus the server's, as coarse as its histogram's buckets)", ""]
        lines += ["## Tokens", "", token_table(s.phases).markdown(), ""]
        errors = error_table(s.phases)
        if errors:
            lines += ["## Failures", "", errors.markdown(), ""]
        limits = limits_table(s.phases)
        if limits is not None:
            lines += ["## Rate limits", "", limits.markdown(), ""]
        lines += ["## All metrics", "", detail_table(s.phases, pct).markdown(), ""]
    if s.cluster is not None:
        lines += [f"## Workers (Dask cluster {s.cluster.scheduler})", "",
                  cluster_table(s.cluster, s.polls if observation else s.phases), ""]
    lines += ["## Warnings", ""] + ([f"- {w}" for w in s.warnings] or ["none"]) + [""]
    return "\n".join(lines)


def cluster_line(cluster: ClusterInfo) -> str:
    """'sent from Dask tcp://…: w0@a (clock ± 0.4 ms), w1@b (± 0.6 ms)'"""
    return f"sent from Dask {cluster.scheduler}: " + ", ".join(
        f"{w.worker} (clock ± {w.clock_uncertainty_ms:.1f} ms)"
        if w.clock_uncertainty_ms is not None else w.worker for w in cluster.workers)


def cluster_table(cluster: ClusterInfo, phases: Sequence[PhaseStats]) -> str:
    """Each Dask worker: its clock against the coordinator's, and its load over the run."""
    def ms(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)
    rows = ["| worker | address | clock offset ms | ± ms | drift ms | rows | launch delay p99 ms "
            "(worst phase) | CPU (busiest phase) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for w in cluster.workers:
        loads = [load for ph in phases for load in ph.workers if load.worker == w.worker]
        worst = max((x.launch_delay_p99_ms for x in loads if x.launch_delay_p99_ms is not None),
                    default=None)
        busiest = max((x.cpu for x in loads if x.cpu is not None), default=None)
        rows.append(f"| {w.worker} | {w.address} | {ms(w.clock_offset_ms, '+.2f')} | "
                    f"{ms(w.clock_uncertainty_ms, '.2f')} | {ms(w.clock_drift_ms, '+.2f')} | "
                    f"{sum(x.sent for x in loads)} | {ms(worst, '.2f')} | "
                    f"{'-' if busiest is None else f'{busiest:.0%}'} |")
    return "\n".join(rows)


def search_lines(result: SearchResult, unit: str = "req/s") -> list[str]:
    """A search's answer and how it got there, as lines to read (rates in `unit`)."""
    lines = [f"answer: {result.answer}", f"stopped: {result.stopped_because}"]
    if result.knee_rps is not None:
        lines.append(f"knee of the TTFT p50 curve: about {result.knee_rps:g} {unit}")
    if result.output_tokens_per_s is not None and result.lower_rps is not None:
        lines.append(f"output at {result.lower_rps:g} {unit}: {result.output_tokens_per_s:,.1f} "
                     "tokens/s")
    if result.cost_per_million_tokens_usd is not None:
        lines.append(f"cost at {result.lower_rps:g} {unit}: ${result.cost_per_million_tokens_usd:,.4f}"
                     f" per million tokens ({result.cost_basis})")
    return lines


def search_table(result: SearchResult, unit: str = "req/s") -> Table:
    return Table(["phase", f"target {unit}", "SLO", "figures"],
                  [[str(st.phase), f"{st.target_rps:g}", "meets" if st.meets else "fails",
                    st.why] for st in result.steps], left=2)


def slot_text(slot_utc: str) -> str:
    """'2026-12-01T10:15:00Z' as '2026-12-01 10:15:00'."""
    try:
        return datetime.fromisoformat(slot_utc.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return slot_utc


def _polls(n: int) -> str:
    return f"{n} poll" if n == 1 else f"{n} polls"


def _pipe_table(head: list[str], rows: list[list[str]], text: frozenset[int]) -> str:
    """A pipe table, figures right-aligned, the `text` columns left-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i in text else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"
    sep = "|" + "|".join(":" + "-" * (w + 1) if i in text else "-" * (w + 1) + ":"
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])
