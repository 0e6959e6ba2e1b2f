"""One viewer's stream: a queue of encoded events bounded by count and by bytes, plus at most
one pending content frame. Content is the whole document each time, so a newer one replaces
the one still queued: a viewer that does not read while someone types holds one render, not one
per change. A viewer that falls too far behind on everything else is dropped (it reconnects
with Last-Event-ID) instead of slowing anyone else or growing without bound."""

from __future__ import annotations

import asyncio
from collections import deque
from itertools import count

from swell.collab.peer import Role

_ids = count(1)
RECENT_ACTIVITY = 256
"""Activity numbers a viewer remembers having been sent: another process's record may arrive
after a newer one of this process (both numbered under one lock, sent on after commit)."""

LARGE_FRAME = 64 * 1024
"""Frames from this size are handed to the stream on their own rather than joined with the
others: a content frame is shared by every viewer, and joining would copy it per viewer."""


class Subscriber:
    def __init__(
        self,
        doc_id: str,
        name: str,
        color: str,
        *,
        limit: int,
        limit_bytes: int = 4 << 20,
        role: Role = Role.VIEW,
        listed: bool = True,
        author_id: str | None = None,
    ) -> None:
        self.id = next(_ids)
        self.author_id = author_id  # the author it acts as: its name and colour follow theirs
        # Only viewers are listed in presence: an editor's own activity panel follows the same
        # feed, and the editor is already there through its socket.
        self.listed = listed
        self.role = role  # of the token it was opened with: rotating that token ends it
        self.last_presence: bytes | None = None
        self.doc_id = doc_id
        self.name = name
        self.color = color
        self.ended = False
        self.dropped = False
        self.last_activity_id = 0
        self._recent_activity: deque[int] = deque(maxlen=RECENT_ACTIVITY)
        self._activity_floor = 0
        self.content_version = 0  # of the newest content queued or sent
        self._limit = limit
        self._limit_bytes = limit_bytes
        self._queue: list[bytes] = []
        self._bytes = 0  # queued, content frame excluded (it is bounded by being one)
        self._content_at: int | None = None  # index of the pending content frame
        self._wake = asyncio.Event()

    def note_activity(self, seq: int) -> bool:
        """Whether activity ``seq`` is new to this viewer (then it counts as sent). Everything
        up to what its replay ended at was in the replay; later records may come out of order
        (another process's), so the recent ones are remembered."""
        if seq <= self._activity_floor or seq <= self.last_activity_id - RECENT_ACTIVITY:
            return False
        if seq in self._recent_activity:
            return False
        self._recent_activity.append(seq)
        self.last_activity_id = max(self.last_activity_id, seq)
        return True

    def replayed_to(self, seq: int) -> None:
        self._activity_floor = self.last_activity_id = seq

    @property
    def queued_bytes(self) -> int:
        content = self._queue[self._content_at] if self._content_at is not None else b""
        return self._bytes + len(content)

    def push(self, frame: bytes) -> None:
        if self.ended:
            return
        if len(self._queue) >= self._limit or self._bytes + len(frame) > self._limit_bytes:
            self.dropped = True
            self.end()
            return
        self._queue.append(frame)
        self._bytes += len(frame)
        self._wake.set()

    def push_content(self, frame: bytes, version: int) -> None:
        """Queue the document's content, replacing a pending older one; content older than
        what this viewer already has is ignored, so it never goes back in time."""
        if self.ended or version <= self.content_version:
            return
        self.content_version = version
        if self._content_at is not None:
            self._queue[self._content_at] = frame
            return
        if len(self._queue) >= self._limit:
            self.dropped = True
            self.end()
            return
        self._content_at = len(self._queue)
        self._queue.append(frame)
        self._wake.set()

    def end(self, final: bytes | None = None) -> None:
        """Stop after ``final`` (if any); what was queued before a drop is discarded."""
        if self.ended:
            return
        if self.dropped:
            self._clear()
        if final is not None:
            self._queue.append(final)
        self.ended = True
        self._wake.set()

    def _clear(self) -> None:
        self._queue = []
        self._bytes = 0
        self._content_at = None

    async def next(self, ping_after: float) -> list[bytes] | None:
        """Every frame queued so far, small ones joined into one write; None after
        ``ping_after`` quiet seconds; raises StopAsyncIteration when the stream is over."""
        while True:
            if self._queue:
                frames = self._queue
                self._clear()
                return _chunks(frames)
            if self.ended:
                raise StopAsyncIteration
            self._wake.clear()
            try:
                async with asyncio.timeout(ping_after):  # no extra task, unlike wait_for
                    await self._wake.wait()
            except TimeoutError:
                return None


def _chunks(frames: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    small: list[bytes] = []
    for frame in frames:
        if len(frame) < LARGE_FRAME:
            small.append(frame)
            continue
        if small:
            out.append(b"".join(small))
            small = []
        out.append(frame)
    if small:
        out.append(b"".join(small))
    return out
