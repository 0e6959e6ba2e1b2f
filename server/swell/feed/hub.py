"""All documents' feeds: subscribing viewers (with replay and Last-Event-ID resume) and
routing room events and stored activity to the right feed."""

from __future__ import annotations

import logging
from collections import OrderedDict

from swell.collab.events import (
    ActivityRelayed,
    AuthorChanged,
    DocumentDeleted,
    DocumentEdited,
    Participant,
    PeerChanged,
    PeerJoined,
    PeerLeft,
    RoomEvent,
    RoomFailed,
    TokenRotated,
)
from swell.collab.names import color_for
from swell.collab.peer import Role
from swell.collab.ports import ActivityLog, ActivityRecord, AuthorRecord
from swell.collab.room import Room
from swell.feed.document_feed import DocumentFeed, encode_activity
from swell.feed.render_cache import RenderCache
from swell.feed.subscriber import Subscriber
from swell.protocol.sse import encode_event

log = logging.getLogger(__name__)

RESUME_LIMIT = 1000
ROTATIONS_KEPT = 1024
"""Recent rotations remembered for streams still being opened (authorised with a token that
was rotated before they were registered)."""


class FeedHub:
    def __init__(
        self,
        activity_log: ActivityLog,
        *,
        replay: int,
        queue_limit: int,
        content_interval: float,
        queue_bytes: int = 4 << 20,
        presence_interval: float = 0.25,
        burst_seconds: float = 3.0,
        renders: RenderCache | None = None,
    ) -> None:
        self._log = activity_log
        self._replay = replay
        self._queue_limit = queue_limit
        self._queue_bytes = queue_bytes
        self._content_interval = content_interval
        self._presence_interval = presence_interval
        self._burst_seconds = burst_seconds
        self.renders = renders if renders is not None else RenderCache()
        self._feeds: dict[str, DocumentFeed] = {}
        self._guests: dict[int, tuple[Room, Participant]] = {}  # viewer id -> as others see it
        self._rotations = 0
        self._rotated: OrderedDict[tuple[str, Role], int] = OrderedDict()
        self._closed = False

    def streams(self) -> int:
        """Open event streams of every document (for metrics)."""
        return sum(len(feed.viewers) for feed in self._feeds.values())

    def viewers(self, doc_id: str) -> int:
        feed = self._feeds.get(doc_id)
        return len(feed.viewers) if feed else 0

    @property
    def rotations(self) -> int:
        """Read before a stream's token is checked, pass to ``subscribe``: a rotation of that
        token in between ends the stream."""
        return self._rotations

    def _feed_for(self, room: Room) -> DocumentFeed:
        feed = self._feeds.get(room.doc_id)
        if feed is None or feed.closed:
            feed = self._feeds[room.doc_id] = DocumentFeed(
                room,
                self.renders,
                content_interval=self._content_interval,
                presence_interval=self._presence_interval,
                burst_seconds=self._burst_seconds,
            )
        elif feed.room is not room:
            feed.bind(room)
        return feed

    async def subscribe(
        self,
        room: Room,
        name: str,
        last_event_id: int | None,
        *,
        role: Role = Role.VIEW,
        listed: bool = True,
        rotations_seen: int | None = None,
        author: AuthorRecord | None = None,
    ) -> Subscriber:
        """A new viewer, its queue already holding presence, activity and content. One that
        acts as an ``author`` is listed under the author's name and colour, not ``name``."""
        doc_id = room.doc_id
        feed = self._feed_for(room)
        viewer = Subscriber(
            doc_id,
            author.name if author is not None else name,
            author.color if author is not None else color_for(name),
            limit=self._queue_limit,
            limit_bytes=self._queue_bytes,
            role=role,
            listed=listed,
            author_id=author.id if author is not None else None,
        )
        # Activity stored while the replay is read is held, so nothing falls in between.
        held: list[ActivityRecord] = []
        feed.joining[viewer.id] = held
        try:
            replay, reset = await self._replay_for(doc_id, last_event_id)
        finally:
            feed.joining.pop(viewer.id, None)
        seen = self._rotations if rotations_seen is None else rotations_seen
        if self._closed or room.failed or self._rotated.get((doc_id, role), 0) > seen:
            viewer.end()  # it reconnects: to a fresh room, or to a 401
            self._prune(doc_id)
            return viewer
        feed = self._feed_for(room)
        feed.viewers[viewer.id] = viewer  # before presence is computed: it lists this viewer
        if listed:
            guest = room.share_guest(role, viewer.name, viewer.color, author)
            self._guests[viewer.id] = (room, guest)
        if reset:
            viewer.push(encode_event("reset", {"reason": "missed events are no longer kept"}))
        viewer.last_presence = feed.presence_frame()
        viewer.push(viewer.last_presence)
        last = 0 if reset or last_event_id is None else last_event_id
        for record in [*replay, *held]:
            if record.seq > last:
                viewer.push(encode_activity(record))
                last = record.seq
        viewer.replayed_to(last)
        feed.presence_changed()
        version, frame = await feed.current_content()
        if frame is None and not viewer.ended:  # the room failed meanwhile: start over
            viewer.end()
        elif frame is not None:
            viewer.push_content(frame, version)
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
        viewer.end()
        shared = self._guests.pop(viewer.id, None)
        if shared is not None:
            room, guest = shared
            room.guest_left(guest)
        feed = self._feeds.get(viewer.doc_id)
        if feed is None:
            return
        if feed.viewers.pop(viewer.id, None) is None:
            return  # ended with a feed that is gone (failed room, rotation, drop)
        feed.presence_changed()
        self._prune(viewer.doc_id)

    def _prune(self, doc_id: str) -> None:
        feed = self._feeds.get(doc_id)
        if feed is not None and not feed.viewers and not feed.joining:
            feed.close_timers()
            del self._feeds[doc_id]

    # ---- events -------------------------------------------------------------------------------

    def on_room_event(self, event: RoomEvent) -> None:
        if isinstance(event, AuthorChanged):
            self._author_changed(event.author)
            return
        if isinstance(event, ActivityRelayed):
            self.on_activity(event.record)
            return
        if isinstance(event, TokenRotated):
            self._rotations += 1
            self._rotated[(event.doc_id, event.role)] = self._rotations
            self._rotated.move_to_end((event.doc_id, event.role))
            while len(self._rotated) > ROTATIONS_KEPT:
                self._rotated.popitem(last=False)
        elif isinstance(event, DocumentDeleted):
            self.renders.forget(event.doc_id)
        feed = self._feeds.get(event.doc_id)
        if feed is None:
            return
        if isinstance(event, DocumentEdited):
            feed.content_changed()
            feed.edited(event.peer_id)
        elif isinstance(event, PeerJoined | PeerChanged):
            feed.peer_changed(event.peer)
        elif isinstance(event, PeerLeft):
            feed.peer_left(event.peer)
        elif isinstance(event, TokenRotated):
            # The old token stops now: streams opened with it end (a reconnect gets 401). The
            # last event says so, so a page need not wait out EventSource's retry to tell.
            feed.end_viewers(
                [v for v in feed.viewers.values() if v.role is event.role],
                encode_event("revoked", {"role": event.role.value}),
            )
        elif isinstance(event, RoomFailed):
            # Its viewers reconnect and get a fresh room; nothing rendered from this one is
            # sent any more (the feed is closed, a render still running is dropped).
            log.info("ending the event streams of %s: its room failed", event.doc_id)
            feed.end_all()
            del self._feeds[event.doc_id]
        elif isinstance(event, DocumentDeleted):
            feed.end_all(encode_event("deleted", {"id": event.doc_id}))
            del self._feeds[event.doc_id]

    def _author_changed(self, author: AuthorRecord) -> None:
        """Streams acting as ``author`` show its new name and colour (sockets follow through
        their rooms' ``PeerChanged``)."""
        for feed in self._feeds.values():
            changed = False
            for viewer in feed.viewers.values():
                if viewer.author_id == author.id:
                    viewer.name, viewer.color = author.name, author.color
                    changed = changed or viewer.listed
            if changed:
                feed.presence_changed()

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
