"""TUI tests never touch the real user settings, and share one simulator process."""

import pytest

from support.simulators import simulator_fixture


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENFLOOD_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


sim_process = simulator_fixture("--ttft-ms", "30", "--itl-ms", "3", scope="session")
