"""The tables a person reads (summary.md, the terminal), from the typed summary."""

from __future__ import annotations

from .summary import METRICS, PhaseStats, RunSummary, pkey


def phase_table(phases: list[PhaseStats], percentiles: list[float]) -> str:
    """A pipe table, one row per phase: rates, counts, TTFT and e2e percentiles, tokens/s."""
    pcols = [pkey(p) for p in percentiles]
    head = (["phase", "target req/s", "achieved req/s", "sent", "ok", "failed"]
            + [f"TTFT {c} ms" for c in pcols] + [f"e2e {c} ms" for c in pcols]
            + ["TPOT p50 ms", "out tok/s", "cache hit", "goodput", "client"])
    rows = []
    for ph in phases:
        rows.append([str(ph.phase), f"{ph.target_rps:g}", _num(ph.achieved_rps, 2),
                     str(ph.sent), str(ph.ok), str(ph.failed)]
                    + [_num(ph.ttft_ms[c], 1) for c in pcols]
                    + [_num(ph.e2e_ms[c], 1) for c in pcols]
                    + [_num(ph.tpot_ms["p50"], 2), _num(ph.output_tokens_per_s, 1),
                       _share(ph.cache_hit_rate), _share(ph.goodput),
                       "BOUND" if ph.client_bound else "ok"])
    return _table(head, rows)


def detail_table(phases: list[PhaseStats], percentiles: list[float]) -> str:
    """Every metric of every phase: mean and percentiles."""
    pcols = [pkey(p) for p in percentiles]
    head = ["phase", "metric", "mean"] + pcols
    rows = []
    for ph in phases:
        for metric in METRICS:
            dist = ph.metric(metric)
            rows.append([str(ph.phase), metric, _num(dist.mean, 2)]
                        + [_num(dist[c], 2) for c in pcols])
    return _table(head, rows)


def token_table(phases: list[PhaseStats]) -> str:
    head = ["phase", "prompt tokens (target)", "output tokens (target)", "prefix (target)",
            "cached tokens", "cache hit rate"]
    rows = [[str(ph.phase),
             f"{_num(ph.prompt_tokens_mean, 1)} ({_num(ph.prompt_tokens_target_mean, 1)})",
             f"{_num(ph.output_tokens_mean, 1)} ({_num(ph.output_tokens_target_mean, 1)})"
             + (" est." if ph.output_tokens_estimated else ""),
             _num(ph.prefix_tokens_target_mean, 1), _num(ph.cached_tokens_mean, 1),
             _share(ph.cache_hit_rate)]
            for ph in phases]
    return _table(head, rows)


def error_table(phases: list[PhaseStats]) -> str | None:
    """Failures by phase, kind and HTTP status; None when nothing failed."""
    rows = [[str(ph.phase), e.status, str(e.http_status or "-"), str(e.count),
             f"{e.count / (ph.ok + ph.failed):.1%}"]
            for ph in phases for e in ph.errors]
    if not rows:
        return None
    return _table(["phase", "status", "HTTP", "requests", "share"], rows)


def markdown(summary: RunSummary) -> str:
    """summary.md: what ran, how it ended, and the tables."""
    s = summary
    pct = s.percentiles
    b = s.budget
    cost = "unknown" if b.estimated_cost_usd is None else f"${b.estimated_cost_usd:.4f}"
    lines = [
        f"# tokenflood run `{s.run_name}` — {s.status}",
        "",
        f"- model: `{s.model}` ({s.provider}, client {s.client})"
        + (f" at {s.base_url}" if s.base_url else ""),
        f"- started {s.started_at}, finished {s.finished_at}",
        f"- token counting: {s.token_counter}; chat template adds {s.template_tokens} tokens; "
        f"prompts {'fresh for this run' if s.prompts == 'fresh' else 'reused from the seed'}",
        f"- tokens: input {b.actual_input_tokens:,} (estimated {b.estimated_input_tokens:,}), "
        f"output {b.actual_output_tokens:,} (estimated {b.estimated_output_tokens:,}); "
        f"cost estimate {cost}",
    ]
    if s.message:
        lines.append(f"- {s.status}: {s.message}")
    lines += ["", "## Phases", "", phase_table(s.phases, pct), "", "## Tokens", "",
              token_table(s.phases), ""]
    errors = error_table(s.phases)
    if errors:
        lines += ["## Failures", "", errors, ""]
    lines += ["## All metrics", "", detail_table(s.phases, pct), ""]
    lines += ["## Warnings", ""] + ([f"- {w}" for w in s.warnings] or ["none"]) + [""]
    return "\n".join(lines)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    def line(cells):
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])
