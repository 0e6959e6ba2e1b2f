"""One viewer's stream: a bounded queue of encoded events. A viewer that falls too far behind
is dropped (it reconnects with Last-Event-ID) instead of slowing anyone else."""

from __future__ import annotations

import asyncio
from collections import deque
from itertools import count

_ids = count(1)


class Subscriber:
    def __init__(
        self, doc_id: str, name: str, color: str, *, limit: int, listed: bool = True
    ) -> None:
        self.id = next(_ids)
        # Only viewers are listed in presence: an editor's own activity panel follows the same
        # feed, and the editor is already there through its awareness state.
        self.listed = listed
        self.last_presence: bytes | None = None
        self.doc_id = doc_id
        self.name = name
        self.color = color
        self.ended = False
        self.dropped = False
        self.last_activity_id = 0
        self._limit = limit
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()

    def push(self, frame: bytes) -> None:
        if self.ended:
            return
        if len(self._queue) >= self._limit:
            self.dropped = True
            self.end()
            return
        self._queue.append(frame)
        self._wake.set()

    def end(self, final: bytes | None = None) -> None:
        """Stop after ``final`` (if any); what was queued before a drop is discarded."""
        if self.ended:
            return
        if self.dropped:
            self._queue.clear()
        if final is not None:
            self._queue.append(final)
        self.ended = True
        self._wake.set()

    async def next(self, ping_after: float) -> bytes | None:
        """Every frame queued so far, in one write; None after ``ping_after`` quiet seconds;
        raises StopAsyncIteration when the stream is over."""
        while True:
            if self._queue:
                frames = b"".join(self._queue)
                self._queue.clear()
                return frames
            if self.ended:
                raise StopAsyncIteration
            self._wake.clear()
            try:
                async with asyncio.timeout(ping_after):  # no extra task, unlike wait_for
                    await self._wake.wait()
            except TimeoutError:
                return None
