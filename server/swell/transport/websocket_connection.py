"""A ``/ws/`` socket served without Hypercorn: an ``asyncio.Protocol`` over websockets'
sans-I/O ``ServerProtocol`` (the handshake, frame parsing and unmasking in C, the closing
handshake, limits), and the peer's ``Link``: the room writes a frame straight to the socket
from its fan-out, with no task and no queue in between, while the kernel takes it.

Why (docs/decisions/0018): under Hypercorn every frame to every socket was a wake-up of that
socket's sender task, a wsproto framing in Python and a locked ``drain()`` (44 % of a busy
room's CPU), and an idle socket cost 22 KiB in Hypercorn's tasks and streams alone. Here a
broadcast is framed once (the same bytes go to every socket of the room: ``Framer``), a socket
that keeps up costs one ``send()`` per frame, and only one that does not gets a queue: its frames
wait in a backlog, counted in bytes, until it reads or the peer's bound closes it with 1013.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN, State
from websockets.server import ServerProtocol

from swell.collab.peer import CloseCode, Peer
from swell.collab.room import Room
from swell.transport.rate_limit import retry_after_header
from swell.transport.ws import (
    CLOSE_TIMEOUT,
    PREFIX,
    Admission,
    Admitted,
    ClosedAtOnce,
    Refused,
    WebsocketGate,
)

log = logging.getLogger(__name__)

PING = Frame(Opcode.PING, b"").serialize(mask=False)

# websockets logs every connection's open and close at INFO: thousands of lines for nothing.
_protocol_log = logging.getLogger("swell.transport.websocket_protocol")
_protocol_log.setLevel(logging.WARNING)


class Framer:
    """Frames a message once for every socket of a broadcast: the room hands each of them the
    very same bytes object in turn, so the last one framed is the one asked for next (and it
    stays alive while cached, so no other message can take its identity)."""

    __slots__ = ("_message", "_framed")

    def __init__(self) -> None:
        self._message: bytes | None = None
        self._framed = b""

    def frame(self, message: bytes) -> bytes:
        if message is not self._message:
            self._framed = Frame(Opcode.BINARY, message).serialize(mask=False)
            self._message = message
        return self._framed


class WebsocketConnection(asyncio.Protocol):
    """One socket, from its upgrade request to its close. Given the transport by the front door
    after it saw ``GET /ws/``, with the bytes read so far."""

    __slots__ = (
        "_gate",
        "_framer",
        "_on_closed",
        "_transport",
        "_ws",
        "_timer",
        "_deadline",
        "_early",
        "_admitted",
        "_peer",
        "_paused",
        "_backlog",
        "_backlog_bytes",
        "_parts",
        "_closing",
        "_lost",
        "_task",
        "_direct",
        "_answered",
    )

    def __init__(
        self,
        gate: WebsocketGate,
        framer: Framer,
        on_closed: Callable[[WebsocketConnection], None],
        *,
        deadline: float,
        compression: bool = False,
    ) -> None:
        """``deadline``: the loop time by which the upgrade request must have arrived."""
        self._gate = gate
        self._framer = framer
        self._on_closed = on_closed
        self._transport: asyncio.Transport | None = None
        self._ws = ServerProtocol(
            origins=None,  # the gate checks the Origin (and answers in the contract's shape)
            # Off unless asked for (docs/decisions/0004): a compressed frame is per socket.
            extensions=[ServerPerMessageDeflateFactory()] if compression else None,
            max_size=gate.max_message_bytes,
            logger=_protocol_log,
        )
        self._deadline = deadline
        self._timer: asyncio.TimerHandle | None = None
        self._early: list[Frame] = []  # frames that came before the handshake was answered
        self._admitted: Admitted | None = None
        self._peer: Peer | None = None
        self._paused = False  # the transport's buffer is above its high-water mark
        self._backlog: deque[bytes] | None = None  # frames held back while paused
        self._backlog_bytes = 0
        self._parts: list[bytes] | None = None  # a fragmented message being received
        self._closing = False
        self._lost = False
        self._task: asyncio.Task[None] | None = None
        self._direct = True  # frames are written framed once (no extension negotiated)
        self._answered = False  # the handshake's answer is written

    # ---- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_at(self._deadline, self._handshake_timed_out)

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        events = ws.events_received()
        if events:
            if self._peer is not None:
                self._frames(events)
            else:
                self._before_open(events)
        self._flush()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._flush()
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True  # from here on, nothing is written (``close`` sends nothing)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        peer, admitted = self._peer, self._admitted
        self._peer = self._admitted = None
        try:
            if peer is not None and admitted is not None:
                # Left, not refused: the peer stays open for the writer, so updates it sent
                # before it went (a tab closed right after typing) are still applied and
                # stored; nothing more is written to it (``write`` sees the connection lost).
                admitted.room.leave(peer)
        finally:
            if admitted is not None:
                self._gate.release(admitted.room)
            self._on_closed(self)

    def pause_writing(self) -> None:
        """The client stopped reading: it is not read either until it does, so that nothing
        it sends can make us write more (each ping it sends wants a pong)."""
        self._paused = True
        if self._transport is not None and self._peer is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        """The client read: what waits goes on, until the transport is full again."""
        self._paused = False
        if self._transport is not None and self._peer is not None and not self._closing:
            self._transport.resume_reading()
        backlog, transport = self._backlog, self._transport
        if not backlog or transport is None:
            return
        while backlog and not self._paused:
            frame = backlog.popleft()
            self._backlog_bytes -= len(frame)
            transport.write(frame)

    # ---- Link: what the room calls --------------------------------------------------------

    def write(self, frame: bytes) -> int:
        """The frame to the socket now, or (the client is not reading) to the backlog; returns
        the bytes in the backlog, which the peer bounds. The transport's own buffer holds at
        most its high-water mark (64 KiB) more, so that a close frame is never far behind."""
        transport = self._transport
        if self._closing or self._lost or transport is None:
            return 0
        if self._direct:
            data = self._framer.frame(frame)
        else:
            self._ws.send_binary(frame)
            data = b"".join(self._ws.data_to_send())
        if not self._paused:
            transport.write(data)
            return 0
        if self._backlog is None:
            self._backlog = deque()
        self._backlog.append(data)
        self._backlog_bytes += len(data)
        return self._backlog_bytes

    def close(self, code: int, reason: str) -> None:
        """The closing handshake: our close frame after whatever is still buffered; the
        connection ends when the client answers, or after ``CLOSE_TIMEOUT`` regardless."""
        if self._closing or self._lost:
            return
        self._closing = True
        self._backlog = None  # what the client did not read yet is dropped
        self._backlog_bytes = 0
        if self._ws.state is OPEN:
            self._ws.send_close(code, reason)
            self._flush()
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(CLOSE_TIMEOUT, self._abort)

    def ping(self) -> None:
        """Keeps data in flight, so that TCP's user timeout finds a peer that vanished."""
        if self._peer is not None and not (self._closing or self._paused) and self._transport:
            self._transport.write(PING)

    # ---- the handshake -----------------------------------------------------------------------

    def _before_open(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Request):
                if self._task is None:
                    self._admit(event)
            elif isinstance(event, Frame):
                if len(self._early) >= 64:  # a client that does not wait for the answer
                    self._fail_handshake()
                    return
                self._early.append(event)

    def _admit(self, request: Request) -> None:
        """Checked by the gate off this callback (it reads the database); reading waits."""
        assert self._transport is not None
        self._transport.pause_reading()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._task = asyncio.get_running_loop().create_task(self._decide(request))

    async def _decide(self, request: Request) -> None:
        try:
            admission = await self._gate.admit(self._scope(request))
        except Exception:
            log.exception("admitting a WebSocket failed")
            admission = ClosedAtOnce(CloseCode.INTERNAL, "internal error")
        self._task = None
        if self._lost:
            if isinstance(admission, Admitted):
                self._gate.release(admission.room)
            return
        self._answer(request, admission)

    def _answer(self, request: Request, admission: Admission) -> None:
        ws, transport = self._ws, self._transport
        assert transport is not None
        if ws.eof_sent or transport.is_closing():
            # The client sent a close frame (or garbage) before its answer: it gets none.
            if isinstance(admission, Admitted):
                self._gate.release(admission.room)
            transport.abort()
            return
        held = ws.data_to_send()  # pongs to pings sent with the request: after the answer
        if isinstance(admission, Refused):
            ws.send_response(_refusal(ws, admission))
            self._answered = True
            self._flush()
            return
        response = ws.accept(request)
        ws.send_response(response)
        self._answered = True
        self._flush()
        for data in held:
            if data and not transport.is_closing():
                transport.write(data)
        # websockets' parser keeps the request for the connection's life (a local of its
        # generator): its headers were 2.8 KiB of an idle socket's 7 (tracemalloc, 2,000
        # sockets), and its path holds the token. Nothing reads them after the answer.
        request.headers.clear()
        request.path = ""
        if response.status_code != 101 or ws.state is not OPEN:
            # Not a valid upgrade (websockets answered 400 or 426 and ends the connection).
            log.info("refused a WebSocket handshake: %r", ws.handshake_exc)
            if isinstance(admission, Admitted):
                self._gate.release(admission.room)
            return
        if isinstance(admission, ClosedAtOnce):
            self.close(admission.code, admission.reason)
            transport.resume_reading()  # the client's close frame ends it, not the timeout
            return
        self._direct = not ws.extensions
        self._admitted = admission
        self._peer = peer = self._gate.peer(admission, link=self)
        self._gate.join(admission, peer)
        early, self._early = self._early, _NO_FRAMES
        if early and peer.close_code is None:
            self._frames(early)
            self._flush()
        transport.resume_reading()

    def _scope(self, request: Request) -> dict[str, Any]:
        """The request as an ASGI scope has it: what the gate (and the rate limiter) read."""
        assert self._transport is not None
        parts = urlsplit(request.path)
        peer = self._transport.get_extra_info("peername")
        return {
            "path": unquote(parts.path),
            "query_string": parts.query.encode("latin-1", "replace"),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
                for name, value in request.headers.raw_items()
            ],
            "client": (peer[0], peer[1]) if isinstance(peer, tuple) else None,
        }

    def _handshake_timed_out(self) -> None:
        self._timer = None
        log.info("dropped a WebSocket whose upgrade request did not arrive in time")
        if self._transport is not None:
            self._transport.abort()

    def _fail_handshake(self) -> None:
        log.info("dropped a WebSocket that sent frames before its handshake was answered")
        if self._transport is not None:
            self._transport.abort()

    # ---- frames ------------------------------------------------------------------------------

    def _frames(self, frames: list[Any]) -> None:
        peer, admitted = self._peer, self._admitted
        assert peer is not None and admitted is not None
        room = admitted.room
        for frame in frames:
            if peer.close_code is not None:
                return
            opcode = frame.opcode
            if opcode is Opcode.BINARY:
                if frame.fin:
                    self._message(room, peer, frame.data)
                else:
                    self._parts = [frame.data]
            elif opcode is Opcode.CONT and self._parts is not None:
                self._parts.append(frame.data)
                if frame.fin:
                    data, self._parts = b"".join(self._parts), None
                    self._message(room, peer, data)
            elif opcode is Opcode.TEXT:
                log.info("closing peer %s of %s: text frame", peer.id, room.doc_id)
                peer.close(CloseCode.UNSUPPORTED)
            elif opcode is Opcode.CLOSE:
                # websockets answered it; the room forgets the socket once it is gone (what
                # it sent before its close is still applied: the peer is not refused).
                self._closing = True
                return

    def _message(self, room: Room, peer: Peer, data: bytes) -> None:
        if not data:
            log.info("closing peer %s of %s: empty frame", peer.id, room.doc_id)
            peer.close(CloseCode.INVALID)
            return
        room.receive(peer, data if type(data) is bytes else bytes(data))

    # ---- writing -----------------------------------------------------------------------------

    def _flush(self) -> None:
        """Whatever the protocol wants written (handshake answers, pongs, close frames); an
        empty write is its end of stream: the connection is over."""
        transport = self._transport
        if transport is None:
            return
        if not self._answered:  # before the answer nothing goes out: it is written first
            if self._ws.eof_sent and self._task is None:
                transport.close()  # not a request websockets could read: nothing to answer
            return
        for data in self._ws.data_to_send():
            if data:
                transport.write(data)
            else:
                self._ended()
                transport.close()
                return
        if self._ws.state is State.CLOSED and not transport.is_closing():
            self._ended()
            transport.close()

    def _ended(self) -> None:
        """The protocol ended the stream: after a closing handshake, the client's end of
        stream, or failing the connection (a malformed frame, a message over the limit: the
        peer is refused, logged)."""
        peer = self._peer
        ws = self._ws
        self._closing = True
        failed = ws.parser_exc is not None and not isinstance(ws.parser_exc, EOFError)
        if peer is not None and peer.close_code is None and failed:
            log.info("closing peer %s: %r", peer.id, ws.parser_exc)
            peer.close(ws.close_sent.code if ws.close_sent is not None else CloseCode.INVALID)

    def _abort(self) -> None:
        self._timer = None
        self.abort()

    def abort(self) -> None:
        """Drop the connection now (a close that was not answered, a shutdown's leftovers)."""
        if self._transport is not None and not self._lost:
            self._transport.abort()


_NO_FRAMES: list[Frame] = []  # shared: nothing is ever added to it once a socket is open


def _refusal(ws: ServerProtocol, refused: Refused) -> Response:
    """The contract's JSON error instead of the upgrade (websockets then ends the stream)."""
    response = ws.reject(refused.status, "")
    body = refused.body()
    del response.headers["Content-Type"]
    del response.headers["Content-Length"]
    response.headers["Content-Type"] = "application/json"
    response.headers["Content-Length"] = str(len(body))
    if refused.retry_after is not None:
        response.headers["Retry-After"] = retry_after_header(refused.retry_after)
    response.body = body
    return response


def is_websocket_start(head: bytes) -> bool | None:
    """Whether a connection's first bytes are a ``/ws/`` upgrade request: True, False, or None
    while too few bytes arrived to tell."""
    marker = b"GET " + PREFIX.encode()
    if len(head) < len(marker):
        return None if marker.startswith(head) else False
    return head.startswith(marker)
