"""A bare relay on Swell's own stack: Quart on Hypercorn, permessage-deflate off, one outbox and
one sender task per socket, as Swell's transport has. No CRDT, no storage, no auth.

It is no peer: it shows what the web stack alone costs (frames per second, memory per socket),
so that Swell's own work can be told apart from its framework's. Runs in Swell's virtualenv.
Usage: python pyrelay.py PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import deque

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol import ws_stream
from quart import Quart, websocket
from wsproto.extensions import PerMessageDeflate

EMPTY_STEP2 = bytes([0, 1, 2, 0, 0])  # sync, step 2, an empty update


class _NoCompression(PerMessageDeflate):
    name = "x-no-compression"  # an extension nobody offers: none is negotiated, as in Swell


class Outbox:
    def __init__(self) -> None:
        self.frames: deque[bytes] = deque()
        self.wake = asyncio.Event()

    def put(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.wake.set()


app = Quart(__name__)
rooms: dict[str, set[Outbox]] = {}


@app.websocket("/<room>")
async def relay(room: str) -> None:
    await websocket.accept()
    me = Outbox()
    peers = rooms.setdefault(room, set())
    peers.add(me)

    async def sender() -> None:
        while True:
            while me.frames:
                await websocket.send(me.frames.popleft())
            me.wake.clear()
            await me.wake.wait()

    task = asyncio.create_task(sender())
    try:
        while True:
            data = await websocket.receive()
            if not isinstance(data, bytes) or len(data) < 2:
                continue
            if data[0] == 0 and data[1] == 0:
                me.put(EMPTY_STEP2)
            elif data[0] == 0 and data[1] != 2:
                continue
            else:
                for other in peers:
                    if other is not me:
                        other.put(data)
    finally:
        task.cancel()
        peers.discard(me)
        if not peers:
            rooms.pop(room, None)


async def main(port: int) -> None:
    ws_stream.PerMessageDeflate = _NoCompression  # type: ignore[attr-defined]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"pyrelay listening on 127.0.0.1:{port}", flush=True)
    await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
