"""A reasoning model's reply on the request record: TTFT at the first token of any channel, TTFA
at the first answer token, reasoning tokens from the usage or counted, no_answer."""

from __future__ import annotations

import pytest

from tokenflood_tui.metrics.records import NO_ANSWER, OK, RequestRecord, ThinkTags


def record(think: bool = False) -> RequestRecord:
    rec = RequestRecord(1, 1.0, 0, 10.0, 100, 0, 50)
    rec.t_send = 10.0
    rec.think = ThinkTags() if think else None
    return rec


def test_reasoning_then_an_answer_gives_ttft_ttfa_and_the_answers_own_gaps():
    rec = record()
    for i in range(5):                              # reasoning every 10 ms from 10.1 s
        rec.stamp_chunk(10.1 + i * 0.01, None, "hm")
    for i in range(4):                              # then the answer every 20 ms
        rec.stamp_chunk(10.2 + i * 0.02, "word", None)
    rec.stamp_end(10.3, {"prompt_tokens": 100, "completion_tokens": 9,
                         "completion_tokens_details": {"reasoning_tokens": 5}})
    assert rec.status == OK
    assert rec.ttft_ms == pytest.approx(100.0) and rec.ttfa_ms == pytest.approx(200.0)
    assert rec.reasoning_ms == pytest.approx(100.0)
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (5, False, 4)
    answer_gaps = list(rec.itl_ms[rec.answer_itl_from:])
    assert answer_gaps == pytest.approx([20.0, 20.0, 20.0], abs=1e-3)
    assert rec.answer_tpot_ms == pytest.approx((10.3 - 10.2) * 1000 / 3)


def test_without_usage_details_the_reasoning_chunks_are_counted_and_flagged():
    rec = record()
    rec.stamp_chunk(10.1, None, "a")
    rec.stamp_chunk(10.2, None, "b")
    rec.stamp_chunk(10.3, "c", None)
    rec.stamp_end(10.4, {"prompt_tokens": 100, "completion_tokens": 3})
    assert (rec.reasoning_tokens, rec.reasoning_tokens_estimated, rec.answer_tokens) == (2, True, 1)


def test_a_reply_that_reasons_through_max_tokens_without_answering_is_no_answer():
    rec = record()
    for i in range(50):
        rec.stamp_chunk(10.1 + i * 0.01, None, "hm")
    rec.stamp_end(10.7, {"prompt_tokens": 100, "completion_tokens": 50})
    assert rec.status == NO_ANSWER and not rec.ok and rec.ttfa_ms is None
    assert "50 of the 50 output tokens" in (rec.error_message or "")


def test_hidden_reasoning_counted_in_the_usage_only_and_no_content_is_no_answer():
    """OpenAI's o-series: no reasoning text, its tokens only in the usage."""
    rec = record()
    rec.stamp_end(10.5, {"prompt_tokens": 100, "completion_tokens": 50,
                         "completion_tokens_details": {"reasoning_tokens": 50}})
    assert rec.status == NO_ANSWER
    answered = record()
    answered.stamp_chunk(10.4, "Hi", None)
    answered.stamp_end(10.5, {"prompt_tokens": 100, "completion_tokens": 30,
                              "completion_tokens_details": {"reasoning_tokens": 29}})
    assert answered.ok and answered.ttft_ms == answered.ttfa_ms == pytest.approx(400.0)


def test_a_model_that_does_not_reason_has_ttfa_equal_to_ttft():
    rec = record()
    rec.stamp_chunk(10.05, "Hello", None)
    rec.stamp_chunk(10.06, " there", None)
    rec.stamp_end(10.1, {"prompt_tokens": 100, "completion_tokens": 2})
    assert rec.ok and rec.ttfa_ms == rec.ttft_ms and rec.reasoning_ms == 0.0
    assert rec.reasoning_tokens is None and rec.answer_tokens == 2


def test_think_tags_split_across_chunks_are_reasoning_and_the_tags_are_neither():
    rec = record(think=True)
    for t, text in [(10.1, "<th"), (10.11, "ink>Let"), (10.12, " me see</thi"),
                    (10.13, "nk>\n\n"), (10.2, "Four"), (10.21, " <think> is a word")]:
        rec.stamp_chunk(t, text, None)
    rec.stamp_end(10.3, {"prompt_tokens": 100, "completion_tokens": 8})
    assert rec.ttft_ms == pytest.approx(110.0)          # "Let": the first reasoning text
    assert rec.ttfa_ms == pytest.approx(200.0)          # "Four": "\n\n" after </think> waits
    assert rec.reasoning_chunks == 2 and rec.reasoning_tokens_estimated


def test_think_tags_read_the_bytes_of_the_json_string_as_the_built_in_client_hands_them():
    rec = record(think=True)
    rec.stamp_chunk(10.1, b"<think>\\u00e9t\\u00e9</think>", None)
    rec.stamp_chunk(10.2, rb'\"done\"', None)
    assert rec.t_first == 10.1 and rec.t_answer == 10.2
