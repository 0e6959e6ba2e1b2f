"""All documents' feeds: subscribing viewers (with replay and Last-Event-ID resume) and
routing room events and stored activity to the right feed."""

from __future__ import annotations

import logging

from swell.collab.events import (
    DocumentDeleted,
    DocumentEdited,
    PeerLeft,
    PresenceChanged,
    RoomEvent,
    RoomUnloaded,
)
from swell.collab.ports import ActivityLog, ActivityRecord
from swell.collab.room import Room
from swell.feed.document_feed import DocumentFeed, encode_activity
from swell.feed.presence import color_for
from swell.feed.subscriber import Subscriber
from swell.protocol.sse import encode_event

log = logging.getLogger(__name__)

RESUME_LIMIT = 1000


class FeedHub:
    def __init__(
        self,
        activity_log: ActivityLog,
        *,
        replay: int,
        queue_limit: int,
        content_interval: float,
        presence_interval: float = 0.25,
    ) -> None:
        self._log = activity_log
        self._replay = replay
        self._queue_limit = queue_limit
        self._content_interval = content_interval
        self._presence_interval = presence_interval
        self._feeds: dict[str, DocumentFeed] = {}
        self._closed = False

    def viewers(self, doc_id: str) -> int:
        feed = self._feeds.get(doc_id)
        return len(feed.viewers) if feed else 0

    async def subscribe(
        self, room: Room, name: str, last_event_id: int | None, *, listed: bool = True
    ) -> Subscriber:
        """A new viewer, its queue already holding presence, activity and content."""
        doc_id = room.doc_id
        feed = self._feeds.get(doc_id)
        if feed is None:
            feed = self._feeds[doc_id] = DocumentFeed(
                doc_id,
                content_interval=self._content_interval,
                presence_interval=self._presence_interval,
            )
        feed.room = room
        viewer = Subscriber(doc_id, name, color_for(name), limit=self._queue_limit, listed=listed)
        # Activity stored while the replay is read is held, so nothing falls in between.
        held: list[ActivityRecord] = []
        feed.joining[viewer.id] = held
        try:
            replay, reset = await self._replay_for(doc_id, last_event_id)
        finally:
            feed.joining.pop(viewer.id, None)
        feed = self._feeds.setdefault(doc_id, feed)
        feed.room = room
        if self._closed:
            viewer.end()
            return viewer
        feed.viewers[viewer.id] = viewer  # before presence is computed: it lists this viewer
        if reset:
            viewer.push(encode_event("reset", {"reason": "missed events are no longer kept"}))
        viewer.last_presence = feed.presence_frame()
        viewer.push(viewer.last_presence)
        last = 0 if reset or last_event_id is None else last_event_id
        for record in [*replay, *held]:
            if record.seq > last:
                viewer.push(encode_activity(record))
                last = record.seq
        viewer.last_activity_id = last
        viewer.push(feed.content_frame())
        feed.presence_changed()
        return viewer

    async def _replay_for(
        self, doc_id: str, last_event_id: int | None
    ) -> tuple[list[ActivityRecord], bool]:
        if last_event_id is not None:
            records, oldest, newest = await self._log.list_activity(
                doc_id, last_event_id, RESUME_LIMIT
            )
            gap = oldest > last_event_id + 1 or last_event_id > newest
            if not gap and len(records) < RESUME_LIMIT:
                return records, False
        records, _, _ = await self._log.list_activity(doc_id, None, self._replay)
        return records, last_event_id is not None

    def unsubscribe(self, viewer: Subscriber) -> None:
        feed = self._feeds.get(viewer.doc_id)
        viewer.end()
        if feed is None:
            return
        if feed.viewers.pop(viewer.id, None) is not None:
            feed.presence_changed()
        if not feed.viewers and not feed.joining:
            feed.close_timers()
            del self._feeds[viewer.doc_id]

    # ---- events -------------------------------------------------------------------------------

    def on_room_event(self, event: RoomEvent) -> None:
        feed = self._feeds.get(event.doc_id)
        if feed is None:
            return
        if isinstance(event, DocumentEdited):
            feed.content_changed()
        elif isinstance(event, PresenceChanged | PeerLeft):
            feed.presence_changed()
        elif isinstance(event, DocumentDeleted):
            feed.end_all(encode_event("deleted", {"id": event.doc_id}))
            del self._feeds[event.doc_id]
        elif isinstance(event, RoomUnloaded):
            pass  # viewers hold the room; it unloads only after they left

    def on_activity(self, record: ActivityRecord) -> None:
        feed = self._feeds.get(record.document_id)
        if feed is not None:
            feed.activity(record)

    def close_all(self) -> None:
        """Shutdown: end every stream now, or open streams would hold the server up."""
        self._closed = True
        for feed in self._feeds.values():
            feed.end_all()
        self._feeds.clear()
