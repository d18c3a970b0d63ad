"""TUI tests never touch the real user settings, and share one simulator process."""

import pytest

from tokenflood_tui.simulator import SimulatorProcess


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENFLOOD_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def sim_process():
    with SimulatorProcess("--ttft-ms", "30", "--itl-ms", "3") as sim:
        yield sim
