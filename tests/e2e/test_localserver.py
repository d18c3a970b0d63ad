"""The real local model server (llama.cpp via xllamacpp + SmolLM2-135M) over real HTTP.

These pin the protocol facts the clients and `tokenflood demo` rely on (see the docstring of
tokenflood_tui/demo/localserver/protocol.py) and the child-process lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp
import pytest

from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
from tokenflood_tui.demo.localserver.protocol import MODEL_ALIAS, model_path, unavailable_reason

_REASON = unavailable_reason()
pytestmark = [
    pytest.mark.llamacpp,
    pytest.mark.skipif(_REASON is not None, reason=f"local llama.cpp server unavailable: {_REASON}"),
]

LETTERS = "ABCDEFGHIJ"  # " A" .. " J" are single tokens in the SmolLM2 vocabulary


def letters(n: int) -> str:
    return "".join(f" {LETTERS[i % len(LETTERS)]}" for i in range(n))


@pytest.fixture(scope="module")
def server():
    srv = LocalModelServer(LocalServerOptions(slots=4, ctx=8192))
    srv.start()
    yield srv
    srv.stop()


def session() -> aiohttp.ClientSession:
    # llama.cpp closes the connection after each stream: never reuse pooled connections.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=60),
    )


def root(srv: LocalModelServer) -> str:
    return srv.base_url.removesuffix("/v1")


async def stream_chat(srv: LocalModelServer, body: dict) -> list[dict | str]:
    """POST a streamed chat completion; return the decoded SSE events ("[DONE]" as a str)."""
    events: list[dict | str] = []
    async with session() as s:
        async with s.post(srv.base_url + "/chat/completions", json=body) as r:
            assert r.status == 200, await r.text()
            assert r.headers["Content-Type"].startswith("text/event-stream")
            async for raw in r.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


def process_gone(pid: int) -> bool:
    """True when pid no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# ------------------------------------------------------------------ environment


def test_model_and_server_are_available():
    assert unavailable_reason() is None
    path = model_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size == 98_362_432


# ------------------------------------------------------------------ endpoints


async def test_health_ok(server):
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.port > 0
    async with session() as s, s.get(root(server) + "/health") as r:
        assert r.status == 200
        assert await r.json() == {"status": "ok"}


async def test_models_lists_alias(server):
    assert server.model == MODEL_ALIAS
    async with session() as s, s.get(server.base_url + "/models") as r:
        assert r.status == 200
        ids = [m["id"] for m in (await r.json())["data"]]
    assert ids == [MODEL_ALIAS]


async def test_props_give_per_slot_context(server):
    async with session() as s, s.get(root(server) + "/props") as r:
        assert r.status == 200
        props = await r.json()
    assert props["total_slots"] == 4
    assert props["default_generation_settings"]["n_ctx"] == 8192 // 4


async def test_tokenize_counts_single_letter_tokens(server):
    async with session() as s:
        async with s.post(root(server) + "/tokenize", json={"content": " A B C D"}) as r:
            assert r.status == 200
            tokens = (await r.json())["tokens"]
        assert len(tokens) == 4
        async with s.post(root(server) + "/detokenize", json={"tokens": tokens}) as r:
            assert (await r.json())["content"] == " A B C D"


async def test_stream_has_role_chunk_exact_length_and_usage_only_final_chunk(server):
    events = await stream_chat(
        server,
        {
            "model": MODEL_ALIAS,
            "messages": [{"role": "user", "content": "Say hello"}],
            "max_tokens": 16,
            "ignore_eos": True,
            # greedy: with default sampling ~1 reply in 10 opens with an emoji and has no role
            # chunk (see the next test)
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(isinstance(c, dict) for c in chunks)
    first = chunks[0]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": None}
    final = chunks[-1]
    assert final["choices"] == []
    usage = final["usage"]
    assert usage["completion_tokens"] == 16
    assert usage["prompt_tokens"] > 20  # SmolLM2's template adds a default system prompt
    assert usage["total_tokens"] == usage["prompt_tokens"] + 16
    assert "cached_tokens" in usage["prompt_tokens_details"]
    assert final["timings"]["predicted_n"] == 16
    # the chunk before the usage chunk carries the finish reason and an empty delta
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-2]["choices"][0]["delta"] == {}
    # no chunk but the final one lacks choices; content chunks lie in between
    assert all(c["choices"] for c in chunks[:-1])
    assert 1 <= len(chunks) - 3 <= 16


async def test_stream_opening_with_an_emoji_has_no_role_chunk(server):
    events = await stream_chat(
        server,
        {
            "messages": [{"role": "user", "content": "Write three emojis."}],
            "max_tokens": 8,
            "ignore_eos": True,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    chunks = [e for e in events if isinstance(e, dict)]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any("role" in d for d in deltas)
    first = deltas[0]["content"]
    assert first and not first.isascii()  # an emoji, sent as soon as it is complete
    content_chunks = [d for d in deltas if d.get("content")]
    assert chunks[-1]["usage"]["completion_tokens"] == 8
    assert len(content_chunks) < 8  # multi-token characters: count tokens from usage


async def test_connection_closed_after_stream_despite_keep_alive(server):
    body = json.dumps(
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True}
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nConnection: keep-alive\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert b"Keep-Alive: timeout=5" in head
        assert b"Connection: close" not in head
        await asyncio.wait_for(reader.readuntil(b"data: [DONE]"), 30)
        done = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 4)  # EOF well before the 5 s keep-alive
        assert time.monotonic() - done < 3.0   # closes after the stream (margin for a busy machine)
        assert reader.at_eof()
        assert len(rest) < 100  # just the chunked-encoding trailer
    finally:
        writer.close()


async def test_prefix_cache_reports_cached_tokens(server):
    body = {
        "messages": [{"role": "user", "content": "Q" + letters(570)}],
        "max_tokens": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    first = (await stream_chat(server, body))[-2]["usage"]
    second = (await stream_chat(server, body))[-2]["usage"]
    assert 580 <= first["prompt_tokens"] <= 650
    assert first["prompt_tokens_details"]["cached_tokens"] < 100
    assert second["prompt_tokens"] == first["prompt_tokens"]
    assert second["prompt_tokens_details"]["cached_tokens"] >= 500


async def test_prompt_over_per_slot_context_is_400(server):
    body = {"messages": [{"role": "user", "content": letters(2100)}], "max_tokens": 4}
    async with session() as s, s.post(server.base_url + "/chat/completions", json=body) as r:
        assert r.status == 400
        err = (await r.json())["error"]
    assert err["code"] == 400
    assert err["type"] == "exceed_context_size_error"
    assert err["n_ctx"] == 2048
    assert err["n_prompt_tokens"] > 2048
    assert "exceeds the available context size (2048 tokens)" in err["message"]
    assert f"request ({err['n_prompt_tokens']} tokens)" in err["message"]


async def test_metrics_count_tokens(server):
    async with session() as s, s.get(root(server) + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["llamacpp:prompt_tokens_total"] > 0
    assert values["llamacpp:tokens_predicted_total"] > 0


# ------------------------------------------------------------------ lifecycle


async def test_stop_mid_stream_frees_port_and_reaps_child():
    srv = LocalModelServer(LocalServerOptions(slots=1, ctx=2048))
    srv.start()
    pid, port = srv.pid, srv.port
    assert pid is not None and srv.is_running()
    assert os.getpgid(pid) == pid  # own session: a terminal Ctrl-C reaches only the parent
    assert os.getpgid(pid) != os.getpgid(0)

    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 2000,
        "ignore_eos": True,
        "stream": True,
    }
    async with session() as s, s.post(srv.base_url + "/chat/completions", json=body) as r:
        assert r.status == 200
        await r.content.readline()  # the stream is running
        started = time.monotonic()
        await asyncio.to_thread(srv.stop)
        stop_seconds = time.monotonic() - started
    assert stop_seconds < 4  # SIGTERM sufficed; no SIGKILL after the 5 s grace
    assert not srv.is_running() and srv.pid is None
    assert process_gone(pid)
    assert port_refuses(port)
    srv.stop()  # idempotent


def test_explicit_port_and_context_manager():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with LocalModelServer(LocalServerOptions(slots=1, ctx=1024, port=free)) as srv:
        assert srv.port == free
        assert srv.base_url == f"http://127.0.0.1:{free}/v1"
        assert srv.startup_seconds is not None and srv.startup_seconds < 30
        pid = srv.pid
    assert pid is not None and process_gone(pid)
    assert port_refuses(free)


def test_missing_model_file_raises_with_reason(tmp_path: Path):
    missing = tmp_path / "nope.gguf"
    srv = LocalModelServer(LocalServerOptions(model_path=missing))
    with pytest.raises(RuntimeError) as info:
        srv.start(timeout=30)
    msg = str(info.value)
    assert "exited during start-up (exit code 2)" in msg
    assert f"model file not found: {missing}" in msg
    assert not srv.is_running()


def test_corrupt_model_file_raises_with_llama_cpp_error(tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a GGUF file\n" * 10)
    srv = LocalModelServer(LocalServerOptions(model_path=bad))
    with pytest.raises(RuntimeError) as info:
        srv.start(timeout=30)
    msg = str(info.value)
    assert "exit code 1" in msg
    assert "failed to load model" in msg
    assert str(bad) in msg


def test_child_killed_during_start_raises_with_stderr_tail(tmp_path: Path):
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'boom: simulated native crash' >&2\nkill -9 $$\n")
    fake_python.chmod(0o755)
    srv = LocalModelServer(python=str(fake_python))
    with pytest.raises(RuntimeError) as info:
        srv.start(timeout=10)
    msg = str(info.value)
    assert "exit code -9" in msg
    assert "boom: simulated native crash" in msg


def test_child_silent_then_timeout_raises(tmp_path: Path):
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'loading forever' >&2\nexec sleep 30\n")
    fake_python.chmod(0o755)
    srv = LocalModelServer(python=str(fake_python))
    started = time.monotonic()
    with pytest.raises(RuntimeError) as info:
        srv.start(timeout=1)
    assert time.monotonic() - started < 6
    msg = str(info.value)
    assert "did not report its address in time" in msg
    assert "loading forever" in msg
    assert not srv.is_running()


def test_child_exits_when_parent_is_sigkilled():
    parent_code = textwrap.dedent(
        """
        import os, signal
        from tokenflood_tui.demo.localserver.process import LocalModelServer, LocalServerOptions
        srv = LocalModelServer(LocalServerOptions(slots=1, ctx=1024))
        srv.start()
        print(srv.pid, srv.port, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", parent_code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pid, port = (int(x) for x in proc.stdout.split())
    try:
        # An orphan's zombie (state Z) can show up a moment before its last thread has
        # released the listening socket, so wait for both.
        deadline = time.monotonic() + 10
        while not (process_gone(pid) and port_refuses(port)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_gone(pid), "child outlived its SIGKILLed parent"
        assert port_refuses(port)
    finally:
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_killed_child_is_noticed_and_stop_is_safe():
    srv = LocalModelServer(LocalServerOptions(slots=1, ctx=1024))
    srv.start()
    pid = srv.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while srv.is_running() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not srv.is_running()
    srv.stop()
    assert srv.pid is None and process_gone(pid)


def test_cli_prints_one_line_and_exits_on_stdin_eof():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tokenflood_tui.demo.localserver", "--slots", "1", "--ctx", "1024",
         "--alias", "tiny"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline().decode()
        prefix = "tokenflood local server listening on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/v1 (model tiny)\n"), line
        port = int(line[len(prefix) :].split("/", 1)[0])
        assert port > 0  # the real port, not the 0 that was asked for
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        proc.stdin.close()  # EOF: the child must exit by itself
        assert proc.wait(5) == 0
        assert proc.stdout.read() == b""  # llama.cpp's log never reaches stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
