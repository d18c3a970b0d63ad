"""A comparison of two runs for drawing tests, without running them: run A (the baseline) at
TTFT p50/p90/p99 40/50/60 ms and e2e 90/100/110 ms at 8 and 12 req/s, run B 100 ms slower."""

from __future__ import annotations

from pathlib import Path

from tokenflood_tui.compare.compare import Cell, ComparedRun, Comparison, RunValue

A_TTFT = {50.0: 40.0, 90.0: 50.0, 99.0: 60.0}
B_SLOWER_MS = 100.0


def _run(name: str) -> ComparedRun:
    return ComparedRun(name=name, folder=f"results/{name}", run_name=name.split("_")[2],
                       type="load_test", status="completed", model="sim-model",
                       provider="hosted_vllm", base_url="http://127.0.0.1:8000/v1",
                       started_at="2026-01-02T03:04:05+00:00", prompts="fresh")


def two_runs() -> Comparison:
    cells = []
    for rate in (8.0, 12.0):
        for metric, extra in (("ttft_ms", 0.0), ("e2e_ms", 50.0)):
            for p, a in A_TTFT.items():
                a += extra
                b = a + B_SLOWER_MS
                cells.append(Cell(
                    group=f"{rate:g} req/s", group_kind="rate", group_value=rate, metric=metric,
                    percentile=p, runs=[
                        RunValue(value_ms=a, samples=300),
                        RunValue(value_ms=b, samples=300, diff_ms=b - a,
                                 diff_pct=100 * (b - a) / a, ci_low_ms=b - a - 3,
                                 ci_high_ms=b - a + 3, verdict="slower")]))
    return Comparison(created_at="2026-01-02T04:00:00+00:00",
                      runs=[_run("2026-01-02_03-04-05_fast_sim-model"),
                            _run("2026-01-02_03-10-00_slow_sim-model")],
                      percentiles=list(A_TTFT), metrics=["ttft_ms", "e2e_ms"],
                      groups=["8 req/s", "12 req/s"], cells=cells)


def saved_two_runs(folder: Path) -> Path:
    """`two_runs()` written as `tokenflood compare` writes compare.json; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.json").write_text(two_runs().to_json(), encoding="utf-8")
    return folder
