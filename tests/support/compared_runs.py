"""Two real results folders to compare: the same short suite run at once against two simulators,
one 30 ms slower to the first token (same decode speed), so every verdict the comparison can give
shows up: TTFT and e2e slower where the samples suffice, TPOT and ITL no clear difference, p99
too few samples (36 rows at most per rate)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.shared import made_once
from support.specs import endpoint_yml
from support.tokenflood import ENV, TOKENFLOOD, write

# 3 s at 8 and 12 req/s: 24 and 36 requests, enough for p50 and p90 verdicts at both rates; the
# suite is named after the simulator, so the two folders' names tell them apart
RUN = ("name: {name}\nrequests_per_second_rates: [8, 12]\ntest_length_in_seconds: 3\nseed: 7\n"
       "load_types:\n- {{prompt_length: 64, output_length: 8}}\n")
FAST_TTFT, SLOW_TTFT = 50, 80


@dataclass
class Runs:
    results: Path        # the results dir holding both folders
    fast: Path           # TTFT 50 ms
    slow: Path           # TTFT 80 ms

    @classmethod
    def in_folder(cls, folder: Path) -> Runs:
        results = folder / "results"
        (fast_dir,) = results.glob("*_fast_sim-model")
        (slow_dir,) = results.glob("*_slow_sim-model")
        return cls(results, fast_dir, slow_dir)


def shared_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The two runs, made once for every module of the session that compares them (read only:
    a module that writes puts its output elsewhere)."""
    return Runs.in_folder(made_once(tmp_path_factory, "compared-runs", make_runs))


def make_runs(folder: Path) -> Runs:
    """Run the suite against both simulators at once (about 10 s), then stop them."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**ENV, "TOKENFLOOD_CONFIG_DIR": str(folder / "config")}
    with SimulatorProcess("--ttft-ms", str(FAST_TTFT), "--itl-ms", "3", "--jitter", "0.1") as fast, \
            SimulatorProcess("--ttft-ms", str(SLOW_TTFT), "--itl-ms", "3", "--jitter", "0.1") as slow:
        procs = {}
        for name, sim in (("fast", fast), ("slow", slow)):
            write(folder / f"run-{name}.yml", RUN.format(name=name))
            write(folder / f"endpoint-{name}.yml", endpoint_yml(sim.base_url))
            procs[name] = subprocess.Popen(
                [TOKENFLOOD, "run", f"run-{name}.yml", f"endpoint-{name}.yml", "--headless",
                 "--yes", "--results-dir", "results"], cwd=folder, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for proc in procs.values():
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    return Runs.in_folder(folder)
