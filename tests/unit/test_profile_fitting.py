"""`tokenflood profile`'s parts: reading (formats guessed, bad input named by file and line),
shared prefixes, and the fitting (the written suite's percentiles are the data's)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from tokenflood_tui.errors import ConfigError
from tokenflood_tui.profile.count import (CountedRequest, CountedSession, Counting, Profile,
                                          count_traffic, shared_prefixes)
from tokenflood_tui.profile.fitting import (DRAWS, QUANTILES, fit_amount, fit_load_types,
                                            fit_session_type, percentiles)
from tokenflood_tui.profile.read import Message, Traffic, read_traffic
from tokenflood_tui.profile.suite import build_suite
from tokenflood_tui.run import budget
from tokenflood_tui.run.plan import LoadTestPlanner
from tokenflood_tui.run.prompts import SessionTemplate
from tokenflood_tui.simulator.tokenizer import count_tokens
from tokenflood_tui.specs import LoadTestSuite, parse_endpoint, parse_run_suite
from tokenflood_tui.specs.sessions import draw_counts

FIXTURES = Path(__file__).parents[1] / "fixtures" / "profile"
CANARY = "zqxcanary"
# the fixture prompts' words (tests/fixtures/profile/prompts, one token each on the simulator)
PROMPT_WORDS = [30, 40, 55, 70, 90, 110, 130, 150, 180, 210, 250, 300]


class SimulatorCounter:
    """The simulator's tokenizer (a word or a punctuation mark is a token), as a counter."""

    name = "simulator tokenizer"

    async def count(self, text: str) -> int:
        return count_tokens(text)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- reading ---------------------------------------------------------------------------------

def test_a_folder_of_text_prompts_is_read_as_one_prompt_per_file():
    traffic = read_traffic([FIXTURES / "prompts"], None)
    assert traffic.format == "text" and traffic.guessed
    assert [f.name for f in traffic.files] == [f"p{i:02d}.txt" for i in range(1, 13)]
    assert [count_tokens(c.messages[0].text) for c in traffic.conversations] == PROMPT_WORDS


def test_chat_jsonl_is_guessed_and_its_final_assistant_message_is_the_output():
    traffic = read_traffic([FIXTURES / "chats.jsonl"], None)
    assert traffic.format == "chat" and traffic.multi_turn
    assert [c.user_turns for c in traffic.conversations] == [1, 2, 2, 3, 3, 3, 4, 4, 2, 3]
    first = traffic.conversations[0]
    assert [m.role for m in first.messages] == ["system", "user"] and first.output
    assert first.source.endswith("chats.jsonl:1")


def test_an_openai_log_takes_the_servers_usage_and_the_batch_shape(tmp_path):
    lines = [{"model": "m", "messages": [{"role": "user", "content": "one two three"}],
              "max_tokens": 64},
             {"request": {"model": "m", "messages": [{"role": "user", "content": [
                 {"type": "text", "text": "four five"}, {"type": "image_url", "image_url": {}}]}]},
              "response": {"usage": {"prompt_tokens": 120, "completion_tokens": 33}}},
             {"custom_id": "a", "body": {"model": "m", "messages": [
                 {"role": "user", "content": "six"}]},
              "response": {"status_code": 200, "body": {"usage": {"prompt_tokens": 9,
                                                                  "completion_tokens": 4}}}}]
    path = write(tmp_path / "log.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    traffic = read_traffic([path], None)
    assert traffic.format == "openai-log" and not traffic.multi_turn
    a, b, c = traffic.conversations
    assert (a.usage_prompt_tokens, a.usage_output_tokens, a.max_tokens) == (None, None, 64)
    assert (b.usage_prompt_tokens, b.usage_output_tokens) == (120, 33)
    assert b.messages[0].text == "four five" and traffic.skipped_parts == 1
    assert (c.usage_prompt_tokens, c.usage_output_tokens) == (9, 4)


def secret_line() -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"{CANARY} hello"}]})


@pytest.mark.parametrize("content, fmt, expected", [
    (secret_line() + "\n" + secret_line() + "\n{\"messages\": [" + CANARY + "\n", "chat",
     r"x.jsonl:3: not valid JSON \(Expecting value at column 15\); give one JSON object per line"),
    (secret_line() + "\n[1, 2]\n", "chat", r"x.jsonl:2: a JSON list, not an object"),
    (json.dumps({"messages": [{"role": "system", "content": CANARY}]}) + "\n", "chat",
     r"x.jsonl:1: messages: no user message"),
    (json.dumps({"messages": [{"role": "user", "content": 7}]}) + "\n", "chat",
     r"x.jsonl:1: messages\[0\].content: a string or a list of parts is expected, not a int"),
    ("  \n\n", None, r"x.jsonl: an empty file \(no prompt in it\)"),
    (json.dumps({"text": CANARY}) + "\n", None, r"x.jsonl: an unknown format: its first object "
     r"has neither `messages` \(chat\) nor a request's keys .*; its keys: text$"),
    (json.dumps({"id": 1, f"{CANARY} what is": 2}) + "\n", None,
     r"x.jsonl: an unknown format: .*; its keys: id and 1 other\(s\)$"),
])
def test_bad_input_is_named_by_file_and_line_and_never_quoted(tmp_path, content, fmt, expected):
    path = write(tmp_path / "x.jsonl", content)
    with pytest.raises(ConfigError, match=expected) as caught:
        read_traffic([path], fmt)
    assert CANARY not in str(caught.value) and "\n" not in str(caught.value)


def test_a_byte_order_mark_does_not_hide_the_format(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + secret_line().encode() + b"\r\n")
    traffic = read_traffic([path], None)
    assert traffic.format == "chat" and traffic.conversations[0].messages[0].text.endswith("hello")


def test_files_of_two_formats_are_refused_without_format(tmp_path):
    write(tmp_path / "a.txt", "a prompt")
    write(tmp_path / "b.jsonl", secret_line())
    with pytest.raises(ConfigError, match=r"different formats: .*a.txt \(text\).*b.jsonl \(chat\)"):
        read_traffic([tmp_path / "a.txt", tmp_path / "b.jsonl"], None)
    # with --format text both are prompts
    assert len(read_traffic([tmp_path / "a.txt", tmp_path / "b.jsonl"], "text").conversations) == 2


def test_a_binary_file_and_a_missing_one_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a text file"):
        read_traffic([write(tmp_path / "x.bin", "a\x00b")], None)
    with pytest.raises(ConfigError, match="no such file or folder"):
        read_traffic([tmp_path / "nothing.txt"], None)


# --- counting --------------------------------------------------------------------------------

def test_the_shared_prefix_is_the_longest_start_shared_with_another_prompt():
    counting = Counting(SimulatorCounter())
    system = Message("system", "you are a helpful bot that answers in short words")   # 10
    prompts = [[system, Message("user", "alpha beta gamma delta")],
               [system, Message("user", "alpha beta omega")],
               [system, Message("user", "zeta")],
               [Message("user", "nothing shared here")]]
    # the partial message is cut at its last space before the difference: 'alpha beta'
    assert asyncio.run(shared_prefixes(prompts, counting)) == [12, 12, 10, 0]


def test_a_conversation_counts_each_turn_with_the_template_and_its_history():
    traffic = read_traffic([FIXTURES / "chats.jsonl"], None)
    template = {True: SessionTemplate(first=11, turn=8, tool=0)}     # the simulator's
    profile = asyncio.run(count_traffic(traffic, SimulatorCounter(), template, "given"))
    assert len(profile.sessions) == 10 and len(profile.requests) == 27
    for conversation, session in zip(traffic.conversations, profile.sessions, strict=True):
        messages = conversation.messages
        assert session.system == count_tokens(messages[0].text) == 24
        users = [i for i, m in enumerate(messages) if m.role == "user"]
        for k, i in enumerate(users):
            # as the simulator counts it: 4 tokens a message and 3 for the reply's priming
            expected = sum(count_tokens(m.text) for m in messages[:i + 1]) + 4 * (i + 1) + 3
            assert session.prompts[k] == expected
    # every conversation shares the 24-token system prompt; a later turn its history as well
    assert min(r.prefix for r in profile.requests) == 24
    assert all(s.shared_system == 24 for s in profile.sessions)


# --- fitting ---------------------------------------------------------------------------------

def text_traffic() -> Traffic:
    return Traffic("text", False, [], [Path("data/prompts.txt")])


def profile_of(prompts: np.ndarray, prefixes: np.ndarray, outputs: np.ndarray) -> Profile:
    requests = [CountedRequest(int(p), int(x), int(o))
                for p, x, o in zip(prompts, prefixes, outputs, strict=True)]
    return Profile(text_traffic(), "test", {False: SessionTemplate(7, 8, 0)},
                   "given", requests, [], "data")


def test_load_types_put_the_suites_percentiles_on_the_datas():
    rng = np.random.default_rng(5)
    prompts = np.rint(rng.lognormal(np.log(800), 0.9, 3000)).astype(int) + 20
    prefixes = np.where(prompts > 900, 500, 0)          # the long ones share a system prompt
    outputs = np.rint(rng.uniform(50, 400, 3000)).astype(int)
    fit = fit_load_types(profile_of(prompts, prefixes, outputs))
    # a grid of 6 prompt lengths by 6 outputs (independent here: every cell has requests)
    assert len(fit.load_types) == len(QUANTILES) ** 2
    assert sum(t.weight for t in fit.load_types) == pytest.approx(1.0, abs=1e-3)
    # the suite as the planner draws it: load types by weight
    weights = np.array([t.weight for t in fit.load_types])
    kinds = np.random.default_rng(11).choice(len(weights), DRAWS, p=weights / weights.sum())
    for key, data in (("prompt_length", prompts), ("output_length", outputs)):
        drawn = np.array([getattr(t, key) for t in fit.load_types])[kinds]
        for d, s in zip(percentiles(data), percentiles(drawn), strict=True):
            assert abs(d - s) <= 1, (key, d, s)
    rows = {r.name: r for r in fit.rows}
    assert rows["prompt tokens"].worst <= 1 and rows["output tokens"].worst <= 1
    # prefixes: the shortest types share nothing, the longest the 500 tokens, and the suite's
    # requests share as many tokens in all as the data's (a bucket astride 900 shares some)
    by_length = sorted(fit.load_types, key=lambda t: t.prompt_length)
    assert by_length[0].prefix_length == 0 and by_length[-1].prefix_length == 500
    shared = sum(t.prefix_length * t.weight for t in fit.load_types)
    assert abs(shared - prefixes.mean()) < 0.03 * prefixes.mean(), (shared, prefixes.mean())
    assert rows["shared prefix"].suite_mean == pytest.approx(shared, rel=0.05)


def test_the_grid_keeps_how_prompt_and_output_lengths_go_together():
    # long prompts get short answers, short prompts long ones (retrieval beside chat)
    rng = np.random.default_rng(6)
    short = rng.random(1000) < 0.5
    prompts = np.where(short, rng.integers(50, 150, 1000), rng.integers(3000, 5000, 1000))
    outputs = np.where(short, rng.integers(400, 800, 1000), rng.integers(10, 40, 1000))
    fit = fit_load_types(profile_of(prompts, np.zeros(1000, int), outputs))
    def mean_output(types):
        return sum(t.output_length * t.weight for t in types) / sum(t.weight for t in types)

    short_types = [t for t in fit.load_types if t.prompt_length < 1000]
    long_types = [t for t in fit.load_types if t.prompt_length >= 1000]
    # data: 600 and 25. The grid's middle buckets straddle the gap between the two modes (the
    # data's p50 is at its edge), which blurs them, but the suite keeps the two kinds apart
    assert mean_output(short_types) > 4 * mean_output(long_types)
    # the output tokens in all: the data's p50 falls in the gap between the modes, so the
    # suite's mean is lower (its percentiles are the data's); the fit says by how much
    output_row = next(r for r in fit.rows if r.name == "output tokens")
    assert output_row.data_mean == pytest.approx(outputs.mean())
    assert output_row.suite_mean == pytest.approx(mean_output(fit.load_types), rel=0.03)
    assert abs(output_row.suite_mean - output_row.data_mean) < 0.2 * output_row.data_mean


def test_a_prefix_never_leaves_a_load_type_without_a_unique_part():
    prompts = np.array([30, 31, 32, 33])
    fit = fit_load_types(profile_of(prompts, prompts - 1, prompts))
    for t in fit.load_types:       # the template's 7 tokens and one unique token fit
        assert t.prompt_length - t.prefix_length >= 8


@pytest.mark.parametrize("name, values, dist", [
    ("lognormal", np.rint(np.random.default_rng(1).lognormal(np.log(300), 0.8, 2000)) + 1,
     "lognormal"),
    ("uniform", np.rint(np.random.default_rng(2).uniform(20, 60, 2000)), "uniform"),
    ("constant", np.full(40, 77), "constant"),
])
def test_amounts_are_fitted_with_percentiles_close_to_the_datas(name, values, dist):
    amount = fit_amount([int(v) for v in values], least=1)
    assert amount.dist == dist
    drawn = draw_counts(amount, np.random.default_rng(3), DRAWS, 1)
    data_p, suite_p = percentiles(values), percentiles(drawn)
    for p, d, s in zip(QUANTILES, data_p, suite_p, strict=True):
        tolerance = 0.12 * d if p == 99 else 0.06 * d + 2     # a lognormal's tail is loose
        assert abs(d - s) <= tolerance, (name, p, d, s)


def test_a_session_type_reproduces_the_conversations():
    rng = np.random.default_rng(9)
    sessions = []
    for _ in range(400):
        turns = int(rng.integers(1, 7))
        sessions.append(CountedSession(300, 300, [int(x) for x in rng.integers(20, 120, turns)],
                                       [int(x) for x in rng.integers(50, 400, turns)], []))
    template = SessionTemplate(11, 8, 0)
    for s in sessions:
        history = s.system + template.first
        for k, u in enumerate(s.users):
            history += u + (template.turn + s.outputs[k - 1] if k else 0)
            s.prompts.append(history)
    requests = [CountedRequest(p, 300, o) for s in sessions
                for p, o in zip(s.prompts, s.outputs, strict=True)]
    profile = Profile(Traffic("chat", False, [], [Path("chats.jsonl")]), "test",
                      {True: template}, "given", requests, sessions, "data")
    fit = fit_session_type(profile, "chat")
    t = fit.session_type
    assert t.system_prompt_tokens == 300 and t.context_tokens.high == 0
    # 1 to 6 turns, as many conversations of each: a uniform half a turn wider each side
    assert (t.turns.dist, t.turns.low, t.turns.high) == ("uniform", 0.5, 6.5)
    turns = draw_counts(t.turns, np.random.default_rng(0), DRAWS, 1)
    assert np.allclose(np.bincount(turns, minlength=7)[1:] / DRAWS, 1 / 6, atol=0.02)
    rows = {r.name: r for r in fit.rows}
    assert rows["user tokens"].worst <= 6 and rows["output tokens"].worst <= 20
    prompts = rows["prompt tokens"]          # what the fitted sessions' requests would send
    for d, s in zip(prompts.data[:5], prompts.suite[:5], strict=True):
        assert abs(d - s) <= 0.1 * d, prompts


def test_the_written_suite_loads_and_passes_the_budget_check():
    rng = np.random.default_rng(4)
    prompts = np.rint(rng.lognormal(np.log(4000), 0.6, 500)).astype(int)
    profile = profile_of(prompts, np.zeros(500, int), np.full(500, 300))
    _, text = build_suite(profile, fit_load_types(profile), "profile-x", None)
    assert text.startswith("# Fitted by `tokenflood profile` on ")
    assert "#   data/prompts.txt" in text and "p50 " in text
    suite = parse_run_suite(text, "run.yml")
    assert isinstance(suite, LoadTestSuite)
    endpoint = parse_endpoint("provider: hosted_vllm\nmodel: m\nbase_url: http://127.0.0.1:8/v1\n")
    _, est = budget.plan_and_estimate(suite, endpoint, lambda: LoadTestPlanner(suite))
    assert est.over_limits == []
    # 300 output tokens at 1 req/s: 60 s would send 18,000, over the 10,000 default: shortened
    assert suite.test_length_in_seconds < 60 and suite.requests_per_second_rates == [1.0]


def test_a_logged_requests_usage_stands_for_its_counts_and_max_tokens_for_no_usage(tmp_path):
    lines = [{"model": "m", "messages": [{"role": "user", "content": "one two three four"}],
              "max_tokens": 64},
             {"model": "m", "messages": [{"role": "user", "content": "one two three five"}],
              "usage": {"prompt_tokens": 40, "completion_tokens": 12}}]
    path = write(tmp_path / "log.jsonl", "\n".join(json.dumps(x) for x in lines))
    traffic = read_traffic([path], None)
    template = {False: SessionTemplate(first=7, turn=8, tool=0)}
    said: list[str] = []
    profile = asyncio.run(count_traffic(traffic, SimulatorCounter(), template, "given",
                                        said.append))
    assert said == ["counting 2 distinct texts with simulator tokenizer"]
    counted, logged = profile.requests
    assert (counted.prompt, counted.output) == (4 + 7, 64)    # words and template; max_tokens
    assert (logged.prompt, logged.output) == (40, 12)          # the server's usage
    assert counted.prefix == logged.prefix == 3                # 'one two three'
    assert profile.output_source == "usage"
