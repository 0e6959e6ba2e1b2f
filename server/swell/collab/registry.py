"""Open rooms: loaded once however many sockets ask at the same time, unloaded only after
their final store, and all flushed on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pycrdt import Doc

from swell.collab.bus import EventBus
from swell.collab.compaction import build_doc
from swell.collab.events import AuthorChanged, RoomEvent, RoomUnloaded
from swell.collab.peer import CloseCode
from swell.collab.ports import AuthorRecord, DocumentStore
from swell.collab.relay import Relay
from swell.collab.room import Room, RoomLimits
from swell.telemetry import Telemetry

log = logging.getLogger(__name__)


class LoadFailed(RuntimeError):
    """The document exists but could not be loaded; connections are refused (1011)."""


class ShuttingDown(RuntimeError):
    """The server is stopping; new connections are turned away (1001)."""


class RoomRegistry:
    def __init__(
        self,
        store: DocumentStore,
        *,
        compact_every: int,
        idle_seconds: float,
        relay: Relay | None = None,
        bus: EventBus | None = None,
        limits: RoomLimits | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry = telemetry or Telemetry()
        self._store = store
        self._relay = relay
        self._bus = bus or EventBus()
        self._limits = limits or RoomLimits()
        self._compact_every = compact_every
        self._idle_seconds = idle_seconds
        self._rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Task[Room]] = {}
        self._unloading: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._stopping = False
        self._bus.subscribe(self._on_event)

    def newest_rev(self, doc_id: str) -> int | None:
        """The newest revision the document's room committed, while it is loaded or still
        unloading (until its final compaction moved the document row: on SQLite that row
        lags, issue 11 found); None without a room."""
        room = self._rooms.get(doc_id)
        return room.rev if room is not None else None

    def get(self, doc_id: str) -> Room | None:
        """The room if it is loaded (for notifications; never loads)."""
        room = self._rooms.get(doc_id)
        return room if room is not None and not room.closed else None

    def __len__(self) -> int:
        return len(self._rooms)

    def sockets(self) -> int:
        """Sockets of every open room (for metrics)."""
        return sum(len(room.peers) for room in self._rooms.values())

    def _on_event(self, event: RoomEvent) -> None:
        if isinstance(event, AuthorChanged):
            self.author_changed(event.author)

    def author_changed(self, author: AuthorRecord) -> None:
        """Every socket acting as ``author`` shows its new name and colour: each room holding
        one publishes ``PeerChanged`` for it (so presence follows)."""
        for room in list(self._rooms.values()):
            if room.closed:
                continue
            for peer in list(room.peers.values()):
                if peer.author is not None and peer.author.id == author.id:
                    peer.author = author
                    room.awareness.refresh(peer)

    def listen(self, listener: Callable[[RoomEvent], None]) -> None:
        """Subscribe to the events of every room."""
        self._bus.subscribe(listener)

    async def acquire(self, doc_id: str) -> Room:
        """A loaded room with one more reference; release it with ``release``."""
        while True:
            if self._stopping:
                raise ShuttingDown(doc_id)
            unloading = self._unloading.get(doc_id)
            if unloading is not None:
                await asyncio.gather(asyncio.shield(unloading), return_exceptions=True)
                continue
            room = self._rooms.get(doc_id)
            if room is not None and not room.closed:
                timer = self._timers.pop(doc_id, None)
                if timer is not None:
                    timer.cancel()
                room.refs += 1
                return room
            if room is not None:  # failed: forget it, load afresh
                self._rooms.pop(doc_id, None)
            task = self._loading.get(doc_id)
            if task is None:
                task = asyncio.create_task(self._load(doc_id), name=f"load:{doc_id}")
                self._loading[doc_id] = task
            try:
                await asyncio.shield(task)
            except Exception as e:
                raise LoadFailed(doc_id) from e

    async def _load(self, doc_id: str) -> Room:
        try:
            room = await Room.load(
                doc_id,
                self._store,
                publish=self._bus.publish,
                limits=self._limits,
                compact_every=self._compact_every,
                relay=self._relay,
                on_failed=self._forget,
                telemetry=self._telemetry,
            )
        except Exception:
            log.exception("could not load document %s", doc_id)
            raise
        finally:
            self._loading.pop(doc_id, None)
        self._rooms[doc_id] = room
        return room

    def _forget(self, room: Room) -> None:
        """A failed room is released at once, whoever still holds it: the next socket or
        stream for its document loads it afresh from storage."""
        if self._rooms.get(room.doc_id) is room:
            del self._rooms[room.doc_id]
        timer = self._timers.pop(room.doc_id, None)
        if timer is not None:
            timer.cancel()

    def release(self, room: Room) -> None:
        room.refs -= 1
        if room.refs > 0 or self._stopping or room.failed:
            return
        loop = asyncio.get_running_loop()
        self._timers[room.doc_id] = loop.call_later(self._idle_seconds, self._start_unload, room)

    def _start_unload(self, room: Room) -> None:
        self._timers.pop(room.doc_id, None)
        if room.refs > 0 or self._rooms.get(room.doc_id) is not room:
            return
        self._unloading[room.doc_id] = asyncio.create_task(
            self._unload(room), name=f"unload:{room.doc_id}"
        )

    async def _unload(self, room: Room) -> None:
        """Drop the room only after its final store has completed (the unload race)."""
        try:
            await room.close()
        except Exception:
            log.exception("unloading %s failed", room.doc_id)
        finally:
            if self._rooms.get(room.doc_id) is room:
                del self._rooms[room.doc_id]
            self._unloading.pop(room.doc_id, None)
            self._bus.publish(RoomUnloaded(room.doc_id))

    async def read(self, doc_id: str) -> Doc[Any]:
        """A copy of the document's committed content, from its room or from storage."""
        room = self.get(doc_id)
        if room is not None:
            await room.settled()
            copy: Doc[Any] = Doc()
            copy.apply_update(room.doc.get_update())
            return copy
        try:
            return build_doc(await self._store.load_state(doc_id))
        except Exception as e:
            log.exception("could not read document %s", doc_id)
            raise LoadFailed(doc_id) from e

    async def evict(self, doc_id: str) -> None:
        """The document is gone: close its sockets (4404) and drop the room unsaved."""
        timer = self._timers.pop(doc_id, None)
        if timer is not None:
            timer.cancel()
        room = self._rooms.pop(doc_id, None)
        if room is not None:
            room.close_peers(CloseCode.NOT_FOUND)
            await room.discard()

    async def close_all(self, drain_quiet: float = 0.2, drain_limit: float = 3.0) -> None:
        """Shutdown: take in what clients already sent (until the sockets have been quiet for
        ``drain_quiet`` seconds, at most ``drain_limit``), then close every socket (1001), flush
        and compact every room. Closing first would drop frames still in flight."""
        self._stopping = True
        deadline = time.monotonic() + drain_limit
        while time.monotonic() < deadline:
            rooms = [room for room in self._rooms.values() if not room.closed]
            await asyncio.gather(*(room.flush() for room in rooms), return_exceptions=True)
            latest = max((room.last_received for room in rooms), default=0.0)
            quiet_for = time.monotonic() - latest
            if quiet_for >= drain_quiet:
                break
            await asyncio.sleep(min(drain_quiet - quiet_for, max(0.0, deadline - time.monotonic())))
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        rooms = list(self._rooms.values())
        await asyncio.gather(
            *(room.close(CloseCode.GOING_AWAY) for room in rooms),
            *self._unloading.values(),
            return_exceptions=True,
        )
        self._rooms.clear()
