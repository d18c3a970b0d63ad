"""A results folder on a full disk: the load stops at the first row the disk refuses, the rows
already written stay whole, and the summary says what was kept (it is printed even when the disk
cannot take it)."""

from __future__ import annotations

import csv
import os
import shlex
import subprocess

import pytest

from tokenflood_tui.outputs.folder import CSV_COLUMNS

from support.simulators import simulator_fixture
from support.specs import endpoint_yml, run_yml
from support.tokenflood import TOKENFLOOD, write


sim = simulator_fixture("--ttft-ms", "5", "--itl-ms", "1")


def run_on_tmpfs(tmp_path, size: str, base_url: str) -> subprocess.CompletedProcess:
    """`tokenflood run` with --results-dir on a tmpfs of `size`, in a mount namespace of its own
    (so the mount goes away with it); the folder is copied out afterwards for the assertions."""
    write(tmp_path / "run.yml", run_yml("full", rates=[50], length=4, arrival="constant",
                                        load_types=[{"prompt_length": 32, "output_length": 2}]))
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url))
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    kept.mkdir()
    d, k = shlex.quote(str(disk)), shlex.quote(str(kept))
    command = (f"mount -t tmpfs -o size={size} tmpfs {d} || exit 99; "
               f"{shlex.quote(TOKENFLOOD)} run run.yml endpoint.yml --yes --headless --workers 0 "
               f"--results-dir {d}; code=$?; cp -r {d}/. {k}/; exit $code")
    return subprocess.run(["unshare", "-m", "sh", "-c", command], cwd=tmp_path, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
def test_a_full_disk_stops_the_load_and_keeps_every_written_row_whole(tmp_path, sim):
    done = run_on_tmpfs(tmp_path, "16k", sim.base_url)
    assert done.returncode == 1, done.stderr       # aborted, not a crash
    assert "Traceback" not in done.stderr and "never retrieved" not in done.stderr
    (folder,) = (tmp_path / "kept").iterdir()
    assert "No space left on device; stopped the load" in done.stderr
    with open(folder / "requests.csv", newline="") as f:
        table = list(csv.reader(f))
    header, rows = table[0], table[1:]
    assert header == CSV_COLUMNS
    assert 0 < len(rows) < 200 and all(len(r) == len(CSV_COLUMNS) for r in rows)   # none torn
    # what was kept and what was not, on stdout with the table the disk did not take
    assert f"requests.csv keeps the {len(rows)} rows written before" in done.stderr
    assert "| phase |" in done.stdout and "not saved (the disk did not take them): summary.json" \
        in done.stdout
    assert not (folder / "summary.json").exists()           # never a torn one
    # load stopped at once: far fewer requests than the 200 planned were sent
    sent = int(done.stdout.split("\n| ")[2].split("|")[3])
    assert len(rows) <= sent < 200


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)")
def test_a_roomy_disk_writes_everything(tmp_path, sim):
    done = run_on_tmpfs(tmp_path, "4m", sim.base_url)
    assert done.returncode == 0, done.stderr
    (folder,) = (tmp_path / "kept").iterdir()
    assert (folder / "summary.json").exists() and "not saved" not in done.stdout
    with open(folder / "requests.csv", newline="") as f:
        assert len(list(csv.reader(f))) == 201
