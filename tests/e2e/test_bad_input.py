"""Every bad input gets a clear message, the right exit code, no traceback, and loses no rows."""

from __future__ import annotations

import csv

import pytest

from tokenflood_tui.simulator import SimulatorProcess

from helpers import write

RUN = ("name: bad\nrequests_per_second_rates: [10]\ntest_length_in_seconds: 2\narrival: constant\n"
       "load_types:\n- {prompt_length: 100, prefix_length: 20, output_length: 8}\n")


def files(tmp_path, base_url="http://127.0.0.1:9/v1", run=RUN, endpoint_extra="", model="sim-model"):
    write(tmp_path / "run.yml", run)
    write(tmp_path / "endpoint.yml",
          f"provider: hosted_vllm\nmodel: {model}\nbase_url: {base_url}\n{endpoint_extra}")
    return "run.yml", "endpoint.yml"


def clean(done, code: int) -> str:
    assert done.code == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    return done.stderr


@pytest.fixture(scope="module")
def sim():
    with SimulatorProcess("--ttft-ms", "20", "--itl-ms", "2", "--api-key", "sk-test-123456",
                          "--max-model-len", "512") as s:
        yield s


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


def test_unreachable_base_url_fails_before_any_load(tmp_path, tokenflood):
    files(tmp_path, base_url="http://127.0.0.1:9/v1")
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes")
    err = clean(done, 1)
    assert "cannot reach the endpoint at http://127.0.0.1:9/v1" in err and "base_url" in err
    s = done.summary()
    assert s["status"] == "aborted" and s["phases"] == []


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
    everything = err + done.stdout + "".join(p.read_text() for p in done.folder().iterdir())
    assert "sk-wrong-key-987" not in everything


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
    threading.Timer(4.0, sim.stop).start()
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes")
    err = clean(done, 1)
    summary = done.summary()
    assert summary["status"] == "aborted" and "error limit" in summary["message"]
    (phase,) = summary["phases"]
    assert phase["ok"] >= 10 and phase["failed"] >= 10
    with open(done.folder() / "requests.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == phase["sent"]
    assert "connection" in err.lower()
