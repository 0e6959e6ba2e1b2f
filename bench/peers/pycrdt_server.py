"""pycrdt-websocket on Hypercorn with its SQLite store (pycrdt-store), otherwise its defaults.

Runs in bench/.venv-peers (pycrdt-websocket pins its own pycrdt). A room loads its document from
the store when it opens; the stock YRoom then writes every update to the store.
Usage: python pycrdt_server.py PORT DB_FILE
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from anyio import Event
from hypercorn.asyncio import serve
from hypercorn.config import Config
from pycrdt.store import SQLiteYStore, YDocNotFound
from pycrdt.websocket import ASGIServer, WebsocketServer, YRoom


class StoredRoomsServer(WebsocketServer):
    """A WebsocketServer whose rooms live in one SQLite file."""

    def __init__(self, db_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._store_class = type("Store", (SQLiteYStore,), {"db_path": db_path})
        self._loaded: dict[str, Event] = {}

    async def get_room(self, name: str) -> YRoom:
        room = self.rooms.get(name)
        if room is None:
            loaded = self._loaded[name] = Event()
            store = self._store_class(path=name, log=self.log)
            room = YRoom(ystore=store, exception_handler=self.exception_handler, log=self.log)
            self.rooms[name] = room
            assert self._task_group is not None
            await self._task_group.start(store.start)
            try:
                await store.apply_updates(room.ydoc)
            except YDocNotFound:
                pass
            await self.start_room(room)  # before anyone else may: two starts would fail
            loaded.set()
        else:
            event = self._loaded.get(name)
            if event is not None:
                await event.wait()
        await self.start_room(room)
        return room


async def main(port: int, db_path: str) -> None:
    websocket_server = StoredRoomsServer(db_path)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with websocket_server:
        print(f"pycrdt-websocket listening on 127.0.0.1:{port} ({db_path})", flush=True)
        await serve(ASGIServer(websocket_server), config, shutdown_trigger=stop.wait, mode="asgi")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
