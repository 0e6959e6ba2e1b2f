"""A TCP proxy in front of the real Redis, so a test can make Redis unreachable for a few
seconds without touching the Redis server other tests (and other people) share.

It runs its own event loop on a thread: it keeps relaying while the test's loop waits, and a
module-scoped cluster can outlive one test's loop. Two ways to lose Redis:

- ``cut()``: every connection is reset and new ones are reset as soon as they are accepted
  (Redis down, or restarting);
- ``stall()``: connections stay open but no byte moves either way, new ones included (a
  network partition: commands wait, nothing answers); ``restore()`` delivers what was held, as
  TCP does when a partition heals.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")
CHUNK = 65536


class RedisProxy:
    def __init__(self, redis_url: str) -> None:
        target = urlsplit(redis_url)
        self._target_url = target
        self._target = (target.hostname or "127.0.0.1", target.port or 6379)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._mode = "open"  # "open", "cut" or "stall"
        self._flowing: asyncio.Event | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.accepted = 0  # connections ever accepted: proves the servers go through us
        self.refused = 0  # connections reset while cut

    @property
    def url(self) -> str:
        """The real Redis URL (same database, same credentials) with the proxy's address."""
        t = self._target_url
        credentials = t.netloc.rpartition("@")[0]
        netloc = (credentials + "@" if credentials else "") + f"127.0.0.1:{self.port}"
        return urlunsplit((t.scheme, netloc, t.path, t.query, t.fragment))

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def cut(self) -> None:
        """Reset every connection now and every new one until ``restore()``."""
        self._call(self._cut())

    def stall(self) -> None:
        """Hold every byte, both ways, on every connection until ``restore()``."""
        self._call(self._stall())

    def restore(self) -> None:
        self._call(self._restore())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        self._mode = "cut"
        assert self._flowing is not None
        self._flowing.set()  # held pipes wake up and find their sockets gone
        for client, upstream in list(self._pairs):
            client.transport.abort()
            if upstream is not None:
                upstream.transport.abort()
        self._pairs.clear()

    async def _stall(self) -> None:
        self._mode = "stall"
        assert self._flowing is not None
        self._flowing.clear()

    async def _restore(self) -> None:
        self._mode = "open"
        assert self._flowing is not None
        self._flowing.set()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._mode == "cut":
            self.refused += 1
            writer.transport.abort()
            return
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
        self._pairs.add(pair)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            self._pairs.discard(pair)
            writer.transport.abort()
            return
        self._pairs.discard(pair)
        if self._mode == "cut":  # cut while we were connecting
            writer.transport.abort()
            up_writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, pair))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None],
    ) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # read during a stall: held until restore()
                if pair not in self._pairs:
                    return
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side ended: end both (half-open Redis connections are of no use).
            if pair in self._pairs:
                self._pairs.discard(pair)
                for side in pair:
                    if side is not None:
                        side.transport.abort()
