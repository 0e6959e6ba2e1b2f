"""Activity: what people did, stored and numbered. Typing is summarised per burst, not logged
per keystroke: a burst ends after a few quiet seconds (or after a long stretch of typing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from swell.collab.events import (
    DocumentCreated,
    DocumentDeleted,
    DocumentEdited,
    DocumentRenamed,
    PeerLeft,
    PresenceChanged,
    RoomEvent,
    RoomUnloaded,
)
from swell.collab.peer import Role
from swell.collab.ports import ActivityLog, ActivityRecord
from swell.collab.registry import RoomRegistry

log = logging.getLogger(__name__)

SOMEONE = "Someone"
MAX_BURST_SECONDS = 60.0


@dataclass
class _Burst:
    name: str
    added: int = 0
    removed: int = 0
    started: float = field(default_factory=time.monotonic)
    timer: asyncio.TimerHandle | None = None


def summarize_edit(name: str, added: int, removed: int) -> str:
    def chars(n: int) -> str:
        return f"{n} character" + ("" if n == 1 else "s")

    if added and removed:
        return f"{name} added {chars(added)} and removed {removed}"
    if added:
        return f"{name} added {chars(added)}"
    if removed:
        return f"{name} removed {chars(removed)}"
    return f"{name} changed the formatting"


class ActivityRecorder:
    def __init__(
        self, activity_log: ActivityLog, rooms: RoomRegistry, *, burst_seconds: float
    ) -> None:
        self._log = activity_log
        self._rooms = rooms
        self._burst_seconds = burst_seconds
        self._bursts: dict[tuple[str, int], _Burst] = {}
        self._joined: dict[tuple[str, int], str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[ActivityRecord], None]] = []

    def listen(self, listener: Callable[[ActivityRecord], None]) -> None:
        self._listeners.append(listener)

    def on_event(self, event: RoomEvent) -> None:
        if isinstance(event, DocumentEdited):
            self._on_edit(event)
        elif isinstance(event, PresenceChanged):
            self._note_joins(event.doc_id)
        elif isinstance(event, PeerLeft):
            key = (event.doc_id, event.peer.peer_id)
            self._close_burst(key)
            name = self._joined.pop(key, None)
            if name is not None:
                self._record(event.doc_id, "leave", name, f"{name} left")
        elif isinstance(event, DocumentCreated):
            who = event.user or SOMEONE
            self._record(event.doc_id, "created", who, f"{who} created the document")
        elif isinstance(event, DocumentRenamed):
            who = event.user or SOMEONE
            self._record(
                event.doc_id, "title", who, f"{who} renamed the document to “{event.title}”"
            )
        elif isinstance(event, DocumentDeleted):
            for key in [k for k in self._bursts if k[0] == event.doc_id]:
                burst = self._bursts.pop(key)
                if burst.timer is not None:
                    burst.timer.cancel()
            for key in [k for k in self._joined if k[0] == event.doc_id]:
                del self._joined[key]
        elif isinstance(event, RoomUnloaded):
            for key in [k for k in self._bursts if k[0] == event.doc_id]:
                self._close_burst(key)

    def _note_joins(self, doc_id: str) -> None:
        room = self._rooms.get(doc_id)
        if room is None:
            return
        states = room.awareness.states
        for peer in room.peers.values():
            key = (doc_id, peer.id)
            if key in self._joined:
                continue
            name = peer.name(states)
            if name is not None:
                self._joined[key] = name
                verb = "joined" if peer.role is Role.EDIT else "is watching"
                self._record(doc_id, "join", name, f"{name} {verb}")

    def _on_edit(self, event: DocumentEdited) -> None:
        key = (event.doc_id, event.peer_id)
        burst = self._bursts.get(key)
        if burst is None:
            name = event.author or self._joined.get(key) or SOMEONE
            burst = self._bursts[key] = _Burst(name)
        burst.added += event.added
        burst.removed += event.removed
        if burst.timer is not None:
            burst.timer.cancel()
        if time.monotonic() - burst.started >= MAX_BURST_SECONDS:
            self._close_burst(key)
            return
        loop = asyncio.get_running_loop()
        burst.timer = loop.call_later(self._burst_seconds, self._close_burst, key)

    def _close_burst(self, key: tuple[str, int]) -> None:
        burst = self._bursts.pop(key, None)
        if burst is None:
            return
        if burst.timer is not None:
            burst.timer.cancel()
        summary = summarize_edit(burst.name, burst.added, burst.removed)
        self._record(key[0], "edit", burst.name, summary)

    def _record(self, doc_id: str, kind: str, user: str, summary: str) -> None:
        task = asyncio.get_running_loop().create_task(self._store(doc_id, kind, user, summary))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, doc_id: str, kind: str, user: str, summary: str) -> None:
        # One at a time per document: the sequence numbers must come out in order.
        lock = self._locks.setdefault(doc_id, asyncio.Lock())
        async with lock:
            try:
                record = await self._log.append_activity(doc_id, kind, user, summary)
            except Exception:
                # The document may have been deleted meanwhile; activity is never worth a crash.
                log.warning("could not store %s activity for %s", kind, doc_id, exc_info=True)
                return
        for listener in self._listeners:
            listener(record)

    async def flush(self) -> None:
        """Shutdown: close every open burst and wait until everything is stored."""
        for key in list(self._bursts):
            self._close_burst(key)
        while self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
