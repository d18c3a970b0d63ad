"""The built-in simulator as pytest fixtures: one line per test module instead of four.

A module's tests that only send requests share one simulator: the session's plain `sim` of
tests/conftest.py, or a module's own `sim = simulator_fixture(...)` where its speeds matter. A
test that needs faults of its own (a server that goes away, an API key, an error rate) starts its
own with the `start_simulator` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokenflood_tui.simulator import SimulatorProcess

# The plain simulator of the shared fixture: fast, so its time is the client's.
PLAIN = ("--ttft-ms", "20", "--itl-ms", "2")


def simulator_fixture(*args: str, scope: str = "module"):
    """A fixture of one simulator started with `args`, for the tests of a module (or `scope`):
    `sim = simulator_fixture("--ttft-ms", "50", "--slots", "4")`."""
    @pytest.fixture(scope=scope)
    def sim() -> Iterator[SimulatorProcess]:
        with SimulatorProcess(*args) as s:
            yield s
    return sim
