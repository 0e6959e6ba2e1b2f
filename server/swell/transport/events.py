"""``/api/docs/{id}/events``: the viewers' Server-Sent Events stream."""

from __future__ import annotations

import random
import weakref
from collections.abc import AsyncIterator

from quart import Blueprint, Response, request

from swell.collab.authors import Authors
from swell.collab.documents import Documents
from swell.collab.names import clean_name
from swell.collab.peer import Role
from swell.collab.registry import LoadFailed, RoomRegistry, ShuttingDown
from swell.feed.hub import FeedHub
from swell.protocol.sse import PING, encode_retry, parse_last_event_id
from swell.transport.access import author_of, error, token_of
from swell.transport.rate_limit import ClientLimits, ConcurrencyCap, RateLimited

DEFAULT_VIEWER = "Viewer"


def create_events(
    documents: Documents,
    rooms: RoomRegistry,
    hub: FeedHub,
    authors: Authors,
    *,
    ping_seconds: float,
    retry_ms: int,
    limits: ClientLimits,
    streams_per_document: int,
) -> Blueprint:
    bp = Blueprint("events", __name__)
    streams = ConcurrencyCap(streams_per_document)  # limits: open streams per document

    @bp.get("/api/docs/<doc_id>/events")
    async def events(doc_id: str) -> Response | tuple[Response, int]:
        limits.enforce(limits.connects, request.scope)  # limits: 429 before any work
        rotations = hub.rotations  # before the token is checked: a rotation after it ends us
        _record, role = await documents.authorize(doc_id, token_of(request))  # 401/404 first
        # ``?author=`` or X-Swell-Author: listed under the author's name; 401 for a secret
        # nobody has (never quietly anonymous).
        author = await author_of(authors, request, query=True)
        last_event_id = parse_last_event_id(
            request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
        )
        name = clean_name(request.args.get("name"), DEFAULT_VIEWER)
        if not streams.acquire(doc_id):  # limits: released when the stream ends
            raise RateLimited(retry_ms / 1000, "too many event streams on this document")
        try:
            room = await rooms.acquire(doc_id)
        except LoadFailed:
            streams.release(doc_id)
            return error(503, "document could not be loaded")
        except ShuttingDown:
            streams.release(doc_id)
            return error(503, "server is stopping")
        try:
            viewer = await hub.subscribe(
                room,
                name,
                last_event_id,
                role=role,
                listed=role is Role.VIEW,
                rotations_seen=rotations,
                author=author,
            )
        except BaseException:
            rooms.release(room)
            streams.release(doc_id)
            raise

        async def stream() -> AsyncIterator[bytes]:
            try:
                # Jitter: after a restart, viewers must not all come back in the same instant.
                yield encode_retry(retry_ms + random.randint(0, retry_ms))
                while True:
                    try:
                        chunks = await viewer.next(ping_seconds)
                    except StopAsyncIteration:
                        return
                    if chunks is None:
                        yield PING
                        continue
                    for chunk in chunks:
                        yield chunk
            finally:
                released()

        def release() -> None:
            hub.unsubscribe(viewer)
            rooms.release(room)
            streams.release(doc_id)

        body = stream()
        # Runs once: when the stream ends, or when a body that never started is collected (a
        # client gone before the first byte), so the room and the stream slot are never held.
        released = weakref.finalize(body, release)
        response = Response(
            body,
            content_type="text/event-stream; charset=utf-8",
            headers={
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                "X-Content-Type-Options": "nosniff",
            },
        )
        response.timeout = None  # Quart would end the stream after RESPONSE_TIMEOUT otherwise
        return response

    return bp
