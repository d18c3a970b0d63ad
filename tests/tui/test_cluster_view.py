"""The live view of a run whose senders are on a real Dask cluster (a scheduler and two workers
on 127.0.0.1): it follows the run as for a local one, says where it sends from, and the results
view names the workers. Assertions read the screen as text."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from tokenflood_tui.run import cluster
from tokenflood_tui.simulator import SimulatorProcess
from tokenflood_tui.specs import EndpointSpec, parse_run_suite
from tokenflood_tui.tui.app import Launch, TokenfloodApp
from tokenflood_tui.tui.screens.run import RunScreen
from tokenflood_tui.tui.widgets.log_panel import LogPanel

from support.dask_cluster import DaskCluster
from support.screens import until

SUITE = parse_run_suite("name: tuicluster\nrequests_per_second_rates: [10, 20]\n"
                        "test_length_in_seconds: 3\narrival: constant\n"
                        "load_types: [{prompt_length: 64, output_length: 8}]\n")


async def test_the_live_view_follows_a_cluster_run_to_its_results(tmp_path: Path):
    with SimulatorProcess("--ttft-ms", "40", "--itl-ms", "5") as sim, DaskCluster(2) as dask:
        endpoint = EndpointSpec(provider="hosted_vllm", model="sim-model", base_url=sim.base_url)
        target = await asyncio.to_thread(asyncio.run, cluster.probe(dask.address, None, endpoint))
        assert [name for _, name in target.workers] == ["w0", "w1"]
        app = TokenfloodApp(Launch("run", results_root=tmp_path / "results", suite=SUITE,
                                   endpoint=endpoint, assume_yes=True, cluster=target))
        async with app.run_test(size=(120, 40)) as pilot:
            lines = await until(pilot, lambda ls: any("phase 2/2 running" in line for line in ls),
                                "phase 2 running")
            assert isinstance(app.screen, RunScreen)
            # the log as a whole: with the server's metrics lines its start may have scrolled
            text = "\n".join(lines + app.screen.query_one(LogPanel).lines())
            assert f"sending from 2 Dask worker(s) of {dask.address}" in text
            assert "w0@" in text and "w1@" in text and "clock offset" in text
            row = next(line for line in lines if line.lstrip().startswith("1 ") and "30/30" in line)
            assert "20.00" not in row                 # phase 1 ran at 10 req/s
            await until(pilot, lambda ls: app.run_controller is not None
                        and app.run_controller.finished, "the end")
            await pilot.press("r")
            lines = await until(pilot, lambda ls: any("sent from Dask" in line for line in ls),
                                "the results view")
            head = next(line for line in lines if "sent from Dask" in line)
            assert f"sent from Dask {dask.address}: w0@" in head and ", w1@" in head
    (folder,) = (tmp_path / "results").iterdir()
    with open(folder / "requests.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 90 and {r["worker"].split("@")[0] for r in table} == {"w0", "w1"}
