"""The HTTP/1.1 client against a scripted server on loopback: framing, reuse, breakage."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from tokenflood_tui.clients.http1 import (
    CannotConnect, ConnectionClosed, ConnectionPool, ProtocolError,
)  # fmt: skip

REQUEST = b"POST /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}"
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")  # fmt: skip


class ScriptedServer:
    """Answers each request on a connection with the next script: a list of byte pieces, each
    written separately (with a pause, so the client reads them apart); None closes the socket."""

    def __init__(self, scripts: list[list[bytes | None]]):
        self.scripts = list(scripts)
        self.connections = 0
        self.requests = 0

    async def __aenter__(self) -> ConnectionPool:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return ConnectionPool(f"http://127.0.0.1:{port}/v1/x")

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.scripts:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)
                self.requests += 1
                for piece in self.scripts.pop(0):
                    if piece is None:
                        writer.close()
                        return
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.005)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def exchange(pool: ConnectionPool, keep_reading=lambda data: True):
    """One request; returns (status, body pieces with their times, connection)."""
    conn, _ = await pool.acquire()
    pieces: list[tuple[bytes, float]] = []

    def on_body(data: bytes, now: float) -> bool:
        pieces.append((data, now))
        return keep_reading(data)

    ex = conn.start(REQUEST, on_body)
    try:
        response = await ex.head
        await ex.done
    except BaseException:
        pool.release(conn, clean=False)
        raise
    pool.release(conn, clean=True)
    return response, pieces, conn, ex


async def test_chunked_body_split_at_every_byte_is_reassembled_and_the_connection_reused():
    one_byte_at_a_time = [CHUNKED[i:i + 1] for i in range(len(CHUNKED))]
    server = ScriptedServer([one_byte_at_a_time, [CHUNKED]])
    async with server as pool:
        response, pieces, first, _ = await exchange(pool)
        assert response.status == 200 and response.headers["transfer-encoding"] == "chunked"
        assert b"".join(p for p, _ in pieces) == b"hello, world"
        assert [t for _, t in pieces] == sorted(t for _, t in pieces) and len(pieces) == 12
        _, pieces, second, _ = await exchange(pool)
        assert b"".join(p for p, _ in pieces) == b"hello, world"
        assert second is first and server.connections == 1 and server.requests == 2


async def test_content_length_and_close_delimited_bodies():
    length = [b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\n", b"busy ", b"now!"]
    close = [b"HTTP/1.0 200 OK\r\n\r\n", b"until ", b"closed", None]
    server = ScriptedServer([length, close])
    async with server as pool:
        response, pieces, conn, ex = await exchange(pool)
        assert response.status == 503 and bytes(ex.body) == b"busy now!" and pieces == []
        response, pieces, conn2, _ = await exchange(pool)
        assert conn2 is conn and b"".join(p for p, _ in pieces) == b"until closed"
        assert not conn2.reusable and server.requests == 2


async def test_connection_close_header_is_not_pooled_and_interim_responses_are_skipped():
    script = [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n"
              b"Content-Length: 2\r\n\r\nok"]
    async with ScriptedServer([script, script]) as pool:
        response, pieces, conn, _ = await exchange(pool)
        assert response.status == 200 and pieces[0][0] == b"ok"
        _, _, conn2, _ = await exchange(pool)
        assert conn2 is not conn


async def test_server_closing_before_responding_is_told_apart_from_mid_body():
    async with ScriptedServer([[None]]) as pool:
        with pytest.raises(ConnectionClosed) as before:
            await exchange(pool)
        assert before.value.before_response
    mid = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", None]
    async with ScriptedServer([mid]) as pool:
        with pytest.raises(ConnectionClosed) as during:
            await exchange(pool)
        assert not during.value.before_response


async def test_not_http_and_bad_chunk_sizes_are_protocol_errors():
    async with ScriptedServer([[b"SSH-2.0-OpenSSH_9.6\r\n\r\n"]]) as pool:
        with pytest.raises(ProtocolError, match="not an HTTP/1.1 response"):
            await exchange(pool)
    bad = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
    async with ScriptedServer([bad]) as pool:
        with pytest.raises(ProtocolError, match="bad chunk size"):
            await exchange(pool)


async def test_a_reader_done_before_the_body_ends_is_answered_at_once(monkeypatch):
    import tokenflood_tui.clients.http1 as http1

    monkeypatch.setattr(http1, "DRAIN_S", 0.2)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    # [DONE] first, the terminator a moment later (as uvicorn writes them): the wait ends at
    # [DONE], the terminator is read and dropped, and the connection carries the next request
    later_terminator = [head + b"6\r\n[DONE]\r\n", b"0\r\n\r\n"]
    # a body that never ends after the reader is done: the connection is dropped
    endless = [head + b"6\r\n[DONE]\r\n", b"4\r\nmore\r\n"]
    server = ScriptedServer([later_terminator, later_terminator, endless, [CHUNKED]])
    async with server as pool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        _, pieces, first, _ = await exchange(pool, lambda data: False)
        # ends at [DONE], not after the 0.2 s drain (margin for a busy machine)
        assert [p for p, _ in pieces] == [b"[DONE]"] and loop.time() - started < 0.15
        await asyncio.sleep(0.05)
        _, _, second, _ = await exchange(pool, lambda data: False)
        assert second is first and server.connections == 1
        await asyncio.sleep(0.05)
        _, _, third, _ = await exchange(pool, lambda data: False)
        assert third is first
        await asyncio.sleep(0.3)
        assert first.closed and not first.reusable
        _, pieces, fourth, _ = await exchange(pool)
        assert fourth is not first and b"".join(p for p, _ in pieces) == b"hello, world"
        assert server.connections == 2


async def test_refused_connection_is_cannot_connect():
    pool = ConnectionPool("http://127.0.0.1:9/v1/x")
    with pytest.raises(CannotConnect):
        await pool.acquire()


async def test_connections_idle_too_long_are_not_reused(monkeypatch):
    import tokenflood_tui.clients.http1 as http1

    monkeypatch.setattr(http1, "IDLE_LIMIT_S", 0.05)
    server = ScriptedServer([[CHUNKED], [CHUNKED], [CHUNKED]])
    async with server as pool:
        _, _, first, _ = await exchange(pool)
        _, _, again, _ = await exchange(pool)
        await asyncio.sleep(0.1)
        _, _, fresh, _ = await exchange(pool)
        assert again is first and fresh is not first and first.transport.is_closing()
        assert server.connections == 2


async def wait_for(condition, timeout=2.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_spare_connections_are_opened_ahead_and_topped_up():
    server = ScriptedServer([[CHUNKED], [CHUNKED]])
    async with server as pool:
        pool.keep_spare(3)
        await wait_for(lambda: pool.idle == 3)
        assert server.connections == 3
        _, pieces, conn, _ = await exchange(pool)
        assert b"".join(p for p, _ in pieces) == b"hello, world"
        # the request took a spare; one more was opened in its place, and it came back itself
        await wait_for(lambda: server.connections == 4)
        assert pool.idle == 4 and server.requests == 1
        await pool.close()


async def test_a_server_that_closes_after_every_response_turns_pooling_off():
    server = ScriptedServer([[CHUNKED, None], [CHUNKED, None]])
    async with server as pool:
        _, _, first, _ = await exchange(pool)
        await wait_for(lambda: first.closed)
        pool.keep_spare(3)                 # seen the close: no connection opened ahead
        assert not pool.pooling and pool.idle == 0
        _, pieces, second, _ = await exchange(pool)
        assert second is not first and b"".join(p for p, _ in pieces) == b"hello, world"
        await asyncio.sleep(0.05)
        assert server.connections == 2
        await pool.close()


TLS = Path(__file__).parents[1] / "fixtures" / "tls"


async def test_tls_is_verified_and_then_streams_like_plain_tcp(monkeypatch):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "loopback-test.crt", TLS / "loopback-test.key")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
            writer.write(CHUNKED)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/x"
    try:
        # an unknown issuer is refused, with the reason
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(CannotConnect, match="CERTIFICATE_VERIFY_FAILED"):
            await ConnectionPool(url).acquire()
        # trusted (as a company CA would be, through SSL_CERT_FILE): the same exchange as over TCP
        monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "loopback-test.crt"))
        pool = ConnectionPool(url)
        _, pieces, _, _ = await exchange(pool)
        assert b"".join(p for p, _ in pieces) == b"hello, world"
        await pool.close()
    finally:
        server.close()


async def test_a_server_that_drops_every_idle_connection_at_once_turns_pooling_off():
    # e.g. a server that died: several closed connections in the pool at once
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.05)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    pool = ConnectionPool(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/x")
    try:
        pool.keep_spare(3)
        await wait_for(lambda: pool.idle == 3)
        await asyncio.sleep(0.2)                       # the server has closed all three
        conn, reused = await pool.acquire()
        assert not reused and not conn.closed and not pool.pooling and pool.idle == 0
        await pool.close()
    finally:
        server.close()
