"""What happens to a document as a whole, told to every process: a delete closes its sockets
and streams everywhere, a rotated token ends what was opened with the old one everywhere
(within a second), a title reaches every editor, an author's new name every presence. And
each stored activity record reaches the other processes' event streams."""

from __future__ import annotations

import asyncio
import json
import logging

from swell.collab.bus import EventBus
from swell.collab.documents import Documents
from swell.collab.events import (
    AuthorChanged,
    DocumentDeleted,
    DocumentRenamed,
    RoomEvent,
    TokenRotated,
)
from swell.collab.peer import CloseCode, Role
from swell.collab.registry import RoomRegistry
from swell.collab.relay import Delivery, Relay
from swell.protocol.cluster import RelayedActivity, RelayedNotice
from swell.protocol.messages import encode_title
from swell.records import ActivityRecord

log = logging.getLogger(__name__)


class NoticeRelay:
    def __init__(
        self, relay: Relay, bus: EventBus, rooms: RoomRegistry, documents: Documents
    ) -> None:
        self._relay = relay
        self._bus = bus
        self._rooms = rooms
        self._documents = documents
        self._replaying: RoomEvent | None = None  # a notice being told here: not sent back
        self._tasks: set[asyncio.Task[None]] = set()
        bus.subscribe(self._on_event)
        self._unsubscribe = relay.follow_notices(self._on_delivery)

    def on_activity(self, record: ActivityRecord) -> None:
        """A record this process stored: the other processes' streams show it too."""
        self._relay.publish(record.document_id, RelayedActivity(self._relay.origin, record))

    def _on_event(self, event: RoomEvent) -> None:
        if event is self._replaying:
            return
        origin = self._relay.origin
        if isinstance(event, DocumentDeleted):
            self._relay.publish_notice(RelayedNotice(origin, "deleted", event.doc_id))
        elif isinstance(event, TokenRotated):
            notice = RelayedNotice(origin, "rotated", event.doc_id, role=event.role.value)
            self._relay.publish_notice(notice)
        elif isinstance(event, DocumentRenamed):
            notice = RelayedNotice(origin, "title", event.doc_id, title=event.title)
            self._relay.publish_notice(notice)
        elif isinstance(event, AuthorChanged):
            self._relay.publish_notice(RelayedNotice(origin, "author", author=event.author))

    def _on_delivery(self, delivery: Delivery) -> None:
        if not isinstance(delivery, RelayedNotice):
            return
        doc_id = delivery.doc_id
        if delivery.kind == "deleted":
            task = asyncio.get_running_loop().create_task(self._deleted(doc_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif delivery.kind == "rotated" and delivery.role in ("edit", "view"):
            role = Role(delivery.role)
            self._documents.rotations += 1  # sockets still joining check their token again
            room = self._rooms.get(doc_id)
            if room is not None:
                room.close_peers(CloseCode.BAD_TOKEN, reason="the token was replaced", role=role)
            self._tell(TokenRotated(doc_id, role))
        elif delivery.kind == "title":
            room = self._rooms.get(doc_id)
            if room is not None:
                room.send_extension(encode_title(json.dumps({"title": delivery.title}).encode()))
        elif delivery.kind == "stale":  # its process dropped entries: read the database
            room = self._rooms.get(doc_id)
            if room is not None:
                room.repair()
        elif delivery.kind == "author" and delivery.author is not None:
            self._tell(AuthorChanged(delivery.author))

    async def _deleted(self, doc_id: str) -> None:
        try:
            await self._rooms.evict(doc_id)
        finally:
            self._tell(DocumentDeleted(doc_id))

    def _tell(self, event: RoomEvent) -> None:
        """To this process's listeners, without sending it back out."""
        self._replaying = event
        try:
            self._bus.publish(event)
        finally:
            self._replaying = None

    async def close(self) -> None:
        self._unsubscribe()
        await asyncio.gather(*self._tasks, return_exceptions=True)
