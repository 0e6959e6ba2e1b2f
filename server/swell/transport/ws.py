"""``/ws/{id}``: a y-websocket endpoint, served as a plain ASGI app in front of Quart.

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
from typing import Any
from urllib.parse import parse_qs

from swell.collab.authors import Authors, UnknownAuthor
from swell.collab.documents import DocumentNotFound, Documents, InvalidToken
from swell.collab.peer import CloseCode, InboundBudget, Peer
from swell.collab.registry import LoadFailed, RoomRegistry, ShuttingDown
from swell.collab.room import Room
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


class WebsocketEndpoint:
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
        self._max_message_bytes = max_message_bytes
        self._send_queue_bytes = send_queue_bytes
        self._rates = (messages_per_second, bytes_per_second, awareness_bytes_per_second)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        doc_id = scope["path"][len(PREFIX) :]
        headers = _headers(scope)
        args = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        await receive()  # websocket.connect
        origin = headers.get("origin")
        if not self._origins.allows(origin):
            log.warning("refused a WebSocket from origin %r", origin)
            await _refuse_handshake(scope, send, 403, "origin not allowed")
            return
        retry_after = self._limits.check(self._limits.connects, scope)
        if retry_after is not None:
            log.info("refused a WebSocket from %s: too many connects", self._limits.client(scope))
            await _refuse_handshake(
                scope, send, 429, "too many connections, slow down", retry_after=retry_after
            )
            return
        # Refusals are close codes after the handshake, not HTTP statuses: a browser cannot
        # see the status of a refused handshake, only 1006, and would retry forever.
        token = bearer_or_query(headers.get("authorization", ""), _first(args, "token"))
        rotations = self._documents.rotations  # a rotation after this may have replaced ours
        try:
            _record, role = await self._documents.authorize(doc_id, token)
        except DocumentNotFound:
            await _accept_and_close(send, CloseCode.NOT_FOUND, "document not found")
            return
        except InvalidToken:
            await _accept_and_close(send, CloseCode.BAD_TOKEN, "missing or invalid token")
            return
        del _record
        # ``?author=`` or X-Swell-Author: who this socket's changes are attributed to. A
        # secret nobody has is refused (4401), never quietly anonymous: that would hide a bug.
        secret = author_secret(headers.get("x-swell-author"), _first(args, "author"))
        try:
            author = await self._authors.authenticate(secret)
        except UnknownAuthor:
            await _accept_and_close(send, CloseCode.BAD_TOKEN, "unknown author")
            return
        try:
            room = await self._rooms.acquire(doc_id)
        except LoadFailed:
            await _accept_and_close(send, CloseCode.INTERNAL, "document could not be loaded")
            return
        except ShuttingDown:
            await _accept_and_close(send, CloseCode.GOING_AWAY, "server is stopping")
            return
        try:
            await send({"type": "websocket.accept"})
            peer = Peer(
                role,
                wants_extensions=_first(args, "swell") == "1",
                limit_bytes=self._send_queue_bytes,
                budget=InboundBudget(*self._rates),
                author=author,
            )
            await self._serve(room, peer, receive, send, rotations)
        finally:
            self._rooms.release(room)

    async def _serve(
        self, room: Room, peer: Peer, receive: Receive, send: Send, rotations: int
    ) -> None:
        """Receive here, send in one more task. Whoever closes the peer (a bad frame here, the
        room for a slow socket or a shutdown) ends the sender, which closes the socket; the
        server then reports the disconnect, which ends this loop as a client's close does."""
        room.join(peer)  # a full room closes the peer at once: the sender says why
        if self._documents.rotations != rotations:
            peer.close(CloseCode.BAD_TOKEN, "the token may have been replaced; reconnect")
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
        elif len(data) > self._max_message_bytes:
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


async def _refuse_handshake(
    scope: Scope, send: Send, status: int, message: str, *, retry_after: float | None = None
) -> None:
    """An HTTP answer instead of the upgrade, in the contract's JSON error shape, where the
    server offers that (Hypercorn does); otherwise a bare refusal."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(
                    [(b"retry-after", retry_after_header(retry_after).encode())]
                    if retry_after is not None
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
