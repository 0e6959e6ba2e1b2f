"""Where every accepted connection starts: its first bytes say whether it is a ``/ws/``
WebSocket (served here, by ``WebsocketConnection``, without Hypercorn) or anything else (handed
to Hypercorn, with the bytes read so far, as if it had accepted the connection itself).

Only the request line's first eight bytes are read before deciding, so HTTP requests, event
streams and their keep-alive connections are Hypercorn's as before (docs/decisions/0018).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from swell.transport.websocket_connection import Framer, WebsocketConnection, is_websocket_start
from swell.transport.ws import WebsocketGate

log = logging.getLogger(__name__)

PING_SLICES = 20
"""Pings go out to one twentieth of the sockets at a time, so that 5,000 idle sockets cost 250
writes a second rather than 5,000 at once every interval (a pause the rooms would feel)."""

HandOff = Callable[[asyncio.Transport, bytes], None]


class FrontDoor:
    """The protocol factory of the listening socket, and the registry of the WebSockets it
    serves (pinged, and waited for on shutdown)."""

    def __init__(
        self,
        gate: WebsocketGate,
        *,
        http: HandOff,
        ping_seconds: float,
        handshake_seconds: float = 10.0,
        compression: bool = False,
    ) -> None:
        """``handshake_seconds``: how long a new connection has to show its request line (and
        a WebSocket its whole upgrade request) before it is dropped (slow-loris sockets)."""
        self._gate = gate
        self._http = http
        self._ping_seconds = ping_seconds
        self.handshake_seconds = handshake_seconds
        self._compression = compression
        self._framer = Framer()
        self._sockets: dict[WebsocketConnection, None] = {}  # insertion order: ping slices
        self._gone = asyncio.Event()
        self._gone.set()

    def __call__(self) -> asyncio.Protocol:
        return _Doorway(self)

    def __len__(self) -> int:
        return len(self._sockets)

    def websocket(self, transport: asyncio.Transport, head: bytes, deadline: float) -> None:
        connection = WebsocketConnection(
            self._gate,
            self._framer,
            self._closed,
            deadline=deadline,
            compression=self._compression,
        )
        self._sockets[connection] = None
        self._gone.clear()
        transport.set_protocol(connection)
        connection.connection_made(transport)
        connection.data_received(head)

    def http(self, transport: asyncio.Transport, head: bytes) -> None:
        self._http(transport, head)

    def _closed(self, connection: WebsocketConnection) -> None:
        self._sockets.pop(connection, None)
        if not self._sockets:
            self._gone.set()

    async def keep_alive(self) -> None:
        """Ping every socket once per interval, a slice at a time (runs until cancelled)."""
        if self._ping_seconds <= 0:
            return
        turn = 0
        while True:
            await asyncio.sleep(self._ping_seconds / PING_SLICES)
            for i, connection in enumerate(list(self._sockets)):
                if i % PING_SLICES == turn:
                    connection.ping()
            turn = (turn + 1) % PING_SLICES

    async def wait_closed(self) -> None:
        """Until every WebSocket has ended (their rooms closed them)."""
        await self._gone.wait()

    def abort(self) -> None:
        """Drop whatever WebSocket is left."""
        for connection in list(self._sockets):
            connection.abort()


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Every frame goes out when written. asyncio sets TCP_NODELAY only on sockets whose
    protocol number says TCP, and a socket made as ``socket(AF_INET, SOCK_STREAM)`` says 0:
    Nagle's algorithm then held a frame behind the previous one's unacknowledged segment until
    the client's delayed ACK, 40 ms (seen in a capture: one broadcast's second frame to a
    socket left 37 ms after its first)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Doorway(asyncio.Protocol):
    """A connection until its first bytes tell where it goes."""

    __slots__ = ("_door", "_transport", "_head", "_timer", "_deadline")

    def __init__(self, door: FrontDoor) -> None:
        self._door = door
        self._transport: asyncio.Transport | None = None
        self._head = b""
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        no_delay(transport)
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self._door.handshake_seconds
        self._timer = loop.call_at(self._deadline, self._timed_out)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        head = self._head + data
        websocket = is_websocket_start(head)
        if websocket is None:
            self._head = head
            return
        self._stop_timer()
        if websocket:
            self._door.websocket(transport, head, self._deadline)
        else:
            self._door.http(transport, head)

    def eof_received(self) -> bool | None:
        self._stop_timer()
        return None  # nothing was asked: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._transport.abort()
