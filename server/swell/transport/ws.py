"""``/ws/{id}``: a y-websocket endpoint. Receiving and sending run in separate tasks, so a
slow reader only ever delays itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from quart import Blueprint, Response, websocket

from swell.collab.documents import DocumentNotFound, Documents, InvalidToken
from swell.collab.peer import CloseCode, Peer
from swell.collab.registry import LoadFailed, RoomRegistry, ShuttingDown
from swell.collab.room import Room
from swell.protocol.messages import MalformedMessage, UnsupportedMessage
from swell.transport.access import error, token_of

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0


def create_ws(
    documents: Documents,
    rooms: RoomRegistry,
    *,
    allowed_origins: tuple[str, ...],
    max_message_bytes: int,
    send_queue_messages: int,
) -> Blueprint:
    bp = Blueprint("ws", __name__)

    @bp.websocket("/ws/<doc_id>")
    async def sync(doc_id: str) -> tuple[Response, int] | None:
        if not origin_allowed(
            websocket.headers.get("Origin"), websocket.headers.get("Host"), allowed_origins
        ):
            log.warning("refused a WebSocket from origin %r", websocket.headers.get("Origin"))
            return error(403, "origin not allowed")
        # Refusals are close codes after the handshake, not HTTP statuses: a browser cannot
        # see the status of a refused handshake, only 1006, and would retry forever.
        try:
            _record, role = await documents.authorize(doc_id, token_of(websocket))
        except DocumentNotFound:
            await websocket.accept()
            await websocket.close(CloseCode.NOT_FOUND, "document not found")
            return None
        except InvalidToken:
            await websocket.accept()
            await websocket.close(CloseCode.BAD_TOKEN, "missing or invalid token")
            return None
        try:
            room = await rooms.acquire(doc_id)
        except LoadFailed:
            await websocket.accept()
            await websocket.close(CloseCode.INTERNAL, "document could not be loaded")
            return None
        except ShuttingDown:
            await websocket.accept()
            await websocket.close(CloseCode.GOING_AWAY, "server is stopping")
            return None
        try:
            await websocket.accept()
            peer = Peer(
                role,
                wants_extensions=websocket.args.get("swell") == "1",
                limit=send_queue_messages,
            )
            await serve_peer(room, peer, max_message_bytes)
        finally:
            rooms.release(room)
        return None

    return bp


async def serve_peer(room: Room, peer: Peer, max_message_bytes: int) -> None:
    """Receive in this task, send in one more. Whoever closes the peer (a bad frame here, the
    room for a slow socket or a shutdown) ends the sender, which closes the socket; the closed
    socket then ends this task the way a client's disconnect does, with CancelledError."""
    room.join(peer)
    sender = asyncio.create_task(_send(peer))
    try:
        await _receive(room, peer, max_message_bytes)
        await sender
    finally:
        sender.cancel()
        room.leave(peer)


async def _receive(room: Room, peer: Peer, max_message_bytes: int) -> None:
    while peer.close_code is None:
        data = await websocket.receive()
        if isinstance(data, str):
            log.info("closing peer %s of %s: text frame", peer.id, room.doc_id)
            peer.close(CloseCode.UNSUPPORTED)
        elif not data:
            log.info("closing peer %s of %s: empty frame", peer.id, room.doc_id)
            peer.close(CloseCode.INVALID)
        elif len(data) > max_message_bytes:
            log.info("closing peer %s of %s: %d-byte frame", peer.id, room.doc_id, len(data))
            peer.close(CloseCode.TOO_BIG)
        else:
            try:
                room.receive(peer, data)
            except UnsupportedMessage as e:
                log.info("closing peer %s of %s: %s", peer.id, room.doc_id, e)
                peer.close(CloseCode.UNSUPPORTED)
            except MalformedMessage as e:
                log.info("closing peer %s of %s: %s", peer.id, room.doc_id, e)
                peer.close(CloseCode.INVALID)


async def _send(peer: Peer) -> None:
    while (frame := await peer.next_frame()) is not None:
        await websocket.send(frame)
    assert peer.close_code is not None
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(peer.close_code), CLOSE_TIMEOUT)


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin; other clients may not, and cannot be hijacked."""
    if origin is None:
        return True
    if "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return bool(host) and netloc == (host or "").lower()
