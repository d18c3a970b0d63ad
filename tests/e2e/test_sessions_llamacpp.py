"""Chat sessions against a real llama.cpp server with SmolLM2-135M (its prompt cache and
`cached_tokens`): every turn's prompt is the previous one plus its reply plus the new user message
plus the chat template's overhead, the cache serves the history from turn 2 on, and think times
hold. One run with `history: echo` (synthetic replies: exact) and one with `history: live` (the
model's own replies), shared by the tests of this module."""

from __future__ import annotations

import csv
import json
import urllib.request
from itertools import pairwise

import numpy as np
import pytest

from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
from tokenflood_tui.demo.localserver.protocol import unavailable_reason

from support.tokenflood import run_tokenflood, write

pytestmark = [pytest.mark.llamacpp,
              pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))]

# A short shared system prompt and a longer context of each session's own: llama.cpp gives a new
# request the idle slot whose prompt shares the most with it, if they share more than half
# (`slot_prompt_similarity`); with a long shared system prompt a new session takes the slot of
# another one thinking between turns, and that one's next turn finds its history gone (measured:
# a 64-token system prompt, 32-token messages: a third of the second turns cached only the
# system prompt). Sharing less than half, each of the 4 sessions keeps a slot of its own.
SYSTEM, CONTEXT, USER, OUTPUT, THINK, TURNS = 16, 64, 32, 16, 1.0, 4
SUITE = f"""\
name: chats-{{history}}
sessions_per_second_rates: [0.5]
test_length_in_seconds: 8
arrival: constant
history: {{history}}
ramp_seconds: 0
request_timeout_seconds: 60
session_types:
- {{{{name: chat, system_prompt_tokens: {SYSTEM}, context_tokens: {CONTEXT}, turns: {TURNS},
   user_tokens: {USER}, output_tokens: {OUTPUT}, think_seconds: {THINK}}}}}
"""


@pytest.fixture(scope="module")
def llama():
    # 8 slots for 4 sessions: a session's next turn finds the slot that served its last one
    # idle, and a new session takes the least recently used slot, one the warm-up and the
    # calibration used (with 4, a busy machine's timing once gave a thinking session's slot
    # to a new one: its next turn had 3 of 142 tokens cached)
    with LocalModelServer(LocalServerOptions(slots=8, ctx=8192)) as server:
        yield server


def run(tmp_path_factory, llama, history: str):
    cwd = tmp_path_factory.mktemp(history)
    write(cwd / "run.yml", SUITE.format(history=history))
    write(cwd / "endpoint.yml",
          f"provider: hosted_vllm\nmodel: {llama.model}\nbase_url: {llama.base_url}\n")
    done = run_tokenflood("run", "run.yml", "endpoint.yml", "--yes", "--headless", cwd=cwd,
                          timeout=300)
    assert done.code == 0, done.stderr
    with open(done.folder() / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * TURNS and all(r["status"] == "ok" for r in rows), rows
    sessions: dict[str, list[dict]] = {}
    for r in rows:
        sessions.setdefault(r["session"], []).append(r)
    for turns in sessions.values():
        turns.sort(key=lambda r: int(r["turn"]))
        assert [int(r["turn"]) for r in turns] == list(range(1, TURNS + 1))
    return done, sessions


@pytest.fixture(scope="module")
def echo(tmp_path_factory, llama):
    return run(tmp_path_factory, llama, "echo")


@pytest.fixture(scope="module")
def live(tmp_path_factory, llama):
    return run(tmp_path_factory, llama, "live")


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def turn_overhead(llama) -> int:
    """The tokens SmolLM2's chat template adds for one more turn (the reply's end, the user
    message's markers, the assistant's start), measured on the server itself: the templated
    conversation with one more turn, less the one without, less the reply's and the message's
    own tokens."""
    root = llama.base_url.removesuffix("/v1")

    def tokens(text: str) -> int:
        return len(post(root + "/tokenize", {"content": text})["tokens"])

    def templated(messages: list[dict]) -> int:
        return tokens(post(root + "/apply-template", {"messages": messages})["prompt"])

    one = [{"role": "system", "content": " A B C"}, {"role": "user", "content": " D E"}]
    two = one + [{"role": "assistant", "content": " F G H"}, {"role": "user", "content": " I J"}]
    return templated(two) - templated(one) - tokens(" F G H") - tokens(" I J")


def test_each_turn_sends_the_previous_one_its_reply_the_new_message_and_the_template(echo, llama):
    _, sessions = echo
    overhead = turn_overhead(llama)
    assert 3 <= overhead <= 12, overhead
    for turns in sessions.values():
        assert int(turns[0]["prompt_tokens"]) == int(turns[0]["prompt_tokens_target"])
        for before, now in pairwise(turns):
            assert int(before["output_tokens"]) == OUTPUT           # ignore_eos: max_tokens
            # echo: the reply re-sent is OUTPUT one-token words, so the server counts exactly
            assert int(now["prompt_tokens"]) == (int(before["prompt_tokens"]) + OUTPUT + USER
                                                 + overhead), (before, now)
            assert int(now["prompt_tokens"]) == int(now["prompt_tokens_target"])
            assert int(now["context_tokens_target"]) == (int(before["prompt_tokens"])
                                                         + int(before["output_tokens"]))


def test_the_prompt_cache_serves_the_history_from_turn_2(echo, live, llama):
    """llama.cpp keeps a slot's last prompt and the tokens it generated. A live history re-sends
    the model's reply as text, which the server mostly retokenises into the tokens it generated,
    so (nearly) the whole history is cached; an echo history re-sends synthetic words in place of
    the reply, so the cache holds the history up to the reply."""
    for (done, sessions), covered in ((echo, "prompt"), (live, "history")):
        for turns in sessions.values():
            for before, now in pairwise(turns):
                cached = int(now["cached_tokens"])
                # the last prompt whole (llama.cpp evaluates the last cached token again: at most
                # one less), and with a live history the reply as far as its text retokenises
                # into the tokens generated (4 short of the whole history once: 255 of 259)
                assert int(before["prompt_tokens"]) - 1 <= cached <= int(now["prompt_tokens"]), \
                    (covered, before, now)
        cache_hit = {t["turn"]: t["cache_hit"] for t in done.summary()["phases"][0]["turns"]}
        assert all(cache_hit[k] > (0.95 if covered == "history" else 0.75) for k in (2, 3, 4))


def test_think_times_hold(echo, live):
    """The next turn is sent the think time after the previous reply ended, never earlier."""
    late = []
    for _, sessions in (echo, live):
        for turns in sessions.values():
            for before, now in pairwise(turns):
                gap = float(now["t_send_s"]) - float(before["t_end_s"])
                assert gap >= THINK - 1e-6, (before, now)
                late.append(gap - THINK)
    # how late: the sender's own delay (the run's 6-decimal times), well under the think time
    # (median 10.0 ms beside a CPU hog and five other test processes)
    assert float(np.percentile(late, 50)) < 0.03 and max(late) < 0.1, late


def test_a_live_history_sends_the_models_own_reply(live, llama):
    """Live: the reply re-sent is the model's text, retokenised by the server; with ignore_eos
    SmolLM2 may go on past its end-of-text with tokens that have no text, so a re-sent reply can
    be shorter than the tokens it was generated as, and rarely a token or two longer (a word
    generated as one token retokenised as two: 17 of 16 once)."""
    _, sessions = live
    overhead = turn_overhead(llama)
    short, longer = [], []
    for turns in sessions.values():
        for before, now in pairwise(turns):
            grown = int(now["prompt_tokens"]) - int(before["prompt_tokens"]) - USER - overhead
            output = int(before["output_tokens"])
            assert 0 <= grown <= output + 2, (before, now)
            short.append(max(0, output - grown))
            longer.append(max(0, grown - output))
    # the target assumes the whole reply as generated: off by what the text lost or gained
    for turns in sessions.values():
        for now in turns[1:]:
            off = int(now["prompt_tokens_target"]) - int(now["prompt_tokens"])
            assert -sum(longer) <= off <= sum(short), (off, short, longer)
