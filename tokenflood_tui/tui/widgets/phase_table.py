"""The live per-phase table: every column where they fit, a compact set on narrow terminals.

At 80 columns the full set (11 columns, three percentiles of two latencies) would push e2e off
the screen, so the compact set keeps what matters (rates, counts, failures, TTFT and e2e at the
first and last percentile, tokens/s, cache hits) with short headers; the panel title says what
the latency columns hold. The set is chosen from the cells' real widths, so longer numbers or
more percentiles switch sooner. Once a phase has seen a model reason, TTFA stands beside TTFT
(in the compact set in place of the cache hit rate); until then the table is as without it.
"""

from __future__ import annotations

from typing import Literal

from textual.widgets import DataTable

from ...metrics.summary import PhaseStats, pkey, reasoned
from ...outputs.formats import number, share

Mode = Literal["wide", "compact"]
HYSTERESIS = 2      # columns of slack before going back to the wide set (no flicker at the edge)


class PhaseTable(DataTable):
    """One row per phase, keyed by phase number; columns keyed by name in both sets."""

    def __init__(self, rates: list[float], percentiles: list[float], final: bool = False,
                 checks: bool = False, unit: str = "req/s", **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rates = rates
        self.unit = unit        # what the rates count: req/s, or sessions/s (a session run)
        self.final = final      # a finished run (results view): ok, TPOT, goodput; no in-flight
        # the suite has thresholds: a column says how many each finished phase passed (in the
        # compact set in place of the cache hit rate, so it still fits 80 columns)
        self.checks = checks
        self.percentiles = list(percentiles)
        # narrow: the first and the last percentile (p50 and p99 in the default suite)
        self.compact_percentiles = (self.percentiles if len(self.percentiles) <= 2
                                    else [self.percentiles[0], self.percentiles[-1]])
        self.stats: dict[int, PhaseStats] = {}
        self.mode: Mode | None = None
        self.reasoning = False  # TTFA shown: some phase saw a model reason
        self.running: int | None = None
        self._shown: dict[int, dict[str, str]] = {}

    # ------------------------------------------------------------------ what the table shows

    def columns_for(self, mode: Mode) -> list[tuple[str, str]]:
        columns = self._columns(mode)
        if self.reasoning:
            # TTFA beside TTFT; the headers name the latencies alone and the title their
            # percentiles (wide), so the wide set still fits 120 columns; the compact set gives
            # up the cache hit rate for it
            short = {"ttft": "TTFT", "e2e": "e2e"}
            columns = [(key, short.get(key, label)) for key, label in columns]
            at = [key for key, _ in columns].index("ttft") + 1
            columns.insert(at, ("ttfa", "TTFA"))
            if mode == "compact":
                columns = [c for c in columns if c[0] != "cache"]
        if self.checks:
            if mode == "compact":
                columns = [c for c in columns if c[0] != "cache"]
            columns.append(("checks", "pass" if mode == "compact" else "checks"))
        return columns

    def _columns(self, mode: Mode) -> list[tuple[str, str]]:
        if mode == "wide" and self.final:
            pct = "/".join(pkey(p) for p in self.percentiles)
            goodput = any(ph.goodput is not None for ph in self.stats.values())   # an SLO
            return [("phase", "phase"), ("target", "target/s"), ("achieved", "achieved/s"),
                    ("sent", "sent"), ("ok", "ok"), ("failed", "failed"),
                    ("ttft", f"TTFT {pct}"), ("e2e", f"e2e {pct}"), ("tpot", "TPOT p50"),
                    ("tps", "tok/s"), ("cache", "cache")] + ([("goodput", "goodput")] if goodput
                                                             else [])
        if mode == "wide":
            pct = "/".join(pkey(p) for p in self.percentiles)
            return [("phase", "phase"), ("target", "target/s"), ("achieved", "achieved/s"),
                    ("sent", "sent"), ("in_flight", "in flight"), ("done", "done"),
                    ("failed", "failed"), ("ttft", f"TTFT {pct}"), ("e2e", f"e2e {pct}"),
                    ("tps", "tok/s"), ("cache", "cache")]
        return [("phase", "phase"), ("target", "target"), ("achieved", "actual"),
                ("sent", "sent"), ("failed", "failed"), ("ttft", "TTFT"), ("e2e", "e2e"),
                ("tps", "tok/s"), ("cache", "cache")]

    def title(self) -> str:
        """What the panel title says about the columns (the compact headers are terse)."""
        checks = "pass" if self.mode == "compact" else "checks"
        return self._title() + (f" · {checks}: thresholds passed" if self.checks else "") + (
            " · ⚠ server saturated" if any(ph.saturated for ph in self.stats.values()) else "")

    def _title(self) -> str:
        if self.mode == "compact":
            pct = "/".join(pkey(p) for p in self.compact_percentiles)
            latencies = "TTFT, TTFA, e2e" if self.reasoning else "TTFT, e2e"
            return f"phases · {self.unit} target, actual · {latencies} {pct} ms · out tok/s"
        goodput = self.final and any(ph.goodput is not None for ph in self.stats.values())
        latency = "latency in ms"
        if self.reasoning:
            latency = f"TTFT, TTFA, e2e {'/'.join(pkey(p) for p in self.percentiles)} ms"
        return f"phases · {self.unit} · {latency} · out tok/s · cache hit rate" + (
            " · goodput: share within the SLO" if goodput else "")

    def cells(self, phase: int, mode: Mode) -> dict[str, str]:
        ph = self.stats.get(phase)
        rate = self.rates[phase - 1]
        if ph is None:
            return {key: "-" for key, _ in self.columns_for(mode)} | {
                "phase": str(phase), "target": f"{rate:g}"}
        wide = mode == "wide"
        pcts = self.percentiles if wide else self.compact_percentiles
        done = ph.ok + ph.failed
        cells = {
            "phase": f"{phase} ⚠" if ph.saturated else str(phase), "target": f"{rate:g}",
            "achieved": number(ph.achieved_rps, 2 if wide else 1),
            # a session phase plans the most its sessions may send, not what they will send
            "sent": str(ph.sent) if ph.sessions is not None else f"{ph.sent}/{ph.planned}",
            "in_flight": str(ph.in_flight), "done": str(done),
            "failed": f"{ph.failed} {ph.failed / done:.0%}" if ph.failed else "0",
            "ttft": "/".join(number(ph.ttft_ms.at(p), 0, grouped=False) for p in pcts),
            "ttfa": "/".join(number(ph.ttfa_ms.at(p), 0, grouped=False) for p in pcts),
            "e2e": "/".join(number(ph.e2e_ms.at(p), 0, grouped=False) for p in pcts),
            "tps": number(ph.output_tokens_per_s, 1 if wide else 0),
            "cache": share(ph.cache_hit_rate), "ok": str(ph.ok),
            "tpot": number(ph.tpot_ms.at(50), 1), "goodput": share(ph.goodput),
            "checks": _checks(ph),
        }
        return {key: cells[key] for key, _ in self.columns_for(mode)}

    def width_for(self, mode: Mode) -> int:
        """Columns the table needs in this mode (cells plus the padding on each side)."""
        rows = [self.cells(i, mode) for i in range(1, len(self.rates) + 1)]
        return sum(max(len(label), *(len(r[key]) for r in rows)) + 2 * self.cell_padding
                   for key, label in self.columns_for(mode))

    # ------------------------------------------------------------------ updates

    def show(self, phases: list[PhaseStats], running: int | None, available: int) -> None:
        """New figures; picks the column set for `available` columns and follows the running
        phase with the cursor (so it stays in view when there are more phases than rows)."""
        for ph in phases:
            self.stats[ph.phase] = ph
        if not self.reasoning and reasoned(phases):
            self.reasoning = True
            self.mode = None            # TTFA joins the columns: set them again
        self.fit(available)
        mode = self.mode
        assert mode is not None       # fit() always picks one
        for phase in self.stats:
            cells = self.cells(phase, mode)
            shown = self._shown.setdefault(phase, {})
            for key, value in cells.items():
                if shown.get(key) != value:
                    self.update_cell(str(phase), key, value, update_width=True)
                    shown[key] = value
        if running and running != self.running:
            self.running = running
            self.move_cursor(row=running - 1, animate=False)

    def fit(self, available: int) -> bool:
        """Use the wide set when it fits; returns True when the column set changed."""
        wide = self.width_for("wide")
        if self.mode == "wide":
            mode: Mode = "wide" if wide <= available else "compact"
        else:
            mode = "wide" if wide + HYSTERESIS <= available else "compact"
        if mode == self.mode:
            return False
        self.mode = mode
        self.clear(columns=True)
        self._shown.clear()
        for key, label in self.columns_for(mode):
            self.add_column(label, key=key)
        for phase in range(1, len(self.rates) + 1):
            cells = self.cells(phase, mode)
            self.add_row(*cells.values(), key=str(phase))
            self._shown[phase] = dict(cells)
        if self.running:
            self.move_cursor(row=self.running - 1, animate=False)
        return True


def _checks(ph: PhaseStats) -> str:
    """'✓ 3/3' when a finished phase passed every threshold, '✗ 1/3' (passed of all) when not."""
    if not ph.thresholds:
        return "-"
    passed = sum(c.passed for c in ph.thresholds)
    return f"{'✓' if passed == len(ph.thresholds) else '✗'} {passed}/{len(ph.thresholds)}"
