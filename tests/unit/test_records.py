"""The one rule that stamps a streamed response, on the request record itself.

Both clients only tell the record what arrived when (`stamp_chunk`) and how the stream ended
(`stamp_end`); these tests pin the rule down without a client: TTFT at the first chunk with text,
ITL between the later ones, tokens from the server's usage or counted and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tokenflood_tui.metrics.records import STREAM_ERROR, RequestRecord

T0 = 1000.0     # t_send, in time.monotonic() seconds


def record() -> RequestRecord:
    rec = RequestRecord(1, 10.0, 0, T0, 80, 0, 16)
    rec.t_send = T0
    return rec


def test_ttft_is_the_first_chunk_with_text_not_the_role_chunk():
    rec = record()
    rec.stamp_chunk(T0 + 0.010, None)                 # {"role": "assistant"}: no text at all
    rec.stamp_chunk(T0 + 0.020, "")                   # {"role": "assistant", "content": ""}
    rec.stamp_chunk(T0 + 0.030, None, "")             # an empty reasoning field
    assert rec.t_first is None and rec.ttft_ms is None and rec.content_chunks == 0
    rec.stamp_chunk(T0 + 0.250, "Once")
    rec.stamp_chunk(T0 + 0.260, " upon")
    assert rec.ttft_ms == pytest.approx(250.0)
    assert rec.content_chunks == 2


def test_whitespace_is_a_token():
    # A model's first token is often "\n\n" or " ": the server produced and sent it, so it is the
    # first token (as the code has always counted it); only an empty string is no token.
    rec = record()
    rec.stamp_chunk(T0 + 0.1, "\n\n")
    rec.stamp_chunk(T0 + 0.2, " ")
    assert rec.ttft_ms == pytest.approx(100.0) and rec.content_chunks == 2


def test_text_as_sent_on_the_wire_follows_the_same_rule():
    # The built-in client hands over the JSON string's bytes without decoding them.
    rec = record()
    rec.stamp_chunk(T0 + 0.1, b"")
    assert rec.t_first is None
    rec.stamp_chunk(T0 + 0.2, b"\\n")
    assert rec.ttft_ms == pytest.approx(200.0)


@pytest.mark.parametrize("answer, reasoning", [(None, "Let me think"), ("", "Hmm"),
                                               ([{"index": 0}], None)])
def test_reasoning_and_tool_calls_count_as_the_first_token(answer, reasoning):
    # TTFT is the first token of any channel: the server's queue ended there.
    rec = record()
    rec.stamp_chunk(T0 + 0.3, answer, reasoning)
    assert rec.ttft_ms == pytest.approx(300.0) and rec.content_chunks == 1


def test_a_chunk_with_both_channels_is_one_chunk():
    rec = record()
    rec.stamp_chunk(T0 + 0.1, "Answer", "and its last thought")
    rec.stamp_chunk(T0 + 0.3, " more")
    assert rec.content_chunks == 2 and list(rec.itl_ms) == pytest.approx([200.0])


def test_itl_is_the_gap_between_chunks_with_text():
    rec = record()
    rec.stamp_chunk(T0 + 0.100, "a")
    rec.stamp_chunk(T0 + 0.112, "b")
    rec.stamp_chunk(T0 + 0.120, "")                    # no text: no gap ends here
    rec.stamp_chunk(T0 + 0.130, "c")
    rec.stamp_chunk(T0 + 0.175, None, "d")
    assert list(rec.itl_ms) == pytest.approx([12.0, 18.0, 45.0], abs=1e-3)
    assert rec.content_chunks == 4


def test_chunks_read_together_share_their_time():
    # A late read hands over several chunks at once: each is stamped with the read's time, so
    # the gaps inside the read are 0 and the one before it holds the whole wait.
    rec = record()
    rec.stamp_chunk(T0 + 0.1, "a")
    for text in ("b", "c", "d"):
        rec.stamp_chunk(T0 + 0.4, text)
    assert list(rec.itl_ms) == pytest.approx([300.0, 0.0, 0.0], abs=1e-3)
    assert rec.content_chunks == 4 and rec.ttft_ms == pytest.approx(100.0)


def stream(rec: RequestRecord, chunks: int, end: float, usage=None) -> RequestRecord:
    for k in range(chunks):
        rec.stamp_chunk(T0 + 0.1 + 0.01 * k, "tok")
    rec.stamp_end(end, usage)
    return rec


def test_tokens_come_from_the_servers_usage_with_cached_tokens():
    usage = {"prompt_tokens": 80, "completion_tokens": 16, "total_tokens": 96,
             "prompt_tokens_details": {"cached_tokens": 64}}
    rec = stream(record(), 12, T0 + 0.5, usage)      # 16 tokens in 12 chunks: usage wins
    assert (rec.prompt_tokens, rec.output_tokens, rec.cached_tokens) == (80, 16, 64)
    assert not rec.output_tokens_estimated
    assert rec.t_end == T0 + 0.5 and rec.e2e_ms == pytest.approx(500.0)
    assert rec.tpot_ms == pytest.approx((0.5 - 0.1) * 1000 / 15)


@pytest.mark.parametrize("details", [None, {}, {"cached_tokens": None}, "absent"])
def test_usage_without_cached_tokens_leaves_them_unknown(details):
    usage = {"prompt_tokens": 80, "completion_tokens": 16}
    if details != "absent":
        usage["prompt_tokens_details"] = details
    rec = stream(record(), 16, T0 + 0.5, usage)
    assert (rec.prompt_tokens, rec.output_tokens, rec.cached_tokens) == (80, 16, None)
    assert not rec.output_tokens_estimated


@dataclass
class Details:
    cached_tokens: int | None


@dataclass
class Usage:            # the shape of litellm's Usage: the same names, as attributes
    prompt_tokens: int | None
    completion_tokens: int | None
    prompt_tokens_details: Details | None = None


def test_usage_as_an_object_reads_as_the_dict():
    rec = stream(record(), 12, T0 + 0.5, Usage(80, 16, Details(48)))
    assert (rec.prompt_tokens, rec.output_tokens, rec.cached_tokens) == (80, 16, 48)
    rec = stream(record(), 12, T0 + 0.5, Usage(80, 16))
    assert (rec.prompt_tokens, rec.output_tokens, rec.cached_tokens) == (80, 16, None)
    assert not rec.output_tokens_estimated


def test_no_usage_counts_the_chunks_with_text_and_says_so():
    rec = record()
    rec.stamp_chunk(T0 + 0.05, None)                  # the role chunk is not counted
    rec = stream(rec, 7, T0 + 0.3)
    assert rec.output_tokens == 7 and rec.output_tokens_estimated
    assert rec.prompt_tokens is None and rec.cached_tokens is None


@pytest.mark.parametrize("usage", [{"prompt_tokens": 80}, {"prompt_tokens": 80, "completion_tokens": None},
                                   {"prompt_tokens": 80, "completion_tokens": "16"}, Usage(80, None)])
def test_usage_without_a_completion_count_is_estimated_too(usage):
    rec = stream(record(), 5, T0 + 0.3, usage)
    assert rec.prompt_tokens == 80
    assert rec.output_tokens == 5 and rec.output_tokens_estimated


def test_a_count_that_is_not_a_whole_number_is_not_taken():
    rec = stream(record(), 5, T0 + 0.3, {"prompt_tokens": True, "completion_tokens": 5.0,
                                         "prompt_tokens_details": {"cached_tokens": "3"}})
    assert (rec.prompt_tokens, rec.cached_tokens) == (None, None)
    assert rec.output_tokens == 5 and rec.output_tokens_estimated


def test_a_failed_request_gets_the_servers_usage_but_no_estimate():
    rec = record()
    rec.stamp_chunk(T0 + 0.1, "a")
    rec.fail(STREAM_ERROR, "IncompleteStream", "the stream ended before the response finished")
    rec.stamp_end(T0 + 0.2)
    assert rec.output_tokens is None and not rec.output_tokens_estimated
    billed = record()
    billed.fail(STREAM_ERROR, "IncompleteStream", "the stream ended before the response finished")
    billed.stamp_end(T0 + 0.2, {"prompt_tokens": 80, "completion_tokens": 3})
    assert (billed.prompt_tokens, billed.output_tokens) == (80, 3)   # spent, so counted
    assert billed.status == STREAM_ERROR and billed.t_end == T0 + 0.2
