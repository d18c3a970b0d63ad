"""What stamping a streamed chunk costs the client, in ns per chunk.

Every token of every stream passes through this code, at hundreds of requests a second, on the
loop that times them: a few hundred ns more per chunk is CPU a worker no longer has for reading
sockets on time. Measured here, with no network (the bytes and objects a server would send are
built once up front), so the figures are the parsing and stamping alone:

  - the record's rule alone (`RequestRecord.stamp_chunk`), where the package has it;
  - built-in client, one chunk per read: the simulator's exact SSE bytes for one content chunk,
    fed to the stream reader as the HTTP protocol does (`SseStream.feed(data, now)`);
  - built-in client, 8 chunks per read: the same, as a late loop reads them in one go;
  - litellm client: `LitellmClient.send` over a stream of litellm's own chunk objects (role,
    content, finish, usage), per content chunk, the request's set-up and end spread over them;
    beside it the bare iteration over the same stream, so the difference is our share.

Times are this thread's CPU time, so the figures hold on a machine busy with other work (where
the wall clock would count the time others ran); each is the best of --rounds rounds.

    python benchmarks/stamping.py [--chunks 64] [--streams 2000] [--rounds 7]

Before and after a change, the package of another commit beside this one's:

    mkdir /tmp/before && git archive HEAD~1 tokenflood_tui | tar -x -C /tmp/before
    python benchmarks/stamping.py --tree /tmp/before; python benchmarks/stamping.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORDS = (" lorem", " ipsum", " dolor", " sit", " amet", ",", " consectetur", " adipiscing")


def sse_chunks(chunks: int) -> tuple[bytes, list[bytes], bytes]:
    """The simulator's role chunk, content chunks, and end (finish, usage, [DONE]), as bytes."""
    head = (b'data: {"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk",'
            b'"created":1796645577,"model":"sim-model","choices":[')
    role = head + b'{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}\n\n'
    content = [head + b'{"index":0,"delta":{"content":' + json.dumps(WORDS[k % len(WORDS)]).encode()
               + b'},"finish_reason":null}]}\n\n' for k in range(chunks)]
    usage = {"prompt_tokens": 80, "completion_tokens": chunks, "total_tokens": 80 + chunks,
             "prompt_tokens_details": {"cached_tokens": 0}}
    end = (head + b'{"index":0,"delta":{},"finish_reason":"length"}]}\n\n'
           + head + b'],"usage":' + json.dumps(usage).encode() + b"}\n\n" + b"data: [DONE]\n\n")
    return role, content, end


def record():
    from tokenflood_tui.metrics.records import RequestRecord

    return RequestRecord(1, 10.0, 0, time.monotonic(), 80, 0, 64)


def bench_sse(chunks: int, streams: int, per_read: int) -> float:
    """ns per content chunk through the built-in client's stream reader."""
    from tokenflood_tui.clients.openai_http import SseStream

    role, content, end = sse_chunks(chunks)
    reads = [b"".join(content[k:k + per_read]) for k in range(0, chunks, per_read)]
    clock = time.thread_time_ns
    now = time.monotonic()
    total = 0
    for _ in range(streams):
        stream = SseStream(record(), str)
        stream.feed(role, now)             # the first chunk parses in full and sets the id
        start = clock()
        for data in reads:
            now += 0.005
            stream.feed(data, now)
        total += clock() - start
        stream.feed(end, now)
        assert stream.done and stream.rec.ok
    return total / (streams * chunks)


def bench_record(chunks: int, streams: int) -> float | None:
    """ns per chunk of `RequestRecord.stamp_chunk`; None for a package from before it had one."""
    from tokenflood_tui.metrics.records import RequestRecord

    if not hasattr(RequestRecord, "stamp_chunk"):
        return None
    words = [WORDS[k % len(WORDS)] for k in range(chunks)]
    clock = time.thread_time_ns
    total = 0
    for _ in range(streams):
        rec = record()
        stamp = rec.stamp_chunk
        now = time.monotonic()
        start = clock()
        for word in words:
            now += 0.005
            stamp(now, word, None)
        total += clock() - start
    return total / (streams * chunks)


def litellm_stream(chunks: int) -> list[Any]:
    from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices, Usage

    def chunk(delta: Delta, finish: str | None = None, usage: Usage | None = None):
        extra = {"usage": usage} if usage is not None else {}
        return ModelResponseStream(id="chatcmpl-0123456789abcdef", choices=[
            StreamingChoices(index=0, delta=delta, finish_reason=finish)], **extra)

    return ([chunk(Delta(role="assistant"))]
            + [chunk(Delta(content=WORDS[k % len(WORDS)])) for k in range(chunks)]
            + [chunk(Delta(), "length"),
               chunk(Delta(), None, Usage(prompt_tokens=80, completion_tokens=chunks,
                                          total_tokens=80 + chunks))])


class Replay:
    """An async stream that hands out prepared chunks, as litellm's stream wrapper does."""

    def __init__(self, chunks: list[Any]):
        self._chunks = iter(chunks)

    def __aiter__(self):
        return self

    async def __anext__(self):
        for chunk in self._chunks:
            return chunk
        raise StopAsyncIteration


def bench_litellm(chunks: int, streams: int) -> tuple[float, float]:
    """(ns per content chunk through LitellmClient.send, ns per chunk of the bare iteration)."""
    from types import SimpleNamespace

    from tokenflood_tui.clients.litellm_client import LitellmClient
    from tokenflood_tui.specs import EndpointSpec

    prepared_chunks = litellm_stream(chunks)
    client = LitellmClient(EndpointSpec(provider="hosted_vllm", model="sim-model",
                                        base_url="http://127.0.0.1:9/v1", client="litellm"))

    async def acompletion(**kwargs):
        return Replay(prepared_chunks)

    # the network call replaced by the replay; everything after it is the client's own code
    client._litellm = SimpleNamespace(acompletion=acompletion)
    prepared = client.prepare([{"role": "user", "content": "hi"}], chunks)
    clock = time.thread_time_ns

    async def run() -> tuple[float, float]:
        sent = 0
        for _ in range(streams):
            rec = record()
            start = clock()
            await client.send(prepared, rec)
            sent += clock() - start
            assert rec.ok and rec.output_tokens == chunks and rec.content_chunks == chunks, rec
        bare = 0
        for _ in range(streams):
            start = clock()
            async for _chunk in await acompletion():
                pass
            bare += clock() - start
        return sent / (streams * chunks), bare / (streams * chunks)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=64, help="content chunks per stream")
    parser.add_argument("--streams", type=int, default=2000, help="streams per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds; the best is reported")
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="the folder holding the tokenflood_tui package to measure")
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree))
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import tokenflood_tui

    print(f"measuring {Path(tokenflood_tui.__file__).parent}, {args.chunks} content chunks a "
          f"stream, best of {args.rounds} rounds of {args.streams} streams")
    figures: dict[str, list[float]] = {}
    rule = [bench_record(args.chunks, args.streams) for _ in range(args.rounds)]
    if None not in rule:
        figures["record.stamp_chunk alone"] = [ns for ns in rule if ns is not None]
    figures |= {
        "built-in, 1 chunk a read": [bench_sse(args.chunks, args.streams, 1)
                                     for _ in range(args.rounds)],
        "built-in, 8 chunks a read": [bench_sse(args.chunks, args.streams, 8)
                                      for _ in range(args.rounds)],
    }
    litellm = [bench_litellm(args.chunks, args.streams // 4) for _ in range(args.rounds)]
    figures["litellm send"] = [sent for sent, _ in litellm]
    figures["litellm bare iteration"] = [bare for _, bare in litellm]
    for name, values in figures.items():
        print(f"{name:28} {min(values):7.0f} ns per chunk   (median {sorted(values)[len(values) // 2]:.0f})")
    ours = min(figures["litellm send"]) - min(figures["litellm bare iteration"])
    print(f"{'litellm, our share':28} {ours:7.0f} ns per chunk   (send - bare iteration, best of each)")


if __name__ == "__main__":
    main()
