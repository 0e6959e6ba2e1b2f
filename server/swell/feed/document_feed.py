"""The feed of one document: its viewers, and presence and content rendered once for all of
them, at most a few times a second however fast people type.

Presence is folded from the room's events (who joined, renamed themselves, left, edited), never
read from the room's internals. Content is rendered off the event loop from the committed
state, one render at a time: changes that arrive meanwhile are rendered together afterwards."""

from __future__ import annotations

import asyncio
import logging
import time

from swell.collab.events import Participant
from swell.collab.ports import ActivityRecord
from swell.collab.room import Room
from swell.feed.presence import presence_users
from swell.feed.render_cache import RenderCache, content_key
from swell.feed.subscriber import Subscriber
from swell.protocol.sse import encode_event

log = logging.getLogger(__name__)

CONTENT_FORMATS = ("html", "text")
MAX_PRESENCE_DELAY = 0.8
"""However many viewers, a change of presence goes out within this (the contract: editing
shows within 1 s of a first change)."""
BROADCAST_SLICE = 20
"""Viewers woken per loop iteration: the editors' sockets are read between slices, so 1,000
viewers getting new content do not hold up everyone typing. Measured with 1,000 viewers and an
editor typing 10 edits/s: the editors' p99 was 137 ms all at once, 61 ms at 50, 32 ms at 20;
the viewers' content p99 stayed at 284-292 ms."""


def encode_activity(record: ActivityRecord) -> bytes:
    """Contract v2: ``author`` (its current name and colour) or null, and for the kinds that
    cover revisions (``edit``, ``restore``) their ``from_rev`` and ``to_rev``."""
    author = record.author
    data: dict[str, object] = {
        "id": record.seq,
        "at": record.at.isoformat().replace("+00:00", "Z"),
        "kind": record.kind,
        "user": record.user,
        "summary": record.summary,
        "author": (
            {"id": author.id, "name": author.name, "color": author.color}
            if author is not None
            else None
        ),
    }
    if record.from_rev is not None and record.to_rev is not None:
        data["from_rev"] = record.from_rev
        data["to_rev"] = record.to_rev
    return encode_event("activity", data, record.seq)


class DocumentFeed:
    def __init__(
        self,
        room: Room,
        renders: RenderCache,
        *,
        content_interval: float,
        presence_interval: float,
        burst_seconds: float,
    ) -> None:
        self.doc_id = room.doc_id
        self.room = room
        self.viewers: dict[int, Subscriber] = {}
        self.joining: dict[int, list[ActivityRecord]] = {}
        self.participants: dict[int, Participant] = {}
        self.closed = False
        self._renders = renders
        self._content_interval = content_interval
        self._presence_interval = presence_interval
        self._burst_seconds = burst_seconds
        self._editing: dict[int, asyncio.TimerHandle] = {}  # peer id -> end of its burst
        self._content: bytes | None = None
        self._content_state = b""
        self._content_version = 0
        self._versions = 0  # handed out in the order states are taken: newer state, higher
        self._rendering: asyncio.Task[None] | None = None
        self._dirty = False  # content changed while a render was running
        self._content_timer: asyncio.TimerHandle | None = None
        self._presence_timer: asyncio.TimerHandle | None = None
        self._last_content = 0.0
        self._last_presence = 0.0
        self._slices: asyncio.Handle | None = None  # the content broadcast still going out
        self.bind(room)

    def bind(self, room: Room) -> None:
        """Follow ``room`` (a feed outlives nothing but its viewers, but a document's room may
        be replaced while a viewer is still joining): presence starts from its snapshot."""
        self.room = room
        self.participants = {p.peer_id: p for p in room.participants()}
        for timer in self._editing.values():
            timer.cancel()
        self._editing.clear()
        self._content = None
        self._content_state = b""

    # ---- frames -----------------------------------------------------------------------------

    def presence_frame(self) -> bytes:
        users = presence_users(self.participants.values(), self._editing, self.viewers.values())
        return encode_event("presence", {"users": users})

    async def current_content(self) -> tuple[int, bytes | None]:
        """The content frame of the committed state now, with its version; (0, None) when the
        room failed or the feed ended meanwhile (nothing from a failed room is shown)."""
        room = self.room
        while not room.consistent and not room.failed:
            await room.settled()
        if room.failed or self.closed or room is not self.room:
            return 0, None
        state = content_key(room.doc)
        if self._content is not None and state == self._content_state:
            return self._content_version, self._content
        self._versions += 1
        version = self._versions
        # No await between get_state and the snapshot render() takes on a miss.
        out = await self._renders.render(self.doc_id, state, room.doc.get_update, CONTENT_FORMATS)
        if room.failed or self.closed or room is not self.room:
            return 0, None
        frame = encode_event("content", out)
        if version > self._content_version:
            self._content, self._content_state, self._content_version = frame, state, version
        return version, frame

    # ---- content ----------------------------------------------------------------------------

    def content_changed(self) -> None:
        if self.closed or self._content_timer is not None or not self.viewers:
            return
        delay = max(0.0, self._last_content + self._content_interval - time.monotonic())
        self._content_timer = asyncio.get_running_loop().call_later(delay, self._start_render)

    def _start_render(self) -> None:
        self._content_timer = None
        if self.closed or not self.viewers:
            return
        if self._rendering is not None:
            self._dirty = True  # rendered together once the running render is out
            return
        self._rendering = asyncio.get_running_loop().create_task(
            self._broadcast_content(), name=f"feed-content:{self.doc_id}"
        )

    async def _broadcast_content(self) -> None:
        try:
            version, frame = await self.current_content()
            if frame is not None and not self.closed:
                self._last_content = time.monotonic()
                self._send_sliced(frame, version, list(self.viewers.values()))
        except Exception:
            log.exception("rendering %s for its viewers failed", self.doc_id)
        finally:
            self._rendering = None
            if self._dirty:
                self._dirty = False
                self.content_changed()

    def _send_sliced(self, frame: bytes, version: int, viewers: list[Subscriber]) -> None:
        """Content to ``viewers``, a slice per loop iteration. Newer content replaces what is
        still going out, so no viewer ends up with the older one."""
        if self._slices is not None:
            self._slices.cancel()
            self._slices = None
        for viewer in viewers[:BROADCAST_SLICE]:
            viewer.push_content(frame, version)
        rest = viewers[BROADCAST_SLICE:]
        if rest:
            loop = asyncio.get_running_loop()
            self._slices = loop.call_soon(self._send_sliced, frame, version, rest)
        else:
            self._forget_dropped()

    # ---- presence ---------------------------------------------------------------------------

    def peer_changed(self, peer: Participant) -> None:
        self.participants[peer.peer_id] = peer
        self.presence_changed()

    def peer_left(self, peer: Participant) -> None:
        self.participants.pop(peer.peer_id, None)
        timer = self._editing.pop(peer.peer_id, None)
        if timer is not None:
            timer.cancel()
        self.presence_changed()

    def edited(self, peer_id: int) -> None:
        """``peer_id`` is editing until ``burst_seconds`` pass without a change of theirs."""
        timer = self._editing.pop(peer_id, None)
        if timer is not None:
            timer.cancel()
        elif peer_id in self.participants:
            self.presence_changed()
        loop = asyncio.get_running_loop()
        self._editing[peer_id] = loop.call_later(self._burst_seconds, self._burst_ended, peer_id)

    def _burst_ended(self, peer_id: int) -> None:
        self._editing.pop(peer_id, None)
        self.presence_changed()

    def presence_changed(self) -> None:
        if self.closed or self._presence_timer is not None or not self.viewers:
            return
        # Many viewers joining at once would each trigger a list of everyone to everyone.
        interval = self._presence_interval * max(1.0, len(self.viewers) / 200)
        interval = min(interval, MAX_PRESENCE_DELAY)
        delay = max(0.0, self._last_presence + interval - time.monotonic())
        self._presence_timer = asyncio.get_running_loop().call_later(delay, self._send_presence)

    def _send_presence(self) -> None:
        self._presence_timer = None
        self._last_presence = time.monotonic()
        frame = self.presence_frame()
        for viewer in self.viewers.values():
            if viewer.last_presence != frame:  # a new viewer already has it
                viewer.last_presence = frame
                viewer.push(frame)
        self._forget_dropped()

    # ---- activity ---------------------------------------------------------------------------

    def activity(self, record: ActivityRecord) -> None:
        for held in self.joining.values():
            held.append(record)
        frame = encode_activity(record)
        for viewer in list(self.viewers.values()):
            if viewer.note_activity(record.seq):
                viewer.push(frame)
        self._forget_dropped()

    # ---- ending -----------------------------------------------------------------------------

    def _forget_dropped(self) -> None:
        dropped = [v for v in self.viewers.values() if v.ended]
        for viewer in dropped:
            if viewer.dropped:
                log.info("dropped a viewer of %s that could not keep up", self.doc_id)
            self.viewers.pop(viewer.id, None)
        if dropped:
            self.presence_changed()

    def end_viewers(self, viewers: list[Subscriber], final: bytes | None = None) -> None:
        for viewer in viewers:
            viewer.end(final)
            self.viewers.pop(viewer.id, None)
        self.presence_changed()

    def end_all(self, final: bytes | None = None) -> None:
        """The feed is over (document deleted, room failed, shutdown): every stream ends and
        nothing rendered for it afterwards is sent."""
        self.closed = True
        for viewer in list(self.viewers.values()):
            viewer.end(final)
        self.viewers.clear()
        self.close_timers()

    def close_timers(self) -> None:
        for timer in (self._content_timer, self._presence_timer, self._slices):
            if timer is not None:
                timer.cancel()
        self._content_timer = self._presence_timer = self._slices = None
        for handle in self._editing.values():
            handle.cancel()
        self._editing.clear()
        if self._rendering is not None:
            self._rendering.cancel()
            self._rendering = None
