"""Fixtures every test may use: the `tokenflood` command in the test's folder, a simulator, spec
files, and the `tmux` marker. Helpers to import are in tests/support/."""

import shutil
from collections.abc import Callable, Iterator

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.simulators import PLAIN, simulator_fixture
from support.specs import SpecFiles
from support.tokenflood import run_tokenflood

TMUX_MISSING = "tmux is not installed"

# `sim`: the plain simulator (20 ms to the first token, 2 ms a token after), one per test process,
# for tests that only send it requests. A module that needs other speeds defines its own `sim`.
sim = simulator_fixture(*PLAIN, scope="session")


def pytest_collection_modifyitems(config, items):
    if shutil.which("tmux") is None:
        for item in items:
            if item.get_closest_marker("tmux"):
                item.add_marker(pytest.mark.skip(reason=TMUX_MISSING))


@pytest.fixture
def tokenflood(tmp_path):
    """Run tokenflood in a fresh folder: tokenflood('run', 'run.yml', 'endpoint.yml', '--yes')."""
    def run(*args, **kw):
        return run_tokenflood(*args, cwd=tmp_path, **kw)
    return run


@pytest.fixture
def spec_files(tmp_path) -> SpecFiles:
    """Spec files in the test's folder: spec_files.endpoint(sim.base_url), spec_files.run(...)."""
    return SpecFiles(tmp_path)


@pytest.fixture
def start_simulator() -> Iterator[Callable[..., SimulatorProcess]]:
    """Start a simulator of the test's own (faults, keys, speeds), stopped when the test ends:
    start_simulator("--error-rate", "500=0.6")."""
    started: list[SimulatorProcess] = []

    def start(*args: str) -> SimulatorProcess:
        sim = SimulatorProcess(*args)
        started.append(sim)
        sim.start()
        return sim

    yield start
    for sim in started:
        sim.stop()
