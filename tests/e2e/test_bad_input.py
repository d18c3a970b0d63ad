"""Every bad input gets a clear message, the right exit code, no traceback, and loses no rows."""

from __future__ import annotations

import csv
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from support.proxies import TcpProxy
from support.simulators import simulator_fixture
from support.specs import endpoint_yml
from support.tokenflood import TOKENFLOOD, run_tokenflood, write

RUN = ("name: bad\nrequests_per_second_rates: [10]\ntest_length_in_seconds: 2\narrival: constant\n"
       "load_types:\n- {prompt_length: 100, prefix_length: 20, output_length: 8}\n")


def files(tmp_path, base_url="http://127.0.0.1:9/v1", run=RUN, endpoint_extra="", model="sim-model"):
    write(tmp_path / "run.yml", run)
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url, endpoint_extra, model=model))
    return "run.yml", "endpoint.yml"


def clean(done, code: int) -> str:
    assert done.code == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    return done.stderr


sim = simulator_fixture(
    "--ttft-ms", "20", "--itl-ms", "2", "--api-key", "sk-test-123456", "--max-model-len", "512")


def test_missing_file(tmp_path, tokenflood):
    err = clean(tokenflood("run", "nope.yml", "endpoint.yml", "--yes"), 2)
    assert "nope.yml: no such file" in err


def test_yaml_syntax_error(tmp_path, tokenflood):
    write(tmp_path / "run.yml", "name: x\nrequests_per_second_rates: [1\n")
    files(tmp_path, run=(tmp_path / "run.yml").read_text())
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert "run.yml:" in err and "YAML syntax error" in err


def test_misspelled_key_and_wrong_type_together(tmp_path, tokenflood):
    run = RUN.replace("prefix_length", "prefix_lenght").replace("test_length_in_seconds: 2",
                                                                "test_length_in_seconds: two")
    files(tmp_path, run=run)
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert "run.yml:6: unknown key 'load_types[0].prefix_lenght' — did you mean 'prefix_length'?" in err
    assert "run.yml:3: test_length_in_seconds" in err


def test_prefix_not_shorter_than_prompt_and_rate_zero(tmp_path, tokenflood):
    files(tmp_path, run=RUN.replace("prefix_length: 20", "prefix_length: 100").replace("[10]", "[0]"))
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert "rate 1 is 0.0" in err and "prefix_length (100) must be smaller than prompt_length (100)" in err


def test_unknown_provider(tmp_path, tokenflood):
    files(tmp_path)
    write(tmp_path / "endpoint.yml", "provider: openai_compatible\nmodel: m\n")
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert "endpoint.yml:1: provider: unknown provider 'openai_compatible'" in err


def test_unreachable_base_url_fails_before_any_load_and_leaves_no_folder(tmp_path, tokenflood):
    files(tmp_path, base_url="http://127.0.0.1:9/v1")
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes")
    err = clean(done, 1)
    assert "cannot reach the endpoint at http://127.0.0.1:9/v1" in err and "base_url" in err
    # nothing was sent: no "[aborted] ↻ resumable" folder without a row in it
    assert "nothing was sent: no results folder kept" in err
    assert not done.results.exists()


def test_missing_api_key_env_var_is_named(tmp_path, sim, tokenflood):
    files(tmp_path, sim.base_url, endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes",
                           env={"SIM_KEY_FOR_TEST": ""}), 2)
    assert "SIM_KEY_FOR_TEST is not set" in err


def test_401_names_the_variable_and_never_the_key(tmp_path, sim, tokenflood):
    files(tmp_path, sim.base_url, endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes",
                      env={"SIM_KEY_FOR_TEST": "sk-wrong-key-987"})
    err = clean(done, 1)
    assert "refused the credentials" in err and "$SIM_KEY_FOR_TEST" in err
    assert "sk-wrong-key-987" not in err + done.stdout
    # refused at warm-up, before any load request: no folder is left
    assert not done.results.exists()


def test_404_for_a_model_the_server_does_not_serve_lists_what_it_serves(tmp_path, sim, tokenflood):
    files(tmp_path, sim.base_url, model="llama-70b",
          endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes",
                           env={"SIM_KEY_FOR_TEST": "sk-test-123456"}), 1)
    assert "404" in err and "'llama-70b'" in err and "sim-model" in err


def test_prompt_longer_than_the_context_is_caught_before_load(tmp_path, sim, tokenflood):
    run = RUN.replace("prompt_length: 100", "prompt_length: 600")
    files(tmp_path, sim.base_url, run=run, endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes", env={"SIM_KEY_FOR_TEST": "sk-test-123456"})
    err = clean(done, 1)
    assert "load type 0 (prompt_length 600)" in err and "maximum context length is 512" in err


def test_without_yes_and_without_a_terminal_it_refuses(tmp_path, sim, tokenflood):
    files(tmp_path, sim.base_url)
    err = clean(tokenflood("run", "run.yml", "endpoint.yml"), 3)
    assert "pass --yes" in err
    assert not (tmp_path / "results").exists()


def test_over_the_token_limit_is_refused_even_with_yes(tmp_path, sim, tokenflood):
    files(tmp_path, sim.base_url)
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes",
                           env={"TOKENFLOOD_MAX_INPUT_TOKENS": "1000"}), 3)
    assert "TOKENFLOOD_MAX_INPUT_TOKENS=1,000" in err and "raise TOKENFLOOD_MAX_INPUT_TOKENS" in err


def test_error_limit_aborts_and_keeps_the_rows(tmp_path, tokenflood):
    # Warm-up and calibration pass (faults start after them), then every request fails.
    with SimulatorProcess("--ttft-ms", "5", "--itl-ms", "1", "--error-rate", "500=0.6", "--seed", "3") as s:
        files(tmp_path, s.base_url, run=RUN.replace("warmup", "warmup") + "warmup_requests: 5\n")
        done = tokenflood("run", "run.yml", "endpoint.yml", "--yes")
    summary = done.summary()
    if summary["status"] == "aborted":
        err = clean(done, 1)
        assert "error limit" in err
        with open(done.folder() / "requests.csv", newline="") as f:
            table = list(csv.DictReader(f))
        assert len(table) == summary["phases"][0]["sent"] >= 10
        assert sum(r["status"] == "http_error" for r in table) == summary["phases"][0]["failed"]
        log = (done.folder() / "errors.log").read_text()
        assert "http_error HTTP 500: Simulated error 500" in log and "HTTP 500: HTTP 500" not in log
    else:
        pytest.fail(f"expected an abort at a 60% error rate, got {summary['status']}: {done.stderr}")


def test_one_early_failure_does_not_abort(tmp_path, tokenflood):
    with SimulatorProcess("--ttft-ms", "5", "--itl-ms", "1", "--error-rate", "500=0.05", "--seed", "1") as s:
        files(tmp_path, s.base_url)
        done = tokenflood("run", "run.yml", "endpoint.yml", "--yes")
    clean(done, 0)
    (phase,) = done.summary()["phases"]
    assert phase["sent"] == 20 and 0 < phase["failed"] <= 4


def test_server_dying_mid_run_keeps_what_was_measured(tmp_path, tokenflood):
    import threading
    sim = SimulatorProcess("--ttft-ms", "20", "--itl-ms", "5")
    sim.start()
    files(tmp_path, sim.base_url, run=RUN.replace("test_length_in_seconds: 2", "test_length_in_seconds: 8"))
    def stop_after_rows(count: int = 12, timeout: float = 60.0) -> None:
        # the server dies once the phase has rows (not at a fixed time: start-up on a busy
        # machine can take longer than any fixed delay)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = sum(p.read_text().count("\n") - 1
                       for p in (tmp_path / "results").glob("*/requests.csv"))
            if rows >= count:
                break
            time.sleep(0.05)
        sim.stop()
    threading.Thread(target=stop_after_rows, daemon=True).start()
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes")
    err = clean(done, 1)
    summary = done.summary()
    assert summary["status"] == "aborted" and "error limit" in summary["message"]
    (phase,) = summary["phases"]
    # what was measured before the server died is kept; the error limit (30% of the last 30
    # finished, at least 10) stops it after a few failures (how many depends on how many ok
    # requests came first, which a busy machine's start-up moves)
    assert phase["ok"] >= 5 and phase["failed"] >= 3
    with open(done.folder() / "requests.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == phase["sent"]
    assert "connection" in err.lower()


# ---------------------------------------------------------------------------------------------
# Bad input that used to crash or hang (issue 8 §6): a one-line error naming the key or flag,
# exit 2 (or 3 for a limit), quickly, no traceback, and no results folder.



def chat_requests_seen(sim) -> int:
    with urllib.request.urlopen(f"{sim.base_url.removesuffix('/v1')}/sim/requests") as resp:
        return json.load(resp)["next"]


def guarded(args, cwd, timeout=60, memory_bytes=3 * 2**30, env=None):
    """Run tokenflood with an address-space cap, so a regression fails instead of eating the box."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    started = time.monotonic()
    proc = subprocess.run([TOKENFLOOD, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})})
    return proc, time.monotonic() - started


def one_line_error(proc, code: int) -> str:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tokenflood: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("rates, length, figure", [
    ("[1e9]", "2", "about 2,000,000,000 requests"),
    ("[1000000000]", "2", "about 2,000,000,000 requests"),
    ("[1]", "1e10", "about 10,000,000,000 requests"),
])
def test_a_run_too_big_to_plan_is_refused_at_load(tmp_path, rates, length, figure):
    files(tmp_path, run=RUN.replace("[10]", rates).replace("test_length_in_seconds: 2",
                                                           f"test_length_in_seconds: {length}"))
    proc, seconds = guarded(["run", "run.yml", "endpoint.yml", "--yes", "--results-dir", "results"],
                            tmp_path)
    line = one_line_error(proc, 2)
    assert "run.yml:2: requests_per_second_rates:" in line and figure in line
    assert "at most 10,000,000 per run" in line and "test_length_in_seconds" in line
    assert seconds < 15                  # it used to allocate the whole schedule first
    assert not (tmp_path / "results").exists()


def peak_rss_mb(args, cwd, env) -> tuple[subprocess.CompletedProcess, float]:
    """Run tokenflood as the only child of a fresh Python and read its peak resident memory."""
    probe = ("import resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=subprocess.DEVNULL)\n"
             "sys.stderr.write(p.stderr)\n"
             "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    proc = subprocess.run([sys.executable, "-c", probe, TOKENFLOOD, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    code, kib = proc.stdout.split()
    proc.returncode = int(code)
    return proc, int(kib) / 1024


def test_over_a_limit_is_refused_before_the_schedule_is_built(tmp_path):
    # 10 million requests (the most one run may plan) at the default token limits: refused for
    # sure, so nothing is planned. Building the plan first peaked at 304 MB (now about 63 MB).
    files(tmp_path, run=RUN.replace("[10]", "[10000]").replace("test_length_in_seconds: 2",
                                                               "test_length_in_seconds: 1000"))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.pop("TOKENFLOOD_MAX_INPUT_TOKENS", None)
    proc, peak = peak_rss_mb(["run", "run.yml", "endpoint.yml", "--yes", "--headless",
                              "--results-dir", "results"], tmp_path, env)
    line = one_line_error(proc, 3)
    assert ("estimated input tokens at least 1,000,000,400 exceed "
            "TOKENFLOOD_MAX_INPUT_TOKENS=1,000,000") in line
    assert "raise TOKENFLOOD_MAX_INPUT_TOKENS" in line
    assert peak < 150, f"peak {peak:.0f} MB"
    assert not (tmp_path / "results").exists()


def test_seed_out_of_range_in_the_file_and_on_the_command_line(tmp_path, tokenflood):
    files(tmp_path, run=RUN + "seed: -1\n")
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert "run.yml:7: seed: seed is -1: a seed is a whole number between 0 and 4294967295" in err
    files(tmp_path)
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--seed", "-1"), 2)
    assert "argument --seed: must be a whole number between 0 and 4294967295, got '-1'" in err
    assert not (tmp_path / "results").exists()


def test_billion_laughs_and_deep_nesting_are_refused_quickly(tmp_path):
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    files(tmp_path, endpoint_extra="extra_body:\n" + "\n".join(lines) + "\n")
    proc, seconds = guarded(["run", "run.yml", "endpoint.yml", "--yes"], tmp_path)
    line = one_line_error(proc, 2)
    assert "endpoint.yml:6: alias *a0: YAML aliases (&name / *name) are not allowed" in line
    assert seconds < 15
    files(tmp_path, endpoint_extra="extra_body:\n  a: " + "[" * 5000 + "]" * 5000 + "\n")
    proc, seconds = guarded(["run", "run.yml", "endpoint.yml", "--yes"], tmp_path)
    assert "endpoint.yml:5: nested more than 64 levels deep" in one_line_error(proc, 2)
    assert not (tmp_path / "results").exists()


def test_duplicate_key_names_both_lines(tmp_path, tokenflood):
    files(tmp_path, run=RUN + "test_length_in_seconds: 20\n")
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert ("run.yml:7: key 'test_length_in_seconds' appears twice (lines 3 and 7): keep one"
            in err)


@pytest.mark.parametrize("url, fragment", [
    ("http://127.0.0.1:99999/v1", "base_url: port 99999 is not between 1 and 65535"),
    ("http://127.0.0.1:8000/v1?api-version=1", "must not contain a query (?api-version=1)"),
    ('"http://127.0.0.1:8000/v1\\r\\n"', "must not contain spaces or control characters"),
])
def test_bad_base_url_is_refused_at_load(tmp_path, tokenflood, url, fragment):
    files(tmp_path, base_url=url)
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert "endpoint.yml:3: base_url:" in err and fragment in err
    assert not (tmp_path / "results").exists()


def test_options_before_the_command_are_honoured(tmp_path, sim):
    files(tmp_path, sim.base_url, endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "SIM_KEY_FOR_TEST": "sk-test-123456"}
    proc = subprocess.run([TOKENFLOOD, "--seed", "7", "--results-dir", "elsewhere", "run", "run.yml",
                           "endpoint.yml", "--yes"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    (folder,) = (tmp_path / "elsewhere").iterdir()
    assert "seed: 7\n" in (folder / "run.yml").read_text()
    assert not (tmp_path / "results").exists()


def test_unset_key_variable_leaves_no_results_folder_and_sends_nothing(tmp_path, sim, tokenflood):
    files(tmp_path, sim.base_url, endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
    before = chat_requests_seen(sim)
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes", env={"SIM_KEY_FOR_TEST": ""})
    err = clean(done, 2)
    assert "SIM_KEY_FOR_TEST is not set in the environment: export SIM_KEY_FOR_TEST=" in err
    assert not (tmp_path / "results").exists()
    assert chat_requests_seen(sim) == before


def test_header_that_cannot_be_sent_leaves_no_results_folder(tmp_path, sim, tokenflood):
    files(tmp_path, sim.base_url, endpoint_extra='extra_headers:\n  X-Team: "perf\\r\\nX-Evil: 1"\n')
    err = clean(tokenflood("run", "run.yml", "endpoint.yml", "--yes"), 2)
    assert "endpoint.yml:5: extra_headers.X-Team: header 'X-Team'" in err and "X-Evil" not in err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("where", ["a-file", "a-file/results"])
def test_results_dir_that_is_or_is_under_a_file_exits_2_before_any_request(tmp_path, sim, where):
    files(tmp_path, sim.base_url, endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
    write(tmp_path / "a-file", "not a folder\n")
    before = chat_requests_seen(sim)
    proc, _ = guarded(["run", "run.yml", "endpoint.yml", "--yes", "--results-dir", where], tmp_path,
                      env={"SIM_KEY_FOR_TEST": "sk-test-123456"})
    line = one_line_error(proc, 2)
    assert f"--results-dir {where}:" in line and "a-file is a file" in line
    assert chat_requests_seen(sim) == before


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts every connection, reads, and never answers."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.setblocking(False)
            self._conns.append(conn)
            for c in self._conns:
                try:
                    c.recv(65536)
                except OSError:
                    pass

    def close(self):
        self._stop.set()
        self._thread.join()
        for c in self._conns:
            c.close()
        self.sock.close()


@pytest.fixture
def black_hole():
    server = BlackHole()
    yield server
    server.close()


def test_an_endpoint_that_never_answers_is_reported_within_the_request_timeout(tmp_path, black_hole):
    files(tmp_path, f"http://127.0.0.1:{black_hole.port}/v1",
          run=RUN + "request_timeout_seconds: 3\n")
    started = time.monotonic()
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=tmp_path)
    seconds = time.monotonic() - started
    err = clean(done, 1)
    assert "did not answer within request_timeout_seconds (3 s)" in err
    assert "waiting for the endpoint to answer a warm-up request (timeout 3 s)" in err
    assert black_hole.accepted >= 1
    assert seconds < 20, f"took {seconds:.1f} s"      # it took 39-45 s, 33 s of them silent
    # no answer to the warm-up: no load was sent, so no folder is left
    assert "nothing was sent: no results folder kept" in err and not done.results.exists()


def test_a_tokenize_that_never_answers_costs_one_request_timeout(tmp_path, sim):
    proxy = TcpProxy(sim.port, lambda request: request.startswith(b"POST /tokenize"))
    try:
        files(tmp_path, f"http://127.0.0.1:{proxy.port}/v1",
              run=RUN.replace("test_length_in_seconds: 2", "test_length_in_seconds: 1")
              + "request_timeout_seconds: 2\n",
              endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
        done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=tmp_path,
                              env={"SIM_KEY_FOR_TEST": "sk-test-123456"})
    finally:
        proxy.close()
    err = clean(done, 0)
    assert "waiting for the endpoint's /tokenize (timeout 2 s)" in err
    assert "no usable /tokenize (no answer in time)" in err
    assert "counting tokens with litellm.token_counter" in err
    # the client gave up after its 2 s request timeout (/tokenize alone used to wait 30 s); the
    # proxy's clock starts once it has read the request, after the client's: a busy machine's
    # delay in between comes off the 2 s
    assert proxy.held == 1 and len(proxy.held_for) == 1 and 1.0 < proxy.held_for[0] < 8, \
        proxy.held_for


@pytest.mark.parametrize("what, marker", [("warm-up", b'"max_tokens":4,'),
                                          ("calibration probe", b'"max_tokens":1,')])
def test_one_stalled_request_before_the_load_is_retried_not_fatal(tmp_path, sim, what, marker):
    """A stall is not a dead endpoint: one timed-out warm-up or calibration request is tried
    again; two in a row are reported (the black-hole test above)."""
    proxy = TcpProxy(sim.port, lambda request: marker in request, limit=1)
    try:
        files(tmp_path, f"http://127.0.0.1:{proxy.port}/v1",
              run=RUN.replace("test_length_in_seconds: 2", "test_length_in_seconds: 1")
              + "request_timeout_seconds: 2\n",
              endpoint_extra="api_key_env_var: SIM_KEY_FOR_TEST\n")
        done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless",
                              "--workers", "0", cwd=tmp_path, env={"SIM_KEY_FOR_TEST": "sk-test-123456"})
    finally:
        proxy.close()
    clean(done, 0)
    assert proxy.held == 1, what
    assert done.summary()["status"] == "completed"
