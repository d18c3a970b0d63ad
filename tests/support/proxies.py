"""A TCP proxy for tests: hold chosen requests unanswered, or drop every connection for a while."""

from __future__ import annotations

import asyncio
import threading
import time


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One HTTP request: its head and its Content-Length of body, and no byte of the next request
    on a kept-alive connection. The client may send head and body in separate segments (a busy
    machine does), and `hold` must see the body to pick by it. b"" when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        return e.partial
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    try:
        return head + await reader.readexactly(length)
    except asyncio.IncompleteReadError as e:
        return head + e.partial


class TcpProxy:
    """A TCP proxy to a server on loopback that forwards everything, except: the requests `hold`
    picks by their head and body (at most `limit`) are held unanswered — each request is picked
    on its own, also the later ones on a kept-alive connection — and `held_for` has how long
    each was held until its connection ended (the client gave up, or the proxy closed); while
    `down` is set every connection is accepted and closed at once (a server that is down behind
    a balancer); setting it also cuts the connections open and not held."""

    def __init__(self, upstream_port: int, hold=lambda request: False, limit: int = 1_000_000):
        self.upstream_port = upstream_port
        self.hold = hold
        self.limit = limit
        self.held = 0
        self.held_for: list[float] = []
        self._down = False
        self.dropped = 0
        self._open: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value
        if value:
            def cut() -> None:
                for writer in list(self._open):
                    writer.close()
            self.loop.call_soon_threadsafe(cut)

    def _main(self, ready):
        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def handle(reader, writer):
            if self.down:
                self.dropped += 1
                writer.close()
                return
            upstream: asyncio.Task | None = None
            up_writer = None
            self._open.add(writer)
            try:
                while request := await read_request(reader):
                    if self.held < self.limit and self.hold(request):
                        self.held += 1
                        self._open.discard(writer)
                        held = time.monotonic()
                        try:
                            await reader.read()     # accepted, read, never answered: until closed
                        finally:
                            self.held_for.append(time.monotonic() - held)
                        return
                    if up_writer is None:
                        up_reader, up_writer = await asyncio.open_connection(
                            "127.0.0.1", self.upstream_port)
                        upstream = asyncio.create_task(pipe(up_reader, writer))
                    up_writer.write(request)
                    await up_writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                self._open.discard(writer)
                if up_writer is not None:
                    up_writer.close()
                if upstream is not None:
                    upstream.cancel()
                writer.close()

        async def start():
            self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def close(self):
        async def shutdown():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
