"""The front door in-process: every accepted connection writes without Nagle's delay, and what
is not a ``/ws/`` upgrade reaches the HTTP side with every byte read so far."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

import pytest

from swell.server import bind_socket
from swell.transport.front_door import FrontDoor
from swell.transport.ws import WebsocketGate

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize("made_here", [True, False])
async def test_accepted_connections_write_without_delay(made_here: bool) -> None:
    """A socket made as ``socket(AF_INET, SOCK_STREAM)`` (protocol 0, as another process
    may hand one over) gets no TCP_NODELAY from asyncio: the door sets it on every connection,
    or a frame waits behind the previous one's unacknowledged segment for the client's
    delayed ACK (40 ms)."""
    if made_here:
        listener = bind_socket("127.0.0.1", 0)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
    handed: asyncio.Queue[tuple[asyncio.Transport, bytes]] = asyncio.Queue()
    door = FrontDoor(
        cast(WebsocketGate, None),  # no WebSocket comes: only the HTTP side is reached
        http=lambda transport, head: handed.put_nowait((transport, head)),
        ping_seconds=0,
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(door, sock=listener)
    port = listener.getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        transport, head = await asyncio.wait_for(handed.get(), 10)
        assert head.startswith(b"GET /h")  # the bytes read so far go along
        sock: Any = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        transport.close()
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
