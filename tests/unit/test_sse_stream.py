"""The built-in client's reading of a chat-completions event stream, from the bytes a server sends.

Most chunks are stamped from their bytes without json.loads (a regex finds the delta's text);
these tests hold that shortcut to what reading the whole chunk says, for every shape a server
sends, and check what the record is told and when.
"""

from __future__ import annotations

import json

import pytest

from tokenflood_tui.clients.openai_http import SseStream
from tokenflood_tui.metrics.records import RequestRecord

T0 = 500.0
HEAD = {"id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def sse(choices: list | None = None, **extra) -> bytes:
    chunk = {**HEAD, "choices": choices if choices is not None else [], **extra}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def choice(delta: dict, finish: str | None = None, **extra) -> dict:
    return {"index": 0, "delta": delta, "finish_reason": finish, **extra}


ROLE = sse([choice({"role": "assistant", "content": ""})])


def reader() -> SseStream:
    rec = RequestRecord(1, 1.0, 0, T0, 10, 0, 8)
    rec.t_send = T0
    stream = SseStream(rec, str)
    assert stream.feed(ROLE, T0 + 0.01)        # read in full: it carries the id
    assert rec.response_id == "chatcmpl-7" and rec.t_first is None
    return stream


# (name, chunk bytes): every shape the shortcut must read as json.loads would
SHAPES = [
    ("content", sse([choice({"content": " sit"})])),
    ("whitespace content", sse([choice({"content": "\n\n"})])),
    ("escaped quotes", sse([choice({"content": '"usage" "error"'})])),
    ("unicode escapes", sse([choice({"content": "é"})])),
    ("empty content", sse([choice({"content": ""})])),
    ("null content", sse([choice({"content": None})])),
    ("role again", sse([choice({"role": "assistant"})])),
    ("empty delta", sse([choice({})])),
    ("reasoning_content", sse([choice({"reasoning_content": "Hmm"})])),
    ("reasoning", sse([choice({"reasoning": "Hmm", "content": None})])),
    ("both names of reasoning", sse([choice({"reasoning": "Hm", "reasoning_content": "Hm"})])),
    ("reasoning and content", sse([choice({"reasoning": "so", "content": "Yes"})])),
    ("empty content then reasoning", sse([choice({"content": "", "reasoning_content": "x"})])),
    ("tool calls", sse([choice({"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]})])),
    ("empty tool calls", sse([choice({"tool_calls": []})])),
    ("content and finish", sse([choice({"content": "."}, "stop")])),
    ("finish", sse([choice({}, "length")])),
    ("content and usage", sse([choice({"content": "!"})],
                              usage={"prompt_tokens": 10, "completion_tokens": 8})),
    ("content, usage null", sse([choice({"content": "a"})], usage=None)),
    ("usage alone", sse([], usage={"prompt_tokens": 10, "completion_tokens": 8})),
    ("logprobs", sse([choice({"content": "b"}, logprobs={"content": [{"token": "b"}]})])),
    ("no spaces", sse([choice({"content": "c"})]).replace(b'": ', b'":').replace(b", ", b",")),
]


@pytest.mark.parametrize("data", [data for _, data in SHAPES], ids=[name for name, _ in SHAPES])
def test_each_chunk_shape_stamps_as_reading_it_in_full_says(data):
    chunk = json.loads(data.removeprefix(b"data: "))
    delta = chunk["choices"][0]["delta"] if chunk["choices"] else {}
    has_text = bool(delta.get("content") or delta.get("tool_calls")
                    or delta.get("reasoning_content") or delta.get("reasoning"))
    finishes = bool(chunk["choices"] and chunk["choices"][0]["finish_reason"])
    stream = reader()
    assert stream.feed(data, T0 + 0.2)
    rec = stream.rec
    assert rec.ok, rec.error_message
    assert rec.content_chunks == int(has_text)
    assert rec.t_first == (T0 + 0.2 if has_text else None)
    assert stream.finished == finishes
    assert stream.usage == chunk.get("usage")


def test_a_stream_as_the_simulator_sends_it():
    stream = reader()
    rec = stream.rec
    for k, word in enumerate((" Once", " upon", " a")):
        assert stream.feed(sse([choice({"content": word})]), T0 + 0.1 + 0.02 * k)
    end = (sse([choice({}, "length")]) + sse([], usage={"prompt_tokens": 10, "completion_tokens": 3})
           + b"data: [DONE]\n\n")
    assert not stream.feed(end, T0 + 0.2)          # [DONE]: nothing more wanted
    assert stream.done and stream.finished
    rec.stamp_end(stream.last_read, stream.usage)
    assert rec.ttft_ms == pytest.approx(100.0) and list(rec.itl_ms) == pytest.approx([20.0, 20.0])
    assert (rec.prompt_tokens, rec.output_tokens, rec.output_tokens_estimated) == (10, 3, False)
    assert rec.e2e_ms == pytest.approx(200.0)


def test_chunks_in_one_read_share_its_time_and_a_split_chunk_is_stamped_when_complete():
    stream = reader()
    rec = stream.rec
    together = b"".join(sse([choice({"content": w})]) for w in ("a", "b", "c"))
    stream.feed(together, T0 + 0.1)
    split = sse([choice({"content": "d"})])
    stream.feed(split[:30], T0 + 0.2)                # half a line: nothing arrived yet
    assert rec.content_chunks == 3
    stream.feed(split[30:], T0 + 0.25)
    assert rec.content_chunks == 4
    assert list(rec.itl_ms) == pytest.approx([0.0, 0.0, 150.0], abs=1e-3)


def test_an_error_chunk_mid_stream_fails_the_request_with_its_message():
    stream = reader()
    stream.feed(sse([choice({"content": "a"})]), T0 + 0.1)
    assert not stream.feed(b'data: {"error": {"message": "model overloaded"}}\n\n', T0 + 0.2)
    rec = stream.rec
    assert rec.status == "stream_error" and rec.error_message == "model overloaded"
    assert rec.t_end == T0 + 0.2


def test_a_malformed_chunk_fails_the_request_naming_it():
    stream = reader()
    assert not stream.feed(b'data: {"choices": [{"delta": {"content": "oops"\n\n', T0 + 0.1)
    rec = stream.rec
    assert rec.status == "stream_error" and "malformed" in rec.error_message
    assert rec.content_chunks == 0
