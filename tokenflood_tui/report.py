"""The run summary: summary.json content and the tables a person reads (summary.md, stdout)."""

from __future__ import annotations

from .stats import PhaseStats, pkey


def phase_table(phases: list[dict], percentiles: list[float]) -> str:
    """A pipe table, one row per phase: rates, counts, TTFT and e2e percentiles, tokens/s."""
    pcols = [pkey(p) for p in percentiles]
    head = (["phase", "target req/s", "achieved req/s", "sent", "ok", "failed"]
            + [f"TTFT {c} ms" for c in pcols] + [f"e2e {c} ms" for c in pcols]
            + ["TPOT p50 ms", "out tok/s", "goodput", "client"])
    rows = []
    for ph in phases:
        rows.append([str(ph["phase"]), f"{ph['target_rps']:g}", _num(ph["achieved_rps"], 2),
                     str(ph["sent"]), str(ph["ok"]), str(ph["failed"])]
                    + [_num(ph["ttft_ms"][c], 1) for c in pcols]
                    + [_num(ph["e2e_ms"][c], 1) for c in pcols]
                    + [_num(ph["tpot_ms"].get("p50"), 2), _num(ph["output_tokens_per_s"], 1),
                       "-" if ph["goodput"] is None else f"{ph['goodput']:.0%}",
                       "BOUND" if ph.get("client_bound") else "ok"])
    return _table(head, rows)


def detail_table(phases: list[dict], percentiles: list[float]) -> str:
    """Every metric of every phase: mean and percentiles."""
    pcols = [pkey(p) for p in percentiles]
    head = ["phase", "metric", "mean"] + pcols
    rows = []
    for ph in phases:
        for metric in ("ttft_ms", "e2e_ms", "scheduled_latency_ms", "tpot_ms", "itl_ms",
                       "dispatch_delay_ms"):
            dist = ph[metric]
            rows.append([str(ph["phase"]), metric, _num(dist["mean"], 2)]
                        + [_num(dist[c], 2) for c in pcols])
    return _table(head, rows)


def token_table(phases: list[dict]) -> str:
    head = ["phase", "prompt tokens (target)", "output tokens (target)", "cached tokens",
            "cache hit rate"]
    rows = [[str(ph["phase"]),
             f"{_num(ph['prompt_tokens_mean'], 1)} ({_num(ph['prompt_tokens_target_mean'], 1)})",
             f"{_num(ph['output_tokens_mean'], 1)} ({_num(ph['output_tokens_target_mean'], 1)})"
             + (" est." if ph["output_tokens_estimated"] else ""),
             _num(ph["cached_tokens_mean"], 1),
             "-" if ph["cache_hit_rate"] is None else f"{ph['cache_hit_rate']:.0%}"]
            for ph in phases]
    return _table(head, rows)


def markdown(summary: dict) -> str:
    """summary.md: what ran, how it ended, and the tables."""
    pct = summary["percentiles"]
    phases = summary["phases"]
    b = summary["budget"]
    lines = [
        f"# tokenflood run `{summary['run_name']}` — {summary['status']}",
        "",
        f"- model: `{summary['model']}` ({summary['provider']}, client {summary['client']})",
        f"- started {summary['started_at']}, finished {summary['finished_at']}",
        f"- token counting: {summary['token_counter']}; chat template adds "
        f"{summary['template_tokens']} tokens",
        f"- tokens: input {b['actual_input_tokens']:,} (estimated {b['estimated_input_tokens']:,}), "
        f"output {b['actual_output_tokens']:,} (estimated {b['estimated_output_tokens']:,}); "
        f"cost estimate {'unknown' if b['estimated_cost_usd'] is None else '$%.4f' % b['estimated_cost_usd']}",
    ]
    if summary.get("message"):
        lines.append(f"- {summary['status']}: {summary['message']}")
    lines += ["", "## Phases", "", phase_table(phases, pct), "", "## Tokens", "",
              token_table(phases), "", "## All metrics", "", detail_table(phases, pct), ""]
    lines += ["## Warnings", ""] + ([f"- {w}" for w in summary["warnings"]] or ["none"]) + [""]
    return "\n".join(lines)


def phase_dicts(phases: list[PhaseStats]) -> list[dict]:
    return [ph.to_json() for ph in phases]


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    def line(cells):
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(head), sep] + [line(r) for r in rows])
