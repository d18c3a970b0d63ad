"""Per-phase counts have one source: what the senders report for that phase, and the rows.

A phase that follows a larger one once showed the previous phase's sent count (61/42 sent, 45 in
flight) in the live view and in summary.json, while requests.csv had the true rows.
"""

from __future__ import annotations

import asyncio
import csv
from collections import Counter

import pytest

from tokenflood_tui.run.runner import Run
from tokenflood_tui.specs import EndpointSpec, LoadType, LoadTestSuite


class Watcher:
    """Keeps every snapshot, as a live view would see them."""

    def __init__(self):
        self.snapshots = []

    def event(self, ev) -> None:
        pass

    def snapshot(self, snap) -> None:
        self.snapshots.append(snap)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_smaller_phase_after_a_larger_one_never_shows_the_larger_count(tmp_path, sim, workers):
    suite = LoadTestSuite(name="counts", requests_per_second_rates=[40, 10, 10], test_length_in_seconds=1.5,
                     arrival="constant", load_types=[LoadType(prompt_length=64, output_length=4)])
    endpoint = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url)
    watcher = Watcher()
    # A snapshot every 10 ms lands in the moment between two phases, where stale counts showed.
    run = Run(suite, endpoint, tmp_path, watcher, snapshot_interval_s=0.01, workers=workers)
    result = asyncio.run(run.execute())
    assert result.summary.status == "completed"

    planned = [60, 15, 15]
    for snap in watcher.snapshots:
        for ph in snap.phases:
            assert ph.sent <= ph.planned == planned[ph.phase - 1], (snap.phase, ph)
            assert 0 <= ph.in_flight <= ph.sent
    with open(result.folder / "requests.csv", newline="") as f:
        rows = Counter(int(r["phase"]) for r in csv.DictReader(f))
    assert [rows[p] for p in (1, 2, 3)] == planned
    assert [p.sent for p in result.summary.phases] == planned
    assert [p.ok for p in result.summary.phases] == planned
    assert all(p.in_flight == 0 for p in result.summary.phases)
