"""`tokenflood resume` for each way a run ends early (error limit, Ctrl-C, SIGKILL, in warm-up, a
resume killed in turn) and each way its endpoint is saved (env references, literal secrets); the
budget prompt says what is resumed and estimates only what remains."""

from __future__ import annotations

import json
import re
import signal
import time

from tokenflood_tui.simulator import SimulatorProcess

from support.proxies import TcpProxy
from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.tokenflood import run_tokenflood, start, the_folder, write
from support.unfinished import (PHASE_2_STARTED, PHASE_3_STARTED, THREE_PHASES,
                                assert_complete_three_phases, kept, killed_observation, rows,
                                stop_when)

KEY = "tf-resume-key-4711"


keyed_sim = simulator_fixture("--ttft-ms", "20", "--itl-ms", "2", "--api-key", KEY)


def summary(folder) -> dict:
    return json.loads((folder / "summary.json").read_text())


def three_phases(tmp_path, base_url: str, extra: str = "") -> None:
    write(tmp_path / "run.yml", THREE_PHASES)
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url, extra))


def test_a_resume_killed_in_turn_is_resumed_again_and_both_resumes_are_listed(tmp_path, sim):
    three_phases(tmp_path, sim.base_url)
    stop_when(start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0"), tmp_path,
              PHASE_2_STARTED, after_s=0.5)
    folder = the_folder(tmp_path)
    # the first resume dies too, in phase 3: it writes no summary either
    stop_when(start(tmp_path, "resume", folder.name, "--workers", "0"), tmp_path,
              PHASE_3_STARTED, after_s=0.5)
    assert not (folder / "summary.json").exists()

    done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", "0",
                          cwd=tmp_path)
    assert done.code == 0, done.stderr
    # the prompt says what is resumed, from where, and that the estimate is of what remains
    prompt = done.stderr.split("[tokenflood] resuming ", 1)[0]
    assert f"[tokenflood] resume:\n    resuming       {folder.name}\n    it ended       killed " \
           "or crashed: no summary was written\n    finished       2 of 3 phases\n    goes on at " \
           "    phase 3 of 3, in full (rows so far kept as superseded)\n[tokenflood] budget " \
           "estimate of what remains:\n    requests       20 (+" in prompt
    s = summary(folder)
    assert_complete_three_phases(folder, s)
    assert [r["from_phase"] for r in s["resumed"]] == [2, 3]
    superseded = [r for r in rows(folder) if r["superseded"] == "true"]
    assert [r["superseded_rows"] for r in s["resumed"]] == [
        sum(r["phase"] == "2" for r in superseded), sum(r["phase"] == "3" for r in superseded)]
    assert all(r["superseded_rows"] > 0 for r in s["resumed"])     # both were killed mid-phase


def test_ctrl_c_then_resume_with_other_workers_then_a_completed_run_is_refused(tmp_path, sim):
    three_phases(tmp_path, sim.base_url)
    code, _ = stop_when(start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0"),
                        tmp_path, PHASE_2_STARTED, sig=signal.SIGINT, after_s=0.6)
    assert code == 130
    folder = the_folder(tmp_path)
    assert summary(folder)["status"] == "interrupted"

    # two sender processes now where the first run sent from its own loop: the arrivals are the
    # plan's (the same seq numbers), split between the senders
    done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", "2",
                          cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert f"resuming       {folder.name}\n    it ended       interrupted\n" in done.stderr
    assert "goes on at     phase 2 of 3, in full" in done.stderr
    s = summary(folder)
    assert_complete_three_phases(folder, s)
    assert s["workers"] == 2
    (resumed,) = s["resumed"]
    assert resumed["from_phase"] == 2 and resumed["superseded_rows"] > 0
    assert sorted(int(r["seq"]) for r in kept(folder)) == list(range(60))

    again = run_tokenflood("resume", folder.name, "--yes", "--headless", cwd=tmp_path)
    assert again.code == 2 and "Traceback" not in again.stderr
    assert "this run completed; there is nothing to resume" in again.stderr


def test_a_run_aborted_by_the_error_limit_resumes_once_the_server_is_back(tmp_path):
    first_server = SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2")
    first_server.start()
    proxy = TcpProxy(first_server.port)
    try:
        three_phases(tmp_path, f"http://127.0.0.1:{proxy.port}/v1")
        proc = start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:      # the server goes away as phase 2 starts
            journal = next(iter((tmp_path / "results").glob("*/journal.jsonl")), None)
            if journal is not None and PHASE_2_STARTED in journal.read_text():
                proxy.down = True               # new connections closed at once
                first_server.stop()             # and the open ones with the server
                break
            time.sleep(0.02)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        folder = the_folder(tmp_path)
        first = summary(folder)
        assert first["status"] == "aborted" and "error limit" in first["message"]
        assert [p["phase"] for p in first["phases"]] == [1, 2]

        with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2") as second_server:
            proxy.upstream_port, proxy.down = second_server.port, False     # the server is back
            done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", "0",
                                  cwd=tmp_path)
        assert done.code == 0, done.stderr
        assert f"resuming       {folder.name}\n    it ended       aborted\n" in done.stderr
        s = summary(folder)
        assert_complete_three_phases(folder, s)
        assert all(p["failed"] == 0 for p in s["phases"])      # the failures were superseded
        assert s["resumed"][0]["from_phase"] == 2
    finally:
        proxy.close()
        first_server.stop()


def test_a_run_killed_in_warm_up_resumes_from_phase_1(tmp_path, sim):
    # the server takes the connection and never answers the warm-up: the run never starts
    proxy = TcpProxy(sim.port, hold=lambda request: True)
    try:
        three_phases(tmp_path, f"http://127.0.0.1:{proxy.port}/v1")
        proc = start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0")
        deadline = time.monotonic() + 30
        while proxy.held == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.held >= 1
        stop_when(proc, tmp_path, "")             # the folder and its (empty) journal exist
        folder = the_folder(tmp_path)
        assert (folder / "journal.jsonl").read_text() == "" and len(rows(folder)) == 0

        proxy.hold = lambda request: False
        done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", "0",
                              cwd=tmp_path)
        assert done.code == 0, done.stderr
        assert "finished       0 of 3 phases\n    goes on at     phase 1 of 3\n" in done.stderr
        assert "requests       60 (+" in done.stderr           # the whole run remains
        s = summary(folder)
        assert_complete_three_phases(folder, s)
        assert [(r["from_phase"], r["superseded_rows"]) for r in s["resumed"]] == [(1, 0)]
    finally:
        proxy.close()


def test_env_references_resume_as_saved_literal_secrets_need_the_endpoint_file(
        tmp_path, keyed_sim):
    env = {"SIM_TOKEN": KEY}
    # 1. the key by reference: the saved endpoint.yml keeps the reference and resumes as it is
    three_phases(tmp_path, keyed_sim.base_url,
                 "extra_headers: {Authorization: 'Bearer ${SIM_TOKEN}'}\n")
    stop_when(start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0", env=env),
              tmp_path, PHASE_2_STARTED, after_s=0.5)
    folder = the_folder(tmp_path)
    assert "Bearer ${SIM_TOKEN}" in (folder / "endpoint.yml").read_text()
    done = run_tokenflood("resume", folder.name, "--yes", "--headless", "--workers", "0",
                          cwd=tmp_path, env=env)
    assert done.code == 0, done.stderr
    s = summary(folder)
    assert_complete_three_phases(folder, s)
    assert all(p["ok"] == 20 for p in s["phases"])           # the server took the key

    # 2. a literal key: redacted in the saved copy, so the resume needs the original file
    for old in (tmp_path / "results").iterdir():
        old.rename(tmp_path / f"done-{old.name}")
    write(tmp_path / "endpoint.yml", endpoint_yml(
        keyed_sim.base_url, f"extra_headers: {{Authorization: Bearer {KEY}}}\n"))
    stop_when(start(tmp_path, "run", "run.yml", "endpoint.yml", "--workers", "0"), tmp_path,
              PHASE_2_STARTED, after_s=0.5)
    folder = the_folder(tmp_path)
    assert KEY not in (folder / "endpoint.yml").read_text()
    refused = run_tokenflood("resume", folder.name, "--yes", "--headless", cwd=tmp_path)
    assert refused.code == 2 and "Traceback" not in refused.stderr
    assert "has secrets redacted" in refused.stderr and "--endpoint ENDPOINT.yml" in refused.stderr
    # an endpoint file for another model is refused: one folder holds one model's figures
    write(tmp_path / "other.yml", endpoint_yml(keyed_sim.base_url).replace("sim-model", "other"))
    other = run_tokenflood("resume", folder.name, "--endpoint", "other.yml", "--yes",
                           "--headless", cwd=tmp_path)
    assert other.code == 2 and "other.yml: model is 'other', but this run was made with model " \
        "'sim-model'" in other.stderr
    done = run_tokenflood("resume", folder.name, "--endpoint", "endpoint.yml", "--yes",
                          "--headless", "--workers", "0", cwd=tmp_path)
    assert done.code == 0, done.stderr
    s = summary(folder)
    assert_complete_three_phases(folder, s)
    assert all(p["ok"] == 20 for p in s["phases"])
    for output in (refused, other, done):
        assert KEY not in output.stdout + output.stderr
    assert not [p.name for p in folder.iterdir() if KEY in p.read_text(errors="replace")]
    assert re.search(r"Authorization: '?\*\*\*redacted\*\*\*", (folder / "endpoint.yml").read_text())


def test_an_unreadable_journal_is_a_one_line_error(tmp_path):
    folder = killed_observation(tmp_path / "results", "http://127.0.0.1:9/v1", time.time())
    journal = folder / "journal.jsonl"
    journal.unlink()
    journal.mkdir()              # there, but not readable as a file (root reads any mode)
    done = run_tokenflood("resume", folder.name, "--yes", "--headless", cwd=tmp_path)
    assert done.code == 2 and "Traceback" not in done.stderr
    assert f"{journal}: cannot be read (Is a directory); this run cannot be resumed" in done.stderr
