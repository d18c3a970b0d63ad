"""`tokenflood run` against a real llama.cpp server with SmolLM2-135M (started by a fixture)."""

from __future__ import annotations

import csv

import pytest

from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
from tokenflood_tui.demo.localserver.protocol import unavailable_reason

from support.specs import endpoint_yml
from support.tokenflood import other_than_lateness, write

pytestmark = [pytest.mark.llamacpp,
              pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]


@pytest.fixture(scope="module")
def llama():
    # 2 slots x 4096 tokens: room for the 1500-token prompts.
    with LocalModelServer(LocalServerOptions(slots=2, ctx=8192)) as server:
        yield server


def rows(folder) -> list[dict]:
    with open(folder / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_prompt_and_output_lengths_match_the_servers_usage(tmp_path, llama, tokenflood):
    # Long prefixes keep the 1500-token prompts affordable on one CPU thread (prefill ~165 tok/s).
    write(tmp_path / "run.yml", """\
name: lengths
requests_per_second_rates: [0.6]
test_length_in_seconds: 15
arrival: constant
load_types:
- {prompt_length: 64, prefix_length: 0, output_length: 16}
- {prompt_length: 512, prefix_length: 448, output_length: 8}
- {prompt_length: 1500, prefix_length: 1440, output_length: 4}
request_timeout_seconds: 60
""")
    write(tmp_path / "endpoint.yml", endpoint_yml(llama.base_url, model=llama.model))
    done = tokenflood("run", "run.yml", "endpoint.yml", "--yes", timeout=240)
    assert done.code == 0, done.stderr
    s = done.summary()
    assert s["token_counter"] == "server /tokenize" and s["client"] == "openai"
    table = rows(done.folder())
    assert len(table) == 9 and all(r["status"] == "ok" for r in table)
    by_type = {}
    for r in table:
        by_type.setdefault(r["load_type"], []).append(r)
    assert set(by_type) == {"0", "1", "2"}
    for kind, target, out in (("0", 64, 16), ("1", 512, 8), ("2", 1500, 4)):
        for r in by_type[kind]:
            prompt = int(r["prompt_tokens"])
            assert abs(prompt - target) <= 0.02 * target, (kind, prompt)
            assert int(r["output_tokens"]) == out            # ignore_eos: exactly max_tokens
            assert r["output_tokens_estimated"] == "false"
    # repeated prefixes hit llama.cpp's prompt cache, as its usage says: not every time, as its 2
    # slots each keep the last prompt they served, and which slot a request gets depends on
    # which one is idle (on a busy machine requests overlap), but some request of each kind
    for kind, prefix in (("1", 448), ("2", 1440)):
        cached = [int(r["cached_tokens"]) for r in by_type[kind]]
        assert max(cached) >= prefix, (kind, cached)
    assert all(int(r["cached_tokens"]) <= int(r["prompt_tokens"]) for r in table)
    # the summary's token totals are the server's own
    assert s["budget"]["actual_input_tokens"] == sum(int(r["prompt_tokens"]) for r in table)
    assert s["budget"]["actual_output_tokens"] == sum(int(r["output_tokens"]) for r in table)


def test_init_then_run_against_llamacpp(tmp_path, llama, tokenflood):
    done = tokenflood("init", ".")
    assert done.code == 0 and (tmp_path / "run.yml").exists()
    again = tokenflood("init", ".")
    assert again.code == 2 and "--force" in again.stderr
    endpoint = (tmp_path / "endpoint.yml").read_text()
    endpoint = endpoint.replace("http://127.0.0.1:8000/v1", llama.base_url)
    write(tmp_path / "endpoint.yml", endpoint)
    # the quick start as written (2 phases x 10 s, 512/640-token prompts) at rates SmolLM2 on
    # one thread serves while the suite's other tests share the machine: 1 and 2 requests
    run = (tmp_path / "run.yml").read_text().replace("[1.0, 2.0]", "[0.1, 0.2]")
    write(tmp_path / "run.yml", run)
    done = tokenflood("run", "run.yml", "endpoint.yml", "--headless", "--yes", timeout=300)
    assert done.code == 0, done.stderr
    s = done.summary()
    assert s["status"] == "completed"
    table = rows(done.folder())
    assert [p["sent"] for p in s["phases"]] == [1, 2] and len(table) == 3
    for r in table:
        assert r["status"] == "ok"
        target = int(r["prompt_tokens_target"])
        assert abs(int(r["prompt_tokens"]) - target) <= 0.02 * target
        assert r["output_tokens"] == r["output_tokens_target"]
    assert other_than_lateness(s["warnings"]) == []   # 10 ms late once, with llama.cpp and a hog
