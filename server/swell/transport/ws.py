"""Letting a WebSocket into ``/ws/{id}`` (the gate), and the y-websocket endpoint as a plain
ASGI app in front of Quart, for WebSockets that reach the server through Hypercorn.

Most sockets never pass Hypercorn: the server's front door hands a connection whose first
request is ``GET /ws/`` to ``transport.websocket_connection`` (docs/decisions/0018). One that
upgrades later on a kept-alive HTTP connection arrives here instead, through the same gate.

Quart's WebSocket layer costs, per socket, a receiver task, a handler task, a queue, a request
context and a copy of the headers (16 KiB of the 44 KiB an idle socket took, measured), and two
task hops per received message. Nothing of it is needed here: this endpoint reads Hypercorn's
events itself, in the connection's own task, and sends from one more task per socket, so that a
slow reader only ever delays itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from swell.collab.authors import Authors, UnknownAuthor
from swell.collab.documents import DocumentNotFound, Documents, InvalidToken
from swell.collab.peer import CloseCode, InboundBudget, Link, Peer, Role
from swell.collab.registry import LoadFailed, RoomRegistry, ShuttingDown
from swell.collab.room import Room
from swell.records import AuthorRecord
from swell.transport.access import author_secret, bearer_or_query
from swell.transport.origin import AllowedOrigins
from swell.transport.rate_limit import ClientLimits, retry_after_header

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/ws/"
CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Refused:
    """The handshake is answered with an HTTP error (the contract's JSON shape) instead."""

    status: int
    message: str
    retry_after: float | None = None

    def body(self) -> bytes:
        return json.dumps({"error": self.message}).encode()


@dataclass(frozen=True, slots=True)
class ClosedAtOnce:
    """The handshake is accepted and the socket closed with ``code`` right away: a browser
    cannot read the status of a refused handshake, only 1006, and would retry forever."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Admitted:
    """Let in: the room is acquired (``WebsocketGate.release`` it when the socket ends)."""

    room: Room
    role: Role
    author: AuthorRecord | None
    wants_extensions: bool
    rotations: int  # the documents' rotation count before the token was checked


Admission = Refused | ClosedAtOnce | Admitted


class WebsocketGate:
    """Who may open ``/ws/{id}``, and the peer a socket that may becomes: the same rules for
    every way a socket reaches the server."""

    def __init__(
        self,
        documents: Documents,
        rooms: RoomRegistry,
        authors: Authors,
        *,
        origins: AllowedOrigins,
        limits: ClientLimits,
        max_message_bytes: int,
        send_queue_bytes: int,
        messages_per_second: int,
        bytes_per_second: int,
        awareness_bytes_per_second: int,
    ) -> None:
        self._documents = documents
        self._rooms = rooms
        self._authors = authors
        self._origins = origins
        self._limits = limits
        self.max_message_bytes = max_message_bytes
        self.send_queue_bytes = send_queue_bytes
        self._rates = (
            float(messages_per_second),
            float(bytes_per_second),
            float(awareness_bytes_per_second),
        )

    async def admit(self, scope: Scope) -> Admission:
        """``scope`` as ASGI has it (``path``, ``query_string``, ``headers``, ``client``)."""
        doc_id = scope["path"][len(PREFIX) :]
        headers = _headers(scope)
        args = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        origin = headers.get("origin")
        if not self._origins.allows(origin):
            log.warning("refused a WebSocket from origin %r", origin)
            return Refused(403, "origin not allowed")
        retry_after = self._limits.check(self._limits.connects, scope)
        if retry_after is not None:
            log.info("refused a WebSocket from %s: too many connects", self._limits.client(scope))
            return Refused(429, "too many connections, slow down", retry_after)
        token = bearer_or_query(headers.get("authorization", ""), _first(args, "token"))
        rotations = self._documents.rotations  # a rotation after this may have replaced ours
        try:
            _record, role = await self._documents.authorize(doc_id, token)
        except DocumentNotFound:
            return ClosedAtOnce(CloseCode.NOT_FOUND, "document not found")
        except InvalidToken:
            return ClosedAtOnce(CloseCode.BAD_TOKEN, "missing or invalid token")
        del _record
        # ``?author=`` or X-Swell-Author: who this socket's changes are attributed to. A
        # secret nobody has is refused (4401), never quietly anonymous: that would hide a bug.
        secret = author_secret(headers.get("x-swell-author"), _first(args, "author"))
        try:
            author = await self._authors.authenticate(secret)
        except UnknownAuthor:
            return ClosedAtOnce(CloseCode.BAD_TOKEN, "unknown author")
        try:
            room = await self._rooms.acquire(doc_id)
        except LoadFailed:
            return ClosedAtOnce(CloseCode.INTERNAL, "document could not be loaded")
        except ShuttingDown:
            return ClosedAtOnce(CloseCode.GOING_AWAY, "server is stopping")
        return Admitted(room, role, author, _first(args, "swell") == "1", rotations)

    def peer(self, admitted: Admitted, link: Link | None = None) -> Peer:
        return Peer(
            admitted.role,
            wants_extensions=admitted.wants_extensions,
            limit_bytes=self.send_queue_bytes,
            budget=InboundBudget.of(self._rates),
            author=admitted.author,
            link=link,
        )

    def join(self, admitted: Admitted, peer: Peer) -> None:
        """Into the room; closed at once (the socket says why) when the room is full or the
        token may have been replaced meanwhile."""
        admitted.room.join(peer)
        if self._documents.rotations != admitted.rotations:
            peer.close(CloseCode.BAD_TOKEN, "the token may have been replaced; reconnect")

    def release(self, room: Room) -> None:
        self._rooms.release(room)


class WebsocketEndpoint:
    """``/ws/`` for sockets Hypercorn serves: a peer with an outbox and a sender task."""

    def __init__(self, gate: WebsocketGate) -> None:
        self._gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        admission = await self._gate.admit(scope)
        if isinstance(admission, Refused):
            await _refuse_handshake(scope, send, admission)
            return
        if isinstance(admission, ClosedAtOnce):
            await _accept_and_close(send, admission.code, admission.reason)
            return
        try:
            await send({"type": "websocket.accept"})
            await self._serve(admission, receive, send)
        finally:
            self._gate.release(admission.room)

    async def _serve(self, admitted: Admitted, receive: Receive, send: Send) -> None:
        """Receive here, send in one more task. Whoever closes the peer (a bad frame here, the
        room for a slow socket or a shutdown) ends the sender, which closes the socket; the
        server then reports the disconnect, which ends this loop as a client's close does."""
        room, peer = admitted.room, self._gate.peer(admitted)
        self._gate.join(admitted, peer)
        sender = asyncio.create_task(_send_frames(peer, send))
        try:
            while True:
                event = await receive()
                if event["type"] == "websocket.disconnect":
                    return
                if event["type"] == "websocket.receive" and peer.close_code is None:
                    self._on_frame(room, peer, event)
        finally:
            sender.cancel()
            room.leave(peer)

    def _on_frame(self, room: Room, peer: Peer, event: Message) -> None:
        data = event.get("bytes")
        if data is None:
            log.info("closing peer %s of %s: text frame", peer.id, room.doc_id)
            peer.close(CloseCode.UNSUPPORTED)
        elif not data:
            log.info("closing peer %s of %s: empty frame", peer.id, room.doc_id)
            peer.close(CloseCode.INVALID)
        elif len(data) > self._gate.max_message_bytes:
            log.info("closing peer %s of %s: %d-byte frame", peer.id, room.doc_id, len(data))
            peer.close(CloseCode.TOO_BIG, "message too large")
        else:
            room.receive(peer, data)


async def _send_frames(peer: Peer, send: Send) -> None:
    try:
        while (frame := await peer.next_frame()) is not None:
            await send({"type": "websocket.send", "bytes": frame})
    except Exception as e:  # the connection is gone: its disconnect ends the receiving side
        log.debug("send to peer %s failed: %r", peer.id, e)
        return
    assert peer.close_code is not None
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await send(
                {"type": "websocket.close", "code": peer.close_code, "reason": peer.close_reason}
            )


async def _accept_and_close(send: Send, code: int, reason: str) -> None:
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def _refuse_handshake(scope: Scope, send: Send, refused: Refused) -> None:
    """An HTTP answer instead of the upgrade, in the contract's JSON error shape, where the
    server offers that (Hypercorn does); otherwise a bare refusal."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = refused.body()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(
                    [(b"retry-after", retry_after_header(refused.retry_after).encode())]
                    if refused.retry_after is not None
                    else []
                ),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


def _headers(scope: Scope) -> dict[str, str]:
    """The first value of each header, by lower-case name."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


def _first(args: dict[str, list[str]], name: str) -> str | None:
    values = args.get(name)
    return values[0] if values else None
