"""Reruns against a prefix-caching server: fresh prompts per run, unless reuse_prompts replays
them, in which case the cache hits are visible and warned about."""

from __future__ import annotations

import json

import pytest

from support.simulators import simulator_fixture
from support.specs import endpoint_yml, run_yml
from support.tokenflood import write

PROMPT, PREFIX = 320, 192


sim = simulator_fixture("--ttft-ms", "5", "--itl-ms", "1", "--prefill-ms-per-token", "0.05", scope="function")


def three_runs(tmp_path, tokenflood, base_url: str, reuse: bool) -> list[dict]:
    write(tmp_path / "run.yml", run_yml("rerun", rates=[10], length=1.5, arrival="constant", seed=7,
                                        reuse_prompts=reuse, load_types=[{
                                            "prompt_length": PROMPT, "prefix_length": PREFIX,
                                            "output_length": 2}]))
    write(tmp_path / "endpoint.yml", endpoint_yml(base_url))
    summaries = []
    for _ in range(3):
        done = tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless")
        assert done.code == 0, done.stderr
        summaries.append(max(done.results.iterdir(), key=lambda p: p.stat().st_mtime))
    return [json.loads((folder / "summary.json").read_text()) for folder in summaries]


def test_reruns_start_cold_and_share_only_the_prefix(tmp_path, sim, tokenflood):
    runs = three_runs(tmp_path, tokenflood, sim.base_url, reuse=False)
    for s in runs:
        (phase,) = s["phases"]
        assert s["prompts"] == "fresh"
        # the prefix (in 16-token blocks) plus the chat template's leading tokens, never the rest
        assert phase["cached_tokens_mean"] <= PREFIX + s["template_tokens"] + 16
        assert phase["cache_hit_rate"] < 0.7
        assert not [w for w in s["warnings"] if "cache" in w]
    first, later = runs[0]["phases"][0], [r["phases"][0] for r in runs[1:]]
    assert all(p["cached_tokens_mean"] == pytest.approx(first["cached_tokens_mean"], abs=16)
               for p in later)


def test_reused_prompts_hit_the_cache_on_a_rerun_and_say_so(tmp_path, sim, tokenflood):
    runs = three_runs(tmp_path, tokenflood, sim.base_url, reuse=True)
    assert all(s["prompts"] == "reused" for s in runs)
    assert runs[0]["phases"][0]["cache_hit_rate"] < 0.7
    for s in runs[1:]:
        (phase,) = s["phases"]
        assert phase["cache_hit_rate"] > 0.9              # the previous run's exact prompts
        (warning,) = [w for w in s["warnings"] if "from its cache" in w]
        assert "more than the" in warning and "meant to be shared" in warning
