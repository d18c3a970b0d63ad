"""`tokenflood profile` against the simulator's /tokenize and chat template (a word is a token; 4
tokens a message and 3 for the reply's priming): the fixtures' known counts printed and fitted, the
written suites run, their requests of the profiled lengths, `--compare`, bad input, and never a
word of the prompts in any output."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from tokenflood_tui.profile.fitting import QUANTILES
from tokenflood_tui.specs import load_run_suite

from support.specs import endpoint_yml
from support.tokenflood import run_tokenflood, write

FIXTURES = Path(__file__).parents[1] / "fixtures" / "profile"
CANARY = "zqxcanary"          # the first word of the fixtures' shared prefix and system prompt
PROMPT_WORDS = [30, 40, 55, 70, 90, 110, 130, 150, 180, 210, 250, 300]
TEMPLATE = 7                  # one user message on the simulator: 4 + 3
PROMPT_TOKENS = [w + TEMPLATE for w in PROMPT_WORDS]


def no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text


def rows(folder: Path) -> list[dict]:
    with open(folder / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def shorten(path: Path, rate_key: str, rate: float, seconds: float) -> None:
    """The written suite with a rate and length of the test's (the rest as written)."""
    text = path.read_text()
    text = re.sub(rf"{rate_key}: \[.*\]", f"{rate_key}: [{rate}]", text)
    text = re.sub(r"test_length_in_seconds: \d+", f"test_length_in_seconds: {seconds}", text)
    path.write_text(text)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory, sim):
    """The folder of text prompts profiled, the suite written and run for 3 s at 4 req/s."""
    cwd = tmp_path_factory.mktemp("prompts")
    write(cwd / "endpoint.yml", endpoint_yml(sim.base_url))
    done = run_tokenflood("profile", str(FIXTURES / "prompts"), "--endpoint", "endpoint.yml",
                          "--out", "run.yml", cwd=cwd)
    assert done.code == 0, done.stderr
    written = (cwd / "run.yml").read_text()
    shorten(cwd / "run.yml", "requests_per_second_rates", 4, 3)
    run = run_tokenflood("run", "run.yml", "endpoint.yml", "--headless", "--yes", cwd=cwd)
    assert run.code == 0, run.stderr
    return cwd, done, written, run


def test_the_prompts_are_counted_with_the_servers_tokenizer_and_template(prompts):
    _, done, written, _ = prompts
    assert "read 12 files as text (guessed from their content" in done.stderr
    out = done.stdout
    assert "profile of 12 requests (text) from" in out
    assert "tokens: server /tokenize; chat template +7 tokens a request (measured on the " \
           "endpoint)" in out.replace("\n", " ")
    data = np.array(PROMPT_TOKENS)
    expected = [f"{round(float(np.percentile(data, p))):,}" for p in QUANTILES]
    row = next(line for line in out.splitlines() if line.startswith("prompt tokens "))
    # n mean min p10 p25 p50 p75 p90 p99 max, at 80 columns
    assert row.split()[2:] == ["12", f"{round(data.mean()):,}", "37", *expected, "307"], row
    prefix = next(line for line in out.splitlines() if line.startswith("shared prefix "))
    # six prompts share a 50-word start, the other six nothing
    assert prefix.split()[2:5] == ["12", "25", "0"] and prefix.split()[-1] == "50"
    assert "output tokens 100 is a placeholder" in out
    no_canary(done.stdout, done.stderr, written)


def test_the_written_suite_puts_its_percentiles_on_the_datas(prompts):
    cwd, _, written, _ = prompts
    header = [line for line in written.splitlines() if line.startswith("#")]
    assert header[0].startswith("# Fitted by `tokenflood profile` on ")
    assert "from 12 requests, format text, in:" in header[0]
    assert any(line.endswith("prompts/ (12 files)") for line in header)
    fit = next(line for line in header if line.startswith("#   prompt tokens"))
    pairs = re.findall(r"p\d+ (\d+)/(\d+)", fit)
    assert len(pairs) == len(QUANTILES) and all(d == s for d, s in pairs), fit
    suite = load_run_suite(cwd / "run.yml")
    lengths = [t.prompt_length for t in suite.load_types]
    assert lengths == [round(float(np.percentile(PROMPT_TOKENS, p))) for p in QUANTILES]
    assert lengths[0] < lengths[-1]
    # each bucket's mean shared prefix: the middle one holds p05 and p06 (nothing shared) and
    # p07 (50 shared)
    assert [t.prefix_length for t in suite.load_types] == [0, 0, 17, 50, 50, 50]
    assert [t.weight for t in suite.load_types] == [0.175, 0.2, 0.25, 0.2, 0.12, 0.055]


def test_a_run_of_the_suite_sends_the_profiled_lengths_and_compares_with_the_profile(prompts):
    cwd, _, _, run = prompts
    suite = load_run_suite(cwd / "run.yml")
    table = rows(run.folder())
    assert len(table) == 12 and all(r["status"] == "ok" for r in table)
    for r in table:       # the simulator counts exactly: every prompt its type's length
        assert int(r["prompt_tokens"]) == suite.load_types[int(r["load_type"])].prompt_length
        assert int(r["output_tokens"]) == 100
    done = run_tokenflood("profile", str(FIXTURES / "prompts"), "--endpoint", "endpoint.yml",
                          "--compare", str(run.folder()), cwd=cwd)
    assert done.code == 0, done.stderr
    out = done.stdout.split("compared with ", 1)[1]
    assert out.startswith(f"{run.folder()}: 12 ok requests sent, 12 in the data")
    buckets = [line.split() for line in out.splitlines() if re.match(r"(< |>= |\d+-)", line)]
    assert len(buckets) == 4
    assert [b[-6] if b[0] in ("<", ">=") else b[1] for b in buckets] == ["25%"] * 4   # the data's
    sent = sorted(int(r["prompt_tokens"]) for r in table)
    overall = [line for line in out.splitlines() if line.startswith("prompt tokens")][-1]
    p50 = overall.split()[4]
    assert p50 == f"{round(float(np.percentile(PROMPT_TOKENS, 50)))}/" \
                  f"{round(float(np.percentile(sent, 50)))}"
    no_canary(done.stdout, done.stderr)


@pytest.fixture(scope="module")
def chats(tmp_path_factory, sim):
    """The chat fixture profiled into a session suite, run for 2 s at 2 sessions/s."""
    cwd = tmp_path_factory.mktemp("chats")
    write(cwd / "endpoint.yml", endpoint_yml(sim.base_url))
    done = run_tokenflood("profile", str(FIXTURES / "chats.jsonl"), "--endpoint", "endpoint.yml",
                          "--out", "chats.yml", cwd=cwd)
    assert done.code == 0, done.stderr
    written = (cwd / "chats.yml").read_text()
    shorten(cwd / "chats.yml", "sessions_per_second_rates", 2, 2)
    run = run_tokenflood("run", "chats.yml", "endpoint.yml", "--headless", "--yes", cwd=cwd)
    assert run.code == 0, run.stderr
    return cwd, done, written, run


def test_conversations_become_a_session_type(chats):
    cwd, done, written, run = chats
    out = done.stdout
    assert "profile of 10 conversations, 27 turns (chat)" in out
    assert "chat template +11 tokens a first turn with a system prompt, +8 a later one" in \
        out.replace("\n", " ")
    turns = next(line for line in out.splitlines() if line.startswith("turns per conversation"))
    assert turns.split()[3:6] == ["10", "3", "1"] and turns.split()[-1] == "4"
    growth = out.split("context by turn", 1)[1].splitlines()
    assert [line.split()[:2] for line in growth[3:7]] == [["1", "10"], ["2", "9"], ["3", "6"],
                                                          ["4", "2"]]
    suite = load_run_suite(cwd / "chats.yml")
    (kind,) = suite.session_types
    assert kind.system_prompt_tokens == 24 and kind.context_tokens.high == 0
    assert (kind.turns.low, kind.turns.high) == (1, 4)
    assert (kind.user_tokens.low, kind.user_tokens.high) == (10, 40)
    assert (kind.output_tokens.low, kind.output_tokens.high) == (20, 60)
    assert "history: echo" in written and "think_seconds: not in the data" in written
    no_canary(done.stdout, done.stderr, written)
    # the run: each first turn sends the 24-token system prompt, a user message of 10 to 40
    # tokens and the template's 11
    table = [r for r in rows(run.folder()) if r["status"] == "ok"]
    assert table and all(int(r["prompt_tokens"]) == int(r["prompt_tokens_target"])
                         for r in table)
    firsts = [int(r["prompt_tokens"]) for r in table if r["turn"] == "1"]
    assert len(firsts) == 4 and all(24 + 10 + 11 <= p <= 24 + 40 + 11 for p in firsts)
    # the run's turns against the conversations' turns
    compared = run_tokenflood("profile", str(FIXTURES / "chats.jsonl"), "--endpoint",
                              "endpoint.yml", "--compare", str(run.folder()), cwd=cwd)
    assert compared.code == 0, compared.stderr
    out = compared.stdout.split("compared with ", 1)[1]
    assert out.startswith(f"{run.folder()}: {len(table)} ok requests sent, 27 in the data")
    no_canary(compared.stdout, compared.stderr)


def test_bad_input_is_one_line_exit_2_without_the_text(tmp_path, sim):
    write(tmp_path / "endpoint.yml", endpoint_yml(sim.base_url))
    good = (FIXTURES / "chats.jsonl").read_text().splitlines()[0]
    write(tmp_path / "bad.jsonl", good + "\n" + good[:-9] + "\n")
    write(tmp_path / "empty.txt", "")
    cases = [
        (["bad.jsonl", "--endpoint", "endpoint.yml"], "bad.jsonl:2: not valid JSON"),
        (["empty.txt", "--endpoint", "endpoint.yml"], "empty.txt: an empty file"),
        (["bad.jsonl"], "profile needs a tokenizer: --endpoint ENDPOINT.yml"),
        (["bad.jsonl", "--format", "csv", "--endpoint", "endpoint.yml"], "--format: invalid choice"),
        (["empty.txt", "--endpoint", "endpoint.yml", "--out", "endpoint.yml"],
         "endpoint.yml already exists; pass --force to overwrite it"),
    ]
    for args, message in cases:
        done = run_tokenflood("profile", *args, cwd=tmp_path)
        assert done.code == 2, (args, done.stderr)
        # one line (argparse's own errors: after its usage lines, as for every command)
        last = done.stderr.strip().splitlines()[-1]
        assert message in last and "Traceback" not in done.stderr and done.stdout == ""
        assert last.startswith("tokenflood profile: error: " if "invalid" in message
                               else "tokenflood: error: ")
        no_canary(done.stderr)


def test_an_offline_tokenizer_counts_without_a_template(tmp_path):
    done = run_tokenflood("profile", str(FIXTURES / "prompts"), "--tokenizer", "gpt-4o",
                          cwd=tmp_path, timeout=180)
    assert done.code == 0, done.stderr
    heading = " ".join(done.stdout.split("\n\n", 1)[0].split())
    assert "tokens: litellm.token_counter(gpt-4o); chat template not counted (--tokenizer" in heading
    row = next(line for line in done.stdout.splitlines() if line.startswith("prompt tokens "))
    # common English words, mostly one token each in tiktoken's encodings, and a newline
    least, most = int(row.split()[4]), int(row.split()[-1])
    assert 30 < least <= 34 and 300 < most <= 320, row
    no_canary(done.stdout, done.stderr)
