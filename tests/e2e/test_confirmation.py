"""The y/N budget question on a terminal (a pseudo-terminal here, as over SSH)."""

from __future__ import annotations

import os
import subprocess
import time

from support.simulators import simulator_fixture
from support.specs import endpoint_yml, run_yml
from support.tokenflood import TOKENFLOOD, write


sim = simulator_fixture("--ttft-ms", "5", "--itl-ms", "1")


def ask(tmp_path, base_url: str, answer: bytes) -> tuple[int, str]:
    write(tmp_path / "run.yml", run_yml("ask", rates=[5], length=1,
                                        load_types=[{"prompt_length": 50, "output_length": 4}]))
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url))
    master, slave = os.openpty()
    proc = subprocess.Popen([TOKENFLOOD, "run", "run.yml", "endpoint.yml", "--headless",
                             "--results-dir", "results"], cwd=tmp_path, stdin=slave,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 20
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 1024) if _readable(master) else b""
    os.write(master, answer)
    out, _ = proc.communicate(timeout=60)
    while _readable(master):
        try:
            seen += os.read(master, 4096)
        except OSError:
            break
    os.close(master)
    return proc.returncode, (seen + out).decode()


def _readable(fd: int) -> bool:
    import select
    return bool(select.select([fd], [], [], 0.1)[0])


def test_answering_no_starts_nothing(tmp_path, sim):
    code, out = ask(tmp_path, sim.base_url, b"n\n")
    assert code == 3 and "cancelled at the budget confirmation" in out
    assert "input tokens" in out and "cost" in out
    assert not (tmp_path / "results").exists()


def test_answering_yes_runs(tmp_path, sim):
    code, out = ask(tmp_path, sim.base_url, b"y\n")
    assert code == 0, out
    assert (tmp_path / "results").exists() and "completed" in out


def test_just_enter_is_no(tmp_path, sim):
    """[y/N]: Enter alone takes the capital default, no (a guard: it already did)."""
    code, out = ask(tmp_path, sim.base_url, b"\n")
    assert code == 3 and "cancelled at the budget confirmation" in out
    assert not (tmp_path / "results").exists()
