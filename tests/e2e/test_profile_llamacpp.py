"""`tokenflood profile` against a real llama.cpp server with SmolLM2-135M: the fixture prompts'
counts (its /tokenize and its chat template) are what the server itself counts when sent the
prompts, and a run of the written suite sends prompts of the profiled lengths."""

from __future__ import annotations

import csv
import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
from tokenflood_tui.demo.localserver.protocol import unavailable_reason
from tokenflood_tui.profile.fitting import QUANTILES
from tokenflood_tui.specs import load_run_suite

from support.specs import endpoint_yml
from support.tokenflood import run_tokenflood, write

pytestmark = [pytest.mark.llamacpp,
              pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]

PROMPTS = Path(__file__).parents[1] / "fixtures" / "profile" / "prompts"


@pytest.fixture(scope="module")
def llama():
    with LocalModelServer(LocalServerOptions(slots=2, ctx=4096)) as server:
        yield server


def usage_prompt_tokens(llama, text: str) -> int:
    """What the server counts for the prompt sent as it is (max_tokens 1)."""
    body = {"model": llama.model, "max_tokens": 1,
            "messages": [{"role": "user", "content": text}]}
    request = urllib.request.Request(f"{llama.base_url}/chat/completions",
                                     json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["usage"]["prompt_tokens"]


def test_the_profile_counts_as_llamacpp_does_and_its_suite_sends_those_lengths(tmp_path, llama):
    write(tmp_path / "endpoint.yml", endpoint_yml(llama.base_url, model=llama.model))
    done = run_tokenflood("profile", str(PROMPTS), "--endpoint", "endpoint.yml", "--out",
                          "run.yml", cwd=tmp_path, timeout=240)
    assert done.code == 0, done.stderr
    assert "zqxcanary" not in done.stdout + done.stderr + (tmp_path / "run.yml").read_text()
    # the server's own count of each real prompt, chat template included
    served = [usage_prompt_tokens(llama, p.read_text()) for p in sorted(PROMPTS.iterdir())]
    row = next(line for line in done.stdout.splitlines() if line.startswith("prompt tokens "))
    printed = [int(x.replace(",", "")) for x in row.split()[2:]]   # n mean min p10 … p99 max
    expected = [len(served), round(float(np.mean(served))), min(served),
                *[round(float(np.percentile(served, p))) for p in QUANTILES], max(served)]
    # exactly: /tokenize for the text and the chat template's +30 measured by probes (measured:
    # the 12 counts equal the server's usage one by one, 62 to 335 tokens)
    assert printed == expected, (printed, served)
    suite = load_run_suite(tmp_path / "run.yml")
    lengths = [t.prompt_length for t in suite.load_types]
    assert lengths == [round(float(np.percentile(served, p))) for p in QUANTILES], served
    # a brief run of the suite as written, but for the rate, the length and the placeholder
    # outputs (8 tokens, not 100: one CPU thread)
    text = (tmp_path / "run.yml").read_text()
    text = re.sub(r"requests_per_second_rates: \[.*\]", "requests_per_second_rates: [0.75]", text)
    text = re.sub(r"test_length_in_seconds: \d+", "test_length_in_seconds: 8", text)
    write(tmp_path / "run.yml", text.replace("output_length: 100", "output_length: 8"))
    run = run_tokenflood("run", "run.yml", "endpoint.yml", "--headless", "--yes", cwd=tmp_path,
                         timeout=300)
    assert run.code == 0, run.stderr
    with open(run.folder() / "requests.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 6 and all(r["status"] == "ok" for r in table)
    for r in table:
        target = lengths[int(r["load_type"])]
        assert abs(int(r["prompt_tokens"]) - target) <= 0.02 * target, (r["load_type"], target)
